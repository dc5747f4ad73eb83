"""Peak memory of one training step on real vocabulary sizes: chunked vs unchunked losses, joint vs RL-only, and the
`--plan` estimate next to each measurement.

    python benchmarks/bench_train_memory.py [--quick] [--rows 4] [--prompt 32] [--tokens 64]

Models are random weights built from the real configs (no download): SmolLM2-135M at 4 of its 30 layers (Llama, 49,152
vocabulary) and Qwen2.5-1.5B at 2 of its 28 layers (151,936 vocabulary), float32 on CPU. Each case runs in a fresh
process: fixed rollouts (`--rows` sequences of `--prompt` + `--tokens` tokens, beacons at c = 4 for the student),
then two optimizer steps of `rl_loss` + backward + AdamW (the second holds the optimizer's moments, as every later
step does). Measured = peak resident memory minus the resident memory before the model was built, with glibc told
to map every allocation above 64 KiB (`MALLOC_MMAP_THRESHOLD_`) so that freed tensors leave the resident set.
Estimate = `make_plan(...)` static + training phase for the same shape and batch (generation is not run here).
Results: benchmarks/results/train_memory.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, Run, md_table  # noqa: E402

# The real configs' shapes (config.json of HuggingFaceTB/SmolLM2-135M and Qwen/Qwen2.5-1.5B), depth set per case.
SHAPES = {
    "smollm2-135m": {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 576, "intermediate_size": 1536,
        "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152,
        "max_position_embeddings": 8192, "rope_theta": 100000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": True,
        "hidden_act": "silu",
    },
    "qwen2.5-1.5b": {
        "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 1536, "intermediate_size": 8960,
        "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936,
        "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
        "hidden_act": "silu",
    },
}
DEPTH = {"smollm2-135m": 4, "qwen2.5-1.5b": 2}


def shape_dir(root: Path, shape: str, layers: int) -> Path:
    """A directory holding only the config.json of `shape` at `layers` layers (what `--plan` reads)."""
    path = root / f"{shape}-{layers}l"
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({**SHAPES[shape], "num_hidden_layers": layers}))
    return path


def train_config(model_dir: Path, case: dict):
    from breadcrumbs.training import config_from_dict

    return config_from_dict({
        "model": {"name": str(model_dir), "logit_chunk_tokens": case["chunk"]},
        "task": {"name": "countdown"}, "beacon": {"ratios": [4]},
        "rl": {"steps": 1, "batch_size": case["rows"], "group_size": 2, "max_new_tokens": case["tokens"]},
        "distill": {"mode": "joint" if case["joint"] else "off"},
    })


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def worker(case: dict) -> None:
    """One case in this (fresh) process; prints the measured peak as JSON."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from breadcrumbs.models import add_beacon, build_char_tokenizer
    from breadcrumbs.training.config import DistillConfig, RLConfig
    from breadcrumbs.training.losses import group_advantages
    from breadcrumbs.training.rl import Rollouts, rl_loss
    from breadcrumbs.training.runtime import Runtime

    torch.set_num_threads(1)
    baseline = rss_bytes()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(case["model_dir"]), attn_implementation="sdpa")
    model, tokenizer = add_beacon(model, build_char_tokenizer())
    model.train()
    rt = Runtime(model, model, tokenizer, chunk_tokens=case["chunk"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    rows, generator = case["rows"], torch.Generator().manual_seed(0)
    ids = lambda n: torch.randint(10, 90, (n,), generator=generator).tolist()  # noqa: E731
    rewards = torch.tensor([float(i % 2) for i in range(rows)])
    rollouts = Rollouts([None] * rows, [ids(case["prompt"]) for _ in range(rows)],
                        [ids(case["tokens"]) for _ in range(rows)], [""] * rows, rewards, rewards >= 1.0,
                        group_advantages(rewards, 2), [4] * rows, 0.0, [])
    for _ in range(2):
        loss, _ = rl_loss(rt, rollouts, RLConfig(), DistillConfig(), 1.0, 1.0 if case["joint"] else 0.0,
                          float(rows * case["tokens"]))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"measured_bytes": peak - baseline}))


