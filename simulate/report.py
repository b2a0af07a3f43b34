"""Reports a committee can read: figures, one self-contained HTML page, PDF and Excel.

``simulate report DIR`` reads what ``simulate run`` wrote (``summary.json``,
``manifest.json``, and ``trials.parquet`` or ``net_distribution.json`` when
saved) and writes, into the same directory, ``figures/*.png|svg``,
``report.html`` (figures embedded, no network needed), ``report.pdf`` (the same
page, by WeasyPrint) and ``report.xlsx``. A directory with ``sweep.json`` gets a
heatmap page instead, and one with only ``sensitivity.json`` a page of its
chart. ``simulate compare`` puts two or more runs side by side.

Nothing is re-run: the histogram of the net uses the saved trials, else the
distribution saved by ``simulate run --report``, else it is drawn from the
quantiles in summary.json and says so. Outputs are written into a staging
directory and moved into place only when all of them are complete.
"""

from __future__ import annotations

import base64
import html
import re
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template

import numpy as np

from simulate.errors import ScenarioError
from simulate.fmt import claim_value, money, number, percent
from simulate.labels import TEXT as FIG_TEXT
from simulate.labels import (check_lang, distribution_label, in_sentence, input_label, metric_name, payer_name,
                             pct, prob_text, refusion_side_by_side, year_span, warning_text)

DISTRIBUTION_FILE = "net_distribution.json"
MAX_KEPT_TRIALS = 2**20  # per-trial values kept for the histogram by `run --report` (a random sample: trials are iid)
FIGURES_DIR = "figures"

