"""Words for figures and reports, in Danish (the default) and English.

Plain data and small helpers only: no plotting or file imports, so both
:mod:`simulate.figures` and :mod:`simulate.report` can use it cheaply.
"""

from __future__ import annotations

import re

from simulate.distributions import number_text
from simulate.errors import ScenarioError
from simulate.fmt import LANGS, money, number, percent

PAYER_NAMES = {
    "da": {"municipality": "kommunen", "housing_association": "boligselskabet", "foundations": "fonde og puljer",
           "state": "staten", "region": "regionen", "total": "alle betalere"},
    "en": {"municipality": "the municipality", "housing_association": "the housing association",
           "foundations": "foundations and grant pools", "state": "the state", "region": "the region",
           "total": "all payers"},
}

# Names of counterfactual states and cost items as the shipped scenarios use them.
WORDS = {
    "da": {"passive_support": "passiv forsørgelse", "homeless": "hjemløshed", "self_supporting": "selvforsørgelse",
           "benefit": "ydelse", "shelter": "forsorgshjem", "amount_dkk": "samlet beløb", "support": "forsørgelse", "services": "sociale ydelser",
           "saving": "besparelse", "cost": "udgift", "realised": "realiseret", "lifetime": "livstid",
           "undiscounted": "ikke tilbagediskonteret", "discounted": "tilbagediskonteret", **PAYER_NAMES["da"]},
    "en": {"passive_support": "passive support", "homeless": "homelessness", "self_supporting": "self-support",
           "benefit": "benefit", "shelter": "shelter", "amount_dkk": "whole amount", "support": "support", "services": "social services",
           "saving": "saving", "cost": "cost", "realised": "realised", "lifetime": "lifetime",
           "undiscounted": "undiscounted", "discounted": "discounted", **PAYER_NAMES["en"]},
}

# (pattern on the field path, Danish label, English label); groups are state, item or payer names.
INPUT_PATTERNS = [
    (r"programme\.cost_per_year_dkk(?:\[(\d+)\])?", "Programmets omkostning pr. år{0}", "Programme cost per year{0}"),
    (r"programme\.cost_overrun", "Budgetoverskridelse (faktor)", "Cost overrun (factor)"),
    (r"participants\.dropout_probability", "Frafald", "Drop-out"),
    (r"participants\.success_probability", "Succesrate blandt dem, der gennemfører", "Success rate of completers"),
    (r"participants\.intake_year_effect_fraction", "Andel af optagelsesåret med effekt",
     "Share of the intake year with effect"),
    (r"participants\.effect\.relapse_probability_per_year", "Tilbagefald pr. år", "Relapse per year"),
    (r"participants\.effect\.duration_years", "Effektens varighed (år)", "Effect duration (years)"),
    (r"counterfactual\.initial_distribution\.(\w+)", "Andel i {0} ved start", "Share in {0} at the start"),
    (r"counterfactual\.transitions\.(\w+)\.(\w+)", "Overgang pr. år: {0} → {1}", "Yearly transition: {0} → {1}"),
    (r"counterfactual\.states\.(\w+)\.cost_per_year_dkk\.(\w+)\.(\w+)", "Årlig udgift ved {0}: {1}, {2}",
     "Yearly cost in {0}: {1}, {2}"),
    (r"counterfactual\.saving_per_success_year_dkk\.(\w+)\.(\w+)", "Besparelse pr. succes-år: {0}, {1}",
     "Saving per success-year: {0}, {1}"),
    (r"counterfactual\.success_residual_cost_per_year_dkk\.(\w+)\.(\w+)", "Restudgift pr. succes-år: {0}, {1}",
     "Residual cost per success-year: {0}, {1}"),
]