def measure(case: dict) -> int:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, __file__, "--worker", json.dumps(case)], env=env, capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["measured_bytes"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="SmolLM2 shape only")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated model shapes to measure")
    parser.add_argument("--name", default="train_memory", help="result file name")
    parser.add_argument("--rows", type=int, default=4, help="rollouts in the step")
    parser.add_argument("--prompt", type=int, default=32, help="prompt tokens per rollout")
    parser.add_argument("--tokens", type=int, default=64, help="generated tokens per rollout")
    parser.add_argument("--chunk", type=int, default=64, help="logit_chunk_tokens of the chunked cases")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    import torch

    from breadcrumbs.training.plan import make_plan

    args.threads = 1
    run = Run(args.name, args, torch.device("cpu"))
    shapes = ["smollm2-135m"] if args.quick else args.shapes.split(",")
    records = []
    with tempfile.TemporaryDirectory() as root:
        for shape in shapes:
            model_dir = shape_dir(Path(root), shape, DEPTH[shape])
            for joint in (True, False):
                for chunk in (args.chunk, 0):
                    case = {"model_dir": str(model_dir), "rows": args.rows, "prompt": args.prompt,
                            "tokens": args.tokens, "joint": joint, "chunk": chunk}
                    plan = make_plan(train_config(model_dir, case), prompt=args.prompt)
                    estimate = sum(plan.static.values()) + sum(plan.training.values())
                    measured = measure(case)
                    records.append({"shape": shape, "layers": DEPTH[shape], "vocab": SHAPES[shape]["vocab_size"],
                                    "loss": "joint" if joint else "rl-only", "chunk_tokens": chunk,
                                    "measured_bytes": measured, "estimate_bytes": estimate,
                                    "estimate_parts": {**plan.static, **plan.training}})
                    print(records[-1]["shape"], records[-1]["loss"], chunk, f"{measured / 2**30:.2f} GiB measured",
                          f"{estimate / 2**30:.2f} GiB estimated", flush=True)
    gib = lambda n: f"{n / 2**30:.2f}"  # noqa: E731
    by = {(r["shape"], r["loss"], r["chunk_tokens"]): r["measured_bytes"] for r in records}
    table = md_table(
        ["model (layers, vocab)", "loss", "logit chunk", "measured GiB", "plan GiB", "plan / measured"],
        [[f"{r['shape']} ({r['layers']}, {r['vocab']:,})", r["loss"], r["chunk_tokens"] or "off (all)",
          gib(r["measured_bytes"]), gib(r["estimate_bytes"]), f"{r['estimate_bytes'] / r['measured_bytes']:.2f}"]
         for r in records],
    )
    ratios = md_table(
        ["model", "unchunked / chunked (joint)", "joint / RL-only (chunked)", "joint / RL-only (unchunked)"],
        [[shape, f"{by[shape, 'joint', 0] / by[shape, 'joint', args.chunk]:.2f}",
          f"{by[shape, 'joint', args.chunk] / by[shape, 'rl-only', args.chunk]:.2f}",
          f"{by[shape, 'joint', 0] / by[shape, 'rl-only', 0]:.2f}"] for shape in shapes],
    )
    body = (f"One step, {args.rows} rollouts of {args.prompt} prompt + {args.tokens} generated tokens, float32, "
            "1 thread; measured = peak RSS minus RSS before the model was built.\n\n" + table + "\n\n" + ratios)
    run.write({"records": records, "rows": args.rows, "prompt": args.prompt, "tokens": args.tokens}, body,
              "Training-step memory: chunked losses, joint vs RL-only, plan vs measured")


if __name__ == "__main__":
    main()
