"""The run as an Excel workbook (openpyxl): numbers stored as numbers, with DKK number formats.

Sheets (in Danish: Oversigt, År for år, Antagelser, Løfter, Simuleringer): Summary (the key
figures), Yearly (one row per year x payer x discounting, as yearly.csv), Assumptions (every input
with its source), Claims (the provider's claims against the model) and, when trials.parquet was
saved, Trials (the first ``MAX_TRIAL_ROWS`` trials). Number formats use Excel's
codes (``#,##0``), which Excel shows in the reader's own convention.
"""

from __future__ import annotations

import re
from pathlib import Path

from simulate.labels import input_label, payer_name, word

MAX_TRIAL_ROWS = 5_000
FORMATS = {
    "da": {"dkk": '#,##0 "kr.";-#,##0 "kr."', "pct": "0.0%", "int": "#,##0", "dec2": "#,##0.00", "dec4": "0.0000",
           "year": "0"},
    "en": {"dkk": '"DKK "#,##0;-"DKK "#,##0', "pct": "0.0%", "int": "#,##0", "dec2": "#,##0.00", "dec4": "0.0000",
           "year": "0"},
}
SHEETS = ("Summary", "Yearly", "Assumptions", "Claims", "Trials")  # English names; Danish in SHEET_NAMES
SHEET_NAMES = {"da": dict(zip(SHEETS, ("Oversigt", "År for år", "Antagelser", "Løfter", "Simuleringer"))),
               "en": dict(zip(SHEETS, SHEETS))}
MODES = {"da": {"mc": "Monte Carlo", "expected": "punktestimat (alle input i middelværdi)"},
         "en": {"mc": "Monte Carlo", "expected": "point estimate (every input at its mean)"}}
CLAIM_METRICS = {"da": {"roi": "ROI", "cumulative_net": "akkumuleret nettoresultat",
                        "break_even_successes": "break-even (succeser pr. år)"},
                 "en": {"roi": "ROI", "cumulative_net": "cumulative net",
                        "break_even_successes": "break-even (successes per year)"}}


def trial_column_label(name: str, lang: str) -> str:
    """A reader's header for a column of trials.parquet (the field name stays in the row below it)."""
    if name.startswith("input:"):
        return input_label(name[len("input:"):], lang)
    m = re.fullmatch(r"cumulative_net(_discounted)?_y(\d+)", name)
    if m:
        year = int(m.group(2))
        if lang == "da":
            return f"Akkumuleret nettoresultat{', tilbagediskonteret' if m.group(1) else ''}, år {year}"
        return f"Cumulative net{', discounted' if m.group(1) else ''}, year {year}"
    words = {"trial": ("Simulering", "Trial"), "successes_total": ("Succeser i alt", "Successes, total")}
    if name in words:
        return words[name][0 if lang == "da" else 1]
    return name

# Yearly sheet: (key in metrics.yearly_rows, Danish header, English header, format)
YEARLY_COLUMNS = [
    ("year", "År", "Year", "year"),
    ("payer", "Betaler", "Payer", None),
    ("discounting", "Diskontering", "Discounting", None),
    ("expected_cumulative_net", "Punktestimat", "Point estimate", "dkk"),
    ("cumulative_net_mean", "Middel", "Mean", "dkk"),
    ("cumulative_net_sd", "Standardafvigelse", "Standard deviation", "dkk"),
    ("cumulative_net_mean_se", "Standardfejl på middel", "Standard error of mean", "dkk"),
    ("cumulative_net_p5", "P5", "P5", "dkk"),
    ("cumulative_net_p25", "P25", "P25", "dkk"),
    ("cumulative_net_p50", "P50", "P50", "dkk"),
    ("cumulative_net_p75", "P75", "P75", "dkk"),
    ("cumulative_net_p95", "P95", "P95", "dkk"),
    ("p_break_even", "P(≥ 0)", "P(≥ 0)", "pct"),
    ("p_break_even_se", "Standardfejl på P(≥ 0)", "Standard error of P(≥ 0)", "pct"),
    ("savings_mean", "Besparelse i året, middel", "Savings in the year, mean", "dkk"),
    ("cost_mean", "Udgift i året, middel", "Cost in the year, mean", "dkk"),
]


