"""The straightforward engine: the law reference for the fast engine.

Written for clarity, not speed: trials are the vector axis, and every random
outcome is drawn the obvious way with NumPy's binomial — each cohort's
completers, then its successes, then each year's relapses. The counterfactual is
the expected cost for the success's age given the drawn inputs (as in the fast
engine's default ``sampling: expected``). The fast engine must give the same law
(tests/test_law.py compares the two); the benchmark measures both.
"""

from __future__ import annotations

import math

import numpy as np

from simulate.engine import Trajectories, discount_factors
from simulate.sampling import child_rng, draw_inputs
from simulate.scenario import Scenario, item_terms


def simulate_reference(scenario: Scenario, n_trials: int, rng: np.random.Generator, *, lifetime=True,
                       **_ignored) -> Trajectories:
    """Simulate ``n_trials`` trials the straightforward way (Monte Carlo only)."""
    if scenario.counterfactual.sampling != "expected":
        raise ValueError("the reference engine covers counterfactual sampling 'expected' only")
    H = scenario.horizon_years
    tail = scenario.lifetime_tail_years if lifetime else 0
    n_years = H + tail
    payers = tuple(scenario.payers())
    P = len(payers)
    v = draw_inputs(scenario, n_trials, rng)
    draws = child_rng(rng, "reference-outcomes")
    disc = scenario.discounting
    df = discount_factors(disc.rate, n_years, long_term_step_down=disc.long_term_step_down)
    growth = (1.0 + disc.real_price_growth) ** np.arange(n_years)
    ones = np.ones(n_trials)

    # programme cost by payer and year
    prog = scenario.programme
    paths = ([f"programme.cost_per_year_dkk[{i}]" for i in range(len(prog.cost_per_year_dkk))]
             if isinstance(prog.cost_per_year_dkk, list) else ["programme.cost_per_year_dkk"])
    cost = np.zeros((P, H, n_trials))
    for y, path in enumerate(scenario.per_year(paths, H)):
        for p, payer in enumerate(payers):
            cost[p, y] = v[path] * v["programme.cost_overrun"] * growth[y] * prog.financing.get(payer, 0.0)

    # counterfactual: saving per success-year in each state, start shares, transition matrix
    cf = scenario.counterfactual
    states = cf.state_names
    S = len(states)
    saving = np.zeros((S, P, n_trials))
    for s, state in enumerate(states):
        for item, value in cf.state_costs()[state].items():
            for payer, path, share in item_terms(value, cf.item_path(state, item)):
                saving[s, payers.index(payer)] += v[path] * share
    for item, value in cf.success_residual_cost_per_year_dkk.items():
        for payer, path, share in item_terms(value, f"counterfactual.success_residual_cost_per_year_dkk.{item}"):
            saving[:, payers.index(payer)] -= v[path] * share
    share0 = np.zeros((S, n_trials))
    if cf.states is None or S == 1:
        share0[0] = 1.0
    else:
        init = cf.initial_distribution
        named = [s for s in states if s in init and init[s] != "rest"]
        values = [v[f"counterfactual.initial_distribution.{s}"] * ones for s in named]
        total = sum(values)
        scale = np.where(total > 1, 1 / np.maximum(total, 1e-300), 1.0)
        for s, x in zip(named, values):
            share0[states.index(s)] = x * scale
        rest = next((s for s in states if init.get(s) == "rest"), None)
        if rest is not None:
            share0[states.index(rest)] = 1 - share0.sum(axis=0)
    T = np.zeros((S, S, n_trials))
    for s, state in enumerate(states):
        row = cf.transitions.get(state, {})
        values = [v[f"counterfactual.transitions.{state}.{t}"] * ones for t in row]
        total = sum(values) if values else 0 * ones
        scale = np.where(total > 1, 1 / np.maximum(total, 1e-300), 1.0)
        for t, x in zip(row, values):
            T[s, states.index(t)] = x * scale
        T[s, s] = 1 - T[s].sum(axis=0)

    # expected saving of a success at each age k: shares_k . saving
    expected_saving = np.zeros((n_years, P, n_trials))
    shares = share0
    for k in range(n_years):
        for p in range(P):
            expected_saving[k, p] = (shares * saving[:, p]).sum(axis=0)
        shares = np.einsum("sn,stn->tn", shares, T)

    part = scenario.participants
    d, q = v["participants.dropout_probability"] * ones, v["participants.success_probability"] * ones
    f = v["participants.intake_year_effect_fraction"] * ones
    r = v["participants.effect.relapse_probability_per_year"] * ones \
        if part.effect.relapse_probability_per_year else None
    L = v["participants.effect.duration_years"] * ones if part.effect.duration_years else None

    def weight(k):
        if L is None:
            return f if k == 0 else ones
        return np.minimum(f, L) if k == 0 else np.clip(L - f - (k - 1), 0.0, 1.0)

    savings = np.zeros((P, H, n_trials))
    remaining = np.zeros((2, P, H, n_trials))
    successes = np.zeros((H, n_trials))
    intake = scenario.intake()
    for c in range(H):
        whole = math.floor(intake[c])
        n_in = whole + (draws.random(n_trials) < intake[c] - whole)
        completers = draws.binomial(n_in, 1 - d)
        if part.refill_dropouts:  # each drop-out's place is refilled once; the newcomer may drop out too
            completers = completers + draws.binomial(n_in - completers, 1 - d)
        active = draws.binomial(completers, q)
        successes[c] = active
        if lifetime:  # value[k]: expected savings after age k of one success active at age k (undisc., disc.)
            value = [None] * (n_years - c)
            later = np.zeros((2, P, n_trials))
            for j in range(n_years - c - 1, -1, -1):
                value[j] = later
                step = weight(j) * expected_saving[j] * growth[c + j]
                keep = 1.0 if r is None else (1 - r)
                later = keep * (np.stack([step, step * df[c + j]]) + later) if j > 0 else later
        for k in range(H - c):
            if k > 0 and r is not None:
                active = active - draws.binomial(active, r)
            y = c + k
            savings[:, y] += active * weight(k) * expected_saving[k] * growth[y]
            if lifetime:
                remaining[:, :, y] += active * value[k]
    life = life_pv = None
    if lifetime:
        before = np.concatenate([np.zeros((2, P, 1, n_trials)), remaining[:, :, :-1]], axis=2)
        life = savings + remaining[0] - before[0]
        life_pv = savings * df[None, :H, None] + remaining[1] - before[1]
    return Trajectories(payers=payers, cost_dkk=cost, savings_dkk=savings, lifetime_savings_dkk=life,
                        lifetime_savings_pv_dkk=life_pv, successes=successes, discount_factor=df[:H], inputs=v)
