"""Cross-check our StreamingLLM, TOVA and K-norm against NVIDIA kvpress itself, token by token.

kvpress pins `transformers<5.3`, so it lives in its own virtual environment and runs as a subprocess
(`kvpress_worker.py`); this script (our environment) generates the same problems, decodes them greedily with our
policies at each budget, has kvpress decode the same prompts with `DecodingPress(compression_interval=1)`, then
compares completions token by token and scores both with the task's verifier. Setup once:

    python -m venv ../kvpress-venv && ../kvpress-venv/bin/pip install torch==2.13.0 kvpress==0.5.5

Run on a checkpoint directory (the demo's), or on `random:tiny` (an untrained tiny model, weights scaled so that
greedy choices depend on the context: agreement is meaningful, accuracy is 0 for both):

    python benchmarks/kvpress_crosscheck.py --model random:tiny --task stargraph \
        --difficulty d=2 l=3 labels=10 compact=1 --n 24 --budgets 4 8 12 --max-new-tokens 48

or on the trained demo checkpoint, with the demo's test problems (seed 10000, test split), its sweep budgets and its
token limit:

    python benchmarks/kvpress_crosscheck.py --model demo_out/train/checkpoints/latest --task stargraph \
        --difficulty d=2 l=3 labels=10 compact=1 --n 100 --budgets 4 6 9 12 16 --max-new-tokens 64

Writes `benchmarks/results/kvpress_crosscheck-NAME.json` (NAME: `--name`, default `random` for `random:PRESET`,
else `trained`) and rebuilds `kvpress_crosscheck.md` with one table per JSON there: per method and budget, the share
of problems whose completions are identical, the mean share of completion tokens agreeing up to the first
divergence, the first divergence step, and both accuracies. Both sides decode one problem at a time (batch 1),
float32, sdpa.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from breadcrumbs.files import atomic_write

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT, command_line, environment, load_average, md_table  # noqa: E402

# Row name -> (our policy, the kvpress press it is checked against; conventions in kvpress_worker.py).
# "+temporal": kvpress's press with its cache kept in temporal order and ties evicting the older entry (our rule).
METHODS = {
    "streaming": ("streaming", "streaming", False),
    "streaming +temporal": ("streaming", "streaming", True),
    "tova": ("tova", "tova", False),
    "tova +temporal": ("tova", "tova", True),
    "knorm": ("knorm", "knorm", False),
    "knorm +temporal": ("knorm", "knorm", True),
}
FLOAT_TIE = 1e-4  # a divergence whose two tokens' logits differ by less than this (ours) is a float-level tie


def logit_gap(model, policy, prompt: list[int], completion: list[int], step: int, other: int) -> float:
    """Our logit of `completion[step]` minus that of `other` at `step`, teacher-forcing `completion[:step]`."""
    from breadcrumbs.generation import DecodeSession, _left_pad

    policy = policy.with_budget(policy.budget) if hasattr(policy, "with_budget") else policy
    ids, mask = _left_pad([prompt], 0)
    session = DecodeSession(model, policy, ids, mask, max_new_tokens=step + 1)
    logits = session.prefill()
    for token in completion[:step]:
        logits = session.feed(torch.tensor([token]))
    return float(logits[0, completion[step]] - logits[0, other])


def agreement(ours: list[int], theirs: list[int]) -> tuple[int, float]:
    """First step where the completions differ (len if never) and the share of the longer one agreeing up to it."""
    first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
    return first, first / max(len(ours), len(theirs), 1)


def load_checkpoint(spec: str, scratch: Path):
    """A checkpoint directory, or `random:PRESET`: a freshly initialised preset model (seed 0) with its matrices
    scaled x5 so that greedy choices depend on the context (HF's 0.02 init gives near-uniform logits), saved to
    `scratch` so the kvpress side loads the very same weights. Returns (model, tokenizer); sets `.path`."""
    from breadcrumbs.models import build_preset_model, load_model

    if not spec.startswith("random:"):
        model, tokenizer = load_model(spec)
        model.path = str(Path(spec).resolve())
        return model, tokenizer
    model, tokenizer = build_preset_model(spec.partition(":")[2], seed=0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 2:
                parameter.mul_(5.0)
    model.save_pretrained(scratch / "model")
    tokenizer.save_pretrained(scratch / "model")
    model.path = str(scratch / "model")
    return model.eval(), tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="checkpoint directory (plain HF save_pretrained) or random:PRESET")
    parser.add_argument("--task", default="stargraph")
    parser.add_argument("--difficulty", nargs="*", default=[], help="task knobs KNOB=INT")
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--seed", type=int, default=10_000)
    parser.add_argument("--budgets", type=int, nargs="+", default=[4, 8, 12])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--python", default="../kvpress-venv/bin/python", help="the kvpress environment's python")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", help="names this run's JSON and table (default: random for random:PRESET, "
                        "else trained)")
    args = parser.parse_args()
    name = args.name or ("random" if args.model.startswith("random:") else "trained")
    torch.set_num_threads(1)
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    scratch_dir = Path(tempfile.mkdtemp(prefix="kvpress-crosscheck-"))
    from breadcrumbs.generation import banned_token_ids, eos_token_ids, generate
    from breadcrumbs.policies import policy_from_spec
    from breadcrumbs.tasks import get_task

    model, tokenizer = load_checkpoint(args.model, scratch_dir)
    task = get_task(args.task)
    knobs = {key: int(value) for key, _, value in (item.partition("=") for item in args.difficulty)}
    problems = task.generate(args.n, seed=args.seed, split="test", **knobs)
    prompts = [tokenizer(task.prompt(problem))["input_ids"] for problem in problems]
    eos = eos_token_ids(model, tokenizer)

    full = {problem.id: generate(model, tokenizer, [prompt], max_new_tokens=args.max_new_tokens).completion_ids[0]
            for problem, prompt in zip(problems, prompts)}  # to show that eviction changed the output
    started = time.perf_counter()
    ours, runs = {}, []
    for method in args.methods:
        ours_name, press, temporal = METHODS[method]
        for budget in args.budgets:
            for problem, prompt in zip(problems, prompts):
                key = f"{method}:{budget}/{problem.id}"
                mine = f"{ours_name}:{budget}/{problem.id}"
                if mine not in ours:
                    policy = policy_from_spec(f"{ours_name}:{budget}")
                    ours[mine] = generate(model, tokenizer, [prompt], policy=policy,
                                          max_new_tokens=args.max_new_tokens).completion_ids[0]
                runs.append({"press": press, "temporal": temporal, "budget": budget, "prompt": prompt, "key": key})
    ours_s = time.perf_counter() - started

    job, out = scratch_dir / "job.json", scratch_dir / "out.json"
    job.write_text(json.dumps({
        "model": model.path, "max_new_tokens": args.max_new_tokens, "runs": runs,
        "suppress": banned_token_ids(tokenizer, eos), "eos": eos, "pad": tokenizer.pad_token_id,
    }))
    started = time.perf_counter()
    subprocess.run([args.python, str(ROOT / "benchmarks" / "kvpress_worker.py"), str(job), str(out)], check=True)
    kvpress_s = time.perf_counter() - started
    worker = json.loads(out.read_text())
    shutil.rmtree(scratch_dir, ignore_errors=True)

    cases = []
    for method in args.methods:
        for budget in args.budgets:
            identical, shares, correct_ours, correct_theirs, diverged, changed = 0, [], 0, 0, [], 0
            for problem in problems:
                key = f"{method}:{budget}/{problem.id}"
                mine, theirs = ours[f"{METHODS[method][0]}:{budget}/{problem.id}"], worker["completions"][key]
                first, share = agreement(mine, theirs)
                identical += mine == theirs
                changed += mine != full[problem.id]
                shares.append(share)
                texts = tokenizer.batch_decode([mine, theirs], skip_special_tokens=True)
                correct_ours += task.verify(problem, texts[0]) >= 1.0
                correct_theirs += task.verify(problem, texts[1]) >= 1.0
                if mine != theirs and first < min(len(mine), len(theirs)):
                    policy = policy_from_spec(f"{METHODS[method][0]}:{budget}")
                    gap = logit_gap(model, policy, prompts[problems.index(problem)], mine, first, theirs[first])
                    diverged.append({"problem": problem.id, "step": first, "our_logit_gap": gap,
                                     "float_tie": abs(gap) < FLOAT_TIE, "ours": mine, "kvpress": theirs})
                elif mine != theirs:
                    diverged.append({"problem": problem.id, "step": first, "our_logit_gap": None,
                                     "float_tie": False, "ours": mine, "kvpress": theirs})
            cases.append({
                "method": method, "budget": budget, "problems": len(problems), "identical": identical,
                "differs_from_full_cache": changed,
                "token_agreement": sum(shares) / len(shares), "accuracy_ours": correct_ours / len(problems),
                "accuracy_kvpress": correct_theirs / len(problems), "divergences": diverged,
            })

    args.out.mkdir(parents=True, exist_ok=True)
    info = {"command": command_line(), "environment": environment(torch.device("cpu"), 1),
            "kvpress_environment": worker["versions"], "load_average": load_average(), "model": args.model,
            "task": args.task, "difficulty": knobs, "max_new_tokens": args.max_new_tokens,
            "time_ours_s": ours_s, "time_kvpress_s": kvpress_s, "cases": cases}
    atomic_write(args.out / f"kvpress_crosscheck-{name}.json", json.dumps(info, indent=2) + "\n")
    write_markdown(args.out)
    print(section(args.out / f"kvpress_crosscheck-{name}.json"))


def write_markdown(out: Path) -> Path:
    """`kvpress_crosscheck.md`: one section per recorded run in `out` (`kvpress_crosscheck-*.json`)."""
    runs = sorted(out.glob("kvpress_crosscheck-*.json"), reverse=True)
    return atomic_write(
        out / "kvpress_crosscheck.md",
        "# kvpress cross-check\n\nOne table per recorded run (the JSON named in its heading); what each "
        "disagreement is: docs/baselines.md (kvpress cross-check).\n\n" + "\n".join(section(path) for path in runs),
    )


def section(path: Path) -> str:
    """One recorded run (a JSON written by `main`) as a markdown section: its command, setting and table."""
    info = json.loads(path.read_text())
    rows = []
    for case in info["cases"]:
        diverged, problems = case["divergences"], case["problems"]
        rows.append([case["method"], case["budget"], f"{case['differs_from_full_cache']}/{problems}",
                     f"{case['identical']}/{problems}", 100 * case["token_agreement"],
                     min((d["step"] for d in diverged), default="–"),
                     f"{sum(d['float_tie'] for d in diverged)}/{len(diverged)}",
                     100 * case["accuracy_ours"], 100 * case["accuracy_kvpress"]])
    table = md_table(["method", "budget B", "ours differs from full cache", "identical completions",
                      "token agreement %", "first divergence (step)",
                      f"divergences at a float tie (gap < {FLOAT_TIE:g})", "accuracy ours %", "accuracy kvpress %"],
                     rows)
    ours, theirs = info["environment"], info["kvpress_environment"]
    return (
        f"## Model `{info['model']}` ({path.name})\n\nCommand: `{info['command']}` (commit {ours['git_commit']})\n\n"
        f"Ours: transformers {ours['transformers']}, torch {ours['torch']}; kvpress {theirs['kvpress']} with "
        f"transformers {theirs['transformers']}. {info['task']} {info['difficulty']}, {info['cases'][0]['problems']} "
        f"test-split problems, greedy, {info['max_new_tokens']} new tokens, batch 1. Wall time: ours "
        f"{info['time_ours_s']:.0f} s, kvpress {info['time_kvpress_s']:.0f} s (load average {info['load_average']})."
        f"\n\n{table}\n"
    )


if __name__ == "__main__":
    main()
