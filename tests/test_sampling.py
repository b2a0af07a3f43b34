"""Input draws: the Gaussian copula gives the rank correlations asked for; streams are keyed by input."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from simulate import kernels
from simulate.sampling import child_rng, draw_inputs, pearson_from_rank
from tests.conftest import scenario


def with_correlation(data: dict, a: str, b: str, rho: float) -> dict:
    return {**data, "correlations": [{"between": [a, b], "rank_correlation": rho}]}


SUCCESS = "participants.success_probability"
DROPOUT = "participants.dropout_probability"
OVERRUN = "programme.cost_overrun"


@pytest.mark.parametrize("rho", [-0.8, -0.3, 0.0, 0.5, 0.95])
def test_rank_correlation_comes_out_as_asked(default_data, rho):
    s = scenario(with_correlation(default_data, SUCCESS, OVERRUN, rho))
    v = draw_inputs(s, 200_000, np.random.default_rng(3))
    got = stats.spearmanr(v[SUCCESS], v[OVERRUN]).statistic
    assert got == pytest.approx(rho, abs=0.01)


def test_copula_keeps_each_marginal(default_data):
    s = scenario(with_correlation(default_data, SUCCESS, DROPOUT, 0.7))
    v = draw_inputs(s, 100_000, np.random.default_rng(4))
    dist = s.participants.success_probability
    assert stats.kstest(v[SUCCESS], dist.frozen().cdf).pvalue > 1e-3


def test_perfect_correlation_gives_identical_ranks(default_data):
    s = scenario(with_correlation(default_data, SUCCESS, DROPOUT, 1.0))
    v = draw_inputs(s, 10_000, np.random.default_rng(5))
    assert np.array_equal(np.argsort(v[SUCCESS]), np.argsort(v[DROPOUT]))
    s = scenario(with_correlation(default_data, SUCCESS, DROPOUT, -1.0))
    v = draw_inputs(s, 10_000, np.random.default_rng(5))
    assert np.array_equal(np.argsort(v[SUCCESS]), np.argsort(-v[DROPOUT]))


def test_pearson_transform_is_exact_for_the_gaussian_copula():
    rho = pearson_from_rank(np.array([[1.0, 0.5], [0.5, 1.0]]))
    assert rho[0, 1] == pytest.approx(2 * np.sin(np.pi * 0.5 / 6))


def test_changing_one_input_leaves_the_others_draws_unchanged(default_data):
    base = scenario(default_data)
    changed = dict(default_data)
    changed["participants"] = {**default_data["participants"], "dropout_probability": {"kind": "uniform", "low": 0.1, "high": 0.2}}
    a = draw_inputs(base, 1000, np.random.default_rng(9))
    b = draw_inputs(scenario(changed), 1000, np.random.default_rng(9))
    assert not np.array_equal(a[DROPOUT], b[DROPOUT])
    for path in a:
        if path != DROPOUT and isinstance(a[path], np.ndarray):
            assert np.array_equal(a[path], b[path]), path


def test_expected_mode_gives_exact_means(default_data):
    s = scenario(default_data)
    v = draw_inputs(s, 1, None, mode="expected")
    assert v[OVERRUN] == pytest.approx((0.95 + 4 * 1.0 + 1.4) / 6)
    assert v[DROPOUT] == pytest.approx(0.2)


def test_given_inputs_replace_only_their_own_draws(default_data):
    s = scenario(default_data)
    free = draw_inputs(s, 500, np.random.default_rng(9))
    held = draw_inputs(s, 500, np.random.default_rng(9), given={SUCCESS: 0.4, DROPOUT: np.linspace(0, 1, 500)})
    assert np.all(held[SUCCESS] == 0.4) and np.array_equal(held[DROPOUT], np.linspace(0, 1, 500))
    for path in free:
        if path not in (SUCCESS, DROPOUT) and isinstance(free[path], np.ndarray):
            assert np.array_equal(free[path], held[path])


# --- binomial counts by inversion ----------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "p"), [(10, 0.37), (10, 0.9), (45, 0.5), (1300, 0.1), (7, 0.0), (7, 1.0), (0, 0.4)])
def test_binomial_inverse_is_exactly_binomial(n, p):
    from simulate.sampling import binomial_inverse

    x = binomial_inverse(np.random.default_rng(1).random(200_000), n, p)
    assert x.min() >= 0 and x.max() <= n
    if 0 < p < 1 and n > 0:
        k = np.arange(n + 1)
        expected = stats.binom.pmf(k, n, p) * x.size
        keep = expected > 20
        observed = np.bincount(x, minlength=n + 1)
        assert stats.chisquare(observed[keep], expected[keep] * observed[keep].sum() / expected[keep].sum()).pvalue > 1e-3
    else:
        assert np.all(x == round(n * p))


def test_binomial_inverse_is_monotone_in_the_probability_and_the_count():
    from simulate.sampling import binomial_inverse

    u = np.random.default_rng(2).random(50_000)
    low, high = binomial_inverse(u, 10, 0.50), binomial_inverse(u, 10, 0.52)
    # the tightest coupling there is: counts move by at most one, in as few trials as the means allow
    assert np.all(high >= low) and np.all(high - low <= 1)
    assert np.mean(high != low) == pytest.approx(10 * 0.02, abs=0.01)
    assert np.all(binomial_inverse(u, 11, 0.5) >= low)
    per_trial = binomial_inverse(u[:4], np.array([0, 3, 10, 40]), np.array([0.2, 0.6, 0.5, 0.99]))
    assert per_trial.shape == (4,) and per_trial[0] == 0


def test_a_scenarios_inputs_are_found_once_and_follow_its_copies(default_data):
    """draw_inputs finds a scenario's inputs once per scenario object; a copy with other values has its own, and
    the entry goes with the scenario."""
    import gc

    from simulate.scenario import _INPUTS, numeric_inputs, scenario_inputs

    s = scenario(default_data)
    found = scenario_inputs(s)
    assert found is scenario_inputs(s) and found == numeric_inputs(s)
    data = {**default_data, "programme": {**default_data["programme"], "cost_overrun": 1.25}}
    other = scenario(data)
    assert scenario_inputs(other)[OVERRUN].mean() == 1.25 != found[OVERRUN].mean()
    v = draw_inputs(other, 10, np.random.default_rng(1))
    assert np.all(v[OVERRUN] == 1.25)
    key = id(s)
    del s, found
    gc.collect()
    assert key not in _INPUTS


_words = st.integers(0, 2**32 - 1)
_entropy = st.one_of(st.integers(0, 2**160), st.lists(st.one_of(_words, st.integers(0, 2**80)), max_size=7),
                     st.tuples(_words, _words, _words))


@settings(max_examples=150, deadline=None)
@given(_entropy, st.lists(st.one_of(_words, st.integers(0, 2**70)), max_size=4), st.integers(0, 9))
def test_the_compiled_seed_sequence_gives_numpys_state_words(entropy, spawn_key, n_words):
    """Integer entropy (one word, several, a sequence of them, none) and spawn keys of any length: the same words as
    NumPy's SeedSequence, 32 and 64 bits wide, and the same generator."""
    want = np.random.SeedSequence(entropy, spawn_key=spawn_key)
    for compiled in ([False] if kernels._ext is None else [False, True]):
        got = kernels.seed_sequence(entropy, spawn_key, compiled=compiled)
        assert type(got) is (kernels.Seed if compiled else np.random.SeedSequence)
        assert got.entropy == want.entropy and got.spawn_key == want.spawn_key
        for dtype in (np.uint32, np.uint64, "uint64"):
            state = got.generate_state(n_words, dtype)
            assert state.dtype == want.generate_state(n_words, dtype).dtype
            assert np.array_equal(state, want.generate_state(n_words, dtype))
        assert np.random.PCG64(got).state == np.random.PCG64(want).state


