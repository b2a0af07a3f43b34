"""The engine: a scenario's yearly cash flows per payer, per trial, vectorised over trials.

One pure function, :func:`simulate`, from a validated scenario, a trial count and
a NumPy ``Generator`` to :class:`Trajectories`. Trials are the vector axis;
Python loops run only over intake cohorts and the years after intake.

The model (docs/model.md gives the equations):

- cohort ``c`` (programme year c+1) enrols ``N_c`` young people; drop-outs are
  ``Bin(N_c, d)``; of the ``K_c`` who complete, ``S_c ~ Bin(K_c, q)`` succeed;
- each success is assigned the counterfactual state it would have been in
  (``Multinomial(S_c, pi0)``); year by year the counterfactual states move by
  the transition probabilities and successes relapse with probability ``r``,
  both drawn as binomial counts (the counterfactual is tracked as state counts,
  not as an expected cost, so that with ten young people a year the chance that
  none of the successes would have become homeless is in the distribution);
- a success's saving in a year is its counterfactual state's cost minus its own
  residual cost, times the effect weight (the intake-year fraction ``f`` in the
  intake year, then 1, cut off by the effect duration ``L``), per payer;
- the programme costs ``cost_t * overrun``, split by the financing shares.

In ``expected`` mode every input is at its mean and every count at its
expectation: the deterministic point estimate the brochure gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simulate import kernels
from simulate.sampling import binomial_inverse, child_rng, draw_inputs
from simulate.scenario import Scenario, item_terms

MODES = ("mc", "expected")


@dataclass(frozen=True)
class LifetimeNeed:
    """The part of the lifetime accounting a caller needs (the expected-counterfactual engine leaves the rest at 0
    to save work: the other payers' lifetime rows, and the value still to come in the other years).

    ``payers``: payer names, ``years``: 0-based year indices, ``discounted``: also the discounted value.
    ``lifetime=True`` in :func:`simulate` means everything.
    """

    payers: frozenset
    years: frozenset
    discounted: bool = False


class BlockBuffers:
    """Output arrays that a run of blocks reuses from one block to the next (``simulate(..., buffers=)``): a block's
    rows of +0.0 (the payers without savings or cost) are left from the block before instead of written again,
    some 8 MB of memory writes a block of the default scenario.

    The caller must be done with a block's trajectories before it simulates the next one with the same buffers:
    their arrays are overwritten."""

    def __init__(self):
        self._arrays: dict = {}
        self._zero: dict = {}

    def array(self, name: str, shape: tuple) -> np.ndarray:
        """The array ``name`` of this shape (its rows as the last block left them), or a new one."""
        a = self._arrays.get(name)
        if a is None or a.shape != shape:
            a = self._arrays[name] = np.empty(shape)
            self._zero[name] = frozenset()
        return a

    def zero_rows(self, name: str) -> frozenset:
        """The rows (first index) of ``array(name, ...)`` that hold +0.0 throughout."""
        return self._zero.get(name, frozenset())

    def set_zero_rows(self, name: str, rows) -> None:
        self._zero[name] = frozenset(rows)


def _out_array(buffers: "BlockBuffers | None", name: str, shape: tuple, writes) -> np.ndarray:
    """A new array, or the buffers' (whose rows ``writes`` will be written: no longer known to be zero)."""
    if buffers is None:
        return np.empty(shape)
    a = buffers.array(name, shape)
    buffers.set_zero_rows(name, buffers.zero_rows(name) - set(writes))
    return a


def _known_zero(buffers: "BlockBuffers | None", name: str) -> frozenset:
    return frozenset() if buffers is None else buffers.zero_rows(name)


@dataclass(frozen=True)
class Trajectories:
    """Per-trial yearly flows of one block of trials.

    Arrays are payer-, then year-major, trials last.

    Attributes
    ----------
    payers : tuple of str
        Payer names, the first axis of the money arrays.
    cost_dkk : (n_payers, n_years, n_trials) array [DKK per year]
        Programme cost borne by each payer in each programme year.
    savings_dkk : (n_payers, n_years, n_trials) array [DKK per year]
        Savings that fall in each programme year (``realised`` accounting).
    lifetime_savings_dkk : (n_payers, n_years, n_trials) array or None [DKK]
        All savings of the cohort that enters in each year, wherever they fall
        (``lifetime`` accounting), undiscounted.
    lifetime_savings_pv_dkk : (n_payers, n_years, n_trials) array or None [DKK]
        The same, each saving discounted to year 1 from the year it falls in.
    successes : (n_years, n_trials) array [young people]
        Successes of the cohort entering in each year.
    discount_factor : (n_years,) array [-]
        Factor that brings a flow of each programme year to year-1 value.
    inputs : dict
        The input values drawn (path -> ``(n_trials,)`` array or float).
    zero_payers : dict
        For some of the money arrays (by attribute name): (the array, the payers whose rows the engine wrote as
        +0.0 throughout), a promise that kernels use to skip reading those rows, and only while the attribute is
        still that array (``dataclasses.replace`` with a new array voids it; empty: no promise).
    """

    payers: tuple[str, ...]
    cost_dkk: np.ndarray
    savings_dkk: np.ndarray
    lifetime_savings_dkk: np.ndarray | None
    lifetime_savings_pv_dkk: np.ndarray | None
    successes: np.ndarray
    discount_factor: np.ndarray
    inputs: dict = field(repr=False)
    zero_payers: dict = field(default_factory=dict, repr=False, compare=False)

    def zero_rows(self, name: str) -> frozenset:
        """The payers whose rows of the array ``name`` are promised +0.0 (none unless the promise is for this
        very array)."""
        promised = self.zero_payers.get(name)
        return promised[1] if promised is not None and promised[0] is getattr(self, name) else frozenset()

    @property
    def n_trials(self) -> int:
        return self.cost_dkk.shape[-1]


def discount_factors(rate: float, n_years: int, *, long_term_step_down: bool = True) -> np.ndarray:
    """Year-1 value of one krone in each programme year, ``(n_years,)`` [-].

    Year 1 is the base year (factor 1); year t is discounted by the product of
    (1 + rate of year s) for s = 2..t. With the step-down, years 36-70 use
    ``rate - 1`` percentage point and later years ``rate - 2`` (3.5 / 2.5 / 1.5 %
    for the Finance Ministry's 3.5 %).
    """
    years = np.arange(1, n_years + 1)
    rates = np.full(n_years, rate, dtype=float)
    if long_term_step_down:
        rates[years >= 36] = rate - 0.01
        rates[years >= 71] = rate - 0.02
    rates[0] = 0.0
    return 1.0 / np.cumprod(1.0 + rates)


class _Counts:
    """Binomial counts, or their expectations in expected mode."""

    def __init__(self, rng: np.random.Generator | None, expected: bool):
        self.rng, self.expected = rng, expected

    def binomial(self, n, p):
        p = np.clip(p, 0.0, 1.0)
        if self.expected:
            return n * p
        # By inversion, one uniform per trial and draw: runs with the same seed stay coupled (see
        # sampling.binomial_inverse), so scenarios of a sweep differ only where their inputs do.
        size = np.broadcast_shapes(np.shape(n), np.shape(p))
        if size == ():
            return int(binomial_inverse(self.rng.random(1), n, p)[0])
        return binomial_inverse(kernels.random(self.rng, size), n, p)

    def split(self, n, probs: list):
        """Divide counts ``n`` over categories with probabilities ``probs`` (the last takes the rest).

        Exact multinomial by sequential conditional binomials.
        """
        out, remaining, used = [], n, 0.0
        for p in probs[:-1]:
            if np.isscalar(p) and p == 0.0:
                out.append(0 * n)
                continue
            left = 1.0 - used
            cond = np.where(left > 1e-12, np.divide(p, np.maximum(left, 1e-12)), 0.0)
            x = self.binomial(remaining, cond)
            out.append(x)
            remaining = remaining - x
            used = used + p
        out.append(remaining)
        return out


def simulate(
    scenario: Scenario,
    n_trials: int,
    rng: np.random.Generator | None,
    *,
    mode: str = "mc",
    lifetime: bool | LifetimeNeed = True,
    item: str | None = None,
    given_inputs: dict | None = None,
    buffers: BlockBuffers | None = None,
) -> Trajectories:
    """Simulate ``n_trials`` trials of ``scenario``.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario.
    n_trials : int
        Number of trials (the vector axis).
    rng : numpy.random.Generator
        The randomness; input draws, outcomes and the counterfactual use child
        streams derived from its seed sequence (``None`` in expected mode).
    mode : {"mc", "expected"}
        Monte Carlo, or the deterministic point estimate (inputs at their means,
        counts at their expectations).
    lifetime : bool or LifetimeNeed
        Also follow each cohort's effect past the horizon (``lifetime`` accounting); a
        :class:`LifetimeNeed` limits that work to some payers and years (the rest stays 0).
    item : str, optional
        Count only the savings of this cost item (for a breakdown of savings).
    given_inputs : dict, optional
        Field path -> value (float or ``(n_trials,)`` array) replacing those inputs'
        draws; every other input and outcome is drawn as without it.
    buffers : BlockBuffers, optional
        Output arrays reused from the block before (see :class:`BlockBuffers`): the same numbers.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if scenario.rule_periods:
        return _by_rule_period(scenario, n_trials, rng, mode=mode, lifetime=lifetime, item=item,
                               given_inputs=given_inputs)
    expected = mode == "expected"
    if expected:  # one point estimate, or one per row of given inputs (E[outcome | inputs], "conditioning")
        sizes = [np.size(x) for x in (given_inputs or {}).values() if np.ndim(x)]
        n_trials = max(sizes) if sizes else 1
    H = scenario.horizon_years
    tail = scenario.lifetime_tail_years if lifetime else 0
    n_years = H + tail
    payers = tuple(scenario.payers())
    P = len(payers)
    v = draw_inputs(scenario, n_trials, rng, mode=mode, given=given_inputs)
    outcome = _Counts(None if expected else child_rng(rng, "outcomes"), expected)
    chain = _Counts(None if expected else child_rng(rng, "counterfactual"), expected)

    disc = scenario.discounting
    df = discount_factors(disc.rate, n_years, long_term_step_down=disc.long_term_step_down)
    growth = (1.0 + disc.real_price_growth) ** np.arange(n_years)

    # --- programme cost -----------------------------------------------------------
    prog = scenario.programme
    cost_paths = (
        [f"programme.cost_per_year_dkk[{i}]" for i in range(len(prog.cost_per_year_dkk))]
        if isinstance(prog.cost_per_year_dkk, list) else ["programme.cost_per_year_dkk"]
    )
    overrun = v["programme.cost_overrun"]
    shares = [prog.financing.get(payer, 0.0) for payer in payers]
    # each row written once: a payer's share of the year's cost, or 0 (unless it is 0 from the block before)
    cost = _out_array(buffers, "cost_dkk", (P, H, n_trials), [p for p in range(P) if shares[p]])
    known = _known_zero(buffers, "cost_dkk")
    for p in range(P):
        if not shares[p] and p not in known:
            cost[p] = 0.0
    # each year's cost is cost * overrun (made once per path) * growth, then each payer's share of it
    by_year = scenario.per_year(cost_paths, H)
    paths = list(dict.fromkeys(by_year))
    made = np.empty((len(paths), n_trials))
    for i, path in enumerate(paths):
        made[i] = v[path] * overrun
    kernels.cost_rows(made, [paths.index(path) for path in by_year], growth, shares, cost)
    if buffers is not None:
        buffers.set_zero_rows("cost_dkk", [p for p in range(P) if not shares[p]])

    # --- unit saving per state and payer [DKK per success-year] --------------------
    cf = scenario.counterfactual
    states = cf.state_names
    residual = [0.0] * P
    for it, value in cf.success_residual_cost_per_year_dkk.items():
        if item is None or it == item:
            for payer, path, share in item_terms(value, f"counterfactual.success_residual_cost_per_year_dkk.{it}"):
                residual[payers.index(payer)] = residual[payers.index(payer)] + v[path] * share
    unit = []  # unit[s] = list of (payer index, saving per success-year)
    for s in states:
        per_payer = [0.0] * P
        for it, value in cf.state_costs()[s].items():
            if item is None or it == item:
                for payer, path, share in item_terms(value, cf.item_path(s, it)):
                    per_payer[payers.index(payer)] = per_payer[payers.index(payer)] + v[path] * share
        pairs = [(p, per_payer[p] - residual[p]) for p in range(P)]
        unit.append([(p, u) for p, u in pairs if not (np.isscalar(u) and u == 0.0)])

    # --- counterfactual start and transitions --------------------------------------
    if cf.states is None or len(states) == 1:
        start = [1.0]
    else:
        init = cf.initial_distribution
        named = [s for s in states if s in init and init[s] != "rest"]
        rest = [s for s in states if s not in named]
        probs = {s: v[f"counterfactual.initial_distribution.{s}"] for s in named}
        # states neither named nor 'rest' start empty; the 'rest' state takes what is left
        rest_state = next((s for s in states if init.get(s) == "rest"), None)
        order = named + ([rest_state] if rest_state else [])
        start_probs = _at_most_one([probs[s] for s in named])
        if rest_state is None:  # shares add up to 1 exactly: the last named takes the rest
            order, start_probs = named, start_probs[:-1] + [None]
        else:
            start_probs = start_probs + [None]
        start = (order, start_probs, rest)
    moves = {}
    for s in states:
        targets = list(cf.transitions.get(s, {}))
        probs = _at_most_one([v[f"counterfactual.transitions.{s}.{t}"] for t in targets])
        moves[s] = [(states.index(t), p) for t, p in zip(targets, probs)]
    has_moves = any(moves.values())

    # --- effect -------------------------------------------------------------------
    part = scenario.participants
    d = v["participants.dropout_probability"]
    q = v["participants.success_probability"]
    f = v["participants.intake_year_effect_fraction"]
    eff = part.effect
    r = v["participants.effect.relapse_probability_per_year"] if eff.relapse_probability_per_year else None
    L = v["participants.effect.duration_years"] if eff.duration_years else None
    if L is not None:
        l_hi = eff.duration_years.support()[1]
        f_lo = part.intake_year_effect_fraction.support()[0]
        if scenario.evidence_correction:  # the evidence correction widens supports (simulate.evidence)
            from simulate.evidence import correct

            l_hi = max(l_hi, correct(min(l_hi, 1e6), eff.duration_years, "participants.effect.duration_years"))
            f_lo = min(f_lo, correct(f_lo, part.intake_year_effect_fraction,
                                     "participants.intake_year_effect_fraction"))
        last_offset = int(math.ceil(min(l_hi, 1e6) - f_lo)) + 1 if math.isfinite(l_hi) else n_years
    else:
        last_offset = n_years

    S = len(states)
    U = np.empty((S, P, n_trials))  # saving per active success-year by state and payer [DKK/year]
    for s, pairs in enumerate(unit):
        given = dict(pairs)  # one saving per payer at most
        for p in range(P):  # each row written once: 0.0 + its saving (what zeros then += give), or 0.0
            if p in given:
                np.add(0.0, given[p], out=U[s, p])
            else:
                U[s, p] = 0.0
    q_eff = (1.0 - d) * q  # completers then successes: Bin(Bin(N, 1-d), q) = Bin(N, (1-d) q)
    if part.refill_dropouts:  # a place succeeds through its first holder, or through the newcomer after a drop-out:
        q_eff = (1.0 - d) * q + d * (1.0 - d) * q  # (1 - d^2) q per place, one success at most
    intake = scenario.intake()

    if cf.sampling == "expected":
        pi0 = _start_shares(start, states)
        trans = _keep_matrix(moves, None, S, n_trials)
        savings, life, life_pv, successes, zero = _simulate_expected_counterfactual(
            intake=intake, q_eff=q_eff, f=f, L=L, r=r, pi0=pi0, trans=trans, U=U, growth=growth, df=df,
            H=H, n_years=min(n_years, H + last_offset + 1) if L is not None else n_years,
            n_trials=n_trials, counts=outcome, lifetime=lifetime,
            need=None if lifetime is True or not lifetime else (
                [payers.index(p) for p in lifetime.payers if p in payers], lifetime.years, lifetime.discounted),
            buffers=buffers,
        )
        no_cost = frozenset(p for p in range(P) if not shares[p])
        return Trajectories(payers=payers, cost_dkk=cost, savings_dkk=savings, lifetime_savings_dkk=life,
                            lifetime_savings_pv_dkk=life_pv, successes=successes, discount_factor=df[:H], inputs=v,
                            zero_payers={"cost_dkk": (cost, no_cost), **zero})

    M = _keep_matrix(moves, r, S, n_trials) if lifetime else None
    savings = np.zeros((P, H, n_trials))
    successes = np.zeros((H, n_trials))
    remaining = np.zeros((2, P, H, n_trials)) if lifetime else None  # expected value still to come

    def enrol(c):
        n_in = _intake_counts(intake[c], n_trials, outcome)
        s_c = outcome.binomial(n_in, q_eff)
        successes[c] = s_c
        if start == [1.0]:
            return [s_c]
        order, start_probs, _ = start
        parts = chain.split(s_c, [p if p is not None else 0.0 for p in start_probs])
        m = [0 * s_c for _ in states]
        for s, x in zip(order, parts):
            m[states.index(s)] = x
        return m

    def step(m):
        if has_moves:
            m = _transition(m, moves, chain)
        if r is not None:
            m = [ms - outcome.binomial(ms, r) for ms in m]
        return m

    def money(m, weight):
        """Savings per payer of state counts ``m`` with effect weight ``weight`` [DKK/year]."""
        flows = [0.0] * P
        for s, pairs in enumerate(unit):
            for p, u in pairs:
                flows[p] = flows[p] + m[s] * u
        return [fl * weight for fl in flows]

    if L is None:
        # The effect does not depend on its age: all active successes form one pool, whatever their cohort.
        value = _future_values(M, U, growth, df, 0, n_years, weight=None, keep_until=H) if lifetime else None
        pool = None
        for y in range(H):
            if pool is not None:
                pool = step(pool)
            new = enrol(y)
            now = money(new, f * growth[y])
            if pool is not None:
                now = [a + b for a, b in zip(now, money(pool, growth[y]))]
            for p in range(P):
                savings[p, y] += now[p]
            pool = new if pool is None else [a + b for a, b in zip(pool, new)]
            if lifetime:
                remaining[:, :, y] = _expected_rest(pool, (value[0], value[1][y]), P)
    else:
        # The effect ends after L years: follow each cohort, as the weight depends on its age.
        for c in range(H):
            m = enrol(c)
            life_end = min(n_years, c + last_offset + 1)
            weights = {c + k: (np.minimum(f, L) if k == 0 else np.clip(L - f - (k - 1), 0.0, 1.0))
                       for k in range(life_end - c)}
            value = _future_values(M, U, growth, df, c, life_end, weight=weights,
                                   keep_until=H) if lifetime else None
            for y in range(c, min(H, life_end)):
                if y > c:
                    m = step(m)
                now = money(m, weights[y] * growth[y])
                for p in range(P):
                    savings[p, y] += now[p]
                if lifetime:
                    remaining[:, :, y] += _expected_rest(m, (value[0], value[1][y]), P)

    life = life_pv = None
    if lifetime:
        before = np.concatenate([np.zeros((2, P, 1, n_trials)), remaining[:, :, :-1]], axis=2)
        life = savings + remaining[0] - before[0]
        life_pv = savings * df[None, :H, None] + remaining[1] - before[1]

    return Trajectories(
        payers=payers,
        cost_dkk=cost,
        savings_dkk=savings,
        lifetime_savings_dkk=life,
        lifetime_savings_pv_dkk=life_pv,
        successes=successes,
        discount_factor=df[:H],
        inputs=v,
    )


def _by_rule_period(scenario: Scenario, n_trials: int, rng, **options) -> Trajectories:
    """Several rule sets over the horizon: each programme year's savings mix the rule sets in force in it.

    Each rule set's splits are simulated on the same draws (the engine draws only from child streams of
    ``rng``, keyed by name, so every run sees the same inputs and outcomes); savings are linear in the splits,
    so a year's savings are the runs' savings weighted by each rule set's share of the year's days. Exact for
    realised savings; the lifetime accounting weights a cohort's savings by its intake year.
    """
    from dataclasses import replace

    from simulate.scenario import with_splits

    runs = [(np.asarray(p.year_weights, dtype=float), simulate(with_splits(scenario, p.splits), n_trials, rng,
                                                               **options)) for p in scenario.rule_periods]
    H = scenario.horizon_years

    def mix(name):
        arrays = [getattr(traj, name) for _, traj in runs]
        if arrays[0] is None:
            return None
        return sum(w[None, :H, None] * a for (w, _), a in zip(runs, arrays))

    return replace(runs[0][1], savings_dkk=mix("savings_dkk"), lifetime_savings_dkk=mix("lifetime_savings_dkk"),
                   lifetime_savings_pv_dkk=mix("lifetime_savings_pv_dkk"))  # the mixed arrays void their promises


PER_YOUTH_MAX = 32  # cohorts up to this size are drawn youth by youth (one uniform each); larger ones as binomials


def _start_shares(start, states: list) -> list:
    """Counterfactual starting shares per state (floats or ``(n_trials,)`` arrays)."""
    if start == [1.0]:
        return [1.0]
    order, start_probs, _ = start
    named = [p for p in start_probs if p is not None]
    rest = 1.0 - sum(named) if named else 1.0
    shares = [0.0] * len(states)
    for s, p in zip(order, start_probs):
        shares[states.index(s)] = rest if p is None else p
    return shares


SLICE_TRIALS = 8192  # the expected-counterfactual engine works on this many trials at a time (memory, cache)


def _cut(x, sl: slice):
    """Trials ``sl`` of a per-trial array (the last axis), or a scalar as it is."""
    return x[..., sl] if np.ndim(x) else x


def _simulate_expected_counterfactual(*, intake, q_eff, f, L, r, pi0, trans, U, growth, df, H, n_years, n_trials,
                                      counts, lifetime, need=None, buffers=None):
    """The engine with the counterfactual as its expected cost given the inputs (``sampling: expected``).

    A success active ``k`` years after intake saves ``e_k = pi0 T^k u`` a year (per payer); the random
    outcomes are who succeeds and how long each success lasts. Small cohorts are drawn youth by youth: one
    uniform ``V`` per young person, who succeeds iff ``V < q_eff`` and is still active ``k`` years on iff
    ``V < q_eff (1 - r)^k`` (survival given survival is ``1 - r`` each year, independently across
    young people: the same law as a binomial relapse chain, from one draw per person). Larger cohorts
    draw the binomial chain.

    The block's random numbers are drawn first; the arithmetic then runs on slices of
    ``SLICE_TRIALS`` trials, so its temporaries stay small whatever the block size.
    """
    S, P_all, n = U.shape
    saves, moving = np.any(U, axis=2), np.any(trans, axis=2)  # one pass each over the block's arrays
    paying = [p for p in range(P_all) if saves[:, p].any()]
    terms = [(s, i, p) for s in range(S) for i, p in enumerate(paying) if saves[s, p]]
    moves = [(s, t) for s in range(S) for t in range(S) if moving[s, t]]
    incoming = [sum(1 for st, t in moves if t == u) for u in range(S)]
    last_state = int(np.argmax(incoming))
    others = [t for t in range(S) if t != last_state]
    keep = None if r is None else 1.0 - r
    survive, thresholds, edge, no_relapse = kernels.youth_edges(q_eff, keep, min(H, n_years), n,
                                                                edges=not counts.expected, full=False)
    draws = _YouthDraws(counts, q_eff, survive, thresholds=thresholds, edge=edge, no_relapse=no_relapse,
                        keep=keep, ages=min(H, n_years))
    draws.draw(intake, H, n)
    if need is not None:  # only some payers, years and discounting are wanted
        wanted = [i for i, p in enumerate(paying) if p in need[0]]
        years, n_disc = need[1], 2 if need[2] else 1
    else:
        wanted, years, n_disc = list(range(len(paying))), frozenset(range(H)), 2
    if not (lifetime and years):
        wanted = []
    tail_rows = [paying[i] for i in wanted]
    do_tail = bool(lifetime and tail_rows and years)
    # the lifetime rows: all payers', or with a LifetimeNeed only the needed payers' (the others are left at 0)
    life_rows = list(range(P_all)) if need is None else tail_rows
    zero_sav = [p for p in range(P_all) if p not in paying]
    zero_life = [] if need is None else [p for p in range(P_all) if p not in life_rows]
    # the paying payers' rows are written slice by slice, the others are 0 (written, or left so by the block before)
    savings = _out_array(buffers, "savings_dkk", (P_all, H, n), paying)
    successes = np.empty((H, n))  # every row written slice by slice, as are life and life_pv
    life = _out_array(buffers, "lifetime_savings_dkk", (P_all, H, n), life_rows) if lifetime else None
    life_pv = _out_array(buffers, "lifetime_savings_pv_dkk", (P_all, H, n), life_rows) if lifetime and (
        need is None or need[2]) else None
    known = {name: _known_zero(buffers, name) for name in ("savings_dkk", "lifetime_savings_dkk",
                                                           "lifetime_savings_pv_dkk")}
    write_sav = [p for p in zero_sav if p not in known["savings_dkk"]]  # the zero rows still to write
    # one list for life and life_pv: a row is written in both where either does not hold +0.0 yet
    write_life = [p for p in zero_life if p not in known["lifetime_savings_dkk"] or (
        life_pv is not None and p not in known["lifetime_savings_pv_dkk"])]
    # when the intake year counts the fraction f and later years in full (and the discounted tail separates), the
    # slice's steps run in one kernel; the compiled one also writes the zero rows slice by slice, else they are
    # written here
    one_kernel = L is None and not counts.expected and (not do_tail or _separable(n_disc, n_years, df))
    fuse = kernels.COMPILED and one_kernel

    def zero_rows(sl):
        savings[write_sav, :, sl] = 0.0
        for x in (life, life_pv):
            if x is not None:
                x[write_life, :, sl] = 0.0

    if not fuse:
        zero_rows(slice(None))
    # beyond the horizon only the tail's payers are needed (realised savings stop at year H)
    tail_flags = [bool(lifetime) and i in wanted for _, i, _ in terms]
    grow = bool(np.any(growth[:H] != 1.0))
    for a in range(0, n, SLICE_TRIALS):
        sl = slice(a, min(n, a + SLICE_TRIALS))
        m = sl.stop - sl.start
        # e[k]: (P, m) expected saving of a success active at age k, from the state shares pi_k = pi0 T^k
        pi = np.empty((S, m))
        for st, x in enumerate(pi0):
            pi[st] = _cut(x, sl)
        f_s, L_s, keep_s = _cut(f, sl), _cut(L, sl), _cut(keep, sl)
        act = draws.cohorts(sl)  # (cohort, age, m)
        unit = F = F_pv = None
        # e, the savings and the tail sums a few hundred trials at a time; the compiled kernel also makes the price
        # growth, the lifetime rows, the value still to come, the successes and the zero rows (the steps below)
        if one_kernel and kernels.counterfactual_life(
                pi, U, trans, terms, tail_flags, moves, last_state, others, sl.start, H, n_years, len(paying), f_s,
                act, paying, savings, growth=growth, grow=grow, life=life, life_pv=life_pv, life_rows=life_rows,
                wanted=wanted if do_tail else [], keep=1.0 if keep_s is None else keep_s, df=df,
                years=years if do_tail else (), ages_kept=_tail_ages(H, n_years, n_years, years),
                successes=successes, zero_savings=write_sav if fuse else (), zero_life=write_life if fuse else ()):
            continue
        if fuse:  # the compiled kernel did not run for this slice after all
            zero_rows(sl)
        successes[:, sl] = act[:, 0]
        if one_kernel:
            tail = {} if not do_tail else dict(
                wanted=wanted, growth=growth, keep=1.0 if keep_s is None else keep_s,
                df=df if n_disc == 2 else None, ages_kept=_tail_ages(H, n_years, n_years, years))
            F, F_pv = kernels.counterfactual(pi, U, trans, terms, tail_flags, moves, last_state, others, sl.start, H,
                                             n_years, len(paying), f_s, act, paying, savings, **tail)
        else:
            e = kernels.expected_unit(pi, U, trans, terms, tail_flags, moves, last_state, others, sl.start, H,
                                      n_years, len(paying))
            if L is None:  # the intake year counts the fraction f, later years in full
                e[0] *= f_s
            else:
                e[0] *= np.minimum(f_s, L_s)
                for k in range(1, n_years):
                    e[k] *= np.clip(L_s - f_s - (k - 1), 0.0, 1.0)
            unit = e  # (ages, P, m): saving of one success (active or not) at each age, as weighted
            kernels.cohort_savings(unit, act, paying, savings, sl.start)  # by the year they fall in, before growth
        if grow:
            savings[paying, :, sl] *= growth[None, :H, None]
        if not lifetime:
            continue
        for p in life_rows:
            life[p, :, sl] = savings[p, :, sl]
            if life_pv is not None:
                np.multiply(savings[p, :, sl], df[:H, None], out=life_pv[p, :, sl])
        if not do_tail:
            continue
        remaining = _remaining(unit, act, wanted, years, n_disc, keep_s, growth, df, H, n_years, m, F=F, F_pv=F_pv)
        # yearly increments whose running sum is realised savings + the value still to come (in place, row by
        # row: a fancy-indexed += gathers, adds and scatters back)
        for x, d in ((life, 0), (life_pv, 1)):
            if x is None:
                continue
            for i, p in enumerate(tail_rows):
                row = x[p, :, sl]
                np.add(row, remaining[d, i], out=row)
                np.subtract(row[1:], remaining[d, i, :-1], out=row[1:])
    if buffers is not None:  # the rows that are +0.0 now (written above, or left so)
        buffers.set_zero_rows("savings_dkk", zero_sav)
        for name, x in (("lifetime_savings_dkk", life), ("lifetime_savings_pv_dkk", life_pv)):
            if x is not None:
                buffers.set_zero_rows(name, zero_life)
    # the rows written as +0.0 above (or left so), which stay so: a promise to the kernels that read the arrays
    zero = {"savings_dkk": (savings, frozenset(zero_sav))}
    if need is not None:
        for name, x in (("lifetime_savings_dkk", life), ("lifetime_savings_pv_dkk", life_pv)):
            if x is not None:
                zero[name] = (x, frozenset(zero_life))
    return savings, life, life_pv, successes, zero


def _survival(keep, ages: int, n: int) -> np.ndarray:
    """``(ages, n)``: ``(1 - r)^k``, the probability that a success is still active k years on."""
    return kernels.youth_edges(1.0, keep, ages, n, edges=False)[0]


def _powers(keep, rows, m: int) -> dict:
    """``{k: (1 - r)^k}`` for the ages ``rows``, each as :func:`_survival` computes it (a running product)."""
    out = {}
    if not rows:
        return out
    cur = np.ones(m)
    for k in range(max(rows) + 1):
        if k in rows:
            out[k] = cur.copy()
        if keep is not None:
            np.multiply(cur, keep, out=cur)
    return out


def _separable(n_disc: int, n_years: int, df: np.ndarray) -> bool:
    """Whether the discounted tail sums separate by age like the undiscounted ones (the rate constant in the
    tail), so that :func:`_remaining` needs them alone and not the savings by age."""
    return not (n_disc == 2 and n_years > 35 and _steps_down(df))


def _remaining(unit, act, wanted, years, n_disc, keep, growth, df, H, n_years, m, *, F=None, F_pv=None) -> np.ndarray:
    """``(2, len(wanted), H, m)``: expected savings still to come after each year, of the successes active
    then (undiscounted; discounted to year 1), for the payers ``wanted`` and the programme ``years``.

    ``F`` and ``F_pv``: the tail sums of ``unit`` at the ages :func:`_tail_ages` (``F_pv`` where discounted and
    :func:`_separable`), if the caller has them; ``unit`` is then not needed."""
    ratio = 1.0 if keep is None else keep
    ages = n_years
    separable_df = _separable(n_disc, n_years, df)
    if F is None:
        kept = _tail_ages(H, ages, n_years, years)
        F = kernels.tail_sums(unit, wanted, growth, ratio, None, ages_kept=kept)
        F_pv = kernels.tail_sums(unit, wanted, growth, ratio, df, ages_kept=kept) if n_disc == 2 and separable_df \
            else None
    if n_disc == 1 or F_pv is not None:
        remaining = kernels.remaining(F, F_pv, act, keep, growth, df, years, H, n_years)
        if remaining is not None:
            return remaining
    remaining = np.zeros((2, len(wanted), H, m))
    survive = _powers(keep, {min(ages, n_years - c) - 1 - k for c in range(H) for k in range(min(H - c, ages))
                             if c + k in years}, m)  # (1 - r)^(last - k) where needed below
    # F[k]: expected savings after age k of a success active at age k, with growth from year 1 (g_j, not
    # g_{c+j}) and no end: cohort c's value is g_c (F[k] - (1-r)^(J_c-k) F[J_c]), J_c its last age followed.
    # Growth is geometric, so this is exact; discounting separates the same way while the rate is constant.
    for c in range(H):
        n_ages = min(H - c, ages)
        needed = sorted(y - c for y in years if y >= c and y - c < n_ages)
        if not needed:
            continue
        active = act[c]
        last = min(ages, n_years - c) - 1  # the last age followed for this cohort
        for k in needed:
            value = F[k] if last >= ages - 1 else F[k] - survive[last - k] * F[last]
            remaining[0, :, c + k] += active[k] * (growth[c] * value)  # float64 whatever NumPy's promotion
            if F_pv is not None:
                value = F_pv[k] if last >= ages - 1 else F_pv[k] - survive[last - k] * F_pv[last]
                remaining[1, :, c + k] += active[k] * ((growth[c] * df[c] / df[0]) * value)
        if n_disc == 2 and F_pv is None:  # the discount rate steps down inside the tail: follow this cohort
            tail = np.zeros((len(wanted), m))
            for k in range(last, needed[0], -1):
                tail = ratio * (unit[k, wanted] * growth[c + k] * df[c + k] + tail)
                if k - 1 in needed:
                    remaining[1, :, c + k - 1] += active[k - 1] * tail
    return remaining


def _tail_ages(H: int, ages: int, n_years: int, years) -> set:
    """The ages k whose tail sums ``F[k]`` :func:`_remaining` reads: the ages of the years wanted, cohort by cohort,
    and each cohort's last age followed."""
    return {y - c for c in range(H) for y in years if c <= y < c + min(H - c, ages)} | {
        min(ages, n_years - c) - 1 for c in range(H)}


