"""Refusion rules in the engine and cash vs capacity savings, against hand-computed figures."""

from __future__ import annotations

import copy

import pytest
from click.testing import CliRunner

from simulate import api
from simulate.cli import cli
from simulate.errors import ScenarioError
from simulate.io import scenario_from_data
from tests.conftest import CONFIGS, load, write_yaml

R2016 = str(CONFIGS / "rules" / "dk-2016.yaml")
R2024 = str(CONFIGS / "rules" / "dk-2024.yaml")
R2026 = str(CONFIGS / "rules" / "dk-2026.yaml")


def brochure_with(items: dict, **top) -> dict:
    """The brochure scenario (6.5 successes a year, half intake year, 2.5 years) with other saving items."""
    data = load("naerbolig_brochure.yaml")
    data["counterfactual"]["saving_per_success_year_dkk"] = items
    data["claims"] = []
    data.update(top)
    return data


def municipal_savings(data: dict, rules: str | None = None, **opts) -> list[float]:
    result = api.run(scenario_from_data(copy.deepcopy(data), rules=rules), mode="expected", **opts)
    return [y["savings_mean"] for y in result.summary["by_payer"]["municipality"]["years"]]


SHELTER = {"shelter": {"amount_dkk": 200_000, "refusion": "shelter"}}


@pytest.mark.parametrize("rules, municipal_share", [
    (R2024, 1 - 0.5 * 120 / 200),  # 200 days, 120 refunded at 50 %: state 30 %
    (R2026, 1 - 0.5 * 90 / 200),   # 90 refunded days from 1 April 2026: state 22.5 %
])
def test_shelter_split_follows_the_rule_sets_cap(rules, municipal_share):
    savings = municipal_savings(brochure_with(SHELTER), rules)
    # year 1: 6.5 successes x half a year; year 2: two cohorts' full years plus the new half: 6.5 x 2.5 years
    assert savings[0] == pytest.approx(6.5 * 0.5 * 200_000 * municipal_share)
    assert savings[1] == pytest.approx(6.5 * 1.5 * 200_000 * municipal_share)


def test_the_same_case_under_two_rule_sets_differs_for_the_municipality_by_the_cap():
    a = municipal_savings(brochure_with(SHELTER), R2024)
    b = municipal_savings(brochure_with(SHELTER), R2026)
    # (120 - 90) days x 50 % of 1/200 of the yearly amount: 7.5 % of each success-year's 200,000
    assert b[0] - a[0] == pytest.approx(6.5 * 0.5 * 200_000 * 0.075)
    state_a = api.run(scenario_from_data(brochure_with(SHELTER), rules=R2024), mode="expected").summary
    state_b = api.run(scenario_from_data(brochure_with(SHELTER), rules=R2026), mode="expected").summary
    total = [y["savings_mean"] for y in state_a["by_payer"]["total"]["years"]]
    assert total == pytest.approx([y["savings_mean"] for y in state_b["by_payer"]["total"]["years"]])
    assert state_b["refusion"]["items"]["counterfactual.saving_per_success_year_dkk.shelter"]["split"] == {
        "municipality": 0.775, "state": 0.225}


@pytest.mark.parametrize("days, municipal_share", [(60, 0.5), (90, 0.5), (300, 1 - 0.5 * 90 / 300)])
def test_shelter_days_per_year(days, municipal_share):
    items = {"shelter": {"amount_dkk": 100_000, "refusion": "shelter", "days_in_shelter_per_year": days}}
    assert municipal_savings(brochure_with(items), R2026)[0] == pytest.approx(6.5 * 0.5 * 100_000 * municipal_share)


@pytest.mark.parametrize("weeks, municipal_share", [
    (None, 0.8),                                 # long-term recipient: the ladder's last step
    (0, (4 * 0.2 + 22 * 0.6 + 26 * 0.7) / 52),  # a new recipient: the first 52 weeks of the ladder
    (26, (26 * 0.7 + 26 * 0.8) / 52),
])
def test_benefit_split_follows_the_ladder(weeks, municipal_share):
    item = {"amount_dkk": 90_000, "refusion": "benefit"}
    if weeks is not None:
        item["weeks_on_benefit_at_intake"] = weeks
    savings = municipal_savings(brochure_with({"benefit": item}), R2024)
    assert savings[0] == pytest.approx(6.5 * 0.5 * 90_000 * municipal_share)


