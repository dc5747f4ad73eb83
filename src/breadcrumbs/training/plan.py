"""`breadcrumbs train --plan`: what one training step holds in memory per process, before any weight is loaded.

The estimate is analytic, from the model's config (counted on the meta device) and the training config:

- static: weights, gradients and AdamW's two moments (all in `model.dtype`); with `mixed_precision: bf16/fp16`
  autocast also keeps a half-precision copy of every matrix it multiplies; FSDP / ZeRO-2 shard what they shard;
- training (one micro-batch: `micro_batch_size / processes` rollouts, twice the rows when teacher and student run
  fused): the activations autograd saves per token and layer (`ACTIVATION_ELEMENTS`, counted from the tensors a
  Llama/Qwen2 decoder layer saves; gradient checkpointing keeps one layer's input per layer plus one layer), the
  dense student mask, and the vocabulary projection (`LOGIT_COPIES` float32 `[tokens, vocab]` tensors alive at
  once, for one chunk of `model.logit_chunk_tokens` positions, or for every position when unchunked);
- rollouts: the full KV cache of this process's rollouts at prompt + `max_new_tokens`, and the float32 logits of
  one decoding step.
The peak is static + the larger of the two phases. `benchmarks/bench_train_memory.py` checks it against measured
peaks (`benchmarks/results/train_memory.md`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.training.config import TrainConfig

# Elements autograd keeps per token and decoder layer, in units of (hidden H, key/value width K, MLP width I):
# input norm (input, normalised) 2H; q, k, v projections' outputs H + 2K; rotary (q, k and their rotations)
# 2H + 2K; attention (q, k and v repeated to all heads, output) 4H; o_proj input H; post-attention norm 2H;
# MLP (gate, act(gate), up, act * up) 4I.
ACTIVATION_ELEMENTS = {"hidden": 12, "kv": 4, "intermediate": 4}
# float32 [positions, vocab] tensors alive at once in the vocabulary projection: logits, the sampling
# distribution's log-softmax, and in backward their gradients; the distillation KL adds the student's logits,
# both log-softmaxes and their product.
LOGIT_COPIES = {"logprob": 5, "joint": 9}
SHARDING = ("none", "zero2", "fsdp")


@dataclass
class ModelShape:
    params: int
    layers: int
    hidden: int
    kv_width: int
    intermediate: int
    vocab: int
    bytes_per_param: int


@dataclass
class Plan:
    """Per-process bytes by component, the phases they belong to, and the step's token counts."""

    processes: int
    sharding: str
    static: dict[str, int] = field(default_factory=dict)
    training: dict[str, int] = field(default_factory=dict)
    rollouts: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)

    @property
    def peak(self) -> int:
        return sum(self.static.values()) + max(sum(self.training.values()), sum(self.rollouts.values()))

    def text(self) -> str:
        gib = lambda n: f"{n / 2**30:8.2f} GiB"  # noqa: E731
        lines = [f"memory plan per process ({self.processes} process(es), sharding: {self.sharding})"]
        for title, part in (("static", self.static), ("training step (one micro-batch)", self.training),
                            ("rollouts", self.rollouts)):
            lines.append(f"  {title}: {gib(sum(part.values())).strip()}")
            lines += [f"    {name:<34}{gib(value)}" for name, value in part.items()]
        lines.append(f"  peak (static + larger phase): {gib(self.peak).strip()}")
        lines.append("tokens per step")
        lines += [f"    {name:<34}{value:>12,}" for name, value in self.tokens.items()]
        return "\n".join(lines)


