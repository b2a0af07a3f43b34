"""The compiled kernels give the NumPy code's numbers, bit for bit, and the NumPy code is right on its own.

Results must not depend on whether a C compiler was at hand at install time, so every kernel is run both
ways on the same input and compared exactly; the counts are also checked against direct definitions.
"""

from __future__ import annotations

import contextlib
import shutil
import sysconfig

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from simulate import kernels
from simulate.metrics import N_BINS, _grid

compiled_only = pytest.mark.skipif(kernels._ext is None, reason="the C kernels were not built here")


@contextlib.contextmanager
def _leaves(mode: str):
    """The kernels' leaf loops (binning, row statistics) in ``mode``: "numpy" (not compiled), "plain" (compiled, one
    value at a time) or "avx2" (compiled, eight values a pass where the processor has it); yields ``compiled``."""
    if mode == "numpy":
        yield False
        return
    was = kernels._ext.wide_bins(mode == "avx2")
    try:
        yield True
    finally:
        kernels._ext.wide_bins(was)


LEAF_MODES = ["numpy"] if kernels._ext is None else ["numpy", "plain", "avx2"]

values = st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=300)


def _binned(x: np.ndarray, compiled: bool) -> np.ndarray:
    level, offset = _grid(x.min(axis=1), x.max(axis=1), N_BINS)
    counts = np.zeros((x.shape[0], N_BINS), dtype=np.int64)
    kernels.bin_add(counts, x, np.ldexp(1.0, -level), offset, compiled=compiled)
    return counts, level, offset


def test_built_where_a_compiler_is_at_hand():
    """A machine with a C compiler builds the kernels (the build is optional, so a failure would be silent)."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        pytest.skip(f"no C compiler ({cc}) here")
    assert kernels._ext is not None, "simulate._kernels was not built: reinstall with a working C compiler"


@settings(max_examples=80, deadline=None)
@given(values, st.integers(0, 3))
def test_binning_counts_each_value_in_its_bin(xs, spread):
    x = np.array([xs, [v * 10.0**-spread for v in xs]])
    counts, level, offset = _binned(x, compiled=False)
    assert (counts.sum(axis=1) == len(xs)).all()
    width = np.ldexp(1.0, level)
    for r in range(2):  # bin i holds [(offset + i) w, (offset + i + 1) w)
        for v in x[r]:
            i = int(np.floor(v / width[r])) - offset[r]
            assert counts[r, i] >= 1
    if kernels._ext is not None:
        assert np.array_equal(_binned(x, compiled=True)[0], counts)


@compiled_only
def test_binning_at_bin_edges_and_signs_is_the_same_both_ways():
    rng = np.random.default_rng(5)
    x = rng.normal(0.0, 3e6, (6, 20_001))
    x[1] = np.round(x[1] / 2.0**9) * 2.0**9  # every value on a bin edge
    x[2] = -np.abs(x[2])
    x[3, :100] = 0.0
    x[3, 100:200] = -0.0
    x[4] = 1e6  # one value only
    x[5] = rng.normal(1e12, 1.0, 20_001)  # large values, narrow spread
    assert np.array_equal(_binned(x, compiled=True)[0], _binned(x, compiled=False)[0])


@pytest.fixture(params=["numpy", "plain", "avx2"])
def binning(request):
    """The NumPy binning, the compiled one with its plain bin index, and with its AVX2 one (four values at a
    time, where the processor has it)."""
    if request.param == "numpy":
        yield False
        return
    if kernels._ext is None:
        pytest.skip("the C kernels were not built here")
    was = kernels._ext.wide_bins(request.param == "avx2")
    try:
        yield True
    finally:
        kernels._ext.wide_bins(was)


@pytest.mark.parametrize("bad", [8.0, 8.5, -1e-300, -1.0, 1e300, -1e300, np.inf, -np.inf, np.nan, 2.0**62, -2.0**62])
@pytest.mark.parametrize("where", [0, 3, 4, 6, 9])
def test_a_value_off_its_grid_is_refused(binning, bad, where):
    """In any position of a row (inside the four-value steps and in the rest), just past the top, below the bottom,
    infinite, NaN or huge; the values on the grid's edges are accepted."""
    x = np.array([[0.0, 7.999999999999999, 3.5, 7.0, 0.5, 1.0, 2.0, 6.0, 4.0, 5.0]])
    counts = np.zeros((1, 8), dtype=np.int64)
    kernels.bin_add(counts, x, np.array([1.0]), np.array([0]), compiled=binning)
    assert counts.tolist() == [[2, 1, 1, 1, 1, 1, 1, 2]]
    x[0, where] = bad
    with pytest.raises(ValueError):
        kernels.bin_add(counts, x, np.array([1.0]), np.array([0]), compiled=binning)


@compiled_only
@settings(max_examples=60, deadline=None)
@given(values, st.integers(0, 3))
def test_the_avx2_and_the_plain_bin_index_count_alike(xs, spread):
    x = np.array([xs, [v * 10.0**-spread for v in xs], [round(v) for v in xs]])
    got = []
    for wide in (True, False):
        was = kernels._ext.wide_bins(wide)
        try:
            got.append(_binned(x, compiled=True)[0])
        finally:
            kernels._ext.wide_bins(was)
    assert np.array_equal(got[0], got[1]) and np.array_equal(got[0], _binned(x, compiled=False)[0])


