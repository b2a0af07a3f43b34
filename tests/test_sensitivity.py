"""Sensitivity: Sobol indices against known answers, tornado ranking, given-data indices with correlated inputs."""

from __future__ import annotations

import json
from pathlib import Path
import math
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import integrate, stats

from simulate.cli import cli
from simulate.distributions import Uniform
from simulate.sensitivity import (
    Target,
    conditional_partners,
    given_data_indices,
    sensitivity,
    sobol_indices,
)
from tests.conftest import CONFIGS, scenario, write_yaml

DEFAULT = str(CONFIGS / "naerbolig.yaml")
SAVING = "counterfactual.saving_per_success_year_dkk.cost.municipality"
OVERRUN = "programme.cost_overrun"
RESIDUAL = "counterfactual.success_residual_cost_per_year_dkk.mentor.state"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def linear_config() -> dict:
    """Year-1 municipal net = 10 S - 1,500,000 O: linear in the saving S and the overrun O.

    Everyone succeeds (success 1, no drop-out), the effect lasts the intake year, so nothing but
    the inputs is random. A mentor's cost paid by the state moves the state's result only: it has
    no effect on the municipality's.
    """
    return {
        "name": "linear",
        "horizon_years": 3,
        "intake_per_year": 10,
        "programme": {"cost_per_year_dkk": 1_500_000,
                      "cost_overrun": {"kind": "uniform", "low": 0.9, "high": 1.3}},
        "participants": {"dropout_probability": 0, "success_probability": 1, "intake_year_effect_fraction": 1,
                         "effect": {"duration_years": 1}},
        "counterfactual": {
            "saving_per_success_year_dkk": {"kind": "uniform", "low": 100_000, "high": 200_000},
            "success_residual_cost_per_year_dkk": {"mentor": {"state": {"kind": "uniform", "low": 0,
                                                                        "high": 50_000}}},
        },
        "discounting": {"rate": 0.0},
    }


# --- Sobol -----------------------------------------------------------------------------------------------
def test_sobol_recovers_the_ishigami_indices_within_their_confidence_intervals():
    u = Uniform.model_validate({"kind": "uniform", "low": -math.pi, "high": math.pi})

    def ishigami(v, block):
        x1, x2, x3 = v["x1"], v["x2"], v["x3"]
        return np.sin(x1) + 7 * np.sin(x2) ** 2 + 0.1 * x3 ** 4 * np.sin(x1)

    a, b = 7.0, 0.1
    var = a ** 2 / 8 + b * math.pi ** 4 / 5 + b ** 2 * math.pi ** 8 / 18 + 0.5
    v1 = 0.5 * (1 + b * math.pi ** 4 / 5) ** 2
    v2 = a ** 2 / 8
    v13 = b ** 2 * math.pi ** 8 * (1 / 18 - 1 / 50)
    exact = {"x1": (v1 / var, (v1 + v13) / var), "x2": (v2 / var, v2 / var), "x3": (0.0, v13 / var)}
    res = sobol_indices({"x1": u, "x2": u, "x3": u}, ishigami, n=4096, seed=11)
    assert res["n_evaluations"] == 4096 * 5 + 4096
    for row in res["rows"]:
        s1, st = exact[row["input"]]
        assert abs(row["S1"] - s1) <= row["S1_conf"], row
        assert abs(row["ST"] - st) <= row["ST_conf"], row


def test_sobol_through_the_engine_recovers_analytic_indices_of_a_linear_model():
    var_s = 100 * (100_000 ** 2) / 12  # 10 S
    var_o = (1_500_000 * 0.4) ** 2 / 12  # 1.5 M O
    exact = {SAVING: var_s / (var_s + var_o), OVERRUN: var_o / (var_s + var_o), RESIDUAL: 0.0}
    res = sensitivity(scenario(linear_config()), method="sobol", year=1, trials=4096, seed=3)
    doc = res.doc
    assert doc["method"] == "sobol" and doc["year"] == 1 and doc["payer"] == "municipality"
    assert doc["outcome_share"] == 0.0  # nothing is random but the inputs
    assert doc["base_value"] == pytest.approx(10 * 150_000 - 1_500_000 * 1.1, abs=3 * math.sqrt(var_s + var_o) / 90)
    rows = {r["input"]: r for r in doc["rows"]}
    for path, s in exact.items():
        assert abs(rows[path]["S1"] - s) <= max(rows[path]["S1_conf"], 0.01), rows[path]
        assert abs(rows[path]["ST"] - s) <= max(rows[path]["ST_conf"], 0.01), rows[path]
    assert [r["input"] for r in doc["rows"]] == [SAVING, OVERRUN, RESIDUAL]


def with_correlation(data: dict, a: str, b: str, rho: float) -> dict:
    return {**data, "correlations": [{"between": [a, b], "rank_correlation": rho}]}


