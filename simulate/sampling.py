"""Drawing the uncertain inputs: one stream per input, a Gaussian copula for correlations.

Each input draws from its own random stream, keyed by its field path under the
caller's seed sequence, so a change to one input (its distribution, or whether
it is correlated) leaves every other input's draws unchanged: common random
numbers across scenarios come for free. Correlated inputs are drawn through a
Gaussian copula: correlated standard normals, mapped to uniforms and through
each input's quantile function, which keeps each marginal exact.
"""

from __future__ import annotations

import zlib

import numpy as np

from simulate import kernels
from simulate.scenario import Scenario, scenario_inputs


def child_rng(rng: np.random.Generator, key: str) -> np.random.Generator:
    """A generator for ``key`` derived from ``rng``'s seed sequence (not from its state)."""
    seq = rng.bit_generator.seed_seq
    child = kernels.seed_sequence(seq.entropy, (*seq.spawn_key, zlib.crc32(key.encode())))
    return np.random.Generator(np.random.PCG64(child))


def binomial_inverse(u: np.ndarray, n, p) -> np.ndarray:
    """Binomial counts by inversion: the smallest ``k`` with ``P(Bin(n, p) <= k) >= u``.

    ``u`` ``(m,)`` uniforms, ``n`` and ``p`` scalars or ``(m,)`` arrays. Exactly
    Bin(n, p) for uniform ``u``. Each count uses one uniform, whatever ``n`` and
    ``p``, and is monotone in ``u``, ``n`` and ``p``: two runs with the same seed
    draw their counts from the same uniforms, trial by trial, so a small change
    to a probability changes few counts (common random numbers), where NumPy's
    ``Generator.binomial`` would use a varying number of uniforms and shift
    every later draw.
    """
    u = np.asarray(u, dtype=float)
    n = np.broadcast_to(np.asarray(n), u.shape).astype(np.int64)
    p = np.broadcast_to(np.asarray(p, dtype=float), u.shape)
    flip = p > 0.5  # X = n - Y with Y ~ Bin(n, 1 - p) drawn at 1 - u: keeps the recursion short and stable
    q = np.where(flip, 1.0 - p, p)
    v = np.where(flip, 1.0 - u, u)
    y = np.zeros(u.shape, dtype=np.int64)
    live = (n > 0) & (q > 0)
    small = np.flatnonzero(live & (n * q <= 30.0))
    if small.size:
        nn, qq, vv = n[small], q[small], v[small]
        ratio = qq / (1.0 - qq)
        pmf = np.exp(nn * np.log1p(-qq))  # P(Y = 0) >= exp(-30 (1 + q)) here: no underflow
        cdf = pmf.copy()
        k_out = np.zeros(small.size, dtype=np.int64)
        active = np.flatnonzero(vv > cdf)
        k = 0
        while active.size:
            k += 1
            pmf[active] *= ratio[active] * (nn[active] - k + 1) / k
            cdf[active] += pmf[active]
            k_out[active] = k
            active = active[(vv[active] > cdf[active]) & (k < nn[active])]
        y[small] = k_out
    big = np.flatnonzero(live & (n * q > 30.0))
    if big.size:
        from scipy.stats import binom

        y[big] = np.minimum(binom.ppf(v[big], n[big], q[big]), n[big]).astype(np.int64)
    return np.where(flip, n - y, y)


def pearson_from_rank(rank: np.ndarray) -> np.ndarray:
    """The normal copula's correlation matrix for Spearman rank correlations ``rank``.

    Uses rho = 2 sin(pi r / 6), exact for a Gaussian copula; a result that is not
    positive semi-definite (possible after the transform) is projected to the
    nearest one by clipping eigenvalues and rescaling to a unit diagonal.
    """
    rho = 2.0 * np.sin(np.pi * rank / 6.0)
    np.fill_diagonal(rho, 1.0)
    vals, vecs = np.linalg.eigh(rho)
    if vals.min() < 0:
        vals = np.clip(vals, 0.0, None)
        rho = (vecs * vals) @ vecs.T
        d = np.sqrt(np.diag(rho))
        rho = rho / np.outer(d, d)
    return rho


def copula_factor(rho: np.ndarray) -> np.ndarray:
    """A matrix L with L L^T = rho, valid for singular (e.g. +-1) correlations."""
    vals, vecs = np.linalg.eigh(rho)
    return vecs * np.sqrt(np.clip(vals, 0.0, None))


def draw_inputs(
    scenario: Scenario, n_trials: int, rng: np.random.Generator | None, *, mode: str = "mc",
    given: dict[str, np.ndarray | float] | None = None,
) -> dict[str, np.ndarray | float]:
    """Every numeric input's value per trial.

    ``given`` maps field paths to values (a float, or an ``(n_trials,)`` array)
    that replace the draws of those inputs: a sensitivity design evaluated in
    one vectorised call, or an input held at a quantile. The other inputs are
    drawn exactly as without it (their streams do not depend on ``given``).

    Returns
    -------
    dict
        field path -> ``(n_trials,)`` array for uncertain inputs in ``mc`` mode,
        or a float for fixed inputs and in ``expected`` mode (the exact mean).
    """
    inputs = scenario_inputs(scenario)
    given = given or {}
    unknown = [p for p in given if p not in inputs]
    if unknown:
        raise KeyError(f"given inputs that the scenario does not have: {unknown}")
    from simulate.evidence import correct, corrected_mean

    graded = [p for p, d in inputs.items() if d.evidence_level is not None] if scenario.evidence_correction else []
    if mode == "expected":
        return {path: given.get(path, corrected_mean(d, path) if path in graded else float(d.mean()))
                for path, d in inputs.items()}
    values: dict[str, np.ndarray | float] = {}
    correlated, rank = scenario.rank_correlation_matrix() if scenario.correlations else ([], None)
    for path, dist in inputs.items():
        if dist.is_fixed:
            values[path] = float(dist.mean())
        elif path not in correlated:
            values[path] = dist.sample(child_rng(rng, path), n_trials)
    if correlated:
        from scipy.special import ndtr

        factor = copula_factor(pearson_from_rank(rank))
        z = factor @ child_rng(rng, "copula:" + "|".join(correlated)).standard_normal((len(correlated), n_trials))
        u = np.clip(ndtr(z), 1e-15, 1 - 1e-15)
        for i, path in enumerate(correlated):
            values[path] = inputs[path].ppf(u[i])
    for path in graded:  # evidence-level correction (simulate.evidence): increasing, so ranks are kept
        values[path] = correct(values[path], inputs[path], path)
    for path, value in given.items():
        values[path] = np.asarray(value, dtype=float) if np.ndim(value) else float(value)
    return values