@settings(max_examples=80, deadline=None)
@given(values, st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=8), st.booleans())
def test_count_below(xs, ts, inclusive):
    x = np.array([xs, xs[::-1]])
    x[1, : len(xs) // 2] = ts[0]  # ties with a threshold
    got = kernels.count_below(x, ts, inclusive=inclusive, compiled=False)
    want = [[sum((v <= t) if inclusive else (v < t) for v in row) for t in ts] for row in x]
    assert got.tolist() == want
    if kernels._ext is not None:
        assert np.array_equal(kernels.count_below(x, ts, inclusive=inclusive, compiled=True), got)


@settings(max_examples=80, deadline=None)
@given(values, st.lists(st.floats(-2e9, 2e9, allow_nan=False), min_size=1, max_size=8), st.integers(0, 3),
       st.integers(0, 70_000))
def test_counts_below_thresholds_while_binning(xs, ts, spread, repeat):
    """Binning with thresholds counts the values below each exactly as a direct count, and bins as without them:
    thresholds inside a bin, on a bin edge, on a value, below and above the grid; rows past the 65,535 values
    of the 16-bit local counts."""
    x = np.array([xs, [v * 10.0**-spread for v in xs], xs[::-1]])
    x[2, : len(xs) // 2] = ts[0]  # values on a threshold
    level, offset = _grid(x.min(axis=1), x.max(axis=1), N_BINS)
    w = np.ldexp(1.0, int(level[0]))
    ts = [*ts, offset[0] * w, (offset[0] + 3) * w, x.min() - 1.0, x.max() + 1.0]  # on edges, off the grid
    if repeat > len(xs):  # long rows: several chunks of local counts
        x = np.tile(x, (1, repeat // len(xs) + 1))
    want = [[int(np.count_nonzero(row < t)) for t in ts] for row in x]
    for compiled in ([False] if kernels._ext is None else [False, True]):
        counts = np.zeros((x.shape[0], N_BINS), dtype=np.int64)
        plain = np.zeros_like(counts)
        got = kernels.bin_add(counts, x, np.ldexp(1.0, -level), offset, below=ts, compiled=compiled)
        assert kernels.bin_add(plain, x, np.ldexp(1.0, -level), offset, compiled=compiled) is None
        assert got.tolist() == want
        assert np.array_equal(counts, plain)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 41), st.integers(0, 2**32 - 1))
def test_reached_counts_the_years_at_or_above_the_level(groups, years, n, seed):
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(0.0, 2.0, (groups, years, n)))  # many values exactly at the level
    nonneg, by_year = kernels.reached(x, 0.0)
    for g in range(groups):
        for t in range(years):
            assert nonneg[g, t] == sum(x[g, t, i] >= 0 for i in range(n))
            assert by_year[g, t] == sum(any(x[g, s, i] >= 0 for s in range(t + 1)) for i in range(n))
    stats = kernels.row_stats(x.reshape(-1, n), level=0.0, group=years)  # the counts as a run makes them
    assert np.array_equal(stats[3], nonneg.ravel()) and np.array_equal(stats[4], by_year.ravel())


CONFIGS = ["naerbolig.yaml", "hjem_job_helhed.yaml", "naerbolig_places.yaml", "naerbolig_rules.yaml",
           "ungifokus.yaml", "naerbolig_brochure.yaml"]


def _scenario(config: str, **discounting):
    from pathlib import Path

    from simulate.io import read_scenario

    s = read_scenario(Path(__file__).resolve().parents[1] / "configs" / config)
    if discounting:
        s = s.model_copy(update={"discounting": s.discounting.model_copy(update=discounting)})
    return s


def _fingerprint(traj, scenario) -> dict:
    """Every array of a block's trajectories and of its reductions, as bytes (rounding hides nothing)."""
    from simulate import budget, metrics

    out = {name: getattr(traj, name).tobytes() for name in
           ("cost_dkk", "savings_dkk", "lifetime_savings_dkk", "lifetime_savings_pv_dkk", "successes")
           if getattr(traj, name) is not None}
    core, worst = budget.new_core(traj)
    first = metrics.first_pass(traj, "realised", core=core, worst=worst)  # as a run does
    net = first[0]
    bpart = budget.reduce_block(traj, budget.check_budget_options(scenario), core=core, worst=worst, stats=first[2])
    part = metrics.reduce_block(traj, accounting="realised", claims=scenario.claims, first=first)
    for name, x in (("net", net), ("core", core), ("worst", worst), ("hist", part.hist.counts), ("lo", part.hist.lo),
                    ("hi", part.hist.hi), ("nonneg", part.nonneg), ("payback", part.payback),
                    ("mean", part.prefix.net.mean), ("m2", part.prefix.net.m2), ("hits", part.claim_hits),
                    ("budget_hist", bpart.hist.counts), ("over", bpart.over), ("over_any", bpart.over_any)):
        out[name] = np.ascontiguousarray(x).tobytes()
    return out


@compiled_only
@pytest.mark.parametrize("config, step_down", [(c, True) for c in CONFIGS] + [("naerbolig.yaml", False)])
def test_a_block_is_the_same_to_the_bit_with_and_without_the_compiled_kernels(config, step_down, monkeypatch):
    """Trajectories (with the full lifetime accounting, discounted tail included) and every aggregate."""
    from simulate.api import block_rng
    from simulate.engine import simulate

    scenario = _scenario(config, long_term_step_down=step_down)
    n = 9001  # two slices of the engine, the second one short
    prints = []
    for compiled in (True, False):
        monkeypatch.setattr(kernels, "COMPILED", compiled)
        prints.append(_fingerprint(simulate(scenario, n, block_rng(7, 3), lifetime=True), scenario))
    assert prints[0].keys() == prints[1].keys()
    assert [k for k in prints[0] if prints[0][k] != prints[1][k]] == []


@compiled_only
@pytest.mark.parametrize("config", CONFIGS)
def test_a_run_gives_the_same_summary_with_and_without_the_compiled_kernels(config, monkeypatch):
    from simulate.api import run

    scenario = _scenario(config)
    monkeypatch.setattr(kernels, "COMPILED", True)
    compiled = run(scenario, trials=20_000, seed=11).summary
    monkeypatch.setattr(kernels, "COMPILED", False)
    assert run(scenario, trials=20_000, seed=11).summary == compiled


def _random_chain(rng, S: int, P: int, m: int):
    """A random counterfactual chain of S states and P paying rows: terms, tail flags, moves, the last state, the
    others, and the starting shares of m trials."""
    terms = [(s, i, p) for s in range(S) for i, p in enumerate(range(P)) if rng.random() < 0.8] or [(0, 0, 0)]
    tail = [bool(rng.random() < 0.5) for _ in terms]
    moves = [(s, t) for s in range(S) for t in range(S) if s != t and rng.random() < 0.7]
    last = int(rng.integers(0, S))
    others = [t for t in range(S) if t != last]
    return terms, tail, moves, last, others, rng.dirichlet(np.ones(S), m).T.copy()


@compiled_only
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 12),
       st.one_of(st.integers(1, 150), st.sampled_from([511, 512, 513, 1100])), st.integers(0, 2**32 - 1))
