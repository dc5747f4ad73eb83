"""Overhead of the beacon distillation term: one joint RL + distillation step vs the RL-only step, same batch.

    python benchmarks/bench_train_step.py [--preset tiny] [--repeats 5] [--batch 32] [--group 8] [--tokens 128]

A "step" is what `breadcrumbs train` does per RL step: sample the rollouts with the full cache (shared generation
loop), score them, then one optimizer update. Every variant runs on the same rollouts (sampled once for the update
timings; generation is timed on its own each repeat and added), interleaved repeat by repeat so machine load hits
every variant alike; the median is reported. Variants: RL only; joint at c=4; joint with mixed ratios [2, 4, 8];
joint at c=4 without the fused teacher+student forward. Results: benchmarks/results/train_step.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from breadcrumbs.models import build_preset_model
from breadcrumbs.tasks import get_task
from breadcrumbs.training.config import DistillConfig, RLConfig
from breadcrumbs.training.data import sample_ratios
from breadcrumbs.training.rl import collect_rollouts, rl_loss
from breadcrumbs.training.runtime import Runtime

RESULTS = Path(__file__).parent / "results"


def update_time(rt, optimizer, rollouts, rl_cfg, distill_cfg, distill_weight) -> float:
    started = time.perf_counter()
    tokens = float(sum(len(c) for c in rollouts.completions))
    loss, _ = rl_loss(rt, rollouts, rl_cfg, distill_cfg, 1.0, distill_weight, tokens)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(rt.model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--task", default="countdown")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128, help="max new tokens per rollout")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mixed", default="2,4,8", help="ratios of the mixed-ratio variant, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "train_step"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = build_preset_model(args.preset, seed=0)
    model.train()
    rt = Runtime(model, model, tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)  # tiny lr: the weights barely move between repeats
    task = get_task(args.task)
    problems = task.generate(args.batch // args.group, 0, **({"k": 3} if args.task == "countdown" else {}))
    rl_cfg = RLConfig(batch_size=args.batch, group_size=args.group, max_new_tokens=args.tokens)
    variants = {
        "rl_only": (DistillConfig(mode="off"), 0.0, [4]),
        "joint_c4": (DistillConfig(), 1.0, [4]),
        f"joint_mixed_{args.mixed.replace(',', '_')}": (DistillConfig(), 1.0, [int(r) for r in args.mixed.split(",")]),
        "joint_c4_unfused": (DistillConfig(fused_forward=False), 1.0, [4]),
    }
    rollouts = {name: None for name in variants}
    base = collect_rollouts(rt, task, problems, rl_cfg, [4] * args.batch, seed=0)
    for name, (_, _, ratios) in variants.items():
        batch = base.rows(range(len(base)))
        batch.ratios = sample_ratios(ratios, len(batch), seed=1)
        rollouts[name] = batch
    generation, updates = [], {name: [] for name in variants}
    for repeat in range(args.repeats + 1):  # the first round warms up and is dropped
        started = time.perf_counter()
        collect_rollouts(rt, task, problems, rl_cfg, [4] * args.batch, seed=repeat)
        gen = time.perf_counter() - started
        times = {name: update_time(rt, optimizer, rollouts[name], rl_cfg, cfg, w) for name, (cfg, w, _) in variants.items()}
        if repeat:
            generation.append(gen)
            for name, value in times.items():
                updates[name].append(value)
    gen_median = statistics.median(generation)
    rows = {}
    for name in variants:
        update = statistics.median(updates[name])
        rows[name] = {"update_s": update, "step_s": gen_median + update, "update_s_all": updates[name]}
    baseline = rows["rl_only"]
    for name, row in rows.items():
        row["step_ratio_vs_rl_only"] = row["step_s"] / baseline["step_s"]
        row["update_ratio_vs_rl_only"] = row["update_s"] / baseline["update_s"]
    generated = sum(len(c) for c in base.completions)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "device": "cuda" if torch.cuda.is_available() and model.device.type == "cuda" else "cpu",
                    "note": "2 CPU cores shared with other jobs; ratios are measured side by side, interleaved"},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": __import__("transformers").__version__},
        "setup": {"preset": args.preset, "params": sum(p.numel() for p in model.parameters()), "task": args.task,
                  "rollouts": args.batch, "group_size": args.group, "max_new_tokens": args.tokens,
                  "generated_tokens": generated, "repeats": args.repeats},
        "generation_s_median": gen_median,
        "variants": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    lines = [
        "# Training-step overhead of beacon distillation",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']['platform']}, {result['machine']['cpu_count']} CPUs, "
        f"{result['machine']['torch_threads']} torch threads ({result['machine']['note']})  ",
        f"Versions: python {result['versions']['python']}, torch {result['versions']['torch']}, "
        f"transformers {result['versions']['transformers']}  ",
        f"Setup: `{args.preset}` preset ({result['setup']['params']:,} params), {args.task}, {args.batch} rollouts "
        f"({args.batch // args.group} prompts x {args.group}), up to {args.tokens} new tokens "
        f"({generated} generated), median of {args.repeats} repeats.",
        "",
        f"Generation (full cache, shared loop): {gen_median:.3f} s per step.",
        "",
        "| variant | update (s) | full step (s) | step ratio vs RL-only | update ratio vs RL-only |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['update_s']:.3f} | {row['step_s']:.3f} | {row['step_ratio_vs_rl_only']:.2f}x "
                     f"| {row['update_ratio_vs_rl_only']:.2f}x |")
    lines += ["", "Target: full-step ratio <= 1.3x for the joint step."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
