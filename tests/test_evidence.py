"""Evidence-level correction of effect inputs, against hand-computed shifts and spreads."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from click.testing import CliRunner

from simulate import api
from simulate.cli import cli
from simulate.engine import simulate
from simulate.errors import ScenarioError
from simulate.evidence import CORRECTION
from simulate.io import scenario_from_data
from tests.conftest import load, write_yaml


def brochure(**success) -> dict:
    data = load("naerbolig_brochure.yaml")
    data["participants"]["success_probability"].update(success)
    return data


@pytest.mark.parametrize("level, successes", [(None, 6.5), (1, 6.5), (2, 6.5 * 0.9), (3, 6.5 * 0.75)])
def test_a_fixed_success_rate_moves_towards_no_effect(level, successes):
    data = brochure() if level is None else brochure(evidence_level=level)
    result = api.run(scenario_from_data(data), mode="expected")
    assert result.summary["expected_successes_per_year"][0] == pytest.approx(successes)


def test_correction_can_be_switched_off():
    data = brochure(evidence_level=3)
    off = api.run(scenario_from_data(data), mode="expected", evidence_correction=False)
    assert off.summary["expected_successes_per_year"][0] == pytest.approx(6.5)
    assert off.summary["evidence"]["correction"] is False
    flag = api.run(scenario_from_data({**data, "evidence_correction": False}), mode="expected")
    assert flag.summary["expected_successes_per_year"][0] == pytest.approx(6.5)


@pytest.mark.parametrize("level", [2, 3])
def test_an_uncertain_input_is_shifted_and_widened(level):
    """Beta(mean 0.5, sd 0.05): corrected mean x0 + (1 - shift)(m - x0), sd (1 + widen) sd; no clipping."""
    data = brochure()
    data["participants"]["success_probability"] = {"kind": "beta", "mean": 0.5, "sd": 0.05, "evidence_level": level}
    sc = scenario_from_data(data)
    n = 200_000
    x = simulate(sc, n, np.random.default_rng(1), lifetime=False).inputs["participants.success_probability"]
    shift, widen = CORRECTION[level]
    mean, sd = (1 - shift) * 0.5, (1 + widen) * 0.05
    assert abs(x.mean() - mean) < 4 * sd / math.sqrt(n)
    assert x.std() == pytest.approx(sd, rel=0.01)


def test_relapse_moves_towards_one():
    data = brochure()
    data["participants"]["effect"] = {"relapse_probability_per_year": {"kind": "fixed", "value": 0.2,
                                                                       "evidence_level": 3}}
    sc = scenario_from_data(data)
    v = simulate(sc, 1, None, mode="expected", lifetime=False).inputs
    assert v["participants.effect.relapse_probability_per_year"] == pytest.approx(1 - 0.75 * 0.8)


def test_ranks_are_kept_under_a_correlation():
    data = brochure()
    data["participants"]["success_probability"] = {"kind": "beta", "mean": 0.5, "sd": 0.1, "evidence_level": 3}
    data["participants"]["dropout_probability"] = {"kind": "beta", "mean": 0.2, "sd": 0.05}
    data["correlations"] = [{"between": ["participants.success_probability", "participants.dropout_probability"],
                             "rank_correlation": -0.6}]
    from scipy.stats import spearmanr

    v = simulate(scenario_from_data(data), 50_000, np.random.default_rng(2), lifetime=False).inputs
    rho = spearmanr(v["participants.success_probability"], v["participants.dropout_probability"]).statistic
    assert rho == pytest.approx(-0.6, abs=0.02)


def test_evidence_level_on_a_cost_is_refused(tmp_path):
    data = brochure()
    data["counterfactual"]["saving_per_success_year_dkk"]["saving"]["municipality"]["evidence_level"] = 3
    with pytest.raises(ScenarioError, match="applies only to the effect inputs"):
        scenario_from_data(copy.deepcopy(data))
    path = write_yaml(tmp_path / "s.yaml", data)
    res = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "evidence_level" in res.output and not (tmp_path / "o").exists()


def test_describe_and_run_show_the_correction(tmp_path):
    path = write_yaml(tmp_path / "s.yaml", brochure(evidence_level=3))
    res = CliRunner().invoke(cli, ["describe", str(path), "--lang", "en"])
    assert res.exit_code == 0 and "Evidence level 3, corrected" in res.output and "0.4875" in res.output
    res = CliRunner().invoke(cli, ["describe", str(path), "--lang", "en", "--no-evidence-correction"])
    assert "Evidence level 3 (not corrected)" in res.output
    res = CliRunner().invoke(cli, ["run", str(path), "--mode", "expected", "--lang", "en", "--no-evidence-correction",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 0 and "Evidence correction off" in res.output


def test_update_reweights_a_corrected_input_instead_of_the_written_beta():
    """With the correction on, the prior is the corrected input: no conjugate update of the Beta as written."""
    from simulate.update import plan, read_observed
    from tests.conftest import CONFIGS

    observed = read_observed(CONFIGS / "observed" / "naerbolig_pilot.yaml")
    data = load("naerbolig.yaml")
    data["participants"]["success_probability"]["evidence_level"] = 3
    steps = plan(scenario_from_data(copy.deepcopy(data)), observed)["steps"]
    assert steps["participants.success_probability"]["how"] == "importance"
    steps = plan(scenario_from_data({**data, "evidence_correction": False}), observed)["steps"]
    assert steps["participants.success_probability"]["how"] == "conjugate"
