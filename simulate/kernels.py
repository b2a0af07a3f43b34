"""Hot loops of a run, compiled where the optional C extension was built, NumPy otherwise.

Each function gives the same result whichever way it runs: the compiled kernels (``simulate/_kernels.c``)
only count or do elementwise arithmetic in the order the NumPy code does, so a seed's numbers do not depend
on whether a C compiler was at hand when the package was installed. ``SIMULATE_KERNELS=numpy`` in the
environment makes a process use the NumPy code (for comparisons and benchmarks).
"""

from __future__ import annotations

import os
import sys

import numpy as np

try:
    from simulate import _kernels as _ext
except ImportError:  # built without a C compiler: NumPy only
    _ext = None

COMPILED = _ext is not None and os.environ.get("SIMULATE_KERNELS", "").lower() != "numpy"
ROWS = 8  # NumPy code (here and in simulate.metrics): rows at a time, so temporaries stay small and in cache


def _c(x: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=dtype)


def bin_add(counts: np.ndarray, x: np.ndarray, scale: np.ndarray, offset: np.ndarray, *, below=None,
            compiled: bool | None = None) -> np.ndarray | None:
    """Add the values ``x`` ``(rows, n)`` to ``counts`` ``(rows, n_bins)`` (int64, in place): value v of row r
    falls in bin ``floor(v * scale[r]) - offset[r]``, which must lie in ``0 .. n_bins - 1``.

    ``below``: thresholds; then also returns :func:`count_below` of ``x`` and them, ``(rows, k)``, which the
    compiled kernel counts while binning (``scale`` must then be powers of two, as on the dyadic grids)."""
    rows, n = x.shape
    n_bins = counts.shape[1]
    t = None if below is None else _c(np.atleast_1d(np.asarray(below, dtype=np.float64)), np.float64)
    if _use(compiled, _fit((counts, np.int64)), "bin_add"):
        out = np.empty((rows, 0 if t is None else len(t)), dtype=np.int64)
        _ext.bin_add(_c(x, np.float64), _c(scale, np.float64), _c(offset, np.int64), counts,
                     np.empty(0) if t is None else t, out, np.empty(0), np.empty(0), rows, n, n_bins, out.shape[1],
                     False)
        return None if t is None else out
    pos = np.empty((min(ROWS, rows), n))
    for a in range(0, rows, ROWS):
        b = min(a + ROWS, rows)
        p = pos[: b - a]
        np.multiply(x[a:b], scale[a:b, None], out=p)
        np.floor(p, out=p)  # integers below 2**50: exact in float64
        p -= offset[a:b, None]
        on_grid = (p >= 0) & (p < n_bins)  # False for NaN too
        if not on_grid.all():
            row = a + int(np.flatnonzero(~on_grid.all(axis=1))[0])
            raise ValueError(f"bin_add: a value of row {row} lies outside its grid")
        index = p.astype(np.intp)
        for row in range(b - a):
            counts[a + row] += np.bincount(index[row], minlength=n_bins)
    return None if t is None else count_below(x, t, compiled=compiled)


