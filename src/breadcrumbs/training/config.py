"""Typed training configuration, loaded from YAML with `--set key=value` overrides.

Every section is a dataclass. A field's own rule sits beside it (`checked(default, OneOf(...))`, a `Range`);
loading checks each key and type, those rules and then the cross-field rules of `validate`, all before any work,
and turns any mistake into one `BreadcrumbsError` line that names the key and the fix. `docs/training.md`
documents every key.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from breadcrumbs import validation
from breadcrumbs.beacon.layout import StudentView, student_views
from breadcrumbs.beacon.spelling import upgrade_config
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.generators import get_generator
from breadcrumbs.validation import MAX_NEW_TOKENS, NON_NEGATIVE, POSITIVE, PROBABILITY, SEED, TEMPERATURE, Range


class OneOf:
    """A rule: the value is one of `options`."""

    def __init__(self, *options: str):
        self.options = options

    def check(self, key: str, value: Any) -> None:
        if value not in self.options:
            raise BreadcrumbsError(f"config key '{key}' must be one of {', '.join(self.options)}, got {value!r}")


Rule = OneOf | Range


def checked(default: Any, *rules: Rule) -> Any:
    """A config field whose `rules` (`OneOf`, `Range`) sit beside it; `validate` checks them in order."""
    return field(default=default, metadata={"rules": rules})


def field_rules(cls: type | None = None, prefix: str = "") -> list[tuple[str, tuple[Rule, ...]]]:
    """Every field's dotted key and its rules, sections in declaration order."""
    cls = cls or TrainConfig
    hints = typing.get_type_hints(cls)
    found = []
    for item in dataclasses.fields(cls):
        kind = hints[item.name]
        if dataclasses.is_dataclass(kind):
            found += field_rules(kind, f"{prefix}{item.name}.")
        elif item.metadata.get("rules"):
            found.append((f"{prefix}{item.name}", item.metadata["rules"]))
    return found


@dataclass
class ModelConfig:
    name: str = "micro"  # preset (micro, tiny, small, base) or a local HF checkpoint directory
    arch: str = "qwen2"  # architecture of a preset model (qwen2, llama)
    # weights dtype: float32 | bfloat16 | float16 (mixed precision is separate)
    dtype: str = checked("float32", OneOf("float32", "bfloat16", "float16"))
    # sdpa | eager | flex_attention (CUDA)
    attn_implementation: str = checked("sdpa", OneOf("sdpa", "eager", "flex_attention"))
    # prompts through the tokenizer's chat template: auto (when it has one) | always | never
    chat: str = checked("auto", OneOf("auto", "always", "never"))
    gradient_checkpointing: bool = False
    # LoRA rank of the trained weights (training/adapters.py): 0 = all weights train; r > 0 = PEFT LoRA adapters on
    # `lora_targets` plus the <beacon> embedding row train, every other weight frozen; checkpoints are merged
    lora_rank: int = checked(0, NON_NEGATIVE)
    lora_alpha: float = checked(16.0, POSITIVE)  # LoRA scaling numerator (the update is B @ A x alpha / rank)
    lora_targets: list = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                        "down_proj"])  # the linear layers (module names) given adapters
    # positions projected onto the vocabulary at once in the losses; 0 = all at once
    logit_chunk_tokens: int = checked(1024, NON_NEGATIVE)


@dataclass
class TaskConfig:
    name: str = ""  # required: countdown | linsys | stargraph | any registered task
    difficulty: dict = field(default_factory=dict)  # task knobs, e.g. {k: 3, max_number: 10}
    style: str = checked("search", OneOf("search", "direct"))  # solver trace style for the warm start: search | direct
    # 0: a fresh problem stream drawn from (seed, step); N: a fixed pool, reshuffled per epoch
    train_problems: int = checked(0, NON_NEGATIVE)
    eval_problems: int = checked(64, NON_NEGATIVE)  # held-out problems for evaluation (drawn from a different seed)
    # hash: train / dev / test by a hash of each problem's canonical key (a dataset row's prompt) | none: no held-out
    # split, every stage reads the whole set (for a dataset file kept apart from the evaluation file)
    split: str = checked("hash", OneOf("hash", "none"))
    # name: dataset only (docs/tasks.md): the file, reward function(s) REF = file.py:function or module:function,
    # comma-separated, with optional weights; accuracy = reward (or the verifier REF) >= threshold; column names
    path: str = ""
    reward: str = ""
    reward_weights: list = field(default_factory=list)
    verifier: str = ""
    threshold: float = 1.0
    prompt: str = "prompt"
    answer: str = "answer"
    trace: str = "trace"  # the reference completion (SFT target) when the file has this column

    def options(self) -> dict:
        """The task's own options (the dataset keys) that differ from their defaults, for `get_task(name, ...)`."""
        defaults = TaskConfig()
        return {key: getattr(self, key) for key in TASK_OPTIONS if getattr(self, key) != getattr(defaults, key)}


