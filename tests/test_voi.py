"""Value of information: EVPI and EVPPI against the closed form for a normal net benefit."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from simulate.cli import cli
from simulate.voi import evpi, evppi, normal_evpi
from tests.conftest import CONFIGS

N = 200_000


def _evpi_se(net: np.ndarray) -> float:
    """Monte Carlo standard error of the EVPI estimate (delta method, decision fixed at the mean's sign)."""
    keep = net if net.mean() > 0 else 0.0 * net
    return float(np.std(np.maximum(net, 0.0) - keep) / math.sqrt(len(net)))


@pytest.mark.parametrize("mu, sigma", [(0.0, 1.0), (300_000.0, 1_000_000.0), (-2_000_000.0, 1_500_000.0)])
def test_evpi_of_a_normal_net_matches_the_closed_form(mu, sigma):
    net = np.random.default_rng(1).normal(mu, sigma, N)
    assert evpi(net) == pytest.approx(normal_evpi(mu, sigma), abs=4 * _evpi_se(net) + 1e-12)


@pytest.mark.parametrize("mu", [0.0, 0.5, -1.0])
def test_evppi_of_the_only_input_equals_evpi(mu):
    x = np.random.default_rng(2).normal(mu, 1.0, N)
    assert evppi(x, x) == pytest.approx(evpi(x), rel=1e-9, abs=1e-12)
    assert evppi(x, 3.0 * x + 0.0) == pytest.approx(evpi(3.0 * x), rel=1e-9)


@pytest.mark.parametrize("mu", [0.0, 0.5, -1.0])
def test_evppi_of_one_of_two_independent_normal_parts_is_its_closed_form(mu):
    rng = np.random.default_rng(3)
    x, e = rng.normal(mu, 1.0, N), rng.normal(0.0, 1.5, N)
    # E[NB | x] = x, so EVPPI(x) = EVPI of N(mu, 1); the sample's own EVPI of x is the reference
    assert evppi(x, x + e) == pytest.approx(evpi(x), abs=4 * _evpi_se(x) + 0.01)
    assert evppi(x, x + e) == pytest.approx(normal_evpi(mu, 1.0), abs=6 * _evpi_se(x) + 0.01)


def test_evppi_of_an_input_the_result_does_not_depend_on_is_about_zero():
    rng = np.random.default_rng(4)
    x, unrelated = rng.normal(0.0, 1.0, N), rng.gamma(2.0, 1.0, N)
    net = x + rng.normal(0.0, 1.0, N)
    assert evppi(unrelated, net) < 0.01 * evpi(net)
    assert evppi(np.full(N, 3.0), net) == 0.0


def test_evppi_follows_a_nonlinear_dependence():
    rng = np.random.default_rng(5)
    x = rng.uniform(0.0, 1.0, N)
    g = np.where(x < 0.5, -1.0, 2.0 * x - 1.0) * 1e6  # kinked, not linear
    net = g + rng.normal(0.0, 5e5, N)
    assert evppi(x, net) == pytest.approx(evpi(g), rel=0.03)


def test_voi_command_ranks_inputs_and_writes_json(tmp_path):
    out = tmp_path / "voi"
    result = CliRunner().invoke(cli, ["voi", str(CONFIGS / "naerbolig.yaml"), "--trials", "20000", "--seed", "1",
                                      "--out", str(out), "--lang", "en"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "voi.json").read_text())
    values = [r["evppi_dkk"] for r in doc["evppi"]]
    assert values == sorted(values, reverse=True)
    assert 0 <= doc["evpi_parameters_dkk"] <= doc["evpi_dkk"] * 1.05
    assert all(v <= doc["evpi_dkk"] * 1.05 for v in values)
    assert doc["evppi"][0]["input"] in ("participants.success_probability",
                                        "participants.effect.relapse_probability_per_year")
    assert "EVPPI per input" in result.output


def test_voi_in_danish_names_the_inputs_as_the_report_does(tmp_path):
    result = CliRunner().invoke(cli, ["voi", str(CONFIGS / "naerbolig.yaml"), "--trials", "2000", "--out",
                                      str(tmp_path / "v")])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "v" / "voi.json").read_text())
    assert "participants.success_probability" in {r["input"] for r in doc["evppi"]}  # the json keeps field paths
    assert "  Succesrate blandt dem, der gennemfører " in result.output
    assert "participants.success_probability" not in result.output


@pytest.mark.parametrize("args, field", [(["--year", "11"], "--year"), (["--payer", "nobody"], "--payer"),
                                         (["--trials", "10"], "--trials")])
def test_voi_bad_options_exit_2_and_write_nothing(tmp_path, args, field):
    out = tmp_path / "voi"
    result = CliRunner().invoke(cli, ["voi", str(CONFIGS / "naerbolig.yaml"), "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert field in result.output and not out.exists()


def test_voi_added_to_a_run_directory_appears_in_its_report(tmp_path):
    from pathlib import Path

    from click.testing import CliRunner

    from simulate.cli import cli

    config = str(Path(__file__).resolve().parents[1] / "configs" / "naerbolig.yaml")
    run_dir = tmp_path / "run"
    runner = CliRunner()
    assert runner.invoke(cli, ["run", config, "--trials", "3000", "--out", str(run_dir)]).exit_code == 0
    before = (run_dir / "summary.json").read_bytes()
    result = runner.invoke(cli, ["voi", config, "--trials", "3000", "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (run_dir / "summary.json").read_bytes() == before
    doc = json.loads((run_dir / "voi.json").read_text())
    assert runner.invoke(cli, ["report", str(run_dir), "--lang", "en"]).exit_code == 0
    html = (run_dir / "report.html").read_text().replace("\u00a0", " ")  # no-break spaces read as spaces
    assert "Value of information" in html and "EVPPI" in html
    from simulate.fmt import money

    assert money(doc["evpi_dkk"], "en") in html
    again = runner.invoke(cli, ["voi", config, "--trials", "3000", "--out", str(run_dir)])
    assert again.exit_code == 2 and "--force" in again.output
