"""Stop or go after a pilot: update the uncertain inputs with follow-up data and rerun.

Follow-up data per programme year (enrolled, dropped out, succeeded, relapsed, optionally the actual
cost) update four inputs:

- ``participants.dropout_probability``: drop-outs ``D`` of ``N`` enrolled, ``D ~ Bin(N, d)``;
- ``participants.success_probability``: successes ``S`` of the ``K = N - D`` who completed, ``S ~ Bin(K, q)``;
- ``participants.effect.relapse_probability_per_year``: relapses ``R`` of the ``A`` successes active at the
  start of the year (earlier years' successes minus earlier relapses), ``R ~ Bin(A, r)``;
- ``programme.cost_overrun``: actual cost over the budgeted cost of the year, ``log(c / c_budget) ~
  N(log overrun, s^2)`` with ``s`` = ``cost_log_sd`` (default 0.05: the books are nearly exact).

Where an input's prior is a Beta (``kind: beta``, or a 90 % interval fitted as one), it is correlated
with no other input, is not corrected for its evidence level, and its data are binomial, the posterior is
the exact conjugate ``Beta(a + successes, b + failures)``. Every other likelihood term is applied by
importance re-weighting of the prior run's own draws (weights ``w_i`` proportional to the likelihood of
the data under draw ``i``), followed by resampling; the effective sample size ``(sum w)^2 / sum w^2`` is
reported and the update is refused when it falls below ``MIN_ESS``.

The posterior run reuses the prior run's seed (common random numbers for the outcomes), with the
inputs replaced by posterior draws. The threshold success rate comes from re-weighting the prior
run's trials for every possible number of successes among the observed completers.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from pydantic import Field, model_validator

from simulate._model import StrictModel
from simulate.errors import ScenarioError

DROPOUT = "participants.dropout_probability"
SUCCESS = "participants.success_probability"
RELAPSE = "participants.effect.relapse_probability_per_year"
OVERRUN = "programme.cost_overrun"
MIN_ESS = 200
NonNegInt = Annotated[int, Field(ge=0, le=10_000_000, strict=True)]


class ObservedYear(StrictModel):
    """Follow-up of one programme year."""

    year: Annotated[int, Field(ge=1, le=200, strict=True)]
    enrolled: NonNegInt
    dropped_out: NonNegInt = 0
    succeeded: NonNegInt
    relapsed: NonNegInt | None = None
    cost_dkk: Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _possible(self):
        if self.dropped_out > self.enrolled:
            raise ValueError(f"dropped_out ({self.dropped_out}) cannot exceed enrolled ({self.enrolled})")
        if self.succeeded > self.enrolled - self.dropped_out:
            raise ValueError(f"succeeded ({self.succeeded}) cannot exceed those who completed, enrolled - "
                             f"dropped_out = {self.enrolled - self.dropped_out}")
        return self


class Observed(StrictModel):
    """Follow-up data of a pilot: one entry per programme year, in order."""

    years: list[ObservedYear] = Field(min_length=1, max_length=200)
    cost_log_sd: Annotated[float, Field(gt=0, le=2, allow_inf_nan=False)] = 0.05
    source: str | dict | None = None

    @model_validator(mode="after")
    def _order(self):
        got = [y.year for y in self.years]
        if got != list(range(1, len(got) + 1)):
            raise ValueError(f"years must be 1, 2, 3, ... in order without gaps, got {got}")
        active = 0
        for y in self.years:
            if y.relapsed is not None and y.relapsed > active:
                raise ValueError(f"year {y.year}: relapsed ({y.relapsed}) cannot exceed the successes still active "
                                 f"from earlier years ({active})")
            active += y.succeeded - (y.relapsed or 0)
        return self

    def totals(self) -> dict:
        """Binomial data per input: ``{path: (events, trials)}``."""
        n = sum(y.enrolled for y in self.years)
        d = sum(y.dropped_out for y in self.years)
        s = sum(y.succeeded for y in self.years)
        out = {DROPOUT: (d, n), SUCCESS: (s, n - d)}
        if any(y.relapsed is not None for y in self.years):
            active = at_risk = relapsed = 0
            for y in self.years:
                if y.relapsed is not None:
                    at_risk += active
                    relapsed += y.relapsed
                active += y.succeeded - (y.relapsed or 0)
            out[RELAPSE] = (relapsed, at_risk)
        return out


def read_observed(path) -> Observed:
    """Read and validate a follow-up file; every problem is a :class:`ScenarioError` naming the file."""
    from simulate.io import read_yaml_model

    return read_yaml_model(path, Observed, "a mapping with years: [...]", what="--observed")


def check_against(observed: Observed, scenario) -> None:
    """Refuse follow-up data that do not fit the scenario (more years than the horizon)."""
    if len(observed.years) > scenario.horizon_years:
        raise ScenarioError("years", len(observed.years), f"at most the horizon of {scenario.horizon_years} years")


def beta_shape(dist) -> tuple[float, float] | None:
    """``(a, b)`` when ``dist`` is a Beta (directly or as a fitted 90 % interval), else None."""
    from simulate.distributions import Beta, Interval90

    if isinstance(dist, Interval90):
        dist = dist.fitted
    return dist.shape if isinstance(dist, Beta) else None


def conjugate_posterior(a: float, b: float, events: int, trials: int) -> tuple[float, float]:
    """The Beta-Binomial posterior ``Beta(a + events, b + trials - events)``."""
    return a + events, b + trials - events


def _binomial_loglik(p: np.ndarray, k: int, n: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(k > 0, k * np.log(p), 0.0) + np.where(n - k > 0, (n - k) * np.log1p(-p), 0.0)
    return np.nan_to_num(out, nan=-np.inf)


def plan(scenario, observed: Observed, *, method: str = "auto") -> dict:
    """How each observed input is updated: ``{path: {"how": ..., ...}}`` plus warnings.

    ``method``: ``auto`` (conjugate where possible), ``importance`` (re-weighting for everything).
    """
    from simulate.scenario import numeric_inputs

    inputs = numeric_inputs(scenario)
    correlated = set(scenario.rank_correlation_matrix()[0]) if scenario.correlations else set()
    steps, warnings = {}, []
    for path, (k, n) in observed.totals().items():
        if n == 0:
            continue
        if path not in inputs:
            warnings.append(f"{path} is not in the scenario: its follow-up data ({k} of {n}) are not used")
            continue
        dist = inputs[path]
        if dist.is_fixed:
            p = dist.mean()
            if (p == 0 and k > 0) or (p == 1 and k < n):
                raise ScenarioError(f"observed {path}", f"{k} of {n}",
                                    f"data possible under the scenario, which fixes it at {p:g}")
            warnings.append(f"{path} is fixed at {p:g} in the scenario: not updated by {k} of {n}")
            continue
        shape = beta_shape(dist)
        if shape is not None and dist.evidence_level is not None and scenario.evidence_correction:
            shape = None  # the prior is the evidence-corrected input, not the Beta as written: re-weight its draws
        if method == "auto" and shape is not None and path not in correlated:
            a2, b2 = conjugate_posterior(*shape, k, n)
            steps[path] = {"how": "conjugate", "events": k, "trials": n, "prior_beta": list(shape),
                           "posterior_beta": [a2, b2]}
        else:
            steps[path] = {"how": "importance", "events": k, "trials": n}
    costs = [(y.year, y.cost_dkk) for y in observed.years if y.cost_dkk is not None]
    if costs:
        if inputs[OVERRUN].is_fixed:
            warnings.append(f"{OVERRUN} is fixed in the scenario: the actual costs do not update it")
        else:
            budget = [_budgeted_cost(scenario, inputs, t) for t, _ in costs]
            steps[OVERRUN] = {"how": "importance", "observed_overrun": [c / b for (_, c), b in zip(costs, budget)],
                              "cost_log_sd": observed.cost_log_sd}
    return {"steps": steps, "warnings": warnings}


def _budgeted_cost(scenario, inputs, year: int) -> float:
    cost = scenario.programme.cost_per_year_dkk
    if isinstance(cost, list):
        path = f"programme.cost_per_year_dkk[{min(year - 1, len(cost) - 1)}]"
    else:
        path = "programme.cost_per_year_dkk"
    return float(inputs[path].mean())


def log_weights(draws: dict, steps: dict, *, success_events: int | None = None) -> np.ndarray:
    """Log importance weights of prior draws for the ``importance`` steps (``(n_trials,)``).

    ``success_events`` replaces the observed successes (for the threshold search).
    """
    n = len(next(iter(draws.values())))
    logw = np.zeros(n)
    for path, step in steps.items():
        if step["how"] != "importance":
            continue
        if path == OVERRUN:
            lo = np.log(np.maximum(draws[path], 1e-300))
            for o in step["observed_overrun"]:
                logw += -0.5 * ((math.log(o) - lo) / step["cost_log_sd"]) ** 2
            continue
        k = step["events"] if path != SUCCESS or success_events is None else success_events
        logw += _binomial_loglik(draws[path], k, step["trials"])
    return logw


def normalised(logw: np.ndarray) -> tuple[np.ndarray, float]:
    """Weights summing to 1 and the effective sample size."""
    top = logw.max()
    if not np.isfinite(top):
        return np.full(len(logw), np.nan), 0.0
    w = np.exp(logw - top)
    w /= w.sum()
    return w, float(1.0 / np.sum(w * w))


class _Given:
    """Posterior draws handed to the engine by trial index (picklable for worker processes)."""

    def __init__(self, draws: dict):
        self.draws = draws

    def __call__(self, first: int, n: int) -> dict:
        return {k: v[first:first + n] for k, v in self.draws.items()}


def _collect(scenario, *, trials, seed, year, payer, given=None):
    """Run and keep the uncertain inputs and the payer's cumulative net at ``year`` per trial."""
    from simulate import api
    from simulate.metrics import cumulative_nets
    from simulate.scenario import TOTAL

    chunks = {}

    def table(traj, first):
        _, _, cum = cumulative_nets(traj, "realised")
        p = [*traj.payers, TOTAL].index(payer)
        return cum[p, 0, year - 1].copy(), {k: v for k, v in traj.inputs.items() if isinstance(v, np.ndarray)}

    result = api.run(scenario, trials=trials, seed=seed, payer=payer, trial_table=table,
                     on_trials=lambda b, t: chunks.__setitem__(b, t), given_inputs=given)
    order = sorted(chunks)
    net = np.concatenate([chunks[b][0] for b in order])
    draws = {k: np.concatenate([chunks[b][1][k] for b in order]) for k in chunks[order[0]][1]}
    return result, net, draws