TASK_OPTIONS = ("path", "reward", "reward_weights", "verifier", "threshold", "prompt", "answer", "trace")


def build_task(config: TaskConfig):
    """The `Task` a config's task section names, built with its options (reads a dataset's file)."""
    from breadcrumbs.tasks import get_task, list_tasks

    if config.name not in list_tasks():
        raise BreadcrumbsError(
            f"config key 'task.name': unknown task {config.name!r}; choose one of {', '.join(list_tasks())}"
        )
    return get_task(config.name, **config.options())


@dataclass
class BeaconConfig:
    ratios: list = field(default_factory=lambda: [4])  # compression ratio(s) c; several = sampled per sequence
    # beacon | window: `window` trains the sliding-window control instead of beacons (same recipe, the sizes in
    # `windows`; serve it with `window:B`; see docs/baselines.md)
    layout: str = checked("beacon", OneOf("beacon", "window"))
    # layout window only: window size(s) B (generated entries a token sees); several = sampled per sequence
    windows: list = field(default_factory=list)
    # choice: each sequence takes one of `ratios` (`windows`); range: they are [low, high] and each sequence draws
    # an integer c in low..high with probability proportional to log((c+1)/c) (log-uniform), so one model serves
    # every c there
    sampling: str = checked("choice", OneOf("choice", "range"))
    # windows a closed window stays raw before eviction (0: evicted when its beacon is fed, as in the paper); L > 0
    # keeps a raw tail of the L most recent windows next to the beacons; serve with `beacon:C:lag=L`
    lag: int = checked(0, NON_NEGATIVE)

    @property
    def sizes_key(self) -> str:
        """The key of the sizes this layout trains: `windows` for layout window, `ratios` otherwise."""
        return "windows" if self.layout == "window" else "ratios"

    def choices(self) -> tuple[list[int], list[float] | None]:
        """(sizes a training sequence may take, their sampling weights; None = uniform): ratios, or windows."""
        sizes = getattr(self, self.sizes_key)
        if self.sampling == "range":
            values = list(range(sizes[0], sizes[-1] + 1))
            return values, [math.log((c + 1) / c) for c in values]
        return list(sizes), None

    def views(self, sizes: list[int]) -> list[StudentView]:
        """The student views of `sizes` in this layout (ratios, `LaggedBeacons` with a lag, `SlidingWindow`s)."""
        return student_views(self.layout, sizes, self.lag)


@dataclass
class SFTConfig:
    steps: int = checked(0, NON_NEGATIVE)  # 0 skips the warm start
    batch_size: int = checked(32, POSITIVE)  # global batch (solver traces per step, summed over processes)
    lr: float = checked(1e-3, POSITIVE)
    warmup_steps: int = checked(0, NON_NEGATIVE)
    # constant | linear | cosine (after warmup)
    scheduler: str = checked("cosine", OneOf("constant", "linear", "cosine"))
    # weight of the CE under the student (beacon) layout; 0 = teacher layout only
    student_weight: float = checked(1.0, NON_NEGATIVE)
    # SFT step from which the student CE is added (the teacher learns the task alone first)
    student_start: int = checked(0, NON_NEGATIVE)
    difficulty: dict = field(default_factory=dict)  # knobs for this stage's problems, on top of task.difficulty
    fused_forward: bool = True  # teacher and student rows in one forward pass
    # traces per forward/backward (global); 0 = the whole batch; same update, less memory
    micro_batch_size: int = checked(0, NON_NEGATIVE)


