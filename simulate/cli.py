"""The command line: a thin layer over :mod:`simulate.api`.

Exit status: 0 done, 1 internal error, 2 usage or input error, 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from simulate.errors import ScenarioError
from simulate.fmt import LANGS, claim_value, money, number, percent
from simulate.labels import distribution_label, in_sentence, input_label, payer_name, warning_text, word

EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
REPORT_LINE = "This is a bug in simulate: please report it with the command, the scenario file and the text above."


class UserError(click.ClickException):
    """A user's mistake: one message, exit status 2."""

    exit_code = EXIT_USAGE

    def format_message(self) -> str:
        return self.message

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


def handle_errors(func):
    """Map a ScenarioError to exit 2, Ctrl-C to 130 and anything else to 1 with a report line."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ScenarioError as exc:
            raise UserError(str(exc)) from None
        except KeyboardInterrupt as exc:
            click.echo("Interrupted; no partial output was left behind.", err=True)
            sys.exit(getattr(exc, "exit_code", EXIT_INTERRUPTED))
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except Exception:
            import traceback

            traceback.print_exc()
            click.echo(REPORT_LINE, err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper


class Group(click.Group):
    """Usage errors from click itself exit with 2 too (click's default)."""


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="simulate")
def cli():
    """Monte Carlo risk of a social investment: will the programme pay for itself, and what could it cost?"""


# --- labels ----------------------------------------------------------------------------------------
TEXT = {
    "da": {
        "header": "{trials} simuleringer, seed {seed}, opgørelse: {accounting}, betaler: {payer}",
        "header_expected": "Punktestimat (alle input i deres middelværdi), opgørelse: {accounting}, betaler: {payer}",
        "realised": "realiseret", "lifetime": "livstid",
        "cols": ["År", "Punktestimat", "Middel", "P5", "P50", "P95", "P(≥ 0)"],
        "title": "Akkumuleret nettoresultat for {payer} (ikke tilbagediskonteret)",
        "verdict": "Sandsynligheden for, at {payer} har tjent investeringen hjem efter {years} år, er {p}.",
        "shortfall": "Gennemsnit af de 5 % dårligste udfald efter {years} år: {v}",
        "payback": "Tilbagebetalingstid, median: {v}",
        "payback_year": "år {y}", "payback_none": "ikke inden for {years} år",
        "roi1": "ROI år 1 (forventet): {v}",
        "discounted": "Tilbagediskonteret ({rate}): middel {mean}, P(≥ 0) {p} efter {years} år",
        "claims": "Leverandørens løfter", "claim_cols": ["Løfte", "Lovet", "Punktestimat real./livstid", "P(nået)"],
        "written": "Resultater skrevet til {out}",
        "warning": "Advarsel",
        "funding": "Finansieringsbehov (laveste punkt af den akkumulerede kasse): middel {mean}, P50 {p50}, P95 {p95}",
        "budget_years": "Budgetår (nettoresultat i året, middel; P(nettoudgift > 0)): {rows}",
        "refusion": "Refusionsregler {names}: nettoresultat efter {years} år, middel: {rows}",
        "public_sector": "hele den offentlige sektor",
        "by_kind": "Kun kontante besparelser: P(≥ 0) {cash}, middel {cash_mean}; med frigjort kapacitet: "
                   "P(≥ 0) {both}, middel {both_mean} (efter {years} år; konklusionen bruger {headline})",
        "cash": "kontante besparelser",
        "evidence": "Evidenskorrektion {state}: {rows}",
        "on": "til", "off": "fra",
        "cash_and_capacity": "kontante besparelser og kapacitet",
        "cols_expected": ["År", "Besparelser", "Udgift", "Akkumuleret nettoresultat"],
        "verdict_point_yes": "I punktestimatet har {payer} tjent investeringen hjem efter {years} år "
                             "(akkumuleret nettoresultat {v}).",
        "verdict_point_no": "I punktestimatet har {payer} ikke tjent investeringen hjem efter {years} år "
                            "(akkumuleret nettoresultat {v}).",
        "point_note": "Et punktestimat viser ikke risikoen: uden --mode expected giver kørslen fordelingen og "
                      "sandsynlighederne.",
        "payback_point": "Tilbagebetalingstid i punktestimatet: {v}",
        "discounted_point": "Tilbagediskonteret ({rate}): {mean} efter {years} år",
        "funding_point": "Finansieringsbehov (laveste punkt af den akkumulerede kasse): {mean}",
        "budget_years_point": "Budgetår (nettoresultat i året): {rows}",
        "refusion_point": "Refusionsregler {names}: nettoresultat efter {years} år, punktestimat: {rows}",
        "title_point": "Punktestimat for {payer} år for år (ikke tilbagediskonteret)",
        "claim_cols_point": ["Løfte", "Lovet", "Punktestimat real./livstid"],
        "by_kind_point": "Kun kontante besparelser: {cash_mean}; med frigjort kapacitet: {both_mean} (efter {years} "
                         "år; konklusionen bruger {headline})",
    },
    "en": {
        "header": "{trials} trials, seed {seed}, accounting: {accounting}, payer: {payer}",
        "header_expected": "Point estimate (every input at its mean), accounting: {accounting}, payer: {payer}",
        "realised": "realised", "lifetime": "lifetime",
        "cols": ["Year", "Point est.", "Mean", "P5", "P50", "P95", "P(≥ 0)"],
        "title": "Cumulative net result for {payer} (undiscounted)",
        "verdict": "The probability that {payer} has earned back the investment after {years} years is {p}.",
        "shortfall": "Mean of the worst 5% of outcomes after {years} years: {v}",
        "payback": "Payback year, median: {v}",
        "payback_year": "year {y}", "payback_none": "not within {years} years",
        "roi1": "Year-1 ROI (expected): {v}",
        "discounted": "Discounted ({rate}): mean {mean}, P(≥ 0) {p} after {years} years",
        "claims": "The provider's claims", "claim_cols": ["Claim", "Claimed", "Point est. real./lifetime", "P(reached)"],
        "written": "Results written to {out}",
        "warning": "Warning",
        "funding": "Funding need (lowest point of cumulative cash): mean {mean}, P50 {p50}, P95 {p95}",
        "budget_years": "Budget years (net of the year, mean; P(net cost > 0)): {rows}",
        "refusion": "Refusion rules {names}: net after {years} years, mean: {rows}",
        "public_sector": "the whole public sector",
        "by_kind": "Cash savings only: P(≥ 0) {cash}, mean {cash_mean}; with capacity freed: P(≥ 0) {both}, "
                   "mean {both_mean} (after {years} years; the verdict uses {headline})",
        "cash": "cash savings",
        "evidence": "Evidence correction {state}: {rows}",
        "on": "on", "off": "off",
        "cash_and_capacity": "cash savings and capacity",
        "cols_expected": ["Year", "Savings", "Cost", "Cumulative net"],
        "verdict_point_yes": "In the point estimate, {payer} has earned back the investment after {years} years "
                             "(cumulative net {v}).",
        "verdict_point_no": "In the point estimate, {payer} has not earned back the investment after {years} years "
                            "(cumulative net {v}).",
        "point_note": "A point estimate hides the risk: without --mode expected the run gives the distribution and "
                      "the probabilities.",
        "payback_point": "Payback year in the point estimate: {v}",
        "discounted_point": "Discounted ({rate}): {mean} after {years} years",
        "funding_point": "Funding need (lowest point of cumulative cash): {mean}",
        "budget_years_point": "Budget years (net of the year): {rows}",
        "refusion_point": "Refusion rules {names}: net after {years} years, point estimate: {rows}",
        "title_point": "Point estimate for {payer}, year by year (undiscounted)",
        "claim_cols_point": ["Claim", "Claimed", "Point est. real./lifetime"],
        "by_kind_point": "Cash savings only: {cash_mean}; with capacity freed: {both_mean} (after {years} years; the "
                         "verdict uses {headline})",
    },
}


