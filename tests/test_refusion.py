"""Refusion arithmetic on hand-computed cases, and refusal of bad rule files."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from simulate.errors import ScenarioError
from simulate.refusion import benefit_municipal_cost, read_rules, rules_for, shelter_municipal_cost
from tests.conftest import CONFIGS

R2016 = read_rules(CONFIGS / "rules" / "dk-2016.yaml")
R2024 = read_rules(CONFIGS / "rules" / "dk-2024.yaml")
R2026 = read_rules(CONFIGS / "rules" / "dk-2026.yaml")


@pytest.mark.parametrize("weeks, municipal_weeks", [
    (10, 4 * 0.2 + 6 * 0.6),                          # 4.4 benefit-weeks
    (30, 4 * 0.2 + 22 * 0.6 + 4 * 0.7),               # 16.8
    (100, 4 * 0.2 + 22 * 0.6 + 26 * 0.7 + 48 * 0.8),  # 70.6
])
def test_benefit_ladder_by_weeks_on_benefit(weeks, municipal_weeks):
    municipal, state = benefit_municipal_cost(R2024, weekly_benefit_dkk=1000.0, weeks=weeks)
    assert municipal == pytest.approx(1000.0 * municipal_weeks)
    assert municipal + state == pytest.approx(1000.0 * weeks)


def test_a_long_term_recipients_exit_saves_the_municipality_80_percent():
    municipal, _ = benefit_municipal_cost(R2024, weekly_benefit_dkk=1000.0, weeks=52, weeks_before=100)
    assert municipal == pytest.approx(0.8 * 52_000)


@pytest.mark.parametrize("rules, days, municipal_days", [
    (R2016, 60, 30), (R2016, 200, 100), (R2016, 366, 183),  # before the reform: no cap on days
    (R2024, 60, 30), (R2024, 200, 60 + 80), (R2026, 60, 30), (R2026, 200, 45 + 110),
])
def test_shelter_cap_of_days(rules, days, municipal_days):
    municipal, state = shelter_municipal_cost(rules, daily_cost_dkk=1100.0, days=days)
    assert municipal == pytest.approx(1100.0 * municipal_days)
    assert municipal + state == pytest.approx(1100.0 * days)


def test_rule_set_by_date():
    assert rules_for(dt.date(2025, 6, 1), [R2024, R2026]).name == "dk-2024"
    assert rules_for(dt.date(2026, 4, 1), [R2024, R2026]).name == "dk-2026"
    with pytest.raises(ScenarioError, match="no rule set"):
        rules_for(dt.date(2020, 1, 1), [R2024, R2026])
    everything = [R2016, R2024, R2026]
    assert rules_for(dt.date(2020, 1, 1), everything).name == "dk-2016"
    assert rules_for(dt.date(2023, 9, 30), everything).name == "dk-2016"  # the day before the reform
    assert rules_for(dt.date(2023, 10, 1), everything).name == "dk-2024"
    with pytest.raises(ScenarioError, match="no rule set"):
        rules_for(dt.date(2016, 1, 3), everything)  # before the refusion reform


def test_the_shipped_rule_sets_follow_each_other_without_gap_or_overlap():
    """Each rule set ends the day before the next begins; the benefit ladder is the same 2016 ladder in all."""
    sets = sorted([R2016, R2024, R2026], key=lambda r: r.valid_from)
    for a, b in zip(sets, sets[1:]):
        assert a.valid_to + dt.timedelta(days=1) == b.valid_from, (a.name, b.name)
    assert sets[-1].valid_to is None
    ladders = {tuple((s.from_week, s.to_week, s.state_share) for s in r.benefit_refusion.ladder) for r in sets}
    assert ladders == {((1, 4, 0.8), (5, 26, 0.4), (27, 52, 0.3), (53, None, 0.2))}
    assert [r.shelter_refusion.cap_days_per_year for r in sets] == [None, 120, 90]


@pytest.mark.parametrize("ladder, words", [
    ([{"from_week": 1, "to_week": 4, "state_share": 0.8}, {"from_week": 6, "to_week": None, "state_share": 0.4}],
     "a gap"),
    ([{"from_week": 1, "to_week": 4, "state_share": 0.8}, {"from_week": 3, "to_week": None, "state_share": 0.4}],
     "an overlap"),
    ([{"from_week": 1, "to_week": 4, "state_share": 0.8}], "open-ended"),
])
def test_a_ladder_with_a_gap_or_overlap_is_refused(tmp_path, ladder, words):
    data = yaml.safe_load((CONFIGS / "rules" / "dk-2024.yaml").read_text(encoding="utf-8"))
    data["benefit_refusion"]["ladder"] = ladder
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ScenarioError) as exc:
        read_rules(path)
    assert "bad.yaml" in str(exc.value) and "benefit_refusion" in str(exc.value) and words in str(exc.value)