def row_stats(x: np.ndarray, *, level: float | None = None, group: int = 1,
              compiled: bool | None = None) -> tuple[np.ndarray, ...]:
    """Per row of ``x`` ``(rows, n)``: minimum, maximum and mean (``x.mean(axis=1)``, the same number: the compiled
    kernel sums in NumPy's pairwise order), in one pass over memory instead of three. A zero minimum or
    maximum is +0 (which signed zero wins a tie depends on the order of the comparisons).

    With a ``level``, also :func:`reached` of ``x`` as ``(rows // group, group, n)``, flattened: per row the
    values at or above the level, and the trials at or above it in that row or an earlier one of its group.
    Returns (lo, hi, mean) or (lo, hi, mean, at, by)."""
    rows, n = x.shape
    if _use(compiled, n > 0, "row_stats"):
        lo, hi, mean = np.empty(rows), np.empty(rows), np.empty(rows)
        at, by = (np.empty(0, dtype=np.int64),) * 2 if level is None else (np.empty(rows, dtype=np.int64),
                                                                           np.empty(rows, dtype=np.int64))
        _ext.row_stats(_c(x, np.float64), lo, hi, mean, at, by, 0.0 if level is None else float(level),
                       0 if level is None else group, rows, n)
        return (lo, hi, mean) if level is None else (lo, hi, mean, at, by)
    out = (x.min(axis=1) + 0.0, x.max(axis=1) + 0.0, x.mean(axis=1))  # a zero extreme as +0, whichever zero won
    if level is None:
        return out
    at, by = reached(x.reshape(rows // group, group, n), level)
    return (*out, at.reshape(-1), by.reshape(-1))


def squared_deviations(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Per row of ``x`` ``(rows, n)``: ``sum((x - mean) ** 2)``, summed by ``np.sum`` (pairwise), a few rows at a
    time (small temporaries)."""
    rows, n = x.shape
    out = np.empty(rows)
    d = np.empty((min(ROWS, rows), n))
    for a in range(0, rows, ROWS):
        b = min(a + ROWS, rows)
        np.subtract(x[a:b], mean[a:b, None], out=d[: b - a])
        np.multiply(d[: b - a], d[: b - a], out=d[: b - a])
        np.sum(d[: b - a], axis=1, out=out[a:b])
    return out


def bin_moments(counts: np.ndarray, x: np.ndarray, scale: np.ndarray, offset: np.ndarray, mean: np.ndarray, *,
                below=None, kept: np.ndarray | None = None, pending: np.ndarray | None = None,
                below_acc: np.ndarray | None = None, compiled: bool | None = None) -> tuple[np.ndarray | None, np.ndarray]:
    """:func:`bin_add`, and per row the sum of squared deviations from ``mean``
    (:func:`squared_deviations`, the same number: the compiled kernel sums them in NumPy's pairwise order
    while it bins). Returns (counts below ``below`` or None, the sums ``(rows,)``).

    ``kept`` (uint16, shaped as ``counts``) and ``pending`` (int64, ``(rows,)``): the compiled kernel adds the values
    to the 16-bit counts ``kept`` instead, ``pending`` counting them per row, and moves them to ``counts`` only when
    one could overflow; the caller adds the rest (:func:`flush_kept`) before it reads ``counts``. The NumPy code adds
    to ``counts`` directly: the counts are the same once flushed. With thresholds ``below`` too, the counts below
    them are added to ``below_acc`` ``(rows, len(below))`` instead of returned (the compiled kernel adds those
    in the thresholds' own bins at once, the rest when the kept counts are flushed: :func:`flush_kept` with
    ``below_acc``); the same counts once flushed."""
    rows, n = x.shape
    n_bins = counts.shape[1]
    t = None if below is None else _c(np.atleast_1d(np.asarray(below, dtype=np.float64)), np.float64)
    if kept is not None and t is not None and (below_acc is None or below_acc.shape != (rows, len(t))):
        raise ValueError("bin_moments: kept counts with thresholds need an accumulator of (rows, thresholds)")
    if _use(compiled, _fit((counts, np.int64)) and (kept is None or _fit((kept, np.uint16), (pending, np.int64))) and (
            below_acc is None or _fit((below_acc, np.int64))), "bin_moments"):
        if kept is not None and t is not None:
            out = below_acc
        else:
            out = np.empty((rows, 0 if t is None else len(t)), dtype=np.int64)
        m2 = np.empty(rows)
        _ext.bin_add(_c(x, np.float64), _c(scale, np.float64), _c(offset, np.int64), counts,
                     np.empty(0) if t is None else t, out, _c(mean, np.float64), m2, rows, n, n_bins, out.shape[1],
                     True, *(() if kept is None else (kept, pending)))
        return (None if t is None or kept is not None else out), m2
    got = bin_add(counts, x, scale, offset, below=below, compiled=False)
    if kept is not None and t is not None:
        below_acc += got
        got = None
    return got, squared_deviations(x, mean)


def threshold_bins(thresholds: np.ndarray, scale: np.ndarray, offset: np.ndarray, n_bins: int) -> np.ndarray:
    """``(rows, k)``: for each row's grid (``scale``, ``offset``), the number of its bins that lie wholly below each
    threshold (the bins before the threshold's own bin: 0 below the grid, ``n_bins`` at or above its top), as the
    compiled binning finds them."""
    with np.errstate(over="ignore", invalid="ignore"):  # a threshold far off a fine grid: +-inf, as in C
        a = np.asarray(thresholds, dtype=np.float64)[None, :] * np.asarray(scale, dtype=np.float64)[:, None]
        off = np.asarray(offset, dtype=np.int64)[:, None].astype(np.float64)
        inside = np.floor(np.where(np.isfinite(a), a, 0.0)) - off
        bins = np.where(~(a >= off), 0.0, np.where(a >= off + n_bins, float(n_bins), inside))
    return bins.astype(np.int64)


def flush_kept(counts: np.ndarray, kept: np.ndarray, pending: np.ndarray, rows=None, *, below_acc=None,
               thresholds=None, scale=None, offset=None) -> None:
    """Add the 16-bit counts ``kept`` of :func:`bin_moments` to ``counts`` and clear them: all rows, or the
    ``rows`` given (those with ``pending`` values only; row by row, without fancy-indexed copies). With
    ``below_acc``, first add to it the kept values in the bins below each of the ``thresholds`` (on the grid
    ``scale``, ``offset`` they were kept on), as the compiled binning does when it flushes."""
    rows = np.flatnonzero(pending) if rows is None else np.asarray(rows)[pending[rows] > 0]
    if below_acc is not None and rows.size:
        upto = threshold_bins(thresholds, scale[rows], offset[rows], counts.shape[1])
        cum = np.zeros((rows.size, counts.shape[1] + 1), dtype=np.int64)
        np.cumsum(kept[rows], axis=1, dtype=np.int64, out=cum[:, 1:])
        below_acc[rows] += np.take_along_axis(cum, upto, axis=1)
    if rows.size == len(pending):
        counts += kept
        kept.fill(0)
    else:
        for r in rows:
            counts[r] += kept[r]
            kept[r] = 0
    pending[rows] = 0


def nets(sav: np.ndarray, cost: np.ndarray, df: np.ndarray, sav_pv: np.ndarray | None = None, *,
         core: np.ndarray | None = None, worst: np.ndarray | None = None, compiled: bool | None = None) -> np.ndarray:
    """``(P + 1, 2, H, n)``: the cumulative net per payer (the total last), undiscounted and discounted, of the
    yearly flows ``sav`` and ``cost`` ``(P, H, n)`` (discounted: times ``df``, or ``sav_pv`` - cost * df).

    With ``core`` ``(P + 1, 1 + H, n)`` and ``worst`` ``(P + 1, n)``, also the budget's cash view:
    ``core[:, 1:]`` the yearly undiscounted nets, ``core[:, 0]`` the funding need ``max(-lowest cumulative
    net, 0)``, ``worst`` the lowest yearly net. One pass over memory in the compiled kernel."""
    P, H, n = cost.shape
    Q = P + 1
    net = np.empty((Q, 2, H, n))
    fits = _fit((sav, np.float64), (cost, np.float64)) and (sav_pv is None or _fit((sav_pv, np.float64))) and (
        core is None or _fit((core, np.float64), (worst, np.float64)))
    if _use(compiled, fits, "nets"):
        _ext.nets(sav, cost, np.empty(0) if sav_pv is None else sav_pv, _c(df[:H], np.float64), net,
                  np.empty(0) if core is None else core, np.empty(0) if core is None else worst,
                  sav_pv is not None, core is not None, P, H, n)
        return net
    np.subtract(sav, cost, out=net[:P, 0])
    if sav_pv is None:
        np.multiply(net[:P, 0], df[:H, None], out=net[:P, 1])
    else:
        np.multiply(cost, df[:H, None], out=net[:P, 1])
        np.subtract(sav_pv, net[:P, 1], out=net[:P, 1])
    _sum_in_order(net[:P], 0, net[P])
    if core is not None:
        core[:, 1:] = net[:, 0]
        worst[:] = net[:, 0, 0]
        for t in range(1, H):
            np.minimum(worst, net[:, 0, t], out=worst)
    for t in range(1, H):  # running sum over years, in place
        net[:, :, t] += net[:, :, t - 1]
    if core is not None:
        lowest = net[:, 0, 0].copy()
        for t in range(1, H):
            np.minimum(lowest, net[:, 0, t], out=lowest)
        np.negative(lowest, out=core[:, 0])
        np.maximum(core[:, 0], 0.0, out=core[:, 0])
    return net


def first_pass(sav: np.ndarray, cost: np.ndarray, df: np.ndarray, sav_pv: np.ndarray | None = None, *,
               core: np.ndarray | None = None, worst: np.ndarray | None = None, level: float, zero=((), (), ()),
               compiled: bool | None = None) -> tuple:
    """A block's first pass: :func:`nets` (with the budget's rows where ``core`` and ``worst`` are given),
    :func:`row_stats` of the net series ``(P + 1, 2, H, n)`` flattened (with the break-even counts at ``level``,
    years as groups) and of the budget's rows, and :func:`flow_sums`; the same numbers as those functions (for
    finite values: a NaN's sign or payload may differ, as everywhere in the kernels).

    Returns ``(net, net_stats, core_stats, flows)``: ``net_stats`` (lo, hi, mean, at, by), ``core_stats``
    (lo, hi, mean) or None, ``flows`` as :func:`flow_sums` returns them. The compiled kernel does it node by
    node of the pairwise tree over trials (512 trials or fewer at a time, in the cache), one pass over memory
    instead of four. ``zero``: the payers whose ``sav``, ``cost`` and ``sav_pv`` rows are all +0.0 (the engine's
    ``Trajectories.zero_payers``), which the compiled kernel then does not read."""
    P, H, n = cost.shape
    Q = P + 1
    fits = n > 0 and _fit((sav, np.float64), (cost, np.float64)) and (
        sav_pv is None or _fit((sav_pv, np.float64))) and (core is None or _fit((core, np.float64),
                                                                               (worst, np.float64)))
    if not _use(compiled, fits, "first_pass"):
        net = nets(sav, cost, df, sav_pv, core=core, worst=worst, compiled=False)
        stats = row_stats(net.reshape(-1, n), level=level, group=H, compiled=False)
        core_stats = None if core is None else row_stats(core.reshape(-1, n), compiled=False)
        return net, stats, core_stats, flow_sums(sav, cost, df, sav_pv, compiled=False)
    net = np.empty((Q, 2, H, n))
    R_net, R = Q * 2 * H, Q * 2 * H + (0 if core is None else Q * (1 + H))
    lo, hi, mean = np.empty(R), np.empty(R), np.empty(R)
    at, by = np.empty(R_net, dtype=np.int64), np.empty(R_net, dtype=np.int64)
    rows = np.empty(((2 if sav_pv is None else 3), P, H))
    roi_n, roi_sum = np.empty((Q, 2, 2), dtype=np.int64), np.empty((Q, 2, 2))
    _ext.first_pass(sav, cost, np.empty(0) if sav_pv is None else sav_pv, _c(df[:H], np.float64), net,
                    np.empty(0) if core is None else core, np.empty(0) if core is None else worst, lo, hi, mean, at,
                    by, rows, roi_n, roi_sum, float(level), sav_pv is not None, core is not None, P, H, n,
                    *(_payer_flags(z, P) for z in zero))
    stats = (lo[:R_net], hi[:R_net], mean[:R_net], at, by)
    core_stats = None if core is None else (lo[R_net:], hi[R_net:], mean[R_net:])
    return net, stats, core_stats, (rows[0], rows[1], None if sav_pv is None else rows[2], roi_n, roi_sum)


def _payer_flags(payers, P: int) -> np.ndarray:
    flags = np.zeros(P, dtype=np.uint8)
    flags[list(payers)] = 1
    return flags


def _sum_in_order(x: np.ndarray, axis: int, out: np.ndarray) -> np.ndarray:
    """``out`` = 0.0 + x[0] + x[1] + ... along ``axis``, in that order (as the compiled kernels add years and
    payers; ``np.sum`` over a short axis does the same, except where the axis is contiguous, e.g. a block of
    one trial, when it sums pairwise)."""
    out[...] = 0.0
    lead = (slice(None),) * axis
    for k in range(x.shape[axis]):
        out += x[(*lead, k)]
    return out


def flow_sums(sav: np.ndarray, cost: np.ndarray, df: np.ndarray, sav_pv: np.ndarray | None = None, *,
              compiled: bool | None = None) -> tuple:
    """A block's savings and cost aggregates, in one pass over ``sav`` and ``cost`` ``(P, H, n)`` (and ``sav_pv``,
    the discounted savings where they are not ``sav`` times ``df``).

    Returns ``(sav_year, cost_year, pv_year, roi_n, roi_sum)``: each row's sum over trials ``(P, H)`` (``pv_year``
    None without ``sav_pv``), and for the return on investment at year 1 and at the horizon, ``(P + 1, 2, 2)``
    (payer with the total last, undiscounted | discounted, year 1 | horizon), the trials with cost > 0 and
    the sum over them of savings / cost - 1. Cumulative savings and cost at the horizon are summed year by
    year (discounted: ``flow[0] df[0] + flow[1] df[1] + ...``), the total over payers payer by payer, the
    sums over trials pairwise (as ``np.sum``)."""
    P, H, n = sav.shape
    Q = P + 1
    if _use(compiled, n > 0 and _fit((sav, np.float64), (cost, np.float64))
            and (sav_pv is None or _fit((sav_pv, np.float64))), "flow_sums"):
        rows = np.empty(((2 if sav_pv is None else 3), P, H))
        roi_n, roi_sum = np.empty((Q, 2, 2), dtype=np.int64), np.empty((Q, 2, 2))
        _ext.flow_sums(sav, cost, np.empty(0) if sav_pv is None else sav_pv, _c(df[:H], np.float64), rows, roi_n,
                       roi_sum, sav_pv is not None, P, H, n)
        return rows[0], rows[1], None if sav_pv is None else rows[2], roi_n, roi_sum
    ends = np.empty((2, Q, 2, 2, n))  # (savings | cost, payer, discounting, year 1 | horizon, trial)
    for i, (flow, pv) in enumerate(((sav, sav_pv), (cost, None))):
        ends[i, :P, 0, 0] = flow[:, 0]
        ends[i, :P, 1, 0] = flow[:, 0] * df[0] if pv is None else pv[:, 0]
        _sum_in_order(flow, 1, ends[i, :P, 0, 1])
        if pv is None:
            acc = ends[i, :P, 1, 1]
            np.multiply(flow[:, 0], df[0], out=acc)
            for t in range(1, H):
                acc += flow[:, t] * df[t]
        else:
            _sum_in_order(pv, 1, ends[i, :P, 1, 1])
        _sum_in_order(ends[i, :P], 0, ends[i, P])
    defined = ends[1] > 0
    ratio = np.divide(ends[0], ends[1], out=np.zeros_like(ends[0]), where=defined)
    roi_n = np.count_nonzero(defined, axis=-1).astype(np.int64)
    return (sav.sum(axis=-1), cost.sum(axis=-1), None if sav_pv is None else sav_pv.sum(axis=-1), roi_n,
            ratio.sum(axis=-1) - roi_n)


def count_below(x: np.ndarray, thresholds, *, inclusive: bool = False, compiled: bool | None = None) -> np.ndarray:
    """``(rows, k)`` int64: per row of ``x`` ``(rows, n)``, the values below each threshold (``inclusive``: at
    most it)."""
    t = _c(np.atleast_1d(np.asarray(thresholds, dtype=np.float64)), np.float64)
    rows, n = x.shape
    out = np.empty((rows, len(t)), dtype=np.int64)
    if _use(compiled, True, "count_below"):
        _ext.count_below(_c(x, np.float64), t, out, rows, n, len(t), inclusive)
        return out
    op = np.less_equal if inclusive else np.less
    for j, tj in enumerate(t):
        out[:, j] = np.count_nonzero(op(x, tj), axis=-1)
    return out


def reached(x: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """For ``x`` ``(groups, years, n)``: per group and year, the values ``>= tol`` that year, and the
    trials with a value ``>= tol`` in that year or an earlier one. Two ``(groups, years)`` int64 arrays.
    (NumPy; compiled, these counts are part of :func:`row_stats` and :func:`first_pass`.)"""
    groups, years, n = x.shape
    nonneg = np.empty((groups, years), dtype=np.int64)
    by_year = np.empty((groups, years), dtype=np.int64)
    hit = x >= tol
    nonneg[:] = np.count_nonzero(hit, axis=-1)
    for t in range(1, years):
        hit[:, t] |= hit[:, t - 1]
    by_year[:] = np.count_nonzero(hit, axis=-1)
    return nonneg, by_year


# --- engine (simulate.engine, counterfactual sampling "expected") --------------------------------------------
def _use(compiled: bool | None, fits: bool, name: str) -> bool:
    """Whether to run the compiled kernel: by default where it is built and the arrays fit it (C-contiguous,
    the dtypes it reads); ``compiled=True`` insists (an error if it cannot), ``False`` runs the NumPy code."""
    if compiled is None:
        return COMPILED and fits
    if compiled and (_ext is None or not fits):
        raise ValueError(f"{name}: " + ("the compiled kernels are not built" if _ext is None
                                        else "these arrays do not fit the compiled kernel"))
    return bool(compiled)


def _fit(*arrays_and_dtypes) -> bool:
    """Each (array, dtype) pair is C-contiguous with that dtype."""
    return all(isinstance(x, np.ndarray) and x.flags.c_contiguous and x.dtype == dt for x, dt in arrays_and_dtypes)


def expected_unit(pi: np.ndarray, U: np.ndarray, trans: np.ndarray, terms: list, tail: list, moves: list,
                  last_state: int, others: list, a: int, H: int, n_years: int, n_paying: int, *,
                  compiled: bool | None = None) -> np.ndarray:
    """``(n_years, n_paying, m)``: the expected saving ``e[k, i] = sum_st pi_k[st] U[st, p]`` of a success at each
    age k, with ``pi_{k+1} = pi_k T`` (the state ``last_state`` as 1 - the others, as the rows of T add up to 1).

    ``pi`` ``(S, m)``: the starting shares of trials ``a .. a + m - 1`` (overwritten); ``U`` ``(S, P, n)`` and
    ``trans`` ``(S, S, n)``: the whole block; ``terms``: (state, row of e, payer); ``tail``: per term, whether it
    is needed beyond the horizon H; ``moves``: (from, to) pairs with a probability."""
    S, m = pi.shape
    if _use(compiled, S <= 64 and (S == 1 or bool(others))
            and _fit((pi, np.float64), (U, np.float64), (trans, np.float64)), "expected_unit"):
        e = np.empty((n_years, n_paying, m))  # every entry written by the kernel
        _ext.expected_unit(pi, U, trans, np.asarray(terms, dtype=np.int64).reshape(-1, 3),
                           np.asarray(tail, dtype=np.int64), np.asarray(moves, dtype=np.int64).reshape(-1, 2),
                           int(last_state), np.asarray(others, dtype=np.int64), e, S, U.shape[1], U.shape[2], a, m,
                           H, n_years, n_paying)
        return e
    e = np.zeros((n_years, n_paying, m))
    sl = slice(a, a + m)
    new, tmp = np.empty((S, m)), np.empty(m)
    u_of = {(st, i): U[st, p, sl] for st, i, p in terms}
    t_of = {(st, t): trans[st, t, sl] for st, t in moves}
    tail_terms = [(st, i) for (st, i, _), keep in zip(terms, tail) if keep]
    for k in range(n_years):
        # beyond the horizon only the tail's payers are needed (realised savings stop at year H)
        for st, i in ([(st, i) for st, i, _ in terms] if k < H else tail_terms):
            e[k, i] += np.multiply(pi[st], u_of[st, i], out=tmp)
        if k + 1 < n_years and S > 1:
            # the shares add up to 1 (the rows of T do): the state with most moves in is 1 - the others
            new[:] = 0.0
            for st, t in moves:
                if t != last_state:
                    new[t] += np.multiply(pi[st], t_of[st, t], out=tmp)
            np.subtract(1.0, new[others[0]], out=new[last_state])
            for t in others[1:]:
                new[last_state] -= new[t]
            pi, new = new, pi
    return e



def counterfactual_life(pi: np.ndarray, U: np.ndarray, trans: np.ndarray, terms: list, tail: list, moves: list,
                        last_state: int, others: list, a: int, H: int, n_years: int, n_paying: int, f,
                        act: np.ndarray, paying: list, savings: np.ndarray, *, growth: np.ndarray, grow: bool,
                        life: np.ndarray | None, life_pv: np.ndarray | None, life_rows: list, wanted: list = (),
                        keep=1.0, df: np.ndarray | None = None, years=(), ages_kept=None,
                        successes: np.ndarray | None = None, zero_savings=(), zero_life=()) -> bool:
    """:func:`counterfactual`, and after it in the same chunks what the engine does next with a slice: the
    savings times ``growth`` (``grow``), the lifetime rows ``life_rows`` of ``life`` (and ``life_pv``, times
    ``df``), and for the payers ``wanted`` the value still to come after each of the ``years`` (as
    ``engine._remaining`` with :func:`remaining`) added to them, the same numbers; with ``successes`` ``(H, n)``,
    also ``successes[:, a:a + m] = act[:, 0]``; the savings rows of the payers ``zero_savings`` and the lifetime
    rows of ``zero_life`` are set to 0.0 for these trials. Compiled only: returns False (nothing done) where the kernel is not
    built or the arrays do not fit it."""
    S, m = pi.shape
    P = U.shape[1]
    if not (COMPILED and S <= 64 and (S == 1 or bool(others)) and H <= n_years
            and _fit((pi, np.float64), (U, np.float64), (trans, np.float64), (act, np.float32),
                     (savings, np.float64))
            and (life is None or _fit((life, np.float64)) and life.shape == savings.shape)
            and (life_pv is None or _fit((life_pv, np.float64)) and life_pv.shape == savings.shape)
            and (successes is None or _fit((successes, np.float64)))):
        return False
    wanted = list(wanted) if life is not None else []
    with_rem = bool(wanted)
    f = _c(np.broadcast_to(np.asarray(f, dtype=np.float64), (m,)), np.float64)
    k = _c(np.broadcast_to(np.asarray(keep, dtype=np.float64), (m,)), np.float64) if wanted else np.empty(0)
    store = np.ones(n_years if wanted else 0, dtype=np.uint8)
    if wanted and ages_kept is not None:
        store[:] = 0
        store[[x for x in ages_kept if 0 <= x < n_years]] = 1
    mask = np.zeros(H, dtype=np.int64)
    mask[[y for y in years if y < H]] = 1
    pv = life_pv is not None
    _ext.counterfactual(pi, U, trans, np.asarray(terms, dtype=np.int64).reshape(-1, 3),
                        np.asarray(tail, dtype=np.int64), np.asarray(moves, dtype=np.int64).reshape(-1, 2),
                        int(last_state), np.asarray(others, dtype=np.int64), f, act,
                        np.asarray(paying, dtype=np.int64), savings, np.asarray(wanted, dtype=np.int64),
                        _c(growth[:n_years], np.float64), k, store,
                        _c(df[:n_years], np.float64) if pv else np.empty(0), np.empty(0), np.empty(0), S, P,
                        U.shape[2], a, m, H, n_years, n_paying, pv, bool(grow),
                        np.empty(0) if life is None else life, np.empty(0) if life_pv is None else life_pv,
                        np.asarray(life_rows if life is not None else [], dtype=np.int64), mask, with_rem,
                        np.empty(0) if successes is None else successes, np.asarray(zero_savings, dtype=np.int64),
                        np.asarray(zero_life if life is not None else [], dtype=np.int64))
    return True


def counterfactual(pi: np.ndarray, U: np.ndarray, trans: np.ndarray, terms: list, tail: list, moves: list,
                   last_state: int, others: list, a: int, H: int, n_years: int, n_paying: int, f, act: np.ndarray,
                   paying: list, savings: np.ndarray, *, wanted: list = (), growth: np.ndarray | None = None, keep=1.0,
                   df: np.ndarray | None = None, ages_kept=None, compiled: bool | None = None):
    """The counterfactual of trials ``a .. a + m - 1`` when the intake year counts the fraction ``f`` and later
    years in full: :func:`expected_unit` (``e``), ``e[0] *= f``, :func:`cohort_savings` into ``savings`` and, for
    the payers ``wanted``, :func:`tail_sums` of ``e`` undiscounted (and discounted with ``df``), the same numbers
    as those calls one after the other. Returns (F, F_pv or None) (None, None without ``wanted``), written at
    the ages ``ages_kept`` only (all without it).

    The compiled kernel runs them on a few hundred trials at a time, so ``e`` never leaves the cache; the NumPy
    code makes the calls."""
    S, m = pi.shape
    f = _c(np.broadcast_to(np.asarray(f, dtype=np.float64), (m,)), np.float64)
    k = _c(np.broadcast_to(np.asarray(keep, dtype=np.float64), (m,)), np.float64)
    wanted = list(wanted)
    ages = n_years
    if _use(compiled, S <= 64 and (S == 1 or bool(others)) and H <= n_years
            and _fit((pi, np.float64), (U, np.float64), (trans, np.float64), (act, np.float32),
                     (savings, np.float64)), "counterfactual"):
        F = np.empty((ages, len(wanted), m)) if wanted else np.empty(0)
        F_pv = np.empty((ages, len(wanted), m)) if wanted and df is not None else np.empty(0)
        store = np.ones(ages if wanted else 0, dtype=np.uint8)
        if wanted and ages_kept is not None:
            store[:] = 0
            store[[x for x in ages_kept if 0 <= x < ages]] = 1
        g = _c(growth[:ages], np.float64) if wanted else np.empty(0)
        d = _c(df[:ages], np.float64) if wanted and df is not None else np.empty(0)
        _ext.counterfactual(pi, U, trans, np.asarray(terms, dtype=np.int64).reshape(-1, 3),
                            np.asarray(tail, dtype=np.int64), np.asarray(moves, dtype=np.int64).reshape(-1, 2),
                            int(last_state), np.asarray(others, dtype=np.int64), f, act,
                            np.asarray(paying, dtype=np.int64), savings, np.asarray(wanted, dtype=np.int64), g,
                            k if wanted else np.empty(0), store, d, F, F_pv, S, U.shape[1], U.shape[2], a, m, H,
                            n_years, n_paying, df is not None)
        if not wanted:
            return None, None
        return F, (F_pv if df is not None else None)
    e = expected_unit(pi, U, trans, terms, tail, moves, last_state, others, a, H, n_years, n_paying,
                      compiled=compiled)
    e[0] *= f
    cohort_savings(e, act, paying, savings, a, compiled=compiled)
    if not wanted:
        return None, None
    F = tail_sums(e, wanted, growth, keep, None, ages_kept=ages_kept, compiled=compiled)
    F_pv = None if df is None else tail_sums(e, wanted, growth, keep, df, ages_kept=ages_kept, compiled=compiled)
    return F, F_pv

def tail_sums(unit: np.ndarray, wanted: list, growth: np.ndarray, keep, df: np.ndarray | None, *,
              ages_kept=None, compiled: bool | None = None) -> np.ndarray:
    """``F[k] = sum_{j>k} keep^(j-k) unit_j growth_j (df_j)`` for every age k, ``(ages, len(wanted), m)``: the
    rows ``wanted`` of ``unit`` ``(ages, n_paying, m)``. ``ages_kept``: the ages k whose ``F[k]`` the caller
    reads; the compiled kernel leaves the others unwritten (memory it need not fill)."""
    ages, n_paying, m = unit.shape
    if _use(compiled, _fit((unit, np.float64)), "tail_sums"):
        F = np.empty((ages, len(wanted), m))
        k = np.broadcast_to(np.asarray(keep, dtype=np.float64), (m,))
        store = np.ones(ages, dtype=np.uint8)
        if ages_kept is not None:
            store[:] = 0
            store[[a for a in ages_kept if 0 <= a < ages]] = 1
        _ext.tail_sums(unit, np.asarray(wanted, dtype=np.int64), _c(growth[:ages], np.float64),
                       _c(growth[:ages] if df is None else df[:ages], np.float64), df is not None,
                       _c(k, np.float64), store, F, ages, n_paying, m)
        return F
    unit = unit[:, wanted]
    F = np.empty_like(unit)
    acc = np.zeros(unit.shape[1:])
    for j in range(ages - 1, -1, -1):
        F[j] = acc
        term = unit[j] * growth[j] if df is None else unit[j] * (growth[j] * df[j])
        acc = keep * (term + acc)
    return F


def remaining(F: np.ndarray, F_pv: np.ndarray | None, act: np.ndarray, keep, growth: np.ndarray, df: np.ndarray,
              years, H: int, n_years: int, *, compiled: bool | None = None) -> np.ndarray | None:
    """The loop of ``engine._remaining`` over cohorts and the ``years`` wanted, compiled: ``(2, W, H, m)``, or
    None where the kernel does not fit (the caller then runs the NumPy loop)."""
    ages, W, m = F.shape
    fits = (ages == n_years and H <= ages and _fit((F, np.float64), (act, np.float32))
            and (F_pv is None or _fit((F_pv, np.float64))))
    if not _use(compiled, fits, "remaining"):
        return None
    out = np.empty((2, W, H, m))  # cleared by the kernel, chunk by chunk
    mask = np.zeros(H, dtype=np.int64)
    mask[[y for y in years if y < H]] = 1
    k = np.broadcast_to(np.asarray(1.0 if keep is None else keep, dtype=np.float64), (m,))
    _ext.remaining(F, np.empty(0) if F_pv is None else F_pv, act, _c(k, np.float64), _c(growth[:H], np.float64),
                   _c(df[:H], np.float64), mask, out, W, ages, H, m, n_years, F_pv is not None)
    return out


def youth_counts(h: np.ndarray, cohorts: list, edge: np.ndarray, a: int, m: int, H: int, no_relapse: bool,
                 act: np.ndarray, tied: np.ndarray, *, compiled: bool | None = None) -> None:
    """Fill ``act[c, k]`` ``(H, H, m)`` with the young people of cohort c (row of ``h`` ``(G, size, n)``, 16-bit)
    below the edge ``edge[k]`` at each age k with c + k < H, for trials ``a .. a + m - 1``; set ``tied[c]`` where
    one is on the edge. ``cohorts`` ascending."""
    G, size, n = h.shape
    if _use(compiled, size <= 255 and edge.ndim == 2 and edge.shape[1] == n and
            _fit((h, np.uint16), (edge, np.uint16), (act, np.float32), (tied, np.bool_)), "youth_counts"):
        _ext.youth_counts(h, np.asarray(cohorts, dtype=np.int64), edge, act, tied.view(np.uint8), size, n, a, m, H,
                          edge.shape[0], bool(no_relapse))
        return
    sl = slice(a, a + m)
    hs, es = h[:, :, sl], edge[:, sl]
    below = np.empty(hs.shape, dtype=bool)
    for k in range(H):
        g = sum(1 for c in cohorts if c + k < H)  # cohorts ascending: those followed at age k are a prefix
        if g == 0:
            break
        rows = slice(cohorts[0], cohorts[0] + g) if cohorts[g - 1] - cohorts[0] == g - 1 else cohorts[:g]
        if k and no_relapse:
            act[rows, k] = act[rows, k - 1]
            continue
        lt = np.less(hs[:g], es[k], out=below[:g]).view(np.int8).sum(axis=1, dtype=np.int8)
        le = np.less_equal(hs[:g], es[k], out=below[:g]).view(np.int8).sum(axis=1, dtype=np.int8)
        act[rows, k] = lt
        tied[rows] |= lt != le


def youth_edges(q_eff, keep, ages: int, n: int, *, edges: bool = True, full: bool = True,
                compiled: bool | None = None) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, bool]:
    """The per-young-person thresholds of a block: ``survive`` ``(ages, n)``, ``(1 - r)^k`` as a running product
    from 1 (1 where ``keep`` is None); ``thresholds = q_eff * survive``; with ``edges``, ``edge = min(floor(2**16
    thresholds), 2**16 - 1)`` as 16-bit integers; and whether every survival is 1. ``full=False`` (with
    ``edges``): the compiled kernel may return None for ``survive`` and ``thresholds`` (not written: the caller
    makes the few it needs, :func:`thresholds_at`)."""
    q = np.broadcast_to(np.asarray(q_eff, dtype=np.float64), (n,))
    k = None if keep is None else np.broadcast_to(np.asarray(keep, dtype=np.float64), (n,))
    if edges and _use(compiled, True, "youth_edges"):
        survive, thresholds = (np.empty((ages, n)), np.empty((ages, n))) if full else (np.empty(0), np.empty(0))
        edge = np.empty((ages, n), dtype=np.uint16)
        r = _ext.youth_edges(_c(q, np.float64), np.empty(0) if k is None else _c(k, np.float64), k is not None,
                             survive, thresholds, edge, ages, n, full)
        if r >= 0:  # else a negative or NaN threshold: the NumPy code below decides
            return (survive, thresholds, edge, bool(r)) if full else (None, None, edge, bool(r))
    survive = np.empty((ages, n))
    survive[0] = 1.0
    for a in range(1, ages):
        if keep is None:
            survive[a] = 1.0
        else:
            np.multiply(survive[a - 1], keep, out=survive[a])
    thresholds = q_eff * survive
    return survive, thresholds, edges_of(thresholds) if edges else None, bool(np.all(survive == 1.0))


def thresholds_at(q_eff, keep, ages: int, n: int, cols: np.ndarray, out: np.ndarray) -> None:
    """``out[:, cols]`` = the ``thresholds`` of :func:`youth_edges` at the trials ``cols`` (the same running
    product and the same products, so the same numbers), the other columns left as they are."""
    q = np.broadcast_to(np.asarray(q_eff, dtype=np.float64), (n,))[cols]
    s = np.ones((ages, len(cols)))
    if keep is not None and ages > 1:  # s[a] = s[a - 1] * keep, a running product from 1.0 (accumulate: in order)
        s[1:] = np.broadcast_to(np.asarray(keep, dtype=np.float64), (n,))[cols]
        np.multiply.accumulate(s, axis=0, out=s)
    out[:, cols] = q * s


def edges_of(thresholds: np.ndarray) -> np.ndarray:
    """``min(floor(2**16 thresholds), 2**16 - 1)`` as 16-bit integers (thresholds in [0, 1])."""
    scaled = thresholds * 65536.0
    np.floor(scaled, out=scaled)
    np.minimum(scaled, 65535.0, out=scaled)
    return scaled.astype(np.uint16)


def tie_counts(h: np.ndarray, g: np.ndarray, c: np.ndarray, j: np.ndarray, pos: np.ndarray, w: np.ndarray,
               w_start: np.ndarray, ties: np.ndarray, thresholds: np.ndarray, a: int, act: np.ndarray, *,
               compiled: bool | None = None) -> None:
    """Tied young people, compared with their full uniforms: for tie i (cohort ``c[i]``, row ``g[i]`` of ``h``
    ``(G, size, n)``, trial ``a + j[i]``), young person y's uniform is ``(h[g, y, a + j] + w[w_start[c] + y *
    ties[c] + pos[i]]) / 2**16``, and ``act[c, k, j]`` ``(H, H, m)`` becomes the number of them below
    ``thresholds[k, a + j]`` ``(H, n)`` for the ages ``k < H - c``."""
    G, size, n = h.shape
    H, _, m = act.shape
    g, c, j, pos, w_start, ties = [_c(x, np.int64) for x in (g, c, j, pos, w_start, ties)]
    if _use(compiled, thresholds.shape == (H, n) and n >= 1 and size >= 1 and H <= 256
            and _fit((h, np.uint16), (w, np.float64), (thresholds, np.float64), (act, np.float32)), "tie_counts"):
        _ext.tie_counts(h, g, c, j, pos, w, w_start, ties, thresholds, act, size, n, a, m, H)
        return
    youth = np.arange(size)
    x = h[g[:, None], youth[None, :], a + j[:, None]]  # (ties, size)
    v = (x + w[w_start[c][:, None] + youth[None, :] * ties[c][:, None] + pos[:, None]]) / 65536.0
    count = (v[:, :, None] < thresholds[:, a + j].T[:, None, :]).sum(axis=1)  # (ties, ages)
    row, k = np.nonzero(np.arange(H)[None, :] < (H - c)[:, None])  # the ages each cohort is followed
    act[c[row], k, j[row]] = count[row, k]


def cohort_savings(e: np.ndarray, act: np.ndarray, paying: list, savings: np.ndarray, a: int, *,
                   compiled: bool | None = None) -> None:
    """Savings by the year they fall in: ``savings[p, y]`` for trials ``a .. a + m - 1`` is set to the sum (from 0)
    over cohorts c <= y of ``e[y - c, i] * act[c, y - c]``, for each paying payer ``p = paying[i]``."""
    n_years, n_paying, m = e.shape
    P, H, n = savings.shape
    if _use(compiled, _fit((e, np.float64), (act, np.float32), (savings, np.float64)), "cohort_savings"):
        _ext.cohort_savings(e, act, np.asarray(paying, dtype=np.int64), savings, n_years, n_paying, m, H, P, n, a)
        return
    sl = slice(a, a + m)
    savings[paying, :, sl] = 0.0
    for c in range(H):
        n_ages = min(H - c, n_years)
        for i, p in enumerate(paying):
            savings[p, c:c + n_ages, sl] += e[:n_ages, i] * act[c, :n_ages]


# --- Beta draws (simulate.distributions.beta_draws) ---------------------------------------------------------
def beta_candidates(u: np.ndarray, lo: float, hi: float, alpha: float, beta: float, gamma: float, log4: float,
                    out: np.ndarray, *, start: int = 0, stop: int | None = None, compiled: bool | None = None) -> int:
    """Cheng's algorithm BB on the candidates ``start .. stop - 1`` (default: all) of the uniforms ``u`` ``(2, m)``
    (candidate i: ``u[0, i]``, ``u[1, i]``): writes the accepted draws ``w / (hi + w)``, in order, to ``out`` (as
    many as it holds) and returns how many of the candidates were accepted (written or not).

    The compiled path does the elementwise arithmetic in C, operation by operation in the NumPy code's order,
    and leaves the logarithms and the exponential to NumPy (called on the same values, or, for the candidates
    that the quick test does not settle, on those alone: NumPy computes them value by value), so both paths
    give the same draws; so do the candidates taken in two ranges, one after the other."""
    u1, u2 = u[0, start:stop], u[1, start:stop]
    m = u1.size
    if _use(compiled, _fit((u, np.float64), (out, np.float64)), "beta_candidates"):
        ratio, z = np.empty(m), np.empty(m)
        _ext.cheng_prepare(u1, u2, ratio, z, m)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # u1 = 0 or u2 = 0: rejected
            v = np.log(ratio, out=ratio)
            np.multiply(v, beta, out=v)
            w = np.exp(v)
            s = np.empty(m)
            state = np.empty(m, dtype=np.uint8)
            idx = np.empty(m, dtype=np.int64)
            t, q = np.empty((2, m))
            k = _ext.cheng_screen(v, w, z, s, state, idx, t, q, lo, hi, gamma, alpha, log4, m)
            np.log(t[:k], out=t[:k])
            np.log(q[:k], out=q[:k])
        return _ext.cheng_take(w, v, s, state, idx, t, q, out, alpha, hi, out.size, k, m)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # u1 = 0 or u2 = 0: rejected below
        v = beta * np.log(u1 / (1.0 - u1))
        w = lo * np.exp(v)
        z = u1 * u1 * u2
        r = gamma * v - log4
        s = lo + r - w
        t = np.log(z)
        ok = (s + 2.609438 >= 5.0 * z) | (s > t) | (r + alpha * np.log(alpha / (hi + w)) >= t)
    ok &= z > 0
    x = w[ok]
    taken = x[:out.size]
    out[:taken.size] = taken / (hi + taken)
    return x.size


# --- random numbers (NumPy's PCG64 stream) ------------------------------------------------------------------
_LOW64 = (1 << 64) - 1


def _pcg64(rng: np.random.Generator, out: np.ndarray, as_double: bool) -> None:
    """Fill ``out`` with the next words (or doubles) of ``rng``'s PCG64 stream and advance ``rng`` past them."""
    bg = rng.bit_generator
    with bg.lock:
        st = bg.state
        inner = st["state"]
        s, inc = inner["state"], inner["inc"]
        hi, lo = _ext.pcg64_fill(out, out.size, as_double, s >> 64, s & _LOW64, inc >> 64, inc & _LOW64)
        inner["state"] = (hi << 64) | lo
        bg.state = st  # the buffered 32-bit word (has_uint32, uinteger) as it was