def _over0(year: dict):
    """P(net cost of the year > 0) from a budget year's rows (None without the 0 threshold)."""
    return next((r["probability"]["value"] for r in year["p_net_cost_over"] if r["threshold_dkk"] == 0), None)


def _table_lines(cols: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cols[i]), *(len(r[i]) for r in rows)) for i in range(len(cols))]
    return ["  ".join(c.rjust(w) for c, w in zip(cols, widths)),
            *("  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows)]


def _distribution_lines(summary: dict, lang: str) -> list[str]:
    """A Monte Carlo run: the distribution year by year, the probability of break-even and the risk figures."""
    t = TEXT[lang]
    payer = payer_name(summary["payer"], lang)
    rows = []
    for y in summary["years"]:
        c = y["cumulative_net"]
        rows.append([str(y["year"]), money(y["expected_cumulative_net"], lang), money(c["mean"], lang),
                     money(c["p5"], lang), money(c["p50"], lang), money(c["p95"], lang),
                     percent(y["p_break_even"]["value"], lang, 0)])
    lines = _table_lines(t["cols"], rows)
    H = summary["horizon_years"]
    last = summary["years"][-1]
    lines.append("")
    lines.append(t["verdict"].format(payer=payer, years=H, p=percent(last["p_break_even"]["value"], lang, 0)))
    lines.append(t["shortfall"].format(years=H, v=money(summary["expected_shortfall_5"]["value"], lang)))
    med = summary["payback_year"]["median"]
    lines.append(t["payback"].format(v=t["payback_year"].format(y=med) if med else t["payback_none"].format(years=H)))
    lines.append(t["roi1"].format(v=percent(summary["roi_year1"]["value"], lang)))
    d = summary["discounted"]["years"][-1]
    lines.append(t["discounted"].format(rate=percent(summary["discount_rate"], lang), mean=money(
        d["cumulative_net"]["mean"], lang), p=percent(d["p_break_even"]["value"], lang, 0), years=H))
    budget = summary.get("budget", {}).get("by_payer", {}).get(summary["payer"])
    if budget:
        f = budget["funding_need"]
        lines.append(t["funding"].format(mean=money(f["mean"], lang), p50=money(f["p50"], lang),
                                         p95=money(f["p95"], lang)))
        rows = "; ".join(f"{y['year']}: {money(y['net']['mean'], lang)} ({percent(_over0(y), lang, 0)})"
                         for y in budget["budget_years"])
        lines.append(t["budget_years"].format(rows=rows))
    return lines


def _point_estimate_lines(summary: dict, lang: str) -> list[str]:
    """Expected mode: one number a year, and no probabilities (a point estimate has none to give)."""
    t = TEXT[lang]
    payer = payer_name(summary["payer"], lang)
    rows = [[str(y["year"]), money(y["savings_mean"], lang), money(y["cost_mean"], lang),
             money(y["cumulative_net"]["mean"], lang)] for y in summary["years"]]
    lines = _table_lines(t["cols_expected"], rows)
    H = summary["horizon_years"]
    net = summary["years"][-1]["cumulative_net"]["mean"]
    lines.append("")
    key = "verdict_point_yes" if net is not None and net >= -0.5 else "verdict_point_no"
    lines.append(t[key].format(payer=payer, years=H, v=money(net, lang)))
    lines.append(t["point_note"])
    med = summary["payback_year"]["median"]
    lines.append(t["payback_point"].format(v=t["payback_year"].format(y=med) if med
                                           else t["payback_none"].format(years=H)))
    lines.append(t["roi1"].format(v=percent(summary["roi_year1"]["value"], lang)))
    d = summary["discounted"]["years"][-1]
    lines.append(t["discounted_point"].format(rate=percent(summary["discount_rate"], lang),
                                              mean=money(d["cumulative_net"]["mean"], lang), years=H))
    budget = summary.get("budget", {}).get("by_payer", {}).get(summary["payer"])
    if budget:
        lines.append(t["funding_point"].format(mean=money(budget["funding_need"]["mean"], lang)))
        rows = "; ".join(f"{y['year']}: {money(y['net']['mean'], lang)}" for y in budget["budget_years"])
        lines.append(t["budget_years_point"].format(rows=rows))
    return lines


def render_summary(summary: dict, lang: str = "da") -> str:
    """The short table a finance officer reads."""
    t = TEXT[lang]
    payer = payer_name(summary["payer"], lang)
    acc = t[summary["accounting"]]
    lines = [summary["scenario"]]
    if summary["mode"] == "mc":
        lines.append(t["header"].format(trials=number(summary["trials"], lang), seed=summary["seed"],
                                        accounting=acc, payer=payer))
    else:
        lines.append(t["header_expected"].format(accounting=acc, payer=payer))
    point = summary["mode"] != "mc"
    lines += ["", t["title_point" if point else "title"].format(payer=payer)]
    lines += _point_estimate_lines(summary, lang) if point else _distribution_lines(summary, lang)
    H = summary["horizon_years"]
    ref = summary.get("refusion")
    if ref:
        from simulate.labels import refusion_side_by_side

        side = ref["side_by_side"]
        if point:  # a point estimate has no probability of break-even
            side = {**side, "public_sector": {**side["public_sector"], "p_break_even": None}}
        lines.append(t["refusion_point" if point else "refusion"].format(
            names=", ".join(ref["rule_sets"]) or "-", years=H, rows=refusion_side_by_side(side, lang)))
    ev = summary.get("evidence")
    if ev:
        rows = "; ".join(f"{path} ({'niveau' if lang == 'da' else 'level'} {r['evidence_level']}) "
                         f"{number(r['mean'], lang, 4)} -> "
                         f"{number(r['corrected_mean'], lang, 4)}" for path, r in ev["inputs"].items())
        lines.append(t["evidence"].format(state=t["on" if ev["correction"] else "off"], rows=rows))
    kinds = summary.get("by_kind")
    if kinds and point:
        lines.append(t["by_kind_point"].format(
            cash_mean=money(kinds["cash"]["cumulative_net_mean"][-1], lang),
            both_mean=money(kinds["cash_and_capacity"]["cumulative_net_mean"][-1], lang),
            years=H, headline=t[kinds["headline"]]))
    elif kinds:
        lines.append(t["by_kind"].format(
            cash=percent(kinds["cash"]["p_break_even"][-1], lang, 0),
            cash_mean=money(kinds["cash"]["cumulative_net_mean"][-1], lang),
            both=percent(kinds["cash_and_capacity"]["p_break_even"][-1], lang, 0),
            both_mean=money(kinds["cash_and_capacity"]["cumulative_net_mean"][-1], lang),
            years=H, headline=t[kinds["headline"]]))
    if summary.get("claims"):
        lines += ["", t["claims"]]
        ccols = t["claim_cols_point" if point else "claim_cols"]
        crow = []
        for c in summary["claims"]:
            estimate = f"{claim_value(c['metric'], c.get('expected_realised'), lang)} / " \
                       f"{claim_value(c['metric'], c.get('expected_lifetime'), lang)}"
            crow.append([c["name"], claim_value(c["metric"], c["claimed"], lang), estimate,
                         *([] if point else [percent(c["p_reached"], lang, 0)])])
        cw = [max(len(ccols[i]), *(len(r[i]) for r in crow)) for i in range(len(ccols))]
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(ccols, cw))))
        lines += ["  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, cw))) for r in crow]
    for w in summary.get("warnings", []):
        lines.append(f"{t['warning']}: {warning_text(w, lang)}")
    return "\n".join(lines)


def _payer_key(ctx, param, value):
    """--payer by its key or by the name the output shows (kommunen, staten, the municipality, ...)."""
    from simulate.labels import PAYER_NAMES

    if value is None:
        return value
    names = {name.lower(): key for lang in PAYER_NAMES for key, name in PAYER_NAMES[lang].items()}
    return names.get(value.strip().lower(), value)


# --- commands -----------------------------------------------------------------------------------------
def _prepare_out(out: Path | None, force: bool, marker: str) -> bool:
    """Check --out before any work. True when it is a run directory (with summary.json) that the result files
    are added to, so that `simulate report` shows them; ``marker`` is the file that must not exist yet."""
    from simulate.io import check_output_dir

    if out is None:
        return False
    into_run = out.is_dir() and (out / "summary.json").is_file()
    if into_run and (out / marker).exists() and not force:
        raise ScenarioError("--out", str(out), f"a run directory without {marker} (or --force to replace it)")
    if not into_run:
        check_output_dir(out, force=force)
    return into_run


def _write_out(out: Path, into_run: bool, force: bool, texts: dict[str, str]) -> None:
    """Write result files: each replaced atomically inside a run directory, else a new directory at once."""
    from simulate.io import OutputDir, write_text_atomic

    if into_run:  # the run's own outputs are left as they are
        for name, text in texts.items():
            write_text_atomic(out / name, text)
        return
    with OutputDir(out, force=force) as stage:
        for name, text in texts.items():
            write_text_atomic(stage / name, text)



def _read(config: str, rules=None):
    from simulate.io import load_yaml, scenario_from_data

    if isinstance(rules, (list, tuple)):  # --rules given 0, 1 or several times
        rules = None if not rules else rules[0] if len(rules) == 1 else list(rules)
    data, raw = load_yaml(config, what="CONFIG")
    return scenario_from_data(data, file=config, rules=rules), raw


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--trials", type=int, default=100_000, show_default=True, help="Monte Carlo trials.")
@click.option("--seed", type=int, default=None, help="Root seed [default: 20251125]; same seed, same numbers.")
@click.option("--mode", type=click.Choice(["mc", "expected"]), default="mc", show_default=True,
              help="mc: the distribution; expected: the point estimate with every input at its mean.")
@click.option("--accounting", type=click.Choice(["realised", "lifetime"]), default="realised", show_default=True,
              help="realised: savings inside the horizon only; lifetime: each cohort's full effect.")
@click.option("--payer", default="municipality", show_default=True, callback=_payer_key,
              help="Payer whose result heads the summary (its key, or its name as shown: kommunen, staten, ...).")
@click.option("--out", "out", type=click.Path(), default=None,
              help="Output directory [default: outputs/<config name>].")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
@click.option("--lang", type=click.Choice(LANGS), default="da", show_default=True, help="Language of the table.")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json to stdout instead of the table.")
@click.option("--save-trials", is_flag=True, help="Also write per-trial results to trials.parquet.")
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True, help="Processes to use.")
@click.option("--precision", type=float, default=None,
              help="Run until the se of P(net >= 0) and the relative se of the mean net at the horizon are below "
                   "this (e.g. 0.005); --trials is then ignored.")
