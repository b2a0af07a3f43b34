"""The fast engine against the straightforward reference engine: the same law.

Two independent samples (different random streams) of the same scenario, compared with two-sample tests:
Kolmogorov-Smirnov on the cumulative municipal net at years 1, 3 and the horizon; chi-square on the payback
year; a two-proportion z-test on P(break-even) in every year. With several tests per scenario a p-value
below 0.001 fails. The default run uses 100,000 trials per engine; `-m slow` repeats it at 1,000,000.
"""

from __future__ import annotations


import numpy as np
import pytest
from scipy import stats

from simulate.api import blocks_of, block_rng
from simulate.engine import simulate
from simulate.metrics import cumulative_nets
from simulate.reference import simulate_reference
from tests.conftest import load, scenario
from tests.test_engine import config_chain

P_FLOOR = 1e-3


def sample_nets(s, trials: int, engine, stream: int) -> np.ndarray:
    """(n_years, trials) cumulative undiscounted municipal net."""
    out = []
    for block, n in blocks_of(trials):
        traj = engine(s, n, block_rng(99, block, stream), lifetime=False)
        out.append(cumulative_nets(traj, "realised")[2][0, 0])
    return np.concatenate(out, axis=1)


def payback(nets: np.ndarray) -> np.ndarray:
    reached = nets >= -0.5
    first = np.where(reached.any(axis=0), reached.argmax(axis=0), nets.shape[0])
    return np.bincount(first, minlength=nets.shape[0] + 1)


def compare(s, trials: int) -> dict:
    fast = sample_nets(s, trials, simulate, 1)
    ref = sample_nets(s, trials, simulate_reference, 2)
    H = fast.shape[0]
    p = {}
    for t in sorted({1, 3, H}):
        p[f"ks_year{t}"] = stats.ks_2samp(fast[t - 1], ref[t - 1]).pvalue
    a, b = payback(fast), payback(ref)
    keep = (a + b) > 0
    p["chi2_payback"] = stats.chi2_contingency(np.vstack([a[keep], b[keep]]))[1] if keep.sum() > 1 else 1.0
    pa, pb = (fast >= -0.5).mean(axis=1), (ref >= -0.5).mean(axis=1)
    pooled = (pa + pb) / 2
    se = np.sqrt(np.maximum(pooled * (1 - pooled), 1e-300) * 2 / trials)
    z = np.where(se > 0, (pa - pb) / se, 0.0)
    p["z_break_even_min"] = float(2 * stats.norm.sf(np.abs(z)).min())
    return p


def scenarios():
    hjh = load("hjem_job_helhed.yaml")
    chain = config_chain()
    chain["intake_per_year"] = [5, 10, 40]  # both the per-young-person and the binomial path
    return {"naerbolig": load("naerbolig.yaml"), "hjem_job_helhed": hjh, "chain": chain}


@pytest.mark.parametrize("name", list(scenarios()))
def test_fast_engine_has_the_reference_law(name):
    p = compare(scenario(scenarios()[name]), 100_000)
    assert min(p.values()) > P_FLOOR, p


@pytest.mark.slow
@pytest.mark.parametrize("name", list(scenarios()))
def test_fast_engine_has_the_reference_law_at_a_million_trials(name):
    p = compare(scenario(scenarios()[name]), 1_000_000)
    print(name, {k: round(v, 4) for k, v in p.items()})
    assert min(p.values()) > P_FLOOR, p
