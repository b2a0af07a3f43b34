"""Time and memory of a 1,000-scenario x 10,000-trial sweep of the default scenario.

Runs ``simulate sweep configs/sweeps/naerbolig_lhs.yaml --workers N`` (a Latin hypercube over four
NærBolig inputs, 1,000 scenarios, 10,000 trials each) as a subprocess and samples the resident memory
of the whole process tree (the command and its workers) from /proc every 0.2 s.

    .venv/bin/python benchmarks/sweep_1000.py [--workers 2] [--out benchmarks/sweep_1000.tmp]

Prints the wall time and CPU time (other work on the machine inflates the first, not the
second), the peak memory of the process tree and of its largest process, and the
table's size. Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tree_rss_kib(pid: int) -> tuple[int, int]:
    """(sum, max) resident memory in KiB of ``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/status") as fh:
                kib = next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = kib
    total, largest, stack = 0, 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        largest = max(largest, rss.get(p, 0))
        stack.extend(children.get(p, []))
    return total, largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sweep", default=str(ROOT / "configs" / "sweeps" / "naerbolig_lhs.yaml"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "sweep_1000.tmp"))
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    exe = Path(sys.executable).with_name("simulate")
    cmd = [str(exe), "sweep", args.sweep, "--out", str(out), "--workers", str(args.workers), "--no-progress"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak_total = peak_one = 0
    while proc.poll() is None:
        total, largest = tree_rss_kib(proc.pid)
        peak_total, peak_one = max(peak_total, total), max(peak_one, largest)
        time.sleep(0.2)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    if proc.returncode != 0:
        sys.exit(f"sweep failed with exit status {proc.returncode}")
    import pandas as pd

    table = pd.read_parquet(out / "results.parquet")
    size = (out / "results.parquet").stat().st_size
    print(f"command: {' '.join(cmd)}")
    print(f"wall time: {wall:.1f} s; CPU time of all processes: {cpu:.1f} s "
          f"({cpu / os.cpu_count():.1f} s per core on {os.cpu_count()} cores; 1-minute load at the end {load})")
    print(f"peak memory, all processes together: {peak_total / 1024:.0f} MiB; largest process: {peak_one / 1024:.0f} MiB")
    print(f"results.parquet: {table['scenario_id'].nunique()} scenarios, {len(table):,} rows, {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
