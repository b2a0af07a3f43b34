"""Hot loops of a run, compiled where the optional C extension was built, NumPy otherwise.

Each function gives the same result whichever way it runs: the compiled kernels (``simulate/_kernels.c``)
only count or do elementwise arithmetic in the order the NumPy code does, so a seed's numbers do not depend
on whether a C compiler was at hand when the package was installed. ``SIMULATE_KERNELS=numpy`` in the
environment makes a process use the NumPy code (for comparisons and benchmarks).
"""

from __future__ import annotations

import os

import numpy as np

try:
    from simulate import _kernels as _ext
except ImportError:  # built without a C compiler: NumPy only
    _ext = None

COMPILED = _ext is not None and os.environ.get("SIMULATE_KERNELS", "").lower() != "numpy"
ROWS = 8  # NumPy code: rows handled at a time, so temporaries stay small and in cache


def _c(x: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=dtype)


def bin_add(counts: np.ndarray, x: np.ndarray, scale: np.ndarray, offset: np.ndarray, *,
            compiled: bool | None = None) -> None:
    """Add the values ``x`` ``(rows, n)`` to ``counts`` ``(rows, n_bins)`` (int64, in place): value v of row r
    falls in bin ``floor(v * scale[r]) - offset[r]``, which must lie in ``0 .. n_bins - 1``."""
    rows, n = x.shape
    n_bins = counts.shape[1]
    if (COMPILED if compiled is None else compiled) and counts.flags.c_contiguous and counts.dtype == np.int64:
        _ext.bin_add(_c(x, np.float64), _c(scale, np.float64), _c(offset, np.int64), counts, rows, n, n_bins)
        return
    pos = np.empty((min(ROWS, rows), n))
    for a in range(0, rows, ROWS):
        b = min(a + ROWS, rows)
        p = pos[: b - a]
        np.multiply(x[a:b], scale[a:b, None], out=p)
        np.floor(p, out=p)  # integers below 2**50: exact in float64
        p -= offset[a:b, None]
        index = p.astype(np.intp)  # a value off its grid makes bincount or the addition below fail
        for row in range(b - a):
            counts[a + row] += np.bincount(index[row], minlength=n_bins)


def count_below(x: np.ndarray, thresholds, *, inclusive: bool = False, compiled: bool | None = None) -> np.ndarray:
    """``(rows, k)`` int64: per row of ``x`` ``(rows, n)``, the values below each threshold (``inclusive``: at
    most it)."""
    t = _c(np.atleast_1d(np.asarray(thresholds, dtype=np.float64)), np.float64)
    rows, n = x.shape
    out = np.empty((rows, len(t)), dtype=np.int64)
    if COMPILED if compiled is None else compiled:
        _ext.count_below(_c(x, np.float64), t, out, rows, n, len(t), inclusive)
        return out
    op = np.less_equal if inclusive else np.less
    for j, tj in enumerate(t):
        out[:, j] = np.count_nonzero(op(x, tj), axis=-1)
    return out


def reached(x: np.ndarray, tol: float, *, compiled: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For ``x`` ``(groups, years, n)``: per group and year, the values ``>= tol`` that year, and the
    trials with a value ``>= tol`` in that year or an earlier one. Two ``(groups, years)`` int64 arrays."""
    groups, years, n = x.shape
    nonneg = np.empty((groups, years), dtype=np.int64)
    by_year = np.empty((groups, years), dtype=np.int64)
    if COMPILED if compiled is None else compiled:
        _ext.reached(_c(x, np.float64), float(tol), nonneg, by_year, groups, years, n)
        return nonneg, by_year
    hit = x >= tol
    nonneg[:] = np.count_nonzero(hit, axis=-1)
    for t in range(1, years):
        hit[:, t] |= hit[:, t - 1]
    by_year[:] = np.count_nonzero(hit, axis=-1)
    return nonneg, by_year
