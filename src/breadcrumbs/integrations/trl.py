"""TRL integration: `BeaconGRPOTrainer`, TRL's `GRPOTrainer` plus the beacon distillation loss on the completions
TRL generated (optional extra: `pip install 'breadcrumbs[trl]'`; tested with TRL 1.16).

Each micro-batch's loss is TRL's own loss (the teacher: the model with full attention, trained by GRPO) plus

    distill_weight * KL(teacher || student)

on the same sampled completions, where the student is the same weights under the beacon attention mask
(`beacon_ratios`, one drawn per completion when several; `beacon_lag`) and the teacher side is detached. The
per-token KL is the one `breadcrumbs train` minimises (`TokenScorer` on `layout_batch` layouts, as in
`breadcrumbs.training.rl.rl_loss`); it is reduced over tokens exactly as TRL reduces its per-token policy loss for
the configured `loss_type` (`grpo`: per-sequence means; `dapo`: the tokens of the global batch; ...), so the two terms
are on the same scale and gradient accumulation and data parallelism treat them alike.

The model gets the `<beacon>` token (`add_beacon`) at construction; TRL's sampler never draws it, nor any other
special token but EOS (transformers: `suppress_tokens`; vLLM: a `logit_bias` of -100). `beacon/distill_kl` and
`beacon/student_agree` (student's greedy token = teacher's) join TRL's logged metrics. `save_model` writes a
checkpoint that `breadcrumbs eval --model DIR` loads, with `config.breadcrumbs` recording the ratios, lag and the
steps that trained the student (a PEFT model is saved merged into its base weights).

The student forward runs on the unwrapped model inside TRL's forward/backward (one backward per micro-batch), which
DDP and DeepSpeed ZeRO-1/2 accept; sharded weights (FSDP, ZeRO-3) are not supported.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from breadcrumbs.beacon.layout import StudentView, check_ratio, student_views
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.generation import banned_token_ids, eos_token_ids
from breadcrumbs.models import add_beacon, beacon_token_id, check_attention_support, load_model
from breadcrumbs.trained import METADATA_KEY, TrainedFor
from breadcrumbs.training.data import derive_seed, sample_ratios
from breadcrumbs.training.losses import HeadOptions, TokenScorer, layout_batch

try:
    from trl import GRPOConfig, GRPOTrainer
except ImportError as err:
    raise ModuleNotFoundError("breadcrumbs.integrations.trl needs TRL: pip install 'breadcrumbs[trl]'",
                              name="trl") from err

VLLM_BAN_BIAS = -100.0  # vLLM has no suppress_tokens; the strongest logit bias OpenAI-style servers accept
DIRECTIONS = ("forward", "reverse")


@dataclass
class BeaconGRPOConfig(GRPOConfig):
    """`GRPOConfig` plus the beacon student; every field is also a command-line flag through `trl.TrlParser`."""

    beacon_ratios: list[int] = field(
        default_factory=lambda: [8],
        metadata={"help": "Compression ratios of the student (one drawn per completion when several)."},
    )
    beacon_lag: int = field(default=0, metadata={"help": "Closed windows kept raw before eviction (0: evict at once)."})
    distill_weight: float = field(
        default=1.0, metadata={"help": "Coefficient of the distillation KL added to TRL's loss (0: plain GRPO)."}
    )
    distill_direction: str = field(
        default="forward", metadata={"help": "forward: KL(teacher || student); reverse: KL(student || teacher)."}
    )
    distill_chunk_tokens: int = field(
        default=0, metadata={"help": "Positions projected onto the vocabulary at once in the KL (0: all at once)."}
    )
    beacon_task: str = field(
        default="dataset", metadata={"help": "Task name recorded in the checkpoint's config.breadcrumbs."}
    )

    def __post_init__(self):
        super().__post_init__()
        self.beacon_ratios = [check_ratio(ratio) for ratio in self.beacon_ratios]
        if not self.beacon_ratios:
            raise BreadcrumbsError("beacon_ratios needs at least one compression ratio")
        self.student_views()  # a bad lag is one BreadcrumbsError here
        if self.distill_direction not in DIRECTIONS:
            raise BreadcrumbsError(f"distill_direction must be one of {', '.join(DIRECTIONS)}, "
                                   f"got {self.distill_direction!r}")
        if not self.distill_weight >= 0:
            raise BreadcrumbsError(f"distill_weight must be >= 0, got {self.distill_weight!r}")

    def student_views(self) -> list[StudentView]:
        """The student view of each configured ratio (`LaggedBeacons` when `beacon_lag` > 0)."""
        return student_views("beacon", self.beacon_ratios, self.beacon_lag)


def _is_peft(model: Any) -> bool:
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


def _beacon_ready(
    model: str | PreTrainedModel, tokenizer: PreTrainedTokenizerBase | None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model and tokenizer with `<beacon>`: a name or path loads through `breadcrumbs.models.load_model`
    (presets, checkpoint directories, `.gguf` files); a model object gets `add_beacon` (a PEFT model must have it)."""
    if isinstance(model, str):
        if tokenizer is not None:
            raise BreadcrumbsError("pass processing_class only with a model object; a model path loads its own")
        return load_model(model)
    if tokenizer is None:
        raise BreadcrumbsError("BeaconGRPOTrainer needs the model's tokenizer as processing_class (it gets <beacon>)")
    if _is_peft(model):
        beacon_token_id(tokenizer)  # a PEFT model cannot be resized here: add_beacon before wrapping it
        check_attention_support(model.get_base_model())
        return model, tokenizer
    model, tokenizer = add_beacon(model, tokenizer)
    check_attention_support(model)
    return model, tokenizer