T = {
    "da": {
        "subtitle": "Risikovurdering af en social investering: nettoresultat for {payer}",
        "meta": "{trials} simuleringer · seed {seed} · {accounting} opgørelse · betaler: {payer} · horisont {years} år"
                "{span} · dannet {date} med simulate {version}",
        "meta_expected": "Punktestimat (alle input i middelværdi) · {accounting} opgørelse · betaler: {payer} · "
                         "horisont {years} år{span} · dannet {date} med simulate {version}",
        "realised": "realiseret", "lifetime": "livstids",
        "verdict": "Sandsynligheden for, at {payer} har tjent investeringen hjem efter {years} år, er {p}.",
        "verdict_expected": "Punktestimatet for {payer}s akkumulerede nettoresultat efter {years} år er {v}.",
        "mean_sentence": "Forventet akkumuleret nettoresultat efter {years} år: {mean} (median {median}). "
                         "I 90 % af simuleringerne ligger det mellem {p5} og {p95}.",
        "shortfall_loss": "Går det skidt (de 5 % dårligste udfald), taber {payer} i gennemsnit {v}.",
        "shortfall_gain": "Selv de 5 % dårligste udfald giver i gennemsnit et overskud på {v}.",
        "payback_median": "I halvdelen af simuleringerne er investeringen tjent hjem i år {year} eller før.",
        "payback_none": "I mere end halvdelen af simuleringerne er investeringen ikke tjent hjem inden for {years} år.",
        "claims_sentence": "Leverandørens løfter: {k} af {n} nås i mindst halvdelen af simuleringerne (se tabel).",
        "point_vs_mean": "Punktestimatet (alle antagelser i deres middelværdi, som i en brochure) er {point}.",
        "key_figures": "Nøgletal efter {years} år", "figures": "Figurer", "yearly": "År for år",
        "claims": "Leverandørens løfter", "assumptions": "Antagelser og kilder", "method": "Metode",
        "warnings": "Advarsler",
        "k_p": "Sandsynlighed for break-even (akkumuleret nettoresultat ≥ 0)",
        "k_p_disc": "Sandsynlighed for break-even, tilbagediskonteret ({rate})",
        "k_mean": "Forventet akkumuleret nettoresultat (middel)", "k_median": "Median",
        "k_p5": "5 %-fraktil (P5)", "k_p95": "95 %-fraktil (P95)",
        "k_es": "Gennemsnit af de 5 % dårligste udfald", "k_point": "Punktestimat (alle input i middelværdi)",
        "k_payback": "Tilbagebetalingstid, median", "k_payback_p": "Sandsynlighed for tilbagebetaling inden for {years} år",
        "k_roi1": "ROI i år 1 (forventede besparelser / forventet udgift − 1)",
        "k_mean_disc": "Forventet nettoresultat, tilbagediskonteret ({rate})",
        "k_mean_disc_plain": "Forventet nettoresultat, tilbagediskonteret", "k_rate": "Diskonteringsrente",
        "year_n": "år {y}", "not_within": "ikke inden for {years} år",
        "yearly_cols": ["År", "Punkt­estimat", "Middel", "P5", "P25", "P50", "P75", "P95", "P(≥ 0)"],
        "yearly_note": "Akkumuleret nettoresultat for {payer} i kr. (ikke tilbagediskonteret).",
        "claim_cols": ["Løfte", "År", "Lovet", "Modellens punktestimat, realiseret", "Modellens punktestimat, livstid",
                       "P(nået), realiseret", "P(nået), livstid"],
        "claim_note": "Realiseret: kun besparelser inden for horisonten. Livstid: hver årgangs fulde effekt, også "
                      "efter horisonten (som brochurens 10-årstal). P(nået) er andelen af simuleringerne, hvor "
                      "modellen når det lovede tal.",
        "claim_source": "Kilde",
        "assumption_cols": ["Antagelse", "Fordeling", "P5", "P50", "P95", "Middel", "Kilde"],
        "fixed": "fast", "correlations": "Rangkorrelationer", "no_scenario": "Scenariet kunne ikke læses fra "
        "manifest.json; se konfigurationsfilen.",
        "fig": "Figur {i}.",
        "cap_fan": "Det akkumulerede nettoresultat for {payer} år for år. De blå bånd rummer 90 % og 50 % af "
                   "udfaldene; den fuldt optrukne linje er medianen, den stiplede punktestimatet. Stjerner er "
                   "leverandørens løfter om nettoresultatet.",
        "cap_fan_expected": "Punktestimatet for det akkumulerede nettoresultat for {payer} år for år.",
        "cap_be": "Sandsynligheden for, at det akkumulerede nettoresultat er mindst 0 kr., år for år, med og uden "
                  "tilbagediskontering.",
        "cap_dist": "Fordelingen af nettoresultatet efter {years} år: røde søjler er tab, grønne overskud. Til højre "
                    "den kumulerede fordeling; punktet ved 0 kr. viser sandsynligheden for tab.",
        "cap_dist_q": " Simuleringerne er ikke gemt, så fordelingen er tegnet ud fra fraktilerne P5–P95 (kør "
                      "simulate run med --report eller --save-trials for den fulde fordeling).",
        "cap_payback": "Første år, hvor det akkumulerede nettoresultat er mindst 0 kr. Den røde søjle er andelen af "
                       "simuleringerne, hvor det ikke sker inden for horisonten.",
        "cap_tornado": "Følsomhed – {metric}: hver antagelse sat til sin 10 %- og 90 %-fraktil, {others}. Den "
                       "bredeste søjle betyder mest.",
        "others_random": "de øvrige tilfældige som i kørslen (på de samme simuleringer)",
        "others_base": "de øvrige i deres middelværdi",
        "cap_indices": "Følsomhedsindeks: hvor stor en del af variationen i resultatet hver antagelse står for.",
        "cap_heatmap": "Sandsynligheden for break-even for hver kombination af de to varierede antagelser; den sorte "
                       "linje er 50 %-grænsen.",
        "cap_compare_fan": "Medianen (linje) og 90 %-båndet (P5–P95) for hver kørsel; punktestimater stiplet.",
        "cap_compare_be": "Sandsynligheden for break-even år for år for hver kørsel.",
        "m_mc": "Tallene kommer fra en Monte Carlo-simulering med {trials} gennemløb (seed {seed}; samme seed giver "
                "præcis de samme tal). I hvert gennemløb trækkes alle usikre antagelser fra deres fordelinger, og "
                "de unges forløb (frafald, succes, tilbagefald, hvad de ellers ville have kostet) simuleres år for år.",
        "m_expected": "Tallene er et punktestimat: alle antagelser i deres middelværdi, ingen tilfældighed.",
        "m_realised": "Opgørelse: realiseret. Kun besparelser, der falder inden for de {years} år, tæller.",
        "m_lifetime": "Opgørelse: livstid. Hver årgangs fulde forventede effekt krediteres, også besparelser efter "
                      "år {years} (som brochurens 10-årstal).",
        "m_break_even": "Break-even: det akkumulerede nettoresultat (besparelser minus {payer}s udgift) er mindst 0 kr.",
        "m_point": "Punktestimatet sætter alle antagelser til deres middelværdi, som en brochure gør. Fordi modellen "
                   "ikke er lineær, er det ikke det samme som middelværdien af fordelingen.",
        "m_discount": "Tilbagediskontering: {rate} om året (Finansministeriets kalkulationsrente); år 1 er basisår.",
        "m_quantiles": "Fraktilerne er nøjagtige inden for {bound} (histogram med 8.192 intervaller); middelværdier "
                       "og sandsynligheder er eksakte for de simulerede gennemløb (standardfejl på "
                       "sandsynligheden efter {years} år: {se} procentpoint).",
        "m_dist_trials": "Fordelingsfiguren bygger på {n} gemte gennemløb.",
        "m_dist_q": "Fordelingsfiguren er tegnet ud fra fraktilerne P5–P95, fordi de enkelte gennemløb ikke er gemt.",
        "m_files": "Samme tal i maskinlæsbar form: summary.json og yearly.csv; regneark: report.xlsx.",
        "footer": "Dannet af simulate {version} fra {config}. Alle beløb i kr. (DKK), faste priser.",
        "compare_title": "Sammenligning af {n} kørsler", "compare_subtitle": "Akkumuleret nettoresultat side om side",
        "compare_cols": ["", *["{name}"]],
        "c_scenario": "Scenarie", "c_trials": "Simuleringer", "c_accounting": "Opgørelse", "c_payer": "Betaler",
        "c_horizon": "Horisont (år)", "c_dir": "Mappe",
        "c_verdict": "{name}: sandsynligheden for, at {payer} har tjent investeringen hjem efter {years} år, er {p}.",
        "sweep_title": "Variation af antagelser: {name}",
        "sweep_subtitle": "{n} scenarier; sandsynlighed for break-even for {payer} efter {year} år",
        "sweep_cols_p": "P(break-even)",
        "sens_title": "Følsomhedsanalyse ({method})",
    },
    "en": {
        "subtitle": "Risk of a social investment: the net result for {payer}",
        "meta": "{trials} trials · seed {seed} · {accounting} accounting · payer: {payer} · horizon {years} years"
                "{span} · made {date} with simulate {version}",
        "meta_expected": "Point estimate (every input at its mean) · {accounting} accounting · payer: {payer} · "
                         "horizon {years} years{span} · made {date} with simulate {version}",
        "realised": "realised", "lifetime": "lifetime",
        "verdict": "The probability that {payer} has earned back the investment after {years} years is {p}.",
        "verdict_expected": "The point estimate of the cumulative net result for {payer} after {years} years is {v}.",
        "mean_sentence": "Expected cumulative net result after {years} years: {mean} (median {median}). "
                         "In 90% of the trials it lies between {p5} and {p95}.",
        "shortfall_loss": "If things go badly (the worst 5% of outcomes), {payer} loses {v} on average.",
        "shortfall_gain": "Even the worst 5% of outcomes give a surplus of {v} on average.",
        "payback_median": "In half of the trials the investment is earned back in year {year} or earlier.",
        "payback_none": "In more than half of the trials the investment is not earned back within {years} years.",
        "claims_sentence": "The provider's claims: {k} of {n} are reached in at least half of the trials (see table).",
        "point_vs_mean": "The point estimate (every assumption at its mean, as in a brochure) is {point}.",
        "key_figures": "Key figures after {years} years", "figures": "Figures", "yearly": "Year by year",
        "claims": "The provider's claims", "assumptions": "Assumptions and sources", "method": "Method",
        "warnings": "Warnings",
        "k_p": "Probability of break-even (cumulative net result ≥ 0)",
        "k_p_disc": "Probability of break-even, discounted ({rate})",
        "k_mean": "Expected cumulative net result (mean)", "k_median": "Median",
        "k_p5": "5th percentile (P5)", "k_p95": "95th percentile (P95)",
        "k_es": "Mean of the worst 5% of outcomes", "k_point": "Point estimate (every input at its mean)",
        "k_payback": "Payback year, median", "k_payback_p": "Probability of payback within {years} years",
        "k_roi1": "Year-1 ROI (expected savings / expected cost − 1)",
        "k_mean_disc": "Expected net result, discounted ({rate})",
        "k_mean_disc_plain": "Expected net result, discounted", "k_rate": "Discount rate",
        "year_n": "year {y}", "not_within": "not within {years} years",
        "yearly_cols": ["Year", "Point estimate", "Mean", "P5", "P25", "P50", "P75", "P95", "P(≥ 0)"],
        "yearly_note": "Cumulative net result for {payer} in DKK (undiscounted).",
        "claim_cols": ["Claim", "Year", "Claimed", "Model point estimate, realised", "Model point estimate, lifetime",
                       "P(reached), realised", "P(reached), lifetime"],
        "claim_note": "Realised: only savings inside the horizon. Lifetime: each cohort's full effect, also after the "
                      "horizon (as the brochure's 10-year figure). P(reached) is the share of trials in which the "
                      "model reaches the claimed figure.",
        "claim_source": "Source",
        "assumption_cols": ["Assumption", "Distribution", "P5", "P50", "P95", "Mean", "Source"],
        "fixed": "fixed", "correlations": "Rank correlations", "no_scenario": "The scenario could not be read from "
        "manifest.json; see the configuration file.",
        "fig": "Figure {i}.",
        "cap_fan": "The cumulative net result for {payer}, year by year. The blue bands hold 90% and 50% of the "
                   "outcomes; the solid line is the median, the dashed one the point estimate. Stars are the "
                   "provider's claims on the net result.",
        "cap_fan_expected": "The point estimate of the cumulative net result for {payer}, year by year.",
        "cap_be": "The probability that the cumulative net result is at least DKK 0, year by year, undiscounted "
                  "and discounted.",
        "cap_dist": "The distribution of the net result after {years} years: red bars are losses, green surpluses. "
                    "Right: the cumulative distribution; the point at DKK 0 shows the probability of a loss.",
        "cap_dist_q": " The trials were not saved, so the distribution is drawn from the quantiles P5–P95 (run "
                      "simulate run with --report or --save-trials for the full distribution).",
        "cap_payback": "The first year in which the cumulative net result is at least DKK 0. The red bar is the share "
                       "of trials in which that does not happen within the horizon.",
        "cap_tornado": "Sensitivity of the {metric}: each assumption set to its 10th and 90th percentile, {others}. "
                       "The widest bar matters most.",
        "others_random": "the others random as in the run (on the same trials)",
        "others_base": "the others at their means",
        "cap_indices": "Sensitivity indices: how much of the variation in the result each assumption accounts for.",
        "cap_heatmap": "The probability of break-even for each combination of the two varied assumptions; the black "
                       "line is the 50% boundary.",
        "cap_compare_fan": "The median (line) and 90% band (P5–P95) of each run; point estimates dashed.",
        "cap_compare_be": "The probability of break-even, year by year, for each run.",
        "m_mc": "The figures come from a Monte Carlo simulation of {trials} trials (seed {seed}; the same seed gives "
                "exactly the same numbers). Each trial draws every uncertain assumption from its distribution and "
                "simulates the young people's courses (drop-out, success, relapse, what they would otherwise have "
                "cost) year by year.",
        "m_expected": "The figures are a point estimate: every assumption at its mean, no randomness.",
        "m_realised": "Accounting: realised. Only savings that fall inside the {years} years count.",
        "m_lifetime": "Accounting: lifetime. Each cohort's full expected effect is credited, also savings after year "
                      "{years} (as the brochure's 10-year figure).",
        "m_break_even": "Break-even: the cumulative net result (savings minus the cost to {payer}) is at least DKK 0.",
        "m_point": "The point estimate sets every assumption to its mean, as a brochure does. Because the model is "
                   "not linear, it is not the mean of the distribution.",
        "m_discount": "Discounting: {rate} a year (the Finance Ministry's rate); year 1 is the base year.",
        "m_quantiles": "Quantiles are exact to within {bound} (a histogram of 8,192 bins); means and probabilities "
                       "are exact for the simulated trials (standard error of the probability after {years} years: "
                       "{se} percentage points).",
        "m_dist_trials": "The distribution figure uses {n} saved trials.",
        "m_dist_q": "The distribution figure is drawn from the quantiles P5–P95, because the trials were not saved.",
        "m_files": "The same figures machine-readable: summary.json and yearly.csv; spreadsheet: report.xlsx.",
        "footer": "Made by simulate {version} from {config}. All amounts in DKK, constant prices.",
        "compare_title": "Comparison of {n} runs", "compare_subtitle": "Cumulative net result side by side",
        "c_scenario": "Scenario", "c_trials": "Trials", "c_accounting": "Accounting", "c_payer": "Payer",
        "c_horizon": "Horizon (years)", "c_dir": "Directory",
        "c_verdict": "{name}: the probability that {payer} has earned back the investment after {years} years is {p}.",
        "sweep_title": "Varying assumptions: {name}",
        "sweep_subtitle": "{n} scenarios; probability of break-even for {payer} after {year} years",
        "sweep_cols_p": "P(break-even)",
        "sens_title": "Sensitivity analysis ({method})",
    },
}