TEXT = {
    "da": {
        "kr_m": "mio. kr.", "kr_k": "t. kr.", "kr": "kr.",
        "year": "År", "programme_year": "Programår",
        "cum_net": "Akkumuleret nettoresultat",
        "cum_net_for": "Akkumuleret nettoresultat for {payer}",
        "p_break_even": "Sandsynlighed for break-even",
        "p_break_even_title": "Sandsynlighed for, at {payer} har tjent investeringen hjem",
        "fan_title": "Akkumuleret nettoresultat for {payer} år for år",
        "band90": "90 % af udfaldene (P5–P95)", "band50": "50 % af udfaldene (P25–P75)",
        "median": "Median", "point": "Punktestimat (alle input i middelværdi)", "break_even": "Break-even (0 kr.)",
        "claim": "Leverandørens løfte", "claim_off": "{name}: {value} (uden for skalaen)",
        "hist_title": "Nettoresultat for {payer} efter {years} år",
        "hist_ylabel": "Andel af simuleringerne", "cdf_ylabel": "Kumuleret sandsynlighed",
        "histogram": "Fordeling", "cdf": "Kumuleret fordeling",
        "p_ge0": "P(≥ 0) = {p}", "loss": "Tab", "gain": "Overskud",
        "from_quantiles": "Tegnet ud fra fraktilerne P5–P95 i summary.json (simuleringerne er ikke gemt)",
        "from_sample": "Ud fra {n} af {total} simuleringer",
        "undiscounted": "Ikke tilbagediskonteret", "discounted": "Tilbagediskonteret ({rate})",
        "payback_title": "Tilbagebetalingstid for {payer}: første år med akkumuleret nettoresultat ≥ 0",
        "payback_none": "Ikke inden for\n{years} år", "share": "Andel af simuleringerne",
        "tornado_title": "Hvilke antagelser betyder mest?\n{metric} efter {year} år",
        "tornado_low": "Input i sin P10", "tornado_high": "Input i sin P90", "base": "Basis",
        "indices_title": "Følsomhedsindeks ({method})\n{metric} efter {year} år",
        "S1": "Førsteordens (S1)", "ST": "Total (ST)", "delta": "Delta",
        "heatmap_title": "Sandsynlighed for break-even efter {year} år for {payer}",
        "contour50": "50 %-grænsen",
        "compare_fan_title": "Akkumuleret nettoresultat for {payer}: median og 90 %-bånd",
        "compare_be_title": "Sandsynlighed for break-even år for år",
        "metric_names": {"cumulative_net_mean": "Middel af nettoresultatet",
                         "cumulative_net_p5": "P5 af nettoresultatet", "cumulative_net_p95": "P95 af nettoresultatet",
                         "cumulative_net_p50": "Median af nettoresultatet",
                         "cumulative_net": "Nettoresultatet", "p_break_even": "Sandsynlighed for break-even"},
    },
    "en": {
        "kr_m": "DKK m", "kr_k": "DKK thousand", "kr": "DKK",
        "year": "Year", "programme_year": "Programme year",
        "cum_net": "Cumulative net result",
        "cum_net_for": "Cumulative net result for {payer}",
        "p_break_even": "Probability of break-even",
        "p_break_even_title": "Probability that {payer} has earned back the investment",
        "fan_title": "Cumulative net result for {payer}, year by year",
        "band90": "90% of outcomes (P5–P95)", "band50": "50% of outcomes (P25–P75)",
        "median": "Median", "point": "Point estimate (every input at its mean)", "break_even": "Break-even (DKK 0)",
        "claim": "Provider's claim", "claim_off": "{name}: {value} (off the scale)",
        "hist_title": "Net result for {payer} after {years} years",
        "hist_ylabel": "Share of trials", "cdf_ylabel": "Cumulative probability",
        "histogram": "Distribution", "cdf": "Cumulative distribution",
        "p_ge0": "P(≥ 0) = {p}", "loss": "Loss", "gain": "Surplus",
        "from_quantiles": "Drawn from the quantiles P5–P95 in summary.json (the trials were not saved)",
        "from_sample": "From {n} of {total} trials",
        "undiscounted": "Undiscounted", "discounted": "Discounted ({rate})",
        "payback_title": "Payback year for {payer}: first year with cumulative net ≥ 0",
        "payback_none": "Not within\n{years} years", "share": "Share of trials",
        "tornado_title": "Which assumptions matter most?\n{metric} after {year} years",
        "tornado_low": "Input at its P10", "tornado_high": "Input at its P90", "base": "Base",
        "indices_title": "Sensitivity indices ({method})\n{metric} after {year} years",
        "S1": "First order (S1)", "ST": "Total (ST)", "delta": "Delta",
        "heatmap_title": "Probability of break-even after {year} years for {payer}",
        "contour50": "the 50% boundary",
        "compare_fan_title": "Cumulative net result for {payer}: median and 90% band",
        "compare_be_title": "Probability of break-even, year by year",
        "metric_names": {"cumulative_net_mean": "Mean net result", "cumulative_net_p50": "Median net result",
                         "cumulative_net_p5": "P5 of the net result", "cumulative_net_p95": "P95 of the net result",
                         "cumulative_net": "Net result", "p_break_even": "Probability of break-even"},
    },
}


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ScenarioError("--lang", lang, "one of " + ", ".join(LANGS))
    return lang