def _suppressing(args: BeaconGRPOConfig, banned: Sequence[int]) -> BeaconGRPOConfig:
    """A copy of `args` whose generation never samples `banned` (on vLLM or transformers' `generate`)."""
    args = copy.copy(args)
    kwargs = dict(args.generation_kwargs or {})
    if args.use_vllm:
        kwargs["logit_bias"] = {**kwargs.get("logit_bias", {}), **{token: VLLM_BAN_BIAS for token in banned}}
    else:
        kwargs["suppress_tokens"] = sorted({*(kwargs.get("suppress_tokens") or []), *banned})
    args.generation_kwargs = kwargs
    return args


def _named_errors(function: Callable, name: str) -> Callable:
    """`function` whose exceptions become one `BreadcrumbsError` naming it (async functions and reward models are
    returned as they are)."""
    if isinstance(function, torch.nn.Module) or inspect.iscoroutinefunction(function):
        return function

    @functools.wraps(function)
    def call(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception as err:
            rows = len(kwargs.get("completions") or [])
            raise BreadcrumbsError(
                f"reward function {name!r} raised {type(err).__name__}: {err} (on a batch of {rows} completions)"
            ) from None

    return call


def _rows(ids: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
    """The unpadded token lists of a padded `[B, T]` batch."""
    return [row[keep.bool()].tolist() for row, keep in zip(ids, mask)]


class BeaconGRPOTrainer(GRPOTrainer):
    """TRL's `GRPOTrainer` whose loss adds the beacon distillation KL on the completions it generated.

    `model`: a model object (with its tokenizer as `processing_class`) or a preset name / local path / `.gguf` file.
    Every other argument is `GRPOTrainer`'s (datasets with a `prompt` column, reward functions
    `f(prompts, completions, **columns) -> list[float]`, `peft_config`, ...).
    """

    args: BeaconGRPOConfig

    def __init__(
        self,
        model: str | PreTrainedModel,
        reward_funcs: Any = None,
        args: BeaconGRPOConfig | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: PreTrainedTokenizerBase | None = None,
        **kwargs,
    ):
        args = BeaconGRPOConfig("beacon-grpo") if args is None else args
        if not isinstance(args, BeaconGRPOConfig):
            raise BreadcrumbsError(f"args must be a BeaconGRPOConfig, got {type(args).__name__}")
        model, tokenizer = _beacon_ready(model, processing_class)
        self.beacon_id = beacon_token_id(tokenizer)
        base = model.get_base_model() if _is_peft(model) else model
        banned = banned_token_ids(tokenizer, eos_token_ids(base, tokenizer))
        super().__init__(model, reward_funcs, _suppressing(args, banned), train_dataset, eval_dataset, tokenizer,
                         **kwargs)
        self.reward_funcs = [_named_errors(f, name) for f, name in zip(self.reward_funcs, self.reward_func_names)]
        self._views = args.student_views()
        self._student_batches = 0  # seeds each micro-batch's draw of ratios

    def plain_model(self) -> PreTrainedModel:
        """The trained causal LM itself: unwrapped from DDP / DeepSpeed, a PEFT model's base with its adapters in."""
        model = self.accelerator.unwrap_model(self.model)
        return model.get_base_model() if _is_peft(model) else model

    def _compute_loss(self, model, inputs):
        loss = super()._compute_loss(model, inputs)
        if self.args.distill_weight > 0:
            loss = loss + self.args.distill_weight * self.distillation_loss(inputs)
        return loss

    def distillation_loss(self, inputs: dict[str, Any]) -> torch.Tensor:
        """KL(teacher || student) on the micro-batch `inputs` (TRL's `completion_ids`, `prompt_ids` and masks),
        reduced as TRL reduces its policy loss; logs `beacon/distill_kl` and `beacon/student_agree`."""
        mode = "train" if self.model.training else "eval"
        prompts = _rows(inputs["prompt_ids"], inputs["prompt_mask"])
        completions = _rows(inputs["completion_ids"], inputs["completion_mask"])
        seed = derive_seed(self.args.seed, "beacon-views", self.state.global_step, self.accelerator.process_index,
                           self._student_batches)
        self._student_batches += 1
        views = sample_ratios(self._views, len(prompts), seed)
        kl, agree = self._student_terms(prompts, completions, views, inputs["completion_ids"].shape[1])
        mask = inputs["completion_mask"] * inputs.get("tool_mask", 1)  # tool outputs are not the model's tokens
        mask = mask.to(kl.dtype)
        totals = torch.stack([(kl.detach() * mask).sum(), (agree * mask).sum(), mask.sum()])
        totals = self.accelerator.reduce(totals, reduction="sum")
        self._metrics[mode]["beacon/distill_kl"].append((totals[0] / totals[2].clamp(min=1.0)).item())
        self._metrics[mode]["beacon/student_agree"].append((totals[1] / totals[2].clamp(min=1.0)).item())
        return self._reduce_like_trl(kl * mask, mask, inputs, mode)

    def _student_terms(
        self, prompts: list[list[int]], completions: list[list[int]], views: list[StudentView], width: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`[B, width]` per-token KL (with gradient into the student) and student-teacher greedy agreement: the
        teacher layout forward without gradient, then the student layout paired with its hidden states."""
        scorer = TokenScorer(self.plain_model())
        options = HeadOptions(chunk_tokens=self.args.distill_chunk_tokens, direction=self.args.distill_direction)
        device, pad = self.accelerator.device, self._tokenizer.pad_token_id
        with torch.no_grad():
            teacher = scorer(layout_batch(prompts, completions, None, self.beacon_id, pad, device), options,
                             keep_hidden=True)
        student = scorer(layout_batch(prompts, completions, views, self.beacon_id, pad, device), options,
                         teacher_hidden=teacher["hidden"])
        widen = lambda x: torch.nn.functional.pad(x, (0, width - x.shape[1]))  # noqa: E731
        return widen(student["kl"]), widen((student["student_argmax"] == student["argmax"]).float())

    def _reduce_like_trl(
        self, per_token: torch.Tensor, mask: torch.Tensor, inputs: dict[str, Any], mode: str
    ) -> torch.Tensor:
        """A masked per-token term reduced as `GRPOTrainer._compute_loss` reduces its loss for `self.loss_type`."""
        accumulation = self.current_gradient_accumulation_steps if mode == "train" else 1.0
        if self.loss_type in ("grpo", "sapo"):
            return (per_token.sum(-1) / mask.sum(-1).clamp(min=1.0)).mean() / accumulation
        if self.loss_type == "bnpo":
            return per_token.sum() / mask.sum().clamp(min=1.0) / accumulation
        if self.loss_type == "dr_grpo":
            return per_token.sum() / (per_token.size(0) * self.max_completion_length) / accumulation
        if self.loss_type == "luspo":
            return per_token.sum(-1).mean() / accumulation
        if self.loss_type in ("cispo", "dapo", "vespo"):
            normalizer = inputs["num_items_in_batch"].clamp(min=1.0) / self.accelerator.num_processes
            if mode == "train":
                normalizer = normalizer * self.current_gradient_accumulation_steps / self.args.steps_per_generation
            return per_token.sum() / normalizer
        raise BreadcrumbsError(f"BeaconGRPOTrainer does not know how TRL reduces loss_type {self.loss_type!r}")

    def training_record(self) -> TrainedFor:
        """The `config.breadcrumbs` record of the model as trained so far."""
        steps = self.state.global_step
        return TrainedFor(
            task=self.args.beacon_task, difficulty={}, ratios=list(self.args.beacon_ratios), lag=self.args.beacon_lag,
            layout="beacon", student_steps=steps if self.args.distill_weight > 0 else 0, steps=steps,
            beacon_token_id=self.beacon_id,
        )

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """TRL's save with `config.breadcrumbs` set; a PEFT model's final save (not the periodic checkpoints, which
        keep the adapters for resuming) is its base model with the adapters merged in, which `breadcrumbs eval`
        loads."""
        setattr(self.plain_model().config, METADATA_KEY, self.training_record().to_dict())
        model = self.accelerator.unwrap_model(self.model)
        if _internal_call or not _is_peft(model):
            super().save_model(output_dir, _internal_call)
            return
        if self.args.should_save:
            output_dir = output_dir or self.args.output_dir
            merged = copy.deepcopy(model).merge_and_unload()
            merged.save_pretrained(output_dir)
            self._tokenizer.save_pretrained(output_dir)
