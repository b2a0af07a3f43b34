"""Entry points: run a scenario and get a result object. Owns seeding, blocks and workers.

Random streams belong to fixed-size blocks of trials (``BLOCK_TRIALS``), keyed
by ``[stream, block, seed]``; a chunk handed to a worker is a run of whole
blocks, and the aggregates are folded in block order. So a seed gives the same
numbers, bit for bit, whatever the chunk size or the number of workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from simulate import kernels
from simulate.engine import MODES, BlockBuffers, LifetimeNeed, Trajectories, simulate
from simulate.errors import ScenarioError
from simulate.metrics import (
    ACCOUNTINGS,
    Partial,
    break_even_successes,
    build_summary,
    cumulative_nets,
    first_pass,
    reduce_block,
    roi,
    yearly_rows,
)
from simulate.scenario import MUNICIPALITY, TOTAL, Scenario, check_payer, numeric_inputs

BLOCK_TRIALS = 2**14
DEFAULT_TRIALS = 100_000
DEFAULT_SEED = 20_251_125
MAX_TRIALS = 10**10
SCHEMA_VERSION = 1


PRECISION_CHECK_BLOCKS = 4


def precision_reached(part: Partial, *, payer_index: int) -> dict:
    """Standard error of P(net >= 0) and relative standard error of the mean net, at the horizon."""
    n = part.n
    p = part.nonneg[payer_index, 0, -1] / n
    floats = part.floats()
    mean = float(floats.net.mean[payer_index, 0, -1])
    sd = float(floats.net.sd[payer_index, 0, -1])
    se = sd / math.sqrt(n)
    scale = max(abs(mean), sd / 10.0)
    return {"p_break_even_se": math.sqrt(p * (1 - p) / n), "mean_rse": se / scale if scale > 0 else 0.0,
            "trials_used": n}


_MALLOC_TUNED = False


def tune_malloc() -> None:
    """Keep freed block-sized arrays in the process instead of returning them to the system (glibc).

    A block allocates and frees arrays of 0.1-10 MB; by default glibc maps the larger ones afresh each
    time and trims the heap after frees, so every block pays page faults again (measured: about 500,000
    faults and a tenth of the run time at 3 million trials). A fixed mmap threshold of 32 MiB and a trim
    threshold of 256 MiB keep that memory for reuse; the peak resident memory does not change. Once per
    process; a no-op where ``mallopt`` is not available.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 * 2**20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def block_rng(seed: int, block: int, stream: int = 0) -> np.random.Generator:
    """The generator of one block of trials: keyed by stream (scenario), block and root seed."""
    return np.random.Generator(np.random.PCG64(kernels.seed_sequence([stream, block, seed])))


def blocks_of(trials: int, block_trials: int = BLOCK_TRIALS) -> list[tuple[int, int]]:
    """``(block index, trials in block)`` for a run of ``trials``."""
    full, rest = divmod(trials, block_trials)
    out = [(b, block_trials) for b in range(full)]
    if rest:
        out.append((full, rest))
    return out