def _net_block(net: np.ndarray, weights: np.ndarray | None = None) -> dict:
    from simulate.metrics import BREAK_EVEN_TOLERANCE_DKK

    if weights is None:
        weights = np.full(len(net), 1.0 / len(net))
    order = np.argsort(net)
    cdf = np.cumsum(weights[order])
    q = {k: float(net[order][min(np.searchsorted(cdf, p), len(net) - 1)])
         for k, p in (("p5", 0.05), ("p50", 0.5), ("p95", 0.95))}
    return {"mean": round(float(np.sum(weights * net)), 2), **{k: round(v, 2) for k, v in q.items()},
            "p_break_even": round(float(np.sum(weights * (net >= -BREAK_EVEN_TOLERANCE_DKK))), 6)}


def update(scenario, observed: Observed, *, trials: int = 100_000, seed: int | None = None, year: int | None = None,
           payer: str = "municipality", threshold: float = 0.5, method: str = "auto") -> dict:
    """Prior against posterior for the payer's net at ``year`` (see module doc). Returns ``update.json``."""
    from simulate import api
    from simulate.metrics import BREAK_EVEN_TOLERANCE_DKK

    seed = api.DEFAULT_SEED if seed is None else seed
    year = api.check_year_and_kept_trials(scenario, year=year, trials=trials)
    if not (isinstance(threshold, (int, float)) and 0 < threshold < 1):
        raise ScenarioError("--threshold", threshold, "a probability between 0 and 1, e.g. 0.5")
    if method not in ("auto", "importance"):
        raise ScenarioError("--method", method, "auto or importance")
    api.check_options(scenario, trials=trials, seed=seed, mode="mc", accounting="realised", payer=payer)
    check_against(observed, scenario)
    p = plan(scenario, observed, method=method)
    steps = p["steps"]

    prior_result, prior_net, draws = _collect(scenario, trials=trials, seed=seed, year=year, payer=payer)
    logw = log_weights(draws, steps)
    w, ess = normalised(logw)
    uses_weights = any(s["how"] == "importance" for s in steps.values())
    if uses_weights and ess < MIN_ESS:
        raise ScenarioError(
            "observed", f"effective sample size {ess:.0f} of {trials:,} prior draws",
            f"at least {MIN_ESS}: the follow-up data are far from what the scenario's prior allows, so re-weighting "
            "its draws cannot describe the posterior; widen the prior of the updated inputs (or give them a Beta "
            "prior for an exact update) and run again")
    rng = np.random.default_rng([17, seed])
    post = {k: v.copy() for k, v in draws.items()}
    if uses_weights:
        idx = rng.choice(trials, size=trials, p=w)
        post = {k: v[idx] for k, v in post.items()}
    for path, step in steps.items():
        if step["how"] == "conjugate":
            post[path] = rng.beta(*step["posterior_beta"], size=trials)
    post_result, post_net, _ = _collect(scenario, trials=trials, seed=seed, year=year, payer=payer,
                                        given=_Given(post))

    inputs = {}
    for path in steps:
        prior_x, post_x = draws[path], post[path]
        inputs[path] = {**steps[path], "prior_mean": round(float(prior_x.mean()), 6),
                        "prior_sd": round(float(prior_x.std()), 6), "posterior_mean": round(float(post_x.mean()), 6),
                        "posterior_sd": round(float(post_x.std()), 6)}

    # threshold success rate: re-weight the prior run's trials for each possible number of successes
    curve, rate = [], None
    if SUCCESS in draws and SUCCESS in observed.totals():
        s_obs, k_obs = observed.totals()[SUCCESS]
        # every observation as a likelihood weight on the prior run's trials (conjugate ones too)
        succ_step = {k: {**v, "how": "importance"} for k, v in steps.items()}
        succ_step[SUCCESS] = {"how": "importance", "events": s_obs, "trials": k_obs}
        be = prior_net >= -BREAK_EVEN_TOLERANCE_DKK
        found = None
        stride = max(1, k_obs // 400)  # at most about 400 points for large caseloads
        for s in sorted(set(range(0, k_obs + 1, stride)) | {k_obs}):
            ws, ess_s = normalised(log_weights(draws, succ_step, success_events=s))
            prob = float(np.sum(ws * be)) if ess_s > 0 else None
            curve.append({"successes": s, "completers": k_obs, "rate": round(s / k_obs, 6) if k_obs else None,
                          "p_break_even": None if prob is None else round(prob, 6), "ess": round(ess_s, 1),
                          "reliable": ess_s >= MIN_ESS})
            if found is None and prob is not None and prob >= threshold:
                found = s
        rate = {"threshold_probability": threshold,
                "successes": found, "completers": k_obs,
                "rate": None if found is None or not k_obs else round(found / k_obs, 6),
                "meaning": "below this observed success rate among completers, P(break-even by year T) is under "
                           "the threshold (other follow-up data as observed)" if found is not None else
                           "not reached even if every completer succeeded"}
    prior_block = _net_block(prior_net)
    post_block = _net_block(post_net)
    post_p = post_block["p_break_even"]
    return {
        "scenario": scenario.name, "trials": trials, "seed": seed, "payer": payer, "year": year,
        "observed": observed.model_dump(mode="json", exclude_none=True),
        "method": {"requested": method, "effective_sample_size": round(ess, 1) if uses_weights else None,
                   "min_effective_sample_size": MIN_ESS},
        "inputs": inputs,
        "prior": prior_block,
        "posterior": post_block,
        "prior_summary_p_break_even": prior_result.summary["by_payer"][payer]["years"][year - 1]["p_break_even"],
        "posterior_summary_p_break_even": post_result.summary["by_payer"][payer]["years"][year - 1]["p_break_even"],
        "decision": {"threshold_probability": threshold,
                     "go": post_p >= threshold,
                     "text": f"P(break-even by year {year}) = {post_p:.1%} after the follow-up "
                             f"({prior_block['p_break_even']:.1%} before): "
                             + ("at or above" if post_p >= threshold else "below") + f" the threshold {threshold:.0%}"},
        "threshold_success_rate": rate,
        "success_rate_curve": curve,
        "warnings": p["warnings"],
        "summaries": {"prior": prior_result.summary, "posterior": post_result.summary},
    }
