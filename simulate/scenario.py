"""The scenario: a social programme described generically, validated at the boundary.

A scenario says who enters the programme each year, what it costs and who pays,
how participants fare (drop-out, success, how the effect ends), what a
participant would have cost without the programme (the counterfactual: states,
yearly costs per state, item and payer, and transitions between states), the
discounting, correlations between uncertain inputs and the provider's claims.

Every numeric input is a fixed value or a distribution (see
:mod:`simulate.distributions`). Units are in field names: ``_dkk`` is Danish
kroner, ``_per_year`` per programme year, probabilities are in [0, 1].
"""

from __future__ import annotations

import math
import re
import weakref
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from simulate._model import StrictModel, closest, plain
from simulate.distributions import (
    Factor,
    Money,
    Probability,
    Years,
    Source,
    _Dist,
)

MUNICIPALITY = "municipality"
TOTAL = "total"
PAYER_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_INTAKE = 10_000_000


def check_payer(scenario: "Scenario", payer: str) -> None:
    """Refuse a --payer the scenario does not have, naming the ones it has."""
    from simulate.errors import ScenarioError

    payers = [*scenario.payers(), TOTAL]
    if payer not in payers:
        raise ScenarioError("--payer", payer, "one of the scenario's payers: " + ", ".join(payers)
                            + " (or its name as the output shows it, e.g. kommunen)")


def _err(kind: str, msg: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, plain(msg.format(**ctx)))


def _is_distribution_like(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) or (
        isinstance(value, dict) and ("kind" in value or "value" in value)
    )


def _normalise_costs(value: Any) -> Any:
    """Cost shortcuts -> ``{item: {payer: distribution}}``.

    - ``91368`` or ``{kind: ...}``: one item named ``cost``, paid by the municipality;
    - ``{benefit: 91368}``: item ``benefit``, paid by the municipality;
    - ``{benefit: {municipality: 73094, state: 18274}}``: item by payer;
    - ``{benefit: {amount_dkk: 91368, split: {municipality: 0.8, state: 0.2}}}``: one amount, shared.
    """
    if value is None:
        return {}
    if _is_distribution_like(value):
        return {"cost": {MUNICIPALITY: value}}
    if isinstance(value, dict):
        out = {}
        for item, payers in value.items():
            if _is_distribution_like(payers):
                out[item] = {MUNICIPALITY: payers}
            else:
                out[item] = payers
        return out
    return value


def _check_name(name: str, what: str) -> str:
    if not PAYER_PATTERN.match(name):
        raise _err(
            "name", "{what} name {name!r} must be lower-case letters, digits and _, starting with a letter",
            what=what, name=name,
        )
    if name == TOTAL:
        raise _err("name", "{what} name 'total' is reserved for the sum over payers", what=what)
    return name


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise _err("number", "a number, not true/false")
    return value


Num = Annotated[float, BeforeValidator(_no_bool)]
Int = Annotated[int, BeforeValidator(_no_bool)]
SAVING_TYPES = ("cash", "capacity")


