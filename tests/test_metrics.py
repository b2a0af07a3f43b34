"""Streamed aggregates: exact moments, quantiles within their stated bound, order-independent merging."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulate.metrics import Histogram, Moments


def test_moments_merge_equals_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(5e6, 2e6, (3, 10_000))
    m = Moments.of(x[:, :3000]).merge(Moments.of(x[:, 3000:7000])).merge(Moments.of(x[:, 7000:]))
    assert m.mean == pytest.approx(x.mean(axis=1), rel=1e-12)
    assert m.sd == pytest.approx(x.std(axis=1, ddof=1), rel=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 3000),
    st.floats(-1e8, 1e8),
    st.floats(1e-3, 1e8),
    st.sampled_from([0.05, 0.25, 0.5, 0.75, 0.95]),
    st.integers(1, 5),
)
def test_quantile_is_within_one_bin_of_the_empirical_quantile(n, loc, scale, q, parts):
    rng = np.random.default_rng(n)
    x = loc + scale * rng.standard_t(3, (2, n))
    cuts = np.linspace(0, n, parts + 1).astype(int)
    pieces = [Histogram.of(x[:, a:b]) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
    h = pieces[0]
    for other in pieces[1:]:
        h = h.merge(other)
    got = h.quantiles([q])[:, 0]
    lo = np.quantile(x, q, axis=1, method="inverted_cdf")
    hi = np.quantile(x, q, axis=1, method="higher")
    bound = h.width
    assert np.all(got >= np.minimum(lo, hi) - bound - 1e-9 * np.abs(lo))
    assert np.all(got <= np.maximum(lo, hi) + bound + 1e-9 * np.abs(hi))


def test_histogram_merge_is_the_same_in_any_order():
    rng = np.random.default_rng(2)
    parts = [rng.normal(i * 1e6, (i + 1) * 1e5, (4, 5000)) for i in range(5)]
    hs = [Histogram.of(p) for p in parts]
    a = hs[0]
    for h in hs[1:]:
        a = a.merge(h)
    b = hs[4]
    for h in reversed(hs[:4]):
        b = b.merge(h)
    whole = Histogram.of(np.concatenate(parts, axis=1))
    for other in (b, whole):
        assert np.array_equal(a.counts, other.counts)
        assert np.array_equal(a.level, other.level) and np.array_equal(a.offset, other.offset)


def test_expected_shortfall_within_one_bin():
    rng = np.random.default_rng(3)
    x = rng.lognormal(0, 1, (1, 100_000)) * 1e6 - 2e6
    h = Histogram.of(x)
    k = int(0.05 * x.shape[1])
    exact = np.sort(x[0])[:k].mean()
    assert abs(h.lower_tail_mean(0.05)[0] - exact) <= h.width[0]


def test_identical_values_give_exact_quantiles():
    h = Histogram.of(np.full((1, 7), 4_329_630.0))
    assert h.quantiles([0.05, 0.5, 0.95])[0] == pytest.approx([4_329_630.0] * 3, abs=0)
    assert h.lower_tail_mean(0.05)[0] == 4_329_630.0


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4000), st.integers(1, 6), st.floats(1e-3, 1e7), st.integers(0, 2**31))
def test_adding_blocks_in_place_equals_merging_histograms(n, parts, scale, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_t(2, (3, n)) * scale + rng.normal(0, scale, (3, 1))
    cuts = np.linspace(0, n, parts + 1).astype(int)
    pieces = [x[:, a:b] for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
    merged = Histogram.of(pieces[0])
    added = Histogram.of(pieces[0])
    for p in pieces[1:]:
        merged = merged.merge(Histogram.of(p))
        Histogram.with_moments(p, added)  # in place, as a run adds each block
    whole = Histogram.of(x)
    for h in (added, merged):
        assert np.array_equal(h.counts, whole.counts)
        assert np.array_equal(h.level, whole.level) and np.array_equal(h.offset, whole.offset)


@pytest.mark.parametrize("config", ["naerbolig_brochure.yaml", "naerbolig.yaml"])
def test_claims_hits_are_the_claims_reached_trial_by_trial(config):
    """The claims' counts of a block (cumulative sums run once per payer) are the per-trial definition's, with the
    claims' own sums of each year's flows, under both accountings."""
    from pathlib import Path

    from simulate import metrics
    from simulate.api import block_rng
    from simulate.engine import simulate
    from simulate.io import read_scenario

    s = read_scenario(Path(__file__).resolve().parents[1] / "configs" / config)
    traj = simulate(s, 4099, block_rng(3, 1), lifetime=True)
    payers = (*traj.payers, "total")
    hits = metrics._claims_hits(traj, s.claims, payers)
    for i, claim in enumerate(s.claims):
        for a, acc in enumerate(metrics.ACCOUNTINGS):
            sav = (traj.savings_dkk if acc == "realised" else traj.lifetime_savings_dkk)[payers.index(claim.payer)]
            cost = traj.cost_dkk[payers.index(claim.payer)]
            t = claim.year
            cum_sav, cum_cost = sum(sav[y] for y in range(t)), sum(cost[y] for y in range(t))
            want = metrics._reached_claim(claim, cum_sav, cum_cost, traj.successes)
            assert hits[i, a] == int(want.sum())
    assert (hits > 0).any() and (hits < 4099).any()


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["roi", "break_even_successes", "cumulative_net"]), st.integers(1, 4),
       st.floats(-2.0, 5.0), st.booleans(), st.integers(0, 2**32 - 1))
def test_a_claim_is_reached_as_its_metric_defines_it(metric, year, value, at_threshold, seed):
    """_reached_claim counts as roi() and _break_even() define the claims' metrics (NaN where nothing was spent, inf
    without savings, never reached), on flows with zeros, signs, infinities and NaN, and with the claimed figure
    equal to a trial's value (so a regrouped operation that moves a value by its last bit shows)."""
    from types import SimpleNamespace

    from simulate import metrics

    rng = np.random.default_rng(seed)
    n = 400
    special = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-300, 5e5])
    cum_sav = np.where(rng.random(n) < 0.3, special[rng.integers(0, special.size, n)], rng.normal(1e6, 2e6, n))
    cum_cost = np.where(rng.random(n) < 0.3, special[rng.integers(0, special.size, n)], rng.normal(8e5, 1e6, n))
    successes = rng.integers(0, 11, (4, n)).astype(float)
    claim = SimpleNamespace(metric=metric, year=year, value=value * (1e6 if metric == "cumulative_net" else 1.0),
                            tolerance=0.005)

    def defined():
        with np.errstate(all="ignore"):
            if metric == "roi":
                return np.nan_to_num(metrics.roi(cum_sav, cum_cost), nan=-np.inf)
            if metric == "break_even_successes":
                return metrics._break_even(successes[:year].sum(axis=0) / year, cum_sav, cum_cost)
            return cum_sav - cum_cost

    if at_threshold:  # the claimed figure is one trial's value, to the bit (the tolerance cancels to 0)
        finite = np.flatnonzero(np.isfinite(defined()))
        if finite.size:
            claim.value = float(defined()[finite[seed % finite.size]])
            claim.tolerance = -(1e-9 * max(1.0, abs(claim.value)))
    tol = claim.tolerance + 1e-9 * max(1.0, abs(claim.value))
    want = defined() <= claim.value + tol if metric == "break_even_successes" else defined() >= claim.value - tol
    with np.errstate(invalid="ignore"):  # inf - inf in a cumulative net (flows of a run are finite)
        got = metrics._reached_claim(claim, cum_sav, cum_cost, successes)
    assert np.array_equal(got, want)


