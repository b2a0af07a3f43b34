"""Which assumption drives the result: tornado swings, Sobol indices and the given-data delta measure.

Every method works on one *target*: a metric of a payer's cumulative net at
year ``T`` (undiscounted or discounted, under an accounting). Per trial the
output is the cumulative net (metric ``cumulative_net_mean``) or whether it is
>= 0 (metric ``p_break_even``, an indicator whose mean is the probability).

- **tornado**: each uncertain input held at its P10 and at its P90 while the
  others stay random (or at their means), with common random numbers: every
  run uses the same blocks and streams as ``simulate run`` with the same seed,
  so the only thing that differs between the low and the high run is the input.
- **sobol**: first- and total-order indices through SALib's Sobol'/Saltelli
  design and estimators. The engine is evaluated once per design block (A, B
  and one AB matrix per input), each call vectorised over all N rows. Inputs
  linked by rank correlations form a group that is sampled jointly through the
  scenario's copula, so the design keeps the correlations and the indices are
  those of the groups (the variance decomposition needs independent factors).
- **delta**: Borgonovo's moment-independent delta and the first-order index
  estimated from given data (the samples of an ordinary run, Plischke et al.
  2013), which stay defined and estimable when inputs are correlated.

Pure functions: the randomness comes from the seed, in the project's block streams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from simulate.errors import ScenarioError

METHODS = ("tornado", "sobol", "delta")
TRIAL_METRICS = ("cumulative_net_mean", "p_break_even")
METRICS = TRIAL_METRICS + ("cumulative_net_p5", "cumulative_net_p50", "cumulative_net_p95")
DEFAULT_TRIALS = {"tornado": 20_000, "sobol": 4_096, "delta": 5_000}
BREAK_EVEN_TOLERANCE_DKK = 0.5


@dataclass(frozen=True)
class Target:
    """What the sensitivity is of: ``metric`` of ``payer``'s cumulative net at ``year``."""

    metric: str = "cumulative_net_mean"
    year: int | None = None  # None: the horizon
    payer: str = "municipality"
    discounting: str = "undiscounted"
    accounting: str = "realised"


@dataclass
class SensitivityResult:
    """The document written to ``sensitivity.json``; ``table`` gives its rows as a DataFrame."""

    doc: dict
    notes: list[str] = field(default_factory=list)

    @property
    def table(self):
        import pandas as pd

        return pd.DataFrame(self.doc["rows"])


# --- targets -----------------------------------------------------------------------------------------
def check_target(scenario, target: Target, method: str) -> Target:
    """Refuse a bad target with a :class:`ScenarioError`; returns it with the year filled in."""
    from simulate.metrics import ACCOUNTINGS
    from simulate.scenario import check_payer

    if method not in METHODS:
        raise ScenarioError("--method", method, "one of " + ", ".join(METHODS))
    allowed = METRICS if method == "tornado" else TRIAL_METRICS
    if target.metric not in allowed:
        why = "" if method == "tornado" else f" ({method} decomposes a per-trial output)"
        raise ScenarioError("--metric", target.metric, "one of " + ", ".join(allowed) + why)
    year = scenario.horizon_years if target.year is None else target.year
    if isinstance(year, bool) or not isinstance(year, int) or not 1 <= year <= scenario.horizon_years:
        raise ScenarioError("--year", year, f"a programme year from 1 to {scenario.horizon_years}")
    check_payer(scenario, target.payer)
    if target.discounting not in ("undiscounted", "discounted"):
        raise ScenarioError("--discounting", target.discounting, "undiscounted or discounted")
    if target.accounting not in ACCOUNTINGS:
        raise ScenarioError("--accounting", target.accounting, "one of " + ", ".join(ACCOUNTINGS))
    return Target(target.metric, year, target.payer, target.discounting, target.accounting)


