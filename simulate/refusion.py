"""Refusion rules: how much of a benefit or a shelter stay the state pays back to the municipality.

A rule set is a data file (``configs/rules/*.yaml``) with its validity dates and sources:

- ``benefit_refusion.ladder``: the state's share of cash/education benefit by weeks on benefit, as
  consecutive steps without gap or overlap, the last one open-ended (the 2016 ladder: 80 % in weeks 1-4,
  40 % in 5-26, 30 % in 27-52, 20 % after);
- ``shelter_refusion``: the state's share of § 110 shelter stays for the first ``cap_days_per_year``
  days of a running year; days beyond cost the municipality 100 %.

Pure arithmetic on these rules; the engine does not use them yet (the shipped scenarios carry the
resulting average splits, see docs/model.md).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, model_validator

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
    from simulate.io import errors_from_validation, load_yaml

    data, _ = load_yaml(path)
    if not isinstance(data, dict):
        raise ScenarioError("(top level)", type(data).__name__, "a mapping of rule fields", file=str(path))
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise errors_from_validation(exc, data).in_file(str(path)) from None


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
