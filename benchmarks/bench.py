"""Speed and memory of the engine, measured in one run on the default scenario.

Prints a table and writes benchmarks/results.json. Each measurement of `simulate.run` runs in a fresh
process (so its peak RSS is its own). Usage:

    python benchmarks/bench.py            # the full set (about 7 minutes on 2 cores)
    python benchmarks/bench.py --quick    # 10^5 and 10^6 only
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE.parent / "configs" / "naerbolig.yaml"

RUN = """
import json, resource, sys, time
from simulate.api import run
from simulate.io import read_scenario
s = read_scenario({config!r})
t0 = time.perf_counter()
r = run(s, trials={trials}, seed=1, engine={engine!r}, workers={workers})
dt = time.perf_counter() - t0
def peak_mib():  # this process's own peak: ru_maxrss also counts the parent's memory at fork, kept across exec
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": dt, "rss_mib": peak_mib(),
                  "p_break_even_10": r.summary["years"][-1]["p_break_even"]["value"],
                  "mean_10": r.summary["years"][-1]["cumulative_net"]["mean"]}}))
"""


def measure_run(trials: int, engine: str = "fast", workers: int = 1, kernels: str = "compiled") -> dict:
    """One ``simulate.run`` in a fresh process; ``kernels="numpy"`` runs it without the compiled kernels."""
    code = RUN.format(config=str(CONFIG), trials=trials, engine=engine, workers=workers)
    env = {**os.environ, "SIMULATE_KERNELS": "numpy" if kernels == "numpy" else ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(trials=trials, engine=engine, workers=workers, kernels=kernels, trials_per_s=trials / res["seconds"])
    return res


def random_floor(trials: int) -> dict:
    """Only the fast engine's random draws, with its distributions and shapes: the inputs, and one 16-bit
    integer per young person (four from each 64-bit word)."""
    from simulate import kernels
    from simulate.api import block_rng, blocks_of
    from simulate.io import read_scenario
    from simulate.sampling import child_rng, draw_inputs

    s = read_scenario(CONFIG)
    youths = int(sum(int(x) for x in s.intake()))
    t0 = time.perf_counter()
    for block, n in blocks_of(trials):
        rng = block_rng(1, block, 0)
        draw_inputs(s, n, rng)
        kernels.random_raw(child_rng(rng, "outcomes"), -(-youths * n // 4))  # as the engine draws them
    dt = time.perf_counter() - t0
    return {"trials": trials, "seconds": dt, "trials_per_s": trials / dt}


def profile_parts(blocks: int = 20) -> dict:
    """Where the time of one block goes: nanoseconds per trial of each step of a run (best of ``blocks``)."""
    from simulate import budget, metrics
    from simulate.api import LifetimeNeed, block_rng, tune_malloc
    from simulate.engine import simulate
    from simulate.io import read_scenario
    from simulate.sampling import draw_inputs

    tune_malloc()  # as simulate.run does
    s = read_scenario(CONFIG)
    need = LifetimeNeed(frozenset({c.payer for c in s.claims}), frozenset(c.year - 1 for c in s.claims))
    opts = budget.check_budget_options(s)
    n = 2**14

    def best(f):
        f()
        times = []
        for b in range(blocks):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        return min(times) / n * 1e9

    traj = simulate(s, n, block_rng(1, 0), lifetime=need)
    core, worst = budget.new_core(traj)  # as simulate.run does: the budget's cash view comes from the first pass
    first = metrics.first_pass(traj, "realised", core=core, worst=worst)
    summary_acc = metrics.reduce_block(traj, accounting="realised", claims=s.claims, first=first)
    budget_acc = budget.reduce_block(traj, opts, core=core, worst=worst, stats=first[2])
    blocks_a, blocks_b = itertools.count(1), itertools.count(1)
    parts = {
        "drawing the inputs": best(lambda: draw_inputs(s, n, block_rng(1, 0))),
        "engine (inputs, successes, relapses, counterfactual, claims' lifetime tail)":
            best(lambda: simulate(s, n, block_rng(1, 0), lifetime=need)),
        "engine without the lifetime tail": best(lambda: simulate(s, n, block_rng(1, 0), lifetime=False)),
        "first pass (cumulative nets of 5 payers x 2 discountings x 10 years, the budget's rows; each series' "
        "range, mean and break-even counts; savings, cost and ROI sums)":
            best(lambda: metrics.first_pass(traj, "realised", core=core, worst=worst)),
        # into an accumulator of earlier blocks, as a run adds every block after its first
        "summary aggregates (histograms, squared deviations, payback, claims)":
            best(lambda: metrics.reduce_block(traj, accounting="realised", claims=s.claims, first=first,
                                              block=next(blocks_a), into=summary_acc)),
        "budget aggregates (funding need, yearly net, thresholds)":
            best(lambda: budget.reduce_block(traj, opts, core=core, worst=worst, stats=first[2],
                                             block=next(blocks_b), into=budget_acc)),
    }
    return {k: round(v, 1) for k, v in parts.items()}


def python_loop(trials: int) -> dict:
    """The same model as a plain per-trial Python loop (inputs drawn up front, outcomes per young person)."""
    import random

    import numpy as np

    from simulate.io import read_scenario
    from simulate.sampling import draw_inputs

    s = read_scenario(CONFIG)
    v = draw_inputs(s, trials, np.random.default_rng(1))
    rnd = random.Random(1)
    H = s.horizon_years
    t0 = time.perf_counter()
    nets = []
    for i in range(trials):
        def x(path):
            val = v[path]
            return float(val[i]) if isinstance(val, np.ndarray) else float(val)
        q = (1 - x("participants.dropout_probability")) * x("participants.success_probability")
        r = x("participants.effect.relapse_probability_per_year")
        f = x("participants.intake_year_effect_fraction")
        base = "counterfactual.states."
        unit = [x(base + "passive_support.cost_per_year_dkk.benefit.amount_dkk") * 0.8,
                x(base + "homeless.cost_per_year_dkk.shelter.amount_dkk") * 0.6, 0.0]
        p_h = x("counterfactual.initial_distribution.homeless")
        T = [[0.0] * 3 for _ in range(3)]
        T[0][1] = x("counterfactual.transitions.passive_support.homeless")
        T[0][2] = x("counterfactual.transitions.passive_support.self_supporting")
        T[1][0] = x("counterfactual.transitions.homeless.passive_support")
        T[2][0] = x("counterfactual.transitions.self_supporting.passive_support")
        for a in range(3):
            T[a][a] = 1 - sum(T[a])
        shares, e = [1 - p_h, p_h, 0.0], []
        for k in range(H):
            e.append(sum(shares[j] * unit[j] for j in range(3)))
            shares = [sum(shares[a] * T[a][b] for a in range(3)) for b in range(3)]
        cost = x("programme.cost_per_year_dkk") * x("programme.cost_overrun") * 0.4
        cum, total = [], 0.0
        active = [0] * H
        for y in range(H):
            saving = 0.0
            for c in range(y + 1):
                if c == y:
                    active[c] = sum(rnd.random() < q for _ in range(10))
                    saving += active[c] * f * e[0]
                else:
                    active[c] -= sum(rnd.random() < r for _ in range(active[c]))
                    saving += active[c] * e[y - c]
            total += saving - cost
            cum.append(total)
        nets.append(cum)
    dt = time.perf_counter() - t0
    return {"trials": trials, "seconds": dt, "trials_per_s": trials / dt, "mean_10": sum(n[-1] for n in nets) / trials}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10^5 and 10^6 only")
    args = ap.parse_args()
    sizes = [10**5, 10**6] if args.quick else [10**5, 10**6, 10**7]
    rows = []
    for n in sizes:
        for engine in ("fast", "reference"):
            res = measure_run(n, engine)
            rows.append(res)
            print(f"simulate.run {engine:9s} {n:>10,} trials: {res['trials_per_s']:>11,.0f} trials/s  "
                  f"peak RSS {res['rss_mib']:6.0f} MiB", flush=True)
    from simulate import kernels

    compiled = kernels.COMPILED
    print(f"compiled kernels: {'in use' if compiled else 'not built (NumPy only)'}", flush=True)
    numpy_only = measure_run(sizes[1], "fast", kernels="numpy") if compiled else None
    if numpy_only:
        print(f"simulate.run fast, NumPy only (SIMULATE_KERNELS=numpy), {sizes[1]:,} trials: "
              f"{numpy_only['trials_per_s']:,.0f} trials/s  peak RSS {numpy_only['rss_mib']:.0f} MiB", flush=True)
    parts = profile_parts()
    print("where the time goes, ns per trial (one block of 16,384, best of 20):")
    for k, v in parts.items():
        print(f"  {v:8.1f}  {k}")
    floor = random_floor(sizes[-1] if args.quick else 10**6)
    print(f"random-number floor of the fast engine: {floor['trials_per_s']:,.0f} trials/s", flush=True)
    loop = python_loop(10**4)
    print(f"plain per-trial Python loop, 10^4 trials: {loop['trials_per_s']:,.0f} trials/s", flush=True)
    # one worker, two workers, then both again: each the better of its two runs, so that a moment when another
    # process holds the second core does not decide the ratio
    n_workers = sizes[-1]
    w1_runs = [next(r for r in rows if r["engine"] == "fast" and r["trials"] == n_workers)]
    w2_runs = [measure_run(n_workers, "fast", workers=2)]
    w1_runs.append(measure_run(n_workers, "fast", workers=1))
    w2_runs.append(measure_run(n_workers, "fast", workers=2))

    def rates(runs):
        return ", ".join(f"{r['trials_per_s']:,.0f}" for r in runs)

    w1 = max(w1_runs, key=lambda r: r["trials_per_s"])
    w2 = max(w2_runs, key=lambda r: r["trials_per_s"])
    same = all(r["mean_10"] == w1["mean_10"] and r["p_break_even_10"] == w1["p_break_even_10"]
               for r in w1_runs + w2_runs)
    print(f"--workers 2 at {n_workers:,}: {w2['trials_per_s']:,.0f} trials/s "
          f"({w2['trials_per_s'] / w1['trials_per_s']:.2f}x one worker, each the better of two runs: "
          f"{rates(w2_runs)} against {rates(w1_runs)}; identical results: {same})", flush=True)
    ratios = {n: next(r for r in rows if r["engine"] == "fast" and r["trials"] == n)["trials_per_s"]
              / next(r for r in rows if r["engine"] == "reference" and r["trials"] == n)["trials_per_s"]
              for n in sizes}
    print("fast / reference: " + ", ".join(f"{n:,}: {x:.2f}x" for n, x in ratios.items()))
    doc = {"machine": platform.platform(), "python": sys.version.split()[0], "config": CONFIG.name,
           "compiled_kernels": compiled, "runs": rows, "numpy_only": numpy_only,
           "profile_ns_per_trial": parts, "random_floor": floor, "python_loop": loop, "workers_2": w2,
           "workers_runs": {"1": w1_runs, "2": w2_runs}, "speedup_workers_2": w2["trials_per_s"] / w1["trials_per_s"],
           "fast_over_reference": ratios,
           "measured": time.strftime("%Y-%m-%d %H:%M:%S")}
    (HERE / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {HERE / 'results.json'}")


if __name__ == "__main__":
    main()