def test_sobol_groups_correlated_inputs_and_reports_the_outcome_share(default_data):
    s = scenario(with_correlation(default_data, "participants.dropout_probability", OVERRUN, 0.6))
    doc = sensitivity(s, method="sobol", trials=512, seed=1).doc
    grouped = [r for r in doc["rows"] if len(r["members"]) > 1]
    assert [r["members"] for r in grouped] == [[OVERRUN, "participants.dropout_probability"]]
    assert grouped[0]["input"] == f"{OVERRUN} + participants.dropout_probability"
    assert 0 < doc["outcome_share"] < 1
    assert doc["rows"][0]["input"] in ("participants.success_probability",
                                      "participants.effect.relapse_probability_per_year")


# --- tornado -----------------------------------------------------------------------------------------------
def test_tornado_ranks_a_constructed_scenario_and_gets_the_exact_swings():
    s = scenario(linear_config())
    for others in ("random", "base"):
        doc = sensitivity(s, method="tornado", year=1, trials=3000, seed=4, others=others).doc
        assert [r["input"] for r in doc["rows"]] == [SAVING, OVERRUN, RESIDUAL]
        swings = {r["input"]: r for r in doc["rows"]}
        # common random numbers: every other input has the same draws at low and high, so the swing is exact
        assert swings[SAVING]["swing"] == pytest.approx(10 * 80_000, rel=1e-9)
        assert swings[OVERRUN]["swing"] == pytest.approx(1_500_000 * 0.32, rel=1e-9)
        assert swings[RESIDUAL]["swing"] == 0.0
        assert swings[SAVING]["low"] == pytest.approx(110_000) and swings[SAVING]["high"] == pytest.approx(190_000)
        assert swings[OVERRUN]["metric_at_high"] < swings[OVERRUN]["metric_at_low"]


def test_tornado_on_break_even_probability_has_small_swing_errors():
    doc = sensitivity(DEFAULT, method="tornado", metric="p_break_even", trials=2000, seed=2).doc
    assert doc["rows"][0]["input"] == "participants.success_probability"
    swings = [r["swing"] for r in doc["rows"]]
    assert swings == sorted(swings, reverse=True)
    top = doc["rows"][0]
    assert top["swing"] > 10 * top["swing_se"]
    assert 0 <= doc["base_value"] <= 1


def test_correlated_partner_moves_with_the_held_input(default_data):
    a, b = "participants.success_probability", "participants.intake_year_effect_fraction"
    s = scenario(with_correlation(default_data, a, b, 1.0))
    drawn = conditional_partners(s, a, 0.1, np.random.default_rng(1), 100)
    assert np.allclose(drawn[b], s.participants.intake_year_effect_fraction.quantile(0.1))  # rank 1: at its P10 too
    assert conditional_partners(s, OVERRUN, 0.1, np.random.default_rng(1), 10) == {}
    half = scenario(with_correlation(default_data, a, b, 0.5))
    partner = conditional_partners(half, a, 0.1, np.random.default_rng(1), 20_000)[b]
    free = half.participants.intake_year_effect_fraction.mean()
    assert partner.mean() < free and partner.std() > 0  # pulled down with the held input, still uncertain


# --- given data ---------------------------------------------------------------------------------------------
def _delta_exact(mean_of, sd_cond: float, sd_y: float) -> float:
    """delta = 1/2 E_x |f_Y - f_{Y|X=x}|_1 for Gaussian Y and Y | X = x ~ N(mean_of(x), sd_cond), on a fine grid."""
    x = np.linspace(-8, 8, 1601)
    y = np.linspace(-12, 12, 6001)
    cond = stats.norm.pdf(y[None, :], mean_of(x)[:, None], sd_cond)
    l1 = integrate.trapezoid(np.abs(stats.norm.pdf(y, 0, sd_y)[None, :] - cond), y, axis=1)
    return 0.5 * integrate.trapezoid(l1 * stats.norm.pdf(x), x)


def test_given_data_indices_are_right_for_correlated_inputs():
    """Y = X1 + X3 / 2 with corr(X1, X2) = 0.6: X2 has no effect of its own but moves with X1."""
    rho = 0.6
    rng = np.random.default_rng(5)
    n = 6000
    z = rng.standard_normal((n, 3))
    x = np.column_stack([z[:, 0], rho * z[:, 0] + math.sqrt(1 - rho ** 2) * z[:, 1], z[:, 2]])
    y = x[:, 0] + 0.5 * x[:, 2]
    res = given_data_indices(x, y, rng=np.random.default_rng(6), n_boot=40)
    var = 1.25
    s1 = [1 / var, rho ** 2 / var, 0.25 / var]
    sd_y = math.sqrt(var)
    delta = [_delta_exact(lambda v: v, 0.5, sd_y),
             _delta_exact(lambda v: rho * v, math.sqrt(var - rho ** 2), sd_y),
             _delta_exact(lambda v: 0.5 * v, 1.0, sd_y)]
    for i in range(3):
        assert abs(res["S1"][i] - s1[i]) <= max(2 * res["S1_conf"][i], 0.02), (i, res["S1"][i], s1[i])
        assert abs(res["delta"][i] - delta[i]) <= max(2 * res["delta_conf"][i], 0.03), (i, res["delta"][i], delta[i])


