"""From per-trial trajectories to the summary: streamed, exact or with a stated error bound.

Each block of trials is reduced to a :class:`Partial` (moments, counts and
histograms); partials merge left to right in block order, so the result for a
seed is the same whatever the chunk size or worker count.

Means, standard deviations, probabilities and the payback distribution are
exact. Quantiles and the expected shortfall come from a histogram on a dyadic
grid (bin width a power of two, anchored at 0): the grid is fixed by the overall
minimum and maximum alone, so it does not depend on the order in which trials
arrive, and each quantile is within one bin width (``quantile_error_bound``)
of the empirical quantile of all trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simulate import kernels
from simulate.engine import Trajectories

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
QUANTILE_KEYS = ("p5", "p25", "p50", "p75", "p95")
BREAK_EVEN_TOLERANCE_DKK = 0.5  # results are reported to the krone: a net above -0.5 DKK has broken even
N_BINS = 8192
ACCOUNTINGS = ("realised", "lifetime")
DISCOUNTING = ("undiscounted", "discounted")


# --- histogram on a dyadic grid ----------------------------------------------------------
def _fit_level(lo: np.ndarray, hi: np.ndarray, n_bins: int) -> np.ndarray:
    """Smallest k such that [lo, hi] spans fewer than ``n_bins`` bins of width 2**k.

    Also keeps |x| / 2**k below 2**50 so bin indices are exact in float64.
    """
    mag = np.maximum(np.maximum(np.abs(lo), np.abs(hi)), 1e-300)
    k_min = np.ceil(np.log2(mag)).astype(np.int64) - 50
    span = np.maximum(hi - lo, 1e-300)
    k = np.maximum(np.floor(np.log2(span / n_bins)).astype(np.int64), k_min)
    while True:
        w = np.ldexp(1.0, k)
        bad = np.floor(hi / w) - np.floor(lo / w) >= n_bins
        if not bad.any():
            return k
        k = np.where(bad, k + 1, k)


ROWS = kernels.ROWS  # series handled at a time (moments, quantiles): temporaries stay small and in cache


def _grid(lo: np.ndarray, hi: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """The dyadic grid (level, offset) for values in [lo, hi]: it depends on lo and hi alone."""
    level = _fit_level(lo, hi, n_bins)
    return level, np.floor(lo * np.ldexp(1.0, -level)).astype(np.int64)


@dataclass(eq=False)
class Histogram:
    """Per-series counts and sums on a dyadic grid: bin i of series s is
    ``[(offset[s] + i) * 2**level[s], (offset[s] + i + 1) * 2**level[s])``.

    A histogram that blocks are added to (:meth:`with_moments` with ``into``) keeps their values in 16-bit
    counts of its own until one could overflow or its grid moves, or until ``counts`` is read (which adds them
    first): the 64-bit counts, 64 KiB a series, are then passed over every fourth block instead of every block.
    The counts read are the same."""

    n_bins: int
    lo: np.ndarray
    hi: np.ndarray
    level: np.ndarray
    offset: np.ndarray
    _counts: np.ndarray
    _kept: np.ndarray | None = field(default=None, repr=False)  # 16-bit counts not yet in _counts
    _pending: np.ndarray | None = field(default=None, repr=False)  # values in _kept, per series
    _below: np.ndarray | None = field(default=None, repr=False)  # values below each of _thr, per series (kept blocks)
    _thr: np.ndarray | None = field(default=None, repr=False)  # the thresholds of _below

    @property
    def counts(self) -> np.ndarray:
        """The 64-bit counts ``(n_series, n_bins)``, every value added so far included."""
        self._flush()
        return self._counts

    @counts.setter
    def counts(self, value: np.ndarray) -> None:
        self._flush()
        self._counts = value

    def _flush(self, rows=None) -> None:
        if self._kept is not None:
            kernels.flush_kept(self._counts, self._kept, self._pending, rows, below_acc=self._below,
                               thresholds=self._thr, scale=self.scale, offset=self.offset)

    @property
    def below_counts(self) -> np.ndarray | None:
        """``(n_series, n_thresholds)``: the values below each threshold of the blocks added with thresholds to this
        histogram (:meth:`with_moments` with ``into`` and ``below``; their counts are not returned there), every
        value added so far included; None if there were none."""
        self._flush()
        return self._below

    def _merged_below(self, other: "Histogram") -> tuple:
        """Both histograms' counts below their thresholds, added (a new array), and the thresholds."""
        if other._below is None:
            return (None if self._below is None else self._below.copy()), self._thr
        if self._below is None:
            return other._below.copy(), other._thr
        if not np.array_equal(self._thr, other._thr):
            raise ValueError("histograms with counts below different thresholds cannot be merged")
        return self._below + other._below, self._thr

    def __getstate__(self) -> dict:
        """Pickled (a worker's partial) with its counts complete and without the 16-bit ones."""
        self._flush()
        return {**self.__dict__, "_kept": None, "_pending": None}

    @classmethod
    def empty(cls, lo: np.ndarray, hi: np.ndarray, n_bins: int = N_BINS) -> "Histogram":
        """No values yet, on the grid of the range [``lo``, ``hi``] of each series."""
        level, offset = _grid(lo, hi, n_bins)
        return cls(n_bins, lo, hi, level, offset, np.zeros((len(lo), n_bins), dtype=np.int64))

    @classmethod
    def of(cls, x: np.ndarray, n_bins: int = N_BINS) -> "Histogram":
        """Histogram of ``x`` ``(n_series, n)``."""
        lo, hi, _ = kernels.row_stats(x)
        hist = cls.empty(lo, hi, n_bins)
        kernels.bin_add(hist.counts, x, hist.scale, hist.offset)
        return hist

    @property
    def scale(self) -> np.ndarray:
        """1 / bin width: a power of two, so values times it are exact."""
        return np.ldexp(1.0, -self.level)

    def _widen(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Move to the grid of the merged range of this histogram and of [``lo``, ``hi``]."""
        lo, hi = np.minimum(self.lo, lo), np.maximum(self.hi, hi)
        level, offset = _grid(lo, hi, self.n_bins)
        moved = np.flatnonzero((level != self.level) | (offset != self.offset))
        if moved.size:  # only the series whose grid moves need their 16-bit counts first (on the grid they were kept on)
            self._flush(moved)
            self._counts = self._rebinned(level, offset, inplace=True)
        self.lo, self.hi, self.level, self.offset = lo, hi, level, offset

    @classmethod
    def with_moments(cls, x: np.ndarray, into: "Histogram | None" = None, *, below=None,
                     stats: tuple | None = None) -> tuple["Histogram", np.ndarray | None, "Moments"]:
        """The histogram of ``x`` ``(n_series, n)`` (or ``into`` with ``x`` added, in place), the values below
        each of the thresholds ``below`` (or None), and the :class:`Moments` of each row.

        ``x`` is binned straight into the grid of the merged range: binning at a level and coarsening later gives
        the same counts as binning at the coarser level, so the result is the same as ``into.merge(Histogram.of(x))``
        and does not depend on the order in which values arrive (see :func:`simulate.kernels.bin_add`). Two
        passes over ``x``: its range and mean (:func:`simulate.kernels.row_stats`), then the bins, the counts
        below and the squared deviations (:func:`simulate.kernels.bin_moments`). ``stats``: the first pass's
        (lo, hi, mean), if the caller has it."""
        lo, hi, mean = kernels.row_stats(x) if stats is None else stats
        if into is None:
            hist = cls.empty(lo, hi)
        else:
            hist = into
            hist._widen(lo, hi)
        if into is not None and kernels.COMPILED:  # later blocks will be added too: keep
            if hist._kept is None:
                hist._kept = np.zeros(hist._counts.shape, dtype=np.uint16)
                hist._pending = np.zeros(len(hist._counts), dtype=np.int64)
            if below is not None:  # the counts below go to the histogram's own (see below_counts)
                thr = np.atleast_1d(np.asarray(below, dtype=np.float64))
                if hist._below is None:
                    hist._below, hist._thr = np.zeros((len(hist._counts), thr.size), dtype=np.int64), thr
                elif not np.array_equal(hist._thr, thr):
                    raise ValueError("a histogram keeps its counts below one set of thresholds")
            out, m2 = kernels.bin_moments(hist._counts, x, hist.scale, hist.offset, mean, below=below,
                                          kept=hist._kept, pending=hist._pending, below_acc=hist._below)
        else:
            out, m2 = kernels.bin_moments(hist.counts, x, hist.scale, hist.offset, mean, below=below)
        return hist, out, Moments(x.shape[1], mean, m2)

    def _rebinned(self, level: np.ndarray, offset: np.ndarray, *, inplace: bool = False) -> np.ndarray:
        """The counts on the grid (``level``, ``offset``), which must be as coarse as this one (not a copy
        when the grid is this one's; ``inplace``: this one's counts, changed row by row where the grid moved,
        without copying the rows that stay). The series whose grid moves must have no 16-bit counts kept."""
        if np.array_equal(level, self.level) and np.array_equal(offset, self.offset):
            return self._counts
        if kernels.COMPILED:
            out = self._counts if inplace else np.empty_like(self._counts)
            if kernels.rebin(self._counts, out, self.level, self.offset, level, offset, add=False):
                return out
        counts = self._counts if inplace else self._counts.copy()
        shifted = np.flatnonzero((level == self.level) & (offset != self.offset))
        for row in shifted:  # same grid, window moved down: a plain shift of the counts
            d = int(self.offset[row] - offset[row])
            counts[row, d:] = counts[row, : self.n_bins - d].copy()
            counts[row, :d] = 0
        moved = np.flatnonzero(level != self.level)
        if moved.size == 0:
            return counts
        shift = (level - self.level)[moved]
        src = self.offset[moved, None] + np.arange(self.n_bins)[None, :]
        dst = (src >> shift[:, None]) - offset[moved, None]
        old = self._counts[moved]
        keep = old > 0
        rows = np.broadcast_to(np.arange(len(moved))[:, None], dst.shape)
        flat = (dst + rows * self.n_bins)[keep]
        size = len(moved) * self.n_bins
        counts[moved] = np.bincount(flat, weights=old[keep], minlength=size).reshape(len(moved), -1).astype(np.int64)
        return counts

    def merge(self, other: "Histogram", *, inplace: bool = False) -> "Histogram":
        """The histogram of both sets of values: exact, and the same in any merge order (``inplace``:
        into this one, without a copy of the counts where the grid stays)."""
        lo, hi = np.minimum(self.lo, other.lo), np.maximum(self.hi, other.hi)
        level, offset = _grid(lo, hi, self.n_bins)
        self._flush()
        other._flush()
        below, thr = self._merged_below(other)
        if not inplace:
            counts = self._rebinned(level, offset) + other._rebinned(level, offset)
            return Histogram(self.n_bins, lo, hi, level, offset, counts, _below=below, _thr=thr)
        self.counts = self._rebinned(level, offset, inplace=True)
        if np.may_share_memory(other._counts, self._counts) or not kernels.rebin(
                other._counts, self._counts, other.level, other.offset, level, offset, add=True):
            self.counts += other._rebinned(level, offset)  # (a histogram merged with itself: its counts doubled)
        self.lo, self.hi, self.level, self.offset = lo, hi, level, offset
        self._below, self._thr = below, thr
        return self

    def take(self, rows) -> "Histogram":
        """The histogram of some of the series."""
        counts = self.counts
        return Histogram(self.n_bins, self.lo[rows], self.hi[rows], self.level[rows], self.offset[rows], counts[rows],
                         _below=None if self._below is None else self._below[rows], _thr=self._thr)

    @property
    def width(self) -> np.ndarray:
        return np.ldexp(1.0, self.level)

    def quantiles(self, qs) -> np.ndarray:
        """``(n_series, len(qs))`` quantiles, each within one bin width of the empirical one."""
        out = np.empty((len(self.counts), len(qs)))
        w = self.width
        for a in range(0, len(self.counts), ROWS):  # a few series at a time: small temporaries
            rows = slice(a, a + ROWS)
            counts = self.counts[rows]
            n = counts.sum(axis=1)
            cum = np.cumsum(counts, axis=1)
            idx = np.arange(len(n))
            for j, q in enumerate(qs):
                target = q * n
                b = np.minimum((cum < target[:, None]).sum(axis=1), self.n_bins - 1)
                before = np.where(b > 0, cum[idx, b - 1], 0)
                inside = np.maximum(counts[idx, b], 1)
                frac = np.clip((target - before) / inside, 0.0, 1.0)
                out[rows, j] = (self.offset[rows] + b + frac) * w[rows]
        return np.clip(out, self.lo[:, None], self.hi[:, None])

    def lower_tail_mean(self, q: float) -> np.ndarray:
        """Mean of the lowest fraction ``q`` of values (the expected shortfall), within one bin width.

        Values are taken as spread evenly inside each bin.
        """
        out = np.empty(len(self.counts))
        for a in range(0, len(self.counts), ROWS):  # a few series at a time: small temporaries
            rows = slice(a, a + ROWS)
            counts, offset, w = self.counts[rows], self.offset[rows], self.width[rows]
            n = counts.sum(axis=1)
            k = np.maximum(q * n, 1e-12)
            cum = np.cumsum(counts, axis=1)
            centres = (offset[:, None] + np.arange(self.n_bins)[None, :] + 0.5) * w[:, None]
            csum = np.cumsum(counts * centres, axis=1)
            idx = np.arange(len(n))
            b = np.minimum((cum < k[:, None]).sum(axis=1), self.n_bins - 1)
            before_n = np.where(b > 0, cum[idx, b - 1], 0)
            before_s = np.where(b > 0, csum[idx, b - 1], 0.0)
            part = k - before_n
            part_mean = (offset + b) * w + 0.5 * w * part / np.maximum(counts[idx, b], 1)
            out[rows] = (before_s + part * part_mean) / k
        return np.clip(out, self.lo, self.hi)


# --- moments ------------------------------------------------------------------------------
@dataclass
class Moments:
    """Count, mean and sum of squared deviations per series, merged exactly (Chan et al.)."""

    n: int
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray) -> "Moments":
        """Moments of ``x`` ``(..., n)``: the mean and the sum of squared deviations from it, each summed in
        NumPy's pairwise order (as :meth:`Histogram.with_moments` computes them)."""
        mean = x.mean(axis=-1)
        m2 = kernels.squared_deviations(x.reshape(-1, x.shape[-1]), mean.reshape(-1))
        return cls(x.shape[-1], mean, m2.reshape(mean.shape))

    def reshape(self, shape) -> "Moments":
        """The same moments with the series axes in ``shape``."""
        return Moments(self.n, self.mean.reshape(shape), self.m2.reshape(shape))

    def take(self, index) -> "Moments":
        """The moments of some series (``index`` on the last series axis)."""
        return Moments(self.n, self.mean[..., index], self.m2[..., index])

    def merge(self, other: "Moments") -> "Moments":
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        m2 = self.m2 + other.m2 + delta * delta * (self.n * other.n / n)
        return Moments(n, mean, m2)

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else np.zeros_like(self.mean)


# --- one block's reduction ------------------------------------------------------------------
@dataclass
class BlockFloats:
    """The floating-point aggregates of one block, folded strictly in block order."""

    net: Moments  # cumulative net, (n_payers, 2, n_years)
    savings: np.ndarray  # sum of savings per year, (n_payers, 2, n_years)
    cost: np.ndarray  # sum of cost per year, (n_payers, 2, n_years)
    roi_sum: np.ndarray  # sum of per-trial ROI at year 1 and horizon, (n_payers, 2, 2)

    def fold(self, other: "BlockFloats") -> "BlockFloats":
        return BlockFloats(self.net.merge(other.net), self.savings + other.savings,
                           self.cost + other.cost, self.roi_sum + other.roi_sum)


@dataclass
class Partial:
    """A run of blocks reduced: integer aggregates (exact in any order) and per-block floats.

    Floats are kept per block and folded left to right in block order, so the
    result does not depend on how blocks were grouped into chunks or workers.
    """

    payers: tuple[str, ...]
    n: int
    hist: Histogram | None  # cumulative net per (payer, discounting, year), flattened (None: already added
    # to the histogram of the partial this one is merged into, see reduce_block)
    nonneg: np.ndarray  # trials with cumulative net >= 0, (n_payers, 2, n_years)
    payback: np.ndarray  # first year with cumulative net >= 0, (n_payers, 2, n_years + 1)
    roi_n: np.ndarray  # trials with a defined ROI, (n_payers, 2, 2)
    claim_hits: np.ndarray  # (n_claims, 2 accountings); -1 where an accounting was not computed
    blocks: dict  # block index -> BlockFloats, for blocks not yet folded into the prefix
    prefix: BlockFloats | None = None  # blocks 0 .. prefix_end - 1 folded in order
    prefix_end: int = 0

    def __post_init__(self):
        self._compact()

    def _compact(self) -> None:
        """Fold every block that directly follows the prefix, keeping memory small."""
        while self.prefix_end in self.blocks:
            block = self.blocks.pop(self.prefix_end)
            self.prefix = block if self.prefix is None else self.prefix.fold(block)
            self.prefix_end += 1

    def merge(self, other: "Partial", *, inplace: bool = False) -> "Partial":
        """Both partials' blocks (``inplace``: into this one, which must not be used elsewhere)."""
        hits = np.where((self.claim_hits < 0) | (other.claim_hits < 0), -1, self.claim_hits + other.claim_hits)
        first, second = (self, other) if self.prefix_end >= other.prefix_end else (other, self)
        blocks = {**first.blocks, **second.blocks}
        if second.prefix is not None:  # both hold a prefix only if one is empty of blocks
            raise ValueError("two partials both start at block 0")
        if inplace:
            if other.hist is not None:
                self.hist.merge(other.hist, inplace=True)
            self.n += other.n
            self.nonneg += other.nonneg
            self.payback += other.payback
            self.roi_n += other.roi_n
            self.claim_hits = hits
            self.blocks, self.prefix, self.prefix_end = blocks, first.prefix, first.prefix_end
            self._compact()
            return self
        return Partial(
            self.payers, self.n + other.n, self.hist.merge(other.hist), self.nonneg + other.nonneg,
            self.payback + other.payback, self.roi_n + other.roi_n, hits, blocks, first.prefix, first.prefix_end,
        )

    def floats(self) -> BlockFloats:
        """The per-block floats folded in block order (all blocks must be present)."""
        if self.blocks or self.prefix is None:
            missing = sorted(self.blocks)[:3]
            raise ValueError(f"blocks missing before {missing}: cannot fold in order")
        return self.prefix


def cumulative_nets(traj: Trajectories, accounting: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative savings, cost and net per payer (``total`` last), undiscounted and discounted.

    Returns three ``(n_payers + 1, 2, n_years, n_trials)`` arrays [DKK]; axis 1 is
    (undiscounted, discounted).
    """
    if accounting == "realised":
        sav, sav_pv = traj.savings_dkk, None
    else:
        if traj.lifetime_savings_dkk is None:
            raise ValueError("lifetime accounting needs trajectories simulated with lifetime=True")
        sav, sav_pv = traj.lifetime_savings_dkk, traj.lifetime_savings_pv_dkk
    cost, df = traj.cost_dkk, traj.discount_factor
    P, H, n = cost.shape
    cum_sav = np.empty((P + 1, 2, H, n))
    cum_cost = np.empty((P + 1, 2, H, n))
    for t in range(H):  # year by year: contiguous rows, no strided cumsum
        s_pv = sav[:, t] * df[t] if sav_pv is None else sav_pv[:, t]
        c_t = cost[:, t]
        if t == 0:
            cum_sav[:P, 0, 0], cum_sav[:P, 1, 0] = sav[:, 0], s_pv
            cum_cost[:P, 0, 0], cum_cost[:P, 1, 0] = c_t, c_t * df[0]
        else:
            np.add(cum_sav[:P, 0, t - 1], sav[:, t], out=cum_sav[:P, 0, t])
            np.add(cum_sav[:P, 1, t - 1], s_pv, out=cum_sav[:P, 1, t])
            np.add(cum_cost[:P, 0, t - 1], c_t, out=cum_cost[:P, 0, t])
            np.add(cum_cost[:P, 1, t - 1], c_t * df[t], out=cum_cost[:P, 1, t])
    cum_sav[P] = cum_sav[:P].sum(axis=0)
    cum_cost[P] = cum_cost[:P].sum(axis=0)
    return cum_sav, cum_cost, cum_sav - cum_cost


def roi(cum_sav: np.ndarray, cum_cost: np.ndarray) -> np.ndarray:
    """Return on investment, savings / cost - 1; NaN where nothing was spent."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(cum_cost > 0, cum_sav / np.where(cum_cost > 0, cum_cost, 1.0) - 1.0, np.nan)


def break_even_successes(cum_sav, cum_cost, successes, year: int) -> np.ndarray:
    """Successes per year at which the cumulative net by ``year`` is zero, other inputs as drawn.

    Savings scale with the number of successes, so the break-even is the
    average successes per year times cost / savings (inf without savings).
    ``cum_sav`` and ``cum_cost`` are ``(n_years, n_trials)`` cumulative sums.
    """
    return _break_even(successes[:year].sum(axis=0) / year, cum_sav[year - 1], cum_cost[year - 1])


def _break_even(avg_successes, cum_sav, cum_cost) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(cum_sav > 0, avg_successes * cum_cost / np.where(cum_sav > 0, cum_sav, 1.0), np.inf)


def claim_reached(claim, sav: np.ndarray, cost: np.ndarray, successes: np.ndarray) -> np.ndarray:
    """Per trial: does the (undiscounted) model reach the provider's claimed figure?

    ``sav`` and ``cost`` are the claim payer's yearly savings and cost ``(n_years, n_trials)``
    under one accounting.
    """
    t = claim.year
    return _reached_claim(claim, sav[:t].sum(axis=0), cost[:t].sum(axis=0), successes)


_MAX = np.finfo(np.float64).max


def _reached_claim(claim, cum_sav: np.ndarray, cum_cost: np.ndarray, successes: np.ndarray) -> np.ndarray:
    """:func:`claim_reached` from the cumulative savings and cost at the claim's year."""
    t = claim.year
    threshold = _claim_threshold(claim)
    if claim.metric == "cumulative_net":
        return cum_sav - cum_cost >= threshold
    # As roi() and _break_even() compute them, without their placeholders: the ROI (NaN, never reached, where
    # nothing was spent) is savings / cost - 1 where cost > 0; the break-even (inf, never reached, without
    # savings) is average successes * cost / savings where savings > 0. The masked-out quotients are ignored.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if claim.metric == "roi":
            ratio = cum_sav / cum_cost
            ratio -= 1.0
            np.clip(ratio, -_MAX, _MAX, out=ratio)  # infinities as nan_to_num makes them; a NaN is never reached
            return (ratio >= threshold) & (cum_cost > 0)
        avg = successes[:t].sum(axis=0) / t
        avg *= cum_cost
        avg /= cum_sav
        return (avg <= threshold) & (cum_sav > 0)


def _claims_hits(traj: Trajectories, claims, payers: tuple) -> np.ndarray:
    """``(n_claims, 2 accountings)``: the trials in which each claim is reached (-1 where an accounting was not
    computed). The cumulative sums are run once per payer and accounting, year by year: the same numbers as
    ``sav[:t].sum(axis=0)`` (0.0, then each year added in order)."""
    hits = np.full((len(claims), 2), -1, dtype=np.int64)
    for acc_i, acc in enumerate(ACCOUNTINGS):
        if acc == "lifetime" and traj.lifetime_savings_dkk is None:
            continue
        by_payer: dict = {}
        for claim in claims:
            by_payer.setdefault(payers.index(claim.payer), set()).add(claim.year)
        if _compiled_claims(traj, acc, claims, payers, hits[:, acc_i]):
            continue
        cums = {}
        for q, years in by_payer.items():
            sav, cost = _payer_flows(traj, acc, q)
            cum_sav, cum_cost = 0.0 + sav[0], 0.0 + cost[0]
            for t in range(1, max(years) + 1):
                if t > 1:
                    cum_sav, cum_cost = cum_sav + sav[t - 1], cum_cost + cost[t - 1]
                if t in years:
                    cums[q, t] = (cum_sav, cum_cost)
        for i, claim in enumerate(claims):
            cum = cums[payers.index(claim.payer), claim.year]
            hits[i, acc_i] = int(np.count_nonzero(_reached_claim(claim, *cum, traj.successes)))
    return hits


def _claim_threshold(claim) -> float:
    """The figure a trial must reach for ``claim`` (at least for ROI and net, at most for break-even), as
    :func:`_reached_claim` compares."""
    tol = claim.tolerance + 1e-9 * max(1.0, abs(claim.value))
    return claim.value + tol if claim.metric == "break_even_successes" else claim.value - tol


def _compiled_claims(traj: Trajectories, acc: str, claims, payers: tuple, out: np.ndarray) -> bool:
    """:func:`_claims_hits` for one accounting by the compiled kernel (one pass per payer over its flows), into
    ``out``; False (nothing written) where the kernel does not run."""
    if not kernels.COMPILED:
        return False
    n = traj.n_trials
    for q in sorted({payers.index(c.payer) for c in claims}):
        mine = [i for i, c in enumerate(claims) if payers.index(c.payer) == q]
        sav, cost = _payer_flows(traj, acc, q)
        avg = np.empty((len(mine), n))
        for row, i in enumerate(mine):
            if claims[i].metric == "break_even_successes":
                t = claims[i].year
                avg[row] = traj.successes[:t].sum(axis=0) / t
        got = kernels.claim_hits(sav, cost, [kernels.CLAIM_KINDS.index(claims[i].metric) for i in mine],
                                 [claims[i].year for i in mine], [_claim_threshold(claims[i]) for i in mine], avg)
        if got is None:
            return False
        out[mine] = got
    return True


def _payer_flows(traj: Trajectories, accounting: str, payer: int) -> tuple[np.ndarray, np.ndarray]:
    """One payer's (``total`` = the last index) yearly savings and cost, undiscounted."""
    sav = traj.savings_dkk if accounting == "realised" else traj.lifetime_savings_dkk
    if payer == len(traj.payers):
        return sav.sum(axis=0), traj.cost_dkk.sum(axis=0)
    return sav[payer], traj.cost_dkk[payer]


def first_pass(traj: Trajectories, accounting: str, *, core: np.ndarray | None = None,
               worst: np.ndarray | None = None) -> tuple:
    """The block's cumulative net per payer (``total`` last), undiscounted and discounted, ``(n_payers + 1, 2,
    n_years, n_trials)`` [DKK] (the numbers of ``cumulative_nets(...)[2]``), and, in the same pass over the
    block, what :func:`reduce_block` and
    :func:`simulate.budget.reduce_block` first read from it: each series' range, mean and break-even counts,
    the savings and cost sums and the ROI sums (:func:`simulate.kernels.first_pass`). Pass the result to
    both as ``first=``. ``core`` and ``worst``: :func:`simulate.budget.new_core` arrays to receive the budget's
    cash view of a realised run (the funding need, each year's undiscounted net, the lowest yearly net)."""
    sav, sav_pv = _savings(traj, accounting)
    z = traj.zero_rows
    if accounting == "realised":
        zero = (z("savings_dkk"), z("cost_dkk"), ())
    else:
        zero = (z("lifetime_savings_dkk"), z("cost_dkk"), z("lifetime_savings_pv_dkk"))
    return kernels.first_pass(sav, traj.cost_dkk, traj.discount_factor, sav_pv, core=core, worst=worst,
                              level=-BREAK_EVEN_TOLERANCE_DKK, zero=zero)


def _savings(traj: Trajectories, accounting: str):
    if accounting == "realised":
        return traj.savings_dkk, None
    if traj.lifetime_savings_dkk is None:
        raise ValueError("lifetime accounting needs trajectories simulated with lifetime=True")
    return traj.lifetime_savings_dkk, traj.lifetime_savings_pv_dkk


def reduce_block(traj: Trajectories, *, accounting: str, claims=(), block: int = 0, into: Partial | None = None,
                 first: tuple | None = None) -> Partial:
    """Reduce one block of trajectories to a :class:`Partial` (``first``: :func:`first_pass`, if the caller has
    it; it is computed otherwise).

    ``into``: a partial of other blocks to add this block to, in place (the same result as merging).
    """
    sav, sav_pv = _savings(traj, accounting)
    cost, df = traj.cost_dkk, traj.discount_factor
    P, H, n = cost.shape
    net, (lo, hi, mean, nonneg, by_year), _, flows = first_pass(traj, accounting) if first is None else first
    n_p = P + 1
    # sums over trials of each year's savings and cost; ROI of the cumulative savings and cost at year 1 and the
    # horizon: trials defined, sum
    sav_sum, cost_sum, pv_sum, roi_n, roi_sum = flows
    sav_year = np.empty((n_p, 2, H))
    sav_year[:P, 0] = sav_sum
    sav_year[:P, 1] = sav_year[:P, 0] * df if sav_pv is None else pv_sum
    cost_year = np.empty((n_p, 2, H))
    cost_year[:P, 0] = cost_sum
    cost_year[:P, 1] = cost_year[:P, 0] * df
    sav_year[P], cost_year[P] = sav_year[:P].sum(axis=0), cost_year[:P].sum(axis=0)
    # break-even by year and the payback year (the first year with the cumulative net >= 0), counted in the first
    # pass with each series' range and mean
    flat = net.reshape(-1, n)
    nonneg, by_year = nonneg.reshape(n_p, 2, H), by_year.reshape(n_p, 2, H)
    payback = np.empty((n_p, 2, H + 1), dtype=np.int64)
    payback[..., 0] = by_year[..., 0]
    payback[..., 1:H] = np.diff(by_year, axis=-1)
    payback[..., H] = n - by_year[..., -1]
    hist, _, moments = Histogram.with_moments(flat, None if into is None else into.hist, stats=(lo, hi, mean))
    if into is not None:
        hist = None  # added to into's histogram
    floats = BlockFloats(moments.reshape(net.shape[:-1]), sav_year, cost_year, roi_sum)
    payers = (*traj.payers, "total")
    hits = _claims_hits(traj, claims, payers)
    part = Partial(payers, n, hist, nonneg, payback, roi_n, hits, {block: floats})
    return part if into is None else into.merge(part, inplace=True)


def merge_all(partials) -> Partial:
    """Merge partials (in any order: the floats are folded by block index)."""
    it = iter(partials)
    total = next(it)
    for part in it:
        total = total.merge(part)
    return total


# --- the summary ------------------------------------------------------------------------------
def _r(x: float, nd: int = 6) -> float | None:
    """A JSON-safe float (None for NaN or inf)."""
    x = float(x)
    return None if not math.isfinite(x) else round(x, nd)


def _payer_block(part: Partial, floats: BlockFloats, p: int, d: int, expected_net: np.ndarray | None,
                 quantiles: np.ndarray, bounds: np.ndarray, es: np.ndarray) -> dict:
    """Yearly figures and horizon metrics of payer ``p`` under discounting ``d``."""
    n = part.n
    H = part.nonneg.shape[-1]
    sd = floats.net.sd[p, d]
    years = []
    for t in range(H):
        s = (p * 2 + d) * H + t
        prob = part.nonneg[p, d, t] / n
        years.append({
            "year": t + 1,
            "cumulative_net": {
                "mean": _r(floats.net.mean[p, d, t], 2),
                "sd": _r(sd[t], 2),
                "mean_se": _r(sd[t] / math.sqrt(n), 2),
                **{k: _r(quantiles[s, j], 2) for j, k in enumerate(QUANTILE_KEYS)},
                "quantile_error_bound": _r(bounds[s], 4),
            },
            "p_break_even": {"value": _r(prob), "se": _r(math.sqrt(prob * (1 - prob) / n))},
            "savings_mean": _r(floats.savings[p, d, t] / n, 2),
            "cost_mean": _r(floats.cost[p, d, t] / n, 2),
            "expected_cumulative_net": None if expected_net is None else _r(expected_net[t], 2),
        })
    counts = part.payback[p, d]
    dist = [{"year": t + 1, "probability": _r(counts[t] / n)} for t in range(H)]
    dist.append({"year": None, "label": "not within the horizon", "probability": _r(counts[H] / n)})
    cum = np.cumsum(counts[:H]) / n
    median = next((t + 1 for t in range(H) if cum[t] >= 0.5), None)
    sav, cost = floats.savings[p, d], floats.cost[p, d]

    def roi_of(i: int, t: int) -> dict:
        c = cost[: t + 1].sum()
        ratio = sav[: t + 1].sum() / c - 1.0 if c > 0 else float("nan")
        m = part.roi_n[p, d, i]
        return {"value": _r(ratio), "mean": _r(floats.roi_sum[p, d, i] / m) if m else None, "trials_defined": int(m)}

    last = (p * 2 + d) * H + H - 1
    return {
        "years": years,
        "roi_year1": roi_of(0, 0),
        "roi_horizon": roi_of(1, H - 1),
        "payback_year": {"distribution": dist, "median": median, "p_within_horizon": _r(cum[-1])},
        "expected_shortfall_5": {"value": _r(es[last], 2), "error_bound": _r(bounds[last], 4)},
    }


def build_summary(part: Partial, *, accounting: str, payer: str, expected: dict | None = None,
                  claims=(), claim_expected: list | None = None, break_even: dict | None = None) -> dict:
    """The summary of a run for every payer; the chosen ``payer`` at the top level.

    Parameters
    ----------
    part : Partial
        All blocks of the run, merged.
    expected : dict, optional
        accounting -> ``(n_payers, 2, n_years)`` expected-mode cumulative net.
    claim_expected : list, optional
        Per claim, the expected-mode value under each accounting.
    """
    floats = part.floats()
    quantiles = part.hist.quantiles(QUANTILES)
    es = part.hist.lower_tail_mean(0.05)
    bounds = part.hist.width
    exp = None if expected is None else expected.get(accounting)
    by_payer = {}
    for p, name in enumerate(part.payers):
        blocks = [_payer_block(part, floats, p, d, None if exp is None else exp[p, d], quantiles, bounds, es)
                  for d in range(2)]
        by_payer[name] = {**blocks[0], "discounted": blocks[1]}
    out = {**by_payer[payer]}
    n = part.n
    claim_rows = []
    for i, claim in enumerate(claims):
        row = {
            "name": claim.name, "metric": claim.metric, "year": claim.year, "payer": claim.payer,
            "claimed": claim.value,
        }
        if claim_expected is not None:
            row["expected_realised"] = _r(claim_expected[i]["realised"], 4)
            row["expected_lifetime"] = _r(claim_expected[i]["lifetime"], 4)
        for acc_i, acc in enumerate(ACCOUNTINGS):
            hits = part.claim_hits[i, acc_i]
            prob = hits / n if hits >= 0 else None
            row[f"p_reached_{acc}"] = None if prob is None else _r(prob)
            row[f"p_reached_{acc}_se"] = None if prob is None else _r(math.sqrt(prob * (1 - prob) / n))
        row["p_reached"] = row[f"p_reached_{accounting}"]
        claim_rows.append(row)
    out["claims"] = claim_rows
    if break_even is not None:
        out["break_even_successes"] = break_even
    out["by_payer"] = by_payer
    return out


def yearly_rows(summary: dict) -> list[dict]:
    """Tidy rows: one per year x payer x discounting."""
    rows = []
    for payer, block in summary["by_payer"].items():
        for disc, sub in (("undiscounted", block), ("discounted", block["discounted"])):
            for y in sub["years"]:
                rows.append({
                    "year": y["year"], "payer": payer, "discounting": disc,
                    **{f"cumulative_net_{k}": v for k, v in y["cumulative_net"].items()},
                    "p_break_even": y["p_break_even"]["value"], "p_break_even_se": y["p_break_even"]["se"],
                    "savings_mean": y["savings_mean"], "cost_mean": y["cost_mean"],
                    "expected_cumulative_net": y["expected_cumulative_net"],
                })
    return rows