@dataclass
class RLConfig:
    steps: int = checked(0, NON_NEGATIVE)  # 0 skips RL
    batch_size: int = checked(64, POSITIVE)  # global rollouts per step = prompts per step x group_size
    group_size: int = checked(8, POSITIVE)  # G samples per prompt (GRPO group)
    max_new_tokens: int = checked(128, POSITIVE, Range(1, MAX_NEW_TOKENS, integer=True))
    temperature: float = checked(1.0, NON_NEGATIVE, TEMPERATURE)
    top_p: float = checked(1.0, Range(0, 1, low_open=True))
    lr: float = checked(1e-4, POSITIVE)
    warmup_steps: int = checked(0, NON_NEGATIVE)
    scheduler: str = checked("constant", OneOf("constant", "linear", "cosine"))
    # optimizer updates on each rollout batch (> 1 makes the clipped ratio matter)
    updates_per_batch: int = checked(1, POSITIVE)
    minibatch_size: int = checked(0, NON_NEGATIVE)  # rollouts per update (global); 0 = the whole batch
    # rollouts per forward/backward (global); 0 = the whole minibatch; same update
    micro_batch_size: int = checked(0, NON_NEGATIVE)
    clip_eps: float = checked(0.2, NON_NEGATIVE)  # clipped importance ratio: [1 - clip_eps, 1 + clip_eps_high]
    clip_eps_high: float = checked(0.0, NON_NEGATIVE)  # 0 = same as clip_eps
    # KL to the frozen reference (the model at the start of RL); 0 = no reference kept
    kl_coef: float = checked(0.0, NON_NEGATIVE)
    # token: mean over all generated tokens | sequence: mean per sequence, then over sequences | counted: the policy
    # gradient as a mean over the tokens it counts (non-zero advantage; forks under tokens: forks), the rest per token
    loss_norm: str = checked("token", OneOf("token", "sequence", "counted"))
    scale_rewards: bool = True  # divide group-centred rewards by the group std
    # scale of negative advantages: 1 = GRPO, 0 = only samples better than their group
    negative_weight: float = checked(1.0, NON_NEGATIVE, PROBABILITY)
    format_reward: float = checked(0.0, NON_NEGATIVE, PROBABILITY)  # reward for a parsable but wrong answer
    # subtracted from the reward times the share of wrong trace lines (Task.trace_errors)
    trace_penalty: float = checked(0.0, NON_NEGATIVE, PROBABILITY)
    # knobs for RL (and two-stage distillation) problems, on top of task.difficulty
    difficulty: dict = field(default_factory=dict)
    # the update (docs/training.md, "RL updates"): grpo = group-normalised advantages | expert_iteration = +1 for a
    # verified sample and 0 otherwise (cross-entropy on the verified samples)
    algorithm: str = checked("grpo", OneOf("grpo", "expert_iteration"))
    # all | forks: the policy-gradient term counts only tokens where the sample left the greedy path
    tokens: str = checked("all", OneOf("all", "forks"))
    # cross-entropy on solver traces of the warm start's difficulty in every update; 0 = none
    anchor_weight: float = checked(0.0, NON_NEGATIVE)
    anchor_batch: int = checked(16, POSITIVE)  # problems of that anchor per update


@dataclass
class DistillConfig:
    # joint (RL + distillation each step) | two_stage (RL, then distillation) | off
    mode: str = checked("joint", OneOf("joint", "two_stage", "off"))
    weight: float = checked(1.0, NON_NEGATIVE)  # coefficient of the distillation KL
    # forward: KL(teacher || student) | reverse: KL(student || teacher)
    direction: str = checked("forward", OneOf("forward", "reverse"))
    schedule: str = checked("constant", OneOf("constant", "linear_warmup"))  # constant | linear_warmup
    warmup_steps: int = checked(0, NON_NEGATIVE)  # steps of linear_warmup from 0 to `weight`
    teacher_grad: bool = False  # let the distillation gradient flow into the teacher (full-cache) path too
    # true: teacher and student rows in one forward, padded to the longest student row; false: teacher rows, then
    # student rows, each in groups of similar width (2.7x faster joint update on long traces, train_step_long.md)
    fused_forward: bool = False
    steps: int = checked(0, NON_NEGATIVE)  # two_stage only: distillation steps on the final policy's rollouts
    # two_stage only: self = the distillation stage samples from, and takes its targets from, the model it trains
    # (the paper's shared weights) | frozen = from a frozen copy of the model at the start of the stage (a pretrained
    # teacher that must stay as it is); the backward then covers the student rows alone
    teacher: str = checked("self", OneOf("self", "frozen"))