@click.option("--max-trials", type=int, default=10**7, show_default=True, help="Cap for --precision.")
@click.option("--report", "make_report", is_flag=True,
              help="Also write figures, report.html, report.pdf and report.xlsx (in --lang) into the output directory.")
@click.option("--budget-year", type=int, default=None,
              help="Calendar year of the budget; it and its three outlook years are shown [default: start_year].")
@click.option("--start-month", type=int, default=1, show_default=True,
              help="Month in which a programme year starts (for results per budget year).")
@click.option("--cost-threshold", "cost_thresholds", type=float, multiple=True,
              help="Amount X [DKK] for P(net cost of a single year > X); repeat for several "
                   "[default: 0, 250,000, 500,000, 1, 2.5, 5 and 10 million].")
@click.option("--rules", "rules", type=click.Path(dir_okay=False), multiple=True,
              help="Refusion rule file for cost items marked refusion: benefit|shelter; overrides the scenario's "
                   "rules:. Repeat to apply several rule sets by programme year.")
@click.option("--include-capacity", is_flag=True,
              help="Count capacity savings (staff time freed) in the headline verdict, not only cash savings.")
@click.option("--no-evidence-correction", "no_evidence_correction", is_flag=True,
              help="Use effect inputs as given, without the correction by their evidence_level.")
@handle_errors
def run(config, trials, seed, mode, accounting, payer, out, force, lang, as_json, save_trials, workers, precision,
        max_trials, make_report, budget_year, start_month, cost_thresholds, rules, include_capacity,
        no_evidence_correction):
    """Run a scenario: the distribution of the net result, year by year.

    Example: simulate run configs/naerbolig.yaml --trials 100000 --out outputs/naerbolig
    """
    from functools import partial

    from simulate import api
    from simulate.io import OutputDir, TrialWriter, build_manifest, write_run

    rules = [str(Path(r).resolve()) for r in rules]  # as recorded for rerun
    rules = None if not rules else rules[0] if len(rules) == 1 else rules
    scenario, raw = _read(config, rules)
    if no_evidence_correction:
        scenario = scenario.model_copy(update={"evidence_correction": False})
    seed = api.DEFAULT_SEED if seed is None else seed
    api.check_options(scenario, trials=trials, seed=seed, mode=mode, accounting=accounting, payer=payer,
                      workers=workers)
    out = Path(out) if out else Path("outputs") / Path(config).stem
    if precision is not None:
        api.check_options(scenario, trials=max_trials, seed=seed, mode=mode, accounting=accounting, payer=payer)
        if not 0 < precision < 1:
            raise ScenarioError("--precision", precision, "a number between 0 and 1, e.g. 0.005")
    from simulate.budget import check_budget_options

    check_budget_options(scenario, budget_year=budget_year, start_month=start_month,
                         thresholds_dkk=list(cost_thresholds))
    options = {"trials": trials, "seed": seed, "mode": mode, "accounting": accounting, "payer": payer,
               "workers": workers, "save_trials": save_trials, "precision": precision, "max_trials": max_trials,
               "budget_year": budget_year, "start_month": start_month,
               "cost_thresholds_dkk": list(cost_thresholds) or None}
    if rules is not None:
        options["rules"] = rules
    if include_capacity:
        options["include_capacity"] = True
    if no_evidence_correction:
        options["evidence_correction"] = False
    if make_report:
        from simulate import report

        report.check_dependencies()
    with OutputDir(out, force=force) as stage:
        writer = TrialWriter(stage / "trials.parquet") if save_trials and mode == "mc" else None
        collector = report.DistributionCollector(scenario.horizon_years) if make_report and mode == "mc" else None
        sinks = [x for x in (writer, collector) if x is not None]
        try:
            result = api.run(
                scenario, trials=trials, seed=seed, mode=mode, accounting=accounting, payer=payer, workers=workers,
                trial_table=partial(api.trials_frame, accounting=accounting, payer=payer) if sinks else None,
                on_trials=(lambda block, table: [sink(block, table) for sink in sinks]) if sinks else None,
                precision=precision, max_trials=max_trials, budget_year=budget_year, start_month=start_month,
                cost_thresholds_dkk=list(cost_thresholds) or None, include_capacity=include_capacity,
            )
        finally:
            if writer is not None:
                writer.close()
        manifest = build_manifest(scenario, config_path=str(config), raw=raw, options=options)
        write_run(stage, result, manifest)
        if make_report:
            dists = collector.write(stage / report.DISTRIBUTION_FILE, result.summary) if collector else None
            run_data = report.load_run(stage, distribution=dists[-1] if dists else None)
            run_data.path = out
            report.write_run_report(run_data, stage, lang)
    if as_json:
        click.echo(json.dumps(result.summary, indent=2, ensure_ascii=False))
    else:
        click.echo(render_summary(result.summary, lang))
        click.echo("")
        click.echo(TEXT[lang]["written"].format(out=out))


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--rules", "rules", type=click.Path(dir_okay=False), multiple=True,
              help="Refusion rule file; overrides the scenario's rules:.")