def payer_name(payer: str, lang: str) -> str:
    return PAYER_NAMES[lang].get(payer, payer.replace("_", " "))


def word(name: str, lang: str) -> str:
    return WORDS[lang].get(name, name.replace("_", " "))


def input_label(path: str, lang: str) -> str:
    """A reader's name for an input's field path, e.g. 'Frafald' for participants.dropout_probability."""
    for pattern, da, en in INPUT_PATTERNS:
        m = re.fullmatch(pattern, path)
        if m:
            groups = m.groups()
            if pattern.startswith(r"programme\.cost_per_year"):
                year = groups[0]
                suffix = "" if year is None else (f", år {int(year) + 1}" if lang == "da" else f", year {int(year) + 1}")
                return (da if lang == "da" else en).format(suffix)
            return (da if lang == "da" else en).format(*(word(g, lang) for g in groups))
    return path.split(".")[-1].replace("_", " ")


def in_sentence(name: str) -> str:
    """A name that starts a label, as it reads inside a sentence: 'Succesrate ...' -> 'succesrate ...', while
    'P5 af ...' and 'ROI' keep their capitals."""
    return name[:1].lower() + name[1:] if name[1:2].islower() else name


def metric_name(metric: str, lang: str) -> str:
    names = TEXT[lang]["metric_names"]
    return names.get(metric, metric.replace("_", " "))


def is_probability_metric(metric: str) -> bool:
    return metric.startswith("p_") or "probability" in metric


def prob_text(p: float | None, lang: str, *, compact: bool = False) -> str:
    """A probability in whole per cent, without rounding a rare event to 0 % or a near-certain one to 100 %."""
    if p is None:
        return "-"
    if 0 < p < 0.005:
        if compact:
            return "< 1 %" if lang == "da" else "<1%"
        return "under 1 %" if lang == "da" else "less than 1%"
    if 0.995 < p < 1:
        if compact:
            return "> 99 %" if lang == "da" else ">99%"
        return "over 99 %" if lang == "da" else "more than 99%"
    return percent(p, lang, 0)


def pct(p: float | None, lang: str) -> str:
    """A probability for a table, one decimal; a rare event is "< 0,1 %", not "0,0 %"."""
    if p is None:
        return "-"
    if 0 < p < 0.0005:
        return "< 0,1 %" if lang == "da" else "<0.1%"
    if 0.9995 < p < 1:
        return "> 99,9 %" if lang == "da" else ">99.9%"
    return percent(p, lang, 1)


def year_span(start_year: int | None, horizon: int, lang: str) -> str:
    if not start_year:
        return ""
    return f"{start_year}–{start_year + horizon - 1}"


def count(n: int, lang: str) -> str:
    return number(n, lang, 0)


def refusion_side_by_side(side: dict, lang: str) -> str:
    """'kommunen -734.268 kr.; staten ...; hele den offentlige sektor ... (P(≥ 0) 54 %)' from summary.json's
    ``refusion.side_by_side``."""
    rows = [f"{payer_name(p, lang)} {money(side[p]['cumulative_net_mean'], lang)}" for p in side
            if p not in ("public_sector", "total")]
    ps = side["public_sector"]
    p_text = f" (P(≥ 0) {percent(ps['p_break_even'], lang, 0)})" if ps.get("p_break_even") is not None else ""
    public = "hele den offentlige sektor" if lang == "da" else "the whole public sector"
    rows.append(f"{public} {money(ps['cumulative_net_mean'], lang)}{p_text}")
    return "; ".join(rows)


