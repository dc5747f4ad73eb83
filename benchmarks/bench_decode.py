"""Decode throughput: HF `generate` (dynamic and static cache) against our loop (dynamic and static paths) with the
full cache, beacons (c = 4, 16) and the fastest training-free baselines at the beacons' budget.

    python benchmarks/bench_decode.py            # the default CPU grid (see DEFAULT_GRID), ~7 minutes
    python benchmarks/bench_decode.py --quick    # a smoke test of every method kind at tiny size (CI)
    python benchmarks/bench_decode.py --full     # lengths {1k, 4k, 16k} x batch sizes {1, 16, 64}
    python benchmarks/bench_decode.py --gpu --device cuda --dtype bfloat16 --shape smollm2-135m   # gpu/decode.sh
    python benchmarks/bench_decode.py --profile  # profile of the generation loop -> results/profile.{json,md}
    python benchmarks/bench_decode.py --profile --compare-src /path/to/old/src   # + before/after ratios

Every method decodes the same same-length prompts greedily for exactly N new tokens (HF: `min_new_tokens=N`; ours:
checked from the returned stats). Times are whole calls (prefill + decode), taken around the call; the methods of
a case run interleaved, `--repeats` times in rotating order, and the median is reported. Time to first token is
one call with N = 1. KV bytes: ours as measured (peak occupied entries of all rows) and the preallocated buffer;
HF the cache tensors it returns (DynamicCache: what it grew to; StaticCache: its preallocation).

Methods: `hf`, `hf+static` (transformers' StaticCache; on CUDA transformers compiles its step), a policy spec
(`full`, `beacon:16`, ...) for our dynamic path, `SPEC+static` for the static path, `SPEC+compile` for the static
path with the step compiled (CUDA graphs). A baseline spec with `@beacon:C` (`streaming:@beacon:16`) takes the
budget beacon:C peaks at for that N (its generated entries), the same-budget comparison.
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

OURS = ["full", "full+static", "beacon:4", "beacon:16", "beacon:16+static"]
BASELINES = ["streaming:@beacon:16", "knorm:@beacon:16"]
# (batch, new tokens, methods): the CPU goal case (batch 16, 4k) with every kind; HF where it finishes in minutes
DEFAULT_GRID = [
    (1, 1024, ["hf", "hf+static", *OURS, *BASELINES]),
    (16, 1024, ["hf", "hf+static", *OURS, *BASELINES]),
    (64, 1024, ["full", "full+static", "beacon:16", "beacon:16+static", "streaming:@beacon:16"]),
    (16, 4096, [*OURS, *BASELINES, "tova:@beacon:16"]),
]
QUICK_GRID = [(2, 40, ["hf", "hf+static", "full", "full+static", "beacon:4", "beacon:4+static",
                       "streaming:@beacon:4", "tova:@beacon:4"])]
FULL_GRID = [(batch, length, ["hf", "hf+static", *OURS, "beacon:4+static", *BASELINES, "tova:@beacon:16"])
             for batch in (1, 16, 64) for length in (1024, 4096, 16384)]
COMPILED = ["full+compile", "beacon:4+compile", "beacon:16+compile", "streaming:@beacon:16+compile"]
GPU_GRID = [  # gpu/decode.sh runs each case as its own stage under a timeout
    (64, 1024, ["hf", "hf+static", "full", "full+static", "beacon:16", "beacon:16+static", *COMPILED,
                "knorm:@beacon:16", "tova:@beacon:16"]),
    (64, 4096, ["hf+static", *COMPILED, "beacon:16"]),
    (64, 32768, ["beacon:16+compile", "streaming:@beacon:16+compile"]),
]
MODES = ("static", "compile")


def parse_method(method: str, new_tokens: int) -> tuple[str, str | None]:
    """`beacon:16+static` -> (`beacon:16`, `static`); a baseline's `@beacon:C` budget is resolved for `new_tokens`."""
    spec, _, mode = method.partition("+")
    if mode and mode not in MODES:
        raise SystemExit(f"unknown mode {mode!r} in {method!r}; use +static or +compile")
    name, _, argument = spec.partition(":")
    if argument.startswith("@"):
        from breadcrumbs.policies import policy_from_spec

        reference = policy_from_spec(argument[1:])
        spec = f"{name}:{reference.capacity(0, new_tokens)}"  # the reference's peak generated entries
    return spec, mode or None


def run_ours(model, tokenizer, prompts, method: str, new_tokens: int, device) -> tuple[float, dict]:
    """Seconds for one `breadcrumbs.generate` call; the fewest tokens any row generated and the KV bytes."""
    from breadcrumbs import generate
    from breadcrumbs.policies import policy_from_spec

    spec, mode = parse_method(method, new_tokens)
    seconds, out = common.timed(
        lambda: generate(model, tokenizer, prompts, policy_from_spec(spec), max_new_tokens=new_tokens,
                         static=mode is not None, compile=mode == "compile"), device
    )
    return seconds, {"generated": min(s.generated_tokens for s in out.stats),
                     "kv_peak_bytes": sum(s.peak_kv_bytes for s in out.stats),
                     "kv_allocated_bytes": out.peak_allocated_kv_bytes}