def test_scenario_names_its_rules_relative_to_its_file(tmp_path):
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "r.yaml").write_text((CONFIGS / "rules" / "dk-2026.yaml").read_text(encoding="utf-8"),
                                      encoding="utf-8")
    path = write_yaml(tmp_path / "s.yaml", brochure_with(SHELTER, rules="rules/r.yaml", start_year=2026))
    from simulate.io import read_scenario

    sc = read_scenario(path)
    assert sc.counterfactual.saving_per_success_year_dkk["shelter"].split["state"] == pytest.approx(0.225)
    sc = read_scenario(path, rules=R2024)  # --rules overrides
    assert sc.counterfactual.saving_per_success_year_dkk["shelter"].split["state"] == pytest.approx(0.3)


def test_existing_configs_are_unchanged_by_a_rules_file(default_data):
    """A rule file changes only items marked refusion; the shipped configs carry fixed splits."""
    plain = api.run(scenario_from_data(copy.deepcopy(default_data)), trials=2000)
    named = api.run(scenario_from_data(copy.deepcopy(default_data), rules=R2024), trials=2000)
    assert plain.summary["by_payer"] == named.summary["by_payer"]
    assert "refusion" not in plain.summary and "by_kind" not in plain.summary


@pytest.mark.parametrize("change, words", [
    ({}, "rules: FILE"),                                              # refusion without a rule set
    ({"rules": "configs/rules/nope.yaml"}, "an existing refusion rule file"),
    ({"rules": R2024, "start_year": 2020}, "no day of 2020"),         # a date covered by no rule set
    ({"rules": R2024, "split_too": True}, "split or refusion, not both"),
])
def test_bad_rules_are_refused_with_exit_2_and_nothing_written(tmp_path, change, words):
    items = copy.deepcopy(SHELTER)
    if change.pop("split_too", False):
        items["shelter"]["split"] = {"municipality": 1.0}
    path = write_yaml(tmp_path / "s.yaml", brochure_with(items, **change))
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["run", str(path), "--trials", "100", "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert words in res.output
    assert not out.exists()


def test_a_bad_rule_file_is_named(tmp_path):
    import yaml

    data = yaml.safe_load((CONFIGS / "rules" / "dk-2024.yaml").read_text(encoding="utf-8"))
    data["benefit_refusion"]["ladder"][1]["from_week"] = 7
    bad = write_yaml(tmp_path / "bad_rules.yaml", data)
    path = write_yaml(tmp_path / "s.yaml", brochure_with(SHELTER))
    res = CliRunner().invoke(cli, ["run", str(path), "--rules", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "bad_rules.yaml" in res.output and "a gap" in res.output
    assert not (tmp_path / "o").exists()


# --- cash or capacity ---------------------------------------------------------------------------------
CASH_AND_CAPACITY = {
    "benefit": {"amount_dkk": 100_000, "split": {"municipality": 1.0}},
    "caseworker_time": {"amount_dkk": 40_000, "split": {"municipality": 1.0}, "saving_type": "capacity"},
}


def test_headline_counts_cash_only_unless_asked():
    data = brochure_with(CASH_AND_CAPACITY)
    assert municipal_savings(data)[0] == pytest.approx(6.5 * 0.5 * 100_000)
    assert municipal_savings(data, include_capacity=True)[0] == pytest.approx(6.5 * 0.5 * 140_000)


def test_by_kind_gives_both_from_the_same_trials():
    sc = scenario_from_data(brochure_with(CASH_AND_CAPACITY))
    cash = api.run(sc, trials=3000, seed=7).summary
    both = api.run(sc, trials=3000, seed=7, include_capacity=True).summary
    assert cash["by_kind"]["headline"] == "cash" and both["by_kind"]["headline"] == "cash_and_capacity"
    assert cash["by_kind"]["cash"] == both["by_kind"]["cash"]
    assert cash["by_kind"]["cash_and_capacity"] == both["by_kind"]["cash_and_capacity"]
    assert cash["by_kind"]["cash"]["cumulative_net_mean"] == [y["cumulative_net"]["mean"] for y in cash["years"]]
    ratio = [b / a for a, b in zip(cash["by_kind"]["cash"]["savings_mean"],
                                   cash["by_kind"]["cash_and_capacity"]["savings_mean"])]
    assert ratio == pytest.approx([1.4] * 10)  # the same successes in every trial: 140,000 / 100,000
    assert cash["by_kind"]["capacity_inputs"] == ["counterfactual.saving_per_success_year_dkk.caseworker_time"
                                                  ".amount_dkk"]


def test_cli_include_capacity(tmp_path):
    path = write_yaml(tmp_path / "s.yaml", brochure_with(CASH_AND_CAPACITY))
    res = CliRunner().invoke(cli, ["run", str(path), "--trials", "200", "--include-capacity", "--json",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert '"headline": "cash_and_capacity"' in res.output


def test_saving_type_is_validated():
    items = {"x": {"amount_dkk": 1.0, "split": {"municipality": 1.0}, "saving_type": "maybe"}}
    with pytest.raises(ScenarioError, match="saving_type"):
        scenario_from_data(brochure_with(items))


@pytest.mark.parametrize("extra", [[], ["--rules", R2024, "--include-capacity", "--no-evidence-correction"]])
def test_a_run_with_rules_reruns_bit_for_bit(tmp_path, extra):
    out = tmp_path / "o"
    res = CliRunner().invoke(cli, ["run", str(CONFIGS / "naerbolig_rules.yaml"), "--trials", "500", "--out", str(out),
                                   *extra])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["rerun", str(out)])
    assert res.exit_code == 0 and "Genskabt" in res.output, res.output


def test_a_resolved_scenario_reads_back_and_the_report_notes_the_rules(tmp_path):
    """The run's resolved_scenario keeps its splits (no rule file needed) and the report's method notes say so."""
    import json

    from simulate.report import budget_notes

    out = tmp_path / "o"
    res = CliRunner().invoke(cli, ["run", str(CONFIGS / "naerbolig_rules.yaml"), "--trials", "500", "--out", str(out)])
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    sc = scenario_from_data(manifest["resolved_scenario"])
    assert sc.counterfactual.states["homeless"].cost_per_year_dkk["shelter"].split["state"] == pytest.approx(0.3)
    assert [p.rule_set for p in sc.rule_periods] == ["dk-2024", "dk-2026"]
    assert sc.rule_periods[0].year_weights[:2] == pytest.approx([90 / 365, 0.0])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    notes = " ".join(budget_notes(summary, "en"))
    assert "Refusion rules dk-2024, dk-2026" in notes and "Cash savings only" in notes
    assert "Evidence correction on" in notes


# --- several rule sets, by programme year ---------------------------------------------------------------
@pytest.mark.parametrize(("start", "rules", "shares", "w", "names"), [
    # start 2025: year 1 under dk-2024 (120 days: the municipality pays 0.7), year 2 has 90 of 365 days under it,
    # then dk-2026 (90 days: 0.775)
    (2025, [R2024, R2026], (0.7, 0.775), 90 / 365, ["dk-2024", "dk-2026"]),
    # start 2022, evaluated after the fact: year 1 under dk-2016 (no cap: half of all 200 days), year 2 has 273 of
    # its 365 days before the reform of 1 October 2023, year 3 under the 120-day cap; the horizon reaches 2031
    (2022, [R2016, R2024, R2026], (0.5, 0.7), 273 / 365, ["dk-2016", "dk-2024", "dk-2026"]),
])
def test_rule_sets_apply_by_programme_year_as_hand_computed(start, rules, shares, w, names):
    sc = scenario_from_data(brochure_with(SHELTER, start_year=start), rules=rules)
    summary = api.run(sc, mode="expected").summary
    savings = [y["savings_mean"] for y in summary["by_payer"]["municipality"]["years"]]
    first, second = shares
    assert savings[0] == pytest.approx(6.5 * 0.5 * 200_000 * first)
    assert savings[1] == pytest.approx(6.5 * 1.5 * 200_000 * (w * first + (1 - w) * second))
    assert savings[2] == pytest.approx(6.5 * 2.5 * 200_000 * second)
    total = [y["savings_mean"] for y in summary["by_payer"]["total"]["years"]]
    assert total[1] == pytest.approx(6.5 * 1.5 * 200_000)  # the rules move money between payers only
    assert summary["refusion"]["rule_sets"] == names


def test_each_year_mixes_the_rule_sets_trial_by_trial():
    """Monte Carlo: each year mixes two runs on the same draws, so the mix is exact trial by trial."""
    sc = scenario_from_data(brochure_with(SHELTER, start_year=2025), rules=[R2024, R2026])
    w = 90 / 365
    mc = api.run(sc, trials=2000, seed=4).summary
    alone = brochure_with(SHELTER)  # no start_year: one rule set for every year
    a = api.run(scenario_from_data(alone, rules=R2024), trials=2000, seed=4).summary
    b = api.run(scenario_from_data(alone, rules=R2026), trials=2000, seed=4).summary
    pick = [y["savings_mean"] for y in mc["by_payer"]["municipality"]["years"]]
    ya = [y["savings_mean"] for y in a["by_payer"]["municipality"]["years"]]
    yb = [y["savings_mean"] for y in b["by_payer"]["municipality"]["years"]]
    assert pick[0] == pytest.approx(ya[0]) and pick[5] == pytest.approx(yb[5])
    assert pick[1] == pytest.approx(w * ya[1] + (1 - w) * yb[1])


@pytest.mark.parametrize("rules, start, words", [
    ([R2024, R2026], 2023, "2023-01-01"),          # before the first rule set
    ([R2024, R2024], 2025, "rule sets dk-2024, dk-2024"),  # a day covered twice
    ([R2024, R2026], None, "start_year"),
])
def test_a_day_of_the_horizon_covered_by_no_rule_set_is_refused(tmp_path, rules, start, words):
    data = brochure_with(SHELTER, rules=rules)
    if start is not None:
        data["start_year"] = start
    path = write_yaml(tmp_path / "s.yaml", data)
    res = CliRunner().invoke(cli, ["run", str(path), "--trials", "100", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and words in res.output and "s.yaml" in res.output, res.output
    assert not (tmp_path / "o").exists()


def test_repeated_rules_flag_and_rerun(tmp_path):
    path = write_yaml(tmp_path / "s.yaml", brochure_with(SHELTER, start_year=2025))
    out = tmp_path / "o"
    res = CliRunner().invoke(cli, ["run", str(path), "--rules", R2024, "--rules", R2026, "--trials", "300",
                                   "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert '"rule_periods"' in res.output
    res = CliRunner().invoke(cli, ["rerun", str(out)])
    assert res.exit_code == 0 and "Genskabt" in res.output, res.output


def test_public_sector_is_the_public_payers_summed_trial_by_trial():
    data = load("naerbolig.yaml")
    st = data["counterfactual"]["states"]
    for state, item in (("passive_support", "benefit"), ("homeless", "shelter")):
        del st[state]["cost_per_year_dkk"][item]["split"]
        st[state]["cost_per_year_dkk"][item]["refusion"] = "benefit" if item == "benefit" else "shelter"
    sc = scenario_from_data(data, rules=R2026)
    one = api.run(sc, trials=40_000, seed=9, chunk_blocks=1).summary
    four = api.run(sc, trials=40_000, seed=9, chunk_blocks=4, workers=2).summary
    assert one["refusion"] == four["refusion"]  # folded in block order: the same bits for any chunking
    ps = one["refusion"]["public_sector"]
    assert ps["payers"] == ["municipality", "state"]
    for t, row in enumerate(ps["years"]):
        m = one["by_payer"]["municipality"]["years"][t]["cumulative_net"]["mean"]
        s = one["by_payer"]["state"]["years"][t]["cumulative_net"]["mean"]
        assert row["cumulative_net_mean"] == pytest.approx(m + s, abs=0.05)
        # the state only saves here, so the public sector breaks even at least as often as the municipality
        assert row["p_break_even"] >= one["by_payer"]["municipality"]["years"][t]["p_break_even"]["value"]
    side = one["refusion"]["side_by_side"]["public_sector"]
    assert side["p_break_even"] == ps["years"][-1]["p_break_even"]


def test_capacity_scenario_runs_on_several_workers_with_the_same_numbers():
    # the cash-only headline holds capacity amounts at 0 through given inputs, which must reach the workers
    path = CONFIGS / "naerbolig_rules.yaml"
    one = api.run(path, trials=40_000, seed=6).summary
    two = api.run(path, trials=40_000, seed=6, workers=2, chunk_blocks=1).summary
    for s in (one, two):
        s.pop("simulate_version")
    assert "by_kind" in one and one == two