def test_engine_kernels_match_numpy(S, P, H, m, seed):
    """The expected saving by age, the tail sums, the per-youth counts and the cohort savings, both ways."""
    rng = np.random.default_rng(seed)
    n_years, n, a = H + int(rng.integers(0, 5)), m + 7, 3
    U = rng.normal(0, 1e5, (S, P, n))
    T = rng.uniform(0, 0.3, (S, S, n))
    terms, tail, moves, last, others, pi0 = _random_chain(rng, S, P, m)
    pi0[:, ::3] = np.eye(S)[:, :1]  # shares of exactly 0: a product with a negative saving is -0.0, a sum from 0.0 is not
    got = kernels.expected_unit(pi0.copy(), U, T, terms, tail, moves, last, others, a, H, n_years, P, compiled=True)
    want = kernels.expected_unit(pi0.copy(), U, T, terms, tail, moves, last, others, a, H, n_years, P,
                                 compiled=False)
    assert got.tobytes() == want.tobytes()
    keep = rng.uniform(0.5, 1.0, m)
    growth = 1.01 ** np.arange(n_years)
    df = 1 / 1.035 ** np.arange(n_years)
    for d in (None, df):
        for k in (keep, 1.0):
            full = kernels.tail_sums(got, [P - 1, 0], growth, k, d, compiled=False)
            assert kernels.tail_sums(got, [P - 1, 0], growth, k, d, compiled=True).tobytes() == full.tobytes()
            some = sorted({0, n_years - 1, int(rng.integers(0, n_years))})
            part = kernels.tail_sums(got, [P - 1, 0], growth, k, d, ages_kept=some, compiled=True)
            assert part[some].tobytes() == full[some].tobytes()
    size = int(rng.integers(1, 33))  # up to engine.PER_YOUTH_MAX young people a cohort
    cohorts = sorted(rng.choice(H, int(rng.integers(1, H + 1)), replace=False).tolist())
    h = rng.integers(0, 2**16, (len(cohorts), size, n), dtype=np.uint16)
    edge = np.sort(rng.integers(0, 2**16, (H, n)), axis=0)[::-1].astype(np.uint16)  # thresholds fall with age
    h[:, 0, :m] = edge[0, :m]  # young people on an edge
    for no_relapse in (False, True):
        acts, tieds = [], []
        for compiled in (True, False):
            act = np.full((H, H, m), -1, dtype=np.float32)
            tied = np.zeros((H, m), dtype=bool)
            kernels.youth_counts(h, cohorts, edge, a, m, H, no_relapse, act, tied, compiled=compiled)
            acts.append(act)
            tieds.append(tied)
        assert acts[0].tobytes() == acts[1].tobytes() and np.array_equal(tieds[0], tieds[1])
        c, k = cohorts[0], 0
        assert np.array_equal(acts[0][c, k], (h[0][:, a:a + m] < edge[k, a:a + m]).sum(axis=0))
    act = rng.integers(0, 11, (H, H, m)).astype(np.float32)
    paying = [p for p in range(P) if rng.random() < 0.7] or [0]
    outs = []
    for compiled in (True, False):
        savings = np.full((P, H, n), np.nan)
        kernels.cohort_savings(got, act, paying, savings, a, compiled=compiled)
        outs.append(savings[paying][:, :, a:a + m].tobytes())
    assert outs[0] == outs[1]


def _rows(seed: int, rows: int, n: int, zeros: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (rows, n)) * 10.0 ** rng.uniform(-2, 8, (rows, 1)) + rng.uniform(-1e7, 1e7, (rows, 1))
    if zeros:  # values at the break-even level, signed zeros, whole rows of one value, zero extremes of both signs
        x[:, ::3] = np.round(x[:, ::3] / 1e6)
        x[0, ::2] = -0.0
        x[-1] = -0.0
        x[0] = np.abs(x[0])
        x[0, ::5] = -0.0
        x[0, 1::5] = 0.0
    return x


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.integers(1, 5), st.one_of(st.integers(1, 300), st.sampled_from([1024, 16384, 20001])),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_row_statistics_and_moments_while_binning(groups, years, n, zeros, seed):
    """Range, mean (NumPy's own: the same pairwise sum), break-even counts and, while binning, the sum of squared
    deviations from the mean: the same numbers both ways, and the right ones."""
    x = _rows(seed, groups * years, n, zeros)
    got = {}
    for mode in LEAF_MODES:
        with _leaves(mode) as compiled:
            lo, hi, mean, at, by = kernels.row_stats(x, level=-0.5, group=years, compiled=compiled)
            level, offset = _grid(lo, hi, N_BINS)
            counts = np.zeros((len(x), N_BINS), dtype=np.int64)
            below, m2 = kernels.bin_moments(counts, x, np.ldexp(1.0, -level), offset, mean, below=[0.0, -1e6],
                                            compiled=compiled)
        got[mode] = [a.tobytes() for a in (lo, hi, mean, at, by, counts, below, m2)]
        assert np.array_equal(lo, x.min(axis=1)) and np.array_equal(hi, x.max(axis=1))
        assert not np.signbit(lo[lo == 0]).any() and not np.signbit(hi[hi == 0]).any()
        assert mean.tobytes() == x.mean(axis=1).tobytes()
        want_at, want_by = kernels.reached(x.reshape(groups, years, n), -0.5)
        assert np.array_equal(at, want_at.ravel()) and np.array_equal(by, want_by.ravel())
        assert np.array_equal(counts.sum(axis=1), np.full(len(x), n))
        assert below.tolist() == [[int((row < 0.0).sum()), int((row < -1e6).sum())] for row in x]
        np.testing.assert_allclose(m2, ((x - x.mean(axis=1, keepdims=True)) ** 2).sum(axis=1), rtol=1e-9,
                                   atol=1e-300)
    assert all(g == got["numpy"] for g in got.values())


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 11), st.one_of(st.integers(1, 300), st.sampled_from([1, 2, 16384, 20001])),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_flow_sums(P, H, n, with_pv, seed):
    """Sums of a block's savings and cost, and its ROI sums: the same numbers both ways, and the definition's."""
    rng = np.random.default_rng(seed)
    sav = np.round(rng.normal(1e5, 2e5, (P, H, n)), 2)
    cost = np.round(rng.normal(5e4, 1e5, (P, H, n)), 2)
    sav[:, :, 1::5], cost[:, :, 1::7] = -0.0, 0.0  # the first trial keeps its values (a block of one trial)
    df = 1.0 / 1.035 ** np.arange(H)
    pv = sav * df[None, :, None] * 1.01 if with_pv else None
    runs = {}
    for compiled in ([False] if kernels._ext is None else [False, True]):
        out = kernels.flow_sums(sav, cost, df, pv, compiled=compiled)
        runs[compiled] = [b"" if a is None else a.tobytes() for a in out]
        sav_y, cost_y, pv_y, roi_n, roi_sum = out
        np.testing.assert_allclose(sav_y, sav.sum(axis=-1), rtol=1e-12, atol=1e-6)
        assert cost_y.tobytes() == cost.sum(axis=-1).tobytes()
        disc = pv if with_pv else sav * df[None, :, None]
        for q in range(P + 1):
            payers = slice(0, P) if q == P else slice(q, q + 1)
            for d, s_flow, c_flow in ((0, sav, cost), (1, disc, cost * df[None, :, None])):
                for e, years in ((0, 1), (1, H)):
                    s_tot = s_flow[payers, :years].sum(axis=(0, 1))
                    c_tot = c_flow[payers, :years].sum(axis=(0, 1))
                    ok = c_tot > 0
                    assert roi_n[q, d, e] == ok.sum()
                    np.testing.assert_allclose(roi_sum[q, d, e], (s_tot[ok] / c_tot[ok] - 1.0).sum(), rtol=1e-9,
                                               atol=1e-6)
    if len(runs) == 2:
        assert runs[True] == runs[False]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 11), st.one_of(st.integers(1, 300), st.sampled_from([1, 513, 16384, 20001])),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_cumulative_nets_and_the_budget_view(P, H, n, with_pv, seed):
    """The cumulative nets, and the budget's yearly nets, funding need and worst year, both ways; against their
    definitions (signed zeros and ties between years included)."""
    rng = np.random.default_rng(seed)
    sav = np.round(rng.normal(1e5, 2e5, (P, H, n)), 1)
    cost = np.round(rng.normal(5e4, 1e5, (P, H, n)), 1)
    sav[:, :, 1::5], cost[:, :, 1::3] = -0.0, 0.0
    sav[:, :, 1::7] = cost[:, :, 1::7]  # yearly nets of exactly 0
    sav[:, ::2, 2::4], cost[:, ::2, 2::4] = -0.0, 0.0  # and of -0 in some years, +0 in others: ties of the minimum
    sav[:, 1::2, 2::4] = cost[:, 1::2, 2::4]
    df = 1.0 / 1.035 ** np.arange(H)
    pv = sav * df[None, :, None] * 1.01 if with_pv else None
    runs = {}
    for compiled in ([False] if kernels._ext is None else [False, True]):
        core, worst = np.full((P + 1, 1 + H, n), np.nan), np.full((P + 1, n), np.nan)
        net = kernels.nets(sav, cost, df, pv, core=core, worst=worst, compiled=compiled)
        runs[compiled] = [a.tobytes() for a in (net, core, worst)]
        yearly = np.concatenate([sav - cost, (sav - cost).sum(axis=0, keepdims=True)])
        np.testing.assert_allclose(net[:, 0], np.cumsum(yearly, axis=1), rtol=1e-12, atol=1e-3)
        disc = (pv - cost * df[None, :, None]) if with_pv else (sav - cost) * df[None, :, None]
        disc = np.concatenate([disc, disc.sum(axis=0, keepdims=True)])
        np.testing.assert_allclose(net[:, 1], np.cumsum(disc, axis=1), rtol=1e-12, atol=1e-3)
        np.testing.assert_allclose(core[:, 1:], yearly, rtol=1e-12, atol=1e-6)
        assert np.array_equal(core[:, 0], np.maximum(-net[:, 0].min(axis=1), 0.0))
        assert np.array_equal(worst, core[:, 1:].min(axis=1))
    if len(runs) == 2:
        assert runs[True] == runs[False]


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 9), st.integers(1, 11),
       st.one_of(st.integers(1, 300), st.sampled_from([1, 511, 512, 513, 1100, 9001, 16384, 20001])),
       st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_first_pass_is_the_separate_kernels(P, H, n, with_pv, with_core, seed):
    """The first pass over a block (nets, series statistics, flow sums, node by node of the pairwise tree) gives
    the numbers of the separate kernels, bit for bit, both ways; trial counts around and past its 512-trial
    nodes."""
    rng = np.random.default_rng(seed)
    sav = np.round(rng.normal(1e5, 2e5, (P, H, n)), 2)
    cost = np.round(rng.normal(5e4, 1e5, (P, H, n)), 2)
    sav[:, :, 1::5], cost[:, :, 1::3] = -0.0, 0.0
    sav[:, :, 1::7] = cost[:, :, 1::7]
    df = 1.0 / 1.035 ** np.arange(H)
    pv = sav * df[None, :, None] * 1.01 if with_pv else None
    core0, worst0 = (np.full((P + 1, 1 + H, n), np.nan), np.full((P + 1, n), np.nan)) if with_core else (None, None)
    net0 = kernels.nets(sav, cost, df, pv, core=core0, worst=worst0, compiled=False)
    want = [net0, *kernels.row_stats(net0.reshape(-1, n), level=-0.5, group=H, compiled=False),
            *([] if core0 is None else [core0, worst0, *kernels.row_stats(core0.reshape(-1, n), compiled=False)]),
            *[a for a in kernels.flow_sums(sav, cost, df, pv, compiled=False) if a is not None]]
    for mode in LEAF_MODES:
        core, worst = (np.full((P + 1, 1 + H, n), np.nan), np.full((P + 1, n), np.nan)) if with_core else (None, None)
        with _leaves(mode) as compiled:
            net, stats, core_stats, flows = kernels.first_pass(sav, cost, df, pv, core=core, worst=worst, level=-0.5,
                                                               compiled=compiled)
        got = [net, *stats, *([] if core is None else [core, worst, *core_stats]),
               *[a for a in flows if a is not None]]
        assert [a.tobytes() for a in got] == [a.tobytes() for a in want]