def test_counts_kept_in_16_bits_between_blocks_are_complete_when_read():
    """A histogram that blocks are added to keeps their counts in 16 bits between blocks: a bin past 65,535
    values, a grid that moves, a copy sent to another process (pickled) and the counts read mid-way all give the
    counts of one histogram of every value."""
    import pickle

    rng = np.random.default_rng(8)
    blocks = [np.full((2, 20_000), 5.0) for _ in range(4)]  # 80,000 values in one bin of each series
    blocks += [rng.normal(0, 1e3, (2, 9_000)), rng.normal(5e6, 1.0, (2, 30_000))]  # the grid widens
    added = Histogram.of(blocks[0])
    for i, b in enumerate(blocks[1:]):
        Histogram.with_moments(b, added)
        if i == 2:
            assert added.counts.sum() == 2 * 80_000  # read mid-way: complete, and the adding goes on after
    copy = pickle.loads(pickle.dumps(added))
    whole = Histogram.of(np.concatenate(blocks, axis=1))
    for h in (added, copy):
        assert np.array_equal(h.counts, whole.counts)
        assert np.array_equal(h.level, whole.level) and np.array_equal(h.offset, whole.offset)


@pytest.mark.parametrize("compiled", [True, False])
def test_counts_below_thresholds_of_blocks_added_in_place_are_the_direct_counts(compiled, monkeypatch):
    """Blocks added with thresholds (the budget's net cost over X) keep their counts below them in the histogram
    (own bins as binned, the bins below when the 16-bit counts are flushed, on the grid they were kept on): with
    grids that widen, coarsen and shift, a bin past 65,535 values, a copy pickled mid-way and two histograms
    merged, the counts are those of every value compared directly; as NumPy code too."""
    import pickle

    from simulate import kernels

    monkeypatch.setattr(kernels, "COMPILED", compiled and kernels._ext is not None)
    rng = np.random.default_rng(3)
    t = np.array([-5e5, -1e5, 0.0, 4.0, 1e6])
    blocks = [rng.normal(0, 1e4, (3, 16_384))] + [np.full((3, 20_000), 4.0) for _ in range(4)]
    blocks += [rng.normal(-2e5, 3e5, (3, 9_000)), np.round(rng.normal(0, 1e3, (3, 12_000))), rng.normal(3e5, 1, (3, 7))]

    def add(first, rest):
        hist, over, _ = Histogram.with_moments(first, None, below=t)
        direct_first = over.copy()
        for b in rest:
            _, got, _ = Histogram.with_moments(b, hist, below=t)
            if got is not None:  # not kept (NumPy code): returned per block, as for a first block
                direct_first += got
        return hist, direct_first

    one, first_counts = add(blocks[0], blocks[1:5])
    two, second_counts = add(blocks[5], blocks[6:])
    copy = pickle.loads(pickle.dumps(one))
    merged = one.merge(two)
    want = np.array([[sum(int((b[r] < v).sum()) for b in blocks) for v in t] for r in range(3)])
    extra = [h.below_counts for h in (one, two, copy, merged)]
    if compiled and kernels._ext is not None:
        assert all(e is not None for e in extra)
        assert np.array_equal(first_counts + extra[0], [[sum(int((b[r] < v).sum()) for b in blocks[:5]) for v in t]
                                                        for r in range(3)])
        assert np.array_equal(copy.below_counts, extra[0])
        assert np.array_equal(first_counts + second_counts + extra[3], want)
    else:
        assert all(e is None for e in extra)
        assert np.array_equal(first_counts + second_counts, want)
    whole = Histogram.of(np.concatenate(blocks, axis=1))
    assert np.array_equal(merged.counts, whole.counts) and np.array_equal(merged.level, whole.level)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(0, 3), st.integers(0, 40), st.integers(0, 2**31))