@dataclass
class OptimConfig:
    weight_decay: float = checked(0.0, NON_NEGATIVE)
    beta1: float = checked(0.9, Range(0, 1, high_open=True))
    beta2: float = checked(0.999, Range(0, 1, high_open=True))
    eps: float = checked(1e-8, POSITIVE)
    grad_clip: float = checked(1.0, NON_NEGATIVE)  # max global grad norm; 0 = no clipping


@dataclass
class EvalConfig:
    every: int = checked(0, NON_NEGATIVE)  # evaluate every N global steps (0 = only at the end of each stage)
    max_new_tokens: int = checked(0, NON_NEGATIVE, Range(0, MAX_NEW_TOKENS, integer=True))  # 0 = rl.max_new_tokens
    batch_size: int = checked(64, POSITIVE)
    ratios: list = field(default_factory=list)  # student ratios to evaluate; empty = beacon.ratios
    windows: list = field(default_factory=list)  # layout window: window sizes to evaluate; empty = beacon.windows
    # knobs of the held-out (dev split) problems, on top of task.difficulty
    difficulty: dict = field(default_factory=dict)


@dataclass
class CheckpointConfig:
    every: int = checked(50, POSITIVE)  # save every N global steps (and always at the end)
    keep: int = checked(2, NON_NEGATIVE)  # keep the newest N step-* directories (0 = keep all)