@compiled_only
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 10), st.integers(0, 45), st.integers(1, 3), st.one_of(st.integers(1, 200), st.just(300)),
       st.booleans(), st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_the_value_still_to_come_both_ways(H, tail, P, m, relapse, discounted, step_down, seed):
    """engine._remaining (the claims' lifetime tail) for some payers and a subset of the years: the compiled loop
    gives the NumPy loop's numbers, bit for bit; with the Finance Ministry's step-down of the discount rate
    beyond year 35, the discounted tail follows each cohort."""
    from simulate import engine

    rng = np.random.default_rng(seed)
    n_years = H + tail
    unit = rng.normal(1e5, 5e4, (n_years, P, m))
    act = rng.integers(0, 11, (H, H, m)).astype(np.float32)
    wanted = sorted(rng.choice(P, int(rng.integers(1, P + 1)), replace=False).tolist())
    years = frozenset(int(y) for y in rng.choice(H, int(rng.integers(1, H + 1)), replace=False))
    keep = rng.uniform(0.5, 1.0, m) if relapse else None
    growth = 1.01 ** np.arange(n_years)
    df = 0.97 / 1.035 ** np.arange(n_years)  # not 1 in the first year, so that a division by it counts
    if step_down:
        df = 0.97 * engine.discount_factors(0.035, n_years, long_term_step_down=True)
    args = (unit, act, wanted, years, 2 if discounted else 1, keep, growth, df, H, n_years, m)
    got = {}
    for compiled in (True, False):
        kernels.COMPILED, was = compiled, kernels.COMPILED
        try:
            got[compiled] = engine._remaining(*args).tobytes()
        finally:
            kernels.COMPILED = was
    assert got[True] == got[False]
    # the tail sums of the ages _remaining does not read are not written: as NaN they change nothing
    tail_sums, kept = kernels.tail_sums, engine._tail_ages(H, n_years, n_years, years)

    def poisoned(*a, ages_kept=None, **kw):
        F = tail_sums(*a, ages_kept=ages_kept, **kw)
        assert ages_kept == kept
        F[[k for k in range(F.shape[0]) if k not in kept]] = np.nan
        return F

    for compiled in (True, False):
        kernels.COMPILED, was = compiled, kernels.COMPILED
        kernels.tail_sums = poisoned
        try:
            assert engine._remaining(*args).tobytes() == got[False]
        finally:
            kernels.COMPILED, kernels.tail_sums = was, tail_sums


@compiled_only
@settings(max_examples=80, deadline=None)
@given(st.floats(1.001, 500.0), st.floats(1.001, 500.0), st.integers(1, 3000), st.integers(0, 3500),
       st.integers(0, 2**32 - 1))