def run_hf(model, tokenizer, prompts, method: str, new_tokens: int, device) -> tuple[float, dict]:
    """Seconds for one HF `model.generate` call (DynamicCache, or StaticCache for `hf+static`; greedy)."""
    ids = torch.tensor(prompts, device=device)
    cache = {"cache_implementation": "static"} if method == "hf+static" else {}

    def call():
        with torch.no_grad():
            return model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                min_new_tokens=new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                return_dict_in_generate=True, **cache,
            )

    seconds, out = common.timed(call, device)
    held = sum(layer.keys.nbytes + layer.values.nbytes for layer in out.past_key_values.layers)
    return seconds, {"generated": out.sequences.shape[1] - ids.shape[1], "kv_peak_bytes": held,
                     "kv_allocated_bytes": held}


def run_method(model, tokenizer, prompts, method: str, new_tokens: int, device) -> tuple[float, dict]:
    run = run_hf if method.startswith("hf") else run_ours
    return run(model, tokenizer, prompts, method, new_tokens, device)


def decode_case(model, tokenizer, device, batch: int, new_tokens: int, repeats: int, methods, warmup: bool = False
                ) -> dict:
    """All methods on one (batch, length) case, interleaved; medians, time to first token, KV bytes, and the
    tokens each generated. `warmup`: one untimed call per method at this very shape first (compiled steps)."""
    prompts = common.make_prompts(tokenizer, batch)
    found: dict[str, dict] = {}
    if warmup:
        for method in methods:
            run_method(model, tokenizer, prompts, method, new_tokens, device)

    def case(method: str):
        def once() -> float:
            seconds, figures = run_method(model, tokenizer, prompts, method, new_tokens, device)
            generated = min(figures["generated"], found.get(method, figures)["generated"])
            found[method] = {**figures, "generated": generated}
            return seconds

        return once

    times = common.interleaved({method: case(method) for method in methods}, repeats)
    first = common.interleaved(
        {method: lambda method=method: run_method(model, tokenizer, prompts, method, 1, device)[0]
         for method in methods}, 1,
    )
    row = {"batch": batch, "new_tokens": new_tokens, "repeats": repeats, "methods": {}}
    for method in methods:
        seconds = common.median(times[method])
        row["methods"][method] = {
            "spec": parse_method(method, new_tokens)[0] if not method.startswith("hf") else method,
            "median_s": seconds,
            "times_s": times[method],
            "tokens_per_s": batch * new_tokens / seconds,
            "time_to_first_token_s": first[method][0],
            "kv_peak_bytes": found[method]["kv_peak_bytes"],
            "kv_allocated_bytes": found[method]["kv_allocated_bytes"],
            "min_generated_tokens": found[method]["generated"],
            "all_tokens_generated": found[method]["generated"] == new_tokens,
        }
    return row


def _ratio(row: dict, numerator: str, denominator: str) -> float | str:
    """Tokens/s of `numerator` over `denominator` in this row (`-` when either did not run)."""
    found = row["methods"]
    if numerator not in found or denominator not in found:
        return "-"
    return found[numerator]["tokens_per_s"] / found[denominator]["tokens_per_s"]


def _beacon_of(method: str) -> str:
    """The beacon method a baseline is matched to, in the same mode: `knorm:@beacon:16+static` -> `beacon:16+static`."""
    spec, _, mode = method.partition("+")
    return spec.partition(":@")[2] + (f"+{mode}" if mode else "")


def decode_markdown(rows: list[dict]) -> str:
    """One table row per (case, method): tokens/s, ratios to full / the dynamic path / the matched beacons, TTFT, KV."""
    headers = ["batch", "N", "method", "tok/s", "vs full", "vs dynamic", "vs matched beacons", "TTFT ms",
               "KV peak MiB", "KV allocated MiB", "all N"]
    table = []
    for row in rows:
        for method, figures in row["methods"].items():
            spec, _, mode = method.partition("+")
            matched = _ratio(row, method, _beacon_of(method)) if ":@" in method else "-"
            table.append([
                row["batch"], row["new_tokens"], method + (f" ({figures['spec']})" if ":@" in method else ""),
                figures["tokens_per_s"], _ratio(row, method, "full"), _ratio(row, method, spec) if mode else "-",
                matched, figures["time_to_first_token_s"] * 1e3, figures["kv_peak_bytes"] / 2**20,
                figures["kv_allocated_bytes"] / 2**20, "yes" if figures["all_tokens_generated"] else "NO",
            ])
    return common.md_table(headers, table)


# ---------------------------------------------------------------------------------------------------- profiling


def _split_model_time(model, tokenizer, prompts, method, new_tokens, device) -> dict:
    """Wall time of one call split into the model's forward passes and everything else (our loop, policy hooks,
    sampling, accounting). Wraps the model's `__call__` in a timer for this call only."""
    from breadcrumbs import generate
    from breadcrumbs.policies import policy_from_spec

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
            lambda: generate(model, tokenizer, prompts, policy_from_spec(method), max_new_tokens=new_tokens), device
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
    from breadcrumbs.policies import policy_from_spec

    profiler = cProfile.Profile()
    profiler.enable()
    generate(model, tokenizer, prompts, policy_from_spec(method), max_new_tokens=new_tokens)
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
    from breadcrumbs.policies import policy_from_spec

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        generate(model, tokenizer, prompts, policy_from_spec(method), max_new_tokens=new_tokens)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=limit, max_name_column_width=48)