def summary_rows(summary: dict, lang: str) -> list[tuple[str, object, str | None]]:
    """(label, value, format) of the Summary sheet; values exactly as in summary.json."""
    da = lang == "da"
    H = summary["horizon_years"]
    last, dlast = summary["years"][H - 1], summary["discounted"]["years"][H - 1]
    c = last["cumulative_net"]
    med = summary["payback_year"]["median"]
    L = (lambda d, e: d if da else e)
    return [
        (L("Scenarie", "Scenario"), summary["scenario"], None),
        (L("Simuleringer", "Trials"), summary["trials"], "int"),
        (L("Seed", "Seed"), summary.get("seed"), "year"),
        (L("Tilstand", "Mode"), MODES[lang].get(summary["mode"], summary["mode"]), None),
        (L("Opgørelse", "Accounting"), word(summary["accounting"], lang), None),
        (L("Betaler", "Payer"), payer_name(summary["payer"], lang), None),
        (L("Horisont (år)", "Horizon (years)"), H, "year"),
        (L("Første programår", "First programme year"), summary.get("start_year"), "year"),
        (L("Diskonteringsrente", "Discount rate"), summary.get("discount_rate"), "pct"),
        (None, None, None),
        (L(f"Efter {H} år", f"After {H} years"), None, None),
        (L("Sandsynlighed for break-even (P(≥ 0))", "Probability of break-even (P(≥ 0))"),
         last["p_break_even"]["value"], "pct"),
        (L("Sandsynlighed for break-even, tilbagediskonteret", "Probability of break-even, discounted"),
         dlast["p_break_even"]["value"], "pct"),
        (L("Akkumuleret nettoresultat, middel", "Cumulative net result, mean"), c["mean"], "dkk"),
        (L("Standardafvigelse", "Standard deviation"), c["sd"], "dkk"),
        (L("P5", "P5"), c["p5"], "dkk"),
        (L("P25", "P25"), c["p25"], "dkk"),
        (L("Median (P50)", "Median (P50)"), c["p50"], "dkk"),
        (L("P75", "P75"), c["p75"], "dkk"),
        (L("P95", "P95"), c["p95"], "dkk"),
        (L("Gennemsnit af de 5 % dårligste udfald", "Mean of the worst 5 % of outcomes"),
         summary["expected_shortfall_5"]["value"], "dkk"),
        (L("Punktestimat (alle input i middelværdi)", "Point estimate (every input at its mean)"),
         last.get("expected_cumulative_net"), "dkk"),
        (L("Middel, tilbagediskonteret", "Mean, discounted"), dlast["cumulative_net"]["mean"], "dkk"),
        (L("Tilbagebetalingsår, median", "Payback year, median"),
         med if med is not None else L(f"ikke inden for {H} år", f"not within {H} years"), "year"),
        (L("Sandsynlighed for tilbagebetaling inden for horisonten", "Probability of payback within the horizon"),
         summary["payback_year"]["p_within_horizon"], "pct"),
        (L("ROI år 1", "Year-1 ROI"), summary["roi_year1"]["value"], "pct"),
        (L("ROI ved horisonten", "ROI at the horizon"), summary["roi_horizon"]["value"], "pct"),
    ]


def claim_rows(summary: dict, scenario, lang: str) -> tuple[list[str], list[list], list[str | None]]:
    from simulate.distributions import source_text

    da = lang == "da"
    head = (["Løfte", "Mål", "År", "Betaler", "Lovet", "Punktestimat, realiseret", "Punktestimat, livstid",
             "P(nået), realiseret", "P(nået), livstid", "Kilde"] if da else
            ["Claim", "Metric", "Year", "Payer", "Claimed", "Point estimate, realised", "Point estimate, lifetime",
             "P(reached), realised", "P(reached), lifetime", "Source"])
    sources = {c.name: source_text(c.source) for c in scenario.claims} if scenario is not None else {}
    rows, formats = [], []
    for c in summary.get("claims") or []:
        fmt = {"roi": "pct", "cumulative_net": "dkk"}.get(c["metric"], "dec2")
        rows.append([c["name"], CLAIM_METRICS[lang].get(c["metric"], c["metric"]), c["year"],
                     payer_name(c["payer"], lang), c["claimed"],
                     c.get("expected_realised"), c.get("expected_lifetime"), c.get("p_reached_realised"),
                     c.get("p_reached_lifetime"), sources.get(c["name"], "")])
        formats.append([None, None, "year", None, fmt, fmt, fmt, "pct", "pct", None])
    return head, rows, formats


def _assumption_format(path: str, value: float) -> str:
    if path.endswith("_dkk") or "_dkk." in path or "_dkk[" in path:
        return "dkk"
    if 0 <= abs(value) <= 1 and any(w in path for w in ("probability", "fraction", "initial_distribution",
                                                        "transitions")):
        return "pct"
    return "dec4" if abs(value) < 10 else "dec2"