def test_cheng_candidates_both_ways(a, b, m, want, seed):
    """Cheng's algorithm BB on the same uniforms: the compiled arithmetic (with NumPy's logarithms and exponential,
    some on the undecided candidates alone) accepts the same candidates as the NumPy code and gives the same
    draws, bit for bit; uniforms at 0, subnormal and just below 1 included, and outputs shorter than the number
    accepted."""
    import math

    rng = np.random.default_rng(seed)
    u = rng.random((2, m))
    edges = np.array([0.0, 5e-324, 1e-300, 2.0**-53, 0.5, 1.0 - 2.0**-53])
    at = rng.integers(0, m, size=min(m, 12))
    u[rng.integers(0, 2, size=at.size), at] = edges[rng.integers(0, edges.size, size=at.size)]
    lo, hi = min(a, b), max(a, b)
    alpha = lo + hi
    beta = math.sqrt((alpha - 2.0) / (2.0 * lo * hi - alpha))
    gamma = lo + 1.0 / beta
    got = {}
    for compiled in (True, False):
        out = np.full(want, np.nan)
        accepted = kernels.beta_candidates(u, lo, hi, alpha, beta, gamma, math.log(4.0), out, compiled=compiled)
        got[compiled] = (accepted, out.tobytes())
        # the same candidates in two ranges, one after the other: the same draws, and the same number accepted
        cut = m // 3
        two = np.full(want, np.nan)
        first = kernels.beta_candidates(u, lo, hi, alpha, beta, gamma, math.log(4.0), two, stop=cut,
                                        compiled=compiled)
        second = kernels.beta_candidates(u, lo, hi, alpha, beta, gamma, math.log(4.0), two[min(first, want):],
                                         start=cut, compiled=compiled)
        assert first + second == accepted and two.tobytes() == out.tobytes()
    assert got[True] == got[False]
    assert 0 <= got[True][0] <= m
    assert np.isnan(np.frombuffer(got[True][1])[got[True][0]:]).all()


@compiled_only
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_tied_young_people_both_ways(H, size, m, seed):
    """kernels.tie_counts: the compiled loop gives the NumPy code's counts for every tie, thresholds on a young
    person's uniform exactly included; the other entries of act are left alone."""
    rng = np.random.default_rng(seed)
    n, a, G = m + 5, 2, int(rng.integers(1, H + 1))
    h = rng.integers(0, 2**16, (G, size, n), dtype=np.uint16)
    cohorts = np.sort(rng.choice(H, G, replace=False))
    n_ties = int(rng.integers(1, 3 * m + 1))
    g = rng.integers(0, G, n_ties)
    c, j = cohorts[g], rng.integers(0, m, n_ties)
    _, first = np.unique(c * m + j, return_index=True)  # one tie per cohort and trial, by cohort then trial
    g, c, j = g[first], c[first], j[first]
    n_ties = g.size
    ties = np.bincount(c, minlength=H)
    pos = np.arange(n_ties) - (np.cumsum(ties) - ties)[c]
    draws = size * ties
    w = rng.random(int(draws.sum()))
    w_start = np.cumsum(draws) - draws
    thresholds = np.sort(rng.random((H, n)), axis=0)[::-1].copy()
    y = rng.integers(0, size, n_ties)  # some young people's uniforms are a threshold, to the bit
    k = rng.integers(0, H, n_ties)
    thresholds[k, a + j] = (h[g, y, a + j] + w[w_start[c] + y * ties[c] + pos]) / 65536.0
    out = []
    for compiled in (True, False):
        act = np.full((H, H, m), -1.0, dtype=np.float32)
        kernels.tie_counts(h, g, c, j, pos, w, w_start, ties, thresholds, a, act, compiled=compiled)
        out.append(act)
    assert out[0].tobytes() == out[1].tobytes()
    c0, j0 = c[-1], j[-1]
    v = (h[g[-1], :, a + j0] + w[w_start[c0] + np.arange(size) * ties[c0] + pos[-1]]) / 65536.0
    assert np.array_equal(out[0][c0, :H - c0, j0], (v[None, :] < thresholds[:H - c0, a + j0, None]).sum(axis=1))


@compiled_only
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 300), st.sampled_from(["none", "one", "some"]), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_youth_edges_both_ways(ages, n, relapse, off_range, seed):
    """kernels.youth_edges: survival, thresholds and 16-bit edges the same both ways, thresholds on an edge's
    integer exactly (q a multiple of 2**-16, 0 and 1) and thresholds above 1 included; a negative or NaN
    threshold leaves it to the NumPy code."""
    rng = np.random.default_rng(seed)
    q = rng.random(n)
    pick = rng.integers(0, n, size=min(n, 20))
    q[pick] = np.array([0.0, 1.0, 1 - 2.0**-16, 2.0**-16, 12345 / 65536])[rng.integers(0, 5, pick.size)]
    if off_range:
        q[int(rng.integers(0, n))] = [np.nan, -1e-9, 1.5][int(rng.integers(0, 3))]
    keep = {"none": None, "one": np.ones(n), "some": rng.uniform(0.5, 1.0, n)}[relapse]
    with np.errstate(invalid="ignore"):  # NumPy's cast of a NaN threshold
        out = [kernels.youth_edges(q, keep, ages, n, compiled=compiled) for compiled in (True, False)]
    for a, b in zip(out[0][:3], out[1][:3]):
        assert a.tobytes() == b.tobytes()
    assert out[0][3] == out[1][3] == (relapse != "some" or ages == 1)
    # the edges alone (no survival and thresholds written), and the thresholds of a few trials made apart
    with np.errstate(invalid="ignore"):
        survive, thresholds, edge, ones = kernels.youth_edges(q, keep, ages, n, full=False, compiled=True)
    assert edge.tobytes() == out[1][2].tobytes() and ones == out[1][3]
    assert (survive is None) == (thresholds is None) == (not off_range or np.all(out[1][1] >= 0))
    cols = np.unique(rng.integers(0, n, size=min(n, 7)))
    some = np.full((ages, n), np.nan)
    kernels.thresholds_at(q, keep, ages, n, cols, some)
    assert some[:, cols].tobytes() == out[1][1][:, cols].tobytes()
    assert np.isnan(np.delete(some, cols, axis=1)).all()


