"""Overhead of serving beacons through transformers' `model.generate` against our own loop, in one run.

    python benchmarks/bench_hf_generate.py            # batch {1, 16} x c {4, 16}, 256 new tokens, ~3.5 minutes
    python benchmarks/bench_hf_generate.py --quick    # batch 1 only

`model.generate(custom_generate=breadcrumbs.hf.CUSTOM_GENERATE, beacon_ratio=c)` and `breadcrumbs.generate` with
`BeaconPolicy(c)` decode the same same-length prompts greedily for exactly N new tokens on the same untrained model
(EOS unset), and must return the same tokens (checked). Times are whole calls, interleaved in rotating order,
medians kept, as wall time and as this process's CPU time (one torch thread: its own work, which other jobs on a
shared machine move far less). The goal, `model.generate` with beacons <= 1.1x our loop's time, is judged on CPU
time on a CPU and on wall time on CUDA, per case and pooled over the cases.
"""

from __future__ import annotations

import argparse
import time

import torch

try:
    from benchmarks import common
except ImportError:  # run as a script: benchmarks/ itself is on sys.path
    import common

NEW_TOKENS = 256
GRID = [(1, 4), (1, 16), (16, 4), (16, 16)]  # (batch, ratio)
QUICK_GRID = [(1, 4), (1, 16)]
GOAL = 1.1
METHODS = ("ours", "hf_beacons")


def timed(fn, device) -> tuple[float, float, object]:
    """Wall seconds, process CPU seconds and the result of `fn()`."""
    started = time.process_time()
    wall, result = common.timed(fn, device)
    return wall, time.process_time() - started, result


def run_case(model, tokenizer, device, batch: int, ratio: int, repeats: int) -> dict:
    """Both methods on one (batch, ratio) case: median times, tokens/s, and whether the beacon paths agree."""
    from breadcrumbs import BeaconPolicy, generate
    from breadcrumbs.generation import banned_token_ids, eos_token_ids
    from breadcrumbs.hf import CUSTOM_GENERATE

    prompts = common.make_prompts(tokenizer, batch)
    ids = torch.tensor(prompts, device=device)
    mask = torch.ones_like(ids)
    banned = banned_token_ids(tokenizer, eos_token_ids(model, tokenizer))  # what our loop never samples
    outputs: dict[str, list[list[int]]] = {}
    cpu: dict[str, list[float]] = {name: [] for name in METHODS}

    def call(name: str, new_tokens: int) -> object:
        if name == "ours":
            out = generate(model, tokenizer, prompts, BeaconPolicy(ratio), max_new_tokens=new_tokens)
            return out.completion_ids
        out = model.generate(
            input_ids=ids, attention_mask=mask, custom_generate=CUSTOM_GENERATE, trust_remote_code=True,
            beacon_ratio=ratio, tokenizer=tokenizer, max_new_tokens=new_tokens, do_sample=False, suppress_tokens=banned,
        )
        return out[:, ids.shape[1] :].tolist()

    def case(name: str):
        def once() -> float:
            wall, seconds, outputs[name] = timed(lambda: call(name, NEW_TOKENS), device)
            cpu[name].append(seconds)
            return wall

        return once

    for name in METHODS:  # warm-up (transformers copies the custom generate module on first use)
        call(name, 2)
    walls = common.interleaved({name: case(name) for name in METHODS}, repeats)
    medians = {kind: {name: common.median(values[name]) for name in METHODS}
               for kind, values in (("wall", walls), ("cpu", cpu))}
    return {
        "batch": batch, "ratio": ratio, "new_tokens": NEW_TOKENS, "repeats": repeats, "wall_times_s": walls,
        "cpu_times_s": cpu, "median_wall_s": medians["wall"], "median_cpu_s": medians["cpu"],
        "tokens_per_s": {name: batch * NEW_TOKENS / seconds for name, seconds in medians["wall"].items()},
        **{f"hf_beacons_over_ours_{kind}": found["hf_beacons"] / found["ours"] for kind, found in medians.items()},
        "same_tokens": outputs["ours"] == outputs["hf_beacons"],
        "all_tokens_generated": all(len(row) == NEW_TOKENS for row in outputs["ours"] + outputs["hf_beacons"]),
    }


def overall(rows: list[dict]) -> dict[str, float]:
    """The pooled ratios over every case (sum of `model.generate` medians over the sum of ours), CPU and wall."""
    return {kind: sum(row[f"median_{kind}_s"]["hf_beacons"] for row in rows)
            / sum(row[f"median_{kind}_s"]["ours"] for row in rows) for kind in ("cpu", "wall")}


def markdown(rows: list[dict], judged_on: str) -> str:
    headers = ["batch", "c", "ours tok/s", "model.generate + beacons tok/s", "model.generate / ours, CPU time",
               "... wall time", f"<= {GOAL}x", "same tokens", "all N generated"]
    table = [[
        row["batch"], row["ratio"], *(row["tokens_per_s"][name] for name in METHODS),
        row["hf_beacons_over_ours_cpu"], row["hf_beacons_over_ours_wall"],
        "yes" if row[f"hf_beacons_over_ours_{judged_on}"] <= GOAL else "NO",
        "yes" if row["same_tokens"] else "NO", "yes" if row["all_tokens_generated"] else "NO",
    ] for row in rows]
    pooled = overall(rows)
    verdict = "yes" if pooled[judged_on] <= GOAL else "NO"
    table.append(["all (pooled)", "", "", "", pooled["cpu"], pooled["wall"], verdict, "", ""])
    return common.md_table(headers, table) + (
        f"\n\n{NEW_TOKENS} new tokens per row, greedy, 32-token prompts; whole calls (prefill + decode), medians of "
        "interleaved repeats; tokens/s from wall time. The ratios are the figures to read (the goal is judged on CPU "
        "time on a CPU); absolute tokens/s drift with the machine's load.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_common_arguments(parser)
    args = parser.parse_args()
    device, dtype = common.configure(args)
    model, tokenizer = common.bench_model(args.preset, device, dtype)
    run = common.Run("hf_generate", args, device)
    repeats = args.repeats or 15  # the per-case ratio moves by about +-10% on a shared machine: medians of 15
    judged_on = "cpu" if device.type == "cpu" else "wall"
    rows = []
    for batch, ratio in QUICK_GRID if args.quick else GRID:
        row = run_case(model, tokenizer, device, batch, ratio, repeats)
        print(f"batch {batch} c={ratio}: model.generate / ours = {row[f'hf_beacons_over_ours_{judged_on}']:.3f} "
              f"({judged_on} time), same tokens {row['same_tokens']}", flush=True)
        rows.append(row)
    print(f"pooled: model.generate / ours = {overall(rows)[judged_on]:.3f} ({judged_on} time)")
    run.write({"goal": GOAL, "judged_on": judged_on, "overall": overall(rows), "rows": rows},
              markdown(rows, judged_on), "`model.generate` with beacons vs our loop")


if __name__ == "__main__":
    main()
