"""The break-even solver: the value of one input at which P(cumulative net >= 0 by year T) reaches a target.

``p(x)`` is estimated with common random numbers: every evaluation runs the
same trials (the blocks and streams of ``simulate run`` with the same seed),
with only the input at ``x`` changed (the input becomes fixed at ``x`` through
an override, so every other draw stays as it was). The estimate ``p_hat(x)`` is
then a monotone-looking step function of ``x`` instead of a cloud of noise, and
bisection finds where it crosses the target.

Monte Carlo uncertainty: at the true value ``x*``, ``p_hat(x*)`` is the share
of ``n`` trials that break even, with standard error ``sqrt(t (1 - t) / n)``.
The confidence interval is every ``x`` whose ``p_hat(x)`` is within ``z`` such
errors of the target (a test inversion), found by solving for the two levels
``t -+ z se``. Its half-width shrinks with ``1 / sqrt(n)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulate.errors import ScenarioError
from simulate.sensitivity import BREAK_EVEN_TOLERANCE_DKK, Target, check_target, net_of, run_nets

DEFAULT_TRIALS = 20_000
MAX_EXPANSIONS = 30


@dataclass
class BreakevenResult:
    """The solver's answer; ``doc`` is what ``breakeven.json`` holds."""

    doc: dict

    @property
    def value(self) -> float | None:
        return self.doc["value"]


def current_value(scenario, path: str) -> float | None:
    """The base scenario's value at ``path``: a fixed value, a distribution's mean or a list's mean."""
    from simulate.overrides import parse_path
    from simulate.scenario import numeric_inputs

    dists = numeric_inputs(scenario)
    if path in dists:
        return float(dists[path].mean())
    node: Any = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    for step in parse_path(path):
        node = node[step]
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return float(node)
    values = [v for v in node if isinstance(v, (int, float))] if isinstance(node, list) else []
    if values:
        return float(np.mean(values))
    if isinstance(node, list):
        found = [dists[f"{path}[{i}]"].mean() for i in range(len(node)) if f"{path}[{i}]" in dists]
        return float(np.mean(found)) if found else None
    return None


class _Curve:
    """``p_hat(x)`` with common random numbers, cached by ``x``."""

    def __init__(self, data, base, param, target, trials, seed, stream):
        self.data, self.base, self.param, self.target = data, base, param, target
        self.trials, self.seed, self.stream = trials, seed, stream
        self.cache: dict[float, float] = {}

    def scenario(self, x: float):
        from simulate.overrides import scenario_with

        return scenario_with(self.data, {self.param: x}, base=self.base, label="--param")

    def __call__(self, x: float) -> float:
        x = float(x)
        if x not in self.cache:
            nets = run_nets(self.scenario(x), self.target, trials=self.trials, seed=self.seed, stream=self.stream)
            self.cache[x] = float(np.mean(nets >= -BREAK_EVEN_TOLERANCE_DKK))
        return self.cache[x]

    def valid(self, x: float) -> bool:
        try:
            self.scenario(x)
            return True
        except ScenarioError:
            return False


def _crossing(curve, level: float, lo: float, hi: float, increasing: bool, tol: float) -> float | None:
    """The boundary between ``p_hat < level`` and ``p_hat >= level`` in [lo, hi] (bisection)."""
    def reached(x):
        return curve(x) >= level

    if increasing:
        if reached(lo):
            return lo
        if not reached(hi):
            return None
    else:
        if reached(hi):
            return hi
        if not reached(lo):
            return None
    # start from the tightest bracket already evaluated
    for x in sorted(curve.cache):
        if lo < x < hi:
            if reached(x) == increasing:
                hi = min(hi, x)
            else:
                lo = max(lo, x)
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if reached(mid) == increasing:
            hi = mid
        else:
            lo = mid
    return hi if increasing else lo  # the side where the level is reached


def _default_bracket(curve, current: float | None) -> tuple[float, float]:
    lo = 0.0
    if not curve.valid(lo):
        raise ScenarioError("--bracket", None, f"a range to search: 0 is not a valid value of {curve.param}; "
                            "give --bracket LOW HIGH")
    if curve.valid(1.0) and not curve.valid(1.5):  # a probability or share
        return 0.0, 1.0
    hi = max(2.0 * (current or 0.0), 1.0)
    p_lo = curve(lo) >= curve.level
    for _ in range(MAX_EXPANSIONS):
        if not curve.valid(hi):
            break
        if (curve(hi) >= curve.level) != p_lo:
            return lo, hi
        hi *= 2.0
    return lo, hi


def _expected_net(curve, x: float) -> float:
    from simulate.engine import simulate

    traj = simulate(curve.scenario(x), 1, None, mode="expected", lifetime=curve.target.accounting == "lifetime")
    return float(net_of(traj, curve.target)[0])


def _expected_root(curve, lo: float, hi: float, tol: float) -> float | None:
    """Where the point estimate (every input at its mean) breaks even, if it does in [lo, hi]."""
    f_lo, f_hi = _expected_net(curve, lo), _expected_net(curve, hi)
    if f_lo == 0:
        return lo
    if (f_lo > 0) == (f_hi > 0) and f_hi != 0:
        return None
    for _ in range(200):
        if hi - lo <= tol:
            break
        mid = 0.5 * (lo + hi)
        f_mid = _expected_net(curve, mid)
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _successes_per_year(curve, x: float) -> float:
    from simulate.engine import simulate

    traj = simulate(curve.scenario(x), 1, None, mode="expected", lifetime=False)
    return float(traj.successes[: curve.target.year, 0].mean())


