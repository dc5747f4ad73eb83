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
  one decoding step;
- the SFT step (when `sft.steps` > 0): the same activations, mask and projection for one SFT micro-batch of solver
  traces (their longest of a small sample), and the evaluation: the full KV cache of `eval.batch_size` sequences;
- host: the solver traces of one SFT batch as Python objects (`HOST_BYTES_PER_TRACE` + `HOST_BYTES_PER_TOKEN` each).
The peak is static + the largest phase. `train` runs the same estimate before its first step (`check_fits`) and
refuses a config that clearly cannot fit. `benchmarks/bench_train_memory.py` checks it against measured
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
    context: int = 2**31  # max_position_embeddings
    note: str | None = None  # how the shape was found, when not from the model itself (a shipped shape preset)


@dataclass
class Plan:
    """Per-process bytes by component, the phases they belong to, and the step's token counts."""

    processes: int
    sharding: str
    static: dict[str, int] = field(default_factory=dict)
    training: dict[str, int] = field(default_factory=dict)
    rollouts: dict[str, int] = field(default_factory=dict)
    sft: dict[str, int] = field(default_factory=dict)
    evaluation: dict[str, int] = field(default_factory=dict)
    host: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def phases(self) -> dict[str, dict[str, int]]:
        return {"training step (one micro-batch)": self.training, "rollouts": self.rollouts,
                "SFT step (one micro-batch)": self.sft, "evaluation": self.evaluation}

    @property
    def peak(self) -> int:
        return sum(self.static.values()) + max(sum(part.values()) for part in self.phases.values())

    def text(self) -> str:
        gib = lambda n: f"{n / 2**30:8.2f} GiB"  # noqa: E731
        lines = [*self.notes, f"memory plan per process ({self.processes} process(es), sharding: {self.sharding})"]
        for title, part in (("static", self.static), *self.phases.items(), ("host (CPU memory)", self.host)):
            if not part:
                continue
            lines.append(f"  {title}: {gib(sum(part.values())).strip()}")
            lines += [f"    {name:<34}{gib(value)}" for name, value in part.items()]
        lines.append(f"  peak (static + largest phase): {gib(self.peak).strip()}")
        lines.append("tokens per step")
        lines += [f"    {name:<34}{value:>12,}" for name, value in self.tokens.items()]
        return "\n".join(lines)


def model_shape(config: TrainConfig) -> ModelShape:
    """The model's sizes from its config alone (a preset, or a local directory's config.json; no weights read); a
    missing directory named like a shipped shape preset (`breadcrumbs.shapes`) plans with that shape, and says so."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from breadcrumbs.models import PRESETS, build_preset_model
    from breadcrumbs.shapes import shape_config, shape_name

    name, note = config.model.name, None
    if name in PRESETS:
        with torch.device("meta"):
            hf_config = build_preset_model(name, config.model.arch)[0].config
    elif (Path(name) / "config.json").is_file():
        hf_config = AutoConfig.from_pretrained(name, local_files_only=True)
    elif (shape := shape_name(name)) is not None:
        hf_config = shape_config(shape)
        note = (f"note: {name} is not on disk; planning with the shipped shape of {shape} (breadcrumbs.shapes: its "
                "config.json sizes, no weights; prompt lengths in characters, an upper bound)")
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
        context=int(getattr(hf_config, "max_position_embeddings", 0) or 2**31),
        note=note,
    )


def prompt_tokens(config: TrainConfig, problems: int = 64) -> int:
    """The longest prompt of `problems` drawn for RL, in tokens of the model's tokenizer (characters where the model
    directory has none: the character tokenizer's count, an upper bound for a BPE one)."""
    from breadcrumbs.training.config import build_task
    from breadcrumbs.training.data import ProblemSource

    task = build_task(config.task)
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
    plan = Plan(processes, sharding, notes=[shape.note] if shape.note else [])
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
    if config.sft.steps > 0:
        _sft_phase(plan, config, shape, processes, act_bytes, per_token_layer, ratio)
    eval_new = config.eval.max_new_tokens or new
    eval_rows = min(config.eval.batch_size, config.task.eval_problems)
    if eval_rows:
        plan.evaluation["KV cache (full, evaluation)"] = (
            eval_rows * shape.layers * 2 * shape.kv_width * (prompt + eval_new) * b
        )
        plan.evaluation["decoding logits"] = eval_rows * shape.vocab * 4

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


# Host bytes of one SFT batch held as Python objects: the problem and its trace text, and the token id lists
# (prompt and trace) with their tensors.
HOST_BYTES_PER_TRACE = 2048
HOST_BYTES_PER_TOKEN = 32