def test_compiled_rebinning_gives_the_numpy_counts(rows, coarser, shift, seed):
    """Counts moved to a coarser or shifted grid (merges of histograms, grids that widen) by the compiled kernel:
    the counts of the NumPy code, written over the old (in place) or added to another; a grid that does not fit
    is refused."""
    from simulate import kernels

    if kernels._ext is None:
        pytest.skip("the C kernels were not built here")
    rng = np.random.default_rng(seed)
    x = rng.normal(rng.normal(0, 1e4, (rows, 1)), 10.0 ** rng.uniform(0, 4, (rows, 1)), (rows, 3000))
    hist = Histogram.of(x)
    level = hist.level + rng.integers(0, coarser + 1, rows)
    base = hist.offset >> (level - hist.level)
    last = np.array([np.flatnonzero(c).max() for c in hist.counts])
    room = hist.n_bins - 1 - (((hist.offset + last) >> (level - hist.level)) - base)  # bins free above the top value
    offset = base - np.minimum(rng.integers(0, shift + 1, rows), room)  # a window moved down, the values inside
    was = kernels.COMPILED
    try:
        kernels.COMPILED = False
        want = hist._rebinned(level, offset)
        kernels.COMPILED = True
        got = hist._rebinned(level, offset)
        other = rng.integers(0, 5, want.shape)
        added = other.copy()
        assert kernels.rebin(hist._counts, added, hist.level, hist.offset, level, offset, add=True)
        in_place = hist._counts.copy()
        assert kernels.rebin(in_place, in_place, hist.level, hist.offset, level, offset, add=False)
    finally:
        kernels.COMPILED = was
    assert np.array_equal(got, want) and np.array_equal(in_place, want) and np.array_equal(added, other + want)
    assert got.sum() == x.size
    with pytest.raises(ValueError, match="new grid"):  # finer than the counts' grid
        kernels.rebin(hist._counts, np.zeros_like(want), hist.level, hist.offset, hist.level - 1, hist.offset * 2,
                      add=True)


