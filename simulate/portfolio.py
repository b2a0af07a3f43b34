"""A portfolio: several programmes in one run, with optional shared shocks.

A portfolio file names scenario files (paths relative to the portfolio file) and, optionally, shared
shocks: a common standard-normal factor ``Z`` per shock, linked to named uncertain inputs of named
programmes by a rank correlation. Each programme is simulated with its own random streams (stream key
``i + 1`` for programme ``i``, so a programme's numbers are those of ``simulate run`` with that stream);
an input linked to shocks is drawn through a Gaussian copula::

    u = Phi(sum_k rho_k Z_k + sqrt(1 - sum_k rho_k^2) e),   x = F^-1(u)

with ``rho = 2 sin(pi r / 6)`` for the rank correlation ``r`` and ``e`` from the input's own stream, so
its marginal is exact and its rank correlation with ``Z_k`` is ``r``. Without shocks the programmes are
independent: the portfolio's mean and variance are the sums of the programmes'.

Reported for the payer: the portfolio's cumulative net by year (mean, sd, quantiles, P(net >= 0)), each
programme's mean, sd and P(net >= 0) at the horizon, and each programme's share of the portfolio's
variance at the horizon, ``cov(X_i, S) / var(S)`` (the shares add up to 1; a negative share hedges).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import Field, model_validator

from simulate._model import StrictModel
from simulate.errors import ScenarioError

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


class Link(StrictModel):
    programme: str
    input: str
    rank_correlation: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]


class Shock(StrictModel):
    name: str = Field(min_length=1, max_length=100)
    links: list[Link] = Field(min_length=1)
    source: str | None = None


class Programme(StrictModel):
    scenario: str = Field(min_length=1)
    name: str | None = Field(None, min_length=1, max_length=100)


class Portfolio(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    programmes: list[Programme] = Field(min_length=1, max_length=50)
    shared_shocks: list[Shock] = Field(default_factory=list)
    payer: str = "municipality"

    @model_validator(mode="after")
    def _links(self):
        for k, shock in enumerate(self.shared_shocks):
            seen = set()
            for j, link in enumerate(shock.links):
                key = (link.programme, link.input)
                if key in seen:
                    raise ValueError(f"shared_shocks[{k}].links[{j}] repeats {link.programme} {link.input}")
                seen.add(key)
        return self


def read_portfolio(path: str | Path):
    """Read a portfolio file and its scenarios: ``(portfolio, names, scenarios)``; problems name the file."""
    from simulate.io import read_scenario, read_yaml_model

    pf = read_yaml_model(path, Portfolio, "a mapping with name: and programmes:", what="PORTFOLIO_FILE")
    base = Path(path).resolve().parent
    names, scenarios = [], []
    for i, prog in enumerate(pf.programmes):
        file = Path(prog.scenario) if Path(prog.scenario).is_absolute() else base / prog.scenario
        if not file.is_file():
            raise ScenarioError(f"programmes[{i}].scenario", prog.scenario,
                                "an existing scenario file (relative to the portfolio file)", file=str(path))
        sc = read_scenario(file)
        name = prog.name or sc.name
        if name in names:
            raise ScenarioError(f"programmes[{i}].name", name, "a name not used by another programme (give name:)",
                                file=str(path))
        names.append(name)
        scenarios.append(sc)
    check_portfolio(pf, names, scenarios, file=str(path))
    return pf, names, scenarios


def check_portfolio(pf: Portfolio, names: list[str], scenarios: list, *, file: str | None = None) -> None:
    """Refuse links to unknown programmes or inputs, unequal horizons and a payer no programme has."""
    from simulate.scenario import numeric_inputs, uncertain_inputs

    horizons = {sc.horizon_years for sc in scenarios}
    if len(horizons) > 1:
        i = next(i for i, sc in enumerate(scenarios) if sc.horizon_years != scenarios[0].horizon_years)
        raise ScenarioError(f"programmes[{i}].scenario", f"horizon_years {scenarios[i].horizon_years}",
                            f"the same horizon as the first programme ({scenarios[0].horizon_years} years)", file=file)
    if not any(pf.payer in sc.payers() for sc in scenarios):
        raise ScenarioError("payer", pf.payer, "a payer of at least one programme", file=file)
    load: dict[tuple[int, str], float] = {}
    for k, shock in enumerate(pf.shared_shocks):
        for j, link in enumerate(shock.links):
            where = f"shared_shocks[{k}].links[{j}]"
            if link.programme not in names:
                raise ScenarioError(f"{where}.programme", link.programme, "one of the programmes: " + ", ".join(names),
                                    file=file)
            i = names.index(link.programme)
            sc = scenarios[i]
            if link.input not in uncertain_inputs(sc):
                fixed = " (it is fixed there)" if link.input in numeric_inputs(sc) else ""
                raise ScenarioError(f"{where}.input", link.input,
                                    f"an uncertain input of {link.programme}{fixed}", file=file)
            correlated = {n for c in sc.correlations for n in c.between}
            if link.input in correlated:
                raise ScenarioError(f"{where}.input", link.input,
                                    "an input without correlations inside its own scenario", file=file)
            rho = 2.0 * math.sin(math.pi * link.rank_correlation / 6.0)
            load[(i, link.input)] = load.get((i, link.input), 0.0) + rho * rho
    for (i, path), total in load.items():
        if total > 1 + 1e-12:
            raise ScenarioError("shared_shocks", f"{names[i]} {path}",
                                "shocks whose squared (normal) correlations with one input add up to at most 1",
                                file=file)


def _shock_inputs(pf: Portfolio, names: list[str], scenarios: list, seed: int, block: int, n: int) -> list[dict]:
    """Per programme, the linked inputs' values for one block of trials (field path -> ``(n,)`` array)."""
    from scipy.special import ndtr

    from simulate.api import block_rng
    from simulate.evidence import correct
    from simulate.sampling import child_rng
    from simulate.scenario import numeric_inputs

    if not pf.shared_shocks:
        return [{} for _ in scenarios]
    rng = block_rng(seed, block, 0)  # stream 0: the portfolio's own (programmes use 1, 2, ...)
    z = [child_rng(rng, f"shock:{s.name}").standard_normal(n) for s in pf.shared_shocks]
    loads: dict[tuple[int, str], list] = {}
    for k, shock in enumerate(pf.shared_shocks):
        for link in shock.links:
            rho = 2.0 * math.sin(math.pi * link.rank_correlation / 6.0)
            loads.setdefault((names.index(link.programme), link.input), []).append((k, rho))
    out: list[dict] = [{} for _ in scenarios]
    for (i, path), terms in loads.items():
        own = child_rng(block_rng(seed, block, i + 1), f"shock-input:{path}").standard_normal(n)
        common = sum(rho * z[k] for k, rho in terms)
        rest = math.sqrt(max(0.0, 1.0 - sum(rho * rho for _, rho in terms)))
        u = np.clip(ndtr(common + rest * own), 1e-15, 1 - 1e-15)
        dist = numeric_inputs(scenarios[i])[path]
        x = dist.ppf(u)
        if scenarios[i].evidence_correction:
            x = correct(x, dist, path)
        out[i][path] = x
    return out


