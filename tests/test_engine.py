"""The engine against independent references: the brochure's arithmetic and closed-form expectations."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from simulate.api import run
from simulate.engine import discount_factors, simulate
from tests.conftest import load, scenario


# --- the brochure, to the krone ----------------------------------------------------------------------
def test_brochure_reproduces_its_own_figures_exactly(brochure_data):
    s = scenario(brochure_data)
    real = run(s, mode="expected", accounting="realised").summary
    life = run(s, mode="expected", accounting="lifetime").summary
    assert round(real["roi_year1"]["value"], 3) == 0.070
    assert real["years"][0]["cumulative_net"]["mean"] == pytest.approx(6.5 * 107_500 - 653_040, abs=0.01)
    assert real["years"][2]["cumulative_net"]["mean"] == pytest.approx(4_329_630, abs=0.01)
    assert real["years"][9]["cumulative_net"]["mean"] == pytest.approx(24_214_600, abs=0.01)
    assert life["years"][9]["cumulative_net"]["mean"] == pytest.approx(28_407_100, abs=0.01)
    # the 3-year figure is realised cash: both accountings agree on the yearly cost, differ in savings
    assert life["years"][9]["cumulative_net"]["mean"] - real["years"][9]["cumulative_net"]["mean"] == pytest.approx(
        4_192_500, abs=0.01)


def test_brochure_savings_per_year_follow_1_3_5(brochure_data):
    traj = simulate(scenario(brochure_data), 1, None, mode="expected", lifetime=False)
    per_year = traj.savings_dkk[0, :, 0] / (6.5 * 107_500)
    assert per_year == pytest.approx([1, 3, 5, 5, 5, 5, 5, 5, 5, 5])


def test_brochure_break_even_successes(brochure_data):
    summary = run(scenario(brochure_data), mode="expected").summary
    be = summary["break_even_successes"]
    assert be["realised"]["undiscounted"][0] == pytest.approx(653_040 / 107_500, abs=1e-4)  # 6.07 in year 1
    assert be["lifetime"]["undiscounted"][9] == pytest.approx(653_040 / 537_500, abs=1e-4)  # 1.21 steady state
    claim = next(c for c in summary["claims"] if c["metric"] == "break_even_successes")
    assert claim["expected_realised"] == pytest.approx(6.0748, abs=1e-4)
    assert claim["p_reached"] == 0.0  # 4.35 is not enough in year 1


# --- closed-form expectations -----------------------------------------------------------------------
def config_duration() -> dict:
    """Fixed effect duration, one counterfactual state, independent uncertain inputs."""
    return {
        "name": "closed form A",
        "horizon_years": 10,
        "intake_per_year": 10,
        "programme": {"cost_per_year_dkk": 1_632_600,
                      "cost_overrun": {"kind": "pert", "low": 0.9, "mode": 1.0, "high": 1.3},
                      "financing": {"municipality": 0.4, "foundations": 0.6}},
        "participants": {"dropout_probability": {"kind": "beta", "a": 2, "b": 8},
                         "success_probability": {"kind": "beta", "a": 6, "b": 4},
                         "intake_year_effect_fraction": 0.5,
                         "effect": {"duration_years": 2.5}},
        "counterfactual": {"saving_per_success_year_dkk": {"kind": "uniform", "low": 150_000, "high": 250_000}},
        "discounting": {"rate": 0.035, "real_price_growth": 0.01},
    }


def closed_form_duration(lifetime: bool):
    """E[cumulative municipal net] by year, undiscounted and discounted (independent derivation)."""
    H, n, p_success, saving = 10, 10, (1 - 0.2) * 0.6, 200_000.0
    cost = 1_632_600 * (0.9 + 4 + 1.3) / 6 * 0.4
    w = {0: 0.5, 1: 1.0, 2: 1.0}
    growth = 1.01 ** np.arange(H + 3)
    df = 1 / 1.035 ** np.arange(H + 3)
    sav = np.zeros(H + 3)
    for c in range(H):
        for k, wk in w.items():
            sav[c + k] += n * p_success * wk * saving * growth[c + k]
    net = sav[:H] - cost * growth[:H]
    und, dis = np.cumsum(net), np.cumsum(net * df[:H])
    if lifetime:
        und[-1] += sav[H:].sum()
        dis[-1] += (sav[H:] * df[H:]).sum()
    return und, dis


def config_chain() -> dict:
    """Relapse, a two-state counterfactual chain, two payers, a residual cost, a scaled intake."""
    return {
        "name": "closed form B",
        "horizon_years": 8,
        "intake_per_year": [5, 10, 15],
        "lifetime_tail_years": 25,
        "programme": {"cost_per_year_dkk": 2_000_000, "financing": {"municipality": 0.5, "state": 0.5}},
        "participants": {"dropout_probability": 0.1,
                         "success_probability": {"kind": "beta", "a": 3, "b": 3},
                         "intake_year_effect_fraction": 0.4,
                         "effect": {"relapse_probability_per_year": {"kind": "beta", "a": 2, "b": 6}}},
        "counterfactual": {
            "states": {
                "support": {"cost_per_year_dkk": {"benefit": {
                    "municipality": {"kind": "uniform", "low": 80_000, "high": 100_000},
                    "state": {"kind": "uniform", "low": 10_000, "high": 30_000}}}},
                "homeless": {"cost_per_year_dkk": {"shelter": {
                    "municipality": {"kind": "uniform", "low": 300_000, "high": 400_000}}}},
            },
            "initial_distribution": {"homeless": 0.2, "support": "rest"},
            "transitions": {"support": {"homeless": 0.05}, "homeless": {"support": 0.3}},
            "success_residual_cost_per_year_dkk": {"mentor": {"municipality": 10_000}},
        },
        "discounting": {"rate": 0.035},
    }


def closed_form_chain(payer: str, lifetime: bool, scale: int = 1):
    H, tail = 8, 25
    intake = [5 * scale, 10 * scale, 15 * scale] + [15 * scale] * (H - 3)
    p_success = 0.9 * 0.5
    keep_moment = lambda k: math.prod((6 + i) / (8 + i) for i in range(k))  # E[(1-r)^k], 1-r ~ Beta(6, 2)
    T = np.array([[0.95, 0.05], [0.3, 0.7]])
    pi0 = np.array([0.8, 0.2])
    unit = {"municipality": np.array([90_000 - 10_000, 350_000 - 10_000]), "state": np.array([20_000, 0.0])}[payer]
    cost = 1_000_000.0
    df = discount_factors(0.035, H + tail)
    sav = np.zeros(H + tail)
    for c in range(H):
        for k in range(H + tail - c):
            weight = 0.4 if k == 0 else 1.0
            state = pi0 @ np.linalg.matrix_power(T, k)
            sav[c + k] += intake[c] * p_success * weight * keep_moment(k) * state @ unit
    net = sav[:H] - cost
    und, dis = np.cumsum(net), np.cumsum(net * df[:H])
    if lifetime:
        und[-1] += sav[H:].sum()
        dis[-1] += (sav[H:] * df[H:]).sum()
    return und, dis


def chain_variant(sampling: str, scale: int):
    def config():
        data = config_chain()
        data["counterfactual"]["sampling"] = sampling
        data["intake_per_year"] = [x * scale for x in data["intake_per_year"]]
        return data
    return config


CASES = [
    ("duration", config_duration, lambda payer, lifetime: closed_form_duration(lifetime), ["municipality"]),
    ("chain", config_chain, closed_form_chain, ["municipality", "state"]),
    # state counts drawn youth by youth's binomials instead of the expected counterfactual
    ("chain_counts", chain_variant("counts", 1), closed_form_chain, ["municipality", "state"]),
    # cohorts above PER_YOUTH_MAX: the binomial relapse chain instead of one uniform per young person
    ("chain_large_cohorts", chain_variant("expected", 4),
     lambda payer, lifetime: closed_form_chain(payer, lifetime, 4), ["municipality"]),
]


@pytest.mark.parametrize("accounting", ["realised", "lifetime"])
@pytest.mark.parametrize(("name", "config", "closed", "payers"), CASES, ids=[c[0] for c in CASES])
def test_monte_carlo_mean_matches_closed_form(name, config, closed, payers, accounting):
    s = scenario(config())
    summary = run(s, trials=120_000, seed=11, accounting=accounting).summary
    for payer in payers:
        und, dis = closed(payer, accounting == "lifetime")
        block = summary["by_payer"][payer]
        years = range(len(und)) if accounting == "realised" else [len(und) - 1]
        for t in years:
            for got, want in ((block["years"][t]["cumulative_net"], und[t]),
                              (block["discounted"]["years"][t]["cumulative_net"], dis[t])):
                assert abs(got["mean"] - want) < 4 * got["mean_se"] + 0.01, (payer, t, got["mean"], want)


def test_expected_mode_of_a_linear_model_is_its_closed_form():
    s = scenario(config_duration())
    for accounting in ("realised", "lifetime"):
        summary = run(s, mode="expected", accounting=accounting).summary
        und, dis = closed_form_duration(accounting == "lifetime")
        got = [y["cumulative_net"]["mean"] for y in summary["years"]]
        if accounting == "realised":
            assert got == pytest.approx(und, abs=0.01)
        else:
            assert got[-1] == pytest.approx(und[-1], abs=0.01)
        assert summary["discounted"]["years"][-1]["cumulative_net"]["mean"] == pytest.approx(dis[-1], abs=0.01)


def test_finance_ministry_discount_steps_down_after_year_35():
    df = discount_factors(0.035, 80)
    assert df[0] == 1.0
    assert df[1] == pytest.approx(1 / 1.035)
    assert df[35] / df[34] == pytest.approx(1 / 1.025)  # year 36
    assert df[70] / df[69] == pytest.approx(1 / 1.015)  # year 71


# --- determinism ----------------------------------------------------------------------------------------
def _dump(summary):
    return json.dumps(summary, sort_keys=True)


def test_same_seed_same_numbers_whatever_the_chunk_size_or_workers(default_data):
    s = scenario(default_data)
    base = run(s, trials=70_000, seed=5, chunk_blocks=1).summary
    assert _dump(run(s, trials=70_000, seed=5, chunk_blocks=3).summary) == _dump(base)
    assert _dump(run(s, trials=70_000, seed=5, chunk_blocks=2, workers=2).summary) == _dump(base)
    assert _dump(run(s, trials=70_000, seed=5, workers=2).summary) == _dump(base)  # guided task sizes
    assert _dump(run(s, trials=70_000, seed=6).summary) != _dump(base)


@pytest.mark.parametrize("n_blocks", [1, 3, 7, 61, 611, 6104])
@pytest.mark.parametrize("workers", [2, 3, 8])
def test_guided_task_sizes_cover_every_block_large_first(n_blocks, workers):
    from simulate.api import guided_sizes

    sizes = guided_sizes(n_blocks, workers)
    assert sum(sizes) == n_blocks and all(1 <= k <= 32 for k in sizes)
    assert sizes == sorted(sizes, reverse=True)  # shrinking: the last tasks are the small ones
    assert all(k == 4 for k in sizes[-2 * workers:-1]) or len(sizes) <= 2 * workers


# --- the Aarhus budgets ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "items", "cost"), [
    ("ungifokus.yaml", {"support": 9_000_000, "services": 3_100_000}, 12_100_000),
    ("hjem_job_helhed.yaml", {"shelter": 1_650_000, "support": 650_000}, 2_300_000),
])
def test_aarhus_budgets_balance_in_expected_mode(name, items, cost):
    s = scenario(load(name))
    last = s.horizon_years - 1
    total = simulate(s, 1, None, mode="expected", lifetime=False)
    assert total.cost_dkk[0, last, 0] == pytest.approx(cost, abs=1)
    for item, amount in items.items():
        part = simulate(s, 1, None, mode="expected", lifetime=False, item=item)
        assert part.savings_dkk[0, last, 0] == pytest.approx(amount, abs=1)
    assert total.savings_dkk[0, last, 0] == pytest.approx(cost, abs=1)
    summary = run(s, mode="expected").summary
    yearly = [y["savings_mean"] - y["cost_mean"] for y in summary["years"]]
    assert yearly == pytest.approx([0.0] * s.horizon_years, abs=1)


# --- invariants ------------------------------------------------------------------------------------------------
def test_successes_never_exceed_intake(default_data):
    s = scenario(default_data)
    traj = simulate(s, 5000, np.random.default_rng(2))
    assert traj.successes.min() >= 0 and traj.successes.max() <= 10


def test_zero_success_saves_nothing(default_data):
    data = json.loads(json.dumps(default_data))
    data["participants"]["success_probability"] = 0
    traj = simulate(scenario(data), 2000, np.random.default_rng(2))
    assert np.all(traj.savings_dkk == 0) and np.all(traj.lifetime_savings_dkk == 0)


def test_payers_add_up_to_the_total(default_data):
    summary = run(scenario(default_data), trials=20_000).summary
    payers = [p for p in summary["payers"] if p != "total"]
    for t in range(10):
        total = summary["by_payer"]["total"]["years"][t]["cumulative_net"]["mean"]
        parts = sum(summary["by_payer"][p]["years"][t]["cumulative_net"]["mean"] for p in payers)
        assert total == pytest.approx(parts, abs=0.05)


# --- places, not participants (refill_dropouts) ---------------------------------------------------------
def _places(refill: bool) -> dict:
    from tests.conftest import load

    data = load("naerbolig_brochure.yaml")
    data["participants"]["dropout_probability"] = 0.2
    data["participants"]["refill_dropouts"] = refill
    data["claims"] = []
    return data


@pytest.mark.parametrize("refill, per_place", [(False, 0.8 * 0.65), (True, (1 - 0.2**2) * 0.65)])
def test_refilled_places_succeed_with_one_minus_d_squared_times_q(refill, per_place):
    """10 places, d = 0.2, q = 0.65: a place succeeds through its first holder or the newcomer after a drop-out."""
    from simulate import api
    from simulate.io import scenario_from_data
    from simulate.reference import simulate_reference

    sc = scenario_from_data(_places(refill))
    expected = api.run(sc, mode="expected").summary
    assert expected["expected_successes_per_year"][0] == pytest.approx(10 * per_place)
    n = 40_000
    for engine in (simulate, simulate_reference):
        s = engine(sc, n, np.random.default_rng(5), lifetime=False).successes[0]
        var = 10 * per_place * (1 - per_place)  # Bin(10, p): each place yields at most one success
        assert abs(s.mean() - 10 * per_place) < 4 * math.sqrt(var / n)
        assert s.var() == pytest.approx(var, rel=0.05)
        assert s.max() <= 10
    cost = [y["cost_mean"] for y in expected["years"]]
    assert cost == pytest.approx([653_040.0] * 10)  # cost follows places, not entrants
    if refill:
        assert expected["expected_entrants_per_year"][0] == pytest.approx(12.0)


def test_expected_mode_with_given_input_rows_gives_one_point_estimate_per_row(default_data):
    s = scenario(default_data)
    point = simulate(s, 1, None, mode="expected", lifetime=False)
    means = {k: np.full(7, v) for k, v in simulate(s, 1, None, mode="expected").inputs.items()
             if k in ("participants.success_probability", "programme.cost_overrun")}
    rows = simulate(s, 7, None, mode="expected", lifetime=False, given_inputs=means)
    assert rows.savings_dkk.shape[-1] == 7
    assert np.allclose(rows.savings_dkk, point.savings_dkk, rtol=1e-12)
    assert np.allclose(rows.cost_dkk, point.cost_dkk, rtol=1e-12)


# --- 16-bit uniforms per young person: the tie on a threshold's edge -----------------------------------
def test_a_young_person_on_the_threshold_edge_is_decided_by_the_extra_uniform():
    # V = (h + W) / 2**16 < t: with t = (1000 + 0.3) / 2**16 a young person with h = 1000 succeeds iff W < 0.3,
    # one with h < 1000 always, one with h > 1000 never. Force the integers and check the counts' law.
    from simulate.engine import UNIT16, _Counts, _YouthDraws

    n, whole = 200_000, 10
    q = np.full(n, 1000.3 / UNIT16)
    draws = _YouthDraws(_Counts(np.random.default_rng(3), False), q, np.ones((1, n)))
    draws.H, draws.intake, draws.extra, draws.chain = 1, np.array([whole]), {}, {}
    h = np.full((1, whole, n), 1000, dtype=np.uint16)
    h[0, :3] = 999  # three below the edge: always counted
    h[0, 3:5] = 1001  # two above: never
    draws.groups = {whole: ([0], h)}
    counts = draws.cohorts(slice(0, n))[0, 0]
    tied = counts - 3  # Bin(5, 0.3) from the five young people on the edge
    assert tied.min() >= 0 and tied.max() <= 5
    assert abs(tied.mean() - 1.5) < 4 * math.sqrt(5 * 0.3 * 0.7 / n)
    observed = np.bincount(tied.astype(int), minlength=6)
    expected = n * np.array([math.comb(5, k) * 0.3**k * 0.7 ** (5 - k) for k in range(6)])
    assert ((observed - expected) ** 2 / expected).sum() < 25  # chi-square, 5 degrees of freedom: p < 1e-4


def test_per_youth_counts_match_the_binomial_relapse_chain():
    # successes Bin(10, q) and survivors after k years Bin(10, q (1 - r)^k), from 16-bit uniforms
    from simulate.engine import _Counts, _survival, _YouthDraws

    n, q, r = 100_000, 0.55, 0.25
    survive = _survival(np.full(n, 1 - r), 4, n)
    draws = _YouthDraws(_Counts(np.random.default_rng(5), False), np.full(n, q), survive)
    draws.draw(np.full(4, 10.0), 4, n)
    act = draws.cohorts(slice(0, n))
    for k in range(4):
        p = q * (1 - r) ** k
        assert abs(act[0, k].mean() - 10 * p) < 4 * math.sqrt(10 * p * (1 - p) / n)
        assert act[0, k].var() == pytest.approx(10 * p * (1 - p), rel=0.03)
    assert np.all(np.diff(act[0], axis=0) <= 0)  # nobody comes back


@pytest.mark.parametrize("intake", [[10, 10, 10, 10, 0, 0, 0, 0, 0, 0], [10, 10, 10, 0.5, 0.3, 10, 0, 40, 10, 10]])
def test_years_with_no_whole_young_person_count_only_what_enters(default_data, intake):
    # intake 0 enrols nobody; a fraction below 1 enrols one young person with that probability
    data = json.loads(json.dumps(default_data))
    data["intake_per_year"] = intake
    traj = simulate(scenario(data), 20_000, np.random.default_rng([0, 0, 4]))
    s = traj.successes
    assert np.all(np.isfinite(s)) and np.all(s >= 0)
    assert np.all(s <= np.ceil(np.asarray(intake, dtype=float))[:, None])
    for y, x in enumerate(intake):
        if x == 0:
            assert not s[y].any()
    assert np.all(np.isfinite(traj.savings_dkk))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tied_young_people_are_compared_in_the_order_of_their_draws(seed):
    """All ties of a slice are resolved in one array operation; their uniforms must be the ones the cohort-by-cohort
    rule draws (cohorts in ascending order, each a (young people, tied trials) array), whatever the cohorts'
    sizes. Checked against that rule written out as a loop."""
    from simulate import engine, kernels
    from simulate.sampling import child_rng

    rng = np.random.default_rng(seed)
    H, n = 6, 700
    draws = engine._YouthDraws(engine._Counts(rng, False), rng.uniform(0.2, 0.8, n),
                               engine._survival(rng.uniform(0.6, 0.95, n), H, n))
    draws.draw(np.array([10.0, 9.0, 10.0, 4.0, 10.0, 0.0]), H, n)  # three sizes, one empty year
    h_of = {}
    for cs, h_all in draws.groups.values():
        for i, c in enumerate(cs):
            h_all[i, 0, ::7] = draws.edge[0, ::7]  # young people on an edge: ties
            h_all[i, -1, 3::11] = draws.edge[min(2, H - c - 1), 3::11]
            h_of[c] = h_all[i]
    act = draws.cohorts(slice(0, n))

    want = np.empty((H, H, n), dtype=np.float32)
    tied = np.zeros((H, n), dtype=bool)
    for cs, h_all in draws.groups.values():
        kernels.youth_counts(h_all, cs, draws.edge, 0, n, H, draws.no_relapse, want, tied)
    ties_rng = child_rng(rng, "ties")
    for c in range(H):  # the rule, cohort by cohort and age by age
        t = np.flatnonzero(tied[c])
        if t.size:
            v = (h_of[c][:, t] + ties_rng.random((h_of[c].shape[0], t.size))) / engine.UNIT16
            for k in range(H - c):
                want[c, k, t] = (v < draws.thresholds[k, t]).sum(axis=0)
    assert tied.sum() > 50
    for c in h_of:
        assert np.array_equal(act[c, :H - c], want[c, :H - c])


def test_a_lifetime_need_computes_the_needed_payers_rows_and_leaves_the_others_at_0(default_data, monkeypatch):
    """With a LifetimeNeed, the needed payers' lifetime rows are those computed when every payer is needed, to the
    bit; the others are 0 (no copy of their realised savings is made). Fresh arrays are filled with NaN here, so
    a row left unwritten shows (fresh pages of memory would be zero by chance)."""
    from simulate.api import block_rng
    from simulate.engine import LifetimeNeed

    empty = np.empty

    def poisoned(shape, dtype=float, **kw):
        out = empty(shape, dtype=dtype, **kw)
        out.fill(np.nan if out.dtype.kind == "f" else 0)
        return out

    monkeypatch.setattr(np, "empty", poisoned)
    s = scenario(default_data)
    payers = list(s.payers())
    years = frozenset({0, 2, 9})
    one = simulate(s, 3001, block_rng(5, 2), lifetime=LifetimeNeed(frozenset({payers[0]}), years, True))
    every = simulate(s, 3001, block_rng(5, 2), lifetime=LifetimeNeed(frozenset(payers), years, True))
    assert np.any(every.savings_dkk[0]) and np.any(every.savings_dkk[1:])
    for name in ("lifetime_savings_dkk", "lifetime_savings_pv_dkk"):
        a, b = getattr(one, name), getattr(every, name)
        assert a[0].tobytes() == b[0].tobytes()
        assert not np.any(a[1:])


def _trajectory_bytes(t) -> list:
    return [None if x is None else x.tobytes() for x in (t.cost_dkk, t.savings_dkk, t.lifetime_savings_dkk,
                                                          t.lifetime_savings_pv_dkk, t.successes)]


@pytest.mark.parametrize("config", ["naerbolig.yaml", "hjem_job_helhed.yaml", "naerbolig_places.yaml"])
def test_reused_output_arrays_give_the_same_trajectories(config):
    """Blocks simulated into the same BlockBuffers (rows of zeros left from the block before, not written again)
    give the trajectories of fresh arrays: blocks one after another, a smaller last block (new arrays), the
    lifetime rows of other payers or none between blocks (rows changing from zero to written and back), the
    compiled kernels and the NumPy code; the arrays are reused."""
    from simulate import kernels
    from simulate.api import LifetimeNeed, block_rng
    from simulate.engine import BlockBuffers

    s = scenario(load(config))
    payers = s.payers()
    needs = [LifetimeNeed(frozenset({payers[0]}), frozenset({0, 2}), True), True,
             LifetimeNeed(frozenset({payers[-1]}), frozenset({1}), False), False,
             LifetimeNeed(frozenset({payers[0]}), frozenset({0, 2}), True)]
    for compiled in ([False] if kernels._ext is None else [True, False]):
        was = kernels.COMPILED
        kernels.COMPILED = compiled
        try:
            class Poisoned(BlockBuffers):  # new arrays full of NaN: a row left unwritten shows
                def array(self, name, shape):
                    new = name not in self._arrays or self._arrays[name].shape != shape
                    a = super().array(name, shape)
                    if new:
                        a.fill(np.nan)
                    return a

            buffers, seen = Poisoned(), set()
            for i, (n, need) in enumerate(zip([3000, 3000, 3000, 3000, 1000], needs)):
                got = simulate(s, n, block_rng(5, i), lifetime=need, buffers=buffers)
                want = simulate(s, n, block_rng(5, i), lifetime=need)
                assert _trajectory_bytes(got) == _trajectory_bytes(want)
                seen.add(id(got.savings_dkk))
                for name, (array, rows) in got.zero_payers.items():
                    assert array is getattr(got, name) and not array[sorted(rows)].any()
                    assert not np.signbit(array[sorted(rows)]).any()
                del got
            assert len(seen) == 2  # one array for the blocks of 3,000 trials, one for the last
        finally:
            kernels.COMPILED = was


def test_a_run_reuses_its_output_arrays_and_gives_the_same_summary(monkeypatch):
    """simulate.run reuses the fast engine's output arrays block after block (three blocks here): its summary is
    that of a run whose buffers hand out fresh arrays every block."""
    from simulate import api

    s = scenario(load("naerbolig.yaml"))
    names = []
    real = api.BlockBuffers

    class Counting(real):
        def array(self, name, shape):
            names.append(name)
            return super().array(name, shape)

    class Fresh(real):
        def array(self, name, shape):
            self._arrays.pop(name, None)  # never the block before's
            return super().array(name, shape)

    monkeypatch.setattr(api, "BlockBuffers", Counting)
    reused = run(s, trials=40_000, seed=9).summary
    assert names.count("savings_dkk") == 3 and "cost_dkk" in names
    monkeypatch.setattr(api, "BlockBuffers", Fresh)
    fresh = run(s, trials=40_000, seed=9).summary
    assert json.dumps(reused, sort_keys=True) == json.dumps(fresh, sort_keys=True)
