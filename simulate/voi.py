"""Value of information for the decision "continue the programme or stop it".

The decision compares the payer's net result of continuing (``NB``: the cumulative net at year ``T``,
one value per trial) with stopping (net 0). With today's information the council picks the option with
the larger expected net, ``max(E[NB], 0)``.

- **EVPI** (expected value of perfect information): ``E[max(NB, 0)] - max(E[NB], 0)``, what knowing
  everything before deciding would be worth. Computed on the trials it also counts the lottery of
  individual outcomes, which no evaluation can resolve, so it is an upper bound.
- **EVPPI** of an input ``x`` (partial EVPI): ``E_x[max(E[NB | x], 0)] - max(E[NB], 0)``, what learning
  ``x`` exactly would be worth. ``E[NB | x]`` is estimated from the ordinary run's samples by
  regression (the nonparametric regression method of Strong, Oakley and Brennan 2014, Medical Decision
  Making 34(3):311-326, with a piecewise-linear spline in the rank of ``x`` in place of their GAM).
  For a group of inputs the regression is additive over the group; with all uncertain inputs it is
  the EVPI of the parameters (without the individual outcomes' lottery), interactions aside.

A regression on noise is never exactly flat, so an input the result does not depend on gets a small
positive EVPPI; ``noise_floor`` reports the EVPPI of an independent uniform dummy input, the level
below which an EVPPI is indistinguishable from 0.

Pure functions on arrays; :func:`value_of_information` runs a scenario through :func:`simulate.api.run`.
"""

from __future__ import annotations

import math

import numpy as np


N_KNOTS = 8


def evpi(net_dkk: np.ndarray) -> float:
    """``E[max(NB, 0)] - max(E[NB], 0)`` of per-trial net benefits ``net_dkk`` ``(n_trials,)`` [DKK]."""
    net = np.asarray(net_dkk, dtype=float)
    return float(np.maximum(net, 0.0).mean() - max(net.mean(), 0.0))


def _rank01(x: np.ndarray) -> np.ndarray:
    """Ranks of ``x`` scaled to [0, 1] (ties get their average rank)."""
    from scipy.stats import rankdata

    n = len(x)
    return (rankdata(x) - 0.5) / n


def spline_basis(x: np.ndarray, *, n_knots: int = N_KNOTS) -> np.ndarray:
    """``(n, n_knots + 2)``: ``x`` standardised, its rank ``u`` and hinges ``(u - k)+`` at equally spaced knots.

    A net linear in ``x`` is fitted exactly; the hinges in the rank follow any smooth shape with
    the same resolution over the whole distribution. A constant ``x`` gives an empty basis (EVPPI 0).
    """
    x = np.asarray(x, dtype=float)
    if np.ptp(x) == 0:
        return np.empty((len(x), 0))
    u = _rank01(x)
    knots = np.arange(1, n_knots + 1) / (n_knots + 1)
    z = (x - x.mean()) / x.std()
    return np.column_stack([z, u, *[np.maximum(u - k, 0.0) for k in knots]])


def conditional_mean(columns: list[np.ndarray], net_dkk: np.ndarray, *, n_knots: int = N_KNOTS) -> np.ndarray:
    """Fitted ``E[NB | inputs]`` per trial: least squares on an additive spline basis of ``columns``."""
    net = np.asarray(net_dkk, dtype=float)
    parts = [spline_basis(c, n_knots=n_knots) for c in columns]
    basis = np.column_stack([np.ones(len(net)), *parts])
    centre = basis[:, 1:].mean(axis=0)
    basis[:, 1:] -= centre  # keeps the intercept at the mean: the fitted mean equals mean(NB) exactly
    coef, *_ = np.linalg.lstsq(basis, net, rcond=None)
    return basis @ coef


def evppi(columns, net_dkk: np.ndarray, *, n_knots: int = N_KNOTS) -> float:
    """EVPPI of one input ``(n_trials,)`` or a group (a list of them), from the same trials' net [DKK]."""
    if isinstance(columns, np.ndarray) and columns.ndim == 1:
        columns = [columns]
    fitted = conditional_mean(list(columns), net_dkk, n_knots=n_knots)
    return float(max(np.maximum(fitted, 0.0).mean() - max(fitted.mean(), 0.0), 0.0))