@click.option("--lang", type=click.Choice(LANGS), default="da", show_default=True)
@handle_errors
def validate(config, rules, lang):
    """Check a scenario file; exit 0 if it is valid.

    Example: simulate validate configs/naerbolig.yaml
    """
    from simulate.scenario import uncertain_inputs

    scenario, _ = _read(config, rules)
    n, H = len(uncertain_inputs(scenario)), scenario.horizon_years
    if lang == "da":
        payers = ", ".join(payer_name(p, lang) for p in scenario.payers())
        click.echo(f"{config}: gyldig ({scenario.name}; {H} år, {n} usikre input, betalere: {payers})")
    else:
        click.echo(f"{config}: valid ({scenario.name}; {H} years, {n} uncertain inputs, payers: "
                   f"{', '.join(scenario.payers())})")


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--lang", type=click.Choice(LANGS), default="da", show_default=True)
@click.option("--rules", "rules", type=click.Path(dir_okay=False), multiple=True,
              help="Refusion rule file; overrides the scenario's rules:.")
@click.option("--no-evidence-correction", "no_evidence_correction", is_flag=True,
              help="Show effect inputs without the correction by their evidence_level.")
@handle_errors
def describe(config, lang, rules, no_evidence_correction):
    """Print every assumption: its distribution, 5/50/95 % values, mean and source.

    Example: simulate describe configs/naerbolig.yaml --lang en
    """
    from simulate.distributions import describe_quantiles, source_text
    from simulate.evidence import CORRECTION, corrected_mean, corrected_quantiles
    from simulate.scenario import numeric_inputs

    scenario, _ = _read(config, rules)
    correcting = scenario.evidence_correction and not no_evidence_correction
    click.echo(scenario.name)
    if scenario.description:
        click.echo(scenario.description.strip())
    head = ("Input", "Distribution", "P5", "P50", "P95", "Mean") if lang == "en" else \
        ("Input", "Fordeling", "P5", "P50", "P95", "Middel")
    click.echo("")
    for path, dist in numeric_inputs(scenario).items():
        p5, p50, p95 = describe_quantiles(dist)
        digits = 0 if (dist.is_fixed and dist.mean() == 0) or abs(dist.mean()) >= 10 else 4
        vals = [number(x, lang, digits) for x in (p5, p50, p95, dist.mean())]
        click.echo(f"{path}")
        click.echo(f"    {head[1]}: {distribution_label(dist.label(), lang)}")
        click.echo(f"    {head[2]} {vals[0]}   {head[3]} {vals[1]}   {head[4]} {vals[2]}   {head[5]} {vals[3]}")
        if dist.evidence_level is not None:
            shift, widen = CORRECTION[dist.evidence_level]
            level = f"{'Evidence level' if lang == 'en' else 'Evidensniveau'} {dist.evidence_level}"
            if correcting and (shift or widen):
                c = [number(x, lang, digits) for x in (*corrected_quantiles(dist, path), corrected_mean(dist, path))]
                sh, wi = percent(shift, lang, 0), percent(widen, lang, 0)
                what = (f"corrected ({sh} towards no effect, spread +{wi})" if lang == "en" else
                        f"korrigeret ({sh} mod ingen effekt, spredning +{wi})")
                click.echo(f"    {level}, {what}: {head[2]} {c[0]}   {head[3]} {c[1]}   {head[4]} {c[2]}   "
                           f"{head[5]} {c[3]}")
            else:
                off = "not corrected" if lang == "en" else "ikke korrigeret"
                click.echo(f"    {level} ({off})")
        src = source_text(dist.source)
        if src:
            click.echo(f"    {'Source' if lang == 'en' else 'Kilde'}: {src}")
        click.echo("")  # one blank line after each input
    from simulate.api import capacity_inputs, refusion_items

    refusion = refusion_items(scenario)
    if refusion:
        click.echo("")
        click.echo("Refusion (municipal/state split from the rule set):" if lang == "en" else
                   "Refusion (fordeling mellem kommune og stat efter reglerne):")
        for path, r in refusion.items():
            shares = ", ".join(f"{payer_name(p, lang)} {percent(v, lang, 1)}" for p, v in r["split"].items())
            click.echo(f"    {path}: {r['refusion']}, {r['rule_set']}: {shares}")
        for period in scenario.rule_periods or []:
            weights = " ".join(number(w, lang, 2) for w in period.year_weights)
            share = "share of each programme year" if lang == "en" else "andel af hvert år"
            click.echo(f"    {period.rule_set}, {share}: {weights}")
            for path, split in period.splits.items():
                shares = ", ".join(f"{payer_name(p, lang)} {percent(v, lang, 1)}" for p, v in split.items())
                click.echo(f"        {path.rsplit('.', 1)[-1]}: {shares}")
    capacity = capacity_inputs(scenario)
    if capacity:
        click.echo("")
        click.echo(("Capacity savings (no budget line falls; counted only with --include-capacity): " if lang == "en"
                    else "Kapacitetsbesparelser (ingen budgetlinje falder; tælles kun med --include-capacity): ")
                   + ", ".join(capacity))
    if scenario.correlations:
        click.echo("")
        click.echo("Rank correlations:" if lang == "en" else "Rangkorrelationer:")
        for c in scenario.correlations:
            click.echo(f"    {c.between[0]} ~ {c.between[1]}: {number(c.rank_correlation, lang, 2)}"
                       + (f"  ({source_text(c.source)})" if c.source else ""))
    for label, model in (("programme", scenario.programme), ("participants", scenario.participants),
                         ("counterfactual", scenario.counterfactual), ("discounting", scenario.discounting)):
        if getattr(model, "source", None):
            click.echo(f"{label}: {source_text(model.source)}")


def _float_text(x, digits: int = 4, lang: str = "en") -> str:
    """A number for a table: whole from 1,000 up, else ``digits`` significant digits (Danish: 1.234 and 0,2091)."""
    if x is None:
        return "-"
    x = float(x)
    if abs(x) >= 1000:
        return number(x, lang, 0)
    text = f"{x:.{digits}g}"
    return text.replace(".", ",") if lang == "da" else text


