"""Rollout speed and joint-step time on one CUDA GPU (issue 14, item 7): random-weight models built from the real
configs of SmolLM2-135M and Qwen2.5-0.5B (no download), bf16, batch 64.

For each model: tokens/s of full-cache sampled rollouts in our generation loop and in HF `generate` (same prompts,
exactly --tokens new tokens: EOS unset), and the time of one RL-only and one joint RL + distillation update on those
rollouts (fp32 master weights, bf16 autocast, chunked losses, micro-batches of --micro rollouts accumulated), with
sdpa and with flex_attention (the student layout as a BlockMask). Writes $OUT/rollout_speed.{json,md}.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_train_memory import SHAPES  # noqa: E402

from breadcrumbs.generation import generate  # noqa: E402
from breadcrumbs.models import add_beacon, build_char_tokenizer  # noqa: E402
from breadcrumbs.policies import FullCache  # noqa: E402
from breadcrumbs.training.config import DistillConfig, RLConfig  # noqa: E402
from breadcrumbs.training.losses import group_advantages  # noqa: E402
from breadcrumbs.training.rl import Rollouts, rl_loss  # noqa: E402
from breadcrumbs.training.runtime import Runtime  # noqa: E402

QWEN_05B = {**SHAPES["qwen2.5-1.5b"], "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
            "num_attention_heads": 14, "num_key_value_heads": 2}
MODELS = {"smollm2-135m": SHAPES["smollm2-135m"], "qwen2.5-0.5b": QWEN_05B}
# DEVICE=cpu BATCH=8 TOKENS=4 MODELS=smollm2-135m runs it as a smoke test without a GPU
DEVICE = os.environ.get("DEVICE", "cuda")
BATCH, PROMPT, TOKENS, MICRO, RATIO = int(os.environ.get("BATCH", 64)), 32, int(os.environ.get("TOKENS", 256)), 16, 4


def build(shape: dict, attention: str, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    config = CONFIG_MAPPING[shape["model_type"]](**{k: v for k, v in shape.items() if k not in ("model_type",)})
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attention, dtype=dtype)
    model, tokenizer = add_beacon(model, build_char_tokenizer())
    tokenizer.eos_token = None
    model.config.eos_token_id = model.generation_config.eos_token_id = None
    return model.to(DEVICE), tokenizer


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed(fn):
    sync()
    started = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - started, out


def prompts(tokenizer):
    generator = torch.Generator().manual_seed(0)
    digits = [tokenizer(c, add_special_tokens=False)["input_ids"][0] for c in "0123456789+-*/= "]  # byte-level spellings
    return [[tokenizer.bos_token_id] + [digits[i] for i in torch.randint(len(digits), (PROMPT - 1,), generator=generator)]
            for _ in range(BATCH)]


def rollout_speed(name: str, shape: dict) -> dict:
    model, tokenizer = build(shape, "sdpa", torch.bfloat16)
    model.eval()
    rows = prompts(tokenizer)
    ours = lambda n: generate(model, tokenizer, rows, FullCache(), max_new_tokens=n, temperature=1.0, seed=0)  # noqa: E731
    ids = torch.tensor(rows, device=DEVICE)
    hf = lambda n: model.generate(  # noqa: E731
        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n, do_sample=True,
        temperature=1.0, top_p=1.0, top_k=0, pad_token_id=tokenizer.pad_token_id,
    )
    ours(8), hf(8)  # warm up
    result = {}
    for label, fn in (("ours", ours), ("hf_generate", hf)):
        times = [timed(lambda: fn(TOKENS))[0] for _ in range(2)]
        result[f"{label}_tokens_per_s"] = BATCH * TOKENS / statistics.median(times)
    if DEVICE == "cuda":
        result["peak_gib_generation"] = torch.cuda.max_memory_allocated() / 2**30
    out = ours(TOKENS)
    del model
    if DEVICE == "cuda":
        torch.cuda.empty_cache()
    return result, out.completion_ids, rows


def step_time(shape: dict, attention: str, completions, rows, joint: bool) -> float:
    model, tokenizer = build(shape, attention, torch.float32)
    model.train()
    rt = Runtime(model, model, tokenizer, chunk_tokens=1024)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    rewards = torch.tensor([float(i % 2) for i in range(BATCH)])
    batch = Rollouts([None] * BATCH, rows, completions, [""] * BATCH, rewards, rewards >= 1.0,
                     group_advantages(rewards, 8),
                     [RATIO] * BATCH, 0.0, [None] * BATCH)
    denominator = float(sum(len(c) for c in completions))

    def update():
        for start in range(0, BATCH, min(MICRO, BATCH)):
            with torch.autocast(DEVICE, dtype=torch.bfloat16):
                loss, _ = rl_loss(rt, batch.rows(range(start, min(start + MICRO, BATCH))), RLConfig(), DistillConfig(), 1.0,
                                  1.0 if joint else 0.0, denominator)
            loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    update()  # warm up (and compile flex kernels)
    seconds = statistics.median(timed(update)[0] for _ in range(2))
    del model, optimizer
    if DEVICE == "cuda":
        torch.cuda.empty_cache()
    return seconds


def main() -> None:
    out = Path(os.environ.get("OUT", "."))
    report = {"gpu": torch.cuda.get_device_name() if DEVICE == "cuda" else DEVICE, "batch": BATCH, "prompt": PROMPT, "tokens": TOKENS,
              "micro_batch": MICRO, "ratio": RATIO, "torch": torch.__version__, "models": {}}
    chosen = os.environ.get("MODELS", ",".join(MODELS)).split(",")  # MODELS=smollm2-135m: one model only
    for name, shape in ((name, MODELS[name]) for name in chosen):
        entry, completions, rows = rollout_speed(name, shape)
        for attention in ("sdpa", "flex_attention"):
            for joint in (False, True):
                key = f"step_s_{attention}_{'joint' if joint else 'rl_only'}"
                try:
                    entry[key] = step_time(shape, attention, completions, rows, joint)
                except Exception as err:  # record and go on: one failing variant must not lose the others
                    entry[key] = f"error: {err}".splitlines()[0][:300]
                    traceback.print_exc()
                print(name, key, entry[key], flush=True)
        report["models"][name] = entry
        print(name, json.dumps(entry), flush=True)
    (out / "rollout_speed.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Rollout speed and joint-step time on {report['gpu']}", "",
             f"batch {BATCH}, prompt {PROMPT} + {TOKENS} sampled tokens, bf16 generation; updates: fp32 weights, "
             f"bf16 autocast, micro-batches of {MICRO}, c = {RATIO}. Command: OUT=... bash benchmarks/gpu/rollout_speed.sh",
             "", "| model | ours tok/s | HF generate tok/s | step s (sdpa RL / joint) | step s (flex RL / joint) |",
             "|---|---|---|---|---|"]
    fmt = lambda v: f"{v:.2f}" if isinstance(v, float) else str(v)  # noqa: E731
    for name, e in report["models"].items():
        lines.append(f"| {name} | {e['ours_tokens_per_s']:,.0f} | {e['hf_generate_tokens_per_s']:,.0f} | "
                     f"{fmt(e['step_s_sdpa_rl_only'])} / {fmt(e['step_s_sdpa_joint'])} | "
                     f"{fmt(e['step_s_flex_attention_rl_only'])} / {fmt(e['step_s_flex_attention_joint'])} |")
    (out / "rollout_speed.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