def analyse(inputs: dict[str, np.ndarray], net_dkk: np.ndarray, *, rng: np.random.Generator,
            n_knots: int = N_KNOTS) -> dict:
    """EVPI, the parameters' EVPI, each input's EVPPI (largest first) and the noise floor, in DKK."""
    net = np.asarray(net_dkk, dtype=float)
    names = [k for k, v in inputs.items() if np.ptp(v) > 0]
    rows = [{"input": k, "evppi_dkk": round(evppi(inputs[k], net, n_knots=n_knots), 2)} for k in names]
    rows.sort(key=lambda r: -r["evppi_dkk"])
    total = evpi(net)
    for row in rows:
        row["share_of_evpi"] = round(row["evppi_dkk"] / total, 6) if total > 0 else None
    dummy = rng.random(len(net))
    return {
        "mean_net_dkk": round(float(net.mean()), 2),
        "decision_now": "continue" if net.mean() > 0 else "stop",
        "p_continue_is_better": round(float((net > 0).mean()), 6),
        "evpi_dkk": round(total, 2),
        "evpi_parameters_dkk": round(evppi([inputs[k] for k in names], net, n_knots=n_knots), 2) if names else 0.0,
        "noise_floor_dkk": round(evppi(dummy, net, n_knots=n_knots), 2),
        "evppi": rows,
    }


def value_of_information(scenario, *, trials: int = 100_000, seed: int | None = None, year: int | None = None,
                         payer: str = "municipality", accounting: str = "realised", discounted: bool = False,
                         workers: int = 1, n_knots: int = N_KNOTS) -> dict:
    """Run ``scenario`` and return the value of information of continuing or stopping (see module doc).

    ``year``: the programme year ``T`` of the decision's net (default the horizon). Inputs are the
    scenario's uncertain inputs as drawn in the run.
    """
    from simulate import api
    from simulate.metrics import cumulative_nets
    from simulate.scenario import TOTAL

    if not isinstance(scenario, api.Scenario):
        from simulate.io import read_scenario

        scenario = read_scenario(scenario)
    seed = api.DEFAULT_SEED if seed is None else seed
    year = api.check_year_and_kept_trials(scenario, year=year, trials=trials)
    api.check_options(scenario, trials=trials, seed=seed, mode="mc", accounting=accounting, payer=payer,
                      workers=workers)
    d = 1 if discounted else 0
    chunks: dict[int, tuple] = {}

    def table(traj, first):
        _, _, cum_net = cumulative_nets(traj, accounting)
        p = [*traj.payers, TOTAL].index(payer)
        drawn = {k: v for k, v in traj.inputs.items() if isinstance(v, np.ndarray)}
        return cum_net[p, d, year - 1].copy(), drawn

    result = api.run(scenario, trials=trials, seed=seed, accounting=accounting, payer=payer, workers=workers,
                     trial_table=table, on_trials=lambda block, t: chunks.__setitem__(block, t))
    order = sorted(chunks)
    net = np.concatenate([chunks[b][0] for b in order])
    inputs = {k: np.concatenate([chunks[b][1][k] for b in order]) for k in chunks[order[0]][1]}
    out = analyse(inputs, net, rng=np.random.default_rng([7, seed]), n_knots=n_knots)
    head = {"scenario": scenario.name, "trials": trials, "seed": seed, "payer": payer, "year": year,
            "accounting": accounting, "discounted": discounted,
            "decision": "continue the programme (net at year T) or stop it (net 0)",
            "method": "EVPPI by spline regression on each input's rank (Strong, Oakley and Brennan 2014), "
                      f"{n_knots} knots; EVPI over trials includes individual outcomes (an upper bound)"}
    block = result.summary["by_payer"][payer]
    years = block["discounted"]["years"] if discounted else block["years"]
    head["p_break_even"] = years[year - 1]["p_break_even"]["value"]
    return {**head, **out}


def normal_evpi(mu: float, sigma: float) -> float:
    """Closed form of EVPI for a normal net benefit: ``s phi(m/s) + m Phi(m/s) - max(m, 0)``."""
    z = mu / sigma
    phi = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    Phi = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    return sigma * phi + mu * Phi - max(mu, 0.0)
