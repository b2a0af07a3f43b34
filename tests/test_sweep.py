"""Sweeps: designs, tidy results, identical tables whatever the workers, resume, common random numbers, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from simulate.cli import cli
from simulate.sweep import done_ids, read_sweep, run_sweep, stream_of, sweep_from_data
from tests.conftest import CONFIGS, ROOT, write_yaml

DEFAULT = str(CONFIGS / "naerbolig.yaml")
SUCCESS = "participants.success_probability"
OVERRUN = "programme.cost_overrun"
REQUIRED_METRICS = {"p_break_even", "cumulative_net_mean", "cumulative_net_p5", "cumulative_net_p50",
                    "cumulative_net_p95", "cumulative_net_sd"}


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def grid_sweep(tmp_path, *, trials=1000, grid=None, name="grid.yaml", **extra) -> Path:
    data = {"base": DEFAULT, "trials": trials, "seed": 7,
            "design": {"grid": {SUCCESS: [0.4, 0.5, 0.6], OVERRUN: [1.0, 1.2]} if grid is None else grid}, **extra}
    return write_yaml(tmp_path / name, data)


def test_help_of_new_commands():
    for command in ("sweep", "sensitivity", "breakeven"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Example:" in result.output


# --- designs -----------------------------------------------------------------------------------------------
def test_grid_is_the_cartesian_product_in_order(tmp_path):
    sweep = read_sweep(grid_sweep(tmp_path))
    points = list(sweep.points())
    assert sweep.n_scenarios == len(points) == 6 and sweep.paths == [SUCCESS, OVERRUN]
    assert points[1] == (1, {SUCCESS: 0.4, OVERRUN: 1.2})
    assert points[5] == (5, {SUCCESS: 0.6, OVERRUN: 1.2})


@pytest.mark.parametrize("kind", ["latin_hypercube", "sobol"])
def test_space_filling_designs_cover_their_ranges(kind):
    data = {"base": DEFAULT, "design": {kind: {"n": 16, "seed": 3, "ranges": {
        SUCCESS: [0.3, 0.7], "intake_per_year": {"times": [0.5, 2.0]}}}}}
    sweep = sweep_from_data(data)
    points = [ov for _, ov in sweep.points()]
    assert len(points) == sweep.n_scenarios == 16
    x = np.array([p[SUCCESS] for p in points])
    assert x.min() >= 0.3 and x.max() < 0.7
    scale = np.array([p["intake_per_year"]["times"] for p in points])
    assert scale.min() >= 0.5 and scale.max() < 2.0
    if kind == "latin_hypercube":  # one point in each of the 16 strata of each range
        assert sorted(np.floor((x - 0.3) / 0.4 * 16).astype(int)) == list(range(16))
    assert sweep.kinds == {SUCCESS: "number", "intake_per_year": "times"}


def test_list_design_and_linked_paths_and_times(tmp_path):
    data = {"base": str(CONFIGS / "ungifokus.yaml"), "trials": 500, "design": {"list": [
        {"intake_per_year, programme.cost_per_year_dkk": {"times": 0.5}},
        {"intake_per_year, programme.cost_per_year_dkk": {"times": 2}, SUCCESS: 0.2},
    ]}}
    res = run_sweep(sweep_from_data(data), out=tmp_path / "o")
    table = res.table
    assert list(table.columns[:4]) == ["scenario_id", "intake_per_year", "programme.cost_per_year_dkk", SUCCESS]
    first = table[table.scenario_id == 0]
    assert (first["intake_per_year"] == 0.5).all() and first[SUCCESS].isna().all()
    cost = table[(table.metric == "cost_mean") & (table.payer == "municipality") & (table.year == 3)
                 & (table.discounting == "undiscounted")].set_index("scenario_id")["value"]
    assert cost[1] / cost[0] == pytest.approx(4.0, rel=0.02)  # the cost followed the intake scale (x2 / x0.5)


# --- the table ---------------------------------------------------------------------------------------------
def test_results_are_tidy_with_override_columns(tmp_path):
    out = tmp_path / "o"
    result = invoke("sweep", grid_sweep(tmp_path), "--out", out, "--csv")
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["base_config"].endswith("naerbolig.yaml") and meta["overrides"] == [SUCCESS, OVERRUN]
    assert meta["n_scenarios"] == 6 and meta["complete"] is True
    table = pd.read_parquet(out / "results.parquet")
    assert list(table.columns) == ["scenario_id", SUCCESS, OVERRUN, "year", "payer", "discounting", "metric",
                                   "value"]
    assert REQUIRED_METRICS <= set(table["metric"])
    assert set(table["discounting"]) == {"undiscounted", "discounted"}
    keys = ["scenario_id", "year", "payer", "discounting", "metric"]
    assert not table.duplicated(keys).any()
    assert len(table) == 6 * 10 * 5 * 2 * table["metric"].nunique()
    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == len(table) and np.allclose(csv["value"], table["value"], equal_nan=True)
    # a higher success probability is better, a higher overrun worse (common random numbers: no noise)
    p = table[(table.metric == "cumulative_net_mean") & (table.year == 10) & (table.payer == "municipality")
              & (table.discounting == "undiscounted")].set_index([SUCCESS, OVERRUN])["value"]
    assert p[(0.6, 1.0)] > p[(0.5, 1.0)] > p[(0.4, 1.0)] and p[(0.5, 1.2)] < p[(0.5, 1.0)]


def test_a_base_scenario_in_a_sweep_gives_the_numbers_of_simulate_run(tmp_path):
    from simulate.api import run
    from simulate.io import read_scenario

    data = {"base": DEFAULT, "trials": 3000, "seed": 5, "design": {"list": [{OVERRUN: {"kind": "pert", "low": 0.95,
                                                                                         "mode": 1.0, "high": 1.4}}]}}
    table = run_sweep(sweep_from_data(data), out=tmp_path / "o").table
    summary = run(read_scenario(DEFAULT), trials=3000, seed=5).summary
    row = table[(table.metric == "p_break_even") & (table.year == 10) & (table.payer == "municipality")
                & (table.discounting == "undiscounted")]
    assert row["value"].item() == summary["years"][9]["p_break_even"]["value"]


# --- reproducibility ---------------------------------------------------------------------------------------
def test_one_worker_two_workers_and_dask_give_identical_tables(tmp_path):
    sweep = read_sweep(grid_sweep(tmp_path))
    one = run_sweep(sweep, out=tmp_path / "w1").table
    two = run_sweep(sweep, out=tmp_path / "w2", workers=2).table
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    pytest.importorskip("dask.distributed")
    dask = run_sweep(sweep, out=tmp_path / "dask", workers=2, scheduler="local").table
    pd.testing.assert_frame_equal(one, dask, check_exact=True)


def test_a_running_dask_cluster_by_address_gives_the_same_table(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    sweep = read_sweep(grid_sweep(tmp_path, grid={SUCCESS: [0.4, 0.6], OVERRUN: [1.0, 1.3]}))
    one = run_sweep(sweep, out=tmp_path / "w1").table
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        result = invoke("sweep", grid_sweep(tmp_path, grid={SUCCESS: [0.4, 0.6], OVERRUN: [1.0, 1.3]}),
                        "--out", tmp_path / "tcp", "--scheduler", cluster.scheduler_address)
        assert result.exit_code == 0, result.output
    finally:
        cluster.close()
    pd.testing.assert_frame_equal(one, pd.read_parquet(tmp_path / "tcp" / "results.parquet"), check_exact=True)


def test_interrupted_sweep_resumes_to_the_same_table(tmp_path):
    sweep = read_sweep(grid_sweep(tmp_path))
    full = run_sweep(sweep, out=tmp_path / "full").table

    def stop_after_two(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, out=tmp_path / "cut", workers=2, progress=stop_after_two)
    saved = len(done_ids(tmp_path / "cut"))
    assert saved >= 2
    partial = pd.read_parquet(tmp_path / "cut" / "results.parquet")  # what finished is already in the table
    assert partial["scenario_id"].nunique() == len(done_ids(tmp_path / "cut"))
    assert not json.loads((tmp_path / "cut" / "sweep.json").read_text())["complete"]
    ran = []
    resumed = run_sweep(sweep, out=tmp_path / "cut", resume=True, progress=lambda d, t: ran.append(d))
    assert resumed.complete and resumed.n_run == 6 - saved
    assert ran[0] >= 2 and ran[-1] == 6
    pd.testing.assert_frame_equal(full, resumed.table, check_exact=True)


def test_killed_sweep_loses_no_finished_scenario(tmp_path):
    sweep_file = grid_sweep(tmp_path, trials=4000, grid={SUCCESS: [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65],
                                                          OVERRUN: [1.0, 1.2]})
    out = tmp_path / "killed"
    exe = Path(sys.executable).with_name("simulate")
    proc = subprocess.Popen([str(exe), "sweep", str(sweep_file), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(done_ids(out)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    saved = done_ids(out)
    assert 3 <= len(saved) < 16, "the sweep should have been killed midway"
    result = invoke("sweep", sweep_file, "--out", out, "--resume")
    assert result.exit_code == 0, result.output
    assert f"{16 - len(saved)} run now" in result.output
    full = run_sweep(read_sweep(sweep_file), out=tmp_path / "full").table
    pd.testing.assert_frame_equal(full, pd.read_parquet(out / "results.parquet"), check_exact=True)


def test_common_random_numbers_make_differences_between_close_scenarios_precise(tmp_path):
    """The sd of the difference between two close scenarios, over repeated sweeps with different seeds."""
    diffs = {"common": [], "independent": []}
    for streams in diffs:
        for seed in range(8):
            data = {"base": DEFAULT, "trials": 2000, "seed": seed, "streams": streams,
                    "design": {"grid": {SUCCESS: [0.50, 0.52]}}}
            t = run_sweep(sweep_from_data(data), out=tmp_path / f"{streams}{seed}").table
            v = t[(t.metric == "cumulative_net_mean") & (t.year == 10) & (t.payer == "municipality")
                  & (t.discounting == "undiscounted")]["value"].to_numpy()
            diffs[streams].append(v[1] - v[0])
    sd_common, sd_independent = np.std(diffs["common"], ddof=1), np.std(diffs["independent"], ddof=1)
    assert sd_common < sd_independent / 5, (sd_common, sd_independent)
    assert np.mean(diffs["common"]) > 0  # with common numbers every seed sees the better scenario as better


def test_independent_streams_are_keyed_by_the_scenario():
    assert stream_of({SUCCESS: 0.5}) == stream_of({SUCCESS: 0.5}) != stream_of({SUCCESS: 0.52})


# --- bad input ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("grid", "hints"), [
    ({"participants.succes_probability": [0.5]}, ["participants.succes_probability",
                                                   "did you mean 'participants.success_probability'"]),
    ({SUCCESS: [0.5, 1.5]}, [SUCCESS, "probability", "scenario 1"]),
    ({SUCCESS: []}, ["design.grid", "empty"]),
    ({}, ["design.grid", "empty"]),
    ({"intake_per_year[7]": [3]}, ["intake_per_year[7]", "field path"]),
])
def test_bad_sweeps_give_one_clear_message(tmp_path, grid, hints):
    out = tmp_path / "o"
    result = invoke("sweep", grid_sweep(tmp_path, grid=grid), "--out", out)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for hint in hints:
        assert hint in result.output
    assert not out.exists()


def test_unknown_key_in_sweep_file(tmp_path):
    path = write_yaml(tmp_path / "s.yaml", {"base": DEFAULT, "trails": 10, "design": {"grid": {SUCCESS: [0.5]}}})
    result = invoke("sweep", path, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "did you mean 'trials'" in result.output


def test_unreachable_scheduler_keeps_finished_results(tmp_path):
    sweep = read_sweep(grid_sweep(tmp_path))
    out = tmp_path / "o"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, out=out, progress=lambda d, t: (_ for _ in ()).throw(KeyboardInterrupt) if d == 2 else None)
    before = sorted(done_ids(out))
    result = invoke("sweep", grid_sweep(tmp_path), "--out", out, "--resume", "--scheduler", "tcp://127.0.0.1:9",
                    "--scheduler-timeout", "1")
    assert result.exit_code == 2 and "tcp://127.0.0.1:9" in result.output and "Dask scheduler" in result.output
    assert sorted(done_ids(out)) == before and (out / "results.parquet").exists()


def test_missing_dask_gives_an_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    result = invoke("sweep", grid_sweep(tmp_path), "--out", tmp_path / "o", "--scheduler", "local")
    assert result.exit_code == 2 and "pip install 'simulate[dask]'" in result.output


def test_existing_output_needs_resume_or_force(tmp_path):
    path = grid_sweep(tmp_path, grid={SUCCESS: [0.5]})
    out = tmp_path / "o"
    assert invoke("sweep", path, "--out", out).exit_code == 0
    again = invoke("sweep", path, "--out", out)
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = invoke("sweep", path, "--out", out, "--resume")
    assert resumed.exit_code == 0 and "0 run now" in resumed.output
    changed = grid_sweep(tmp_path, grid={SUCCESS: [0.6]})
    refused = invoke("sweep", changed, "--out", out, "--resume")
    assert refused.exit_code == 2 and "same sweep file" in refused.output
    assert invoke("sweep", changed, "--out", out, "--force").exit_code == 0


def test_shipped_sweep_files_are_valid():
    for path in sorted((ROOT / "configs" / "sweeps").glob("*.yaml")):
        sweep = read_sweep(path)
        assert sweep.n_scenarios >= 1 and sweep.paths, path
