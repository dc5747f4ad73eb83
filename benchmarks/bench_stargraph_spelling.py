"""How fast the `tiny` preset learns StarGraph in each spelling: greedy accuracy vs SFT steps, teacher layout only.

    python benchmarks/bench_stargraph_spelling.py [--steps 2500] [--every 250] [--d 2 --l 3 --labels 10]

Both runs use `breadcrumbs train` (the library's trainer) with the same seed, model, batch (16), learning rate
(1e-3, warmup 50, cosine) and problem stream; they differ only in the task's `compact` knob: `u>v` edges and
`a-b-c` paths (0) or one character per node, `uv` edges and `abc` paths (1). Accuracy is greedy, full cache, on
100 held-out problems, every `--every` steps. Results: benchmarks/results/stargraph_spelling.{json,md}.
This is why the demo uses `compact=1` (docs/tasks.md, docs/demo.md).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from common import RESULTS, Run, learning_curve_rows, md_table

from breadcrumbs.training import config_from_dict, train


def run_spelling(compact: int, args: argparse.Namespace, work: Path) -> dict:
    """Train one spelling; return its accuracy curve and wall time."""
    config = config_from_dict(
        {
            "seed": args.seed,
            "log_every": args.every,
            "model": {"name": args.preset},
            "task": {"name": "stargraph", "style": "search", "eval_problems": 100,
                     "difficulty": {"d": args.d, "l": args.l, "labels": args.labels, "compact": compact}},
            "beacon": {"ratios": [4]},
            "sft": {"steps": args.steps, "batch_size": 16, "lr": 1e-3, "warmup_steps": 50, "student_weight": 0.0},
            "eval": {"every": args.every, "max_new_tokens": 64, "ratios": [], "batch_size": 100},
            "checkpoint": {"every": args.steps, "keep": 1},
        }
    )
    run_dir = work / f"compact{compact}"
    started = time.perf_counter()
    train(config, run_dir, progress=False, device="cpu", echo=False)
    wall = time.perf_counter() - started
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    curve = [(r["step"], r["acc_full"]) for r in records if r["kind"] == "eval"]
    losses = [(r["step"], r["ce_teacher"]) for r in records if r["kind"] == "train" and r["step"] % args.every == 0]
    return {"compact": compact, "accuracy": curve, "ce_teacher": losses, "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--d", type=int, default=2)
    parser.add_argument("--l", type=int, default=3)
    parser.add_argument("--labels", type=int, default=10)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = Run("stargraph_spelling", args, torch.device("cpu"))
    with tempfile.TemporaryDirectory() as work:
        results = [run_spelling(compact, args, Path(work)) for compact in (0, 1)]
    rows = learning_curve_rows(results)
    headers = ["SFT step", "default (`u>v`): accuracy", "teacher CE (nats/token)", "compact=1 (`uv`): accuracy",
               "teacher CE (nats/token)"]
    table = md_table(headers, rows)
    walls = ", ".join(f"compact={r['compact']}: {r['wall_s']:.0f} s" for r in results)
    body = (
        f"StarGraph d={args.d}, l={args.l}, labels={args.labels}, search traces; preset `{args.preset}`, batch 16, "
        f"lr 1e-3, teacher layout only, seed {args.seed}. Greedy accuracy on 100 held-out problems.\n\n"
        f"{table}\n\nWall time (training + evaluations): {walls}.\n"
    )
    run.write({"settings": vars(args) | {"out": str(args.out)}, "runs": results}, body,
              "StarGraph: learning speed of the two spellings")


if __name__ == "__main__":
    main()
