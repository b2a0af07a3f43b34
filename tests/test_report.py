"""Reports: figures, the self-contained page, PDF, Excel, compare, sweeps, sensitivity, errors."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulate.cli import cli
from simulate.fmt import money
from simulate.labels import prob_text
from tests.conftest import CONFIGS

DEFAULT = str(CONFIGS / "naerbolig.yaml")
BROCHURE = str(CONFIGS / "naerbolig_brochure.yaml")
TRIALS = 3000
FIGURES = ("fan_chart", "break_even", "net_distribution", "payback")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A small Monte Carlo run with saved trials and its Danish report (made by `run --report`)."""
    out = tmp_path_factory.mktemp("runs") / "naerbolig"
    result = invoke("run", DEFAULT, "--trials", TRIALS, "--seed", 7, "--out", out, "--save-trials", "--report")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def brochure_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "brochure"
    assert invoke("run", BROCHURE, "--mode", "expected", "--out", out).exit_code == 0
    return out


def copy_run(src: Path, dst: Path, *, trials: bool = False) -> Path:
    dst.mkdir()
    for name in ("summary.json", "manifest.json", "yearly.csv") + (("trials.parquet",) if trials else ()):
        shutil.copy(src / name, dst / name)
    return dst


def listing(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


class Page(HTMLParser):
    """Collects every src/href and the visible text of a page."""

    def __init__(self):
        super().__init__()
        self.refs, self.images, self.text, self.tags = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for key, value in attrs:
            if key in ("src", "href", "srcset", "data", "action"):
                self.refs.append(value or "")
                if tag == "img" and key == "src":
                    self.images.append(value)

    def handle_data(self, data):
        self.text.append(data.replace("\u00a0", " "))  # a no-break space reads as a space


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


# --- run --report and the page ---------------------------------------------------------------------------
def test_run_with_report_writes_every_output(run_dir):
    names = listing(run_dir)
    for name in ("summary.json", "manifest.json", "trials.parquet", "net_distribution.json", "report.html",
                 "report.pdf", "report.xlsx"):
        assert name in names
    for fig in FIGURES:
        assert {f"figures/{fig}.png", f"figures/{fig}.svg"} <= names
        assert (run_dir / "figures" / f"{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [n for n in names if "partial" in n]
    saved = json.loads((run_dir / "net_distribution.json").read_text())
    assert len(saved["years"]) == 10 and sum(saved["years"][-1]["counts"]) == TRIALS


def test_page_is_self_contained_and_opens_with_the_verdict(run_dir):
    page = parse(run_dir / "report.html")
    text = " ".join(page.text)
    raw = (run_dir / "report.html").read_text(encoding="utf-8")
    assert len(page.images) == len(FIGURES)
    assert all(src.startswith("data:image/svg+xml;base64,") for src in page.images)
    assert all(ref.startswith("data:") for ref in page.refs), "every reference is embedded"
    assert not re.search(r"url\(\s*['\"]?(?!data:)", raw), "no stylesheet fetches anything"
    assert "<link" not in raw and "<script" not in raw
    for src in page.images:
        svg = base64.b64decode(src.split(",", 1)[1]).decode("utf-8")
        assert "<svg" in svg
        assert not re.search(r"(?:xlink:)?href=\"(?!#|data:)", svg), "an SVG refers to an outside file"
    summary = json.loads((run_dir / "summary.json").read_text())
    p = prob_text(summary["years"][-1]["p_break_even"]["value"], "da")
    verdict = f"Sandsynligheden for, at kommunen har tjent investeringen hjem efter 10 år, er {p}."
    assert verdict in text
    assert text.index(verdict) < text.index("Nøgletal")
    assert money(summary["years"][-1]["cumulative_net"]["mean"], "da") in text
    for heading in ("Leverandørens løfter", "Antagelser og kilder", "Metode", "År for år"):
        assert heading in text
    assert "Nettoresultat 10 år" in text and "28.407.100 kr." in text
    assert "Succesrate blandt dem, der gennemfører" in text and "provider's own" in text  # assumption and source


def test_pdf_has_the_same_content(run_dir):
    pdf = (run_dir / "report.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-"
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(["pdftotext", str(run_dir / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    text = " ".join(text.split())
    assert "Sandsynligheden for, at kommunen har tjent investeringen hjem efter 10 år" in text
    assert "Antagelser og kilder" in text and "Leverandørens løfter" in text


def test_workbook_reopens_with_the_values_of_summary_json(run_dir):
    from openpyxl import load_workbook

    from simulate.excel import YEARLY_COLUMNS
    from simulate.metrics import yearly_rows

    summary = json.loads((run_dir / "summary.json").read_text())
    wb = load_workbook(run_dir / "report.xlsx")
    assert wb.sheetnames == ["Oversigt", "År for år", "Antagelser", "Løfter", "Simuleringer"]  # a Danish run
    cells = {row[0].value: row[1] for row in wb["Oversigt"].iter_rows(min_row=2) if row[0].value}
    assert cells["Tilstand"].value == "Monte Carlo" and cells["Opgørelse"].value == "realiseret"
    last = summary["years"][-1]
    assert cells["Sandsynlighed for break-even (P(≥ 0))"].value == last["p_break_even"]["value"]
    assert cells["Sandsynlighed for break-even (P(≥ 0))"].number_format == "0.0%"
    mean = cells["Akkumuleret nettoresultat, middel"]
    assert mean.value == last["cumulative_net"]["mean"] and isinstance(mean.value, float)
    assert "kr." in mean.number_format
    assert cells["Simuleringer"].value == TRIALS
    yearly = wb["År for år"]
    rows = yearly_rows(summary)
    assert yearly.max_row == len(rows) + 1
    keys = [k for k, *_ in YEARLY_COLUMNS]
    for i, row in enumerate(rows, start=2):
        for j, key in enumerate(keys, start=1):
            if key not in ("payer", "discounting"):
                assert yearly.cell(row=i, column=j).value == row[key], (i, key)
    claims = list(wb["Løfter"].iter_rows(min_row=2, values_only=True))
    assert [c[0] for c in claims] == [c["name"] for c in summary["claims"]]
    assert {c[1] for c in claims} <= {"ROI", "akkumuleret nettoresultat", "break-even (succeser pr. år)"}
    for got, want in zip(claims, summary["claims"]):
        assert got[4] == want["claimed"] and got[5] == want["expected_realised"]
        assert got[7] == want["p_reached_realised"] and got[8] == want["p_reached_lifetime"]
    assumptions = list(wb["Antagelser"].iter_rows(min_row=2, values_only=True))
    by_path = {r[1]: r for r in assumptions}
    assert by_path["programme.cost_per_year_dkk"][6] == 1_632_600
    assert "NærBolig business case" in by_path["programme.cost_per_year_dkk"][7]
    trials = wb["Simuleringer"]
    assert trials.cell(row=3, column=1).value == "trial" and isinstance(trials.cell(row=4, column=2).value, float)
    headers = [c.value for c in trials[2]]
    assert headers[0] == "Simulering" and "Akkumuleret nettoresultat, år 10" in headers
    assert "Akkumuleret nettoresultat, tilbagediskonteret, år 10" in headers


def test_english_report_without_saved_trials_draws_from_quantiles(run_dir, tmp_path):
    d = copy_run(run_dir, tmp_path / "en")
    result = invoke("report", d, "--lang", "en")
    assert result.exit_code == 0, result.output
    text = " ".join(parse(d / "report.html").text)
    summary = json.loads((d / "summary.json").read_text())
    p = prob_text(summary["years"][-1]["p_break_even"]["value"], "en")
    assert f"The probability that the municipality has earned back the investment after 10 years is {p}." in text
    assert money(summary["years"][-1]["cumulative_net"]["mean"], "en") in text  # DKK 1,234,567
    assert "drawn from the quantiles P5–P95" in text
    assert money(summary["years"][-1]["cumulative_net"]["mean"], "da") not in text
    from openpyxl import load_workbook

    wb = load_workbook(d / "report.xlsx")
    assert wb.sheetnames == ["Summary", "Yearly", "Assumptions", "Claims"]
    assert wb["Summary"]["A1"].value == summary["scenario"]
    cells = {row[0].value: row[1].value for row in wb["Summary"].iter_rows(min_row=2) if row[0].value}
    assert cells["Mode"] == "Monte Carlo" and cells["Accounting"] == "realised"


def test_report_again_replaces_the_outputs_whole(run_dir, tmp_path):
    d = copy_run(run_dir, tmp_path / "again")
    assert invoke("report", d).exit_code == 0
    first = listing(d)
    assert invoke("report", d, "--year", 3).exit_code == 0
    assert listing(d) == first
    assert "efter 3\u00a0år, er" in (d / "report.html").read_text(encoding="utf-8")  # number and unit kept together


def test_expected_mode_run_gets_a_point_estimate_page(brochure_dir, tmp_path):
    d = copy_run(brochure_dir, tmp_path / "b")
    assert invoke("report", d).exit_code == 0
    page = parse(d / "report.html")
    text = " ".join(page.text)
    assert "Punktestimatet for kommunens akkumulerede nettoresultat efter 10 år er 24.214.600 kr." in text
    assert len(page.images) == 1


# --- figures ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def summary(run_dir) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def texts(fig) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


@pytest.mark.parametrize("lang, title, ylabel, legend", [
    ("da", "Akkumuleret nettoresultat for kommunen år for år", "Akkumuleret nettoresultat (mio. kr.)", "Median"),
    ("en", "Cumulative net result for the municipality, year by year", "Cumulative net result (DKK m)", "Median"),
])
def test_fan_chart_titles_axes_and_labels(summary, lang, title, ylabel, legend):
    import matplotlib

    from simulate import figures as F

    fig = F.fan_figure(summary, lang)
    assert matplotlib.get_backend().lower() == "agg"
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == title
    assert ax.get_ylabel() == ylabel
    assert ax.get_xlabel() in ("Programår", "Programme year")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend in labels and any("P5–P95" in x for x in labels)
    assert any(x.startswith("Nettoresultat 3 år") for x in texts(fig))  # the claim is marked
    assert any("28,4" in x or "28.4" in x for x in texts(fig))  # off-scale claim named
    assert [y for y in ax.get_lines() if list(y.get_ydata()) == [0, 0]], "break-even line"
    matplotlib.pyplot.close(fig)


def test_distribution_figure_marks_p_break_even(summary):
    import matplotlib.pyplot as plt
    import numpy as np

    from simulate import figures as F

    dist = F.NetDistribution.from_values(np.linspace(-2e6, 3e6, 1001))
    fig = F.distribution_figure(summary, dist, "da")
    p = prob_text(summary["years"][-1]["p_break_even"]["value"], "da")
    assert sum(t == f"P(≥ 0) = {p}" for t in texts(fig)) == 2
    assert [a.get_title(loc="left") for a in fig.axes] == ["Fordeling", "Kumuleret fordeling"]
    assert fig.axes[0].get_xlabel() == "Akkumuleret nettoresultat (mio. kr.)"
    plt.close(fig)
    q = F.NetDistribution.from_quantiles(summary["years"][-1]["cumulative_net"], TRIALS)
    fig = F.distribution_figure(summary, q, "en")
    assert any("Drawn from the quantiles" in t for t in texts(fig))
    plt.close(fig)


def test_break_even_and_payback_figures(summary):
    import matplotlib.pyplot as plt

    from simulate import figures as F

    fig = F.break_even_figure(summary, "da")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Sandsynlighed for break-even"
    assert ax.get_title(loc="left") == "Sandsynlighed for, at kommunen har tjent investeringen hjem"
    plt.close(fig)
    fig = F.payback_figure(summary, "en")
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[0] == "1" and ticks[-1] == "Not within\n10 years"
    assert len(ax.patches) == 11
    plt.close(fig)


def test_tick_formatters_use_the_readers_convention():
    from simulate import figures as F

    da, en = F.money_formatter("da", 1e6), F.money_formatter("en", 1e6)
    locs = [-2.5e6, 0.0, 2.5e6, 5e6]
    da.set_locs(locs)
    en.set_locs(locs)
    assert [da(x) for x in locs] == ["\u22122,5", "0,0", "2,5", "5,0"]
    assert [en(x) for x in locs] == ["\u22122.5", "0.0", "2.5", "5.0"]
    big = F.money_formatter("da", 1e3)
    big.set_locs([0, 2_000_000])
    assert big(1_234_000) == "1.234"
    assert F.percent_formatter("da")(0.5) == "50 %" and F.percent_formatter("en")(0.5) == "50%"
    assert F.money_scale(28e6, "da") == (1e6, "mio. kr.") and F.money_scale(5e5, "en") == (1e3, "DKK thousand")


TORNADO = {
    "method": "tornado", "metric": "cumulative_net_mean", "year": 10, "payer": "municipality", "base_value": 700000.0,
    "rows": [
        {"input": "participants.success_probability", "low": 0.4, "high": 0.7, "metric_at_low": -900000.0,
         "metric_at_high": 2300000.0, "swing": 3200000.0},
        {"input": "participants.effect.relapse_probability_per_year", "low": 0.15, "high": 0.35,
         "metric_at_low": 1900000.0, "metric_at_high": -300000.0, "swing": 2200000.0},
        {"input": "programme.cost_overrun", "low": 0.99, "high": 1.25, "metric_at_low": 1100000.0,
         "metric_at_high": 100000.0, "swing": 1000000.0},
    ],
}


def test_tornado_chart_orders_by_swing():
    import matplotlib.pyplot as plt

    from simulate import figures as F

    fig = F.tornado_figure(TORNADO, "da")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1].startswith("Succesrate blandt dem, der gennemfører")  # widest on top
    assert labels[0].startswith("Budgetoverskridelse")
    assert fig.get_suptitle() == "Hvilke antagelser betyder mest?\nMiddel af nettoresultatet efter 10 år"
    assert ax.get_xlabel() == "Middel af nettoresultatet (mio. kr.)"
    plt.close(fig)
    sobol = {"method": "sobol", "metric": "p_break_even", "year": 10, "payer": "municipality", "base_value": None,
             "rows": [{"input": "participants.success_probability", "S1": 0.5, "S1_conf": 0.05, "ST": 0.6,
                       "ST_conf": 0.06}, {"input": "programme.cost_overrun", "S1": 0.1, "S1_conf": 0.02, "ST": 0.15,
                                          "ST_conf": 0.03}]}
    fig = F.indices_figure(sobol, "en")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Total (ST)", "First order (S1)"]
    assert fig.get_suptitle().startswith("Sensitivity indices (Sobol)")
    plt.close(fig)


def test_report_draws_a_tornado_where_a_sensitivity_result_exists(run_dir, tmp_path):
    d = copy_run(run_dir, tmp_path / "sens")
    (d / "sensitivity.json").write_text(json.dumps(TORNADO), encoding="utf-8")
    assert invoke("report", d).exit_code == 0
    assert (d / "figures" / "tornado.png").is_file() and (d / "figures" / "tornado.svg").is_file()
    assert len(parse(d / "report.html").images) == len(FIGURES) + 1


@pytest.mark.parametrize(("others", "metric", "lang", "words"), [
    ("random", "p_break_even", "da", "Følsomhed – sandsynlighed for break-even: hver antagelse sat til sin 10 %- og "
                                     "90 %-fraktil, de øvrige tilfældige som i kørslen"),
    ("base", "cumulative_net_mean", "da", "Følsomhed – middel af nettoresultatet: hver antagelse sat til sin 10 %- "
                                          "og 90 %-fraktil, de øvrige i deres middelværdi"),
    ("random", "cumulative_net_p5", "en", "Sensitivity of the P5 of the net result: each assumption set to its 10th "
                                          "and 90th percentile, the others random as in the run"),
])
def test_the_tornado_caption_says_how_the_other_inputs_were_held(tmp_path, others, metric, lang, words):
    """The caption follows sensitivity.json: the metric, and whether the other inputs stayed random or at their
    means (--others)."""
    from simulate.report import sensitivity_figures

    (figure,) = sensitivity_figures({**TORNADO, "metric": metric, "others": others}, tmp_path, lang)
    assert figure.caption.startswith(words), figure.caption


def test_sensitivity_directory_alone(tmp_path):
    d = tmp_path / "sens_only"
    d.mkdir()
    doc = {"method": "delta", "metric": "cumulative_net_mean", "year": 10, "payer": "municipality",
           "base_value": None, "rows": [{"input": "participants.success_probability", "delta": 0.4,
                                         "delta_conf": 0.03, "S1": 0.35, "S1_conf": 0.04}]}
    (d / "sensitivity.json").write_text(json.dumps(doc), encoding="utf-8")
    assert invoke("report", d, "--lang", "en").exit_code == 0
    assert (d / "figures" / "sensitivity_indices.svg").is_file() and (d / "report.pdf").is_file()


# --- sweeps ---------------------------------------------------------------------------------------------
def write_sweep(d: Path, n: int = 4) -> Path:
    import pandas as pd

    d.mkdir()
    xs = [0.4 + 0.1 * i for i in range(n)]
    ys = [0.15 + 0.05 * i for i in range(n)]
    rows, sid = [], 0
    for x in xs:
        for y in ys:
            for year in (1, 10):
                for payer in ("municipality", "total"):
                    for disc in ("undiscounted", "discounted"):
                        p = min(1.0, max(0.0, (x - 0.4) * 2.2 + (0.3 - y) * 1.5 + 0.2)) if year == 10 else 0.0
                        rows.append({"scenario_id": sid, "participants.success_probability": x,
                                     "participants.effect.relapse_probability_per_year": y, "year": year,
                                     "payer": payer, "discounting": disc, "metric": "p_break_even", "value": p})
                        rows.append({"scenario_id": sid, "participants.success_probability": x,
                                     "participants.effect.relapse_probability_per_year": y, "year": year,
                                     "payer": payer, "discounting": disc, "metric": "cumulative_net_mean",
                                     "value": 1e5 * sid})
            sid += 1
    pd.DataFrame(rows).to_parquet(d / "results.parquet")
    (d / "sweep.json").write_text(json.dumps({
        "base_config": "configs/naerbolig.yaml", "n_scenarios": sid, "name": "Succes x tilbagefald",
        "overrides": ["participants.success_probability", "participants.effect.relapse_probability_per_year"]}))
    return d


def test_sweep_report_draws_the_heatmap_with_its_50_percent_contour(tmp_path):
    d = write_sweep(tmp_path / "sweep")
    result = invoke("report", d)
    assert result.exit_code == 0, result.output
    assert (d / "figures" / "heatmap.png").is_file() and (d / "figures" / "heatmap.svg").is_file()
    page = parse(d / "report.html")
    assert len(page.images) == 1 and "Succesrate blandt dem, der gennemfører" in " ".join(page.text)
    assert "Variation af antagelser: Succes x tilbagefald" in page.text  # the sweep file's name:, not the base's
    assert invoke("report", d, "--year", 4).exit_code == 2


def test_heatmap_figure_labels_and_contour():
    import matplotlib.pyplot as plt
    import numpy as np

    from simulate import figures as F

    grid = np.array([[0.1, 0.4, 0.7], [0.2, 0.5, 0.8], [0.3, 0.6, 0.9]])
    fig = F.heatmap_figure(grid, [0.4, 0.5, 0.6], [0.1, 0.2, 0.3], "participants.success_probability",
                           "programme.cost_overrun", "da", year=10)
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "Sandsynlighed for break-even efter 10 år for kommunen"
    assert ax.get_xlabel().startswith("Succesrate") and ax.get_ylabel().startswith("Budgetoverskridelse")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0,4", "0,5", "0,6"]
    assert "50 %-grænsen" in [t.get_text() for t in fig.legends[0].get_texts()]  # the contour's key
    assert ax.collections, "the 50 % contour is drawn"
    assert "90 %" in texts(fig)  # a cell's value
    plt.close(fig)


# --- compare --------------------------------------------------------------------------------------------
def test_compare_puts_runs_side_by_side(run_dir, brochure_dir, tmp_path):
    out = tmp_path / "cmp"
    result = invoke("compare", brochure_dir, run_dir, "--out", out, "--lang", "en")
    assert result.exit_code == 0, result.output
    names = listing(out)
    assert {"compare.html", "compare.pdf", "figures/compare_fan.png", "figures/compare_fan.svg",
            "figures/compare_break_even.png", "figures/compare_break_even.svg"} <= names
    page = parse(out / "compare.html")
    text = " ".join(page.text)
    assert "NærBolig — brochurens egne antagelser" in text and "NærBolig — bedste evidens" in text
    assert "DKK 24,214,600" in text
    assert len(page.images) == 2 and all(s.startswith("data:image/svg+xml;base64,") for s in page.images)
    again = invoke("compare", brochure_dir, run_dir, "--out", out)
    assert again.exit_code == 2 and "--force" in again.output


def test_compare_figures_overlay_every_run(summary):
    import matplotlib.pyplot as plt

    from simulate import figures as F

    fig = F.compare_fan_figure([summary, summary], ["A", "B"], "da")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["A", "B"]
    plt.close(fig)


# --- user errors: one message, exit 2, nothing written -------------------------------------------------------
@pytest.mark.parametrize("make, args, message", [
    (lambda p: p / "missing", [], "an existing directory"),
    (lambda p: (p / "file.txt").write_text("x") and p / "file.txt", [], "not a file"),
    (lambda p: (p / "empty").mkdir() or p / "empty", [], "a run directory with summary.json"),
])
def test_report_refuses_what_is_not_a_run(tmp_path, make, args, message):
    target = make(tmp_path)
    before = listing(tmp_path)
    result = invoke("report", target, *args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert listing(tmp_path) == before


def test_report_refuses_a_bad_language_or_year(run_dir, tmp_path):
    d = copy_run(run_dir, tmp_path / "r")
    before = listing(d)
    bad = invoke("report", d, "--lang", "de")
    assert bad.exit_code == 2 and "--lang: got 'de'; expected one of da, en" in bad.output
    late = invoke("report", d, "--year", 11)
    assert late.exit_code == 2 and "--year" in late.output
    (d / "broken").mkdir()
    (d / "broken" / "summary.json").write_text("{not json")
    broken = invoke("report", d / "broken")
    assert broken.exit_code == 2 and "invalid JSON" in broken.output
    assert listing(d) == before | {"broken", "broken/summary.json"}


def test_a_failure_midway_leaves_the_run_directory_as_it_was(run_dir, tmp_path, monkeypatch):
    from simulate import report

    d = copy_run(run_dir, tmp_path / "r")
    before = listing(d)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(report, "write_pdf", fail)
    result = CliRunner().invoke(cli, ["report", str(d)])
    assert result.exit_code == 1
    assert listing(d) == before


def test_compare_needs_two_runs(run_dir, tmp_path):
    result = invoke("compare", run_dir, "--out", tmp_path / "c")
    assert result.exit_code == 2 and "two or more run directories" in result.output
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("command", [["report"], ["compare"]])
def test_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "Example:" in result.output


# --- the page in a browser ---------------------------------------------------------------------------------
def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (CI installs Debian's chromium)")
def test_page_renders_in_headless_chromium(run_dir, tmp_path):
    shot = tmp_path / "page.png"
    subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--screenshot={shot}",
         "--window-size=1200,1600", (run_dir / "report.html").resolve().as_uri()],
        capture_output=True, timeout=120, check=False,
    )
    assert shot.is_file(), "chromium wrote no screenshot"
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1200, 1600)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the page rendered blank"


def test_numbers_keep_their_unit_on_the_same_line():
    """A line break inside "90 %" or "4.329.630 kr." is bad typesetting: the page joins them with no-break spaces."""
    from simulate.report import esc

    text = esc("I 90 % af simuleringerne efter 10 år: 4.329.630 kr., 1,2 mio. kr.; 5 years, 7.0% & <b>")
    assert "90\u00a0%" in text and "10\u00a0år" in text and "4.329.630\u00a0kr." in text
    assert "1,2\u00a0mio.\u00a0kr." in text and "5\u00a0years" in text and "&amp; &lt;b&gt;" in text
    assert "I 90" in text and "af simuleringerne" in text  # other spaces stay breakable