# Words of the sensitivity and break-even tables
ANALYSIS_TEXT = {
    "da": {
        "sens_header": "{scenario}: {method}, {metric} for {payer}, akkumuleret til år {year} "
                       "({discounting}, {accounting}); basisværdi {base}",
        "input": "input",
        "cols": {"low": "lav (P10)", "high": "høj (P90)", "metric_at_low": "ved lav", "metric_at_high": "ved høj",
                 "swing": "udsving", "S1": "S1", "S1_conf": "S1 ±", "ST": "ST", "ST_conf": "ST ±",
                 "delta": "delta", "delta_conf": "delta ±"},
        "outcome_share": "Andel af variansen fra de enkelte udfald givet input: {v} ± {conf}",
        "noise_floor": "Støjniveau (et input uden effekt): delta {delta}, S1 {s1}",
        "be_reaches": "P(akkumuleret nettoresultat for {payer} ≥ 0 efter år {year}) når {target} ved {label} "
                      "({param}) = {value} (Monte Carlo-standardfejl {se}; {conf}-interval {ci}; {trials} "
                      "simuleringer med fælles tilfældige tal).",
        "be_base": "Scenariets egen værdi er {value}; ved den er sandsynligheden {p}.",
        "be_point": "Med alle input i middelværdi (et punktestimat) ligger break-even ved {value}.",
        "be_successes": "Forventede succeser pr. år ved værdien: {v}.",
    },
    "en": {
        "sens_header": "{scenario}: {method}, {metric} of {payer}'s cumulative net, year {year} ({discounting}, "
                       "{accounting}); base value {base}",
        "input": "input",
        "cols": {},
        "outcome_share": "Share of the variance from individual outcomes given the inputs: {v} ± {conf}",
        "noise_floor": "Noise floor (an input with no effect): delta {delta}, S1 {s1}",
        "be_reaches": "P({payer}'s cumulative net >= 0 by year {year}) reaches {target} at {param} = {value} "
                      "(Monte Carlo se {se}, {conf} interval {ci}; {trials} trials, common random numbers).",
        "be_base": "The scenario's own value is {value}, where the probability is {p}.",
        "be_point": "With every input at its mean (a point estimate), the break-even is at {value}.",
        "be_successes": "Expected successes per year at the value: {v}.",
    },
}


def _sensitivity_table(doc: dict, method: str, lang: str) -> str:
    """The sensitivity table on screen: Danish names the inputs as the report does, English by field path."""
    from simulate.labels import is_probability_metric, metric_name

    t = ANALYSIS_TEXT[lang]
    num = functools.partial(_float_text, lang=lang)
    prob = is_probability_metric(doc["metric"])
    payer = payer_name(doc["payer"], lang)
    if lang == "en":
        metric, base = doc["metric"], percent(doc["base_value"], lang) if prob else num(doc["base_value"])
    else:
        metric = in_sentence(metric_name(doc["metric"], lang))
        base = percent(doc["base_value"], lang) if prob else money(doc["base_value"], lang)
    lines = [t["sens_header"].format(
        scenario=doc["scenario"], method=method, metric=metric, payer=payer, year=doc["year"],
        discounting=word(doc["discounting"], lang), accounting=word(doc["accounting"], lang), base=base)]
    cols = {"tornado": ["low", "high", "metric_at_low", "metric_at_high", "swing"],
            "sobol": ["S1", "S1_conf", "ST", "ST_conf"], "delta": ["delta", "delta_conf", "S1", "S1_conf"]}[method]
    names = [str(r["input"]) if lang == "en" else input_label(str(r["input"]), lang) for r in doc["rows"]]
    width = max(len(x) for x in [t["input"], *names])  # field paths in full: they are what --param takes
    if lang == "da":
        width = min(width, 70)

    def cell(col: str, value) -> str:
        if col == "swing" and prob and value is not None:  # a difference of two probabilities
            return number(100 * value, lang, 1) + (" %-point" if lang == "da" else " pp")
        if col in ("metric_at_low", "metric_at_high") and prob and value is not None:
            return percent(value, lang, 1)  # the metric is a probability, as the base value shows
        if col not in ("low", "high", "metric_at_low", "metric_at_high", "swing") and value is not None:
            return number(value, lang, 3)  # indices and their confidence: three decimals, no exponent
        return num(value)

    lines.append("  ".join([t["input"].ljust(width), *[t["cols"].get(c, c).rjust(14) for c in cols]]))
    for name, r in zip(names, doc["rows"]):
        name = name if len(name) <= width else name[: width - 3] + "..."
        lines.append("  ".join([name.ljust(width), *[cell(c, r[c]).rjust(14) for c in cols]]))
    if "outcome_share" in doc:
        lines.append(t["outcome_share"].format(v=number(doc["outcome_share"], lang, 3),
                                               conf=number(doc["outcome_share_conf"], lang, 3)))
    if "noise_floor" in doc:
        lines.append(t["noise_floor"].format(delta=number(doc["noise_floor"]["delta"], lang, 3),
                                             s1=number(doc["noise_floor"]["S1"], lang, 3)))
    return "\n".join(lines)


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--method", type=click.Choice(["tornado", "sobol", "delta"]), default="tornado", show_default=True,
              help="tornado: swing between P10 and P90; sobol: variance indices (SALib); delta: given-data "
                   "indices, valid with correlated inputs.")
@click.option("--metric", default="cumulative_net_mean", show_default=True,
              help="cumulative_net_mean or p_break_even (tornado also cumulative_net_p5, _p50, _p95).")
@click.option("--year", type=int, default=None, help="Programme year [default: the horizon].")
@click.option("--payer", default="municipality", show_default=True, callback=_payer_key,
              help="Whose cumulative net.")
@click.option("--discounting", type=click.Choice(["undiscounted", "discounted"]), default="undiscounted",
              show_default=True)
@click.option("--accounting", type=click.Choice(["realised", "lifetime"]), default="realised", show_default=True)
@click.option("--trials", type=int, default=None,
              help="Trials per run (tornado, 20000), base sample N (sobol, 4096) or sample (delta, 5000).")
@click.option("--seed", type=int, default=None, help="Root seed [default: 20251125].")
@click.option("--others", type=click.Choice(["random", "base"]), default="random", show_default=True,
              help="Tornado: the other inputs random (common random numbers) or at their means.")
@click.option("--out", "out", type=click.Path(), default=None,
              help="Output directory [default: outputs/<config name>_sensitivity_<method>].")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
@click.option("--json", "as_json", is_flag=True, help="Print sensitivity.json to stdout instead of the table.")
@click.option("--lang", type=click.Choice(LANGS), default="da", show_default=True,
              help="Language of the table (da: inputs by name; en: by field path).")
@handle_errors
def sensitivity(config, method, metric, year, payer, discounting, accounting, trials, seed, others, out, force,
                as_json, lang):
    """Which assumption drives the result: tornado, Sobol or delta indices of one metric.

    Writes sensitivity.csv and sensitivity.json to the output directory. When --out is a run directory
    (with summary.json), the two files are added to it, so that `simulate report` draws the tornado.

    Example: simulate sensitivity configs/naerbolig.yaml --method tornado --metric p_break_even --year 10
    """
    from simulate import sensitivity as sens
    from simulate.io import summary_text

    scenario, _ = _read(config)
    out = Path(out) if out else Path("outputs") / f"{Path(config).stem}_sensitivity_{method}"
    into_run = _prepare_out(out, force, "sensitivity.json")
    result = sens.sensitivity(scenario, method=method, metric=metric, year=year, payer=payer,
                              discounting=discounting, accounting=accounting, trials=trials, seed=seed,
                              others=others)
    table = result.table
    for col in table.columns:
        if table[col].map(lambda v: isinstance(v, list)).any():
            table[col] = table[col].map(lambda v: "; ".join(v) if isinstance(v, list) else v)
    _write_out(out, into_run, force, {"sensitivity.csv": table.to_csv(index=False),
                                      "sensitivity.json": summary_text(result.doc)})
    if as_json:
        click.echo(json.dumps(result.doc, indent=2, ensure_ascii=False))
        return
    doc = result.doc
    click.echo(_sensitivity_table(doc, method, lang))
    click.echo(TEXT[lang]["written"].format(out=out))