class SplitCost(StrictModel):
    """One amount shared between payers by fixed shares, e.g. a benefit the state reimburses 20 % of.

    With ``refusion: benefit`` or ``refusion: shelter`` the shares come from the scenario's rule set
    (``rules:`` or ``--rules``), filled in when the scenario is read. ``saving_type`` says whether a
    saving of this item is ``cash`` (a budget line falls) or ``capacity`` (staff time freed).
    """

    amount_dkk: Money
    split: dict[str, Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]] | None = None
    refusion: Literal["benefit", "shelter"] | None = Field(
        None, description="take the municipal/state split from the rule set: benefit ladder or § 110 shelter cap"
    )
    weeks_on_benefit_at_intake: Annotated[Num, Field(ge=0, le=5200, allow_inf_nan=False)] | None = Field(
        None, description="weeks the young person has been on benefit at intake [weeks]; default: long-term (> 52)"
    )
    days_in_shelter_per_year: Annotated[Num, Field(ge=0, le=366, allow_inf_nan=False)] | None = Field(
        None, description="days of § 110 shelter stay in a homeless year [days/year]; default 200"
    )
    rule_set: str | None = Field(None, description="name of the rule set the split was taken from (filled in)")
    saving_type: Literal["cash", "capacity"] = Field(
        "cash", description="cash: a budget line falls; capacity: staff time is freed, no budget line falls"
    )
    source: Source | None = None

    @field_validator("split")
    @classmethod
    def _shares(cls, v: dict[str, float] | None):
        if v is None:
            return v
        total = math.fsum(v.values())
        if not v or abs(total - 1.0) > 1e-9:
            raise _err("split", "shares must add up to 1, they add up to {total:.6g}", total=total)
        return v

    @model_validator(mode="after")
    def _split_or_refusion(self):
        if self.split is None:
            if self.refusion is None:
                raise _err("split", "give split (shares by payer, adding up to 1) or refusion: benefit|shelter")
            raise _err(
                "rules", "refusion: {what} takes its split from a rule set: name one with rules: FILE in the "
                "scenario (e.g. rules: configs/rules/dk-2026.yaml) or run with --rules FILE", what=self.refusion,
            )
        if self.weeks_on_benefit_at_intake is not None and self.refusion != "benefit":
            raise _err("refusion", "weeks_on_benefit_at_intake needs refusion: benefit")
        if self.days_in_shelter_per_year is not None and self.refusion != "shelter":
            raise _err("refusion", "days_in_shelter_per_year needs refusion: shelter")
        return self


ItemCosts = Annotated[dict[str, Union[SplitCost, dict[str, Money]]], BeforeValidator(_normalise_costs)]


def item_terms(value, base: str) -> list[tuple[str, str, float]]:
    """``(payer, input path, share)`` of one cost item: by payer, or one amount split by shares."""
    if isinstance(value, SplitCost):
        return [(payer, f"{base}.amount_dkk", share) for payer, share in value.split.items()]
    return [(payer, f"{base}.{payer}", 1.0) for payer in value]


def saving_type(value) -> str:
    """``cash`` or ``capacity``: whether a saving of this cost item makes a budget line fall."""
    return value.saving_type if isinstance(value, SplitCost) else "cash"


def _check_item_costs(costs: dict[str, Any]) -> None:
    for item, value in costs.items():
        _check_name(item, "cost item")
        for payer, _, _ in item_terms(value, item):
            _check_name(payer, "payer")


Count = Annotated[Num, Field(ge=0, le=MAX_INTAKE, allow_inf_nan=False)]


class Programme(StrictModel):
    """What the programme costs and who pays it."""

    cost_per_year_dkk: Union[Money, list[Money]] = Field(
        description="programme cost per year [DKK/year]; a list gives one value per year, the last one repeating"
    )
    cost_overrun: Factor = Field(1.0, description="factor on the cost [-], 1 = as budgeted")
    financing: dict[str, Annotated[Num, Field(ge=0, le=1, allow_inf_nan=False)]] = Field(
        default_factory=lambda: {MUNICIPALITY: 1.0}, description="share of the cost per payer [-], summing to 1"
    )
    source: Source | None = None

    @field_validator("cost_per_year_dkk")
    @classmethod
    def _non_empty(cls, v):
        if isinstance(v, list) and not v:
            raise _err("empty", "a list needs at least one value")
        return v

    @field_validator("financing")
    @classmethod
    def _shares(cls, v: dict[str, float]):
        if not v:
            raise _err("financing", "at least one payer with a share, e.g. {municipality: 1.0}")
        for payer in v:
            _check_name(payer, "payer")
        total = math.fsum(v.values())
        if abs(total - 1.0) > 1e-9:
            raise _err("financing", "shares must add up to 1, they add up to {total:.6g}", total=total)
        return v