@compiled_only
def test_the_new_kernels_refuse_sizes_and_indices_that_would_overflow():
    """Direct calls with sizes whose products overflow, or no ages, are refused with a ValueError (never a read or
    write outside a buffer, never a SystemError)."""
    ext, m = kernels._ext, 64
    with pytest.raises(ValueError):
        ext.cheng_take(np.ones(m), np.zeros(m), np.zeros(m), np.ones(m, np.uint8), np.zeros(m, np.int64), np.zeros(m),
                       np.zeros(m), np.zeros(1), 1.0, 1.0, 2**61, 0, m)
    h = np.zeros((1, 3, 4), np.uint16)
    i64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
    with pytest.raises(ValueError):
        ext.tie_counts(h, i64(0), i64(0), i64(0), i64(0), np.zeros(8), i64(0, 0), i64(2**62 + 1, 0),
                       np.zeros((2, 4)), np.zeros((2, 2, 4), np.float32), 3, 4, 0, 4, 2)
    with pytest.raises(ValueError):
        ext.youth_edges(np.zeros(4), np.zeros(4), True, np.zeros(0), np.zeros(0), np.zeros(0, np.uint16), 0, 4)
    e, i = np.empty(0), np.empty(0, np.int64)
    for n_years, n_paying in ((2**40, 2**16 - 1), (2**40, 0), (50, 2**16 - 1)):  # a scratch size that would wrap
        with pytest.raises(ValueError):
            ext.counterfactual(np.ones((1, 1)), np.ones((1, 1, 1)), np.ones((1, 1, 1)), i.reshape(0, 3), i,
                               i.reshape(0, 2), 0, i, np.ones(1), np.empty((0, 0, 1), np.float32), i,
                               np.zeros((1, 0, 1)), i, e, e, np.empty(0, np.uint8), e, e, e, 1, 1, 1, 0, 1, 0, n_years,
                               n_paying, False)
    # the value still to come reads paying[wanted[i]]: a wanted row past the paying rows is refused
    S, P, H, n, n_years = 1, 3, 2, 4, 3
    with pytest.raises(ValueError, match="wanted"):
        ext.counterfactual(np.ones((S, n)), np.ones((S, P, n)), np.ones((S, S, n)), np.zeros((1, 3), np.int64),
                           np.ones(1, np.int64), np.zeros((0, 2), np.int64), 0, np.zeros(0, np.int64), np.ones(n),
                           np.zeros((H, H, n), np.float32), np.zeros(1, np.int64), np.zeros((P, H, n)),
                           np.array([2]), np.ones(n_years), np.ones(n), np.ones(n_years, np.uint8), e, e, e, S, P, n, 0, n,
                           H, n_years, P, False, False, np.zeros((P, H, n)), e, np.zeros(1, np.int64),
                           np.ones(H, np.int64), True)


@compiled_only
@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.one_of(st.integers(0, 40), st.sampled_from([1000, 4099])), st.integers(0, 3),
       st.booleans())
def test_the_pcg64_stream_is_numpys(seed, n, rows, buffered):
    """``random_raw`` and ``random`` give NumPy's own words and doubles of a PCG64 stream (any length: the eight
    (words) or four (doubles) side-by-side states and the one-by-one rest), and leave the generator where NumPy
    leaves it, a buffered 32-bit word included, so every later draw is the same too."""
    ours, numpys = np.random.default_rng([seed, 7]), np.random.default_rng([seed, 7])
    if buffered:  # a 32-bit draw leaves half a word in the generator
        assert ours.integers(2**32, dtype=np.uint32) == numpys.integers(2**32, dtype=np.uint32)
    words = kernels.random_raw(ours, n, compiled=True)
    assert words.dtype == np.uint64 and np.array_equal(words, numpys.bit_generator.random_raw(n))
    shape = (rows, n) if rows else n
    assert np.array_equal(kernels.random(ours, shape, compiled=True), numpys.random(shape))
    assert ours.bit_generator.state == numpys.bit_generator.state
    assert np.array_equal(ours.integers(2**32, size=3, dtype=np.uint32), numpys.integers(2**32, size=3, dtype=np.uint32))
    assert np.array_equal(ours.random(9), numpys.random(9))


def test_other_bit_generators_use_numpy():
    """Only PCG64 is compiled: any other bit generator gets NumPy's own draws (and refuses ``compiled=True``)."""
    ours, numpys = (np.random.Generator(np.random.Philox(5)) for _ in range(2))
    assert np.array_equal(kernels.random(ours, 17), numpys.random(17))
    assert np.array_equal(kernels.random_raw(ours, 5), numpys.bit_generator.random_raw(5))
    with pytest.raises(ValueError):
        kernels.random(ours, 3, compiled=True)


@compiled_only
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(22_000, 30_000), st.integers(3, 5), st.integers(0, 2**31), st.booleans())
@example(rows=2, n=22_000, calls=4, seed=0, with_below=True)
def test_counts_kept_in_16_bits_equal_the_counts(rows, n, calls, seed, with_below):
    """Values added to 16-bit counts (``kept``) over several calls, moved to the 64-bit counts when one could
    overflow and by ``flush_kept`` at the end, give the counts and squared deviations of adding them directly;
    values crowd into few bins so that 16-bit counts would overflow without the moves. With thresholds (on values,
    between them, below and above the grid), the counts below them accumulated in ``below_acc`` (own bins as
    binned, bins below at each move and at the end) are the direct counts of all calls."""
    rng = np.random.default_rng(seed)
    xs = [np.round(rng.normal(0, 0.5, (rows, n))) for _ in range(calls)]
    lo, hi = np.full(rows, -60.0), np.full(rows, 60.0)
    level, offset = _grid(lo, hi, N_BINS)
    scale = np.ldexp(1.0, -level)
    below = [0.0, 1.0, -0.3, 2.5, -1e9, 1e9] if with_below else None
    direct, counts = (np.zeros((rows, N_BINS), dtype=np.int64) for _ in range(2))
    kept, pending = np.zeros((rows, N_BINS), dtype=np.uint16), np.zeros(rows, dtype=np.int64)
    acc = np.zeros((rows, 6), dtype=np.int64) if with_below else None
    want_below = 0
    for x in xs:
        mean = x.mean(axis=1)
        out, want = kernels.bin_moments(direct, x, scale, offset, mean, below=below, compiled=True)
        got_out, got = kernels.bin_moments(counts, x, scale, offset, mean, below=below, kept=kept, pending=pending,
                                           below_acc=acc, compiled=True)
        assert got.tobytes() == want.tobytes() and got_out is None
        assert np.all(pending <= 65535) and np.array_equal(pending, kept.sum(axis=1))
        if with_below:
            want_below = want_below + out
            assert np.all(acc <= want_below)  # the bins below are still to come
    kernels.flush_kept(counts, kept, pending, below_acc=acc, thresholds=below, scale=scale, offset=offset)
    assert np.array_equal(counts, direct) and not kept.any() and not pending.any()
    if with_below:
        assert np.array_equal(acc, want_below)
        assert np.array_equal(want_below, [[sum(int((x[r] < t).sum()) for x in xs) for t in below] for r in range(rows)])


@compiled_only
@pytest.mark.parametrize("shift", [0, 3, 200])
def test_a_partial_flush_adds_the_kept_values_below_the_thresholds_on_their_grid(shift):
    """Rows flushed one at a time (as a moving grid flushes them) add to the accumulator the kept values in the
    bins below each threshold's bin, on the grid they were binned on; the other rows keep theirs."""
    rng = np.random.default_rng(4)
    x = rng.normal(0.0, 30.0, (3, 5000))
    lo, hi = x.min(axis=1) - 1.0, x.max(axis=1) + 1.0
    level, offset = _grid(lo, hi, N_BINS)
    offset = offset - shift  # a window reaching further down
    scale = np.ldexp(1.0, -level)
    t = [-10.0, 0.0, 12.5]
    counts, kept = np.zeros((3, N_BINS), dtype=np.int64), np.zeros((3, N_BINS), dtype=np.uint16)
    pending, acc = np.zeros(3, dtype=np.int64), np.zeros((3, 3), dtype=np.int64)
    kernels.bin_moments(counts, x, scale, offset, x.mean(axis=1), below=t, kept=kept, pending=pending, below_acc=acc,
                        compiled=True)
    before = acc.copy()
    kernels.flush_kept(counts, kept, pending, [1], below_acc=acc, thresholds=t, scale=scale, offset=offset)
    assert np.array_equal(acc[1], [(x[1] < v).sum() for v in t])
    assert np.array_equal(acc[[0, 2]], before[[0, 2]]) and pending[0] == 5000 and pending[1] == 0


