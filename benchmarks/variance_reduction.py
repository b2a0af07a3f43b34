"""Variance reduction by conditioning on the inputs: is it worth it for the headline metrics?

For each trial, the random outcomes (who succeeds, how long) are replaced by their expectation given the
trial's drawn inputs: E[net | inputs] has the same mean as the net but a smaller variance. This script
measures, on the default scenario, the variance of both estimators of the mean cumulative municipal net at
the horizon and the time per trial of each, and prints the gain in precision per second.

It cannot serve P(break-even) or the quantiles: those are properties of the net's distribution, which
conditioning changes (it removes the individual outcomes' spread). So it is kept as this measurement and
not as an engine option.

    python benchmarks/variance_reduction.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from simulate.api import BLOCK_TRIALS, block_rng
from simulate.engine import simulate
from simulate.io import read_scenario
from simulate.metrics import cumulative_nets
from simulate.sampling import draw_inputs

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "naerbolig.yaml"


def main(blocks: int = 12) -> None:
    s = read_scenario(CONFIG)
    plain, conditioned, t_plain, t_cond = [], [], 0.0, 0.0
    for b in range(blocks):
        t0 = time.perf_counter()
        traj = simulate(s, BLOCK_TRIALS, block_rng(1, b), lifetime=False)
        plain.append(cumulative_nets(traj, "realised")[2][0, 0, -1])
        t1 = time.perf_counter()
        inputs = {k: v for k, v in draw_inputs(s, BLOCK_TRIALS, block_rng(1, b)).items() if np.ndim(v)}
        traj = simulate(s, BLOCK_TRIALS, None, mode="expected", lifetime=False, given_inputs=inputs)
        conditioned.append(cumulative_nets(traj, "realised")[2][0, 0, -1])
        t2 = time.perf_counter()
        t_plain, t_cond = t_plain + (t1 - t0), t_cond + (t2 - t1)
    plain, conditioned = np.concatenate(plain), np.concatenate(conditioned)
    n = len(plain)
    v_plain, v_cond = plain.var(ddof=1), conditioned.var(ddof=1)
    gain = (v_plain * t_plain) / (v_cond * t_cond)
    print(f"{n:,} trials of the default scenario, mean cumulative municipal net after 10 years")
    print(f"  plain Monte Carlo : mean {plain.mean():12,.0f} DKK, se {np.sqrt(v_plain / n):9,.0f}, "
          f"{n / t_plain:9,.0f} trials/s")
    print(f"  conditioned       : mean {conditioned.mean():12,.0f} DKK, se {np.sqrt(v_cond / n):9,.0f}, "
          f"{n / t_cond:9,.0f} trials/s")
    print(f"  variance ratio {v_plain / v_cond:.2f}; precision per second gained: {gain:.2f}x (for the mean only)")


if __name__ == "__main__":
    main()