@cli.command()
@click.argument("sweepfile", type=click.Path(dir_okay=False))
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Local processes (or the LocalCluster's workers with --scheduler local).")
@click.option("--scheduler", default=None,
              help="Run on Dask: 'local' starts a LocalCluster, tcp://host:port uses a running scheduler.")
@click.option("--scheduler-timeout", type=click.FloatRange(0.1, 600), default=10.0, show_default=True,
              help="Seconds to wait for the Dask scheduler.")
@click.option("--out", "out", type=click.Path(), default=None,
              help="Output directory [default: outputs/sweeps/<sweep file name>].")
@click.option("--resume", is_flag=True, help="Continue an interrupted sweep: run only the scenarios not yet done.")
@click.option("--force", is_flag=True, help="Start over in an existing sweep directory.")
@click.option("--csv", is_flag=True, help="Also write results.csv.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar with ETA on stderr [default: when stderr is a terminal].")
@handle_errors
def sweep(sweepfile, workers, scheduler, scheduler_timeout, out, resume, force, csv, progress):
    """Run many scenarios: a base scenario with overrides by field path (grid, list, Latin hypercube, Sobol).

    Results go to results.parquet (one row per scenario x year x payer x discounting x metric) and
    sweep.json. Each finished scenario is saved at once: after an interruption, --resume runs the rest.

    Example: simulate sweep configs/sweeps/naerbolig_success_overrun.yaml --workers 2
    """
    from simulate import sweep as sw

    spec = sw.read_sweep(sweepfile)
    out = Path(out) if out else Path("outputs") / "sweeps" / Path(sweepfile).stem
    bar = None
    show = sys.stderr.isatty() if progress is None else progress

    def on_progress(done, total):
        nonlocal bar
        if not show:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=done, unit="scenario", file=sys.stderr, dynamic_ncols=True,
                       smoothing=0.05)
        else:
            bar.update(done - bar.n)

    try:
        result = sw.run_sweep(spec, out=out, workers=workers, scheduler=scheduler,
                              scheduler_timeout=scheduler_timeout, resume=resume, force=force, csv=csv,
                              progress=on_progress)
    except KeyboardInterrupt as exc:
        if bar is not None:
            bar.close()
        done = len(sw.done_ids(out)) if out.exists() else 0
        click.echo(f"Interrupted: {done} of {spec.n_scenarios} scenarios are saved in {out}; "
                   f"run again with --resume to do the rest.", err=True)
        sys.exit(getattr(exc, "exit_code", EXIT_INTERRUPTED))
    finally:
        if bar is not None:
            bar.close()
    click.echo(f"{result.n_done} of {result.n_scenarios} scenarios done ({result.n_run} run now, "
               f"{result.elapsed_seconds:.1f} s); results in {out / sw.RESULTS}")


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--param", required=True, help="Field path of the input to solve for, e.g. "
                                             "participants.success_probability.")
@click.option("--target-prob", type=float, default=0.5, show_default=True,
              help="The probability of break-even to reach.")
@click.option("--year", type=int, default=None, help="Break-even by this programme year [default: the horizon].")
@click.option("--payer", default="municipality", show_default=True, callback=_payer_key)
@click.option("--discounting", type=click.Choice(["undiscounted", "discounted"]), default="undiscounted",
              show_default=True)
@click.option("--accounting", type=click.Choice(["realised", "lifetime"]), default="realised", show_default=True)
@click.option("--trials", type=int, default=20_000, show_default=True, help="Trials per evaluation.")
@click.option("--seed", type=int, default=None, help="Root seed [default: 20251125].")
@click.option("--bracket", type=(float, float), default=None, help="LOW HIGH: where to search.")
@click.option("--out", "out", type=click.Path(), default=None, help="Also write breakeven.json here.")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
@click.option("--json", "as_json", is_flag=True, help="Print breakeven.json to stdout.")
@click.option("--lang", type=click.Choice(LANGS), default="da", show_default=True, help="Language of the text.")
@handle_errors
def breakeven(config, param, target_prob, year, payer, discounting, accounting, trials, seed, bracket, out, force,
              as_json, lang):
    """The value of one input at which P(cumulative net >= 0 by year T) reaches a target, with its uncertainty.

    Example: simulate breakeven configs/naerbolig_brochure.yaml --param participants.success_probability --year 1
    """
    from simulate.breakeven import breakeven as solve
    from simulate.io import OutputDir, check_output_dir, write_json

    if out:
        check_output_dir(out, force=force)
    result = solve(config, param=param, target_prob=target_prob, year=year, payer=payer, discounting=discounting,
                   accounting=accounting, trials=trials, seed=seed, bracket=bracket)
    doc = result.doc
    if out:
        with OutputDir(out, force=force) as stage:
            write_json(stage / "breakeven.json", doc)
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    click.echo(_breakeven_text(doc, param, lang))