def run_portfolio(pf: Portfolio, names: list[str], scenarios: list, *, trials: int = 20_000, seed: int | None = None,
                  include_capacity: bool = False) -> dict:
    """Simulate every programme on the same trials and summarise the portfolio for ``pf.payer``."""
    from simulate.api import DEFAULT_SEED, MAX_TRIALS, blocks_of, block_rng, capacity_inputs
    from simulate.engine import simulate
    from simulate.metrics import cumulative_nets

    seed = DEFAULT_SEED if seed is None else seed
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= MAX_TRIALS:
        raise ScenarioError("--trials", trials, f"a whole number from 1 to {MAX_TRIALS:,}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ScenarioError("--seed", seed, "a whole number from 0 to 2**63 - 1")
    H = scenarios[0].horizon_years
    nets = np.zeros((len(scenarios), 2, H, trials))  # per programme, (undiscounted, discounted), year, trial
    zero = [{} if include_capacity else {p: 0.0 for p in capacity_inputs(sc)} for sc in scenarios]
    first = 0
    for block, n in blocks_of(trials):
        shocks = _shock_inputs(pf, names, scenarios, seed, block, n)
        for i, sc in enumerate(scenarios):
            given = {**zero[i], **shocks[i]} or None
            traj = simulate(sc, n, block_rng(seed, block, i + 1), lifetime=False, given_inputs=given)
            payers = [*traj.payers, "total"]
            if pf.payer in payers:
                _, _, cum_net = cumulative_nets(traj, "realised")
                nets[i, :, :, first:first + n] = cum_net[payers.index(pf.payer)]
        first += n
    return summarise(pf, names, nets, trials=trials, seed=seed, include_capacity=include_capacity)


def _r(x, nd=2):
    x = float(x)
    return round(x, nd) if math.isfinite(x) else None


def summarise(pf: Portfolio, names: list[str], nets: np.ndarray, *, trials: int, seed: int,
              include_capacity: bool) -> dict:
    """``portfolio.json``: the portfolio's net distribution by year and each programme's share of its risk."""
    total = nets.sum(axis=0)  # (2, H, n)
    H = total.shape[1]

    def dist(x):
        q = np.quantile(x, QUANTILES)
        p = float((x >= 0).mean())
        sd = float(x.std(ddof=1)) if len(x) > 1 else 0.0
        return {"mean": _r(x.mean()), "sd": _r(sd), "mean_se": _r(sd / math.sqrt(len(x))),
                **{f"p{int(100 * a)}": _r(v) for a, v in zip(QUANTILES, q)},
                "p_break_even": _r(p, 6), "p_break_even_se": _r(math.sqrt(p * (1 - p) / len(x)), 6)}

    years = [{"year": t + 1, "cumulative_net": dist(total[0, t]), "discounted": dist(total[1, t])} for t in range(H)]
    s = total[0, -1]
    ddof = 1 if s.size > 1 else 0  # sample variances, as in simulate run's summary
    var_s = float(s.var(ddof=ddof))
    programmes = []
    for i, name in enumerate(names):
        x = nets[i, 0, -1]
        cov = float(((x - x.mean()) * (s - s.mean())).sum() / (s.size - ddof))
        programmes.append({
            "name": name, "scenario": pf.programmes[i].scenario,
            "horizon": dist(x),
            "mean_by_year": [_r(nets[i, 0, t].mean()) for t in range(H)],
            "share_of_variance": _r(cov / var_s, 6) if var_s > 0 else None,
        })
    sum_var = float(sum(nets[i, 0, -1].var(ddof=ddof) for i in range(len(names))))
    return {
        "portfolio": pf.name, "payer": pf.payer, "trials": trials, "seed": seed, "accounting": "realised",
        "horizon_years": H, "include_capacity": include_capacity,
        "shared_shocks": [s_.model_dump(exclude_none=True) for s_ in pf.shared_shocks],
        "years": years,
        "programmes": programmes,
        "variance": {"portfolio": _r(var_s), "sum_of_programmes": _r(sum_var),
                     "diversification_ratio": _r(math.sqrt(var_s) / sum(
                         float(nets[i, 0, -1].std(ddof=ddof)) for i in range(len(names))), 6) if var_s > 0 else None},
        "rule": "share_of_variance = cov(programme net, portfolio net) / var(portfolio net) at the horizon, "
                "undiscounted; the shares add up to 1",
    }


def render(doc: dict, lang: str = "en") -> str:
    """A short table of the portfolio."""
    from simulate.fmt import money, number, percent
    from simulate.labels import payer_name

    da = lang == "da"
    payer = payer_name(doc["payer"], lang)
    lines = [doc["portfolio"],
             (f"{number(doc['trials'], lang)} simuleringer, seed {doc['seed']}, betaler: {payer}" if da else
              f"{number(doc['trials'], lang)} trials, seed {doc['seed']}, payer: {payer}"), ""]
    head = ["År", "Middel", "P5", "P95", "P(≥ 0)"] if da else ["Year", "Mean", "P5", "P95", "P(≥ 0)"]
    rows = [[str(y["year"]), money(y["cumulative_net"]["mean"], lang), money(y["cumulative_net"]["p5"], lang),
             money(y["cumulative_net"]["p95"], lang), percent(y["cumulative_net"]["p_break_even"], lang, 0)]
            for y in doc["years"]]
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    lines.append("")
    lines.append("Program: middel, P(≥ 0), andel af variansen" if da else
                 "Programme: mean, P(≥ 0), share of the variance")
    for p in doc["programmes"]:
        share = "-" if p["share_of_variance"] is None else percent(p["share_of_variance"], lang, 0)
        lines.append(f"  {p['name']}: {money(p['horizon']['mean'], lang)}, "
                     f"{percent(p['horizon']['p_break_even'], lang, 0)}, {share}")
    return "\n".join(lines)