def net_of(traj, target: Target) -> np.ndarray:
    """The per-trial cumulative net of the target ``(n_trials,)`` [DKK]."""
    from simulate.metrics import cumulative_nets
    from simulate.scenario import TOTAL

    _, _, cum_net = cumulative_nets(traj, target.accounting)
    p = [*traj.payers, TOTAL].index(target.payer)
    d = 0 if target.discounting == "undiscounted" else 1
    return cum_net[p, d, target.year - 1]


def trial_output(net: np.ndarray, metric: str) -> np.ndarray:
    """The per-trial output whose mean (or spread) the metric is."""
    if metric == "p_break_even":
        return (net >= -BREAK_EVEN_TOLERANCE_DKK).astype(float)
    return net


def statistic(net: np.ndarray, metric: str) -> float:
    """The metric of a sample of cumulative nets."""
    if metric == "p_break_even":
        return float(np.mean(net >= -BREAK_EVEN_TOLERANCE_DKK))
    if metric == "cumulative_net_mean":
        return float(np.mean(net))
    q = {"cumulative_net_p5": 0.05, "cumulative_net_p50": 0.5, "cumulative_net_p95": 0.95}[metric]
    return float(np.quantile(net, q))


def run_nets(scenario, target: Target, *, trials: int, seed: int, stream: int = 0,
             given: Callable[[np.random.Generator, int], dict] | None = None) -> np.ndarray:
    """Per-trial cumulative nets of the target over ``trials``, in the blocks and streams of
    :func:`simulate.api.run` (so the same seed gives the same trials as ``simulate run``).

    ``given(rng, n)`` returns the ``given_inputs`` of a block of ``n`` trials.
    """
    from simulate.api import block_rng, blocks_of
    from simulate.engine import simulate

    lifetime = target.accounting == "lifetime"
    out = np.empty(trials)
    start = 0
    for block, n in blocks_of(trials):
        rng = block_rng(seed, block, stream)
        traj = simulate(scenario, n, rng, lifetime=lifetime, given_inputs=given(rng, n) if given else None)
        out[start:start + n] = net_of(traj, target)
        start += n
    return out


# --- correlations ----------------------------------------------------------------------------------------
def correlation_groups(scenario, paths: list[str]) -> list[list[str]]:
    """``paths`` split into groups linked by rank correlations (connected components), in path order."""
    parent = {p: p for p in paths}

    def find(p):
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    for corr in scenario.correlations:
        a, b = corr.between
        if a in parent and b in parent and corr.rank_correlation != 0:
            parent[find(a)] = find(b)
    groups: dict[str, list[str]] = {}
    for p in paths:
        groups.setdefault(find(p), []).append(p)
    return list(groups.values())


def _copula_rho(scenario, names: list[str]) -> np.ndarray:
    """The Gaussian copula's correlation matrix of ``names`` (identity where not correlated)."""
    from simulate.sampling import pearson_from_rank

    rank = np.eye(len(names))
    for corr in scenario.correlations:
        a, b = corr.between
        if a in names and b in names:
            i, j = names.index(a), names.index(b)
            rank[i, j] = rank[j, i] = corr.rank_correlation
    return pearson_from_rank(rank)


def conditional_partners(scenario, path: str, q: float, rng: np.random.Generator, n: int) -> dict:
    """Draws of ``path``'s correlated partners given that ``path`` is at its quantile ``q``.

    Under the Gaussian copula the partners' normal scores given ``z = Phi^-1(q)``
    are normal with mean ``rho[-i, i] z`` and covariance ``rho[-i, -i] - rho[-i, i] rho[i, -i]``.
    """
    from scipy.special import ndtr, ndtri

    from simulate.sampling import child_rng, copula_factor
    from simulate.scenario import uncertain_inputs

    group = next((g for g in correlation_groups(scenario, list(uncertain_inputs(scenario))) if path in g), [path])
    if len(group) == 1:
        return {}
    rho = _copula_rho(scenario, group)
    i = group.index(path)
    others = [k for k in range(len(group)) if k != i]
    z = float(ndtri(q))
    mean = rho[others, i] * z
    cov = rho[np.ix_(others, others)] - np.outer(rho[others, i], rho[i, others])
    eps = child_rng(rng, "conditional:" + path).standard_normal((len(others), n))
    zs = mean[:, None] + copula_factor(cov) @ eps
    u = np.clip(ndtr(zs), 1e-15, 1 - 1e-15)
    dists = uncertain_inputs(scenario)
    return {group[k]: dists[group[k]].ppf(u[j]) for j, k in enumerate(others)}


