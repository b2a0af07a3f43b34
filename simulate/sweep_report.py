"""The page of a sweep: P(break-even) over two swept inputs as a heatmap with its 50 % contour.

Reads ``sweep.json`` ({"base_config", "overrides": [paths], "n_scenarios", ...}) and
``results.parquet`` (one row per scenario x year x payer x discounting x metric, with
one column per swept path) as written by ``simulate sweep``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulate.errors import ScenarioError
from simulate.fmt import number, percent
from simulate.labels import input_label, payer_name

REQUIRED = ("scenario_id", "year", "payer", "discounting", "metric", "value")


def load_sweep(path: Path):
    from simulate.report import _read_json

    doc = _read_json(path / "sweep.json", "sweep.json written by simulate sweep")
    overrides = doc.get("overrides")
    if not isinstance(overrides, list) or not overrides or not all(isinstance(o, str) for o in overrides):
        raise ScenarioError(f"{path / 'sweep.json'}: overrides", overrides, "a list of the swept field paths")
    results = path / "results.parquet"
    if not results.is_file():
        raise ScenarioError("RUN_DIR", str(path), "a sweep directory with results.parquet beside sweep.json")
    try:
        import pandas as pd
        import pyarrow  # noqa: F401
    except ImportError:
        raise ScenarioError("results.parquet", "pyarrow is not installed", "pip install 'simulate[report]'") from None
    try:
        table = pd.read_parquet(results)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input
        raise ScenarioError(str(results), type(exc).__name__, "a parquet table written by simulate sweep") from None
    missing = [c for c in (*REQUIRED, *overrides) if c not in table.columns]
    if missing:
        raise ScenarioError(str(results), "no column " + ", ".join(missing),
                            "columns " + ", ".join((*REQUIRED, *overrides)))
    return doc, table


def break_even_table(table, *, year: int, payer: str = "municipality"):
    sel = table[(table["metric"] == "p_break_even") & (table["payer"] == payer)
                & (table["discounting"] == "undiscounted") & (table["year"] == year)]
    return sel


def sweep_report(path: Path, out: Path, lang: str, *, year: int | None = None, payer: str = "municipality"):
    from simulate import figures as F
    from simulate.io import write_text_atomic
    from simulate.report import FIGURES_DIR, T, Figure, _figure, _table, esc, page, write_pdf

    doc, table = load_sweep(path)
    overrides = doc["overrides"]
    years = sorted(int(y) for y in table["year"].unique())
    if not years:
        raise ScenarioError(str(path / "results.parquet"), "no rows", "results of at least one scenario")
    horizon = max(years)
    year = horizon if year is None else year
    if year not in years:
        raise ScenarioError("--year", year, f"a year in the sweep's results, 1 to {horizon}")
    sel = break_even_table(table, year=year, payer=payer)
    if sel.empty:
        raise ScenarioError(str(path / "results.parquet"), "no p_break_even rows for the municipality",
                            "rows with metric p_break_even, payer municipality, discounting undiscounted")
    varying = [o for o in overrides if sel[o].nunique() > 1]
    t = T[lang]
    figures = []
    name = doc.get("name") or Path(str(doc.get("base_config", path.name))).stem  # the sweep file's name:
    if len(varying) > 2:
        raise ScenarioError(f"{path / 'sweep.json'}: overrides", varying,
                            "at most two swept inputs that vary, for one heatmap")
    if len(varying) == 2:
        x, y = varying
        grid_df = sel.pivot_table(index=y, columns=x, values="value", aggfunc="mean").sort_index().sort_index(axis=1)
        fig = F.heatmap_figure(grid_df.to_numpy(dtype=float), list(grid_df.columns), list(grid_df.index), x, y, lang,
                               year=year, payer=payer)
        figures.append(Figure("heatmap", "", t["cap_heatmap"], F.save(fig, out / FIGURES_DIR, "heatmap")))
    else:
        x = varying[0] if varying else overrides[0]
        line = sel.groupby(x)["value"].mean().sort_index()
        fig = F.sweep_line_figure(line.index.to_numpy(dtype=float), line.to_numpy(dtype=float), x, lang, year=year,
                                  payer=payer)
        figures.append(Figure("break_even_sweep", "", t["cap_be"], F.save(fig, out / FIGURES_DIR, "break_even_sweep")))
    title = t["sweep_title"].format(name=name)
    parts = [f"<h1>{esc(title)}</h1>",
             f'<p class="subtitle">{esc(t["sweep_subtitle"].format(n=sel["scenario_id"].nunique(), payer=payer_name(payer, lang), year=year))}</p>']
    parts += [_figure(i, f.paths["svg"], f.title, f.caption, lang) for i, f in enumerate(figures, 1)]
    rows = []
    cols = [c for c in overrides]
    for _, r in sel.sort_values(cols).iterrows():
        rows.append([str(r["scenario_id"]), *(_value(r[c], lang) for c in cols), percent(float(r["value"]), lang)])
    parts.append(_table(["#", *(input_label(c, lang) for c in cols), t["sweep_cols_p"]], rows, num_from=1))
    text = page(title, "\n".join(parts), lang)
    write_text_atomic(out / "report.html", text)
    write_pdf(text, out / "report.pdf")
    return [out / "report.html", out / "report.pdf", *(p for f in figures for p in f.paths.values())]


def _value(x, lang: str) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not np.isfinite(v):
        return "-"
    return number(v, lang, 0 if abs(v) >= 1000 else 3)
