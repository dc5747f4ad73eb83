"""Overhead of the beacon distillation term: one joint RL + distillation step vs the RL-only step, same batch.

    python benchmarks/bench_train_step.py [--preset tiny] [--repeats 5] [--batch 32] [--group 8] [--tokens 128]
    python benchmarks/bench_train_step.py --config configs/countdown-long.yaml [--repeats 3]

A "step" is what `breadcrumbs train` does per RL step: sample the rollouts with the full cache (shared generation
loop), score them, then one optimizer update. Every variant updates on the same rollouts; generation is timed on its
own each repeat and added; variants are interleaved repeat by repeat (rotating order) so machine load hits every
variant alike, and the median is reported.

Without `--config`: rollouts sampled from the random model (short: it stops at a random EOS); variants RL only,
joint at c=4, joint with `--mixed` ratios, joint at c=4 without the fused teacher+student forward.

With `--config` (the long-trace setting of a training config, e.g. the Countdown experiment's): the preset, task,
RL difficulty, batch, group, temperature, `max_new_tokens`, logit chunk and student ratios come from the config.
The rollouts are the task's solver traces for the RL problems (the completions a teacher that learned the task
emits: Countdown search traces of a few hundred tokens), cut at `max_new_tokens`. Generation is timed on the random
model with its EOS suppressed, sampling every row to the traces' mean length (the same number of generated tokens
as the traces). Variants: RL only, distillation only, joint with the fused forward (teacher and student rows in one
batch padded to the longest student row), joint unfused (teacher, then students, each in groups of similar width).
Results: benchmarks/results/<--out>.{json,md}.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from common import RESULTS, Run, interleaved, md_table, median  # noqa: E402

CLOCKS = {"wall": time.perf_counter, "process": time.process_time}


def update_time(clock, rt, optimizer, rollouts, rl_cfg, distill_cfg, rl_weight: float, distill_weight: float):
    from breadcrumbs.training.rl import rl_loss

    started = clock()
    tokens = float(sum(len(c) for c in rollouts.completions))
    loss, _ = rl_loss(rt, rollouts, rl_cfg, distill_cfg, rl_weight, distill_weight, tokens)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(rt.model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return clock() - started


def random_setup(args):
    """Rollouts sampled from the random model; the variants of the short-rollout record (train_step.md)."""
    from breadcrumbs.models import build_preset_model
    from breadcrumbs.tasks import get_task
    from breadcrumbs.training.config import DistillConfig, RLConfig
    from breadcrumbs.training.data import sample_ratios
    from breadcrumbs.training.rl import collect_rollouts
    from breadcrumbs.training.runtime import Runtime

    model, tokenizer = build_preset_model(args.preset, seed=0)
    rt = Runtime(model.train(), model, tokenizer)
    task = get_task(args.task)
    problems = task.generate(args.batch // args.group, 0, **({"k": 3} if args.task == "countdown" else {}))
    rl_cfg = RLConfig(batch_size=args.batch, group_size=args.group, max_new_tokens=args.tokens)
    mixed = [int(r) for r in args.mixed.split(",")]
    variants = {
        "rl_only": (DistillConfig(mode="off"), 1.0, 0.0, [4]),
        "joint_c4": (DistillConfig(fused_forward=True), 1.0, 1.0, [4]),
        f"joint_mixed_{args.mixed.replace(',', '_')}": (DistillConfig(fused_forward=True), 1.0, 1.0, mixed),
        "joint_c4_unfused": (DistillConfig(fused_forward=False), 1.0, 1.0, [4]),
    }
    base = collect_rollouts(rt, task, problems, rl_cfg, [4] * args.batch, seed=0)
    rollouts = {}
    for name, (*_, ratios) in variants.items():
        rollouts[name] = base.rows(range(len(base)))
        rollouts[name].ratios = sample_ratios(ratios, len(base), seed=1)
    generate = lambda seed: collect_rollouts(rt, task, problems, rl_cfg, [4] * args.batch, seed=seed)  # noqa: E731
    setup = {"preset": args.preset, "task": args.task, "rollouts": args.batch, "group_size": args.group,
             "max_new_tokens": args.tokens, "completions": "sampled from the random model"}
    return rt, rl_cfg, {k: v[:3] for k, v in variants.items()}, rollouts, generate, setup


def config_setup(args):
    """The long-trace setting of a training config: solver-trace rollouts, generation to the same token count."""
    from breadcrumbs.beacon.layout import student_views
    from breadcrumbs.generation import generate
    from breadcrumbs.models import build_preset_model
    from breadcrumbs.policies import FullCache
    from breadcrumbs.tasks import get_task
    from breadcrumbs.training import load_config
    from breadcrumbs.training.data import encode_traces, sample_ratios
    from breadcrumbs.training.losses import group_advantages
    from breadcrumbs.training.rl import Rollouts
    from breadcrumbs.training.runtime import Runtime

    cfg = load_config(args.config)
    rl = cfg.rl
    model, tokenizer = build_preset_model(cfg.model.name, arch=cfg.model.arch, seed=cfg.seed)
    rt = Runtime(model.train(), model, tokenizer, chunk_tokens=cfg.model.logit_chunk_tokens)
    task = get_task(cfg.task.name)
    problems = task.generate(rl.batch_size // rl.group_size, cfg.seed, **{**cfg.task.difficulty, **rl.difficulty})
    rows = [problem for problem in problems for _ in range(rl.group_size)]
    prompts, traces = encode_traces(tokenizer, task, rows, cfg.task.style)
    completions = [trace[: rl.max_new_tokens] for trace in traces]
    rewards = torch.tensor([float(i % 2) for i in range(len(rows))])  # every group has signal
    choices, weights = cfg.beacon.choices()
    ratios = sample_ratios(student_views(cfg.beacon.layout, choices), len(rows), seed=1, weights=weights)
    batch = Rollouts(rows, prompts, completions, [""] * len(rows), rewards, rewards >= 1.0,
                     group_advantages(rewards, rl.group_size), ratios, 0.0, [])
    joint = cfg.distill
    variants = {
        "rl_only": (dataclasses.replace(joint, mode="off"), 1.0, 0.0),
        "distill_only": (dataclasses.replace(joint, fused_forward=False), 0.0, joint.weight),
        "joint_fused": (dataclasses.replace(joint, fused_forward=True), 1.0, joint.weight),
        "joint_unfused": (dataclasses.replace(joint, fused_forward=False), 1.0, joint.weight),
    }
    lengths = sorted(len(c) for c in completions)
    mean_length = round(sum(lengths) / len(lengths))
    quiet = copy.deepcopy(tokenizer)
    quiet.eos_token = None  # the random model samples every row to `mean_length` (a trained one stops at EOS)
    model.generation_config.eos_token_id = None

    def sample(seed: int):
        model.eval()
        generate(model, quiet, prompts, policy=FullCache(), max_new_tokens=mean_length, temperature=rl.temperature,
                 top_p=rl.top_p, seed=seed)
        model.train()

    setup = {"config": args.config, "preset": cfg.model.name, "task": cfg.task.name,
             "difficulty": {**cfg.task.difficulty, **rl.difficulty}, "rollouts": len(rows),
             "group_size": rl.group_size, "max_new_tokens": rl.max_new_tokens,
             "logit_chunk_tokens": cfg.model.logit_chunk_tokens, "ratios": ratios,
             "completions": "solver traces", "completion_tokens": {"min": lengths[0],
                                                                    "median": lengths[len(lengths) // 2],
                                                                    "max": lengths[-1], "mean": mean_length},
             "prompt_tokens": len(prompts[0]), "generation": f"{len(rows)} rows x {mean_length} tokens, EOS off"}
    return rt, rl, variants, {name: batch for name in variants}, sample, setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="a training config: the long-trace setting (see the module docstring)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--task", default="countdown")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128, help="max new tokens per rollout")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mixed", default="2,4,8", help="ratios of the mixed-ratio variant, comma-separated")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall seconds, or this process's CPU seconds (with 1 thread: the work done, whatever "
                             "else loads a shared machine)")
    parser.add_argument("--name", default="train_step", help="result file name")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = CLOCKS[args.clock]
    run = Run(args.name, args, torch.device("cpu"))
    rt, rl_cfg, variants, rollouts, sample, setup = (config_setup if args.config else random_setup)(args)
    optimizer = torch.optim.AdamW(rt.model.parameters(), lr=1e-6)  # tiny lr: weights barely move between repeats
    seeds = iter(range(1, 10**6))
    cases = {"generation": lambda: _timed(clock, lambda: sample(next(seeds)))}
    for name, (distill_cfg, rl_weight, distill_weight) in variants.items():
        cases[name] = (lambda n=name, d=distill_cfg, r=rl_weight, w=distill_weight:
                       update_time(clock, rt, optimizer, rollouts[n], rl_cfg, d, r, w))
    times = {name: values[1:] for name, values in interleaved(cases, args.repeats + 1).items()}  # drop warm-up
    generation = median(times.pop("generation"))
    rows = {}
    for name, values in times.items():
        rows[name] = {"update_s": median(values), "step_s": generation + median(values), "update_s_all": values}
    for row in rows.values():
        row["step_ratio_vs_rl_only"] = row["step_s"] / rows["rl_only"]["step_s"]
        row["update_ratio_vs_rl_only"] = row["update_s"] / rows["rl_only"]["update_s"]
    table = md_table(
        ["variant", "update (s)", "full step (s)", "step / RL-only", "update / RL-only"],
        [[name, f"{r['update_s']:.3f}", f"{r['step_s']:.3f}", f"{r['step_ratio_vs_rl_only']:.2f}x",
          f"{r['update_ratio_vs_rl_only']:.2f}x"] for name, r in rows.items()],
    )
    body = (f"Setup: {setup}.\n\nClock: {args.clock} seconds. Median of {args.repeats} interleaved repeats (a "
            "warm-up round dropped). "
            f"Generation (full cache, shared loop): {generation:.3f} s per step.\n\n{table}\n\n"
            "Target: full-step ratio <= 1.3x for the joint step.")
    run.write({"setup": setup, "clock": args.clock, "generation_s_median": generation, "variants": rows}, body,
              "Training-step overhead of beacon distillation")
    print(body)


def _timed(clock, fn) -> float:
    started = clock()
    fn()
    return clock() - started


if __name__ == "__main__":
    main()