@dataclass
class RunResult:
    """The result of :func:`run`: the summary document and tidy tables of it."""

    scenario: Scenario
    summary: dict
    warnings: list[str] = field(default_factory=list)

    @property
    def yearly(self):
        """One row per year x payer x discounting (pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame(yearly_rows(self.summary))

    @property
    def claims(self):
        import pandas as pd

        return pd.DataFrame(self.summary["claims"])

    @property
    def payback(self):
        import pandas as pd

        rows = []
        for payer, block in self.summary["by_payer"].items():
            for disc, sub in (("undiscounted", block), ("discounted", block["discounted"])):
                for row in sub["payback_year"]["distribution"]:
                    rows.append({"payer": payer, "discounting": disc, "year": row["year"],
                                 "probability": row["probability"]})
        return pd.DataFrame(rows)

    def to_frame(self):
        return self.yearly


def check_options(scenario: Scenario, *, trials: int, seed: int, mode: str, accounting: str, payer: str,
                  workers: int = 1, chunk_blocks: int = 4) -> None:
    """Refuse bad run options with a :class:`ScenarioError` naming the option."""
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or not 1 <= trials <= MAX_TRIALS:
        raise ScenarioError("--trials", trials, f"a whole number from 1 to {MAX_TRIALS:,}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ScenarioError("--seed", seed, "a whole number from 0 to 2**63 - 1")
    if mode not in MODES:
        raise ScenarioError("--mode", mode, "one of " + ", ".join(MODES))
    if accounting not in ACCOUNTINGS:
        raise ScenarioError("--accounting", accounting, "one of " + ", ".join(ACCOUNTINGS))
    check_payer(scenario, payer)
    if not isinstance(workers, int) or not 1 <= workers <= 256:
        raise ScenarioError("--workers", workers, "a whole number from 1 to 256")
    if not isinstance(chunk_blocks, int) or chunk_blocks < 1:
        raise ScenarioError("chunk_blocks", chunk_blocks, "a whole number >= 1")


ENGINES = ("fast", "reference")


def _engine(name: str):
    if name == "reference":
        from simulate.reference import simulate_reference

        return simulate_reference
    return simulate


def check_year_and_kept_trials(scenario: Scenario, *, year: int | None, trials: int) -> int:
    """For analyses that keep every trial in memory: a programme year (default the horizon) and a bounded
    trial count. Returns the year."""
    H = scenario.horizon_years
    year = H if year is None else year
    if isinstance(year, bool) or not isinstance(year, int) or not 1 <= year <= H:
        raise ScenarioError("--year", year, f"a programme year from 1 to {H}")
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1_000 <= trials <= 2_000_000:
        raise ScenarioError("--trials", trials, "a whole number from 1,000 to 2,000,000 (all trials are kept)")
    return year


def _run_chunk(scenario: Scenario, seed: int, stream: int, chunk: list[tuple[int, int]], accounting: str,
               lifetime: bool, trial_table: Callable | None, budget_opts=None,
               given: Callable | None = None, engine: str = "fast",
               public: tuple | None = None, into: tuple | None = None) -> tuple[Partial, list, object, list]:
    """Simulate and reduce a run of blocks; ``into``: the (partial, budget partial) to add them to, in place."""
    from simulate import budget

    part, bpart = into if into is not None else (None, None)
    tables, ppart = [], []
    simulate_block = _engine(engine)
    # the fast engine's output arrays, reused block after block (each block's trajectories are done with before
    # the next is simulated; a trial table might keep views of them, so not then)
    buffers = BlockBuffers() if engine == "fast" and trial_table is None else None
    for block, n in chunk:
        given_inputs = None if given is None else given(block * BLOCK_TRIALS, n)
        extra = {} if given_inputs is None else {"given_inputs": given_inputs}
        if buffers is not None:
            extra["buffers"] = buffers
        traj = simulate_block(scenario, n, block_rng(seed, block, stream), lifetime=lifetime, **extra)
        # The budget's cash view (realised, undiscounted) shares the run's nets when the run is realised; it is
        # reduced first, so its yearly nets (`core`) are freed before the larger summary reduction.
        shared = budget_opts is not None and accounting == "realised"
        core, worst = budget.new_core(traj) if shared else (None, None)
        first = first_pass(traj, accounting, core=core, worst=worst)  # nets, series statistics, flow sums
        if budget_opts is not None:
            bpart = budget.reduce_block(traj, budget_opts, block=block, into=bpart, core=core, worst=worst,
                                        stats=first[2])
        del core, worst
        part = reduce_block(traj, accounting=accounting, claims=scenario.claims, block=block, first=first,
                            into=part)
        if public:
            ppart.append((block, public_block(traj, accounting, public)))
        if trial_table is not None:
            tables.append((block, trial_table(traj, block * BLOCK_TRIALS)))
        del traj, first  # not alive while the next block is simulated
    return part, tables, bpart, ppart


def public_block(traj: Trajectories, accounting: str, public: tuple) -> dict:
    """The public payers' summed cumulative net of one block: trials, count >= 0, sum and sum of squares.

    Arrays are ``(2, n_years)`` (undiscounted, discounted); folded over blocks in block order.
    """
    _, _, cum_net = cumulative_nets(traj, accounting)
    rows = [list(traj.payers).index(p) for p in public if p in traj.payers]
    net = cum_net[rows].sum(axis=0)  # (2, H, n)
    return {"n": net.shape[-1], "nonneg": (net >= 0).sum(axis=-1), "sum": net.sum(axis=-1),
            "sumsq": np.square(net).sum(axis=-1)}


def public_summary(blocks: list, public: list) -> dict:
    """The whole public sector's cumulative net by year, from the blocks folded in block order."""
    blocks = sorted(blocks, key=lambda b: b[0])
    n = sum(b["n"] for _, b in blocks)
    nonneg = sum(b["nonneg"] for _, b in blocks)
    total = sumsq = 0.0
    for _, b in blocks:
        total = total + b["sum"]
        sumsq = sumsq + b["sumsq"]
    mean = total / n
    var = np.maximum(sumsq / n - mean * mean, 0.0) * (n / (n - 1) if n > 1 else 0.0)
    out = {"payers": list(public), "years": []}
    H = mean.shape[1]
    for t in range(H):
        p = nonneg[0, t] / n
        out["years"].append({"year": t + 1, "cumulative_net_mean": round(float(mean[0, t]), 2),
                             "cumulative_net_sd": round(float(np.sqrt(var[0, t])), 2),
                             "p_break_even": round(float(p), 6),
                             "p_break_even_se": round(math.sqrt(p * (1 - p) / n), 6),
                             "discounted_cumulative_net_mean": round(float(mean[1, t]), 2),
                             "discounted_p_break_even": round(float(nonneg[1, t] / n), 6)})
    return out