# --- tornado ---------------------------------------------------------------------------------------------
def tornado(scenario, target: Target, *, trials: int, seed: int, others: str = "random",
            quantiles: tuple[float, float] = (0.1, 0.9), inputs: list[str] | None = None) -> dict:
    """Swing of the metric as each uncertain input moves from its P10 to its P90.

    ``others="random"``: the other inputs keep their draws (common random
    numbers; correlated partners are drawn given the held input);
    ``others="base"``: the other inputs sit at their means. Rows are sorted by swing.
    """
    from simulate.scenario import uncertain_inputs

    if others not in ("random", "base"):
        raise ScenarioError("--others", others, "random or base")
    lo_q, hi_q = quantiles
    dists = uncertain_inputs(scenario)
    paths = _chosen(dists, inputs)
    means = {p: float(d.mean()) for p, d in dists.items()}

    def given_at(path, value, q):
        def given(rng, n):
            g = {} if others == "random" else {p: m for p, m in means.items() if p != path}
            if others == "random":
                g.update(conditional_partners(scenario, path, q, rng, n))
            g[path] = value
            return g
        return given

    base_given = (lambda rng, n: dict(means)) if others == "base" else None
    base = run_nets(scenario, target, trials=trials, seed=seed, given=base_given)
    rows = []
    for path in paths:
        low, high = (float(x) for x in dists[path].quantile(np.array([lo_q, hi_q])))
        net_lo = run_nets(scenario, target, trials=trials, seed=seed, given=given_at(path, low, lo_q))
        net_hi = run_nets(scenario, target, trials=trials, seed=seed, given=given_at(path, high, hi_q))
        m_lo, m_hi = statistic(net_lo, target.metric), statistic(net_hi, target.metric)
        se = None
        if target.metric in TRIAL_METRICS:
            diff = trial_output(net_hi, target.metric) - trial_output(net_lo, target.metric)
            se = float(diff.std(ddof=1) / math.sqrt(trials)) if trials > 1 else None
        rows.append({"input": path, "low": low, "high": high, "metric_at_low": m_lo, "metric_at_high": m_hi,
                     "swing": abs(m_hi - m_lo), "swing_se": se, "direction": _direction(m_lo, m_hi)})
    rows.sort(key=lambda r: (-r["swing"], r["input"]))
    return {"base_value": statistic(base, target.metric), "rows": rows, "trials": trials,
            "n_evaluations": trials * (2 * len(paths) + 1), "others": others,
            "quantiles": list(quantiles)}


def _direction(lo: float, hi: float) -> str:
    return "up" if hi > lo else "down" if hi < lo else "none"


def _chosen(dists: dict, inputs: list[str] | None) -> list[str]:
    from simulate._model import closest

    if not dists:
        raise ScenarioError("inputs", "every input is fixed", "a scenario with at least one uncertain input")
    if inputs is None:
        return list(dists)
    for p in inputs:
        if p not in dists:
            guess = closest(p, list(dists))
            raise ScenarioError("--input", p, "an uncertain input of the scenario" +
                                (f"; did you mean {guess!r}?" if guess else ""))
    return list(inputs)