def test_seed_sequences_numpy_does_not_take_from_integers_are_numpys_own():
    """Entropy that is not a non-negative integer or a flat sequence of them goes to NumPy (its errors included);
    the compiled one pickles with a generator and refuses other word sizes as NumPy does."""
    for other in (range(3), np.array([1, 2], dtype=np.uint32)):
        assert type(kernels.seed_sequence(other)) is np.random.SeedSequence
    for bad in (-1, [3, -1], 1.5, "12345"):
        with pytest.raises((ValueError, TypeError)):
            kernels.seed_sequence(bad)
    if kernels._ext is None:
        return
    seq = kernels.seed_sequence([1, 2, 3], (4,))
    with pytest.raises(ValueError, match="uint32 or uint64"):
        seq.generate_state(4, np.float64)
    rng = np.random.Generator(np.random.PCG64(seq))
    again = pickle.loads(pickle.dumps(rng))
    assert again.random() == rng.random()
    assert type(again.bit_generator.seed_seq) is kernels.Seed


def test_child_and_block_generators_are_numpys():
    """block_rng and child_rng (of a block's generator and of a child's) are the generators NumPy's own
    SeedSequence makes, at the same state."""
    import zlib

    from simulate.api import block_rng

    rng = block_rng(7, 3, 2)
    assert rng.bit_generator.state == np.random.default_rng([2, 3, 7]).bit_generator.state
    key = zlib.crc32(b"outcomes")
    child = child_rng(rng, "outcomes")
    want = np.random.PCG64(np.random.SeedSequence([2, 3, 7], spawn_key=(key,)))
    assert child.bit_generator.state == want.state
    grandchild = child_rng(child, "x")
    want = np.random.PCG64(np.random.SeedSequence([2, 3, 7], spawn_key=(key, zlib.crc32(b"x"))))
    assert grandchild.bit_generator.state == want.state


def test_generators_seeded_by_the_compiled_seed_sequence_spawn_as_numpys():
    """A block's generator spawns the children NumPy's would (and the next ones on a second call); a pickled
    seed sequence keeps its count of children."""
    from simulate.api import block_rng

    ours, numpys = block_rng(3, 2, 1), np.random.default_rng([1, 2, 3])
    for k in (2, 1):
        assert [g.bit_generator.state for g in ours.spawn(k)] == [g.bit_generator.state for g in numpys.spawn(k)]
    seq = ours.bit_generator.seed_seq
    assert seq.n_children_spawned == 3 and pickle.loads(pickle.dumps(seq)).n_children_spawned == 3
    with pytest.raises(ValueError):
        seq.spawn(-1)