def _pcg64_fits(rng: np.random.Generator) -> bool:
    return type(rng.bit_generator) is np.random.PCG64 and hasattr(_ext, "pcg64_fill")


def random_raw(rng: np.random.Generator, words: int, *, compiled: bool | None = None) -> np.ndarray:
    """``rng.bit_generator.random_raw(words)``: the same 64-bit words, and ``rng`` left in the same state (the
    compiled path, for NumPy's PCG64, makes them about twice as fast)."""
    if _use(compiled, _pcg64_fits(rng), "random_raw"):
        out = np.empty(words, dtype=np.uint64)
        _pcg64(rng, out, False)
        return out
    return rng.bit_generator.random_raw(words)


def random(rng: np.random.Generator, shape, *, compiled: bool | None = None) -> np.ndarray:
    """``rng.random(shape)`` (float64 uniforms on [0, 1)): the same numbers, and ``rng`` left in the same state."""
    if _use(compiled, _pcg64_fits(rng), "random"):
        out = np.empty(shape)
        _pcg64(rng, out, True)
        return out
    return rng.random(shape)


# --- claims (simulate.metrics._claims_hits) -------------------------------------------------------------------
CLAIM_KINDS = ("cumulative_net", "roi", "break_even_successes")


def claim_hits(sav: np.ndarray, cost: np.ndarray, kinds: list, years: list, thresholds: list,
               avg: np.ndarray) -> np.ndarray | None:
    """For one payer's yearly savings and cost ``(H, n)``: per claim (kind index in :data:`CLAIM_KINDS`, year,
    threshold), the trials that reach it, as ``metrics._reached_claim`` counts them from the cumulative sums
    ``0.0 + flow[0] + flow[1] + ...``; ``avg`` ``(claims, n)``: each break-even claim's average successes (other
    rows unread). Compiled only: None where the kernel is not built or the arrays do not fit it."""
    H, n = cost.shape
    if not (COMPILED and hasattr(_ext, "claim_hits") and _fit((sav, np.float64), (cost, np.float64),
                                                             (avg, np.float64))):
        return None
    hits = np.empty(len(kinds), dtype=np.int64)
    _ext.claim_hits(sav, cost, np.asarray(kinds, dtype=np.int64), np.asarray(years, dtype=np.int64),
                    np.asarray(thresholds, dtype=np.float64), avg, hits, len(kinds), H, n)
    return hits