def test_threshold_bins_are_the_bins_below_each_threshold():
    scale, offset = np.array([1.0, 0.5, 2.0**-40]), np.array([0, -3, 7], dtype=np.int64)
    got = kernels.threshold_bins([-np.inf, -7.0, 0.0, 2.5, 1e300, np.nan, np.inf], scale, offset, 8)
    # row 0: bins [0, 8) of width 1; row 1: bins [-6, 10) of width 2; row 2: huge bins from 7 * 2**40
    assert got.tolist() == [[0, 0, 0, 2, 8, 0, 8], [0, 0, 3, 4, 8, 0, 8], [0, 0, 0, 0, 8, 0, 8]]


@compiled_only
def test_kept_counts_refuse_thresholds_without_an_accumulator_and_bad_pending_counts():
    x, scale, offset = np.zeros((1, 4)), np.ones(1), np.zeros(1, dtype=np.int64)
    counts, kept = np.zeros((1, 8), dtype=np.int64), np.zeros((1, 8), dtype=np.uint16)
    for acc in (None, np.zeros((1, 2), dtype=np.int64)):
        with pytest.raises(ValueError, match="accumulator"):
            kernels.bin_moments(counts, x, scale, offset, np.zeros(1), below=[1.0], kept=kept,
                                pending=np.zeros(1, dtype=np.int64), below_acc=acc)
    with pytest.raises(ValueError, match="65535"):
        kernels.bin_moments(counts, x, scale, offset, np.zeros(1), kept=kept, pending=np.full(1, 70_000))


@compiled_only
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 12),
       st.one_of(st.sampled_from([1, 255, 256, 257, 513, 1100]), st.integers(1, 800)), st.sampled_from([0, 1, 2, 3]),
       st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
@example(S=3, P=2, H=10, m=1100, W=1, relapse=True, discounted=True, seed=5)  # the default's shape, 5 chunks
def test_the_counterfactual_chunk_by_chunk_matches_the_calls_one_after_the_other(S, P, H, m, W, relapse, discounted,
                                                                                 seed):
    """The fused counterfactual kernel (chunks of 256 trials: a last chunk part-filled, several chunks) gives the
    numbers of expected_unit, e[0] *= f, cohort_savings and tail_sums called on the whole slice, each of them
    compiled and as NumPy code: the savings of the paying payers, F and F_pv at the ages kept, and leaves the
    other payers' savings rows and the trials outside the slice alone."""
    rng = np.random.default_rng(seed)
    n_years, n, a = H + int(rng.integers(0, 30)), m + 9, 4
    U = rng.normal(0, 1e5, (S, P + 1, n))
    T = rng.uniform(0, 0.3, (S, S, n))
    terms, tail, moves, last, others, pi0 = _random_chain(rng, S, P, m)
    f = rng.uniform(0, 1, m) if rng.random() < 0.7 else 0.5
    act = rng.integers(0, 11, (H, H, m)).astype(np.float32)
    paying = sorted(rng.choice(P + 1, P, replace=False).tolist())
    wanted = sorted(rng.choice(P, min(W, P), replace=False).tolist())
    keep = rng.uniform(0.5, 1.0, m) if relapse else 1.0
    growth, df = 1.01 ** np.arange(n_years), 1 / 1.035 ** np.arange(n_years)
    kept = sorted({0, n_years - 1, *rng.integers(0, n_years, 3).tolist()})
    tail_args = dict(wanted=wanted, growth=growth, keep=keep, df=df if discounted else None, ages_kept=kept)
    results = []
    for compiled in (True, False):
        savings = np.full((P + 1, H, n), np.nan)
        F, F_pv = kernels.counterfactual(pi0.copy(), U, T, terms, tail, moves, last, others, a, H, n_years, P, f,
                                         act, paying, savings, **tail_args, compiled=compiled)
        results.append((savings, F, F_pv))
    e = kernels.expected_unit(pi0.copy(), U, T, terms, tail, moves, last, others, a, H, n_years, P, compiled=False)
    e[0] *= f
    want = np.full((P + 1, H, n), np.nan)
    kernels.cohort_savings(e, act, paying, want, a, compiled=False)
    for savings, F, F_pv in results:
        assert savings.tobytes() == want.tobytes()  # NaN (untouched) where they should be, bit for bit elsewhere
        if not wanted:
            assert F is None and F_pv is None
            continue
        full = kernels.tail_sums(e, wanted, growth, keep, None, compiled=False)
        assert F[kept].tobytes() == full[kept].tobytes()
        if discounted:
            full_pv = kernels.tail_sums(e, wanted, growth, keep, df, compiled=False)
            assert F_pv[kept].tobytes() == full_pv[kept].tobytes()
        else:
            assert F_pv is None


@compiled_only
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 11), st.sampled_from([1, 130, 511, 512, 513, 1100, 9001]), st.booleans(),
       st.booleans(), st.data())
def test_first_pass_reads_the_payers_marked_zero_as_zeros(P, H, n, with_pv, with_core, data):
    """Payers marked as zero in ``sav``, ``cost`` or ``sav_pv`` are read as +0.0, not from memory: a first pass
    over flows holding anything there gives the numbers of a first pass over the same flows with those rows
    zeroed and unmarked."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    marks = [data.draw(st.sets(st.integers(0, P - 1))) for _ in range(3)]
    sav, cost = rng.normal(1e5, 2e5, (P, H, n)), rng.normal(5e4, 1e5, (P, H, n))
    df = 1.0 / 1.035 ** np.arange(H)
    pv = rng.normal(1e5, 2e5, (P, H, n)) if with_pv else None
    zeroed = [x if x is None else x.copy() for x in (sav, cost, pv)]
    for x, marked in zip(zeroed, marks):
        if x is not None:
            x[sorted(marked)] = 0.0
    out = []
    for (s, c, v), zero in (((sav, cost, pv), marks), (zeroed, ((), (), ()))):
        core, worst = (np.empty((P + 1, 1 + H, n)), np.empty((P + 1, n))) if with_core else (None, None)
        net, stats, core_stats, flows = kernels.first_pass(s, c, df, v, core=core, worst=worst, level=-0.5, zero=zero,
                                                           compiled=True)
        out.append([a.tobytes() for a in (net, *stats, *([] if core is None else [core, worst, *core_stats]),
                                          *[f for f in flows if f is not None])])
    assert out[0] == out[1]


@pytest.mark.parametrize("config", CONFIGS)
def test_the_rows_the_engine_promises_as_zero_are_positive_zeros(config):
    """Every row that ``Trajectories.zero_payers`` names is +0.0 throughout (the first pass reads it as such), for
    the scenarios with and without the claims' lifetime values."""
    from simulate.api import LifetimeNeed, block_rng
    from simulate.engine import simulate

    scenario = _scenario(config)
    need = LifetimeNeed(frozenset({c.payer for c in scenario.claims}), frozenset(c.year - 1 for c in scenario.claims))
    promised = 0
    for lifetime in (False, True, need):
        traj = simulate(scenario, 3000, block_rng(5, 2), lifetime=lifetime)
        for name in traj.zero_payers:
            x = getattr(traj, name)
            for p in traj.zero_rows(name):
                assert np.all(x[p] == 0.0) and not np.signbit(x[p]).any(), (name, p)
                promised += 1
    assert promised > 0 or config != "naerbolig.yaml"
    # a new array in place of a promised one voids the promise
    from dataclasses import replace

    other = replace(traj, savings_dkk=traj.savings_dkk + 1.0)
    assert other.zero_rows("savings_dkk") == frozenset() and other.zero_rows("cost_dkk") == traj.zero_rows("cost_dkk")


