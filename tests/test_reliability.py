"""Interruptions, numerical edge cases, exact repetition and the exit-code contract."""

from __future__ import annotations

import copy
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulate.api import run
from simulate.cli import cli
from simulate.io import summary_text
from tests.conftest import CONFIGS, load, scenario, write_yaml

SIMULATE = str(Path(sys.executable).parent / "simulate")
DEFAULT = str(CONFIGS / "naerbolig.yaml")


# --- interruptions ------------------------------------------------------------------------------------------
def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def complete(files: dict, trials: int) -> bool:
    if set(files) != {"summary.json", "yearly.csv", "manifest.json"}:
        return False
    return json.loads(files["summary.json"])["trials"] == trials and json.loads(files["manifest.json"])


KILLS = [(sig, delay) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
         for delay in random.Random(7).sample([0.3, 0.8, 1.4, 2.2, 3.0], 2)]


@pytest.mark.parametrize(("sig", "delay"), KILLS, ids=[f"{s.name}-{d}" for s, d in KILLS])
def test_killed_run_leaves_previous_or_complete_outputs(tmp_path, sig, delay):
    out = tmp_path / "out"
    subprocess.run([SIMULATE, "run", DEFAULT, "--trials", "2000", "--out", str(out)], check=True,
                   capture_output=True)
    before = snapshot(out)
    trials = 1_200_000  # long enough that most kills land mid-run (a run of 400,000 could end by 1.4 s)
    proc = subprocess.Popen([SIMULATE, "run", DEFAULT, "--trials", str(trials), "--workers", "2", "--out",
                             str(out), "--force"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    after = snapshot(out)
    if proc.returncode == 0:  # finished before the signal
        assert complete(after, trials)
    elif sig == signal.SIGKILL and after != before:
        # nothing catches SIGKILL: killed once the new outputs were in place, or between the swap's two renames
        # (the previous outputs then wait beside the folder, and the next run puts them back: tested below)
        assert complete(after, trials) or after == {}
    else:
        assert after == before, "an interrupted run changed the previous outputs"
        if sig == signal.SIGINT:
            assert proc.returncode == 130
        if sig == signal.SIGTERM:
            assert proc.returncode == 143
        if sig != signal.SIGKILL:
            assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    # the next run tidies whatever a killed one left beside the output and completes
    subprocess.run([SIMULATE, "run", DEFAULT, "--trials", "3000", "--out", str(out), "--force"], check=True,
                   capture_output=True)
    assert complete(snapshot(out), 3000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_killed_between_swap_steps_restores_previous(tmp_path):
    """A kill after the old result was moved aside but before the new one arrived: the next run restores it."""
    out = tmp_path / "out"
    runner = CliRunner()
    assert runner.invoke(cli, ["run", DEFAULT, "--trials", "1000", "--out", str(out)]).exit_code == 0
    before = snapshot(out)
    aside = tmp_path / ".out.old-123"
    aside.mkdir()
    os.rename(out, aside / "previous")
    (tmp_path / ".out.partial-999999999-x").mkdir()  # a dead process's staging directory
    result = runner.invoke(cli, ["run", DEFAULT, "--trials", "1000", "--out", str(out)])
    assert result.exit_code == 2 and "--force" in result.output  # the previous result is back, so not replaced
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- numerical edge cases ---------------------------------------------------------------------------------------------
def brochure_with(**changes) -> dict:
    data = copy.deepcopy(load("naerbolig_brochure.yaml"))
    for path, value in changes.items():
        node = data
        keys = path.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return data


EDGES = {
    "success_0": (brochure_with(participants__success_probability=0), "nobody succeeds"),
    "success_1": (brochure_with(participants__success_probability=1), "every participant succeeds"),
    "zero_intake": (brochure_with(intake_per_year=0), "intake is 0"),
    "horizon_1": (brochure_with(horizon_years=1, claims=[]), None),
    "horizon_50": (brochure_with(horizon_years=50), None),
    "zero_costs": (brochure_with(programme__cost_per_year_dkk=0), "ROI is undefined"),
    "all_fixed": (load("naerbolig_brochure.yaml"), "every input is fixed"),
}


def correlated(rho_ab: float, rho_bc: float, rho_ac: float) -> dict:
    data = copy.deepcopy(load("naerbolig.yaml"))
    a, b, c = "participants.success_probability", "participants.dropout_probability", "programme.cost_overrun"
    data["correlations"] = [{"between": [a, b], "rank_correlation": rho_ab},
                            {"between": [b, c], "rank_correlation": rho_bc},
                            {"between": [a, c], "rank_correlation": rho_ac}]
    return data


EDGES["correlation_plus_1"] = (correlated(1.0, 1.0, 1.0), "lockstep")
EDGES["correlation_minus_1"] = (correlated(-1.0, 0.0, 0.0), "lockstep")
EDGES["near_singular"] = (correlated(0.999, 0.999, 0.9961), "nearly singular")


@pytest.mark.parametrize("name", list(EDGES))
@pytest.mark.parametrize("trials", [1, 3000])
def test_edge_cases_give_finite_outputs_and_name_the_degenerate_case(name, trials, tmp_path):
    data, warning = EDGES[name]
    config = write_yaml(tmp_path / f"{name}.yaml", data)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(config), "--trials", str(trials), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "summary.json").read_text()
    summary = json.loads(text)  # strict JSON: no NaN or Infinity tokens
    assert "NaN" not in text and "Infinity" not in text
    assert "nan" not in (out / "yearly.csv").read_text().lower().replace("municipality", "")
    if warning:
        assert any(warning in w for w in summary["warnings"]), summary["warnings"]
    if trials == 1:
        assert any("single trial" in w for w in summary["warnings"])
    for y in summary["years"]:
        c = y["cumulative_net"]
        assert all(v is not None and math.isfinite(v) for v in c.values())


def test_deterministic_outcomes_make_monte_carlo_equal_the_expected_mode():
    s = scenario(EDGES["success_1"][0])
    mc = run(s, trials=5000).summary
    ex = run(s, mode="expected").summary
    for a, b in zip(mc["years"], ex["years"]):
        assert a["cumulative_net"]["mean"] == pytest.approx(b["cumulative_net"]["mean"], abs=1e-6)
        assert a["cumulative_net"]["sd"] == 0 and a["cumulative_net"]["p5"] == a["cumulative_net"]["p95"]


def test_all_inputs_fixed_monte_carlo_mean_is_the_expected_mode():
    s = scenario(load("naerbolig_brochure.yaml"))
    mc = run(s, trials=100_000, seed=2).summary
    ex = run(s, mode="expected").summary
    for a, b in zip(mc["years"], ex["years"]):
        assert abs(a["cumulative_net"]["mean"] - b["cumulative_net"]["mean"]) < 4 * a["cumulative_net"]["mean_se"]


# --- exact repetition ------------------------------------------------------------------------------------------------------
def test_rerun_reproduces_summary_bit_for_bit(tmp_path):
    out = tmp_path / "run"
    runner = CliRunner()
    assert runner.invoke(cli, ["run", DEFAULT, "--trials", "40000", "--seed", "9", "--out", str(out),
                               "--workers", "2"]).exit_code == 0
    result = runner.invoke(cli, ["rerun", str(out), "--out", str(tmp_path / "again"), "--lang", "en"])
    assert result.exit_code == 0 and "identical, bit for bit" in result.output
    assert (tmp_path / "again" / "summary.json").read_bytes() == (out / "summary.json").read_bytes()


def test_rerun_says_when_versions_differ_and_results_differ(tmp_path):
    out = tmp_path / "run"
    runner = CliRunner()
    assert runner.invoke(cli, ["run", DEFAULT, "--trials", "2000", "--out", str(out)]).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["versions"]["numpy"] = "0.0.1"
    (out / "manifest.json").write_text(json.dumps(manifest))
    summary = json.loads((out / "summary.json").read_text())
    summary["years"][0]["cumulative_net"]["mean"] += 1
    (out / "summary.json").write_text(summary_text(summary))
    result = runner.invoke(cli, ["rerun", str(out)])
    assert result.exit_code == 1
    assert "numpy 0.0.1" in result.output and "years[0].cumulative_net.mean" in result.output
    assert "IKKE genskabt" in result.output and "den sandsynlige årsag" in result.output


def test_identical_results_across_repeated_runs_chunks_and_workers():
    s = scenario(load("ungifokus.yaml"))
    runs = [run(s, trials=40_000, seed=3, chunk_blocks=c, workers=w).summary for c, w in ((1, 1), (2, 2), (4, 1))]
    runs.append(run(s, trials=40_000, seed=3).summary)
    texts = {summary_text(r) for r in runs}
    assert len(texts) == 1


# --- contract -------------------------------------------------------------------------------------------------------------------
def test_internal_error_exits_1_with_a_report_line(monkeypatch, tmp_path):
    import simulate.api

    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(simulate.api, "run", boom)
    result = CliRunner().invoke(cli, ["run", DEFAULT, "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "report it" in result.output
    assert not (tmp_path / "o").exists()


def test_unwritable_output_is_refused_before_work(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        result = CliRunner().invoke(cli, ["run", DEFAULT, "--out", str(locked / "o")])
        assert result.exit_code == 2 and "writable" in result.output
    finally:
        locked.chmod(0o700)


def test_output_below_a_file_is_refused_before_work(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    result = CliRunner().invoke(cli, ["run", DEFAULT, "--out", str(blocker / "sub" / "o")])
    assert result.exit_code == 2 and "writable" in result.output
    assert blocker.read_text() == "x"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_sweep_says_one_line_keeps_finished_scenarios_and_resumes(tmp_path, sig):
    import pandas as pd
    import yaml

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({
        "base": DEFAULT, "trials": 3000,
        "design": {"grid": {"participants.success_probability": [0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
                            "programme.cost_overrun": [1.0, 1.1, 1.2]}}}))
    out = tmp_path / "out"
    proc = subprocess.Popen([SIMULATE, "sweep", str(sweep), "--out", str(out), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    parts = out / "parts"
    while proc.poll() is None and time.monotonic() < deadline and len(list(parts.glob("*"))) < 3:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    if proc.returncode != 0:
        assert proc.returncode == (130 if sig == signal.SIGINT else 143)
        assert "Traceback" not in stderr and "--resume" in stderr and len(stderr.strip().splitlines()) == 1, stderr
    resumed = subprocess.run([SIMULATE, "sweep", str(sweep), "--out", str(out), "--resume"], capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr
    whole = subprocess.run([SIMULATE, "sweep", str(sweep), "--out", str(tmp_path / "whole")], capture_output=True,
                           text=True)
    assert whole.returncode == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"),
                                  pd.read_parquet(tmp_path / "whole" / "results.parquet"), check_exact=True)


SWAP_WITH_A_SIGNAL = """
import os, signal, sys
from pathlib import Path
from simulate import io as sio
out = Path(sys.argv[1])
sio.OutputDir.hold_signals_after_commit = sys.argv[2] == "hold"
rename = os.rename
def rename_and_interrupt(src, dst):
    os.kill(os.getpid(), signal.SIGINT)  # arrives between the two renames of the swap
    rename(src, dst)
try:
    with sio.OutputDir(out, force=True) as stage:
        (stage / "new.txt").write_text("new")
        sio.os.rename = rename_and_interrupt
    print("after the swap", flush=True)
except KeyboardInterrupt:
    print("interrupted after the swap", flush=True)
    sys.exit(130)
"""


@pytest.mark.parametrize("hold", [False, True], ids=["library", "command line"])
def test_a_signal_during_the_swap_waits_until_the_outputs_are_in_place(tmp_path, hold):
    """Ctrl-C while the new outputs replace the old ones is held until the swap is done: never a half swap. A
    library caller then gets the KeyboardInterrupt; the command line ends at once with status 0, its run being
    finished."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    proc = subprocess.run([sys.executable, "-c", SWAP_WITH_A_SIGNAL, str(out), "hold" if hold else "library"],
                          capture_output=True, text=True, timeout=60)
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    if hold:
        assert proc.returncode == 0 and proc.stdout == "", (proc.returncode, proc.stdout, proc.stderr)
    else:
        assert proc.returncode == 130 and proc.stdout == "interrupted after the swap\n", proc.stderr


def test_a_finished_run_whose_printout_is_stuck_can_still_be_stopped(tmp_path):
    """Once the outputs are in place, SIGTERM ends the command line at once with status 0, even while it is
    blocked writing its --json printout to a pipe that nobody reads."""
    out = tmp_path / "out"
    with subprocess.Popen([SIMULATE, "run", DEFAULT, "--trials", "2000", "--out", str(out), "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            deadline = time.monotonic() + 60
            while not (out / "summary.json").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # the printout (larger than a pipe's buffer) is now blocked
            assert proc.poll() is None
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            proc.kill()
    assert complete(snapshot(out), 2000)


def test_an_error_during_the_swap_is_not_hidden_by_a_signal(tmp_path, monkeypatch):
    """A rename that fails while a Ctrl-C is held: the error is what the caller sees, the handlers are back, and
    the next run puts the previous outputs back in place."""
    from simulate import io as sio

    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    rename, calls = os.rename, []

    def rename_then_fail(src, dst):
        calls.append(src)
        if len(calls) == 2:  # the new outputs' rename, after the old ones were moved aside
            os.kill(os.getpid(), signal.SIGINT)
            raise OSError(18, "Invalid cross-device link")
        rename(src, dst)

    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(OSError, match="cross-device"):
        with sio.OutputDir(out, force=True) as stage:
            (stage / "new.txt").write_text("new")
            monkeypatch.setattr(sio.os, "rename", rename_then_fail)
    monkeypatch.setattr(sio.os, "rename", rename)
    assert signal.getsignal(signal.SIGINT) is handler
    with sio.OutputDir(out, force=True) as stage:  # the next run restores, then replaces
        assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
        (stage / "new.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
