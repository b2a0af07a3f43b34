"""The break-even solver against values known in closed form."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from scipy.special import betaincinv

from simulate.breakeven import breakeven
from simulate.cli import cli
from tests.conftest import CONFIGS, scenario, write_yaml

BROCHURE = str(CONFIGS / "naerbolig_brochure.yaml")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def continuous_config() -> dict:
    """Year-1 net = 10 S - 1,500,000 x with S ~ U(100,000, 200,000): P(net >= 0) = (200,000 - 150,000 x) / 100,000."""
    return {
        "name": "continuous",
        "horizon_years": 2,
        "intake_per_year": 10,
        "programme": {"cost_per_year_dkk": 1_500_000, "cost_overrun": 1.0},
        "participants": {"dropout_probability": 0, "success_probability": 1, "intake_year_effect_fraction": 1,
                         "effect": {"duration_years": 1}},
        "counterfactual": {"saving_per_success_year_dkk": {"kind": "uniform", "low": 100_000, "high": 200_000}},
        "discounting": {"rate": 0.0},
    }


def binomial_config() -> dict:
    """Year-1 net = 200,000 S - 1,300,000 with S ~ Bin(10, q): break-even needs 7 successes, P = I_q(7, 4)."""
    return {
        "name": "binomial",
        "horizon_years": 1,
        "intake_per_year": 10,
        "programme": {"cost_per_year_dkk": 1_300_000},
        "participants": {"dropout_probability": 0, "success_probability": {"kind": "beta", "a": 5, "b": 5},
                         "intake_year_effect_fraction": 1, "effect": {"duration_years": 1}},
        "counterfactual": {"saving_per_success_year_dkk": 200_000},
        "discounting": {"rate": 0.0},
    }


@pytest.mark.parametrize("target", [0.3, 0.5])
def test_recovers_the_overrun_known_in_closed_form(target):
    exact = (200_000 - target * 100_000) / 150_000
    res = breakeven(scenario(continuous_config()), param="programme.cost_overrun", target_prob=target, year=1,
                    trials=20_000, seed=5)
    doc = res.doc
    assert doc["direction"] == "decreasing"
    assert abs(res.value - exact) < 4 * doc["se"], (res.value, exact, doc["se"])
    assert doc["ci_low"] <= exact <= doc["ci_high"]
    # the interval's half-width is z * sqrt(t (1 - t) / n) / |dp/dx|, with dp/dx = -1.5
    assert doc["se"] == pytest.approx((target * (1 - target) / 20_000) ** 0.5 / 1.5, rel=0.15)
    assert doc["expected_mode_value"] == pytest.approx(1.0, abs=1e-3)  # 10 x 150,000 = 1,500,000 x
    assert doc["base_value"] == 1.0 and doc["p_at_base"] == pytest.approx(0.5, abs=0.02)


def test_recovers_the_success_probability_known_in_closed_form():
    exact = betaincinv(7, 4, 0.5)  # P(Bin(10, q) >= 7) = I_q(7, 4)
    res = breakeven(scenario(binomial_config()), param="participants.success_probability", trials=20_000, seed=2)
    doc = res.doc
    assert doc["direction"] == "increasing" and doc["year"] == 1
    assert abs(res.value - exact) < 4 * doc["se"] and doc["ci_low"] <= exact <= doc["ci_high"]
    assert doc["p_at_value"] >= 0.5
    assert doc["expected_mode_value"] == pytest.approx(0.65, abs=1e-3)  # 6.5 successes on average
    assert doc["expected_successes_per_year_at_value"] == pytest.approx(10 * res.value)


def test_the_brochure_break_even_with_its_uncertainty(tmp_path):
    out = tmp_path / "be"
    result = invoke("breakeven", BROCHURE, "--param", "participants.success_probability", "--year", 1,
                    "--trials", 5000, "--out", out)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "breakeven.json").read_text())
    # year 1: 107,500 DKK per success against 653,040 DKK needs 7 successes of 10
    assert abs(doc["value"] - betaincinv(7, 4, 0.5)) < 4 * doc["se"]
    assert "participants.success_probability" in result.output and "interval" in result.output


def test_json_output_and_intake_as_parameter():
    result = invoke("breakeven", CONFIGS / "ungifokus.yaml", "--param", "intake_per_year", "--trials", 2000, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["param"] == "intake_per_year" and doc["value"] > 0 and doc["bracket"][0] == 0.0


@pytest.mark.parametrize(("args", "hint"), [
    (["--param", "participants.succes_probability"], "did you mean 'participants.success_probability'"),
    (["--param", "participants.success_probability", "--target-prob", "1.2"], "--target-prob"),
    (["--param", "participants.success_probability", "--bracket", "0", "2"], "probability"),
    (["--param", "counterfactual.saving_per_success_year_dkk.saving.municipality", "--bracket", "0", "1000"],
     "reached"),
])
def test_bad_breakeven_requests(tmp_path, args, hint):
    result = invoke("breakeven", BROCHURE, "--trials", 1000, *args)
    assert result.exit_code == 2 and hint in result.output and "Traceback" not in result.output


def test_bad_param_in_scenario_file(tmp_path):
    config = write_yaml(tmp_path / "c.yaml", continuous_config())
    result = invoke("breakeven", config, "--param", "programme.cost_overrun", "--bracket", "-1", "2")
    assert result.exit_code == 2 and "programme.cost_overrun" in result.output


def test_the_text_in_danish_and_in_english(tmp_path):
    """Danish by default, as the run table: the input by name and path, Danish numbers; English on request."""
    args = ("breakeven", BROCHURE, "--param", "participants.success_probability", "--year", 1, "--trials", 2000)
    da = invoke(*args, "--out", tmp_path / "da")
    en = invoke(*args, "--out", tmp_path / "en", "--lang", "en")
    assert da.exit_code == 0 and en.exit_code == 0, da.output + en.output
    doc = json.loads((tmp_path / "da" / "breakeven.json").read_text())
    assert doc == json.loads((tmp_path / "en" / "breakeven.json").read_text())  # the language changes only the text
    value = f"{doc['value']:.4g}"
    assert "for kommunen ≥ 0 efter år 1) når 50 %" in da.output
    assert "ved succesrate blandt dem, der gennemfører (participants.success_probability)" in da.output
    assert f"= {value.replace('.', ',')} (" in da.output and "2.000 simuleringer" in da.output
    assert "municipality's cumulative net >= 0 by year 1) reaches 50%" in en.output
    assert f"participants.success_probability = {value} (" in en.output and "2,000 trials" in en.output
