"""Refusion rules: how much of a benefit or a shelter stay the state pays back to the municipality.

A rule set is a data file (``configs/rules/*.yaml``) with its validity dates and sources:

- ``benefit_refusion.ladder``: the state's share of cash/education benefit by weeks on benefit, as
  consecutive steps without gap or overlap, the last one open-ended (the 2016 ladder: 80 % in weeks 1-4,
  40 % in 5-26, 30 % in 27-52, 20 % after);
- ``shelter_refusion``: the state's share of § 110 shelter stays for the first ``cap_days_per_year``
  days of a running year; days beyond cost the municipality 100 %.

Pure arithmetic on these rules. A cost item marked ``refusion: benefit`` or ``refusion: shelter`` gets its
municipal and state shares from the rule set named by the scenario (``rules:``) or by ``--rules``
(:func:`refusion_split`); the io layer reads the rule file and fills in the item's ``split`` before the
scenario is validated, so the engine sees an ordinary split (docs/model.md states the approximation).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from simulate._model import StrictModel
from simulate.errors import ScenarioError

Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class Step(StrictModel):
    from_week: Annotated[int, Field(ge=1, strict=True)]
    to_week: Annotated[int, Field(ge=1, strict=True)] | None = None
    state_share: Share


class BenefitRefusion(StrictModel):
    ladder: list[Step] = Field(min_length=1)
    source: str | None = None

    @model_validator(mode="after")
    def _contiguous(self):
        expected = 1
        for i, step in enumerate(self.ladder):
            if step.from_week != expected:
                kind = "a gap" if step.from_week > expected else "an overlap"
                raise ValueError(f"ladder[{i}].from_week is {step.from_week}: {kind}; it must be {expected}, "
                                 "the week after the previous step")
            if step.to_week is None:
                if i != len(self.ladder) - 1:
                    raise ValueError(f"ladder[{i}] is open-ended (to_week: null) but is not the last step")
                return self
            if step.to_week < step.from_week:
                raise ValueError(f"ladder[{i}].to_week {step.to_week} is before from_week {step.from_week}")
            expected = step.to_week + 1
        raise ValueError("the last step of the ladder must be open-ended (to_week: null)")


class ShelterRefusion(StrictModel):
    state_share: Share
    cap_days_per_year: Annotated[int, Field(ge=0, le=366, strict=True)] | None = None
    source: str | None = None


class RuleSet(StrictModel):
    name: str
    valid_from: dt.date
    valid_to: dt.date | None = None
    benefit_refusion: BenefitRefusion
    shelter_refusion: ShelterRefusion

    @model_validator(mode="after")
    def _dates(self):
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        return self

    def covers(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def read_rules(path: str | Path) -> RuleSet:
    """Read and validate a rule file; problems are a :class:`ScenarioError` naming the file."""
    from simulate.io import read_yaml_model

    return read_yaml_model(path, RuleSet, "a mapping of rule fields")


def rules_for(day: dt.date, rule_sets: list[RuleSet]) -> RuleSet:
    """The rule set in force on ``day``; a date covered by none (or by two) is refused."""
    found = [r for r in rule_sets if r.covers(day)]
    if len(found) != 1:
        names = ", ".join(f"{r.name} ({r.valid_from}..{r.valid_to or ''})" for r in rule_sets)
        what = "no rule set" if not found else f"{len(found)} rule sets"
        raise ScenarioError("date", str(day), f"a date covered by exactly one rule set ({what} covers it); "
                                              f"rule sets: {names}")
    return found[0]


def benefit_municipal_cost(rules: RuleSet, *, weekly_benefit_dkk: float, weeks: float,
                           weeks_before: float = 0.0) -> tuple[float, float]:
    """Municipal and state cost [DKK] of ``weeks`` on benefit after ``weeks_before`` weeks already on it."""
    start, end = weeks_before, weeks_before + weeks
    municipal = state = 0.0
    for step in rules.benefit_refusion.ladder:
        lo, hi = step.from_week - 1, math.inf if step.to_week is None else step.to_week
        overlap = max(0.0, min(end, hi) - max(start, lo))
        state += overlap * weekly_benefit_dkk * step.state_share
        municipal += overlap * weekly_benefit_dkk * (1 - step.state_share)
    return municipal, state


def shelter_municipal_cost(rules: RuleSet, *, daily_cost_dkk: float, days: float) -> tuple[float, float]:
    """Municipal and state cost [DKK] of ``days`` of § 110 stay within one running year."""
    sr = rules.shelter_refusion
    refunded = days if sr.cap_days_per_year is None else min(days, sr.cap_days_per_year)
    state = refunded * daily_cost_dkk * sr.state_share
    return days * daily_cost_dkk - state, state


LONG_TERM_WEEKS = 53  # a recipient with no stated duration has been on benefit for more than 52 weeks
DEFAULT_SHELTER_DAYS = 200.0


def benefit_state_share(rules: RuleSet, *, weeks_on_benefit_at_intake: float | None = None) -> float:
    """The state's share [-] of a year of benefit that a success saves.

    Without a stated duration the recipient is long-term (> 52 weeks): the ladder's last step. With
    ``weeks_on_benefit_at_intake`` the share is the average over the 52 weeks that follow it.
    """
    if weeks_on_benefit_at_intake is None:
        weeks_on_benefit_at_intake = LONG_TERM_WEEKS - 1
    municipal, state = benefit_municipal_cost(rules, weekly_benefit_dkk=1.0, weeks=52.0,
                                              weeks_before=float(weeks_on_benefit_at_intake))
    return state / (municipal + state)


def shelter_state_share(rules: RuleSet, *, days_in_shelter_per_year: float = DEFAULT_SHELTER_DAYS) -> float:
    """The state's share [-] of a homeless year with ``days_in_shelter_per_year`` days of § 110 stay."""
    if days_in_shelter_per_year <= 0:
        return 0.0
    _, state = shelter_municipal_cost(rules, daily_cost_dkk=1.0, days=days_in_shelter_per_year)
    return state / days_in_shelter_per_year


def refusion_split(rules: RuleSet, kind: str, *, weeks_on_benefit_at_intake: float | None = None,
                   days_in_shelter_per_year: float | None = None) -> dict[str, float]:
    """``{municipality: share, state: share}`` of a cost item under ``rules``; ``kind`` is benefit or shelter."""
    if kind == "benefit":
        state = benefit_state_share(rules, weeks_on_benefit_at_intake=weeks_on_benefit_at_intake)
    elif kind == "shelter":
        days = DEFAULT_SHELTER_DAYS if days_in_shelter_per_year is None else days_in_shelter_per_year
        state = shelter_state_share(rules, days_in_shelter_per_year=days)
    else:
        raise ValueError(f"unknown refusion kind {kind!r}")
    state = round(state, 12)
    return {"municipality": 1.0 - state, "state": state}


def check_covers_start(rules: RuleSet, start_year: int | None, *, file: str) -> None:
    """Refuse a rule set in force on no day of programme year 1 (calendar year ``start_year``)."""
    if start_year is None:
        return
    first, last = dt.date(start_year, 1, 1), dt.date(start_year, 12, 31)
    if rules.valid_from > last or (rules.valid_to is not None and rules.valid_to < first):
        raise ScenarioError(
            "valid_from", f"{rules.valid_from}..{rules.valid_to or ''}",
            f"a rule set in force on some day of programme year 1 ({start_year}, the scenario's start_year); "
            f"no day of {start_year} is covered by rule set {rules.name}", file=file)
