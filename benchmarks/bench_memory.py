"""KV memory: peak KV bytes measured from the cache tensors for beacons at c in {2,4,8,16,32} and generation lengths
{256, 1k, 4k}, against the floor (prompt + floor(n/c) + c entries x bytes per entry); and the peak process memory of
full vs beacon generation at 4k tokens, one subprocess per case.

    python benchmarks/bench_memory.py            # lengths {256, 1k, 4k}; process memory at 4k, batch 16
    python benchmarks/bench_memory.py --quick    # lengths {256, 1k}; process memory at 1k (< 2 minutes)

Measured, per sequence: `SequenceStats.peak_kv_bytes` (entries actually held after any forward x bytes per entry,
read off the cache tensors) and the preallocated buffer bytes (`peak_allocated_kv_bytes` / batch). The floor is the
paper's count of what must be held: P + floor(n/c) + c entries. Target: measured <= 1.05 x floor everywhere.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

try:
    from benchmarks import common
except ImportError:  # run as a script: benchmarks/ itself is on sys.path
    import common

RATIOS = (2, 4, 8, 16, 32)
LENGTHS = (256, 1024, 4096)
QUICK_LENGTHS = (256, 1024)
TARGET = 1.05


def floor_entries(prompt: int, new_tokens: int, ratio: int | None) -> int:
    """Entries one sequence must hold at its peak: P + floor(n/c) + c (P + n for the full cache)."""
    return prompt + new_tokens if ratio is None else prompt + new_tokens // ratio + ratio


def kv_case(model, tokenizer, ratio: int | None, new_tokens: int) -> dict:
    """One batch-1 generation; peak KV entries/bytes measured from the cache against the floor."""
    from breadcrumbs import BeaconPolicy, FullCache, generate

    prompts = common.make_prompts(tokenizer, 1)
    policy = FullCache() if ratio is None else BeaconPolicy(ratio)
    out = generate(model, tokenizer, prompts, policy, max_new_tokens=new_tokens)
    stats = out.stats[0]
    slot_bytes = stats.peak_kv_bytes // max(stats.peak_kv_entries, 1)
    floor = floor_entries(stats.prompt_tokens, stats.generated_tokens, ratio)
    return {
        "method": policy.label, "ratio": ratio, "new_tokens": new_tokens,
        "generated_tokens": stats.generated_tokens, "prompt_tokens": stats.prompt_tokens,
        "bytes_per_entry": slot_bytes,
        "peak_kv_entries": stats.peak_kv_entries, "peak_kv_bytes": stats.peak_kv_bytes,
        "mean_kv_bytes": stats.mean_kv_bytes,
        "allocated_kv_bytes": out.peak_allocated_kv_bytes,
        "floor_entries": floor, "floor_bytes": floor * slot_bytes,
        "peak_over_floor": stats.peak_kv_bytes / (floor * slot_bytes),
        "allocated_over_floor": out.peak_allocated_kv_bytes / (floor * slot_bytes),
        "wall_s": out.wall_time_s,
    }


def _vm_kib(field: str) -> int | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _rss_worker(spec: str) -> None:
    """Subprocess entry: build the model, note VmHWM, generate once, report the new VmHWM (peak resident memory)."""
    job, model, tokenizer, prompts, device = common.worker_setup(spec)
    from breadcrumbs import generate
    from breadcrumbs.policies import policy_from_spec

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    before = _vm_kib("VmHWM")
    base_cuda = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
    if job["method"] == "hf":
        ids = torch.tensor(prompts, device=device)
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=job["new_tokens"],
                                 min_new_tokens=job["new_tokens"], do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        generated, kv = out.shape[1] - ids.shape[1], None
    else:
        result = generate(model, tokenizer, prompts, policy_from_spec(job["method"]), max_new_tokens=job["new_tokens"])
        generated = min(s.generated_tokens for s in result.stats)
        kv = sum(s.peak_kv_bytes for s in result.stats)
    report = {"vm_hwm_before_kib": before, "vm_hwm_after_kib": _vm_kib("VmHWM"), "generated_tokens": generated,
              "kv_peak_bytes_measured": kv}
    if device.type == "cuda":
        report["cuda_peak_allocated_over_model_bytes"] = torch.cuda.max_memory_allocated(device) - base_cuda
    print("RESULT " + json.dumps(report))


def rss_cases(args, new_tokens: int, batch: int, methods=("full", "hf", "beacon:4", "beacon:16")) -> list[dict]:
    rows = []
    for method in methods:
        job = {"method": method, "new_tokens": new_tokens, "batch": batch, "threads": args.threads,
               "device": args.device, "dtype": args.dtype, "preset": args.preset}
        done = subprocess.run([sys.executable, __file__, "--rss-worker", json.dumps(job)], capture_output=True,
                              text=True, check=True)
        line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
        report = json.loads(line[len("RESULT "):])
        report.update(method=method, new_tokens=new_tokens, batch=batch,
                      peak_rss_mib=report["vm_hwm_after_kib"] / 1024,
                      rss_growth_mib=(report["vm_hwm_after_kib"] - report["vm_hwm_before_kib"]) / 1024)
        rows.append(report)
        print(json.dumps(report), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_arguments(parser)
    parser.add_argument("--rss-batch", type=int, default=16, help="batch size of the process-memory cases")
    parser.add_argument("--rss-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_worker:
        return _rss_worker(args.rss_worker)
    device, dtype = common.configure(args)
    run = common.Run("memory", args, device)
    model, tokenizer = common.bench_model(args.preset, device, dtype)
    lengths = QUICK_LENGTHS if args.quick else LENGTHS
    rows = []
    for new_tokens in lengths:
        for ratio in (None, *RATIOS):
            row = kv_case(model, tokenizer, ratio, new_tokens)
            rows.append(row)
            print(json.dumps(row), flush=True)
    rss_tokens = lengths[-1]
    rss = rss_cases(args, rss_tokens, args.rss_batch)
    beacons = [row for row in rows if row["ratio"] is not None]
    worst = max(beacons, key=lambda row: row["peak_over_floor"])
    worst_alloc = max(beacons, key=lambda row: row["allocated_over_floor"])
    all_generated = all(row["generated_tokens"] == row["new_tokens"] for row in rows)
    md = [
        f"Model: preset `{args.preset}` (Qwen2, untrained, {args.dtype}), batch 1, prompt "
        f"{common.PROMPT_TOKENS} tokens, {rows[0]['bytes_per_entry']:,} bytes per KV entry (all layers, K and V).",
        "",
        "## Peak KV bytes against the floor P + ⌊n/c⌋ + c entries",
        "",
        f"Target ≤ {TARGET} × floor. Worst measured peak: **{worst['peak_over_floor']:.4f} × floor** "
        f"({worst['method']}, n = {worst['new_tokens']}); worst preallocated buffer: "
        f"**{worst_alloc['allocated_over_floor']:.4f} × floor** ({worst_alloc['method']}, "
        f"n = {worst_alloc['new_tokens']}). Every row generated exactly n tokens: {'yes' if all_generated else 'NO'}.",
        "",
        common.md_table(
            ["method", "n", "peak entries", "floor entries", "peak KV bytes", "floor bytes", "peak / floor",
             "allocated / floor", "mean KV bytes"],
            [[r["method"], r["new_tokens"], r["peak_kv_entries"], r["floor_entries"], r["peak_kv_bytes"],
              r["floor_bytes"], r["peak_over_floor"], r["allocated_over_floor"], r["mean_kv_bytes"]] for r in rows],
        ),
        "",
        "For `full` the floor is P + n. A beacon peak sits just under the floor because the last sampled token is "
        "never fed (n - 1 tokens fed).",
        "",
        f"## Peak process memory, {rss_tokens} tokens, batch {args.rss_batch}",
        "",
        "One fresh subprocess per method; VmHWM (peak resident set) after building the model, then after generating."
        " `hf` = HF `model.generate` with its DynamicCache.",
        "",
        common.md_table(
            ["method", "peak RSS MiB", "RSS growth during generation MiB", "KV peak (measured, all rows) MiB",
             "tokens"],
            [[r["method"], r["peak_rss_mib"], r["rss_growth_mib"],
              "-" if r["kv_peak_bytes_measured"] is None else r["kv_peak_bytes_measured"] / 2**20,
              r["generated_tokens"]] for r in rss],
        ),
    ]
    run.write({"target": TARGET, "worst_peak_over_floor": worst["peak_over_floor"],
               "worst_allocated_over_floor": worst_alloc["allocated_over_floor"], "rows": rows, "process_memory": rss},
              "\n".join(md), "KV memory")


if __name__ == "__main__":
    main()