@compiled_only
@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["roi", "break_even_successes", "cumulative_net"]), st.integers(1, 5),
                          st.floats(-2.0, 5.0), st.booleans()), min_size=1, max_size=5),
       st.integers(1, 1300), st.integers(0, 2**32 - 1))
def test_claims_are_counted_as_the_numpy_code_counts_them(specs, n, seed):
    """The compiled claims give metrics._reached_claim's counts on the cumulative sums 0.0 + flow[0] + ... of
    yearly flows with zeros, signs, infinities and NaN, with claimed figures equal to a trial's value to the bit,
    several claims of one payer, over several chunks of trials."""
    from types import SimpleNamespace

    from simulate import metrics

    rng = np.random.default_rng(seed)
    H = 5
    special = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-300, 5e5])

    def flows(mean):
        x = rng.normal(mean, 2e5, (H, n))
        return np.where(rng.random((H, n)) < 0.15, special[rng.integers(0, special.size, (H, n))], x)

    sav, cost = flows(2e5), flows(1.5e5)
    successes = rng.integers(0, 11, (H, n)).astype(float)
    claims, avg = [], np.empty((len(specs), n))
    with np.errstate(all="ignore"):
        for row, (metric, year, value, at_threshold) in enumerate(specs):
            cum_sav, cum_cost = 0.0 + sav[0], 0.0 + cost[0]
            for t in range(1, year):
                cum_sav, cum_cost = cum_sav + sav[t], cum_cost + cost[t]
            claim = SimpleNamespace(metric=metric, year=year, tolerance=0.005,
                                    value=value * (1e6 if metric == "cumulative_net" else 1.0))
            avg[row] = successes[:year].sum(axis=0) / year
            figure = {"roi": cum_sav / cum_cost - 1.0, "break_even_successes": avg[row] * cum_cost / cum_sav,
                      "cumulative_net": cum_sav - cum_cost}[metric]
            finite = np.flatnonzero(np.isfinite(figure))
            if at_threshold and finite.size:
                claim.value = float(figure[finite[seed % finite.size]])
                claim.tolerance = -(1e-9 * max(1.0, abs(claim.value)))
            claims.append((claim, int(np.count_nonzero(metrics._reached_claim(claim, cum_sav, cum_cost, successes)))))
        got = kernels.claim_hits(sav, cost, [kernels.CLAIM_KINDS.index(c.metric) for c, _ in claims],
                                 [c.year for c, _ in claims], [metrics._claim_threshold(c) for c, _ in claims], avg)
    assert got.tolist() == [want for _, want in claims]


@compiled_only
@pytest.mark.parametrize("growth", [0.0, 0.02])
@pytest.mark.parametrize("lifetime", ["none", "all", "claims", "claims discounted", "no years"])
def test_the_slice_kernel_with_lifetime_rows_is_the_numpy_engine(growth, lifetime, monkeypatch):
    """The counterfactual with the price growth, the lifetime rows and the value still to come in the same chunks
    (kernels.counterfactual_life) gives the engine's NumPy trajectories to the bit: without lifetime values, with
    all of them, and with those of some payers and years (undiscounted or discounted), with and without growth."""
    from simulate.api import LifetimeNeed, block_rng
    from simulate.engine import simulate

    # without the discount step-down the discounted tail separates by age, so the kernel takes it too
    scenario = _scenario("naerbolig.yaml", real_price_growth=growth, long_term_step_down=False)
    payers = scenario.payers()
    need = {"none": False, "all": True,
            "claims": LifetimeNeed(frozenset(payers[:1]), frozenset({0, 2, 9}), False),
            "claims discounted": LifetimeNeed(frozenset(payers[:2]), frozenset({1, 4}), True),
            "no years": LifetimeNeed(frozenset(payers[:1]), frozenset(), False)}[lifetime]
    calls = []
    real = kernels.counterfactual_life
    monkeypatch.setattr(kernels, "counterfactual_life", lambda *a, **k: calls.append(1) or real(*a, **k))
    out = []
    for compiled in (True, False):
        monkeypatch.setattr(kernels, "COMPILED", compiled)
        traj = simulate(scenario, 9001, block_rng(2, 5), lifetime=need)
        out.append({name: None if getattr(traj, name) is None else getattr(traj, name).tobytes()
                    for name in ("savings_dkk", "lifetime_savings_dkk", "lifetime_savings_pv_dkk", "successes")})
    assert calls and out[0] == out[1]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 12), st.integers(1, 300), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_the_programmes_cost_rows_both_ways(P, H, n, k, seed):
    """Each payer's share of each year's cost (cost paths by year, price growth): the compiled loop gives the NumPy
    code's numbers, bit for bit, and the definition's; rows of payers without a share are left as they were."""
    rng = np.random.default_rng(seed)
    made = rng.normal(1e6, 3e5, (k, n))
    path = rng.integers(0, k, H)
    growth = 1.02 ** np.arange(H + 3)
    shares = np.where(rng.random(P) < 0.3, 0.0, rng.random(P))
    got = {}
    for compiled in ([False] if kernels._ext is None else [False, True]):
        out = np.full((P, H, n), np.nan)
        kernels.cost_rows(made, path, growth, shares, out, compiled=compiled)
        got[compiled] = out.tobytes()
        for p in range(P):
            if shares[p]:
                assert np.array_equal(out[p], (made[path] * growth[:H, None]) * shares[p])
            else:
                assert np.isnan(out[p]).all()
    assert len(set(got.values())) == 1


@compiled_only
def test_binning_refuses_offsets_no_grid_makes():
    """Grids keep |offset| below 2**50: an offset past 2**52 (not always an exact double) is refused, with or
    without thresholds, before anything is counted."""
    for below in (None, [float(2**54 + 1)]):
        counts = np.zeros((1, 4), dtype=np.int64)
        with pytest.raises(ValueError, match="offsets"):
            kernels.bin_add(counts, np.full((1, 3), 2.0**54), np.array([1.0]), np.array([2**54 + 1]), below=below,
                            compiled=True)
        assert not counts.any()