class EffectEnd(StrictModel):
    """How a success's effect ends: a yearly relapse probability, a fixed duration, or both."""

    relapse_probability_per_year: Probability | None = None
    duration_years: Years | None = Field(
        None, description="effect length [years] counted from intake, the intake-year fraction included"
    )


class Participants(StrictModel):
    """What happens to the young people who enter."""

    dropout_probability: Probability = 0.0
    success_probability: Probability = Field(description="probability of success for those who complete [-]")
    intake_year_effect_fraction: Probability = Field(
        0.5, description="part of the intake year in which a success's effect counts [-]"
    )
    effect: EffectEnd = Field(default_factory=EffectEnd)
    refill_dropouts: bool = Field(
        False, description="intake counts places: a drop-out's place is refilled once within the year from a waiting "
                           "list (the newcomer may drop out too); cost follows places, entrants grow to N (1 + d)",
    )
    source: Source | None = None


class State(StrictModel):
    """A counterfactual state, e.g. passive support or homelessness, with its yearly cost."""

    cost_per_year_dkk: ItemCosts
    source: Source | None = None

    @field_validator("cost_per_year_dkk")
    @classmethod
    def _names(cls, v):
        _check_item_costs(v)
        return v


class Counterfactual(StrictModel):
    """What a participant would cost without the programme.

    Either ``states`` (with ``initial_distribution`` and yearly ``transitions``)
    or the brochure's simplification ``saving_per_success_year_dkk``.
    """

    states: dict[str, State] | None = None
    initial_distribution: dict[str, Union[Literal["rest"], Probability]] | None = None
    transitions: dict[str, dict[str, Probability]] = Field(default_factory=dict)
    saving_per_success_year_dkk: ItemCosts | None = None
    success_residual_cost_per_year_dkk: ItemCosts = Field(default_factory=dict)
    sampling: Literal["expected", "counts"] = Field(
        "expected",
        description="expected: a success saves the expected counterfactual cost for its age; counts: each "
                    "success is given a counterfactual state, moved year by year with binomial draws",
    )
    source: Source | None = None

    @model_validator(mode="after")
    def _consistent(self):
        if (self.states is None) == (self.saving_per_success_year_dkk is None):
            raise _err(
                "counterfactual",
                "give either states (with initial_distribution and transitions) or saving_per_success_year_dkk",
            )
        _check_item_costs(self.success_residual_cost_per_year_dkk)
        if self.saving_per_success_year_dkk is not None:
            _check_item_costs(self.saving_per_success_year_dkk)
            if self.initial_distribution or self.transitions:
                raise _err("counterfactual", "initial_distribution and transitions need states")
            return self
        names = list(self.states)
        if not names:
            raise _err("counterfactual", "states needs at least one state")
        for name in names:
            _check_name(name, "state")
        init = self.initial_distribution
        if init is None:
            if len(names) > 1:
                raise _err("counterfactual", "initial_distribution is needed with more than one state")
        else:
            for key in init:
                if key not in self.states:
                    guess = closest(key, names)
                    raise _err(
                        "counterfactual", "initial_distribution names unknown state {key!r}{hint}; states: {names}",
                        key=key, hint=f" (did you mean {guess!r}?)" if guess else "", names=", ".join(names),
                    )
            rest = [k for k, v in init.items() if v == "rest"]
            if len(rest) > 1:
                raise _err("counterfactual", "only one state may take the rest of initial_distribution")
            top = math.fsum(v.support()[1] for v in init.values() if v != "rest")
            bottom = math.fsum(v.support()[0] for v in init.values() if v != "rest")
            means = math.fsum(v.mean() for v in init.values() if v != "rest")
            if rest and means > 1 + 1e-9:
                raise _err(
                    "counterfactual",
                    "initial_distribution shares add up to {m:.4g} > 1 on average; in a trial where they exceed 1 "
                    "they are scaled down to 1, but on average they must leave room for 'rest'", m=means,
                )
            if not rest and (abs(top - 1) > 1e-9 or abs(bottom - 1) > 1e-9):
                raise _err(
                    "counterfactual",
                    "initial_distribution must add up to exactly 1 (or name one state 'rest'), it adds up to "
                    "{bottom:.4g}..{top:.4g}", bottom=bottom, top=top,
                )
        for src, row in self.transitions.items():
            for key in [src, *row]:
                if key not in self.states:
                    guess = closest(key, names)
                    raise _err(
                        "counterfactual", "transitions name unknown state {key!r}{hint}; states: {names}",
                        key=key, hint=f" (did you mean {guess!r}?)" if guess else "", names=", ".join(names),
                    )
            if src in row:
                raise _err(
                    "counterfactual", "transitions.{src} lists itself; staying is what is left over", src=src
                )
            means = math.fsum(v.mean() for v in row.values())
            if means > 1 + 1e-9:
                raise _err(
                    "counterfactual",
                    "transitions out of {src} add up to {m:.4g} > 1 on average (a trial where they exceed 1 is "
                    "scaled down to 1, but the average must be a probability)", src=src, m=means,
                )
        return self

    @property
    def state_names(self) -> list[str]:
        return list(self.states) if self.states is not None else ["success_saving"]

    def state_costs(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{state: {item: {payer: distribution}}}``, the simplification as one state."""
        if self.states is None:
            return {"success_saving": self.saving_per_success_year_dkk}
        return {name: st.cost_per_year_dkk for name, st in self.states.items()}

    def item_path(self, state: str, item: str) -> str:
        if self.states is None:
            return f"counterfactual.saving_per_success_year_dkk.{item}"
        return f"counterfactual.states.{state}.cost_per_year_dkk.{item}"


class Discounting(StrictModel):
    """Discounting and real price growth.

    ``rate`` applies from year 1; with ``long_term_step_down`` (the Finance
    Ministry's 2021 rule) years 36-70 use 2.5 % and later years 1.5 % when
    ``rate`` is the standard 3.5 %.
    """

    rate: Num = Field(0.035, ge=-0.5, lt=1.0, allow_inf_nan=False)
    long_term_step_down: bool = True
    real_price_growth: Num = Field(0.0, ge=-0.5, le=0.5, allow_inf_nan=False)
    source: Source | None = None


class Correlation(StrictModel):
    """A rank (Spearman) correlation between two named uncertain inputs."""

    between: tuple[str, str]
    rank_correlation: Num = Field(ge=-1, le=1, allow_inf_nan=False)
    source: Source | None = None


class Claim(StrictModel):
    """A figure the provider promises, to be checked against the model."""

    name: str
    metric: Literal["roi", "cumulative_net", "break_even_successes"]
    year: Int = Field(ge=1, le=200)
    value: Num = Field(allow_inf_nan=False)
    tolerance: Num = Field(
        0.0, ge=0, allow_inf_nan=False,
        description="rounding of the stated figure: the claim counts as reached within this margin",
    )
    payer: str = MUNICIPALITY
    source: Source | None = None


class RulePeriod(StrictModel):
    """One rule set's part of the horizon: its share of each programme year and the splits it gives."""

    rule_set: str
    year_weights: list[Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]]
    splits: dict[str, dict[str, Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]]]


