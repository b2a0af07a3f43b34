"""The budget view: funding need, single-year net cost, budget years; checked against hand-computed paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import simulate
from simulate import api
from simulate.budget import calendar_net, funding_need
from simulate.cli import cli
from tests.conftest import CONFIGS, load, scenario

DEFAULT = str(CONFIGS / "naerbolig.yaml")


def test_funding_need_is_minus_the_lowest_cumulative_net():
    net = np.array([[-3.0, -2.0, 4.0, 1.0], [5.0, -1.0, -1.0, 2.0]]).T[None]  # (1, 4 years, 2 trials)
    # cumulative -3, -5, -1, 0 -> lowest -5; cumulative 5, 4, 3, 5 -> never below 0
    assert funding_need(net)[0].tolist() == [5.0, 0.0]


def test_calendar_years_take_the_months_of_overlapping_programme_years():
    net = np.array([12.0, 24.0])[None, :, None]  # programme years of 12 and 24, starting 1 July
    cal = calendar_net(net, 7)[0, :, 0]
    assert cal.tolist() == pytest.approx([6.0, 6.0 + 12.0, 12.0])
    assert cal.sum() == pytest.approx(36.0)
    assert calendar_net(net, 1)[0, :, 0].tolist() == [12.0, 24.0]


def test_expected_mode_funding_need_equals_minimum_of_cash_path():
    result = simulate.run(DEFAULT, mode="expected")
    for payer in result.summary["payers"]:
        cum = [y["cumulative_net"]["mean"] for y in result.summary["by_payer"][payer]["years"]]
        block = result.summary["budget"]["by_payer"][payer]
        assert block["funding_need"]["mean"] == pytest.approx(max(0.0, -min(cum)), abs=0.02)
        nets = np.diff([0.0, *cum])
        for y, row in zip(block["programme_years"], nets):
            assert y["net"]["mean"] == pytest.approx(row, abs=0.02)


def test_monte_carlo_funding_need_and_year_cost_match_the_trial_paths():
    tables = []
    result = api.run(
        DEFAULT, trials=40_000, seed=5, cost_thresholds_dkk=[0, 400_000],
        trial_table=lambda traj, first: api.trials_frame(traj, first, accounting="realised", payer="municipality"),
        on_trials=lambda block, table: tables.append(table),
    )
    import pandas as pd

    trials = pd.concat(tables)
    cum = trials[[f"cumulative_net_y{t:02d}" for t in range(1, 11)]].to_numpy()
    need = np.maximum(-cum.min(axis=1), 0.0)
    block = result.summary["budget"]["by_payer"]["municipality"]
    f = block["funding_need"]
    assert f["mean"] == pytest.approx(need.mean(), abs=0.006)
    assert f["sd"] == pytest.approx(need.std(ddof=1), rel=1e-6)
    for key, q in (("p5", 5), ("p50", 50), ("p95", 95)):
        assert abs(f[key] - np.percentile(need, q)) <= f["quantile_error_bound"] + 1e-6 * abs(f[key])
    yearly = np.diff(np.concatenate([np.zeros((len(cum), 1)), cum], axis=1), axis=1)
    for t in range(10):
        rows = block["programme_years"][t]["p_net_cost_over"]
        assert rows[1]["threshold_dkk"] == 400_000
        assert rows[1]["probability"]["value"] == pytest.approx((-yearly[:, t] > 400_000).mean(), abs=1e-6)
    anyyear = block["p_net_cost_over_any_year"][1]["probability"]["value"]
    assert anyyear == pytest.approx((-yearly > 400_000).any(axis=1).mean(), abs=1e-6)


def test_budget_view_does_not_depend_on_chunking():
    a = api.run(DEFAULT, trials=40_000, seed=2, chunk_blocks=1, start_month=7, budget_year=2027)
    b = api.run(DEFAULT, trials=40_000, seed=2, chunk_blocks=4, start_month=7, budget_year=2027)
    assert a.summary["budget"] == b.summary["budget"]
    years = a.summary["budget"]["by_payer"]["municipality"]["budget_years"]
    assert [y["year"] for y in years] == [2027, 2028, 2029, 2030]
    assert years[0]["role"] == "budget year" and years[3]["role"] == "outlook year 3"


def test_existing_summary_keys_are_unchanged_by_the_budget_view():
    result = api.run(DEFAULT, trials=2_000, seed=1)
    for key in ("years", "discounted", "roi_year1", "payback_year", "by_payer", "claims"):
        assert key in result.summary
    assert "budget" in result.summary


@pytest.mark.parametrize("args, field", [
    (["--budget-year", "2019"], "--budget-year"),
    (["--start-month", "13"], "--start-month"),
    (["--cost-threshold", "-5"], "--cost-threshold"),
])
def test_bad_budget_options_exit_2_and_write_nothing(tmp_path, args, field):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", DEFAULT, "--trials", "1000", "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert field in result.output
    assert not out.exists()


def test_start_month_needs_a_start_year(tmp_path):
    data = load("naerbolig.yaml")
    data.pop("start_year")
    with pytest.raises(simulate.errors.ScenarioError, match="start_year"):
        api.run(scenario(data), trials=100, start_month=4)


def test_cli_run_prints_funding_need_and_records_options(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", DEFAULT, "--trials", "3000", "--out", str(out), "--lang", "en",
                                      "--cost-threshold", "1000000", "--budget-year", "2027"])
    assert result.exit_code == 0, result.output
    assert "Funding need" in result.output and "2027" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["budget"]["thresholds_dkk"] == [1_000_000.0]
    rerun = CliRunner().invoke(cli, ["rerun", str(out)])
    assert rerun.exit_code == 0 and "Genskabt" in rerun.output
