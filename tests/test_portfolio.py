"""Portfolios: independent programmes add up; shared shocks correlate as the copula says; bad files are refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from simulate import api
from simulate.cli import cli
from simulate.portfolio import _shock_inputs, read_portfolio, run_portfolio
from tests.conftest import CONFIGS


def write_portfolio(tmp_path, programmes, shocks=()):
    doc = {"name": "test", "programmes": programmes, "shared_shocks": list(shocks)}
    path = tmp_path / "pf.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


FILES = [str(CONFIGS / "naerbolig.yaml"), str(CONFIGS / "hjem_job_helhed.yaml")]


def test_independent_programmes_add_means_and_variances(tmp_path):
    path = write_portfolio(tmp_path, [{"scenario": f} for f in FILES])
    pf, names, scenarios = read_portfolio(path)
    n = 20_000
    doc = run_portfolio(pf, names, scenarios, trials=n, seed=11)
    sds = []
    for i, sc in enumerate(scenarios):
        alone = api.run(sc, trials=n, seed=11, stream=i + 1).summary["years"]
        # the programme in the portfolio is the separate run with the same streams: the same numbers
        assert doc["programmes"][i]["mean_by_year"] == pytest.approx([y["cumulative_net"]["mean"] for y in alone],
                                                                     abs=0.02)
        assert doc["programmes"][i]["horizon"]["sd"] == pytest.approx(alone[-1]["cumulative_net"]["sd"], rel=1e-6)
        sds.append(alone[-1]["cumulative_net"]["sd"])
    last = doc["years"][-1]["cumulative_net"]
    assert last["mean"] == pytest.approx(sum(p["horizon"]["mean"] for p in doc["programmes"]), abs=0.05)
    # independent: var(S) = sum var(X_i) up to the sampling error of the covariance, sd_i sd_j / sqrt(n)
    assert abs(last["sd"] ** 2 - sum(s * s for s in sds)) < 4 * 2 * sds[0] * sds[1] / math.sqrt(n)
    assert sum(p["share_of_variance"] for p in doc["programmes"]) == pytest.approx(1.0, abs=1e-5)


def test_a_shared_shock_correlates_inputs_as_the_gaussian_copula_says(tmp_path):
    r = 0.8
    link = "participants.success_probability"
    path = write_portfolio(
        tmp_path, [{"scenario": FILES[0], "name": "a"}, {"scenario": FILES[0], "name": "b"}],
        [{"name": "labour", "links": [{"programme": "a", "input": link, "rank_correlation": r},
                                      {"programme": "b", "input": link, "rank_correlation": r}]}])
    pf, names, scenarios = read_portfolio(path)
    from scipy.stats import spearmanr

    draws = _shock_inputs(pf, names, scenarios, 3, 0, 100_000)
    rho = 2 * math.sin(math.pi * r / 6)
    expected = 6 / math.pi * math.asin(rho * rho / 2)  # rank correlation of two inputs loading rho on one factor
    assert spearmanr(draws[0][link], draws[1][link]).statistic == pytest.approx(expected, abs=0.01)
    dist = scenarios[0].participants.success_probability
    assert draws[0][link].mean() == pytest.approx(dist.mean(), abs=4 * dist.sd() / math.sqrt(100_000))
    # positively correlated programmes: the portfolio's variance exceeds the sum of the programmes'
    doc = run_portfolio(pf, names, scenarios, trials=20_000, seed=3)
    assert doc["variance"]["portfolio"] > 1.2 * doc["variance"]["sum_of_programmes"]


@pytest.mark.parametrize("change, field, value", [
    ({"programmes": [{"scenario": FILES[0]}, {"scenario": "nope.yaml"}]}, "programmes[1].scenario", "nope.yaml"),
    ({"shared_shocks": [{"name": "x", "links": [{"programme": "ghost", "input": "participants.success_probability",
                                                 "rank_correlation": 0.5}]}]}, "programme", "ghost"),
    ({"shared_shocks": [{"name": "x", "links": [{"programme": "a", "input": "participants.nothing",
                                                 "rank_correlation": 0.5}]}]}, "input", "participants.nothing"),
])
def test_bad_portfolios_are_refused_with_exit_2_and_nothing_written(tmp_path, change, field, value):
    doc = {"name": "t", "programmes": [{"scenario": FILES[0], "name": "a"}], **change}
    path = tmp_path / "pf.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    out = tmp_path / "o"
    res = CliRunner().invoke(cli, ["portfolio", str(path), "--trials", "100", "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "pf.yaml" in res.output and field in res.output and value in res.output
    assert not out.exists()


def test_shipped_portfolio_runs(tmp_path):
    out = tmp_path / "o"
    res = CliRunner().invoke(cli, ["portfolio", str(CONFIGS / "portfolio_aarhus.yaml"), "--trials", "2000",
                                   "--out", str(out), "--lang", "en"])
    assert res.exit_code == 0, res.output
    assert (out / "portfolio.json").is_file() and "share of the variance" in res.output
    assert np.isfinite(np.array([p["share_of_variance"] for p in
                                 __import__("json").loads((out / "portfolio.json").read_text())["programmes"]])).all()