class Scenario(StrictModel):
    """A social programme over a horizon of years, described generically."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    horizon_years: Int = Field(10, ge=1, le=100)
    start_year: Int | None = Field(None, ge=1900, le=2200, description="calendar year of programme year 1")
    rules: Union[str, list[str], None] = Field(
        None, description="refusion rule file, or a list of files applied by programme year (relative to the "
                          "scenario file, or to the project); --rules overrides"
    )
    rule_periods: list[RulePeriod] | None = Field(
        None, description="filled in from several rule files: each rule set's share of each programme year and the "
                          "splits it gives",
    )
    intake_per_year: Union[Count, list[Count]] = Field(
        description="young people entering per year; a list gives one value per year, the last one repeating"
    )
    lifetime_tail_years: Int = Field(
        30, ge=0, le=200, description="years after the horizon that the lifetime accounting follows effects"
    )
    programme: Programme
    participants: Participants
    counterfactual: Counterfactual
    discounting: Discounting = Field(default_factory=Discounting)
    correlations: list[Correlation] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)
    evidence_correction: bool = Field(
        True, description="correct effect inputs by their evidence_level (simulate.evidence); false: use them as given"
    )
    source: Source | None = None

    @field_validator("intake_per_year")
    @classmethod
    def _intake_non_empty(cls, v):
        if isinstance(v, list) and not v:
            raise _err("empty", "a list needs at least one value")
        return v

    @model_validator(mode="after")
    def _cross_checks(self):
        from simulate.evidence import NO_EFFECT

        for path, dist in numeric_inputs(self).items():
            if dist.evidence_level is not None and path not in NO_EFFECT:
                raise _err(
                    "evidence", "{path}.evidence_level is {level}, but an evidence level applies only to the "
                    "effect inputs: {allowed}", path=path, level=dist.evidence_level, allowed=", ".join(NO_EFFECT),
                )
        inputs = uncertain_inputs(self)
        seen = set()
        for i, corr in enumerate(self.correlations):
            a, b = corr.between
            for name in (a, b):
                if name not in inputs:
                    all_paths = list(numeric_inputs(self))
                    guess = closest(name, list(inputs)) or closest(name, all_paths)
                    fixed = " (it is fixed; give it a distribution)" if name in all_paths else ""
                    raise _err(
                        "correlation", "correlations[{i}] names {name!r}, which is not an uncertain input{fixed}"
                        "{hint}", i=i, name=name, fixed=fixed, hint=f"; did you mean {guess!r}?" if guess else "",
                    )
            if a == b:
                raise _err("correlation", "correlations[{i}] correlates {a!r} with itself", i=i, a=a)
            key = tuple(sorted((a, b)))
            if key in seen:
                raise _err("correlation", "correlations[{i}] repeats the pair {a!r}, {b!r}", i=i, a=a, b=b)
            seen.add(key)
        if self.correlations:
            names, matrix = self.rank_correlation_matrix()
            eig = np.linalg.eigvalsh(matrix)
            if eig.min() < -1e-9:
                raise _err(
                    "correlation",
                    "the rank correlations are impossible together: their matrix is not positive semi-definite "
                    "(smallest eigenvalue {eig:.4g}); loosen the strongest ones", eig=float(eig.min()),
                )
        if self.rule_periods:
            for i, period in enumerate(self.rule_periods):
                if len(period.year_weights) != self.horizon_years:
                    raise _err("rules", "rule_periods[{i}].year_weights needs one weight per programme year ({h})",
                               i=i, h=self.horizon_years)
            for y in range(self.horizon_years):
                total = math.fsum(p.year_weights[y] for p in self.rule_periods)
                if abs(total - 1.0) > 1e-9:
                    raise _err("rules", "the rule periods' weights of programme year {y} add up to {t:.6g}, not 1",
                               y=y + 1, t=total)
        payers = self.payers()
        for i, claim in enumerate(self.claims):
            if claim.year > self.horizon_years:
                raise _err(
                    "claim", "claims[{i}].year is {year}, beyond the horizon of {h} years",
                    i=i, year=claim.year, h=self.horizon_years,
                )
            if claim.payer not in payers:
                raise _err(
                    "claim", "claims[{i}].payer {p!r} is not a payer; payers: {payers}",
                    i=i, p=claim.payer, payers=", ".join(payers),
                )
        return self

    # --- derived views ------------------------------------------------------------
    def payers(self) -> list[str]:
        """Every payer named by financing or costs, municipality first."""
        names = list(self.programme.financing)
        for state_items in [*self.counterfactual.state_costs().values(),
                            self.counterfactual.success_residual_cost_per_year_dkk]:
            for item, value in state_items.items():
                names.extend(payer for payer, _, _ in item_terms(value, item))
        ordered = [MUNICIPALITY] if MUNICIPALITY in names else []
        for name in names:
            if name not in ordered:
                ordered.append(name)
        return ordered

    def per_year(self, values, n_years: int) -> list:
        """A per-year list of length ``n_years`` (the last value repeats; extra values are unused)."""
        if not isinstance(values, list):
            return [values] * n_years
        return [values[min(i, len(values) - 1)] for i in range(n_years)]

    def intake(self) -> np.ndarray:
        """Intake per programme year ``(horizon_years,)`` [young people]."""
        return np.asarray(self.per_year(self.intake_per_year, self.horizon_years), dtype=float)

    def rank_correlation_matrix(self) -> tuple[list[str], np.ndarray]:
        names: list[str] = []
        for corr in self.correlations:
            for name in corr.between:
                if name not in names:
                    names.append(name)
        matrix = np.eye(len(names))
        for corr in self.correlations:
            i, j = names.index(corr.between[0]), names.index(corr.between[1])
            matrix[i, j] = matrix[j, i] = corr.rank_correlation
        return names, matrix


def numeric_inputs(model: Any, prefix: str = "") -> dict[str, _Dist]:
    """Every numeric input (fixed or uncertain) by its field path, in file order."""
    found: dict[str, _Dist] = {}
    if isinstance(model, _Dist):
        found[prefix] = model
    elif isinstance(model, StrictModel):
        for name in type(model).model_fields:
            value = getattr(model, name)
            if value is not None and name != "source":
                found.update(numeric_inputs(value, f"{prefix}.{name}" if prefix else name))
    elif isinstance(model, dict):
        for key, value in model.items():
            found.update(numeric_inputs(value, f"{prefix}.{key}"))
    elif isinstance(model, (list, tuple)):
        for i, value in enumerate(model):
            found.update(numeric_inputs(value, f"{prefix}[{i}]"))
    return found


_INPUTS: dict[int, tuple[weakref.ref, dict]] = {}


def scenario_inputs(scenario: Scenario) -> dict[str, _Dist]:
    """:func:`numeric_inputs` of a scenario, found once per scenario object (models are frozen): a run draws its
    inputs block after block. The dict is shared: read it, do not change it."""
    key = id(scenario)
    hit = _INPUTS.get(key)
    if hit is not None and hit[0]() is scenario:
        return hit[1]
    found = numeric_inputs(scenario)
    _INPUTS[key] = (weakref.ref(scenario, lambda _, key=key: _INPUTS.pop(key, None)), found)
    return found


def uncertain_inputs(scenario: Any) -> dict[str, _Dist]:
    """The inputs that are distributions, not fixed values, by field path."""
    return {path: d for path, d in numeric_inputs(scenario).items() if not d.is_fixed}


def with_splits(scenario: Scenario, splits: dict[str, dict[str, float]]) -> Scenario:
    """The scenario with the splits of some cost items replaced (``item path -> {payer: share}``), no rule periods."""
    cf = scenario.counterfactual

    def fix(base: str, items: dict) -> dict:
        return {item: value.model_copy(update={"split": splits[f"{base}.{item}"]})
                if f"{base}.{item}" in splits else value for item, value in items.items()}

    if cf.states is not None:
        update = {"states": {
            name: st.model_copy(update={"cost_per_year_dkk": fix(f"counterfactual.states.{name}.cost_per_year_dkk",
                                                                 st.cost_per_year_dkk)})
            for name, st in cf.states.items()}}
    else:
        update = {"saving_per_success_year_dkk": fix("counterfactual.saving_per_success_year_dkk",
                                                     cf.saving_per_success_year_dkk)}
    update["success_residual_cost_per_year_dkk"] = fix("counterfactual.success_residual_cost_per_year_dkk",
                                                       cf.success_residual_cost_per_year_dkk)
    return scenario.model_copy(update={"counterfactual": cf.model_copy(update=update), "rule_periods": None})
