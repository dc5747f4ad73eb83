"""Decode throughput: our loop with the full cache and with beacons (c = 4, 16) against Hugging Face `generate`.

    python benchmarks/bench_decode.py            # the default CPU grid (see DEFAULT_GRID)
    python benchmarks/bench_decode.py --quick    # < 2 minutes
    python benchmarks/bench_decode.py --full     # lengths {256, 1k, 4k} x batch sizes {1, 16, 64}
    python benchmarks/bench_decode.py --profile  # profile of the generation loop -> results/profile.{json,md}
    python benchmarks/bench_decode.py --profile --compare-src /path/to/old/src   # + before/after ratios

Every method decodes the same same-length prompts greedily for exactly N new tokens (HF: `min_new_tokens=N`; ours:
checked from the returned stats). Times are whole calls (prefill + decode), taken around the call; the methods of
a case run interleaved, `--repeats` times in rotating order, and the median is reported.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

import torch

try:
    from benchmarks import common
except ImportError:  # run as a script: benchmarks/ itself is on sys.path
    import common

METHODS = ("hf", "full", "beacon:4", "beacon:16")
DEFAULT_GRID = [(1, 256), (1, 1024), (1, 4096), (16, 256), (16, 1024), (16, 4096), (64, 256)]
QUICK_GRID = [(1, 256), (16, 256), (1, 1024)]
FULL_GRID = [(batch, length) for batch in (1, 16, 64) for length in (256, 1024, 4096)]


def policy_for(method: str):
    from breadcrumbs.policies import policy_from_spec

    return policy_from_spec(method)


def run_ours(model, tokenizer, prompts, method: str, new_tokens: int, device) -> tuple[float, int]:
    """Seconds for one `breadcrumbs.generate` call and the fewest tokens any row generated."""
    from breadcrumbs import generate

    seconds, out = common.timed(
        lambda: generate(model, tokenizer, prompts, policy_for(method), max_new_tokens=new_tokens), device
    )
    return seconds, min(s.generated_tokens for s in out.stats)


def run_hf(model, tokenizer, prompts, new_tokens: int, device) -> tuple[float, int]:
    """Seconds for one HF `model.generate` call (default DynamicCache, greedy) and the tokens it generated."""
    ids = torch.tensor(prompts, device=device)

    def call():
        with torch.no_grad():
            return model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                min_new_tokens=new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id,
            )

    seconds, out = common.timed(call, device)
    return seconds, out.shape[1] - ids.shape[1]


def run_method(model, tokenizer, prompts, method: str, new_tokens: int, device) -> tuple[float, int]:
    if method == "hf":
        return run_hf(model, tokenizer, prompts, new_tokens, device)
    return run_ours(model, tokenizer, prompts, method, new_tokens, device)


def decode_case(model, tokenizer, device, batch: int, new_tokens: int, repeats: int, methods=METHODS) -> dict:
    """All methods on one (batch, length) case, interleaved; medians and the tokens each generated."""
    prompts = common.make_prompts(tokenizer, batch)
    generated: dict[str, int] = {}

    def case(method: str):
        def once() -> float:
            seconds, tokens = run_method(model, tokenizer, prompts, method, new_tokens, device)
            generated[method] = min(tokens, generated.get(method, tokens))
            return seconds

        return once

    times = common.interleaved({method: case(method) for method in methods}, repeats)
    row = {"batch": batch, "new_tokens": new_tokens, "repeats": repeats, "methods": {}}
    for method in methods:
        seconds = common.median(times[method])
        row["methods"][method] = {
            "median_s": seconds,
            "times_s": times[method],
            "tokens_per_s": batch * new_tokens / seconds,
            "min_generated_tokens": generated[method],
            "all_tokens_generated": generated[method] == new_tokens,
        }
    found = row["methods"]
    if "full" in found and "hf" in found:
        row["full_time_over_hf"] = found["full"]["median_s"] / found["hf"]["median_s"]
    for method in methods:
        if method.startswith("beacon") and "full" in found:
            row[f"{method}_speedup_over_full"] = found["full"]["median_s"] / found[method]["median_s"]
    return row


def decode_markdown(rows: list[dict], methods) -> str:
    headers = ["batch", "new tokens", *[f"{m} tok/s" for m in methods], "full / HF time", "c=4 speedup",
               "c=16 speedup", "all N generated"]
    table = []
    for row in rows:
        found = row["methods"]
        table.append([
            row["batch"], row["new_tokens"], *[found[m]["tokens_per_s"] for m in methods],
            row.get("full_time_over_hf", "-"), row.get("beacon:4_speedup_over_full", "-"),
            row.get("beacon:16_speedup_over_full", "-"),
            "yes" if all(found[m]["all_tokens_generated"] for m in methods) else "NO",
        ])
    return common.md_table(headers, table)


# ---------------------------------------------------------------------------------------------------- profiling


def _split_model_time(model, tokenizer, prompts, method, new_tokens, device) -> dict:
    """Wall time of one call split into the model's forward passes and everything else (our loop, policy hooks,
    sampling, accounting). Wraps the model's `__call__` in a timer for this call only."""
    from breadcrumbs import generate

    spent = [0.0, 0]
    original = model.forward

    def forward(*args, **kwargs):
        common.synchronize(device)
        started = time.perf_counter()
        result = original(*args, **kwargs)
        common.synchronize(device)
        spent[0] += time.perf_counter() - started
        spent[1] += 1
        return result

    model.forward = forward
    try:
        seconds, out = common.timed(
            lambda: generate(model, tokenizer, prompts, policy_for(method), max_new_tokens=new_tokens), device
        )
    finally:
        del model.forward
    steps = out.stats[0].generated_tokens
    return {"wall_s": seconds, "model_s": spent[0], "forwards": spent[1], "outside_model_s": seconds - spent[0],
            "outside_model_share": (seconds - spent[0]) / seconds,
            "outside_model_us_per_step": (seconds - spent[0]) / steps * 1e6}