@dataclass
class TrainConfig:
    seed: int = checked(0, SEED)
    device: str = "auto"  # auto | cpu | cuda | cuda:N (under accelerate launch / torchrun, the launcher decides)
    mixed_precision: str = checked("no", OneOf("no", "bf16", "fp16"))  # no | bf16 | fp16 (autocast; CUDA)
    log_every: int = checked(1, POSITIVE)
    # Wall-time budget of the run's training steps in seconds (evaluations excluded); 0 = none. Training stops
    # (evaluation + checkpoint) after the first step at which the summed step time reaches it: equal-time ablations.
    time_budget_s: float = checked(0.0, NON_NEGATIVE)
    # decoding backend of the rollouts and training-time evaluations (breadcrumbs.generators): loop | static |
    # path/to/file.py:factory | package.module:factory
    generator: str = "loop"
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    beacon: BeaconConfig = field(default_factory=BeaconConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def stages(self) -> list[tuple[str, int]]:
        """The stages this run goes through, in order, with their step counts (stages of 0 steps left out)."""
        plan = [("sft", self.sft.steps), ("rl", self.rl.steps)]
        if self.distill.mode == "two_stage":
            plan.append(("distill", self.distill.steps))
        return [(name, steps) for name, steps in plan if steps > 0]

    @property
    def total_steps(self) -> int:
        return sum(steps for _, steps in self.stages())

    def eval_views(self) -> list[StudentView]:
        """The student views evaluated: `eval.ratios` (`eval.windows` for layout window), else the trained ones."""
        key = self.beacon.sizes_key
        return self.beacon.views(getattr(self.eval, key) or getattr(self.beacon, key))


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


def _coerce(value: Any, kind: Any, key: str) -> Any:
    """`value` checked (and, for int -> float, widened) against the field type; else one clear error."""
    if kind is float and type(value) is int:
        return float(value)
    if kind is float and isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
        try:
            return float(value)
        except ValueError:
            pass
    expected = {"list": list, "dict": dict}.get(_type_name(kind), kind)
    if expected is bool and type(value) is not bool or expected is not bool and (
        not isinstance(value, expected) or isinstance(value, bool)
    ):
        raise BreadcrumbsError(
            f"config key '{key}' must be {_type_name(expected)}, got {value!r} ({type(value).__name__}); "
            f"fix it in the YAML or with --set {key}=..."
        )
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise BreadcrumbsError(f"config section '{prefix.rstrip('.') or '<root>'}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise BreadcrumbsError(
            f"unknown config key '{prefix}{unknown[0]}'; known keys here: {', '.join(sorted(names))}"
        )
    values = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            values[name] = _build(kind, value, f"{prefix}{name}.")
        else:
            values[name] = _coerce(value, kind, f"{prefix}{name}")
    return cls(**values)


def _get(config: TrainConfig, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _check_finite(section: Any, prefix: str) -> None:
    """Every float in the config is finite (an inf learning rate trains to NaN weights without a word)."""
    for item in dataclasses.fields(section):
        value = getattr(section, item.name)
        if dataclasses.is_dataclass(value):
            _check_finite(value, f"{prefix}{item.name}.")
        elif isinstance(value, float):
            validation.check_range(f"config key '{prefix}{item.name}'", value, Range())


def validate(config: TrainConfig) -> TrainConfig:
    """Cross-field checks; each failure is one BreadcrumbsError naming the key and the fix."""
    for key, rules in field_rules():
        for rule in rules:
            if isinstance(rule, OneOf):
                rule.check(key, _get(config, key))
            else:
                validation.check_range(f"config key '{key}'", _get(config, key), rule)
    _check_finite(config, "")
    validation.check_device_name("config key 'device'", config.device)
    try:
        get_generator(config.generator)
    except BreadcrumbsError as err:
        raise BreadcrumbsError(f"config key 'generator': {err}") from None
    if not config.task.name:
        raise BreadcrumbsError("config key 'task.name' is missing; set it to a task, e.g. task.name: countdown")
    task = build_task(config.task)
    if task.fixed_problems() is not None and config.task.split == "hash":  # a fixed set: the splits read must hold rows
        task.fixed_problems("train")
        if config.task.eval_problems:
            task.fixed_problems("dev")
    if config.task.name == "dataset":
        if not config.task.reward:
            raise BreadcrumbsError(
                "config key 'task.reward' is missing: the dataset task's RL reward and evaluation need it, "
                "e.g. task.reward: reward.py:score"
            )
        for key in ("rl.format_reward", "rl.trace_penalty"):
            if _get(config, key):
                raise BreadcrumbsError(f"config key '{key}' applies to built-in tasks; put such terms in task.reward")
    for key in ("task.difficulty", "sft.difficulty", "rl.difficulty", "eval.difficulty"):
        try:
            task.resolve_difficulty({**config.task.difficulty, **_get(config, key)})
        except BreadcrumbsError as err:
            raise BreadcrumbsError(f"config key '{key}': {err}") from None
    _check_sizes(config)
    if config.beacon.lag and config.beacon.layout != "beacon":
        raise BreadcrumbsError("config key 'beacon.lag' applies to beacon.layout: beacon only; set it to 0")
    rl = config.rl
    if rl.batch_size % rl.group_size:
        raise BreadcrumbsError(
            f"config key 'rl.batch_size' ({rl.batch_size}) is not divisible by 'rl.group_size' ({rl.group_size}); "
            f"use a multiple, e.g. rl.batch_size={rl.group_size * max(1, rl.batch_size // rl.group_size)}"
        )
    if rl.group_size < 2 and rl.steps > 0:
        raise BreadcrumbsError("config key 'rl.group_size' must be >= 2 for group-normalised advantages")
    if rl.minibatch_size and (rl.batch_size % rl.minibatch_size or rl.minibatch_size % rl.group_size):
        raise BreadcrumbsError(
            f"config key 'rl.minibatch_size' ({rl.minibatch_size}) must divide rl.batch_size ({rl.batch_size}) "
            f"and be a multiple of rl.group_size ({rl.group_size}); or 0 for the whole batch"
        )
    update = rl.minibatch_size or rl.batch_size
    if rl.micro_batch_size and update % rl.micro_batch_size:
        raise BreadcrumbsError(
            f"config key 'rl.micro_batch_size' ({rl.micro_batch_size}) must divide the rollouts of one update "
            f"({update}: rl.minibatch_size, or rl.batch_size); or 0 for no accumulation"
        )
    if config.sft.micro_batch_size and config.sft.batch_size % config.sft.micro_batch_size:
        raise BreadcrumbsError(
            f"config key 'sft.micro_batch_size' ({config.sft.micro_batch_size}) must divide sft.batch_size "
            f"({config.sft.batch_size}); or 0 for no accumulation"
        )
    if rl.steps > 0 and rl.top_p < 1:
        raise BreadcrumbsError(
            f"config key 'rl.top_p' is {rl.top_p}: RL log-probs are those of the temperature-scaled distribution, "
            "not of a top-p truncated one, so the importance ratio would be biased; set rl.top_p: 1"
        )
    if rl.steps > 0 and rl.temperature == 0:
        raise BreadcrumbsError(
            "config key 'rl.temperature' is 0 (greedy): RL needs sampled rollouts; set rl.temperature > 0, e.g. 1.0"
        )
    if config.distill.mode == "two_stage" and config.distill.steps == 0:
        raise BreadcrumbsError(
            "config key 'distill.steps' is 0 but distill.mode is two_stage; set distill.steps > 0 or mode: joint"
        )
    if config.distill.teacher == "frozen" and config.distill.mode != "two_stage":
        raise BreadcrumbsError(
            "config key 'distill.teacher' is frozen but distill.mode is not two_stage: a frozen teacher belongs to "
            "the distillation stage (rl.steps may be 0); set distill.mode: two_stage and distill.steps > 0"
        )
    if config.distill.mode != "two_stage" and config.distill.steps > 0:
        raise BreadcrumbsError(
            "config key 'distill.steps' is only used with distill.mode: two_stage; set it to 0 or change the mode"
        )
    if config.total_steps == 0:
        raise BreadcrumbsError("nothing to train: sft.steps and rl.steps are both 0; set one of them > 0")
    return config


def _check_sizes(config: TrainConfig) -> None:
    """The layout's sizes (`ratios`; `windows` for layout window) are given, whole and >= 1, and the other layout's
    key is left alone (`beacon.ratios` at its default, unused, under layout window)."""
    beacon = config.beacon
    window = beacon.layout == "window"
    key, what, example = ("windows", "window size", 16) if window else ("ratios", "compression ratio", 4)
    sizes = getattr(beacon, key)
    if beacon.sampling == "range" and (len(sizes) != 2 or sizes[0] > sizes[1]):
        raise BreadcrumbsError(
            f"config key 'beacon.{key}' must be [low, high] with low <= high when beacon.sampling is range, "
            f"got {sizes!r}"
        )
    if not sizes:
        raise BreadcrumbsError(f"config key 'beacon.{key}' is empty; give at least one {what}, e.g. [{example}]")
    for name in (f"beacon.{key}", f"eval.{key}"):
        for size in _get(config, name):
            if type(size) is not int or size < 1:
                raise BreadcrumbsError(f"config key '{name}' holds {size!r}; every {what} must be an integer >= 1")
    other = ("beacon.ratios", "eval.ratios") if window else ("beacon.windows", "eval.windows")
    changed = next((name for name in other if _get(config, name) != _get(TrainConfig(), name)), None)
    if changed:
        raise BreadcrumbsError(
            f"config key '{changed}' does not apply to beacon.layout: {beacon.layout}; give its sizes as "
            f"'{changed.split('.')[0]}.{key}'"
        )


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `key.sub=value` strings (values parsed as YAML) to a nested dict."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BreadcrumbsError(f"--set {item!r}: expected key=value, e.g. --set rl.steps=10")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise BreadcrumbsError(f"--set {item!r}: '{part}' is not a section")
            node = child
        node[parts[-1]] = _parse_value(raw)
    return data


def config_from_dict(data: dict | None) -> TrainConfig:
    """A validated TrainConfig from a nested dict (e.g. parsed YAML)."""
    return validate(_build(TrainConfig, upgrade_config(data or {}), ""))


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML file (or start from the defaults when `path` is None), apply overrides, check everything."""
    data: dict = {}
    if path is not None:
        name = f"config file {str(path)!r}"
        data = validation.load_yaml(validation.read_text_file(path, "--config"), name) or {}
        if not isinstance(data, dict):
            raise BreadcrumbsError(f"{name} must hold a mapping of sections at the top level")
    return config_from_dict(apply_overrides(data, list(overrides or [])))


def dump_config(config: TrainConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))