# --- seed sequences (simulate.sampling.child_rng, simulate.api.block_rng) -----------------------------------------
def _uint32_words(x) -> list | None:
    """NumPy's ``_coerce_to_uint32_array`` for a non-negative integer (its 32-bit words, lowest first; [0] for 0) or a
    flat list or tuple of them (the words concatenated); None for anything else, which NumPy's own code then takes."""
    if isinstance(x, (int, np.integer)):
        n = int(x)
        if n < 0:
            return None
        words = [0] if n == 0 else []
        while n > 0:
            words.append(n & 0xFFFFFFFF)
            n >>= 32
        return words
    if isinstance(x, (list, tuple)):
        words = []
        for v in x:
            if type(v) is int and 0 <= v <= 0xFFFFFFFF:  # one word (the usual case, without the general code)
                words.append(v)
                continue
            w = _uint32_words(v) if isinstance(v, (int, np.integer)) else None
            if w is None:
                return None
            words += w
        return words
    return None


_LITTLE = sys.byteorder == "little"


class Seed(np.random.bit_generator.ISpawnableSeedSequence):
    """``np.random.SeedSequence(entropy, spawn_key=spawn_key)`` as a bit generator's seed: the same state words (NumPy's
    algorithm with its default pool of four words, run by the compiled kernel), without NumPy's overhead of some
    15 µs a generator (a run seeds 16 generators a block). ``entropy`` and ``spawn_key`` are NumPy's, so
    :func:`simulate.sampling.child_rng` derives the same children from either, and so does :meth:`spawn`."""

    __slots__ = ("entropy", "spawn_key", "_assembled", "n_children_spawned")
    pool_size = 4

    def __init__(self, entropy, spawn_key: tuple, assembled: np.ndarray, n_children_spawned: int = 0):
        self.entropy, self.spawn_key, self._assembled = entropy, spawn_key, assembled
        self.n_children_spawned = n_children_spawned

    def spawn(self, n_children: int) -> list:
        """The next ``n_children`` child seed sequences, as NumPy's ``SeedSequence.spawn`` makes them."""
        if n_children < 0:
            raise ValueError("n_children must be non-negative")
        first = self.n_children_spawned
        self.n_children_spawned += n_children
        return [seed_sequence(self.entropy, (*self.spawn_key, i)) for i in range(first, first + n_children)]

    def generate_state(self, n_words, dtype=np.uint32) -> np.ndarray:
        wide = dtype is np.uint64 or np.dtype(dtype) == np.dtype(np.uint64)
        if not wide and np.dtype(dtype) != np.dtype(np.uint32):
            raise ValueError("only support uint32 or uint64")
        n = int(n_words) * (2 if wide else 1)
        state = np.empty(n, dtype=np.uint32)
        _ext.seed_state(self._assembled, state, len(self._assembled), n)
        if not wide:
            return state
        # as NumPy: the words read as little-endian pairs (on a little-endian machine, the words' own bytes)
        return state.view(np.uint64) if _LITTLE else state.astype("<u4").view("<u8").astype(np.uint64)

    def __reduce__(self):
        return (Seed, (self.entropy, self.spawn_key, self._assembled, self.n_children_spawned))