# --- Sobol -----------------------------------------------------------------------------------------------
def sobol_indices(marginals: dict, evaluate: Callable[[dict, str], np.ndarray], *, n: int, seed: int,
                  groups: list[list[str]] | None = None, rho: Callable[[list[str]], np.ndarray] | None = None,
                  num_resamples: int = 200, conf_level: float = 0.95) -> dict:
    """First- and total-order Sobol indices of a vectorised model, with SALib.

    Parameters
    ----------
    marginals : dict
        name -> distribution (with ``ppf``).
    evaluate : callable
        ``evaluate(values, block)`` -> outputs ``(m,)`` for ``values`` name -> ``(m,)``;
        ``block`` is ``"A"``, ``"AB:<group index>"`` or ``"B"``. Rows j of A and of
        every AB share whatever else is random (common random numbers); B gets its own.
    n : int
        Base sample size (rounded up to a power of 2); the model is evaluated
        ``n * (groups + 2)`` times in ``groups + 2`` calls.
    groups : list of lists, optional
        Names moved together (one index per group); ``rho(group)`` gives a group's
        copula correlation so its members are sampled jointly.
    """
    from scipy.special import ndtr, ndtri
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    from simulate.sampling import copula_factor

    names = list(marginals)
    groups = groups or [[nm] for nm in names]
    label = {nm: " + ".join(g) for g in groups for nm in g}
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    if any(len(g) > 1 for g in groups):
        problem["groups"] = [label[nm] for nm in names]
    n = 1 << max(1, math.ceil(math.log2(max(n, 2))))
    u = sobol_sample.sample(problem, n, calc_second_order=False, seed=seed)
    u = np.clip(u, 0.5 / (n * 64), 1 - 0.5 / (n * 64))
    if rho is not None:
        for g in groups:
            if len(g) > 1:
                cols = [names.index(nm) for nm in g]
                z = ndtri(u[:, cols]) @ copula_factor(rho(g)).T
                u[:, cols] = np.clip(ndtr(z), 1e-15, 1 - 1e-15)
    k = len(groups)
    step = k + 2
    y = np.empty(u.shape[0])
    for j, block in enumerate(["A", *[f"AB:{i}" for i in range(k)], "B"]):
        y[j::step] = evaluate(_values(marginals, names, u[j::step]), block)
    # A again with fresh outcome randomness: the noise variance of a stochastic model
    y_a2 = evaluate(_values(marginals, names, u[0::step]), "A'")
    if np.ptp(y) == 0:
        raise ScenarioError("--metric", "the output is the same in every trial",
                            "an output that varies with the inputs (choose another year or metric)")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        si = sobol_analyze.analyze(problem, y, calc_second_order=False, num_resamples=num_resamples,
                                   conf_level=conf_level, seed=seed + 1)
    ya, yb = y[0::step], y[step - 1::step]
    noise, noise_conf = _noise_share(ya, y_a2, yb, num_resamples, conf_level, seed + 2)
    rows = []
    for i, g in enumerate(groups):
        st, st_conf = float(si["ST"][i]), float(si["ST_conf"][i])
        if noise > 0:  # Jansen's estimator counts the outcome noise of both runs in every input's share
            st, st_conf = st - noise, math.hypot(st_conf, noise_conf)
        rows.append({"input": " + ".join(g), "S1": float(si["S1"][i]), "S1_conf": float(si["S1_conf"][i]),
                     "ST": st, "ST_conf": st_conf, "members": list(g)})
    return {"rows": rows, "n": n, "n_evaluations": int(y.size + y_a2.size), "y_a": ya, "y_b": yb,
            "outcome_share": noise, "outcome_share_conf": noise_conf}


def _values(marginals: dict, names: list[str], u: np.ndarray) -> dict:
    return {nm: np.asarray(marginals[nm].ppf(u[:, c]), dtype=float) for c, nm in enumerate(names)}


def _noise_share(ya: np.ndarray, ya2: np.ndarray, yb: np.ndarray, num_resamples: int, conf_level: float,
                 seed: int) -> tuple[float, float]:
    """Share of the output variance that is outcome noise given the inputs, ``E[Var(Y | X)] / Var(Y)``.

    From two runs of the same input rows with independent randomness:
    ``E[(Y_A - Y_A')^2] / 2``; normalised like SALib's estimators.
    """
    from scipy.stats import norm

    if np.array_equal(ya, ya2):
        return 0.0, 0.0

    def share(idx):
        var = np.var(np.r_[ya[idx], yb[idx]])
        return 0.5 * np.mean((ya[idx] - ya2[idx]) ** 2) / var if var > 0 else 0.0

    n = ya.size
    rng = np.random.default_rng(seed)
    boot = np.array([share(rng.integers(0, n, n)) for _ in range(num_resamples)])
    return float(share(np.arange(n))), float(norm.ppf(0.5 + conf_level / 2) * boot.std(ddof=1))