def _breakeven_text(doc: dict, param: str, lang: str) -> str:
    t = ANALYSIS_TEXT[lang]
    num = functools.partial(_float_text, lang=lang)
    sep = "; " if lang == "da" else ", "  # a Danish decimal comma would make "[0,2062, 0,2118]" ambiguous
    label = in_sentence(input_label(param, lang))
    lines = [str(doc["scenario"]), t["be_reaches"].format(
        payer=payer_name(doc["payer"], lang), year=doc["year"],
        target=percent(doc["target_prob"], lang, 0), label=label, param=param,
        value=num(doc["value"]), se=num(doc["se"]), conf=percent(doc["conf_level"], lang, 0),
        ci=f"[{num(doc['ci_low'])}{sep}{num(doc['ci_high'])}]", trials=number(doc["trials"], lang, 0))]
    lines.append(t["be_base"].format(value=num(doc["base_value"]), p=percent(doc["p_at_base"], lang, 1)))
    if doc["expected_mode_value"] is not None:
        lines.append(t["be_point"].format(value=num(doc["expected_mode_value"])))
    lines.append(t["be_successes"].format(v=number(doc["expected_successes_per_year_at_value"], lang, 2)))
    return "\n".join(lines)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (clean up, one line) but with exit status 143."""

    exit_code = 143


def _on_sigterm(signum, frame):
    raise Terminated()


@cli.command()
@click.argument("run_dir", type=click.Path())
@click.option("--out", "out", type=click.Path(), default=None, help="Also keep the repeated run's outputs here.")
@click.option("--force", is_flag=True, help="Replace an existing --out directory.")
@click.option("--lang", type=click.Choice(LANGS), default="da", show_default=True)
@handle_errors
def rerun(run_dir, out, force, lang):
    """Repeat a run from its manifest and check that summary.json comes out bit for bit the same.

    Example: simulate rerun outputs/naerbolig
    """
    from simulate import api
    from simulate.io import (OutputDir, build_manifest, check_output_dir, package_versions, read_manifest,
                             summary_text, write_run)

    manifest, recorded = read_manifest(run_dir)
    scenario, raw, options = manifest["scenario"], manifest["raw"], manifest["options"]
    if out:
        check_output_dir(out, force=force)
    keys = ("trials", "seed", "mode", "accounting", "payer", "workers", "precision", "max_trials", "budget_year",
            "start_month", "cost_thresholds_dkk", "include_capacity", "evidence_correction")
    result = api.run(scenario, **{k: options[k] for k in keys if k in options})
    now = {k: v for k, v in package_versions().items() if v is not None}
    then = {k: v for k, v in manifest["versions"].items() if k in now and v is not None}
    changed = {k: (then[k], now[k]) for k in then if then[k] != now[k]}
    if out:
        with OutputDir(out, force=force) as stage:
            write_run(stage, result, build_manifest(scenario, config_path=manifest["config_path"], raw=raw,
                                                    options=options))
    da = lang == "da"
    for name, (a, b) in changed.items():
        click.echo(f"Bemærk: kørt med {name} {a}, installeret er {name} {b}." if da else
                   f"Note: recorded with {name} {a}, installed {name} {b}.")
    if summary_text(result.summary) == recorded:
        click.echo(f"Genskabt: {Path(run_dir) / 'summary.json'} er identisk, bit for bit." if da else
                   f"Reproduced: {Path(run_dir) / 'summary.json'} is identical, bit for bit.")
        return
    from simulate.io import differing_keys

    keys = differing_keys(json.loads(recorded), result.summary)
    listed = ", ".join(keys[:8]) + (" ..." if len(keys) > 8 else "")
    click.echo(f"IKKE genskabt: summary.json afviger i {listed}" if da else
               f"NOT reproduced: summary.json differs in {listed}", err=True)
    if changed:
        click.echo("De installerede versioner afviger fra de registrerede (ovenfor); det er den sandsynlige årsag."
                   if da else "The installed versions differ from the recorded ones (above); that is the likely reason.",
                   err=True)
        sys.exit(EXIT_INTERNAL)
    click.echo(REPORT_LINE, err=True)
    sys.exit(EXIT_INTERNAL)


@cli.command("portfolio")
@click.argument("portfolio_file", type=click.Path(dir_okay=False))
@click.option("--trials", type=int, default=20_000, show_default=True, help="Monte Carlo trials (shared by all).")
@click.option("--seed", type=int, default=None, help="Root seed [default: 20251125].")
@click.option("--include-capacity", is_flag=True, help="Count capacity savings too, not only cash savings.")
@click.option("--out", "out", type=click.Path(), default=None,
              help="Output directory for portfolio.json [default: outputs/<portfolio file name>].")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
@click.option("--json", "as_json", is_flag=True, help="Print portfolio.json to stdout instead of the table.")
@click.option("--lang", type=click.Choice(LANGS), default="da", show_default=True)
@handle_errors
def portfolio_command(portfolio_file, trials, seed, include_capacity, out, force, as_json, lang):
    """Run several programmes together: the portfolio's net, P(break-even) and each programme's share of the risk.

    PORTFOLIO_FILE names scenario files (relative to it) and optional shared shocks linking inputs of
    several programmes to one common factor (docs/budget.md, "A portfolio").

    Example: simulate portfolio configs/portfolio_aarhus.yaml --trials 20000
    """
    from simulate.io import OutputDir, write_json
    from simulate.portfolio import read_portfolio, render, run_portfolio

    pf, names, scenarios = read_portfolio(portfolio_file)
    out = Path(out) if out else Path("outputs") / Path(portfolio_file).stem
    from simulate.io import check_output_dir

    check_output_dir(out, force=force)
    doc = run_portfolio(pf, names, scenarios, trials=trials, seed=seed, include_capacity=include_capacity)
    with OutputDir(out, force=force) as stage:
        write_json(stage / "portfolio.json", doc)
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        click.echo(render(doc, lang))
        click.echo(TEXT[lang]["written"].format(out=out))


@cli.command("report")
@click.argument("run_dir", type=click.Path())
@click.option("--lang", default="da", show_default=True, help="Language of the report: da or en.")
@click.option("--year", type=int, default=None,
              help="Programme year of the verdict (and of a sweep's heatmap) [default: the horizon].")
@handle_errors
def report_command(run_dir, lang, year):
    """Write figures, report.html, report.pdf and report.xlsx into a run directory.

    RUN_DIR is a directory written by `simulate run`; a sweep directory (sweep.json) gets a heatmap of the
    probability of break-even, a directory with sensitivity.json a chart of it. Nothing is re-run.

    Example: simulate report outputs/naerbolig --lang en
    """
    from simulate import report

    written = report.report(run_dir, lang=lang, year=year)
    click.echo(("Rapport skrevet: " if lang == "da" else "Report written: ")
               + ", ".join(str(p) for p in written if p.suffix in (".html", ".pdf", ".xlsx")))


@cli.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--out", "out", type=click.Path(), default="outputs/compare", show_default=True,
              help="Directory for compare.html, compare.pdf and the figures.")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
@click.option("--lang", default="da", show_default=True, help="Language of the page: da or en.")
@handle_errors
def compare_command(run_dirs, out, force, lang):
    """Put two or more runs side by side: overlaid fan charts, P(break-even) curves and key figures.

    Example: simulate compare outputs/naerbolig_brochure outputs/naerbolig --out outputs/compare
    """
    from simulate import report

    written = report.compare(list(run_dirs), out, lang=lang, force=force)
    click.echo(("Sammenligning skrevet: " if lang == "da" else "Comparison written: ")
               + ", ".join(str(p) for p in written if p.suffix in (".html", ".pdf")))


@cli.command("voi")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--trials", type=int, default=100_000, show_default=True, help="Monte Carlo trials (all are kept).")
@click.option("--seed", type=int, default=None, help="Root seed [default: 20251125].")
@click.option("--year", type=int, default=None, help="Programme year T of the decision's net [default: the horizon].")
@click.option("--payer", default="municipality", show_default=True, callback=_payer_key,
              help="Whose net the decision weighs.")
@click.option("--accounting", type=click.Choice(["realised", "lifetime"]), default="realised", show_default=True)
@click.option("--discounted", is_flag=True, help="Weigh the discounted net.")
@click.option("--out", "out", type=click.Path(), default=None, help="Also write voi.json into this directory.")
@click.option("--force", is_flag=True, help="Replace an existing --out directory.")
@click.option("--json", "as_json", is_flag=True, help="Print voi.json to stdout instead of the table.")
@click.option("--lang", type=click.Choice(LANGS), default="da", show_default=True)
@handle_errors
def voi_command(config, trials, seed, year, payer, accounting, discounted, out, force, as_json, lang):
    """Value of information for "continue or stop": EVPI and each input's EVPPI, in DKK.

    Which uncertainty is worth paying an evaluation to resolve: the expected gain of deciding with
    the input known, from the ordinary run's samples (regression estimator; see docs/budget.md).

    With --out a run directory (summary.json), voi.json is added to it and `simulate report` shows it.

    Example: simulate voi configs/naerbolig.yaml --year 10 --out outputs/naerbolig_voi
    """
    from simulate.io import summary_text
    from simulate.voi import value_of_information

    scenario, _ = _read(config)
    out = Path(out) if out else None
    into_run = _prepare_out(out, force, "voi.json")
    doc = value_of_information(scenario, trials=trials, seed=seed, year=year, payer=payer, accounting=accounting,
                               discounted=discounted)
    if out:
        _write_out(out, into_run, force, {"voi.json": summary_text(doc)})
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    da = lang == "da"
    click.echo(doc["scenario"])
    click.echo((f"Beslutning: fortsæt (nettoresultat for {payer_name(payer, lang)} efter {doc['year']} år) eller stop"
                if da else f"Decision: continue (net for {payer_name(payer, lang)} after {doc['year']} years) or stop"))
    click.echo(("Middel " if da else "Mean ") + money(doc["mean_net_dkk"], lang) + ", P(≥ 0) "
               + percent(doc["p_break_even"], lang, 0))
    click.echo(("EVPI (alt kendt, inkl. de enkelte unges udfald): " if da else
                "EVPI (everything known, individual outcomes included): ") + money(doc["evpi_dkk"], lang))
    click.echo(("EVPI for alle usikre input: " if da else "EVPI of all uncertain inputs: ")
               + money(doc["evpi_parameters_dkk"], lang))
    click.echo(("Støjniveau (EVPPI af et input uden betydning): " if da else "Noise floor (EVPPI of an irrelevant input): ")
               + money(doc["noise_floor_dkk"], lang))
    click.echo("")
    click.echo("EVPPI pr. input:" if lang == "da" else "EVPPI per input:")
    names = [row["input"] if lang == "en" else input_label(row["input"], lang) for row in doc["evppi"]]
    width = max((len(x) for x in names), default=5)
    for name, row in zip(names, doc["evppi"]):
        click.echo(f"  {name.ljust(width)}  {money(row['evppi_dkk'], lang).rjust(14)}")
    if out:
        click.echo("")
        click.echo(TEXT[lang]["written"].format(out=out))


@cli.command("update")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--observed", "observed_file", required=True, type=click.Path(dir_okay=False),
              help="Follow-up data (YAML): per year enrolled, dropped_out, succeeded, relapsed, cost_dkk.")
@click.option("--trials", type=int, default=100_000, show_default=True, help="Monte Carlo trials.")
@click.option("--seed", type=int, default=None, help="Root seed [default: 20251125].")
@click.option("--year", type=int, default=None, help="Programme year T of P(break-even by T) [default: the horizon].")
@click.option("--payer", default="municipality", show_default=True, callback=_payer_key)
@click.option("--threshold", type=float, default=0.5, show_default=True,
              help="The council's threshold for P(break-even by year T): go at or above it.")
@click.option("--method", type=click.Choice(["auto", "importance"]), default="auto", show_default=True,
              help="auto: exact conjugate Beta updates where possible, re-weighting otherwise; importance: "
                   "re-weighting for everything.")
@click.option("--out", "out", type=click.Path(), default=None,
              help="Also write update.json and the prior and posterior summary.json files here.")
@click.option("--force", is_flag=True, help="Replace an existing --out directory.")
@click.option("--json", "as_json", is_flag=True, help="Print update.json to stdout instead of the text.")
@click.option("--lang", type=click.Choice(LANGS), default="da", show_default=True)
@handle_errors
def update_command(config, observed_file, trials, seed, year, payer, threshold, method, out, force, as_json, lang):
    """Stop or go after a pilot: update the uncertain inputs with follow-up data and rerun.

    Prints prior against posterior: P(break-even by year T), the net's distribution, the updated inputs
    and the observed success rate below which P(break-even by year T) falls under --threshold.

    Example: simulate update configs/naerbolig.yaml --observed configs/observed/naerbolig_pilot.yaml --year 10
    """
    from simulate.io import OutputDir, check_output_dir, write_json
    from simulate.update import check_against, read_observed, update

    scenario, _ = _read(config)
    observed = read_observed(observed_file)
    try:
        check_against(observed, scenario)
    except ScenarioError as exc:
        raise exc.in_file(observed_file) from None
    if out:
        check_output_dir(out, force=force)
    try:
        doc = update(scenario, observed, trials=trials, seed=seed, year=year, payer=payer, threshold=threshold,
                     method=method)
    except ScenarioError as exc:
        if exc.path.startswith("observed"):
            raise exc.in_file(observed_file) from None
        raise
    summaries = doc.pop("summaries")
    if out:
        with OutputDir(out, force=force) as stage:
            write_json(stage / "update.json", doc)
            for name, summary in summaries.items():
                (stage / name).mkdir()
                write_json(stage / name / "summary.json", summary)
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    da = lang == "da"
    pr, po = doc["prior"], doc["posterior"]
    click.echo(doc["scenario"])
    click.echo(("Før og efter opfølgningen, " if da else "Before and after the follow-up, ")
               + f"{payer_name(payer, lang)}, " + (f"år {doc['year']}" if da else f"year {doc['year']}"))
    rows = [("P(≥ 0)", percent(pr["p_break_even"], lang, 1), percent(po["p_break_even"], lang, 1))]
    for key in ("mean", "p5", "p50", "p95"):
        rows.append((key.upper() if key != "mean" else ("Middel" if da else "Mean"), money(pr[key], lang),
                     money(po[key], lang)))
    head = ("", "Før" if da else "Prior", "Efter" if da else "Posterior")
    w = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    for r in [head, *rows]:
        click.echo("  ".join([r[0].ljust(w[0]), r[1].rjust(w[1]), r[2].rjust(w[2])]))
    click.echo("")
    how_da = {"conjugate": "eksakt Beta–binomial-opdatering", "importance": "vægtet efter data, importance sampling"}
    for path, info in doc["inputs"].items():
        name = f"{input_label(path, lang)} ({path})" if da else path
        how = how_da.get(info["how"], info["how"]) if da else info["how"]
        click.echo(f"{name}: {number(info['prior_mean'], lang, 4)} → {number(info['posterior_mean'], lang, 4)} "
                   f"({how})")
    ess = doc["method"]["effective_sample_size"]
    if ess is not None:
        click.echo(("Effektiv stikprøvestørrelse: " if da else "Effective sample size: ") + number(ess, lang, 0))
    rate = doc["threshold_success_rate"]
    if rate and rate["rate"] is not None:
        click.echo((f"Under en observeret succesrate på {percent(rate['rate'], lang, 0)} "
                    f"({rate['successes']} af {rate['completers']}) er P(≥ 0) under {percent(threshold, lang, 0)}."
                    if da else
                    f"Below an observed success rate of {percent(rate['rate'], lang, 0)} "
                    f"({rate['successes']} of {rate['completers']}) P(≥ 0) is under {percent(threshold, lang, 0)}."))
    dec = doc["decision"]
    if da:
        post = doc["posterior"]["p_break_even"]
        prior = doc["prior"]["p_break_even"]
        side = "på eller over" if dec["go"] else "under"
        click.echo(f"P(≥ 0 efter {doc.get('year', '')} år) er {percent(post, lang)} efter opfølgningen "
                   f"({percent(prior, lang)} før): {side} tærsklen på {percent(dec['threshold_probability'], lang, 0)}.")
    else:
        click.echo(dec["text"])
    for warning in doc["warnings"]:
        click.echo(f"{TEXT[lang]['warning']}: {warning_text(warning, lang)}")


def main():  # pragma: no cover - console script
    import signal

    from simulate.io import OutputDir

    signal.signal(signal.SIGTERM, _on_sigterm)
    OutputDir.hold_signals_after_commit = True  # the process ends after the command: a finished run stays finished
    if hasattr(signal, "SIGPIPE"):  # `simulate describe ... | head`: stop quietly when the reader has gone
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        cli()
    finally:  # the command is over: a signal during the interpreter's shutdown (which puts back the system's
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # default for Python handlers) must not turn its status
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # into a kill


if __name__ == "__main__":  # pragma: no cover
    main()