# --- reading a run ----------------------------------------------------------------------------------
@dataclass
class RunData:
    """What a run directory holds, read and checked."""

    path: Path
    summary: dict
    manifest: dict
    scenario: object | None = None
    sensitivity: dict | None = None
    voi: dict | None = None  # voi.json written into the run directory by `simulate voi --out RUN_DIR`
    distribution: object | None = None  # figures.NetDistribution at the horizon
    trials_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def is_mc(self) -> bool:
        return self.summary.get("mode", "mc") == "mc" and self.summary.get("trials", 1) > 1


def _read_json(path: Path, what: str) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), getattr(exc, "strerror", None) or str(exc), f"a readable {what}") from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(str(path), f"invalid JSON at line {exc.lineno}", f"the {what}") from None
    if not isinstance(doc, dict):
        raise ScenarioError(str(path), type(doc).__name__, f"the {what} (a JSON object)")
    return doc


def check_directory(path: str | Path, *, what: str = "RUN_DIR") -> Path:
    path = Path(path)
    if not path.exists():
        raise ScenarioError(what, str(path), "an existing directory written by simulate run (or a sweep)")
    if not path.is_dir():
        raise ScenarioError(what, str(path), "a directory written by simulate run, not a file")
    return path


def kind_of(path: Path) -> str:
    """"run", "sweep" or "sensitivity": what a directory holds; a ScenarioError otherwise."""
    if (path / "summary.json").is_file():
        return "run"
    if (path / "sweep.json").is_file():
        return "sweep"
    if (path / "sensitivity.json").is_file():
        return "sensitivity"
    raise ScenarioError("RUN_DIR", str(path), "a run directory with summary.json and manifest.json (made by "
                        "simulate run), or a directory with sweep.json or sensitivity.json")


SUMMARY_KEYS = ("years", "discounted", "payer", "horizon_years", "payback_year", "expected_shortfall_5", "claims")


def load_run(path: str | Path, *, distribution=None, read_distribution: bool = True) -> RunData:
    """Read a run directory: summary, manifest, scenario, and what there is for the net's distribution."""
    from simulate.figures import NetDistribution

    path = check_directory(path)
    if kind_of(path) != "run":
        raise ScenarioError("RUN_DIR", str(path), "a run directory with summary.json (made by simulate run)")
    summary = _read_json(path / "summary.json", "summary.json written by simulate run")
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing:
        raise ScenarioError(str(path / "summary.json"), f"no {', '.join(missing)}",
                            "the summary.json written by simulate run")
    manifest_path = path / "manifest.json"
    manifest = _read_json(manifest_path, "manifest.json written by simulate run") if manifest_path.is_file() else {}
    run = RunData(path=path, summary=summary, manifest=manifest)
    if manifest.get("resolved_scenario"):
        from simulate.io import scenario_from_data

        try:
            run.scenario = scenario_from_data(manifest["resolved_scenario"])
        except ScenarioError:
            run.scenario = None
    sens = path / "sensitivity.json"
    if sens.is_file():
        run.sensitivity = check_sensitivity(_read_json(sens, "sensitivity.json"), sens)
    voi = path / "voi.json"
    if voi.is_file():
        run.voi = check_voi(_read_json(voi, "voi.json written by simulate voi"), voi)
    if (path / "trials.parquet").is_file():
        run.trials_path = path / "trials.parquet"
    if distribution is not None:
        run.distribution = distribution
    elif read_distribution:
        run.distribution = _distribution(run, NetDistribution)
    return run


def _distribution(run: RunData, NetDistribution):
    """The net at the horizon: from saved trials, the saved distribution, or the quantiles."""
    H = run.summary["horizon_years"]
    if not run.is_mc:
        return None
    column = f"cumulative_net_y{H:02d}"
    if run.trials_path is not None:
        try:
            import pyarrow.parquet as pq

            table = pq.read_table(run.trials_path, columns=[column])
            values = table.column(column).to_numpy()
            return NetDistribution.from_values(values, total=run.summary["trials"])
        except ImportError:
            run.notes.append("pyarrow is not installed: trials.parquet was not read")
        except Exception as exc:  # a damaged or foreign parquet file: fall back, and say so
            run.notes.append(f"trials.parquet could not be read ({type(exc).__name__}); the quantiles were used")
    saved = run.path / DISTRIBUTION_FILE
    if saved.is_file():
        doc = _read_json(saved, DISTRIBUTION_FILE)
        for row in doc.get("years", []):
            if row.get("year") == H:
                return NetDistribution.from_json(row)
    return NetDistribution.from_quantiles(run.summary["years"][H - 1]["cumulative_net"], run.summary["trials"])