def _steps_down(df: np.ndarray) -> bool:
    """Whether the discount rate changes within the years of ``df``."""
    ratios = df[1:] / df[:-1]
    return bool(len(ratios) > 1 and np.ptp(ratios[1:]) > 1e-12)


UNIT16 = 65536.0  # per-youth uniforms are drawn as 16-bit integers: V = (h + W) / 2**16


class _YouthDraws:
    """Per-young-person uniforms, drawn as 16-bit integers, four from one 64-bit word.

    Young person i's uniform is ``V = (h_i + W_i) / 2**16`` with ``h_i`` a uniform 16-bit integer and
    ``W_i`` a uniform on [0, 1): ``V < t`` iff ``h_i < floor(2**16 t)``, or ``h_i == floor(2**16 t)`` and
    ``W_i < 2**16 t - floor(2**16 t)``. The integers decide every comparison except ties; ``W`` is drawn
    (from its own stream) only for the trials of a cohort with a tie at some age, about one comparison in
    65,536, so the comparison stays exact at a quarter of the random numbers and on 2-byte integers.
    """

    def __init__(self, counts: "_Counts", q_eff, survive: np.ndarray | None, *,
                 thresholds: np.ndarray | None = None, edge: np.ndarray | None = None,
                 no_relapse: bool | None = None, keep=None, ages: int | None = None):
        """``thresholds``, ``edge`` and ``no_relapse``: :func:`simulate.kernels.youth_edges` of the same inputs,
        if the caller has them. ``survive`` None (then with ``keep``, ``ages``, ``edge`` and ``no_relapse``): the
        survival and thresholds are made when first needed, and for the tied trials only those trials'."""
        self.counts = counts
        self.rng = counts.rng
        self._ties = None
        self.q_eff, self._survive, self._thresholds = q_eff, survive, thresholds
        self._keep, self._ages = keep, ages
        self._tie_thresholds = None  # the tied trials' thresholds, when survive is not made
        if survive is None:
            self.no_relapse, self.edge = no_relapse, edge
            return
        # (ages, n): active at age k iff V < q_eff (1 - r)^k
        if thresholds is None:
            self._thresholds = q_eff * survive
        self.no_relapse = bool(np.all(survive == 1.0)) if no_relapse is None else no_relapse
        if not counts.expected:
            self.edge = kernels.edges_of(self._thresholds) if edge is None else edge

    def _made(self) -> None:
        """The survival and thresholds of every trial, made now (kernels.youth_edges: the same numbers)."""
        n = self.edge.shape[1]
        self._survive, self._thresholds, _, _ = kernels.youth_edges(self.q_eff, self._keep, self._ages, n,
                                                                    edges=False)

    @property
    def survive(self) -> np.ndarray:
        """``(ages, n)``: ``(1 - r)^k``, the probability that a success is still active k years on."""
        if self._survive is None:
            self._made()
        return self._survive

    @property
    def thresholds(self) -> np.ndarray:
        """``(ages, n)``: a young person is active at age k iff ``V < q_eff (1 - r)^k``."""
        if self._thresholds is None:
            self._made()
        return self._thresholds

    def _tie_rng(self) -> np.random.Generator:
        if self._ties is None:
            self._ties = child_rng(self.rng, "ties")
        return self._ties

    def draw(self, intake, H: int, n: int) -> None:
        """Draw the block's random numbers, cohort by cohort: its 16-bit integers, then the uniforms of a
        fractional young person (or, for a large cohort, its binomial counts)."""
        self.H, self.intake = H, intake
        self.groups: dict[int, tuple[list, np.ndarray]] = {}  # cohort size -> (cohorts, (cohorts, size, n) integers)
        self.extra, self.chain = {}, {}
        if self.counts.expected:
            return
        rng = self.rng
        sizes = [math.floor(x) for x in intake]
        if len(set(sizes)) == 1 and 0 < sizes[0] <= PER_YOUTH_MAX and all(x == sizes[0] for x in intake) \
                and (sizes[0] * n) % 4 == 0:  # the usual case: equal whole cohorts, drawn in one call
            words = H * sizes[0] * n // 4
            self.groups[sizes[0]] = (list(range(H)), kernels.random_raw(rng, words).view(np.uint16)
                                     .reshape(H, sizes[0], n))
            return
        by_size: dict[int, list] = {}
        for c in range(H):
            whole = math.floor(intake[c])
            frac = intake[c] - whole
            if whole + (frac > 0) > PER_YOUTH_MAX:
                self.chain[c] = _binomial_chain(intake[c], self.q_eff, self.survive[:H - c], n, self.counts)
                continue
            if whole:
                words = -(-whole * n // 4)
                by_size.setdefault(whole, []).append(
                    (c, kernels.random_raw(rng, words).view(np.uint16)[: whole * n].reshape(whole, n)))
            if frac > 0:  # the extra young person enters with probability frac; absent ones never succeed
                v = kernels.random(rng, n)
                self.extra[c] = np.where(kernels.random(rng, n) < frac, v, 2.0)
        for whole, group in by_size.items():
            self.groups[whole] = ([c for c, _ in group], np.stack([x for _, x in group]))

    def cohorts(self, sl: slice) -> np.ndarray:
        """``(H, H, m)``: successes of cohort c still active at age k (0 where c + k >= H), trials ``sl``.

        The comparisons run age by age over all cohorts of the same size.
        """
        H = self.H
        m = sl.stop - sl.start
        if self.counts.expected:
            thresholds = self.thresholds[:, sl]
            act = np.zeros((H, H, m))
            for c in range(H):
                act[c, :H - c] = self.intake[c] * thresholds[:H - c]
            return act
        act = np.empty((H, H, m), dtype=np.float32)  # the triangle c + k < H only; counts < 2**24: exact
        grouped = {c for cs, _ in self.groups.values() for c in cs}
        for c in range(H):
            if c in self.chain:
                act[c, :H - c] = self.chain[c][:, sl]
            elif c not in grouped:  # no whole young person this year (intake 0, or a fraction only)
                act[c, :H - c] = 0.0
        tied = np.zeros((H, m), dtype=bool)
        for cs, h_all in self.groups.values():  # cohorts in ascending order
            kernels.youth_counts(h_all, cs, self.edge, sl.start, m, H, self.no_relapse, act, tied)
        self._resolve_ties(tied, sl, act)
        for c in range(H):
            if c in self.extra:
                thresholds = self.thresholds[:, sl]
                extra = self.extra[c][sl]
                for k in range(H - c):
                    act[c, k] += extra < thresholds[k]
        return act


    def _resolve_ties(self, tied: np.ndarray, sl: slice, act: np.ndarray) -> None:
        """Where a young person is on a threshold's edge (``tied[c, j]``), compare the full uniforms of cohort c's
        young people in trial j, at every age.

        The ``W`` of cohort c's tied trials are drawn as ``random((size of c, ties of c))``, cohorts in ascending
        order: here as one draw, split in that order, so that all ties are compared in one array operation."""
        H = self.H
        flat = np.flatnonzero(tied)  # by cohort, then trial (np.nonzero of a 2-D array is ten times slower)
        if not flat.size:
            return
        c_of, t_of = np.divmod(flat, tied.shape[1])
        ties = np.bincount(c_of, minlength=H)
        size = np.zeros(H, dtype=np.int64)
        for cs, h_all in self.groups.values():
            size[cs] = h_all.shape[1]
        draws = size * ties
        w_all = kernels.random(self._tie_rng(), int(draws.sum()))
        w_start = np.cumsum(draws) - draws  # cohort c's draws, a (size, ties) array in C order
        pos = np.arange(c_of.size) - (np.cumsum(ties) - ties)[c_of]  # the tie's column in its cohort's array
        thresholds = self._thresholds
        if thresholds is None:  # the tied trials' thresholds only (the kernel reads no others)
            if self._tie_thresholds is None:
                self._tie_thresholds = np.empty(self.edge.shape)
            thresholds = self._tie_thresholds
            kernels.thresholds_at(self.q_eff, self._keep, self._ages, thresholds.shape[1],
                                  sl.start + t_of, thresholds)  # a trial tied twice: the same numbers twice
        groups = list(self.groups.values())
        for cs, h_all in groups:
            sel = slice(None) if len(groups) == 1 else np.flatnonzero(np.isin(c_of, cs))
            c = c_of[sel]
            kernels.tie_counts(h_all, np.searchsorted(cs, c), c, t_of[sel], pos[sel], w_all, w_start, ties,
                               thresholds, sl.start, act)


def _binomial_chain(n_in: float, q_eff, survive: np.ndarray, n: int, counts: "_Counts") -> np.ndarray:
    """Large cohorts: successes by a binomial, then each year's relapses by binomials."""
    n_ages = survive.shape[0]
    n_people = _intake_counts(n_in, n, counts)
    out = np.empty((n_ages, n))
    out[0] = counts.binomial(n_people, q_eff)
    for k in range(1, n_ages):
        ratio = np.divide(survive[k], survive[k - 1], out=np.zeros(n), where=survive[k - 1] > 0)
        out[k] = out[k - 1] - counts.binomial(out[k - 1].astype(np.int64), 1.0 - ratio)
    return out


def _keep_matrix(moves: dict, r, S: int, n_trials: int) -> np.ndarray:
    """``(S, S, n_trials)``: probability that an active success in state s is active in state t a year on."""
    T = np.empty((S, S, n_trials))
    for s, name in enumerate(moves):
        terms: dict = {}  # each row's additions in order, from 0.0 (what zeros then += give), each row written once
        out = 0.0
        for t, p in moves[name]:
            terms.setdefault(t, []).append(p)
            out = out + p
        terms.setdefault(s, []).append(1.0 - out)
        for t in range(S):
            row = T[s, t]
            if t not in terms:
                row[...] = 0.0
                continue
            np.add(0.0, terms[t][0], out=row)
            for p in terms[t][1:]:
                np.add(row, p, out=row)
    if r is None:  # times 1.0: the same numbers, without a copy
        return T
    return T * (1.0 - r)


def _future_values(M, U, growth, df, first: int, last: int, *, weight, keep_until: int) -> tuple[list, dict]:
    """Expected future savings of one active success in each state, at the end of each year.

    ``value[y][d, s, i]`` is the expected saving for payer ``paying[i]``, in years
    y+1 .. last-1, of a success active in state s at the end of year y; d = 0
    undiscounted, 1 discounted to year 1. Backward: ``V[y-1] = M (u_y + V[y])``
    with ``u_y`` the unit saving in year y times its effect weight and price
    growth. Only years before ``keep_until`` are kept; only payers with savings.
    """
    paying = [p for p in range(U.shape[1]) if np.any(U[:, p])]
    U = U[:, paying]
    S, P, n = U.shape
    out = {}
    X = np.zeros((2, S, P, n))
    if last - 1 < keep_until:
        out[last - 1] = X
    for y in range(last - 1, first, -1):
        w = 1.0 if weight is None else weight[y]
        u = U * (w * growth[y])
        X = np.einsum("stn,dtpn->dspn", M, np.stack([u, u * df[y]]) + X)
        if y - 1 < keep_until:
            out[y - 1] = X
    return paying, out


def _expected_rest(m: list, value: tuple, P: int) -> np.ndarray:
    """``(2, P, n)``: expected future savings of the state counts ``m``."""
    paying, by_year = value
    part = sum(m[s] * by_year[:, s] for s in range(len(m)))
    if len(paying) == P:
        return part
    out = np.zeros((2, P) + np.shape(part)[2:])
    out[:, paying] = part
    return out


def _at_most_one(probs: list) -> list:
    """Probabilities of leaving one state, scaled down in any trial where they add up to more than 1."""
    if not probs:
        return probs
    total = sum(probs)
    if np.all(np.asarray(total) <= 1.0):
        return probs
    scale = np.where(total > 1.0, 1.0 / np.maximum(total, 1e-300), 1.0)
    return [p * scale for p in probs]


def _intake_counts(x: float, n_trials: int, counts: _Counts):
    """Intake of one year as counts: ``x`` exactly, or floor(x) plus a Bernoulli for the fraction."""
    if counts.expected:
        return np.full(n_trials, float(x))
    whole = math.floor(x)
    frac = x - whole
    n = np.full(n_trials, whole, dtype=np.int64)
    if frac > 0:
        n += kernels.random(counts.rng, n_trials) < frac
    return n


def _transition(m: list, moves: dict, counts: _Counts) -> list:
    """One year of counterfactual state changes for the state counts ``m``."""
    states = list(moves)
    new = list(m)
    for s, name in enumerate(states):
        targets = moves[name]
        if not targets:
            continue
        parts = counts.split(m[s], [p for _, p in targets] + [None])
        for (t, _), x in zip(targets, parts[:-1]):
            new[t] = new[t] + x
            new[s] = new[s] - x
    return new