def _cprofile_top(model, tokenizer, prompts, method, new_tokens, limit=18) -> str:
    """Our functions and HF's mask/cache helpers by own time (cProfile; Python-level view)."""
    from breadcrumbs import generate

    profiler = cProfile.Profile()
    profiler.enable()
    generate(model, tokenizer, prompts, policy_for(method), max_new_tokens=new_tokens)
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(r"breadcrumbs|masking_utils|cache_utils", limit)
    lines = [line for line in text.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return "\n".join(line.replace(str(common.ROOT) + "/", "").replace(sys.prefix, "<py>") for line in lines[start:])


def _torch_profile_top(model, tokenizer, prompts, method, new_tokens, device, limit=12) -> str:
    """The operators by own time (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    from breadcrumbs import generate

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        generate(model, tokenizer, prompts, policy_for(method), max_new_tokens=new_tokens)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=limit, max_name_column_width=48)


def _eviction_cost(model, tokenizer, device, repeats: int = 200) -> list[dict]:
    """Time and bytes moved by one beacon eviction (`SlotCache.drop_span` of a c-window under the beacon) at
    different cache lengths: constant cost shows eviction never copies the whole cache."""
    from breadcrumbs.beacon.cache import SlotCache

    config = model.config
    heads = config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    rows = []
    for length in (256, 1024, 4096):
        cache = SlotCache(config.num_hidden_layers, length + 64)
        for layer in cache.layers:
            entries = torch.randn(1, heads, length, head_dim, device=device, dtype=model.dtype)
            layer.update(entries, entries.clone())
        ratio = 16
        end = cache.length - 1
        seconds = []
        for _ in range(repeats):
            common.synchronize(device)
            started = time.perf_counter()
            cache.drop_span(end - ratio, end)
            common.synchronize(device)
            seconds.append(time.perf_counter() - started)
            for layer in cache.layers:  # refill the window (not timed)
                layer.length += ratio
                layer._refresh_views()
        slot = cache.slot_bytes()
        rows.append({"cache_entries": length, "drop_span_us": common.median(seconds) * 1e6,
                     "bytes_moved": slot * 1, "cache_bytes": slot * length})
    return rows


def _worker(spec: str) -> None:
    """Subprocess entry for --compare-src: time one case with whatever `breadcrumbs` is importable."""
    job, model, tokenizer, prompts, device = common.worker_setup(spec)
    if job["padded"]:
        prompts = [prompt[: len(prompt) - (row % 5) * 3] for row, prompt in enumerate(prompts)]
    run_ours(model, tokenizer, prompts, job["method"], 16, device)  # warm-up
    times = [run_ours(model, tokenizer, prompts, job["method"], job["new_tokens"], device)[0]
             for _ in range(job["inner"])]
    print("RESULT " + json.dumps(times))


def _compare_sources(args, before_src: Path, cases: list[dict], rounds: int) -> list[dict]:
    """Before/after ratios: alternate subprocesses importing `breadcrumbs` from the old and the current source."""
    after_src = common.ROOT / "src"
    results = []
    for case in cases:
        job = {**case, "threads": args.threads, "device": args.device, "dtype": args.dtype, "preset": args.preset,
               "inner": 2}
        times = {"before": [], "after": []}
        for round_index in range(rounds):
            order = [("before", before_src), ("after", after_src)]
            for label, src in order if round_index % 2 == 0 else order[::-1]:
                env = {**os.environ, "PYTHONPATH": str(src)}
                done = subprocess.run(
                    [sys.executable, __file__, "--worker", json.dumps(job)], env=env, capture_output=True,
                    text=True, check=True,
                )
                line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
                times[label] += json.loads(line[len("RESULT "):])
        before, after = common.median(times["before"]), common.median(times["after"])
        results.append({**case, "before_s": before, "after_s": after, "speedup": before / after,
                        "times_s": times})
        print(f"compare {case}: before {before:.3f}s after {after:.3f}s -> x{before / after:.3f}", flush=True)
    return results


def profile_main(args, device, dtype) -> None:
    run = common.Run("profile", args, device)
    model, tokenizer = common.bench_model(args.preset, device, dtype)
    cases = [(1, 256, "full"), (1, 1024, "full"), (1, 1024, "beacon:16"), (16, 256, "beacon:4")]
    if args.quick:
        cases = cases[:1] + cases[-1:]
    data: dict = {"splits": [], "cprofile": {}, "torch_profile": {}}
    md = ["## Where the time goes", "",
          "Wall time of one `generate` call split into the model's forward passes and everything outside them "
          "(our loop: sampling, policy hooks, beacon eviction, KV accounting, completion bookkeeping). Medians of "
          f"{args.repeats or 3} interleaved runs.", ""]
    prompts_for = {batch: common.make_prompts(tokenizer, batch) for batch, _, _ in cases}
    run_ours(model, tokenizer, prompts_for[cases[0][0]], "full", 16, device)
    for batch, new_tokens, method in cases:
        splits = [_split_model_time(model, tokenizer, prompts_for[batch], method, new_tokens, device)
                  for _ in range(args.repeats or 3)]
        best = sorted(splits, key=lambda split: split["wall_s"])[len(splits) // 2]
        data["splits"].append({"batch": batch, "new_tokens": new_tokens, "method": method, **best})
    md.append(common.md_table(
        ["batch", "new tokens", "method", "wall s", "model forward s", "forwards", "outside model", "µs/step outside"],
        [[s["batch"], s["new_tokens"], s["method"], s["wall_s"], s["model_s"], s["forwards"],
          f"{s['outside_model_share']:.1%}", s["outside_model_us_per_step"]] for s in data["splits"]],
    ))
    for batch, new_tokens, method in cases[:2]:
        key = f"batch {batch}, {new_tokens} tokens, {method}"
        data["cprofile"][key] = _cprofile_top(model, tokenizer, prompts_for[batch], method, new_tokens)
        data["torch_profile"][key] = _torch_profile_top(model, tokenizer, prompts_for[batch], method, new_tokens,
                                                        device)
        md += ["", f"### cProfile, {key} (own time; ours + HF mask/cache helpers)", "", "```",
               data["cprofile"][key], "```", "", f"### torch.profiler operators, {key}", "",
               "(the profiler's per-op hooks inflate small ops; read the order, not the totals)", "", "```",
               data["torch_profile"][key].strip(), "```"]
    data["eviction"] = _eviction_cost(model, tokenizer, device)
    md += ["", "## Beacon eviction does not copy the cache", "",
           "One `SlotCache.drop_span` (evict a 16-token window under its beacon; only the beacon's entry moves):", "",
           common.md_table(["cache entries", "drop_span µs", "bytes moved", "cache bytes"],
                           [[r["cache_entries"], r["drop_span_us"], r["bytes_moved"], r["cache_bytes"]]
                            for r in data["eviction"]])]
    if args.compare_src:
        compare_cases = [
            {"batch": 1, "new_tokens": 256, "method": "full", "padded": False},
            {"batch": 1, "new_tokens": 1024, "method": "full", "padded": False},
            {"batch": 16, "new_tokens": 256, "method": "beacon:4", "padded": True},
            {"batch": 16, "new_tokens": 1024, "method": "full", "padded": True},
        ]
        if args.quick:
            compare_cases = compare_cases[:1] + compare_cases[2:3]
        data["before_after"] = _compare_sources(args, Path(args.compare_src), compare_cases, args.repeats or 3)
        md += ["", "## Before / after the loop optimisations", "",
               f"Old source: `{args.compare_src}`; the two versions run in alternating subprocesses "
               f"({args.repeats or 3} rounds x 2 calls each, medians). Padded = prompts of 5 different lengths.", "",
               common.md_table(["batch", "new tokens", "method", "padded", "before s", "after s", "speedup"],
                               [[c["batch"], c["new_tokens"], c["method"], "yes" if c["padded"] else "no",
                                 c["before_s"], c["after_s"], c["speedup"]] for c in data["before_after"]])]
    run.write(data, "\n".join(md), "Generation-loop profile")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_arguments(parser)
    parser.add_argument("--full", action="store_true", help="the whole grid: lengths {256,1k,4k} x batch {1,16,64}")
    parser.add_argument("--profile", action="store_true", help="profile the generation loop instead")
    parser.add_argument("--compare-src", help="with --profile: an old `src` directory to compare against")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.worker)
    device, dtype = common.configure(args)
    if args.profile:
        return profile_main(args, device, dtype)
    grid = FULL_GRID if args.full else QUICK_GRID if args.quick else DEFAULT_GRID
    run = common.Run("decode", args, device)
    model, tokenizer = common.bench_model(args.preset, device, dtype)
    run_ours(model, tokenizer, common.make_prompts(tokenizer, 1), "full", 16, device)  # warm-up
    run_hf(model, tokenizer, common.make_prompts(tokenizer, 1), 16, device)
    rows = []
    for batch, new_tokens in grid:
        repeats = args.repeats or (3 if batch * new_tokens <= 16 * 1024 else 2)
        row = decode_case(model, tokenizer, device, batch, new_tokens, repeats)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "methods"}), flush=True)
    md = ["Model: preset `%s` (Qwen2, untrained, %s), prompt %d tokens, greedy." % (
        args.preset, args.dtype, common.PROMPT_TOKENS), "",
        "Tokens/s = batch x new tokens / median wall time of the whole call. `full / HF time` < 1 means our "
        "full-cache loop is faster than HF `generate`; `c=16 speedup` = full time / beacon time.", "",
        decode_markdown(rows, METHODS)]
    run.write({"grid": grid, "model_preset": args.preset, "dtype": args.dtype, "rows": rows}, "\n".join(md),
              "Decode throughput")


if __name__ == "__main__":
    main()