def sobol(scenario, target: Target, *, n: int, seed: int, num_resamples: int = 200, conf_level: float = 0.95,
          stream: int = 0) -> dict:
    """Sobol indices of the target's per-trial output over the scenario's uncertain inputs."""
    from simulate.engine import simulate
    from simulate.scenario import uncertain_inputs

    dists = uncertain_inputs(scenario)
    paths = _chosen(dists, None)
    groups = correlation_groups(scenario, paths)
    lifetime = target.accounting == "lifetime"
    # Each design block gets its own outcome randomness (independent noise, so SALib's S1 estimator is
    # unbiased); A is run twice to measure the noise and take it out of the total-order estimator.
    keys = {"A": 0, "A'": 1, "B": 2}

    def evaluate(values, block):
        key = keys[block] if block in keys else 3 + int(block.split(":")[1])
        rng = np.random.default_rng([stream, key, seed, 0x50B0])
        traj = simulate(scenario, len(next(iter(values.values()))), rng, lifetime=lifetime, given_inputs=values)
        return trial_output(net_of(traj, target), target.metric)

    res = sobol_indices(dists, evaluate, n=n, seed=seed % (2**32), groups=groups,
                        rho=lambda g: _copula_rho(scenario, g), num_resamples=num_resamples,
                        conf_level=conf_level)
    rows = sorted(res["rows"], key=lambda r: (-r["ST"], r["input"]))
    base = float(np.mean(np.concatenate([res["y_a"], res["y_b"]])))
    notes = []
    if any(len(g) > 1 for g in groups):
        notes.append("inputs linked by rank correlations are one group (sampled jointly through the copula); "
                     "their row gives the group's indices")
    notes.append("indices are shares of the output variance explained by the inputs through the expected "
                 "outcome; outcome_share is the part due to individual outcomes (who succeeds, relapses, "
                 "becomes homeless) given the inputs")
    return {"base_value": base, "rows": rows, "n": res["n"], "n_evaluations": res["n_evaluations"],
            "conf_level": conf_level, "outcome_share": res["outcome_share"],
            "outcome_share_conf": res["outcome_share_conf"], "notes": notes}


# --- given data: delta and first order ---------------------------------------------------------------
def _n_classes(n: int) -> int:
    """Equal-frequency classes for given-data estimators (Plischke et al. 2013, as in SALib)."""
    exp = 2.0 / (7.0 + math.tanh((1500.0 - n) / 500.0))
    return int(max(2, min(math.ceil(n ** exp), 48)))