def check_sensitivity(doc: dict, path: Path) -> dict:
    method = doc.get("method")
    if method not in ("tornado", "sobol", "delta"):
        raise ScenarioError(f"{path}: method", method, "one of tornado, sobol, delta")
    rows = doc.get("rows")
    need = {"tornado": ("input", "metric_at_low", "metric_at_high"), "sobol": ("input", "S1", "ST"),
            "delta": ("input", "delta", "S1")}[method]
    if not isinstance(rows, list) or not all(isinstance(r, dict) and all(k in r for k in need) for r in rows):
        raise ScenarioError(f"{path}: rows", "rows without " + ", ".join(need), f"a list of {method} rows")
    return doc


# --- collecting the distribution during a run ---------------------------------------------------------
class DistributionCollector:
    """Keeps per-trial cumulative nets (the first ``MAX_KEPT_TRIALS`` trials) while a run goes on.

    Hand it to :func:`simulate.api.run` as ``on_trials`` with ``trial_table=api.trials_frame``;
    afterwards :meth:`distributions` gives each year's :class:`figures.NetDistribution`.
    """

    def __init__(self, horizon_years: int, *, limit: int = MAX_KEPT_TRIALS):
        self.columns = [f"cumulative_net_y{t:02d}" for t in range(1, horizon_years + 1)]
        self.parts: list[np.ndarray] = []
        self.kept = 0
        self.limit = limit

    def __call__(self, block: int, table) -> None:
        if self.kept >= self.limit:
            return
        values = table[self.columns].to_numpy(dtype=float).T[:, : self.limit - self.kept]
        self.parts.append(values)
        self.kept += values.shape[1]

    def distributions(self, total: int) -> list:
        from simulate.figures import NetDistribution

        values = np.concatenate(self.parts, axis=1)
        return [NetDistribution.from_values(row, total=total) for row in values]

    def write(self, path: Path, summary: dict) -> list:
        from simulate.io import write_json

        dists = self.distributions(summary["trials"])
        write_json(path, {"payer": summary["payer"], "accounting": summary["accounting"], "discounting": "undiscounted",
                          "years": [{"year": t + 1, **d.to_json()} for t, d in enumerate(dists)]})
        return dists


# --- staging and dependencies -------------------------------------------------------------------------
def check_dependencies(*, pdf: bool = True, excel: bool = True) -> None:
    """Refuse early, with the install line, when a report library is missing."""
    from importlib.util import find_spec

    missing = [name for name, needed in (("openpyxl", excel), ("weasyprint", pdf)) if needed and find_spec(name) is None]
    if missing:
        raise ScenarioError("report", f"{', '.join(missing)} not installed", "pip install 'simulate[report]'")


@contextmanager
def staged(target: Path):
    """A staging directory inside ``target``; its contents replace those of ``target`` only on success."""
    if not os.access(target, os.W_OK | os.X_OK):
        raise ScenarioError("RUN_DIR", str(target), "a directory this user can write")
    stage = Path(tempfile.mkdtemp(prefix=".report.partial-", dir=target))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    publish(stage, target)