def test_given_data_indices_for_a_binary_output():
    rng = np.random.default_rng(2)
    x = rng.random((4000, 2))
    y = (x[:, 0] > 0.5).astype(float)
    res = given_data_indices(x, y, rng=rng, n_boot=20)
    assert res["S1"][0] > 0.9 and abs(res["S1"][1]) < 0.03
    assert res["delta"][0] == pytest.approx(0.5, abs=0.05) and abs(res["delta"][1]) < 0.05


# --- command line ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "fields"), [
    ("tornado", {"input", "low", "high", "metric_at_low", "metric_at_high", "swing"}),
    ("sobol", {"input", "S1", "S1_conf", "ST", "ST_conf"}),
    ("delta", {"input", "delta", "delta_conf", "S1", "S1_conf"}),
])
def test_sensitivity_writes_the_tidy_table(tmp_path, method, fields):
    out = tmp_path / method
    trials = {"tornado": 500, "sobol": 256, "delta": 1000}[method]
    result = invoke("sensitivity", DEFAULT, "--method", method, "--trials", trials, "--year", 5, "--out", out)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "sensitivity.json").read_text())
    assert doc["method"] == method and doc["metric"] == "cumulative_net_mean" and doc["year"] == 5
    assert doc["payer"] == "municipality" and isinstance(doc["base_value"], float)
    assert doc["rows"] and all(fields <= set(r) for r in doc["rows"])
    import pandas as pd

    csv = pd.read_csv(out / "sensitivity.csv")
    assert fields <= set(csv.columns) and len(csv) == len(doc["rows"])
    if method == "tornado":
        assert list(csv["swing"]) == sorted(csv["swing"], reverse=True)


@pytest.mark.parametrize(("args", "hint"), [
    (["--method", "sobol", "--metric", "cumulative_net_p5"], "per-trial output"),
    (["--metric", "npv"], "--metric"),
    (["--year", "11"], "from 1 to 10"),
    (["--payer", "kommune"], "municipality"),
])
def test_bad_sensitivity_options(tmp_path, args, hint):
    result = invoke("sensitivity", DEFAULT, "--out", tmp_path / "o", *args)
    assert result.exit_code == 2 and hint in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_missing_salib_gives_an_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "SALib", None)
    result = invoke("sensitivity", DEFAULT, "--method", "sobol", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "pip install 'simulate[sensitivity]'" in result.output


def test_every_input_fixed_is_refused(tmp_path, brochure_data):
    config = write_yaml(tmp_path / "b.yaml", brochure_data)
    result = invoke("sensitivity", config, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "uncertain input" in result.output


def test_target_year_defaults_to_the_horizon():
    doc = sensitivity(scenario(linear_config()), method="tornado", trials=200).doc
    assert doc["year"] == 3 and Target().metric == "cumulative_net_mean"


def test_sensitivity_into_a_run_directory_keeps_the_run(tmp_path):
    from click.testing import CliRunner

    from simulate.cli import cli

    config = str(Path(__file__).resolve().parents[1] / "configs" / "naerbolig.yaml")
    run_dir = tmp_path / "run"
    runner = CliRunner()
    assert runner.invoke(cli, ["run", config, "--trials", "2000", "--out", str(run_dir)]).exit_code == 0
    before = (run_dir / "summary.json").read_bytes()
    result = runner.invoke(cli, ["sensitivity", config, "--trials", "2000", "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (run_dir / "summary.json").read_bytes() == before and (run_dir / "sensitivity.json").is_file()
    again = runner.invoke(cli, ["sensitivity", config, "--trials", "2000", "--out", str(run_dir)])
    assert again.exit_code == 2 and "--force" in again.output


def test_the_table_in_danish_and_in_english(tmp_path):
    """Danish by default: inputs by the report's names, Danish numbers; English: field paths, as the csv."""
    da = invoke("sensitivity", DEFAULT, "--trials", 500, "--out", tmp_path / "da")
    en = invoke("sensitivity", DEFAULT, "--trials", 500, "--out", tmp_path / "en", "--lang", "en")
    assert da.exit_code == 0 and en.exit_code == 0, da.output + en.output
    doc = json.loads((tmp_path / "da" / "sensitivity.json").read_text())
    assert doc == json.loads((tmp_path / "en" / "sensitivity.json").read_text())
    top = doc["rows"][0]
    da_top, en_top = da.output.splitlines()[2], en.output.splitlines()[2]
    assert da_top.startswith("Succesrate blandt dem, der gennemfører") and top["input"] == "participants.success_probability"
    assert en_top.startswith("participants.success_probability")
    swing = round(top["swing"])
    assert da_top.endswith(f"{swing:,}".replace(",", ".")) and en_top.endswith(f"{swing:,}")
    assert "middel af nettoresultatet for kommunen, akkumuleret til år 10" in da.output
    assert f"basisværdi {round(doc['base_value']):,} kr.".replace(",", ".") in da.output
    assert "Resultater skrevet til" in da.output and "Results written to" in en.output