def model_shape(config: TrainConfig) -> ModelShape:
    """The model's sizes from its config alone (a preset, or a local directory's config.json; no weights read)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from breadcrumbs.models import PRESETS, build_preset_model

    name = config.model.name
    if name in PRESETS:
        with torch.device("meta"):
            hf_config = build_preset_model(name, config.model.arch)[0].config
    elif (Path(name) / "config.json").is_file():
        hf_config = AutoConfig.from_pretrained(name, local_files_only=True)
    else:
        raise BreadcrumbsError(
            f"--plan needs the model's config: {name!r} is neither a preset nor a directory with config.json "
            "(a .gguf file: convert it first with `breadcrumbs convert`)"
        )
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config)
    heads = hf_config.num_attention_heads
    head_dim = getattr(hf_config, "head_dim", None) or hf_config.hidden_size // heads
    kv_heads = getattr(hf_config, "num_key_value_heads", None) or heads
    return ModelShape(
        params=sum(p.numel() for p in model.parameters()),
        layers=hf_config.num_hidden_layers,
        hidden=hf_config.hidden_size,
        kv_width=kv_heads * head_dim,
        intermediate=hf_config.intermediate_size,
        vocab=hf_config.vocab_size,
        bytes_per_param=torch.finfo(getattr(torch, config.model.dtype)).bits // 8,
    )


def prompt_tokens(config: TrainConfig, problems: int = 64) -> int:
    """The longest prompt of `problems` drawn for RL, in tokens of the model's tokenizer (characters where the model
    directory has none: the character tokenizer's count, an upper bound for a BPE one)."""
    from breadcrumbs.tasks import get_task
    from breadcrumbs.training.data import ProblemSource

    task = get_task(config.task.name)
    source = ProblemSource(task, config.task, config.seed, {"rl": config.rl.difficulty})
    texts = [task.prompt(problem) for problem in source.batch("rl", 0, problems)]
    path = Path(config.model.name)
    if (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        return max(len(tokenizer(text)["input_ids"]) for text in texts)
    return max(len(text) for text in texts) + 1  # + BOS


def make_plan(config: TrainConfig, processes: int = 1, sharding: str = "none", prompt: int | None = None) -> Plan:
    """The per-process memory plan of `config`'s RL step (the largest step) on `processes` processes."""
    if sharding not in SHARDING:
        raise BreadcrumbsError(f"--sharding {sharding!r}: choose one of {', '.join(SHARDING)}")
    shape = model_shape(config)
    rl, b = config.rl, shape.bytes_per_param
    prompt = prompt_tokens(config) if prompt is None else prompt
    plan = Plan(processes, sharding)
    shard = processes if sharding != "none" else 1
    plan.static["weights"] = shape.params * b // (processes if sharding == "fsdp" else 1)
    plan.static["gradients"] = shape.params * b // shard
    plan.static["AdamW moments"] = 2 * shape.params * b // shard
    half = config.mixed_precision != "no"
    if half:
        plan.static["autocast half-precision weights"] = shape.params * 2

    ratio = min(config.beacon.ratios)
    new = rl.max_new_tokens
    teacher_len = prompt + new
    student_len = prompt + new + new // ratio
    joint = config.distill.mode != "off"
    fused = joint and config.distill.fused_forward
    per_update = rl.minibatch_size or rl.batch_size
    micro = max((rl.micro_batch_size or per_update) // processes, 1)
    rows = micro * (2 if fused else 1)
    length = student_len if joint else teacher_len
    act_bytes = 2 if half else 4
    per_token_layer = (
        ACTIVATION_ELEMENTS["hidden"] * shape.hidden + ACTIVATION_ELEMENTS["kv"] * shape.kv_width
        + ACTIVATION_ELEMENTS["intermediate"] * shape.intermediate
    ) * act_bytes
    tokens = rows * length
    if config.model.gradient_checkpointing:
        kept = shape.layers * shape.hidden * act_bytes + per_token_layer  # each layer's input, one layer's inside
        plan.training["activations (checkpointed)"] = tokens * kept
    else:
        plan.training["activations"] = tokens * shape.layers * per_token_layer
    plan.training["student mask"] = rows * length * length
    positions = rows // (2 if fused else 1) * new
    chunk = min(config.model.logit_chunk_tokens or positions, positions)
    plan.training["vocabulary projection"] = chunk * shape.vocab * 4 * LOGIT_COPIES["joint" if joint else "logprob"]

    local = rl.batch_size // processes
    plan.rollouts["KV cache (full, rollouts)"] = local * shape.layers * 2 * shape.kv_width * teacher_len * b
    plan.rollouts["decoding logits"] = local * shape.vocab * 4

    plan.tokens = {
        "rollouts per step (all processes)": rl.batch_size,
        "rollouts per micro-batch per process": micro,
        "prompt tokens (longest)": prompt,
        "generated tokens per rollout (max)": new,
        "teacher sequence (max)": teacher_len,
        f"student sequence at c={ratio} (max)": student_len,
        "generated tokens per step (max)": rl.batch_size * new,
        "trained positions per step (max)": rl.batch_size * new * (2 if joint else 1) * rl.updates_per_batch,
    }
    return plan