def capacity_inputs(scenario: Scenario) -> list[str]:
    """Field paths of the amounts of cost items whose savings are ``capacity`` (no budget line falls)."""
    from simulate.scenario import SplitCost

    cf = scenario.counterfactual
    paths = []
    for state, items in cf.state_costs().items():
        for item, value in items.items():
            if isinstance(value, SplitCost) and value.saving_type == "capacity":
                paths.append(f"{cf.item_path(state, item)}.amount_dkk")
    for item, value in cf.success_residual_cost_per_year_dkk.items():
        if isinstance(value, SplitCost) and value.saving_type == "capacity":
            paths.append(f"counterfactual.success_residual_cost_per_year_dkk.{item}.amount_dkk")
    return paths


def refusion_items(scenario: Scenario) -> dict:
    """Cost items whose split comes from the rule set: path -> refusion kind, rule set and shares."""
    from simulate.scenario import SplitCost

    cf = scenario.counterfactual
    out = {}
    groups = [(cf.item_path(state, item), value) for state, items in cf.state_costs().items()
              for item, value in items.items()]
    groups += [(f"counterfactual.success_residual_cost_per_year_dkk.{item}", value)
               for item, value in cf.success_residual_cost_per_year_dkk.items()]
    for path, value in groups:
        if isinstance(value, SplitCost) and value.refusion is not None:
            row = {"refusion": value.refusion, "rule_set": value.rule_set,
                   "split": {k: round(v, 6) for k, v in value.split.items()}}
            if value.weeks_on_benefit_at_intake is not None:
                row["weeks_on_benefit_at_intake"] = value.weeks_on_benefit_at_intake
            if value.refusion == "shelter":
                row["days_in_shelter_per_year"] = (200.0 if value.days_in_shelter_per_year is None
                                                   else value.days_in_shelter_per_year)
            out[path] = row
    return out


def side_by_side(summary: dict) -> dict:
    """Municipality, state and the whole public sector at the horizon, from ``by_payer`` (undiscounted).

    The public sector is every public payer (municipality, region, state): its mean net is the sum of
    theirs. ``total`` also counts the other payers (housing association, foundations); the two are equal
    when those have neither cost nor savings.
    """
    public = [p for p in summary["by_payer"] if p in PUBLIC_PAYERS]
    out = {}
    for name in [*public, TOTAL]:
        block = summary["by_payer"].get(name)
        if block is None:
            continue
        last = block["years"][-1]
        out[name] = {"cumulative_net_mean": last["cumulative_net"]["mean"],
                     "p_break_even": last["p_break_even"]["value"],
                     "savings_mean_by_year": [y["savings_mean"] for y in block["years"]]}
    mean = sum(out[p]["cumulative_net_mean"] or 0.0 for p in public)
    others = [p for p in summary["by_payer"] if p not in PUBLIC_PAYERS and p != TOTAL]
    out["public_sector"] = {"payers": public, "cumulative_net_mean": round(mean, 2),
                            "equals_total": not any(any(y["savings_mean"] or y["cost_mean"]
                                                        for y in summary["by_payer"][p]["years"]) for p in others)}
    return out