def write_workbook(run, path: Path, lang: str) -> None:
    """Write ``report.xlsx`` for a :class:`simulate.report.RunData`."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    fmts = FORMATS[lang]
    da = lang == "da"
    s = run.summary
    wb = Workbook()
    head_font = Font(bold=True, color="FFFFFF")
    head_fill = PatternFill("solid", fgColor="1F4E79")

    def header(ws, names, row=1):
        for j, name in enumerate(names, start=1):
            cell = ws.cell(row=row, column=j, value=name)
            cell.font, cell.fill = head_font, head_fill
            cell.alignment = Alignment(wrap_text=True, vertical="bottom")
        ws.freeze_panes = ws.cell(row=row + 1, column=1)

    def widths(ws, values):
        for j, w in enumerate(values, start=1):
            ws.column_dimensions[get_column_letter(j)].width = w

    # Summary
    names = SHEET_NAMES[lang]
    ws = wb.active
    ws.title = names["Summary"]
    ws["A1"] = s["scenario"]
    ws["A1"].font = Font(bold=True, size=14)
    for i, (label, value, fmt) in enumerate(summary_rows(s, lang), start=3):
        if label is None:
            continue
        ws.cell(row=i, column=1, value=label)
        cell = ws.cell(row=i, column=2, value=value)
        if fmt and isinstance(value, (int, float)):
            cell.number_format = fmts[fmt]
        if value is None and fmt is None:
            ws.cell(row=i, column=1).font = Font(bold=True)
    widths(ws, [58, 24])

    # Yearly
    from simulate.metrics import yearly_rows

    ws = wb.create_sheet(names["Yearly"])
    header(ws, [d if da else e for _, d, e, _ in YEARLY_COLUMNS])
    for i, row in enumerate(yearly_rows(s), start=2):
        for j, (key, _, _, fmt) in enumerate(YEARLY_COLUMNS, start=1):
            value = row[key]
            if key == "payer":
                value = payer_name(value, lang)
            elif key == "discounting":
                value = word(value, lang)
            cell = ws.cell(row=i, column=j, value=value)
            if fmt:
                cell.number_format = fmts[fmt]
    ws.auto_filter.ref = ws.dimensions
    widths(ws, [6, 22, 22] + [16] * (len(YEARLY_COLUMNS) - 3))

    # Assumptions
    ws = wb.create_sheet(names["Assumptions"])
    header(ws, ["Antagelse", "Felt", "Fordeling", "P5", "P50", "P95", "Middel", "Kilde"] if da else
           ["Assumption", "Field", "Distribution", "P5", "P50", "P95", "Mean", "Source"])
    if run.scenario is not None:
        from simulate.report import assumptions_rows

        for i, r in enumerate(assumptions_rows(run.scenario, lang), start=2):
            fmt = fmts[_assumption_format(r["path"], r["mean"])]
            values = [r["label"], r["path"], ("fast" if da else "fixed") if r["fixed"] else r["distribution"],
                      r["p5"], r["p50"], r["p95"], r["mean"], r["source"]]
            for j, v in enumerate(values, start=1):
                cell = ws.cell(row=i, column=j, value=v)
                if 4 <= j <= 7:
                    cell.number_format = fmt
                if j == 8:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
    widths(ws, [40, 50, 30, 14, 14, 14, 14, 90])

    # Claims
    ws = wb.create_sheet(names["Claims"])
    head, rows, formats = claim_rows(s, run.scenario, lang)
    header(ws, head)
    for i, (row, fr) in enumerate(zip(rows, formats), start=2):
        for j, (v, fmt) in enumerate(zip(row, fr), start=1):
            cell = ws.cell(row=i, column=j, value=v)
            if fmt and isinstance(v, (int, float)):
                cell.number_format = fmts[fmt]
    widths(ws, [26, 20, 6, 16, 16, 18, 18, 14, 14, 80])

    # Trials
    if run.trials_path is not None:
        _trials_sheet(wb, run.trials_path, fmts, lang, header)
    wb.save(path)


def _trials_sheet(wb, trials_path: Path, fmts: dict, lang: str, header) -> None:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return
    pf = pq.ParquetFile(trials_path)
    total = pf.metadata.num_rows
    ws = wb.create_sheet(SHEET_NAMES[lang]["Trials"])
    names = pf.schema_arrow.names
    labels = [trial_column_label(name, lang) for name in names]
    note = (f"De første {min(total, MAX_TRIAL_ROWS):,} af {total:,} simuleringer (alle i trials.parquet)".replace(",", ".")
            if lang == "da" else f"The first {min(total, MAX_TRIAL_ROWS):,} of {total:,} trials (all in trials.parquet)")
    ws.cell(row=1, column=1, value=note).font = __import__("openpyxl").styles.Font(italic=True)
    header(ws, labels, row=2)
    for j, name in enumerate(names, start=1):
        ws.cell(row=3, column=j, value=name)  # the column's field name, for formulas and lookups
    dkk = [name.startswith("cumulative_net") or "_dkk" in name for name in names]
    row_i = 4
    done = 0
    for batch in pf.iter_batches(batch_size=5000):
        n = min(batch.num_rows, MAX_TRIAL_ROWS - done)
        cols = [batch.column(k).to_pylist()[:n] for k in range(batch.num_columns)]
        for r in range(n):
            for j, col in enumerate(cols, start=1):
                cell = ws.cell(row=row_i, column=j, value=col[r])
                if dkk[j - 1]:
                    cell.number_format = fmts["dkk"]
            row_i += 1
        done += n
        if done >= MAX_TRIAL_ROWS:
            break
    ws.freeze_panes = "B4"
