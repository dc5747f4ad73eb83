"""How fast a small model learns Countdown search traces in each move order: greedy accuracy vs SFT steps.

    python benchmarks/bench_countdown_order.py [--steps 2000] [--every 250] [--preset tiny]

Both runs use the library's trainer with the same seed, model, batch (16), learning rate, problem stream and
difficulty (k=3 numbers from 1..9, targets up to 50, at least one failed subtree); they differ only in the task's
`order` knob: children tried closest-to-target first (0: the next move needs a sort of every move at the node) or
in a fixed order (1: pairs in board order, then + - * /; the next move is the one after the last tried at this
depth). Teacher layout only; accuracy is greedy, full cache, on 100 held-out problems every `--every` steps. The two
arms run side by side as two one-thread processes. Results: benchmarks/results/countdown_order.{json,md}.
This is why the Countdown experiment uses `order=1` (docs/experiments/countdown.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import RESULTS, Run, learning_curve_rows, md_table

DIFFICULTY = {"k": 3, "max_number": 9, "max_target": 50, "backtracks": 1}


def train_arm(order: int, args: argparse.Namespace, run_dir: Path) -> None:
    """Train one arm (in this process, one thread)."""
    from breadcrumbs.training import config_from_dict, train

    torch.set_num_threads(args.threads)
    config = config_from_dict(
        {
            "seed": args.seed,
            "log_every": args.every,
            "model": {"name": args.preset},
            "task": {"name": "countdown", "style": "search", "eval_problems": 100,
                     "difficulty": DIFFICULTY | {"order": order}},
            "beacon": {"ratios": [8]},
            "sft": {"steps": args.steps, "batch_size": 16, "lr": args.lr, "warmup_steps": 50, "student_weight": 0.0},
            "eval": {"every": args.every, "max_new_tokens": 416, "ratios": [], "batch_size": 100},
            "checkpoint": {"every": args.steps, "keep": 1},
        }
    )
    train(config, run_dir, progress=False, device=args.device, echo=False)


def read_arm(order: int, run_dir: Path, wall: float, every: int) -> dict:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    curve = [(r["step"], r["acc_full"]) for r in records if r["kind"] == "eval"]
    losses = [(r["step"], r["ce_teacher"]) for r in records if r["kind"] == "train" and r["step"] % every == 0]
    return {"order": order, "accuracy": curve, "ce_teacher": losses, "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per arm (two arms run side by side)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda (both arms share the GPU)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--arm", type=int, default=None, help=argparse.SUPPRESS)  # internal: train one arm
    parser.add_argument("--run-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm is not None:
        train_arm(args.arm, args, args.run_dir)
        return
    run = Run("countdown_order", args, torch.device(args.device))
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        children = {
            order: subprocess.Popen([sys.executable, __file__, *sys.argv[1:], "--arm", str(order),
                                     "--run-dir", str(Path(work) / f"order{order}")])
            for order in (0, 1)
        }
        walls = {}
        for order, child in children.items():
            if child.wait():
                raise SystemExit(f"arm order={order} failed (exit {child.returncode})")
            walls[order] = time.perf_counter() - started
        results = [read_arm(order, Path(work) / f"order{order}", walls[order], args.every) for order in (0, 1)]
    rows = learning_curve_rows(results)
    headers = ["SFT step", "closest-first (order=0): accuracy", "teacher CE", "fixed order (order=1): accuracy",
               "teacher CE"]
    walls_text = ", ".join(f"order={r['order']}: {r['wall_s']:.0f} s" for r in results)
    body = (
        f"Countdown {DIFFICULTY}, search traces; preset `{args.preset}`, batch 16, lr {args.lr}, teacher layout only, "
        f"seed {args.seed}. Greedy accuracy on 100 held-out problems.\n\n{md_table(headers, rows)}\n\n"
        f"Wall time (training + evaluations, the two arms side by side, one thread each): {walls_text}.\n"
    )
    run.write({"settings": vars(args) | {"out": str(args.out)}, "runs": results}, body,
              "Countdown: learning speed of the two move orders")


if __name__ == "__main__":
    main()