PUBLIC_PAYERS = ("municipality", "region", "state")


def expected_figures(scenario: Scenario, payer: str, given: dict | None = None) -> dict:
    """The deterministic point estimate (inputs at means, counts at expectations).

    Returns cumulative nets per accounting ``(n_payers + 1, 2, n_years)``, the
    claims' expected values under each accounting, and the break-even number of
    successes per year by year for ``payer``.
    """
    traj = simulate(scenario, 1, None, mode="expected", lifetime=True, given_inputs=given)
    payers = [*traj.payers, TOTAL]
    p = payers.index(payer)
    nets, be, claims = {}, {}, [dict() for _ in scenario.claims]
    for acc in ACCOUNTINGS:
        cum_sav, cum_cost, cum_net = cumulative_nets(traj, acc)
        nets[acc] = cum_net[..., 0]
        be[acc] = {
            disc: [_finite(break_even_successes(cum_sav[p, d], cum_cost[p, d], traj.successes, t)[0])
                   for t in range(1, scenario.horizon_years + 1)]
            for d, disc in enumerate(("undiscounted", "discounted"))
        }
        for i, claim in enumerate(scenario.claims):
            q = payers.index(claim.payer)
            t = claim.year - 1
            if claim.metric == "cumulative_net":
                value = cum_net[q, 0, t, 0]
            elif claim.metric == "roi":
                value = roi(cum_sav[q, 0, t, 0], cum_cost[q, 0, t, 0])
            else:
                value = break_even_successes(cum_sav[q, 0], cum_cost[q, 0], traj.successes, claim.year)[0]
            claims[i][acc] = float(value)
    successes = traj.successes[:, 0]
    return {"nets": nets, "break_even": be, "claims": claims, "successes_per_year": successes.tolist(),
            "trajectories": traj}


def _finite(x) -> float | None:
    x = float(x)
    return round(x, 4) if math.isfinite(x) else None


