"""Adaptive stopping: the precision asked for is the precision reached, at the first check that reaches it."""

from __future__ import annotations

import math

from simulate.api import BLOCK_TRIALS, PRECISION_CHECK_BLOCKS, run
from tests.conftest import load, scenario


def test_precision_reached_is_the_precision_asked_for():
    s = scenario(load("naerbolig.yaml"))
    target = 0.01
    result = run(s, precision=target, seed=4).summary
    prec = result["precision"]
    n = result["trials"]
    assert prec["stopped"] == "precision reached"
    assert prec["p_break_even_se"] <= target and prec["mean_rse"] <= target
    horizon = result["years"][-1]
    # the reported figures are the summary's own standard errors
    assert math.isclose(prec["p_break_even_se"], horizon["p_break_even"]["se"], rel_tol=2e-3)
    assert math.isclose(prec["mean_rse"] * max(abs(horizon["cumulative_net"]["mean"]),
                                               horizon["cumulative_net"]["sd"] / 10),
                        horizon["cumulative_net"]["mean_se"], rel_tol=2e-3)
    # stopped at the first check that reached it: one check earlier did not
    step = PRECISION_CHECK_BLOCKS * BLOCK_TRIALS
    assert n % step == 0
    if n > step:
        before = run(s, trials=n - step, seed=4).summary["years"][-1]
        se_p = before["p_break_even"]["se"]
        c = before["cumulative_net"]
        rse = c["mean_se"] / max(abs(c["mean"]), c["sd"] / 10)
        assert se_p > target or rse > target
    # and the same stopping point with two workers
    assert run(s, precision=target, seed=4, workers=2).summary["trials"] == n


def test_precision_cap_is_reported():
    s = scenario(load("naerbolig.yaml"))
    result = run(s, precision=1e-4, max_trials=2 * BLOCK_TRIALS, seed=1).summary
    assert result["precision"]["stopped"] == "max trials reached"
    assert result["trials"] == 2 * BLOCK_TRIALS
    assert any("not reached" in w for w in result["warnings"])