def _eviction_cost(model, tokenizer, device, repeats: int = 200) -> list[dict]:
    """Time and bytes moved by one beacon eviction (`SlotCache.drop_span` of a c-window under the beacon) at
    different cache lengths: constant cost shows eviction never copies the whole cache."""
    from breadcrumbs.policies.cache import SlotCache

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


def shape_model(name: str, device: torch.device, dtype: torch.dtype, positions: int):
    """A random-weight model of a real model's shape (`bench_train_memory.SHAPES`: its config, no weights), with the
    char tokenizer and `<beacon>`, EOS unset and at least `positions` positions: speed depends on shapes only."""
    from transformers import AutoModelForCausalLM
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    from bench_train_memory import SHAPES
    from breadcrumbs.models import add_beacon, build_char_tokenizer

    shape = dict(SHAPES[name])
    shape["max_position_embeddings"] = max(shape.get("max_position_embeddings", 0), positions)
    config = CONFIG_MAPPING[shape.pop("model_type")](**shape)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa", dtype=dtype)
    model, tokenizer = add_beacon(model, build_char_tokenizer())
    tokenizer.eos_token = None
    model.config.eos_token_id = model.generation_config.eos_token_id = None
    return model.to(device).eval(), tokenizer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_arguments(parser)
    parser.add_argument("--full", action="store_true", help="the whole grid: lengths {1k,4k,16k} x batch {1,16,64}")
    parser.add_argument("--gpu", type=int, nargs="?", const=-1, default=None, metavar="CASE",
                        help="the GPU grid (GPU_GRID), or only its case number CASE (0-based)")
    parser.add_argument("--case", action="append", metavar="BxN=M1,M2",
                        help="run this case instead of a grid, e.g. 16x4096=full,beacon:16 (repeatable)")
    parser.add_argument("--shape", help="a real model's shape from bench_train_memory.SHAPES instead of --preset")
    parser.add_argument("--warmup", action="store_true", help="one untimed call per method at each case's shape")
    parser.add_argument("--name", default="decode", help="result file name under --out (default decode)")
    parser.add_argument("--profile", action="store_true", help="profile the generation loop instead")
    parser.add_argument("--compare-src", help="with --profile: an old `src` directory to compare against")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.worker)
    device, dtype = common.configure(args)
    if args.profile:
        return profile_main(args, device, dtype)
    if args.case:
        grid = [(int(size.partition("x")[0]), int(size.partition("x")[2]), methods.split(","))
                for size, _, methods in (case.partition("=") for case in args.case)]
    elif args.gpu is not None:
        grid = GPU_GRID if args.gpu < 0 else [GPU_GRID[args.gpu]]
    else:
        grid = FULL_GRID if args.full else QUICK_GRID if args.quick else DEFAULT_GRID
    run = common.Run(args.name, args, device)
    positions = 2 * max(new_tokens for _, new_tokens, _ in grid) + 2 * common.PROMPT_TOKENS
    if args.shape:
        model, tokenizer = shape_model(args.shape, device, dtype, positions)
    else:
        model, tokenizer = common.bench_model(args.preset, device, dtype, max_positions=max(8192, positions))
    for method in ("full", "hf"):  # warm-up
        run_method(model, tokenizer, common.make_prompts(tokenizer, 1), method, 16, device)
    model_name = f"shape `{args.shape}`" if args.shape else f"preset `{args.preset}` (Qwen2)"
    rows = []
    for batch, new_tokens, methods in grid:
        repeats = args.repeats or (2 if batch * new_tokens <= 16 * 1024 else 1)
        row = decode_case(model, tokenizer, device, batch, new_tokens, repeats, methods, args.warmup)
        rows.append(row)
        print(json.dumps({"batch": batch, "new_tokens": new_tokens,
                          "tokens_per_s": {m: round(f["tokens_per_s"]) for m, f in row["methods"].items()}}),
              flush=True)
        md = [f"Model: {model_name}, untrained, {args.dtype}, prompt {common.PROMPT_TOKENS} tokens, greedy.", "",
              "Tokens/s = batch x N / median wall time of the whole call (prefill + decode). `vs full`: tokens/s "
              "over our full cache (dynamic path); `vs dynamic`: a static/compiled method over the same spec on the "
              "dynamic path; `vs matched beacons`: a baseline over the beacons whose peak it matches, same mode. "
              "TTFT: one call with N = 1. KV peak: measured occupied entries, all rows (HF: its cache tensors); "
              "KV allocated: the preallocated buffers.", "",
              decode_markdown(rows)]
        run.write({"grid": grid, "model": args.shape or args.preset, "dtype": args.dtype, "rows": rows},
                  "\n".join(md), "Decode throughput")  # after every case: a stage cut short keeps what it measured


if __name__ == "__main__":
    main()