def publish(stage: Path, target: Path) -> None:
    """Move everything in ``stage`` into ``target``: files by atomic replace, directories swapped whole."""
    for item in sorted(stage.iterdir()):
        dest = target / item.name
        if item.is_dir() and dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{item.name}.old-", dir=target))
            os.rename(dest, old / item.name)
            os.rename(item, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(item, dest)
    stage.rmdir()


# --- pieces of HTML -------------------------------------------------------------------------------------
_NO_BREAK = re.compile(r"(?<=[0-9]) (?=%|kr\.|mio\. kr\.|år\b|years?\b)|(?<=DKK) (?=-?[0-9])|(?<=mio\.) (?=kr\.)")


def esc(x) -> str:
    """Text for the page; a number stays on one line with its unit ("90 %", "4.329.630 kr.", "10 år")."""
    return _NO_BREAK.sub("\u00a0", html.escape(str(x), quote=True))


def _table(head: list[str], rows: list[list[str]], *, num_from: int = 1, cls: str = "", row_cls=None,
           raw: bool = False, widths: list[float] | None = None) -> str:
    ths = "".join(f'<th class="num">{esc(h)}</th>' if i >= num_from else f"<th>{esc(h)}</th>"
                  for i, h in enumerate(head))
    body = []
    for r_i, row in enumerate(rows):
        cells = []
        for i, cell in enumerate(row):
            if isinstance(cell, tuple):  # (text, css class)
                text, c = cell
                cells.append(f'<td class="{c}">{text if raw else esc(text)}</td>')
            elif i >= num_from:
                cells.append(f'<td class="num">{esc(cell)}</td>')
            else:
                cells.append(f"<td>{esc(cell)}</td>")
        extra = f' class="{row_cls(r_i)}"' if row_cls and row_cls(r_i) else ""
        body.append(f"<tr{extra}>{''.join(cells)}</tr>")
    c = f' class="{cls}"' if cls else ""
    cols = ""
    if widths:
        total = sum(widths)
        cols = "<colgroup>" + "".join(f'<col style="width: {100 * w / total:.1f}%">' for w in widths) + "</colgroup>"
        c += ' style="table-layout: fixed"'
    return f"<table{c}>{cols}<thead><tr>{ths}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(svg_path: Path, alt: str) -> str:
    data = base64.b64encode(svg_path.read_bytes()).decode("ascii")
    return f'<img src="data:image/svg+xml;base64,{data}" alt="{esc(alt)}">'


def _figure(i: int, svg_path: Path, title: str, caption: str, lang: str) -> str:
    return (f"<figure>{_img(svg_path, title)}<figcaption><b>{esc(T[lang]['fig'].format(i=i))}</b> "
            f"{esc(caption)}</figcaption></figure>")


def page(title: str, body: str, lang: str) -> str:
    from simulate import __version__

    css = resources.files("simulate").joinpath("templates/report.css").read_text(encoding="utf-8")
    tpl = Template(resources.files("simulate").joinpath("templates/report.html").read_text(encoding="utf-8"))
    return tpl.substitute(lang=lang, title=esc(title), css=css, body=body, version=esc(__version__))


def _sentence(text: str) -> str:
    """One full stop after an amount in kroner ("... 6.204.416 kr." not "kr..")."""
    return text.replace("kr..", "kr.").replace("kr.).", "kr.).")


def _today(lang: str) -> str:
    from datetime import date

    d = date.today()
    return f"{d.day}.{d.month}.{d.year}" if lang == "da" else d.isoformat()


# --- a run's figures ----------------------------------------------------------------------------------
@dataclass
class Figure:
    name: str
    title: str
    caption: str
    paths: dict


def make_figures(run: RunData, directory: Path, lang: str, *, year: int | None = None) -> list[Figure]:
    from simulate import figures as F

    s = run.summary
    t = T[lang]
    payer = payer_name(s["payer"], lang)
    H = s["horizon_years"]
    out = []
    ft = FIG_TEXT[lang]
    out.append(Figure("fan_chart", ft["fan_title"].format(payer=payer),
                      (t["cap_fan"] if run.is_mc else t["cap_fan_expected"]).format(payer=payer),
                      F.save(F.fan_figure(s, lang), directory, "fan_chart")))
    if run.is_mc:
        out.append(Figure("break_even", ft["p_break_even_title"].format(payer=payer), t["cap_be"],
                          F.save(F.break_even_figure(s, lang), directory, "break_even")))
        dist = run.distribution
        cap = t["cap_dist"].format(years=H) + (t["cap_dist_q"] if dist.kind == "quantiles" else "")
        out.append(Figure("net_distribution", ft["hist_title"].format(payer=payer, years=H), cap,
                          F.save(F.distribution_figure(s, dist, lang), directory, "net_distribution")))
        out.append(Figure("payback", ft["payback_title"].format(payer=payer), t["cap_payback"],
                          F.save(F.payback_figure(s, lang), directory, "payback")))
    if run.sensitivity is not None:
        out.extend(sensitivity_figures(run.sensitivity, directory, lang))
    return out


def check_voi(doc, path: Path) -> dict:
    """A voi.json as `simulate voi` writes it."""
    if not isinstance(doc, dict) or not isinstance(doc.get("evppi"), list) or "evpi_dkk" not in doc:
        raise ScenarioError(str(path), "not a value-of-information result", "the voi.json written by simulate voi")
    for i, row in enumerate(doc["evppi"]):
        if not isinstance(row, dict) or "input" not in row or "evppi_dkk" not in row:
            raise ScenarioError(f"{path}: evppi[{i}]", row, "an object with input and evppi_dkk")
    return doc


VOI_TEXT = {
    "da": {"title": "Værdien af mere viden",
           "lead": "Beslutningen er at fortsætte programmet eller stoppe det (nettoresultatet efter {year} år for "
                   "{payer}). Fuld viden om alle usikkerheder ville i gennemsnit være {evpi} værd for den "
                   "beslutning (EVPI). Det kan betale sig at undersøge en antagelse, hvis en evaluering af den koster "
                   "mindre end dens værdi nedenfor (EVPPI).",
           "top": "Mest værd at få afklaret: {label} ({v}).",
           "cols": ["Antagelse", "Værdi af at kende den (EVPPI)", "Andel af EVPI"],
           "note": "Beregnet på kørslens egne simuleringer ({trials} stk.) med regressionsmetoden af Strong, "
                   "Oakley og Brennan (2014). Værdier under støjgulvet ({floor}) er reelt 0."},
    "en": {"title": "Value of information",
           "lead": "The decision is to continue the programme or stop it (the net result after {year} years for "
                   "{payer}). Knowing every uncertainty would be worth {evpi} to that decision on average (EVPI). "
                   "An assumption is worth investigating if an evaluation of it costs less than its value below "
                   "(EVPPI).",
           "top": "Most worth resolving: {label} ({v}).",
           "cols": ["Assumption", "Value of knowing it (EVPPI)", "Share of EVPI"],
           "note": "Computed from the run's own trials ({trials}) with the regression method of Strong, Oakley and "
                   "Brennan (2014). Values below the noise floor ({floor}) are in effect 0."},
}


def voi_html(run: RunData, lang: str) -> str:
    """The value-of-information section, when the run directory holds voi.json."""
    doc = run.voi
    if not doc:
        return ""
    t = VOI_TEXT[lang]
    payer = payer_name(doc.get("payer", run.summary["payer"]), lang)
    rows = sorted(doc["evppi"], key=lambda r: -(r.get("evppi_dkk") or 0))
    body = [f'<h2>{esc(t["title"])}</h2>',
            f'<p>{esc(t["lead"].format(year=doc.get("year", ""), payer=payer, evpi=money(doc["evpi_dkk"], lang)))}</p>']
    if rows:
        body.append(f'<p>{esc(t["top"].format(label=input_label(rows[0]["input"], lang), v=money(rows[0]["evppi_dkk"], lang)))}</p>')
    table_rows = [[input_label(r["input"], lang), money(r["evppi_dkk"], lang), pct(r.get("share_of_evpi"), lang)]
                  for r in rows]
    body.append(_table(t["cols"], table_rows, num_from=1, widths=[56, 26, 18]))
    body.append(f'<p class="small">{esc(t["note"].format(trials=number(doc.get("trials", 0), lang), floor=money(doc.get("noise_floor_dkk"), lang)))}</p>')
    return "".join(body)


def sensitivity_figures(sens: dict, directory: Path, lang: str) -> list[Figure]:
    from simulate import figures as F

    t, ft = T[lang], FIG_TEXT[lang]
    metric = metric_name(sens.get("metric", ""), lang)
    if sens["method"] == "tornado":
        others = t["others_base"] if sens.get("others") == "base" else t["others_random"]
        caption = t["cap_tornado"].format(metric=in_sentence(metric), others=others)
        return [Figure("tornado", ft["tornado_title"].format(metric=metric, year=sens.get("year", "")),
                       caption, F.save(F.tornado_figure(sens, lang), directory, "tornado"))]
    return [Figure("sensitivity_indices", ft["indices_title"].format(method=sens["method"], metric=metric,
                                                                    year=sens.get("year", "")),
                   t["cap_indices"], F.save(F.indices_figure(sens, lang), directory, "sensitivity_indices"))]


# --- a run's page ---------------------------------------------------------------------------------------
def verdict_html(run: RunData, lang: str, year: int) -> str:
    s, t = run.summary, T[lang]
    payer = payer_name(s["payer"], lang)
    row = s["years"][year - 1]
    c = row["cumulative_net"]
    if not run.is_mc:
        parts = [f'<p class="headline">{esc(_sentence(t["verdict_expected"].format(payer=payer, years=year, v=money(c["mean"], lang))))}</p>']
        return f'<div class="verdict">{"".join(parts)}</div>'
    p = row["p_break_even"]["value"]
    parts = [f'<p class="headline">{esc(_sentence(t["verdict"].format(payer=payer, years=year, p=prob_text(p, lang))))}</p>']
    parts.append(t["mean_sentence"].format(years=year, mean=money(c["mean"], lang), median=money(c["p50"], lang),
                                           p5=money(c["p5"], lang), p95=money(c["p95"], lang)))
    if year == s["horizon_years"]:
        es = s["expected_shortfall_5"]["value"]
        parts.append((t["shortfall_loss"] if es < 0 else t["shortfall_gain"]).format(payer=payer,
                                                                                     v=money(abs(es), lang)))
        med = s["payback_year"]["median"]
        parts.append(t["payback_median"].format(year=med) if med else
                     t["payback_none"].format(years=s["horizon_years"]))
    if row.get("expected_cumulative_net") is not None:
        parts.append(t["point_vs_mean"].format(point=money(row["expected_cumulative_net"], lang)))
    claims = s.get("claims") or []
    if claims:
        k = sum(1 for cl in claims if (cl.get("p_reached") or 0) >= 0.5)
        parts.append(t["claims_sentence"].format(k=k, n=len(claims)))
    body = parts[0] + "".join(f"<p>{esc(_sentence(x))}</p>" for x in parts[1:])
    return f'<div class="verdict">{body}</div>'


def key_figures_html(run: RunData, lang: str, year: int) -> str:
    s, t = run.summary, T[lang]
    H = s["horizon_years"]
    row, drow = s["years"][year - 1], s["discounted"]["years"][year - 1]
    c = row["cumulative_net"]
    rate = percent(s.get("discount_rate", 0.035), lang)
    rows = []
    if run.is_mc:
        rows += [[t["k_p"], pct(row["p_break_even"]["value"], lang)],
                 [t["k_p_disc"].format(rate=rate), pct(drow["p_break_even"]["value"], lang)],
                 [t["k_mean"], money(c["mean"], lang)], [t["k_median"], money(c["p50"], lang)],
                 [t["k_p5"], money(c["p5"], lang)], [t["k_p95"], money(c["p95"], lang)]]
        if year == H:
            rows.append([t["k_es"], money(s["expected_shortfall_5"]["value"], lang)])
    if row.get("expected_cumulative_net") is not None:
        rows.append([t["k_point"], money(row["expected_cumulative_net"], lang)])
    if run.is_mc:
        med = s["payback_year"]["median"]
        rows.append([t["k_payback"], t["year_n"].format(y=med) if med else t["not_within"].format(years=H)])
        rows.append([t["k_payback_p"].format(years=H), percent(s["payback_year"]["p_within_horizon"], lang)])
    rows.append([t["k_roi1"], percent(s["roi_year1"]["value"], lang)])
    rows.append([t["k_mean_disc"].format(rate=rate), money(drow["cumulative_net"]["mean"], lang)])
    head = [t["key_figures"].format(years=year), ""]
    return _table(head, rows, cls="keyfigures", widths=[70, 30])


def yearly_html(run: RunData, lang: str) -> str:
    t = T[lang]
    rows = []
    for y in run.summary["years"]:
        c = y["cumulative_net"]
        rows.append([str(y["year"]), number(y.get("expected_cumulative_net"), lang),
                     *(number(c[k], lang) for k in ("mean", "p5", "p25", "p50", "p75", "p95")),
                     percent(y["p_break_even"]["value"], lang, 0)])
    return _table(t["yearly_cols"], rows, cls="yearly", widths=[5, 13, 13, 13, 13, 13, 13, 13, 8])


def claims_html(run: RunData, lang: str) -> str:
    t = T[lang]
    claims = run.summary.get("claims") or []
    if not claims:
        return ""
    sources = {}
    if run.scenario is not None:
        from simulate.distributions import source_text

        sources = {c.name: source_text(c.source) for c in run.scenario.claims}
    rows = []
    for c in claims:
        m = c["metric"]
        rows.append([c["name"], str(c["year"]), claim_value(m, c["claimed"], lang),
                     claim_value(m, c.get("expected_realised"), lang), claim_value(m, c.get("expected_lifetime"), lang),
                     pct(c.get("p_reached_realised"), lang), pct(c.get("p_reached_lifetime"), lang)])
    table = _table(t["claim_cols"], rows, num_from=1, widths=[22, 6, 15, 15, 15, 13.5, 13.5])
    notes = "".join(f"<li><b>{esc(name)}</b>: {esc(src)}</li>" for name, src in sources.items() if src)
    src_html = f'<p class="small">{esc(t["claim_source"])}:</p><ul class="small">{notes}</ul>' if notes else ""
    return f'<h2>{esc(t["claims"])}</h2>{table}<p class="small">{esc(t["claim_note"])}</p>{src_html}'


def _input_number(path: str, x: float, lang: str) -> str:
    if abs(x) >= 1000 or x == round(x):
        return number(x, lang, 0)
    if abs(x) >= 10:
        return number(x, lang, 1)
    return number(x, lang, 3)


def assumptions_rows(scenario, lang: str) -> list[dict]:
    """Every numeric input: label, path, distribution, 5/50/95 % values, mean, source."""
    from simulate.distributions import describe_quantiles, source_text
    from simulate.scenario import numeric_inputs

    rows = []
    for path, dist in numeric_inputs(scenario).items():
        p5, p50, p95 = describe_quantiles(dist)
        rows.append({"label": input_label(path, lang), "path": path,
                     "distribution": distribution_label(dist.label(), lang),
                     "fixed": dist.is_fixed, "p5": p5, "p50": p50, "p95": p95, "mean": float(dist.mean()),
                     "source": source_text(dist.source), "evidence_level": dist.evidence_level,
                     "corrected_mean": _corrected_mean(scenario, dist, path)})
    return rows


def _corrected_mean(scenario, dist, path: str) -> float | None:
    if dist.evidence_level is None or not scenario.evidence_correction:
        return None
    from simulate.evidence import corrected_mean

    return corrected_mean(dist, path)


def assumptions_html(run: RunData, lang: str) -> str:
    t = T[lang]
    if run.scenario is None:
        return f'<h2>{esc(t["assumptions"])}</h2><p>{esc(t["no_scenario"])}</p>'
    from simulate.distributions import source_text

    rows = []
    for r in assumptions_rows(run.scenario, lang):
        name = f'{esc(r["label"])}<br><span class="path">{esc(r["path"])}</span>'
        dist = t["fixed"] if r["fixed"] else r["distribution"]
        if r["evidence_level"] is not None:
            dist += (f"; {'evidensniveau' if lang == 'da' else 'evidence level'} {r['evidence_level']}"
                     + ("" if r["corrected_mean"] is None else
                        f", {'korrigeret middel' if lang == 'da' else 'corrected mean'} "
                        f"{_input_number(r['path'], r['corrected_mean'], lang)}"))
        rows.append([(name, ""), dist, *(_input_number(r["path"], r[k], lang) for k in ("p5", "p50", "p95", "mean")),
                     (esc(r["source"]), "source")])
    html_rows = _table(t["assumption_cols"], rows, num_from=2, raw=True, cls="assumptions",
                       widths=[23, 14, 10.5, 10.5, 10.5, 10.5, 21])
    html_rows = html_rows.replace('<th class="num">' + esc(t["assumption_cols"][-1]) + "</th>",
                                  "<th>" + esc(t["assumption_cols"][-1]) + "</th>")
    extra = []
    sc = run.scenario
    sections = (("Program", "Programme", sc.programme), ("Deltagere", "Participants", sc.participants),
                ("Uden indsatsen", "Without the programme", sc.counterfactual),
                ("Tilbagediskontering", "Discounting", sc.discounting), ("Scenariet", "The scenario", sc))
    for da_label, en_label, model in sections:
        label = da_label if lang == "da" else en_label
        src = source_text(getattr(model, "source", None))
        if src:
            extra.append(f"<li><b>{esc(label)}</b>: {esc(src)}</li>")
    if sc.correlations:
        for c in sc.correlations:
            a, b = (input_label(x, lang) for x in c.between)
            extra.append(f"<li><b>{esc(t['correlations'])}</b>: {esc(a)} ~ {esc(b)}: "
                         f"{esc(number(c.rank_correlation, lang, 2))}"
                         + (f" ({esc(source_text(c.source))})" if c.source else "") + "</li>")
    intake = sc.intake_per_year
    intake_text = ", ".join(number(x, lang, 1 if x % 1 else 0) for x in (intake if isinstance(intake, list) else [intake]))
    head = (f"<p>{esc('Optag pr. år' if lang == 'da' else 'Intake per year')}: {esc(intake_text)}; "
            f"{esc('finansiering' if lang == 'da' else 'financing')}: "
            + esc(", ".join(f"{payer_name(k, lang)} {percent(v, lang, 0)}" for k, v in sc.programme.financing.items()))
            + "</p>")
    return (f'<h2>{esc(t["assumptions"])}</h2>{head}{html_rows}'
            + (f'<ul class="small">{"".join(extra)}</ul>' if extra else ""))


def method_html(run: RunData, lang: str, year: int) -> str:
    s, t = run.summary, T[lang]
    H = s["horizon_years"]
    payer = payer_name(s["payer"], lang)
    items = []
    if run.is_mc:
        items.append(t["m_mc"].format(trials=number(s["trials"], lang), seed=s.get("seed")))
    else:
        items.append(t["m_expected"])
    items.append(t[f"m_{s['accounting']}"].format(years=H))
    items.append(t["m_break_even"].format(payer=payer))
    items.append(t["m_point"])
    items.append(t["m_discount"].format(rate=percent(s.get("discount_rate", 0.035), lang)))
    if run.is_mc:
        row = s["years"][year - 1]
        items.append(t["m_quantiles"].format(bound=money(row["cumulative_net"].get("quantile_error_bound"), lang),
                                             years=year, se=number(100 * row["p_break_even"]["se"], lang, 2)))
        if run.distribution is not None:
            items.append(t["m_dist_q"] if run.distribution.kind == "quantiles" else
                         t["m_dist_trials"].format(n=number(run.distribution.n, lang)))
    items += budget_notes(s, lang)
    items.append(t["m_files"])
    items += run.notes
    return f'<h2>{esc(t["method"])}</h2><ul class="notes">' + "".join(f"<li>{esc(x)}</li>" for x in items) + "</ul>"


def budget_notes(s: dict, lang: str) -> list[str]:
    """Method notes for refusion rules, cash vs capacity and the evidence correction, when the run has them."""
    da = lang == "da"
    out = []
    ref = s.get("refusion")
    if ref:
        names = ", ".join(ref["rule_sets"]) or "-"
        out.append((f"Refusionsregler {names}: fordelingen mellem kommune og stat af ydelser og § 110-ophold følger "
                    f"reglerne. Nettoresultat efter {s['horizon_years']} år, middel: " if da else
                    f"Refusion rules {names}: the split of benefit and § 110 shelter costs between municipality "
                    f"and state follows the rules. Net after {s['horizon_years']} years, mean: ")
                   + refusion_side_by_side(ref["side_by_side"], lang) + ".")
    kinds = s.get("by_kind")
    if kinds:
        c, b = kinds["cash"], kinds["cash_and_capacity"]
        used = ("kontante besparelser" if kinds["headline"] == "cash" else "kontante besparelser og kapacitet") \
            if da else ("cash savings" if kinds["headline"] == "cash" else "cash savings and capacity")
        out.append((f"Kun kontante besparelser: P(≥ 0) {percent(c['p_break_even'][-1], lang, 0)}; med frigjort "
                    f"kapacitet: {percent(b['p_break_even'][-1], lang, 0)}. Konklusionen bruger {used}." if da else
                    f"Cash savings only: P(≥ 0) {percent(c['p_break_even'][-1], lang, 0)}; with capacity freed: "
                    f"{percent(b['p_break_even'][-1], lang, 0)}. The verdict uses {used}."))
    ev = s.get("evidence")
    if ev:
        rows = "; ".join(f"{input_label(p, lang)} ({'niveau' if da else 'level'} {r['evidence_level']}): "
                         f"{number(r['mean'], lang, 3)} -> {number(r['corrected_mean'], lang, 3)}"
                         for p, r in ev["inputs"].items())
        state = ("til" if ev["correction"] else "fra") if da else ("on" if ev["correction"] else "off")
        out.append((f"Evidenskorrektion {state} (niveau 2: 10 % mod ingen effekt og 25 % bredere; niveau 3: 25 % "
                    f"og 50 %): {rows}." if da else
                    f"Evidence correction {state} (level 2: 10% towards no effect and 25% wider; level 3: 25% and "
                    f"50%): {rows}."))
    if s.get("refill_dropouts"):
        out.append("Optaget tæller pladser: en frafalden ung erstattes inden for året." if da else
                   "Intake counts places: a drop-out's place is refilled within the year.")
    return out


def run_html(run: RunData, figures: list[Figure], lang: str, *, year: int | None = None) -> str:
    from simulate import __version__

    s, t = run.summary, T[lang]
    H = s["horizon_years"]
    year = year or H
    payer = payer_name(s["payer"], lang)
    span = year_span(s.get("start_year"), H, lang)
    span = f" ({span})" if span else ""
    meta = (t["meta"] if run.is_mc else t["meta_expected"]).format(
        trials=number(s["trials"], lang), seed=s.get("seed"), accounting=t[s["accounting"]], payer=payer, years=H,
        span=span, date=_today(lang), version=__version__)
    parts = [f"<h1>{esc(s['scenario'])}</h1>", f'<p class="subtitle">{esc(t["subtitle"].format(payer=payer))}</p>',
             f'<p class="meta">{esc(meta)}</p>', verdict_html(run, lang, year)]
    for w in s.get("warnings") or []:
        parts.append(f'<div class="warning"><b>{esc(t["warnings"])}:</b> {esc(warning_text(w, lang))}</div>')
    parts.append(key_figures_html(run, lang, year))
    parts.append(f'<h2>{esc(t["figures"])}</h2>')
    for i, f in enumerate(figures, start=1):
        parts.append(_figure(i, f.paths["svg"], f.title, f.caption, lang))
    parts.append(f'<h2>{esc(t["yearly"])}</h2>')
    parts.append(f'<p class="small">{esc(t["yearly_note"].format(payer=payer))}</p>')
    parts.append(yearly_html(run, lang))
    parts.append(claims_html(run, lang))
    parts.append(voi_html(run, lang))
    parts.append(assumptions_html(run, lang))
    parts.append(method_html(run, lang, year))
    config = Path(run.manifest.get("config_path") or run.path.name).name
    parts.append(f'<p class="footer">{esc(t["footer"].format(version=__version__, config=config))}</p>')
    return page(s["scenario"], "\n".join(parts), lang)


def write_pdf(html_text: str, path: Path) -> None:
    """The page as an A4 PDF (WeasyPrint)."""
    import logging

    try:
        import weasyprint
    except ImportError:
        raise ScenarioError("report.pdf", "WeasyPrint is not installed", "pip install 'simulate[report]'") from None
    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    weasyprint.HTML(string=html_text).write_pdf(path)


# --- entry points -----------------------------------------------------------------------------------
def check_year(year: int | None, horizon: int) -> int:
    if year is None:
        return horizon
    if not 1 <= year <= horizon:
        raise ScenarioError("--year", year, f"a programme year from 1 to {horizon}")
    return year


def write_run_report(run: RunData, out: Path, lang: str, *, year: int | None = None) -> list[Path]:
    """Figures, report.html, report.pdf and report.xlsx of ``run`` into the directory ``out``."""
    from simulate.excel import write_workbook

    year = check_year(year, run.summary["horizon_years"])
    figures = make_figures(run, out / FIGURES_DIR, lang, year=year)
    from simulate.io import write_text_atomic

    text = run_html(run, figures, lang, year=year)
    write_text_atomic(out / "report.html", text)
    write_pdf(text, out / "report.pdf")
    write_workbook(run, out / "report.xlsx", lang)
    return [out / "report.html", out / "report.pdf", out / "report.xlsx",
            *(p for f in figures for p in f.paths.values())]


def report(directory: str | Path, *, lang: str = "da", year: int | None = None) -> list[Path]:
    """``simulate report DIR``: a run, a sweep or a sensitivity result; outputs written into DIR."""
    check_lang(lang)
    path = check_directory(directory)
    kind = kind_of(path)
    check_dependencies(excel=kind == "run")
    if kind == "run":
        run = load_run(path)
        check_year(year, run.summary["horizon_years"])
        with staged(path) as stage:
            written = write_run_report(run, stage, lang, year=year)
        return [path / p.relative_to(stage) for p in written]
    if kind == "sweep":
        from simulate.sweep_report import sweep_report

        with staged(path) as stage:
            written = sweep_report(path, stage, lang, year=year)
        return [path / p.relative_to(stage) for p in written]
    sens = check_sensitivity(_read_json(path / "sensitivity.json", "sensitivity.json"), path / "sensitivity.json")
    with staged(path) as stage:
        written = sensitivity_report(sens, stage, lang)
    return [path / p.relative_to(stage) for p in written]


def sensitivity_report(sens: dict, out: Path, lang: str) -> list[Path]:
    from simulate.io import write_text_atomic

    t = T[lang]
    figures = sensitivity_figures(sens, out / FIGURES_DIR, lang)
    title = t["sens_title"].format(method=sens["method"])
    parts = [f"<h1>{esc(title)}</h1>"]
    parts += [_figure(i, f.paths["svg"], f.title, f.caption, lang) for i, f in enumerate(figures, 1)]
    text = page(title, "\n".join(parts), lang)
    write_text_atomic(out / "report.html", text)
    write_pdf(text, out / "report.pdf")
    return [out / "report.html", out / "report.pdf", *(p for f in figures for p in f.paths.values())]


def run_names(runs: list[RunData]) -> list[str]:
    """Each run's scenario name, with the directory added where names repeat."""
    names = [r.summary["scenario"] for r in runs]
    return [f"{n} ({r.path.name})" if names.count(n) > 1 else n for n, r in zip(names, runs)]


def compare(directories: list[str | Path], out: str | Path, *, lang: str = "da", force: bool = False) -> list[Path]:
    """``simulate compare``: two or more runs side by side in one page and one set of figures."""
    from simulate import figures as F
    from simulate.io import OutputDir, write_text_atomic

    check_lang(lang)
    if len(directories) < 2:
        raise ScenarioError("RUN_DIR", len(directories), "two or more run directories to compare")
    check_dependencies(excel=False)
    runs = [load_run(d, read_distribution=False) for d in directories]
    names = run_names(runs)
    summaries = [r.summary for r in runs]
    t, ft = T[lang], FIG_TEXT[lang]
    with OutputDir(out, force=force) as stage:
        figures = [
            Figure("compare_fan", ft["compare_fan_title"].format(payer=payer_name(summaries[0]["payer"], lang)),
                   t["cap_compare_fan"], F.save(F.compare_fan_figure(summaries, names, lang), stage / FIGURES_DIR,
                                                "compare_fan")),
            Figure("compare_break_even", ft["compare_be_title"], t["cap_compare_be"],
                   F.save(F.compare_break_even_figure(summaries, names, lang), stage / FIGURES_DIR,
                          "compare_break_even")),
        ]
        title = t["compare_title"].format(n=len(runs))
        parts = [f"<h1>{esc(title)}</h1>", f'<p class="subtitle">{esc(t["compare_subtitle"])}</p>']
        verdicts = []
        for r, name in zip(runs, names):
            s = r.summary
            H = s["horizon_years"]
            if r.is_mc:
                verdicts.append(t["c_verdict"].format(name=name, payer=payer_name(s["payer"], lang), years=H,
                                                      p=prob_text(s["years"][-1]["p_break_even"]["value"], lang)))
            else:
                verdicts.append(f"{name}: " + t["verdict_expected"].format(
                    payer=payer_name(s["payer"], lang), years=H, v=money(s["years"][-1]["cumulative_net"]["mean"], lang)))
        parts.append('<div class="verdict">' + "".join(f"<p>{esc(v)}</p>" for v in verdicts) + "</div>")
        parts.append(compare_table_html(runs, names, lang))
        parts.append(f'<h2>{esc(t["figures"])}</h2>')
        parts += [_figure(i, f.paths["svg"], f.title, f.caption, lang) for i, f in enumerate(figures, 1)]
        text = page(title, "\n".join(parts), lang)
        write_text_atomic(stage / "compare.html", text)
        write_pdf(text, stage / "compare.pdf")
        written = ["compare.html", "compare.pdf", *(p.relative_to(stage) for f in figures for p in f.paths.values())]
    out = Path(out)
    return [out / p for p in written]


def compare_table_html(runs: list[RunData], names: list[str], lang: str) -> str:
    t = T[lang]
    rows: list[list[str]] = []

    def add(label, fn):
        rows.append([label, *(fn(r) for r in runs)])

    add(t["c_dir"], lambda r: r.path.name)
    add(t["c_trials"], lambda r: number(r.summary["trials"], lang) if r.is_mc else "-")
    add(t["c_accounting"], lambda r: t[r.summary["accounting"]])
    add(t["c_payer"], lambda r: payer_name(r.summary["payer"], lang))
    add(t["c_horizon"], lambda r: str(r.summary["horizon_years"]))
    add(t["k_p"], lambda r: percent(r.summary["years"][-1]["p_break_even"]["value"], lang) if r.is_mc else "-")
    add(t["k_mean"], lambda r: money(r.summary["years"][-1]["cumulative_net"]["mean"], lang))
    add(t["k_p5"], lambda r: money(r.summary["years"][-1]["cumulative_net"]["p5"], lang) if r.is_mc else "-")
    add(t["k_p95"], lambda r: money(r.summary["years"][-1]["cumulative_net"]["p95"], lang) if r.is_mc else "-")
    add(t["k_es"], lambda r: money(r.summary["expected_shortfall_5"]["value"], lang) if r.is_mc else "-")
    add(t["k_point"], lambda r: money(r.summary["years"][-1].get("expected_cumulative_net"), lang))

    def payback(r):
        med = r.summary["payback_year"]["median"]
        return t["year_n"].format(y=med) if med else t["not_within"].format(years=r.summary["horizon_years"])

    add(t["k_payback"], lambda r: payback(r) if r.is_mc else "-")
    add(t["k_roi1"], lambda r: percent(r.summary["roi_year1"]["value"], lang))
    add(t["k_rate"], lambda r: percent(r.summary.get("discount_rate", 0.035), lang))
    add(t["k_mean_disc_plain"], lambda r: money(r.summary["discounted"]["years"][-1]["cumulative_net"]["mean"], lang))
    return _table(["", *names], rows, num_from=1, widths=[34] + [66 / len(runs)] * len(runs))