def sft_lengths(config: TrainConfig, problems: int = 16) -> tuple[int, int]:
    """(longest prompt, longest solver trace + EOS) of `problems` SFT problems, in tokens of the model's tokenizer
    (characters + 1 where the model directory has none, as `prompt_tokens`)."""
    from breadcrumbs.training.config import build_task
    from breadcrumbs.training.data import ProblemSource

    task = build_task(config.task)
    source = ProblemSource(task, config.task, config.seed, {"sft": config.sft.difficulty})
    batch = source.batch("sft", 0, problems)
    prompts = [task.prompt(problem) for problem in batch]
    traces = [task.solve(problem, style=config.task.style) for problem in batch]
    path = Path(config.model.name)
    if (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        count = lambda text: len(tokenizer(text)["input_ids"])  # noqa: E731
    else:
        count = len
    return max(count(t) for t in prompts) + 1, max(count(t) for t in traces) + 1


def _sft_phase(plan: Plan, config: TrainConfig, shape: ModelShape, processes: int, act_bytes: int,
               per_token_layer: int, ratio: int) -> None:
    """The SFT step's device bytes (one micro-batch) and the host bytes of one batch's traces, into `plan`."""
    sft = config.sft
    prompt, trace = sft_lengths(config)
    student = sft.student_weight > 0
    micro = max((sft.micro_batch_size or sft.batch_size) // processes, 1)
    rows = micro * (2 if student and sft.fused_forward else 1)
    length = prompt + trace + (trace // ratio if student else 0)
    tokens = rows * length
    if config.model.gradient_checkpointing:
        plan.sft["activations (checkpointed)"] = tokens * (shape.layers * shape.hidden * act_bytes + per_token_layer)
    else:
        plan.sft["activations"] = tokens * shape.layers * per_token_layer
    if student:
        plan.sft["student mask"] = rows * length * length
    chunk = min(config.model.logit_chunk_tokens or rows * trace, rows * trace)
    plan.sft["vocabulary projection"] = chunk * shape.vocab * 4 * LOGIT_COPIES["logprob"]
    plan.host["solver traces of one SFT batch"] = sft.batch_size * (
        HOST_BYTES_PER_TRACE + HOST_BYTES_PER_TOKEN * (prompt + trace)
    )
    plan.tokens["SFT traces per step (all processes)"] = sft.batch_size
    plan.tokens["SFT sequence (max of a sample)"] = length


def _largest(plan: Plan) -> tuple[str, str]:
    """(the phase, its largest component) of the plan's peak."""
    title, part = max(plan.phases.items(), key=lambda item: sum(item[1].values()))
    return title, max(part, key=part.get) if part else ""


# The fix to name for the phase that dominates the peak.
_FIXES = {
    "training step (one micro-batch)": "lower rl.batch_size or rl.max_new_tokens, or set rl.micro_batch_size",
    "rollouts": "lower rl.batch_size or rl.max_new_tokens",
    "SFT step (one micro-batch)": "lower sft.batch_size or set sft.micro_batch_size",
    "evaluation": "lower eval.batch_size or eval.max_new_tokens",
}


def check_fits(config: TrainConfig, device: str, processes: int = 1, sharding: str = "none") -> Plan | None:
    """Refuse before any step a config that cannot fit: the generated sequences must fit the model's context, and
    the `--plan` estimate of one step (and the host's share of an SFT batch) must fit the memory free on `device`
    now. Returns the plan; None where there is nothing to estimate from (a .gguf model, a model not found: loading
    it is then the first, clear error)."""
    from breadcrumbs.validation import available_memory

    try:
        shape = model_shape(config)
    except (BreadcrumbsError, OSError, ValueError):
        return None
    plan = make_plan(config, processes, sharding)
    prompt = plan.tokens["prompt tokens (longest)"]
    beacons = config.beacon.layout == "beacon"
    for key in ("rl.max_new_tokens", "eval.max_new_tokens"):
        section, name = key.split(".")
        new = getattr(getattr(config, section), name) or config.rl.max_new_tokens
        if key == "rl.max_new_tokens" and config.rl.steps == 0:
            continue
        ratios = config.eval.ratios or config.beacon.ratios
        needed = prompt + new + (new // min(ratios) if beacons else 0)
        if needed > shape.context:
            raise BreadcrumbsError(
                f"config key '{key}' is {new}: the longest prompt ({prompt} tokens) + {new} new tokens"
                f"{' + their beacons' if beacons else ''} need {needed} positions but the model's context is "
                f"{shape.context}; lower {key} so that they fit"
            )
    host = sum(plan.host.values())
    if str(device).startswith("cpu"):  # one memory: the step's peak and the batch's Python objects together
        phase, part = _largest(plan)
        if host > plan.peak:
            phase, part = "host (CPU memory)", "solver traces of one SFT batch"
        checks = [(plan.peak + host, device, phase, part)]
    else:
        checks = [(plan.peak, device, *_largest(plan))]
        if host:
            checks.append((host, "cpu", "host (CPU memory)", "solver traces of one SFT batch"))
    for needed, where, phase, part in checks:
        available = available_memory(where)
        if available is not None and needed > available:
            fix = _FIXES.get(phase, "lower sft.batch_size")
            raise BreadcrumbsError(
                f"this config needs an estimated {needed:,} bytes ({needed / 2**30:,.1f} GiB; most of it: {phase}, "
                f"{part}) per process but {where} has {available:,} bytes ({available / 2**30:,.1f} GiB) free; "
                f"{fix} (see breadcrumbs train --plan)"
            )
    return plan
