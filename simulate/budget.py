"""The municipality's budget view of a run: funding need, single-year net cost, budget years.

A finance department asks three things the cumulative net does not answer:

- **funding need**: how much money must be put up front before the savings catch up, i.e. the
  lowest point of the cumulative cash path ``min(0, min_t sum_{s<=t} net_s)``, as a positive amount;
- **single-year risk**: the probability that the net cost of one year (cost minus savings) exceeds
  an amount ``X``, per year and in any year of the horizon;
- **budget years**: the net of each calendar year of the budget (the budget year and its three
  outlook years), when programme years do not start on 1 January.

All figures are cash: realised savings, undiscounted, whatever the run's accounting. Flows are
assumed even within a programme year, so the cumulative cash path is piecewise linear and its
lowest point lies at a year's end (the yearly figures give it exactly). A calendar year takes the
months of the two programme years that overlap it.

Reduction follows :mod:`simulate.metrics`: integer counts and dyadic histograms merge exactly in
any order; per-block moments are folded in block order, so results do not depend on workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simulate import kernels
from simulate.engine import Trajectories
from simulate.errors import ScenarioError
from simulate.metrics import Histogram, Moments

DEFAULT_THRESHOLDS_DKK = (0.0, 250_000.0, 500_000.0, 1_000_000.0, 2_500_000.0, 5_000_000.0, 10_000_000.0)
OUTLOOK_YEARS = 3
MAX_THRESHOLDS = 20


@dataclass(frozen=True)
class BudgetOptions:
    """What the budget view needs besides the trajectories.

    ``start_year``: calendar year of programme year 1 (None: programme years are the labels);
    ``start_month``: month (1-12) in which a programme year starts; ``budget_year``: the calendar
    year of the budget, followed by ``OUTLOOK_YEARS`` outlook years; ``thresholds_dkk``: amounts
    X for P(net cost of a year > X) [DKK].
    """

    start_year: int | None
    start_month: int
    budget_year: int
    thresholds_dkk: tuple[float, ...]


def check_budget_options(scenario, *, budget_year: int | None = None, start_month: int = 1,
                         thresholds_dkk=None) -> BudgetOptions:
    """Refuse bad budget options with a :class:`ScenarioError` naming the option."""
    if isinstance(start_month, bool) or not isinstance(start_month, (int, np.integer)) or not 1 <= start_month <= 12:
        raise ScenarioError("--start-month", start_month, "a month from 1 to 12")
    if start_month != 1 and scenario.start_year is None:
        raise ScenarioError("--start-month", start_month, "1 unless the scenario gives start_year")
    thresholds = DEFAULT_THRESHOLDS_DKK if thresholds_dkk is None or len(thresholds_dkk) == 0 else thresholds_dkk
    if len(thresholds) > MAX_THRESHOLDS:
        raise ScenarioError("--cost-threshold", len(thresholds), f"at most {MAX_THRESHOLDS} amounts")
    for x in thresholds:
        if isinstance(x, bool) or not isinstance(x, (int, float, np.number)) or not math.isfinite(x) or x < 0:
            raise ScenarioError("--cost-threshold", x, "an amount in DKK >= 0")
    thresholds = tuple(sorted({float(x) for x in thresholds}))
    first = scenario.start_year if scenario.start_year is not None else 1
    n_cal = n_calendar_years(scenario.horizon_years, start_month)
    if budget_year is None:
        budget_year = first
    if isinstance(budget_year, bool) or not isinstance(budget_year, (int, np.integer)) or \
            not first <= budget_year <= first + n_cal - 1:
        what = "calendar year" if scenario.start_year is not None else "programme year (the scenario has no start_year)"
        raise ScenarioError("--budget-year", budget_year,
                            f"a {what} from {first} to {first + n_cal - 1}, inside the programme's years")
    return BudgetOptions(scenario.start_year, int(start_month), int(budget_year), thresholds)


def n_calendar_years(horizon_years: int, start_month: int) -> int:
    """Calendar years touched by ``horizon_years`` programme years starting in ``start_month``."""
    return horizon_years + (1 if start_month != 1 else 0)


def yearly_net(traj: Trajectories) -> np.ndarray:
    """Realised, undiscounted net per payer and programme year, ``total`` last.

    Returns ``(n_payers + 1, n_years, n_trials)`` [DKK per year]: savings minus programme cost.
    """
    net = traj.savings_dkk - traj.cost_dkk
    return np.concatenate([net, net.sum(axis=0, keepdims=True)], axis=0)


def calendar_net(net_dkk: np.ndarray, start_month: int) -> np.ndarray:
    """Net per calendar year from net per programme year, flows even within a programme year.

    ``net_dkk``: ``(..., n_years, n_trials)``; returns ``(..., n_calendar_years, n_trials)`` [DKK per year].
    Calendar year k holds months ``start_month..12`` of programme year k and months ``1..start_month-1``
    of programme year k-1.
    """
    if start_month == 1:
        return net_dkk.copy()
    first = (13 - start_month) / 12.0
    shape = list(net_dkk.shape)
    shape[-2] += 1
    out = np.zeros(shape)
    out[..., :-1, :] += first * net_dkk
    out[..., 1:, :] += (1.0 - first) * net_dkk
    return out


def funding_need(net_dkk: np.ndarray) -> np.ndarray:
    """Up-front money needed: minus the lowest point of the cumulative net, and at least 0.

    ``net_dkk``: ``(..., n_years, n_trials)`` yearly net [DKK]; returns ``(..., n_trials)`` [DKK].
    """
    lowest = np.minimum.reduce(np.cumsum(net_dkk, axis=-2), axis=-2)
    return np.maximum(-lowest, 0.0)


def _window(opts: BudgetOptions, n_cal: int) -> list[int]:
    """0-based calendar-year indices of the budget year and its outlook years inside the programme."""
    first = opts.start_year if opts.start_year is not None else 1
    k0 = opts.budget_year - first
    return [k for k in range(k0, k0 + OUTLOOK_YEARS + 1) if 0 <= k < n_cal]


@dataclass
class BudgetPartial:
    """One or more blocks reduced for the budget view.

    ``series`` per payer: funding need, the net of each programme year, the net of each budget-window
    year. Aggregates are kept for the distinct series (when programme years are calendar years, a window
    year is a programme year); ``index`` maps each series to its distinct one. Counts are exact in any
    merge order; moments are kept per block and folded in block order.
    """

    n: int
    hist: Histogram | None  # ((n_payers + 1) * n_distinct, bins); None: already added to another's (reduce_block)
    over: np.ndarray  # (n_payers + 1, n_distinct - 1, n_thresholds): trials with net cost > X (the blocks added to
    # another's histogram keep theirs there: over_counts adds them)
    over_any: np.ndarray  # (n_payers + 1, n_thresholds): trials with net cost > X in any programme year
    needs_money: np.ndarray  # (n_payers + 1,): trials with a funding need > 0
    moments: dict = field(default_factory=dict)  # block -> Moments of (n_payers + 1, n_distinct)
    index: np.ndarray | None = None  # (n_series,): the distinct series of each series

    def merge(self, other: "BudgetPartial", *, inplace: bool = False) -> "BudgetPartial":
        if inplace:
            if other.hist is not None:
                self.hist.merge(other.hist, inplace=True)
            self.n += other.n
            self.over += other.over
            self.over_any += other.over_any
            self.needs_money += other.needs_money
            self.moments.update(other.moments)
            return self
        return BudgetPartial(self.n + other.n, self.hist.merge(other.hist), self.over + other.over,
                             self.over_any + other.over_any, self.needs_money + other.needs_money,
                             {**self.moments, **other.moments}, self.index)

    def over_counts(self) -> np.ndarray:
        """``over`` with the counts its histogram keeps for the blocks added to it (``Histogram.below_counts``)."""
        kept = None if self.hist is None else self.hist.below_counts
        if kept is None:
            return self.over
        return self.over + kept.reshape(self.over.shape[0], self.over.shape[1] + 1, -1)[:, 1:]

    def folded(self) -> Moments:
        blocks = sorted(self.moments)
        total = self.moments[blocks[0]]
        for b in blocks[1:]:
            total = total.merge(self.moments[b])
        return total


def new_core(traj: Trajectories) -> tuple[np.ndarray, np.ndarray]:
    """Empty arrays for :func:`reduce_block`'s ``core`` and ``worst``, to be filled by
    ``metrics.first_pass(..., core=core, worst=worst)``: ``(n_payers + 1, 1 + n_years, n_trials)``, the funding
    need, then the net of each programme year; ``(n_payers + 1, n_trials)``, the lowest yearly net."""
    P, H, n = traj.cost_dkk.shape
    return np.empty((P + 1, 1 + H, n)), np.empty((P + 1, n))


def reduce_block(traj: Trajectories, opts: BudgetOptions, *, block: int = 0, into: BudgetPartial | None = None,
                 core: np.ndarray | None = None, worst: np.ndarray | None = None,
                 stats: tuple | None = None) -> BudgetPartial:
    """Reduce one block of trajectories to a :class:`BudgetPartial` (or add it to ``into``, in place).

    ``core`` and ``worst``: :func:`new_core` arrays filled by ``metrics.first_pass(..., core=core,
    worst=worst)`` from the realised nets, if the caller has them (saves a pass over the flows); ``stats``: the
    range and mean of each row of ``core``, from the same first pass.
    """
    P, H, n = traj.cost_dkk.shape
    Q = P + 1
    if core is None:
        core, worst = new_core(traj)
        kernels.nets(traj.savings_dkk, traj.cost_dkk, traj.discount_factor, core=core, worst=worst)
    need, yearly = core[:, 0], core[:, 1:]
    n_cal = n_calendar_years(H, opts.start_month)
    window = _window(opts, n_cal)
    if opts.start_month == 1:  # calendar years are programme years: the window's series are rows of `core`
        base = core
        index = np.concatenate([np.arange(1 + H), 1 + np.asarray(window, dtype=np.intp)])
    else:
        cal = calendar_net(yearly, opts.start_month)[:, window, :]
        base = np.concatenate([core, cal], axis=1)
        index = np.arange(base.shape[1])
        stats = None  # the calendar years' rows are not in it
    below = -np.asarray(opts.thresholds_dkk, dtype=float)  # net cost > X, i.e. net < -X
    flat = base.reshape(-1, n)
    # the counts below the thresholds come from the binning
    hist, over, moments = Histogram.with_moments(flat, None if into is None else into.hist, below=below,
                                                 stats=stats)
    if into is not None:
        hist = None  # added to into's histogram
    if over is None:  # counted in into's histogram (see BudgetPartial.over_counts)
        over = np.zeros((len(flat), below.size), dtype=np.int64)
    over = over.reshape(Q, base.shape[1], -1)[:, 1:]
    over_any = kernels.count_below(worst, below)
    needs = np.count_nonzero(need > 0.5, axis=-1).astype(np.int64)
    moments = moments.reshape(base.shape[:-1])
    part = BudgetPartial(n, hist, over, over_any, needs, {block: moments}, index)
    return part if into is None else into.merge(part, inplace=True)


def _r(x, nd: int = 2):
    x = float(x)
    return None if not math.isfinite(x) else round(x, nd)


def summarise(part: BudgetPartial, opts: BudgetOptions, payers, *, horizon_years: int) -> dict:
    """The ``budget`` block of summary.json.

    ``payers`` are the payer names with ``total`` last, in the order of the trajectories.
    """
    n = part.n
    index = part.index
    n_distinct = part.over.shape[1] + 1
    rows = (np.arange(len(payers))[:, None] * n_distinct + index[None, :]).ravel()
    mom = part.folded().take(index)
    hist = part.hist.take(rows)
    over = part.over_counts()[:, index[1:] - 1]
    qs = hist.quantiles((0.05, 0.5, 0.95))
    bound = hist.width
    n_series = mom.mean.shape[1]
    n_cal = n_calendar_years(horizon_years, opts.start_month)
    window = _window(opts, n_cal)
    first = opts.start_year if opts.start_year is not None else 1
    X = opts.thresholds_dkk

    def prob(count):
        p = count / n
        return {"value": _r(p, 6), "se": _r(math.sqrt(p * (1 - p) / n), 6)}

    def dist(q: int, s: int) -> dict:
        row = q * n_series + s
        sd = mom.sd[q, s]
        return {"mean": _r(mom.mean[q, s]), "sd": _r(sd), "mean_se": _r(sd / math.sqrt(n)),
                "p5": _r(qs[row, 0]), "p50": _r(qs[row, 1]), "p95": _r(qs[row, 2]),
                "quantile_error_bound": _r(bound[row], 4)}

    by_payer = {}
    for q, name in enumerate(payers):
        years = []
        for t in range(horizon_years):
            years.append({
                "year": t + 1,
                "calendar_year": None if opts.start_year is None or opts.start_month != 1 else opts.start_year + t,
                "net": dist(q, 1 + t),
                "p_net_cost_over": [{"threshold_dkk": x, "probability": prob(over[q, t, j])}
                                    for j, x in enumerate(X)],
            })
        budget_years = []
        for i, k in enumerate(window):
            s = 1 + horizon_years + i
            budget_years.append({
                "year": first + k,
                "role": "budget year" if i == 0 else f"outlook year {i}",
                "net": dist(q, s),
                "p_net_cost_over": [{"threshold_dkk": x, "probability": prob(over[q, s - 1, j])}
                                    for j, x in enumerate(X)],
            })
        by_payer[name] = {
            "funding_need": {**dist(q, 0), "p_positive": prob(part.needs_money[q])},
            "p_net_cost_over_any_year": [{"threshold_dkk": x, "probability": prob(part.over_any[q, j])}
                                         for j, x in enumerate(X)],
            "programme_years": years,
            "budget_years": budget_years,
        }
    return {
        "basis": "cash: realised savings minus programme cost, undiscounted, flows even within a year",
        "budget_year": opts.budget_year,
        "calendar": opts.start_year is not None,
        "start_month": opts.start_month,
        "thresholds_dkk": list(X),
        "by_payer": by_payer,
    }