def seed_sequence(entropy, spawn_key=(), *, compiled: bool | None = None):
    """The seed sequence ``np.random.SeedSequence(entropy, spawn_key=spawn_key)``, or a :class:`Seed` that seeds a
    bit generator with the same words (integer entropy and spawn key, with the kernels built)."""
    spawn_key = tuple(spawn_key)
    run, spawn = _uint32_words(entropy), _uint32_words(spawn_key)
    if _use(compiled, run is not None and spawn is not None and hasattr(_ext, "seed_state"), "seed_sequence"):
        if spawn and len(run) < Seed.pool_size:  # as NumPy: a spawned sequence's entropy is padded to the pool
            run = run + [0] * (Seed.pool_size - len(run))
        return Seed(entropy, spawn_key, np.array(run + spawn, dtype=np.uint32))
    return np.random.SeedSequence(entropy, spawn_key=spawn_key)


# --- histograms moved to another grid (simulate.metrics.Histogram) --------------------------------------------------
def rebin(src: np.ndarray, dst: np.ndarray, level: np.ndarray, offset: np.ndarray, new_level: np.ndarray,
          new_offset: np.ndarray, *, add: bool) -> bool:
    """Counts ``src`` ``(rows, n_bins)`` on the dyadic grids (``level``, ``offset``) moved to the grids (``new_level``,
    ``new_offset``), each as coarse as the old: added to ``dst`` (``add``), or written to it (``dst`` may be
    ``src``). Compiled only: False (nothing done) where the kernel is not built or the arrays do not fit it; the
    caller's NumPy code gives the same counts."""
    if not (COMPILED and hasattr(_ext, "rebin") and _fit((src, np.int64), (dst, np.int64))) or src.shape != dst.shape:
        return False
    rows, n_bins = src.shape
    _ext.rebin(src, dst, _c(level, np.int64), _c(offset, np.int64), _c(new_level, np.int64),
               _c(new_offset, np.int64), rows, n_bins, add)
    return True


# --- the programme's cost (simulate.engine) ------------------------------------------------------------------------
def cost_rows(made: np.ndarray, year_path, growth: np.ndarray, shares, out: np.ndarray, *,
              compiled: bool | None = None) -> None:
    """``out[p, y] = (made[year_path[y]] * growth[y]) * shares[p]`` ``(P, H, n)`` for each payer with a share (the
    other rows are left as they are); ``made`` ``(k, n)``: each cost path's cost times the overrun."""
    P, H, n = out.shape
    path = np.asarray(year_path, dtype=np.int64)
    share = np.asarray(shares, dtype=np.float64)
    if _use(compiled, _fit((made, np.float64), (out, np.float64)) and made.ndim == 2 and made.shape[1] == n,
            "cost_rows"):
        _ext.cost_rows(made, path, _c(growth[:H], np.float64), share, out, made.shape[0], P, H, n)
        return
    gross = np.empty((H, n))  # each year's cost, the product made once
    for y in range(H):
        np.multiply(made[path[y]], growth[y], out=gross[y])
    for p in range(P):
        if share[p]:
            np.multiply(gross, share[p], out=out[p])
