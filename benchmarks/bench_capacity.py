"""Max batch at a KV memory budget: for a fixed budget, the largest batch of 4k-token generations each method
sustains (from the measured per-sequence peak KV bytes), checked by running that batch, and its throughput.

    python benchmarks/bench_capacity.py                  # 64 MiB budget, runs every max batch for 4k tokens
    python benchmarks/bench_capacity.py --quick          # same batches, sanity runs of 256 tokens (< 2 minutes)
    python benchmarks/bench_capacity.py --budget-mib 40960 --device cuda --dtype bfloat16   # a GPU-sized budget

Per-sequence bytes are measured once at batch 1 for the full generation length: the preallocated KV buffers
(`peak_allocated_kv_bytes`, what the budget must hold) and the entries actually held (`peak_kv_bytes`). Buffers are
`[B, H_kv, capacity, D]`, so a batch of B needs exactly B x the per-sequence buffer bytes; the run at the max batch
reports its own measured buffer bytes, which must be within the budget.
"""

from __future__ import annotations

import argparse
import json

try:
    from benchmarks import common
except ImportError:  # run as a script: benchmarks/ itself is on sys.path
    import common

MEASURED = ("full", "beacon:2", "beacon:4", "beacon:8", "beacon:16", "beacon:32")
RUN = ("full", "beacon:4", "beacon:16")
QUICK_MEASURED = RUN


def per_sequence(model, tokenizer, method: str, new_tokens: int) -> dict:
    from breadcrumbs import generate
    from breadcrumbs.policies import policy_from_spec

    out = generate(model, tokenizer, common.make_prompts(tokenizer, 1), policy_from_spec(method),
                   max_new_tokens=new_tokens)
    return {"method": method, "allocated_bytes": out.peak_allocated_kv_bytes,
            "peak_kv_bytes": out.stats[0].peak_kv_bytes, "generated_tokens": out.stats[0].generated_tokens}


def at_batch(model, tokenizer, method: str, batch: int, new_tokens: int, device) -> dict:
    from breadcrumbs import generate
    from breadcrumbs.policies import policy_from_spec

    prompts = common.make_prompts(tokenizer, batch)
    seconds, out = common.timed(
        lambda: generate(model, tokenizer, prompts, policy_from_spec(method), max_new_tokens=new_tokens), device
    )
    generated = sum(s.generated_tokens for s in out.stats)
    return {"batch": batch, "new_tokens": new_tokens, "wall_s": seconds, "tokens_per_s": generated / seconds,
            "allocated_bytes": out.peak_allocated_kv_bytes,
            "held_peak_bytes": sum(s.peak_kv_bytes for s in out.stats),
            "all_tokens_generated": all(s.generated_tokens == new_tokens for s in out.stats)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_arguments(parser)
    parser.add_argument("--budget-mib", type=float, default=64.0, help="KV memory budget in MiB (default 64)")
    parser.add_argument("--new-tokens", type=int, default=4096, help="generation length the budget is sized for")
    parser.add_argument("--sanity-tokens", type=int, default=256, help="--quick: length of the check runs")
    args = parser.parse_args(argv)
    device, dtype = common.configure(args)
    run = common.Run("capacity", args, device)
    model, tokenizer = common.bench_model(args.preset, device, dtype)
    budget = int(args.budget_mib * 2**20)
    check_tokens = args.sanity_tokens if args.quick else args.new_tokens
    rows = []
    for method in QUICK_MEASURED if args.quick else MEASURED:
        row = per_sequence(model, tokenizer, method, args.new_tokens)
        row["max_batch"] = budget // row["allocated_bytes"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    full = next(row for row in rows if row["method"] == "full")
    for row in rows:
        row["batch_over_full"] = row["max_batch"] / full["max_batch"]
        if row["method"] in RUN and row["max_batch"] > 0:
            row["run"] = at_batch(model, tokenizer, row["method"], row["max_batch"], check_tokens, device)
            row["run"]["within_budget"] = row["run"]["allocated_bytes"] <= budget
            row["run"]["next_batch_would_exceed"] = (row["max_batch"] + 1) * row["allocated_bytes"] > budget
            print(json.dumps(row["run"]), flush=True)
    for row in rows:
        if "run" in row and "run" in full:
            row["throughput_over_full"] = row["run"]["tokens_per_s"] / full["run"]["tokens_per_s"]
    md = [
        f"Model: preset `{args.preset}` (Qwen2, untrained, {args.dtype}), prompt {common.PROMPT_TOKENS} tokens, "
        f"KV budget **{args.budget_mib:g} MiB**, generations of {args.new_tokens} tokens. Max batch = "
        "⌊budget / per-sequence buffer bytes⌋ with the per-sequence bytes measured at batch 1.",
        "",
        f"Check runs at the max batch: {check_tokens} tokens"
        + (" (--quick: shorter than the sized length; their buffers are smaller, the batch is what is checked)."
           if args.quick else " (the full sized length)."),
        "",
        common.md_table(
            ["method", "per-seq buffers MiB", "per-seq held peak MiB", "max batch", "batch vs full",
             "run: buffers MiB", "within budget", "run tok/s", "tok/s vs full", "all tokens"],
            [[r["method"], r["allocated_bytes"] / 2**20, r["peak_kv_bytes"] / 2**20, r["max_batch"],
              r["batch_over_full"],
              r["run"]["allocated_bytes"] / 2**20 if "run" in r else "-",
              ("yes" if r["run"]["within_budget"] else "NO") if "run" in r else "-",
              r["run"]["tokens_per_s"] if "run" in r else "-",
              r.get("throughput_over_full", "-"),
              ("yes" if r["run"]["all_tokens_generated"] else "NO") if "run" in r else "-"] for r in rows],
        ),
    ]
    run.write({"budget_bytes": budget, "new_tokens": args.new_tokens, "check_tokens": check_tokens, "rows": rows},
              "\n".join(md), "Max batch at a KV memory budget")


if __name__ == "__main__":
    main()