def run(
    scenario: Scenario | str | Path,
    *,
    trials: int = DEFAULT_TRIALS,
    seed: int = DEFAULT_SEED,
    mode: str = "mc",
    accounting: str = "realised",
    payer: str = MUNICIPALITY,
    workers: int = 1,
    chunk_blocks: int | None = None,
    stream: int = 0,
    trial_table: Callable[[Trajectories, int], object] | None = None,
    on_trials: Callable[[int, object], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    precision: float | None = None,
    max_trials: int = 10**7,
    engine: str = "fast",
    budget_year: int | None = None,
    start_month: int = 1,
    cost_thresholds_dkk=None,
    given_inputs: Callable[[int, int], dict] | None = None,
    include_capacity: bool = False,
    evidence_correction: bool | None = None,
    _by_kind: bool = True,
) -> RunResult:
    """Run a scenario and summarise it.

    Parameters
    ----------
    scenario : Scenario or path
        A validated scenario, or a YAML file to read.
    trials : int
        Monte Carlo trials (ignored in ``expected`` mode).
    seed : int
        Root seed; with it, results are identical on every run, chunk size and worker count.
    mode : {"mc", "expected"}
    accounting : {"realised", "lifetime"}
        ``realised`` counts only savings inside the horizon; ``lifetime`` credits
        each cohort's full effect to its intake year.
    payer : str
        The payer whose figures head the summary (all payers are in ``by_payer``).
    workers : int
        Processes to run blocks on.
    chunk_blocks : int, optional
        Blocks of ``BLOCK_TRIALS`` trials per task; changes memory and scheduling, not results. Default 4
        with one worker or with ``trial_table``; with several workers, :func:`guided_sizes`: large tasks
        first (up to 32 blocks, since each finished task sends its histograms to the main process), then
        shrinking ones, so that the workers finish together.
    stream : int
        Random stream key (a sweep gives each scenario's key; equal keys give common random numbers).
    trial_table, on_trials : callable, optional
        ``trial_table(traj, first_trial)`` makes a per-trial table of each block, handed in block
        order to ``on_trials(block, table)`` (used to save trials).
    progress : callable, optional
        ``progress(done_trials, total_trials)`` after each chunk.
    precision : float, optional
        Adaptive stopping: run blocks until the standard error of P(net >= 0) at the horizon and the
        relative standard error of the mean net at the horizon are both at most ``precision`` (checked
        every 4 blocks, so the stopping point does not depend on ``workers``), or ``max_trials``.
    engine : {"fast", "reference"}
        The engine; ``reference`` is the straightforward law reference (tests and benchmarks).
    budget_year, start_month, cost_thresholds_dkk : optional
        The budget view (:mod:`simulate.budget`, summary key ``budget``): the calendar year of the budget
        (default: ``start_year``), the month programme years start in (default January) and the amounts X
        [DKK] for P(net cost of a year > X).
    given_inputs : callable, optional
        ``given_inputs(first_trial, n)`` -> field path -> ``(n,)`` values replacing those inputs' draws
        for trials ``first_trial .. first_trial + n - 1`` (e.g. posterior draws, :mod:`simulate.update`).
    include_capacity : bool
        Count ``capacity`` savings (staff time freed) in the headline figures; by default only ``cash``
        savings count. A scenario with capacity items also gets ``by_kind``: the payer's figures with cash
        savings only and with cash and capacity savings, from the same trials (same seed).
    evidence_correction : bool, optional
        ``False`` switches off the evidence-level correction of effect inputs (:mod:`simulate.evidence`);
        default: the scenario's ``evidence_correction`` (on unless it says false).
    """
    tune_malloc()
    if not isinstance(scenario, Scenario):
        from simulate.io import read_scenario

        scenario = read_scenario(scenario)
    if evidence_correction is not None and evidence_correction != scenario.evidence_correction:
        scenario = scenario.model_copy(update={"evidence_correction": bool(evidence_correction)})
    check_options(scenario, trials=trials, seed=seed, mode=mode, accounting=accounting, payer=payer,
                  workers=workers, chunk_blocks=4 if chunk_blocks is None else chunk_blocks)
    guided = chunk_blocks is None and workers > 1 and trial_table is None
    given_chunk_blocks, chunk_blocks = chunk_blocks, 4 if chunk_blocks is None else chunk_blocks
    if precision is not None and not (isinstance(precision, (int, float)) and 0 < precision < 1):
        raise ScenarioError("--precision", precision, "a number between 0 and 1, e.g. 0.005")
    if precision is not None:
        check_options(scenario, trials=max_trials, seed=seed, mode=mode, accounting=accounting, payer=payer)
    from simulate import budget

    budget_opts = budget.check_budget_options(scenario, budget_year=budget_year, start_month=start_month,
                                              thresholds_dkk=cost_thresholds_dkk)
    capacity = capacity_inputs(scenario)
    zero_capacity = {} if include_capacity else {path: 0.0 for path in capacity}
    if zero_capacity:  # the headline counts cash savings only: capacity amounts are held at 0 in every trial
        outer = given_inputs

        given_inputs = _HeldInputs(zero_capacity, outer)
    expected = expected_figures(scenario, payer, given=zero_capacity or None)
    if accounting == "lifetime":
        lifetime = True
    elif scenario.claims:  # only the claims' payers and years, undiscounted
        claim_payers = {c.payer for c in scenario.claims}
        lifetime = LifetimeNeed(frozenset(scenario.payers() if TOTAL in claim_payers else claim_payers),
                                frozenset(c.year - 1 for c in scenario.claims))
    else:
        lifetime = False
    public = None
    if scenario.rules is not None or refusion_items(scenario):  # the whole public sector, side by side
        public = tuple(p for p in scenario.payers() if p in PUBLIC_PAYERS) or None
    pblocks: list = []
    if mode == "expected":
        traj = expected["trajectories"]
        part = reduce_block(traj, accounting=accounting, claims=scenario.claims)
        bpart = budget.reduce_block(traj, budget_opts)
        if public:
            pblocks = [(0, public_block(traj, accounting, public))]
        n_trials = 1
    else:
        if precision is not None:  # stop at the first 4-block boundary where the precision is reached
            trials, chunk_blocks = max_trials, PRECISION_CHECK_BLOCKS
        blocks = blocks_of(trials)
        sizes = guided_sizes(len(blocks), workers) if guided and precision is None else None
        if sizes is None:
            sizes = [chunk_blocks] * -(-len(blocks) // chunk_blocks)
        starts = np.cumsum([0] + sizes[:-1])
        chunks = [blocks[a:a + k] for a, k in zip(starts, sizes)]
        part = bpart = None
        reached = None
        if engine not in ENGINES:
            raise ScenarioError("engine", engine, "one of " + ", ".join(ENGINES))
        for chunk_part, tables, chunk_budget, chunk_public in _map_chunks(
                scenario, seed, stream, chunks, accounting, lifetime, trial_table, workers, budget_opts, given_inputs,
                engine, public):
            pblocks += chunk_public
            if chunk_part is not part:  # (one worker adds every chunk to the same partial)
                part = chunk_part if part is None else part.merge(chunk_part, inplace=True)
            if chunk_budget is not bpart:
                bpart = chunk_budget if bpart is None else bpart.merge(chunk_budget, inplace=True)
            for block, table in tables:
                if on_trials is not None:
                    on_trials(block, table)
            if progress is not None:
                progress(part.n, trials)
            if precision is not None:
                reached = precision_reached(part, payer_index=list(part.payers).index(payer))
                if reached["p_break_even_se"] <= precision and reached["mean_rse"] <= precision:
                    break
        n_trials = part.n
    summary = build_summary(
        part, accounting=accounting, payer=payer,
        expected={acc: expected["nets"][acc] for acc in ACCOUNTINGS},
        claims=scenario.claims, claim_expected=expected["claims"],
        break_even={acc: expected["break_even"][acc] for acc in ACCOUNTINGS},
    )
    warnings = degenerate_warnings(scenario, {**summary, "trials": n_trials, "mode": mode}, payer)
    from simulate import __version__

    head = {
        "schema_version": SCHEMA_VERSION,
        "simulate_version": __version__,
        "scenario": scenario.name,
        "trials": n_trials,
        "seed": seed if mode == "mc" else None,
        "mode": mode,
        "accounting": accounting,
        "payer": payer,
        "payers": list(part.payers),
        "horizon_years": scenario.horizon_years,
        "start_year": scenario.start_year,
        "currency": "DKK",
        "discount_rate": scenario.discounting.rate,
        "block_trials": BLOCK_TRIALS,
        "expected_successes_per_year": [round(x, 6) for x in expected["successes_per_year"]],
    }
    if scenario.participants.refill_dropouts:  # places, not participants: entrants = places x (1 + d)
        d = expected["trajectories"].inputs["participants.dropout_probability"]
        head["refill_dropouts"] = True
        head["expected_entrants_per_year"] = [round(float(x) * (1.0 + d), 6) for x in scenario.intake()]
    if precision is not None and mode == "mc":
        head["precision"] = {
            "target": precision, **{k: round(v, 8) for k, v in reached.items()},
            "stopped": "precision reached" if reached["p_break_even_se"] <= precision
            and reached["mean_rse"] <= precision else "max trials reached",
            "rule": "se of P(net >= 0) at the horizon and se(mean) / max(|mean|, sd / 10) of the horizon net, "
                    "undiscounted, for the payer, both <= target; checked every 4 blocks",
        }
        if head["precision"]["stopped"] != "precision reached":
            warnings.append(f"the precision {precision} was not reached within {max_trials:,} trials")
    summary = {**head, **summary, "warnings": warnings}
    summary["budget"] = budget.summarise(bpart, budget_opts, list(part.payers), horizon_years=scenario.horizon_years)
    if any(d.evidence_level is not None for d in numeric_inputs(scenario).values()):
        from simulate.evidence import evidence_table

        summary["evidence"] = evidence_table(scenario, enabled=scenario.evidence_correction)
    if scenario.rules is not None or refusion_items(scenario):
        names = sorted({r["rule_set"] for r in refusion_items(scenario).values() if r["rule_set"]})
        if scenario.rule_periods:
            names = [p.rule_set for p in scenario.rule_periods]
        summary["refusion"] = {"rules": scenario.rules, "rule_sets": names, "items": refusion_items(scenario),
                               "side_by_side": side_by_side(summary)}
        if pblocks:
            ps = public_summary(pblocks, list(public))
            summary["refusion"]["public_sector"] = ps
            last = ps["years"][-1]
            summary["refusion"]["side_by_side"]["public_sector"].update(
                cumulative_net_mean=last["cumulative_net_mean"], p_break_even=last["p_break_even"])
        if scenario.rule_periods:  # several rule sets, by programme year: each one's share of each year's days
            summary["refusion"]["rule_periods"] = [
                {"rule_set": p.rule_set, "year_weights": [round(w, 6) for w in p.year_weights],
                 "splits": {k: {q: round(x, 6) for q, x in v.items()} for k, v in p.splits.items()}}
                for p in scenario.rule_periods]
    if capacity and _by_kind:
        other = run(scenario, trials=n_trials if mode == "mc" else trials, seed=seed, mode=mode,
                    accounting=accounting, payer=payer, workers=workers, chunk_blocks=given_chunk_blocks, stream=stream,
                    engine=engine, budget_year=budget_year, start_month=start_month,
                    cost_thresholds_dkk=cost_thresholds_dkk, given_inputs=outer if zero_capacity else given_inputs,
                    include_capacity=not include_capacity, _by_kind=False)
        summary["by_kind"] = by_kind(summary, other.summary, include_capacity=include_capacity,
                                     capacity_inputs=capacity)
    return RunResult(scenario=scenario, summary=summary, warnings=warnings)


@dataclass(frozen=True)
class _HeldInputs:
    """``given_inputs`` that hold some inputs at fixed values, then apply ``outer`` (a picklable callable,
    so runs with several workers can use it)."""

    held: dict
    outer: Callable | None = None

    def __call__(self, first: int, n: int) -> dict:
        return {**self.held, **({} if self.outer is None else self.outer(first, n))}


def by_kind(this: dict, other: dict, *, include_capacity: bool, capacity_inputs: list) -> dict:
    """The payer's figures with cash savings only and with cash and capacity savings, side by side."""
    cash, both = (other, this) if include_capacity else (this, other)

    def view(s):
        return {"p_break_even": [y["p_break_even"]["value"] for y in s["years"]],
                "cumulative_net_mean": [y["cumulative_net"]["mean"] for y in s["years"]],
                "savings_mean": [y["savings_mean"] for y in s["years"]]}

    return {"headline": "cash_and_capacity" if include_capacity else "cash", "payer": this["payer"],
            "capacity_inputs": capacity_inputs, "cash": view(cash), "cash_and_capacity": view(both)}


def guided_sizes(n_blocks: int, workers: int, *, largest: int = 32, smallest: int = 4) -> list[int]:
    """Task sizes in blocks for several workers: large first (each task ships its histograms to the main
    process, so fewer is cheaper), then shrinking, so that the workers finish at about the same time."""
    sizes, left = [], n_blocks
    while left > 0:
        k = min(left, max(smallest, min(largest, left // (2 * workers))))
        sizes.append(k)
        left -= k
    return sizes


def _map_chunks(scenario, seed, stream, chunks, accounting, lifetime, trial_table, workers, budget_opts=None,
                given=None, engine="fast", public=None):
    """Run chunks in order, on this process or on ``workers`` processes; results come in chunk order."""
    args = (accounting, lifetime, trial_table, budget_opts, given, engine, public)
    if workers == 1 or len(chunks) == 1:  # one accumulator for all chunks: no second copy of the histograms
        acc = None
        for chunk in chunks:
            result = _run_chunk(scenario, seed, stream, chunk, *args, into=acc)
            acc = (result[0], result[2])
            yield result
        return
    pool = worker_pool(workers)
    try:
        pending = {}
        submitted = 0
        for i in range(len(chunks)):
            while submitted < len(chunks) and submitted < i + 2 * workers:  # bounded look-ahead: bounded memory
                pending[submitted] = pool.submit(_run_chunk, scenario, seed, stream, chunks[submitted], *args)
                submitted += 1
            yield pending.pop(i).result()
    except BaseException:  # interrupted, failed or abandoned: stop the workers now, not after their chunks
        stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def worker_pool(workers: int):
    """A process pool for blocks or scenarios.

    Workers are forked (on Linux) so that they die with the main process even when it is killed with
    SIGKILL (see ``_worker_init``); they ignore Ctrl-C, which the main process handles.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init)


def stop_pool(pool) -> None:
    """Stop a pool without waiting: queued work is cancelled, running tasks (each a few seconds at most)
    finish in the background. Workers are not killed: killing one while it writes a result can leave the
    pool's manager thread waiting for ever, and the process with it."""
    pool.shutdown(wait=False, cancel_futures=True)


def _worker_init() -> None:
    """Workers leave Ctrl-C and SIGTERM to the main process, which stops them."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    tune_malloc()
    try:  # Linux: die with the main process, even when it is killed with SIGKILL
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def degenerate_warnings(scenario: Scenario, summary: dict, payer: str) -> list[str]:
    """Plain-language warnings for degenerate cases (the numbers stay finite; these say why they look odd)."""
    from simulate.sampling import pearson_from_rank
    from simulate.scenario import numeric_inputs, uncertain_inputs

    out = []
    inputs = numeric_inputs(scenario)
    H = scenario.horizon_years
    if not scenario.intake().any():
        out.append("intake is 0 in every year: nobody enters the programme, so there are no savings")
    q = inputs["participants.success_probability"]
    if q.is_fixed and q.mean() == 0:
        out.append("the success probability is 0: nobody succeeds, so there are no savings")
    elif q.is_fixed and q.mean() == 1 and inputs["participants.dropout_probability"].mean() == 0:
        out.append("the success probability is 1 and nobody drops out: every participant succeeds")
    if not uncertain_inputs(scenario) and summary.get("mode") == "mc":
        out.append("every input is fixed: the spread comes only from the random outcomes of individual participants")
    if summary.get("trials", 0) == 1 and summary.get("mode") == "mc":
        out.append("a single trial: there is no spread; standard deviations and standard errors are shown as 0")
    block = summary["by_payer"][payer]
    if block["roi_year1"]["value"] is None:
        out.append(f"{payer} has no programme cost in year 1: ROI is undefined (shown as null)")
    if all(y["cost_mean"] == 0 for y in block["years"]):
        out.append(f"{payer} pays nothing for the programme within the horizon")
    if all(y["savings_mean"] == 0 for y in block["years"]):
        out.append(f"{payer} has no savings within the horizon of {H} years")
    for corr in scenario.correlations:
        if abs(corr.rank_correlation) == 1:
            out.append(f"{corr.between[0]} and {corr.between[1]} have rank correlation {corr.rank_correlation:+g}: "
                       "they move in lockstep")
    if scenario.correlations:
        _, rank = scenario.rank_correlation_matrix()
        rho = 2.0 * np.sin(np.pi * rank / 6.0)
        np.fill_diagonal(rho, 1.0)
        smallest = float(np.linalg.eigvalsh(rho).min())
        if smallest < -1e-12:
            fixed = pearson_from_rank(rank)
            shift = float(np.abs(fixed - rho).max())
            out.append(f"the correlation matrix is nearly singular and not valid after the rank-to-normal transform; "
                       f"it was adjusted to the nearest valid one (largest change {shift:.3g})")
        elif smallest < 1e-3 and not any(abs(c.rank_correlation) == 1 for c in scenario.correlations):
            out.append(f"the correlation matrix is nearly singular (smallest eigenvalue {smallest:.2g}): "
                       "some inputs are almost determined by others")
    return out


def trials_frame(traj: Trajectories, first_trial: int, *, accounting: str, payer: str):
    """Per-trial table of one block: the uncertain inputs drawn and the payer's cumulative net by year."""
    import pandas as pd

    n = traj.n_trials
    cum_sav, cum_cost, cum_net = cumulative_nets(traj, accounting)
    p = [*traj.payers, TOTAL].index(payer)
    cols: dict[str, object] = {"trial": np.arange(first_trial, first_trial + n, dtype=np.int64)}
    for path, value in traj.inputs.items():
        if isinstance(value, np.ndarray):
            cols[f"input:{path}"] = value
    cols["successes_total"] = traj.successes.sum(axis=0)
    H = cum_net.shape[2]
    for t in range(H):
        cols[f"cumulative_net_y{t + 1:02d}"] = cum_net[p, 0, t]
    for t in range(H):
        cols[f"cumulative_net_discounted_y{t + 1:02d}"] = cum_net[p, 1, t]
    return pd.DataFrame(cols)