def _class_index(x: np.ndarray, m: int) -> np.ndarray:
    """Class (0..m-1) of each point by the rank of ``x`` ``(n_boot, n)``."""
    n = x.shape[-1]
    ranks = np.argsort(np.argsort(x, axis=-1, kind="stable"), axis=-1, kind="stable")
    return np.minimum(ranks * m // n, m - 1)


def _kde(y: np.ndarray, grid: np.ndarray, h: float) -> np.ndarray:
    z = (grid[:, None] - y[None, :]) / h
    return np.exp(-0.5 * z * z).sum(axis=1) / (y.size * h * math.sqrt(2 * math.pi))


def _silverman(y: np.ndarray) -> float:
    """scipy's ``gaussian_kde(bw_method="silverman")`` bandwidth for one dimension."""
    sd = y.std(ddof=1) if y.size > 1 else 0.0
    return sd * (y.size * 3.0 / 4.0) ** (-1.0 / 5.0)


def _delta_s1(x: np.ndarray, y: np.ndarray, m: int, grid: np.ndarray, binary: bool) -> tuple[float, float]:
    """Plischke's delta estimator (eq. 26) and the first-order index from ``m`` classes of ``x``."""
    n = y.size
    cls = _class_index(x, m)
    var = y.var()
    mean = y.mean()
    counts = np.bincount(cls, minlength=m)
    sums = np.bincount(cls, weights=y, minlength=m)
    cmeans = np.divide(sums, counts, out=np.zeros(m), where=counts > 0)
    s1 = float(np.sum(counts * (cmeans - mean) ** 2) / (n * var)) if var > 0 else 0.0
    s1 -= (m - 1) / (n - 1) * (1 - s1)  # remove the expected between-class share of pure noise
    if binary:
        return float(np.sum(counts / n * np.abs(cmeans - mean))), s1
    h_all = _silverman(y)
    f = _kde(y, grid, h_all) if h_all > 0 else None
    if f is None:
        return 0.0, s1
    d = 0.0
    for c in range(m):
        yc = y[cls == c]
        if yc.size == 0:
            continue
        h = _silverman(yc)
        fc = _kde(yc, grid, h if h > 0 else h_all)
        d += yc.size / (2 * n) * np.trapezoid(np.abs(f - fc), grid)
    return float(d), s1


def given_data_indices(x: np.ndarray, y: np.ndarray, *, rng: np.random.Generator, n_boot: int = 30,
                       conf_level: float = 0.95, n_grid: int = 100) -> dict:
    """Delta (bias-reduced, Plischke et al. 2013) and first-order indices from a given sample.

    ``x`` ``(n, D)`` inputs as drawn (correlated or not), ``y`` ``(n,)`` outputs.
    Returns arrays ``delta``, ``delta_conf``, ``S1``, ``S1_conf`` of length D; the
    confidence half-widths come from ``n_boot`` bootstrap resamples of the rows.
    """
    from scipy.stats import norm

    n, dim = x.shape
    m = _n_classes(n)
    binary = np.unique(y).size <= 2
    grid = np.linspace(y.min(), y.max(), n_grid)
    point = np.array([_delta_s1(x[:, i], y, m, grid, binary) for i in range(dim)])
    boot = np.empty((n_boot, dim, 2))
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        yb = y[idx]
        gb = np.linspace(yb.min(), yb.max(), n_grid)
        for i in range(dim):
            boot[b, i] = _delta_s1(x[idx, i], yb, m, gb, binary)
    z = norm.ppf(0.5 + conf_level / 2)
    delta = 2 * point[:, 0] - boot[:, :, 0].mean(axis=0)  # bootstrap bias reduction (eq. 30)
    sd = boot.std(axis=0, ddof=1) if n_boot > 1 else np.zeros((dim, 2))
    return {"delta": delta, "delta_conf": z * sd[:, 0], "S1": point[:, 1], "S1_conf": z * sd[:, 1],
            "classes": m}


def delta(scenario, target: Target, *, trials: int, seed: int, n_boot: int = 30, conf_level: float = 0.95,
          stream: int = 0) -> dict:
    """Given-data delta and first-order indices on the samples of an ordinary run (same seed, same trials)."""
    from simulate.api import block_rng, blocks_of
    from simulate.engine import simulate
    from simulate.sampling import child_rng
    from simulate.scenario import uncertain_inputs

    dists = uncertain_inputs(scenario)
    paths = _chosen(dists, None)
    lifetime = target.accounting == "lifetime"
    xs, nets = [], []
    for block, n in blocks_of(trials):
        traj = simulate(scenario, n, block_rng(seed, block, stream), lifetime=lifetime)
        xs.append(np.column_stack([np.broadcast_to(traj.inputs[p], (n,)) for p in paths]))
        nets.append(net_of(traj, target))
    x = np.concatenate(xs)
    net = np.concatenate(nets)
    y = trial_output(net, target.metric)
    if np.ptp(y) == 0:
        raise ScenarioError("--metric", "the output is the same in every trial",
                            "an output that varies with the inputs (choose another year or metric)")
    rng = child_rng(block_rng(seed, 0, stream), "sensitivity:delta")
    dummy = rng.random(trials)  # an input with no effect: the estimators' noise floor
    res = given_data_indices(np.column_stack([x, dummy]), y, rng=rng, n_boot=n_boot, conf_level=conf_level)
    rows = [{"input": p, "delta": float(res["delta"][i]), "delta_conf": float(res["delta_conf"][i]),
             "S1": float(res["S1"][i]), "S1_conf": float(res["S1_conf"][i])} for i, p in enumerate(paths)]
    rows.sort(key=lambda r: (-r["delta"], r["input"]))
    notes = ["noise_floor gives the indices of a dummy input with no effect: values near it are not "
             "distinguishable from noise at this sample size"]
    if scenario.correlations:
        notes.append("inputs are correlated: each index measures an input together with what moves with it")
    return {"base_value": statistic(net, target.metric), "rows": rows, "trials": trials,
            "n_evaluations": trials, "classes": res["classes"], "bootstrap_resamples": n_boot,
            "conf_level": conf_level,
            "noise_floor": {"delta": float(res["delta"][-1]), "S1": float(res["S1"][-1])}, "notes": notes}


# --- entry point -------------------------------------------------------------------------------------------
def sensitivity(scenario, *, method: str = "tornado", metric: str = "cumulative_net_mean", year: int | None = None,
                payer: str = "municipality", discounting: str = "undiscounted", accounting: str = "realised",
                trials: int | None = None, seed: int | None = None, others: str = "random",
                conf_level: float = 0.95) -> SensitivityResult:
    """Sensitivity of one metric to the scenario's uncertain inputs.

    Parameters
    ----------
    scenario : Scenario or path
    method : {"tornado", "sobol", "delta"}
    metric : str
        ``cumulative_net_mean`` or ``p_break_even`` (tornado also ``cumulative_net_p5/p50/p95``).
    year : int, optional
        Programme year of the cumulative net (default: the horizon).
    trials : int, optional
        Trials per run (tornado, default 20,000), the base sample N (sobol, default
        4,096, rounded up to a power of 2) or the given-data sample (delta, default 5,000).
    others : {"random", "base"}
        Tornado only: the other inputs random (default) or at their means.

    Returns
    -------
    SensitivityResult
        ``doc`` is the content of ``sensitivity.json``; ``table`` its rows.
    """
    from simulate.api import DEFAULT_SEED

    if not hasattr(scenario, "horizon_years"):
        from simulate.io import read_scenario

        scenario = read_scenario(scenario)
    target = check_target(scenario, Target(metric, year, payer, discounting, accounting), method)
    seed = DEFAULT_SEED if seed is None else seed
    trials = DEFAULT_TRIALS[method] if trials is None else trials
    if isinstance(trials, bool) or not isinstance(trials, int) or not 10 <= trials <= 10_000_000:
        raise ScenarioError("--trials", trials, "a whole number from 10 to 10,000,000")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ScenarioError("--seed", seed, "a whole number from 0 to 2**63 - 1")
    if not 0 < conf_level < 1:
        raise ScenarioError("conf_level", conf_level, "a number between 0 and 1")
    if method == "tornado":
        res = tornado(scenario, target, trials=trials, seed=seed, others=others)
    elif method == "sobol":
        _require_salib()
        res = sobol(scenario, target, n=trials, seed=seed, conf_level=conf_level)
    else:
        res = delta(scenario, target, trials=trials, seed=seed, conf_level=conf_level)
    notes = res.pop("notes", [])
    doc = {"method": method, "metric": target.metric, "year": target.year, "payer": target.payer,
           "base_value": res.pop("base_value"), "rows": res.pop("rows"), "discounting": target.discounting,
           "accounting": target.accounting, "scenario": scenario.name, "seed": seed, **res, "notes": notes}
    return SensitivityResult(doc, notes)


def _require_salib() -> None:
    try:
        import SALib  # noqa: F401
    except ImportError:
        raise ScenarioError("--method", "sobol needs SALib, which is not installed",
                            "pip install 'simulate[sensitivity]'") from None
