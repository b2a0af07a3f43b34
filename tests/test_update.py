"""simulate update: conjugate Beta-Binomial against its closed form; re-weighting against the conjugate result."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from simulate.cli import cli
from simulate.update import SUCCESS, DROPOUT, RELAPSE, Observed, plan, update
from tests.conftest import CONFIGS, load, scenario, write_yaml

DEFAULT = str(CONFIGS / "naerbolig.yaml")
PILOT = str(CONFIGS / "observed" / "naerbolig_pilot.yaml")
DATA = {"years": [{"year": 1, "enrolled": 10, "dropped_out": 2, "succeeded": 4},
                  {"year": 2, "enrolled": 10, "dropped_out": 1, "succeeded": 5, "relapsed": 1}]}


def _beta_sd(a, b):
    return math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))


def test_plan_gives_the_closed_form_beta_binomial_posterior():
    sc = scenario(load("naerbolig.yaml"))
    steps = plan(sc, Observed.model_validate(DATA))["steps"]
    a, b = steps[SUCCESS]["prior_beta"]
    assert steps[SUCCESS]["posterior_beta"] == pytest.approx([a + 9, b + 17 - 9])  # 9 of 17 completers
    a, b = steps[DROPOUT]["prior_beta"]
    assert steps[DROPOUT]["posterior_beta"] == pytest.approx([a + 3, b + 17])  # 3 of 20 enrolled
    a, b = steps[RELAPSE]["prior_beta"]
    assert steps[RELAPSE]["posterior_beta"] == pytest.approx([a + 1, b + 3])  # 1 of the 4 active from year 1
    assert all(s["how"] == "conjugate" for s in steps.values())


@pytest.fixture(scope="module")
def both():
    sc = scenario(load("naerbolig.yaml"))
    obs = Observed.model_validate(DATA)
    return (update(sc, obs, trials=40_000, seed=3, method="auto"),
            update(sc, obs, trials=40_000, seed=3, method="importance"))


def test_conjugate_posterior_draws_have_the_closed_form_moments(both):
    conj, _ = both
    for path in (SUCCESS, DROPOUT, RELAPSE):
        a, b = conj["inputs"][path]["posterior_beta"]
        mean, sd = a / (a + b), _beta_sd(a, b)
        info = conj["inputs"][path]
        assert info["posterior_mean"] == pytest.approx(mean, abs=4 * sd / math.sqrt(40_000))
        assert info["posterior_sd"] == pytest.approx(sd, rel=0.03)


def test_importance_reweighting_agrees_with_the_conjugate_posterior(both):
    conj, imp = both
    ess = imp["method"]["effective_sample_size"]
    assert 1_000 < ess < 40_000
    for path in (SUCCESS, DROPOUT, RELAPSE):
        a, b = conj["inputs"][path]["posterior_beta"]
        mean, sd = a / (a + b), _beta_sd(a, b)
        assert imp["inputs"][path]["how"] == "importance"
        assert imp["inputs"][path]["posterior_mean"] == pytest.approx(mean, abs=4 * sd * math.sqrt(1 / ess + 1 / 40_000))
    p1, p2 = conj["posterior"]["p_break_even"], imp["posterior"]["p_break_even"]
    se = math.sqrt(p1 * (1 - p1) * (1 / 40_000 + 1 / ess))
    assert p1 == pytest.approx(p2, abs=4 * se)


def test_threshold_success_rate_is_where_the_reweighted_curve_crosses(both):
    conj, _ = both
    rate = conj["threshold_success_rate"]
    curve = conj["success_rate_curve"]
    assert rate["completers"] == 17 and len(curve) == 18
    ps = [c["p_break_even"] for c in curve]
    assert ps == sorted(ps)  # more successes observed, more likely to break even
    s = rate["successes"]
    assert ps[s] >= 0.5 and (s == 0 or ps[s - 1] < 0.5)
    # at the observed 9 of 17 the re-weighted prior run agrees with the posterior rerun
    se = math.sqrt(ps[9] * (1 - ps[9]) / curve[9]["ess"])
    assert ps[9] == pytest.approx(conj["posterior"]["p_break_even"], abs=4 * se + 0.01)


def test_update_command_writes_prior_and_posterior(tmp_path):
    out = tmp_path / "upd"
    result = CliRunner().invoke(cli, ["update", DEFAULT, "--observed", PILOT, "--trials", "5000", "--out", str(out),
                                      "--lang", "en"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "update.json").read_text())
    assert doc["inputs"]["programme.cost_overrun"]["how"] == "importance"
    assert (out / "prior" / "summary.json").is_file() and (out / "posterior" / "summary.json").is_file()
    assert "Posterior" in result.output and "threshold" in result.output


def test_update_in_danish(tmp_path):
    result = CliRunner().invoke(cli, ["update", DEFAULT, "--observed", PILOT, "--trials", "2000", "--out",
                                      str(tmp_path / "u")])
    assert result.exit_code == 0, result.output
    assert "Budgetoverskridelse (faktor) (programme.cost_overrun): " in result.output
    assert "(vægtet efter data, importance sampling)" in result.output
    assert "(eksakt Beta–binomial-opdatering)" in result.output and "\nP95 " in result.output


BAD = [
    ({"years": [{"year": 1, "enrolled": 10, "dropped_out": 2, "succeeded": 9}]}, "years[0]"),
    ({"years": [{"year": 1, "enrolled": -1, "succeeded": 0}]}, "years[0].enrolled"),
    ({"years": [{"year": 1, "enrolled": 10, "dropped_out": 11, "succeeded": 0}]}, "years[0]"),
    ({"years": [{"year": 1, "enrolled": 10, "succeeded": 2}, {"year": 3, "enrolled": 10, "succeeded": 2}]}, "years"),
    ({"years": [{"year": 1, "enrolled": 10, "succeeded": 2, "relapsed": 1}]}, "relapsed"),
    ({"years": [{"year": 1, "enrolled": 10, "succeeded": 2.5}]}, "succeeded"),
    ({"years": [{"year": 1, "enroled": 10, "succeeded": 2}]}, "enroled"),
]


@pytest.mark.parametrize("data, field", BAD)
def test_impossible_observations_exit_2_name_the_file_and_write_nothing(tmp_path, data, field):
    obs = write_yaml(tmp_path / "obs.yaml", data)
    out = tmp_path / "upd"
    result = CliRunner().invoke(cli, ["update", DEFAULT, "--observed", str(obs), "--trials", "2000", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "obs.yaml" in result.output and field in result.output
    assert not out.exists()


def test_collapsed_effective_sample_size_is_refused(tmp_path):
    obs = write_yaml(tmp_path / "obs.yaml", {"years": [{"year": 1, "enrolled": 5000, "succeeded": 4900}]})
    out = tmp_path / "upd"
    result = CliRunner().invoke(cli, ["update", DEFAULT, "--observed", str(obs), "--trials", "2000",
                                      "--method", "importance", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "effective sample size" in result.output and "obs.yaml" in result.output
    assert not out.exists()


def test_data_impossible_under_a_fixed_input_are_refused(tmp_path):
    obs = write_yaml(tmp_path / "obs.yaml", {"years": [{"year": 1, "enrolled": 500, "dropped_out": 3,
                                                        "succeeded": 50}]})
    result = CliRunner().invoke(cli, ["update", str(CONFIGS / "ungifokus.yaml"), "--observed", str(obs),
                                      "--trials", "2000"])
    assert result.exit_code == 2, result.output
    assert "dropout_probability" in result.output and "fixes it at 0" in result.output