def test_a_histogram_merged_with_itself_counts_its_values_twice():
    from simulate import kernels

    for compiled in ([False] if kernels._ext is None else [False, True]):
        was = kernels.COMPILED
        kernels.COMPILED = compiled
        try:
            h = Histogram.of(np.random.default_rng(0).normal(size=(2, 100)))
            before = h.counts.copy()
            h.merge(h, inplace=True)
        finally:
            kernels.COMPILED = was
        assert np.array_equal(h.counts, 2 * before)


def test_the_compiled_rebinning_refuses_what_does_not_fit_and_changes_nothing():
    """Hostile levels and offsets, overlapping arrays and a row whose counts would leave the grid are refused with
    ValueError, and the destination is left as it was (a refusal in a merge leaves no half-merged counts)."""
    from simulate import kernels

    if kernels._ext is None:
        pytest.skip("the C kernels were not built here")
    ext, big = kernels._ext, np.iinfo(np.int64)
    src = np.zeros((2, 8), dtype=np.int64)
    src[:, 7] = 1
    z = np.zeros(2, dtype=np.int64)
    for levels, offsets in [((z, np.array([1, big.max])), (z, z)), ((np.array([0, big.min + 1]), np.array([0, big.max])), (z, z)),
                            ((z, np.array([0, 1])), (np.array([0, big.max]), np.array([0, big.min])))]:
        dst = np.arange(16, dtype=np.int64).reshape(2, 8)
        with pytest.raises(ValueError):
            ext.rebin(src, dst, levels[0], offsets[0], levels[1], offsets[1], 2, 8, True)
        assert np.array_equal(dst, np.arange(16).reshape(2, 8))
    dst = np.arange(16, dtype=np.int64).reshape(2, 8)
    with pytest.raises(ValueError, match="row 1"):  # row 0 fits, row 1 would leave the grid: nothing added
        ext.rebin(src, dst, z, z, z, np.array([0, -1]), 2, 8, True)
    assert np.array_equal(dst, np.arange(16).reshape(2, 8))
    buf = np.zeros(17, dtype=np.int64)
    with pytest.raises(ValueError, match="overlap"):
        ext.rebin(buf[:16].reshape(2, 8), buf[1:].reshape(2, 8), z, z, z, z, 2, 8, False)