def breakeven(scenario, *, param: str, target_prob: float = 0.5, year: int | None = None,
              payer: str = "municipality", discounting: str = "undiscounted", accounting: str = "realised",
              trials: int = DEFAULT_TRIALS, seed: int | None = None, bracket: tuple[float, float] | None = None,
              conf_level: float = 0.95, stream: int = 0) -> BreakevenResult:
    """The value of ``param`` at which P(cumulative net >= 0 by ``year``) reaches ``target_prob``.

    Parameters
    ----------
    scenario : path or Scenario
        The base scenario (a path keeps the file's own text for the overrides).
    param : str
        A field path, e.g. ``participants.success_probability``, ``programme.cost_overrun``,
        ``intake_per_year``. It is set to a fixed value while the rest stays as drawn.
    target_prob : float
        The probability to reach, in (0, 1).
    bracket : (low, high), optional
        Where to search; by default [0, 1] for a probability, else from 0 upwards
        (doubling) until the target is crossed.

    Returns
    -------
    BreakevenResult
        ``value`` with its standard error and confidence interval, the probability
        at the value, the base value, the point-estimate (expected-mode) break-even
        and the expected successes per year at the value.
    """
    from simulate.api import DEFAULT_SEED
    from simulate.io import load_yaml, scenario_from_data
    from simulate.overrides import check_paths

    if hasattr(scenario, "horizon_years"):
        base = scenario
        data = base.model_dump(mode="json", by_alias=True, exclude_none=True)
        file = None
    else:
        file = str(scenario)
        data, _ = load_yaml(scenario, what="CONFIG")
        base = scenario_from_data(data, file=file)
    check_paths(base, [param], where="--param")
    target = check_target(base, Target("p_break_even", year, payer, discounting, accounting), "tornado")
    seed = DEFAULT_SEED if seed is None else seed
    if isinstance(target_prob, bool) or not isinstance(target_prob, (int, float)) or not 0 < target_prob < 1:
        raise ScenarioError("--target-prob", target_prob, "a probability strictly between 0 and 1")
    if isinstance(trials, bool) or not isinstance(trials, int) or not 100 <= trials <= 10_000_000:
        raise ScenarioError("--trials", trials, "a whole number from 100 to 10,000,000")
    curve = _Curve(data, base, param, target, trials, seed, stream)
    curve.level = target_prob
    current = current_value(base, param)
    if bracket is None:
        lo, hi = _default_bracket(curve, current)
    else:
        lo, hi = (float(b) for b in bracket)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ScenarioError("--bracket", list(bracket), "LOW HIGH with LOW < HIGH")
        for x in (lo, hi):
            curve.scenario(x)  # a value outside the field's range is refused here, with the field's message
    p_lo, p_hi = curve(lo), curve(hi)
    increasing = p_hi >= p_lo
    tol = (hi - lo) * 1e-4
    value = _crossing(curve, target_prob, lo, hi, increasing, tol)
    if value is None:
        raise ScenarioError(
            "--target-prob", target_prob,
            f"a probability reached between {param} = {lo:g} (P = {p_lo:.3f}) and {hi:g} (P = {p_hi:.3f}) "
            f"by year {target.year}; give another --bracket, --year or --target-prob")
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + conf_level / 2))
    se_p = math.sqrt(target_prob * (1 - target_prob) / trials)
    at_low = _crossing(curve, max(target_prob - z * se_p, 1e-12), lo, hi, increasing, tol)
    at_high = _crossing(curve, min(target_prob + z * se_p, 1.0), lo, hi, increasing, tol)
    ci = (at_low, at_high) if increasing else (at_high, at_low)  # None: beyond the bracket on that side
    se = abs(at_high - at_low) / (2 * z) if at_low is not None and at_high is not None else None
    p_at = curve(value)
    doc = {
        "param": param,
        "value": value,
        "se": se,
        "conf_level": conf_level,
        "ci_low": ci[0],
        "ci_high": ci[1],
        "target_prob": target_prob,
        "p_at_value": p_at,
        "p_at_value_se": math.sqrt(max(p_at * (1 - p_at), 1e-300) / trials),
        "direction": "increasing" if increasing else "decreasing",
        "year": target.year,
        "payer": target.payer,
        "discounting": target.discounting,
        "accounting": target.accounting,
        "base_value": current,
        "p_at_base": _p_at_base(base, target, trials, seed, stream),
        "bracket": [lo, hi],
        "expected_mode_value": _expected_root(curve, lo, hi, tol),
        "expected_successes_per_year_at_value": _successes_per_year(curve, value),
        "trials": trials,
        "seed": seed,
        "evaluations": len(curve.cache),
        "scenario": base.name,
        "config": file,
    }
    return BreakevenResult(doc)


def _p_at_base(base, target, trials, seed, stream) -> float:
    nets = run_nets(base, target, trials=trials, seed=seed, stream=stream)
    return float(np.mean(nets >= -BREAK_EVEN_TOLERANCE_DKK))
