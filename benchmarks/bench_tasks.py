"""Benchmark the task library: generation speed, solve+verify throughput, and trace lengths per difficulty.

Run from the repository root:

    python benchmarks/bench_tasks.py [--n 10000] [--grid-n 1000]

Writes benchmarks/results/tasks.json and benchmarks/results/tasks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

from breadcrumbs.tasks import get_task, list_tasks
from breadcrumbs.tasks.base import STYLES
from breadcrumbs.tasks.stats import trace_stats

RESULTS = Path(__file__).parent / "results"
# Difficulties whose trace lengths are tabulated ({} = the task's defaults).
GRID = {
    "countdown": [{"k": 3, "backtracks": 0}, {"k": 3}, {"k": 4, "backtracks": 0}, {}, {"k": 4, "backtracks": 2},
                  {"k": 5}, {"k": 6}],
    "linsys": [{"unknowns": 2, "max_coef": 3, "max_value": 5}, {"unknowns": 2}, {}, {"unknowns": 4}, {"unknowns": 5}],
    "stargraph": [{"d": 2, "l": 3}, {"d": 3, "l": 4}, {"d": 4, "l": 5}, {}, {"d": 8, "l": 10}],
}


def timed(fn):
    """(result, CPU seconds of this process): robust to other load on a shared machine."""
    start = time.process_time()
    result = fn()
    return result, time.process_time() - start


def throughput(name: str, n: int) -> dict:
    """Seconds to generate n default problems, and solve+verify rates per style."""
    task = get_task(name)
    problems, generate_s = timed(lambda: task.generate(n, seed=0))
    row = {"task": name, "n": n, "difficulty": task.default_difficulty(), "generate_s": generate_s,
           "generate_per_s": n / generate_s}
    for style in STYLES:
        traces, solve_s = timed(lambda: [task.solve(p, style) for p in problems])
        rewards, verify_s = timed(lambda: [task.verify(p, t) for p, t in zip(problems, traces)])
        assert sum(rewards) == n, f"{name} {style}: a solver trace failed its verifier"
        row[f"{style}_solve_per_s"] = n / solve_s
        row[f"{style}_verify_per_s"] = n / verify_s
    return row


def lengths(name: str, difficulty: dict, n: int) -> dict:
    task = get_task(name)
    problems = task.generate(n, seed=1, **difficulty)
    return {"task": name, "difficulty": problems[0].difficulty, "n": n, "stats": trace_stats(task, problems)}


def machine() -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "python": platform.python_version(), "breadcrumbs": version("breadcrumbs"),
        "git_commit": commit, "load_average_at_start": os.getloadavg(),
    }


def markdown(report: dict) -> str:
    info = report["machine"]
    out = [
        "# Task library benchmark", "",
        f"Command: `{report['command']}`", "",
        f"Machine: {info['platform']}, {info['processor']}, {info['cpus']} CPUs; Python {info['python']}, "
        f"breadcrumbs {info['breadcrumbs']} (commit {info['git_commit']}). Single process; times are this "
        f"process's CPU seconds (load average at start: {info['load_average_at_start'][0]:.1f}).", "",
        "## Throughput at default difficulty (problems per second)", "",
        "| task | difficulty | generate all (CPU s) | generate/s | solve search/s | solve direct/s "
        "| verify search/s | verify direct/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["throughput"]:
        knobs = " ".join(f"{k}={v}" for k, v in r["difficulty"].items())
        out.append(
            f"| {r['task']} | {knobs} | {r['generate_s']:.2f} | {r['generate_per_s']:,.0f} | "
            f"{r['search_solve_per_s']:,.0f} | {r['direct_solve_per_s']:,.0f} | {r['search_verify_per_s']:,.0f} | "
            f"{r['direct_verify_per_s']:,.0f} |"
        )
    out += [
        "", f"## Trace lengths in tokens (= characters; completion only, prompt separate), {report['grid_n']} "
        "problems per row, seed 1", "",
        "| task | difficulty | prompt mean | search mean | search p50 | search p90 | search max "
        "| direct mean | direct p90 | direct max |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["lengths"]:
        s, d, p = r["stats"]["search"], r["stats"]["direct"], r["stats"]["prompt"]
        knobs = " ".join(f"{k}={v}" for k, v in r["difficulty"].items())
        out.append(
            f"| {r['task']} | {knobs} | {p['mean']:.0f} | {s['mean']:.0f} | {s['p50']} | {s['p90']} | {s['max']} | "
            f"{d['mean']:.0f} | {d['p90']} | {d['max']} |"
        )
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="problems per task for throughput")
    parser.add_argument("--grid-n", type=int, default=1_000, help="problems per difficulty for trace lengths")
    args = parser.parse_args()
    report = {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        "grid_n": args.grid_n,
        "throughput": [throughput(name, args.n) for name in list_tasks()],
        "lengths": [lengths(name, d, args.grid_n) for name in list_tasks() for d in GRID[name]],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tasks.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "tasks.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