# summary.json keeps its warnings in English (scripts match on them); Danish screens and reports show these.
_NUM = r"([-+]?[0-9][0-9,]*(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)"
WARNINGS_DA = [
    (r"intake is 0 in every year: nobody enters the programme, so there are no savings",
     "optaget er 0 i alle år: ingen starter i programmet, så der er ingen besparelser"),
    (r"the success probability is 0: nobody succeeds, so there are no savings",
     "succesraten er 0: ingen lykkes, så der er ingen besparelser"),
    (r"the success probability is 1 and nobody drops out: every participant succeeds",
     "succesraten er 1, og ingen falder fra: alle deltagere lykkes"),
    (r"every input is fixed: the spread comes only from the random outcomes of individual participants",
     "alle input er faste: spredningen kommer kun fra de enkelte deltageres tilfældige udfald"),
    (r"a single trial: there is no spread; standard deviations and standard errors are shown as 0",
     "én simulering: der er ingen spredning; standardafvigelser og standardfejl vises som 0"),
    (r"(?P<payer>\w+) has no programme cost in year 1: ROI is undefined \(shown as null\)",
     "{payer} har ingen udgift til programmet i år 1: ROI er ikke defineret (vises som null)"),
    (r"(?P<payer>\w+) pays nothing for the programme within the horizon",
     "{payer} betaler intet til programmet inden for horisonten"),
    (r"(?P<payer>\w+) has no savings within the horizon of (?P<n>[0-9]+) years",
     "{payer} har ingen besparelser inden for horisonten på {n} år"),
    (r"(?P<a>\S+) and (?P<b>\S+) have rank correlation (?P<x>\S+): they move in lockstep",
     "{a} og {b} har rangkorrelation {x}: de følges fuldstændigt ad"),
    (r"the correlation matrix is nearly singular and not valid after the rank-to-normal transform; it was "
     r"adjusted to the nearest valid one \(largest change (?P<x>\S+)\)",
     "korrelationsmatricen er næsten singulær og ikke gyldig efter omregningen fra rang- til normalkorrelation; "
     "den er justeret til den nærmeste gyldige (største ændring {x})"),
    (r"the correlation matrix is nearly singular \(smallest eigenvalue (?P<x>\S+)\): some inputs are almost "
     r"determined by others",
     "korrelationsmatricen er næsten singulær (mindste egenværdi {x}): nogle input er næsten bestemt af andre"),
    (r"the precision " + _NUM.replace("(", "(?P<x>", 1) + r" was not reached within (?P<n>[0-9,]+) trials",
     "præcisionen {x} blev ikke nået inden for {n} simuleringer"),
    (r"(?P<path>\S+) is not in the scenario: its follow-up data \((?P<k>[0-9]+) of (?P<n>[0-9]+)\) are not used",
     "{path} findes ikke i scenariet: opfølgningsdata ({k} af {n}) bruges ikke"),
    (r"(?P<path>\S+) is fixed at (?P<x>\S+) in the scenario: not updated by (?P<k>[0-9]+) of (?P<n>[0-9]+)",
     "{path} er fast på {x} i scenariet: opdateres ikke af {k} af {n}"),
    (r"(?P<path>\S+) is fixed in the scenario: the actual costs do not update it",
     "{path} er fast i scenariet: de faktiske udgifter opdaterer det ikke"),
]


def warning_text(text: str, lang: str) -> str:
    """A warning of summary.json (English) in the reader's language: Danish words, payer names and numbers.

    A warning without a Danish form is shown as it is."""
    if lang != "da":
        return text
    for pattern, da in WARNINGS_DA:
        m = re.fullmatch(pattern, text)
        if m:
            parts = m.groupdict()
            if "payer" in parts:
                parts["payer"] = payer_name(parts["payer"], lang)
            for key in ("path", "a", "b"):  # a field path: the reader's name, the path beside it
                if key in parts and any(re.fullmatch(pattern, parts[key]) for pattern, _, _ in INPUT_PATTERNS):
                    parts[key] = f"{input_label(parts[key], lang)} ({parts[key]})"
            for key in ("x", "n", "k"):
                if key in parts and re.fullmatch(_NUM, parts[key]):
                    value = float(parts[key].replace(",", ""))
                    sign = "+" if parts[key].startswith("+") else ""
                    parts[key] = sign + (number(value, lang, 0) if value.is_integer() and abs(value) >= 1
                                         else number_text(value).replace(".", ","))
            return da.format(**parts)
    return text


_DIST_WORDS_DA = [("90% interval", "90 %-interval"), ("->", "→"), ("uniform(", "ligefordeling("),
                  ("triangular(", "trekantsfordeling("), ("truncated to", "afskåret til"), ("mean=", "middel=")]


def distribution_label(label: str, lang: str) -> str:
    """A distribution's label (``_Dist.label()``, English) for the reader: in Danish, decimal commas, thousands
    points and semicolons between the parameters, e.g. 'PERT(0,95; 1; 1,4)' and '1.632.600'."""
    if lang != "da":
        return label
    text = label.replace(", ", "; ")
    for en, da in _DIST_WORDS_DA:
        text = text.replace(en, da)

    def danish(m: re.Match) -> str:
        digits = m.group(0)
        whole, _, frac = digits.partition(".")
        sign = "-" if whole.startswith("-") else ""
        whole = whole.lstrip("-")
        if len(whole) > 3:
            whole = f"{int(whole):,}".replace(",", ".")
        return sign + whole + ("," + frac if frac else "")

    return re.sub(r"(?<![\w.])-?[0-9]+(?:\.[0-9]+)?(?![\w.])", danish, text)
