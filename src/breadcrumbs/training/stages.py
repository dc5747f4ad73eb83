"""The training stages as objects: what one optimizer step of each stage does, and what the loop needs to know of it.

`TrainConfig.stages()` names the plan (`sft`, `rl`, and `distill` under `distill.mode: two_stage`, with their step
counts); `build_stages` turns it into `Stage` objects, which the trainer's loop drives without knowing which is
which. A stage says its learning rate and schedule, how many problems a step draws (the data cursor a checkpoint
records), whether it needs the frozen reference model, whether the run is evaluated before it starts, and runs one
step (`Stage.step`) on a `StepContext`.

- `SFTStage`: cross-entropy on solver traces, teacher layout plus the sampled student views (`sft.student_weight`).
- `RLStage`: full-cache rollouts, the policy-gradient term under `rl.algorithm`, the distillation term on the same
  rollouts (`distill.mode: joint`), the solver-trace anchor (`rl.anchor_weight`), KL to the reference
  (`rl.kl_coef`).
- `DistillStage` (two-stage mode): the RL stage's update with the policy-gradient weight 0 and the distillation
  weight on, rollouts sampled from the frozen teacher when `distill.teacher: frozen`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.tasks.base import Task
from breadcrumbs.training.config import RLConfig, SFTConfig, TrainConfig
from breadcrumbs.training.data import ProblemSource, derive_seed, encode_traces, sample_ratios, shard
from breadcrumbs.training.losses import TokenScorer
from breadcrumbs.training.rl import collect_rollouts, rl_loss, rollout_sums, sequence_logprobs
from breadcrumbs.training.runtime import Runtime, Sums
from breadcrumbs.training.sft import sft_loss


def micro_batches(rows: int, micro_batch_size: int, world: int) -> list[list[int]]:
    """This process's `rows` split into micro-batches of `micro_batch_size / world` rows (0: one micro-batch)."""
    size = micro_batch_size // world if micro_batch_size else rows
    return [list(range(start, min(start + size, rows))) for start in range(0, rows, max(size, 1))]


def lr_lambda(kind: str, warmup: int, total: int):
    """Multiplier of the base learning rate at a stage step: linear warmup, then constant / linear / cosine."""

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if kind == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


@dataclass
class StepContext:
    """What a stage's step works with: the runtime and optimizer, the task and its problem streams, the config, and
    the frozen reference model when the stage asked for one."""

    rt: Runtime
    optimizer: torch.optim.Optimizer
    task: Task
    source: ProblemSource
    config: TrainConfig
    reference: TokenScorer | None = None

    def clip_and_step(self) -> float:
        """Clip (grad_clip 0: measure only) and step; returns the global grad norm before clipping."""
        clip = self.config.optim.grad_clip or math.inf
        norm = float(self.rt.accelerator.clip_grad_norm_(self.rt.model.parameters(), clip))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return norm

    def backward_traces(
        self, problems: list, ratios: list, student_weight: float, weight: float, sync: bool
    ) -> tuple[Sums, int]:
        """Accumulate `weight` x the supervised loss on the solver traces of the global batch `problems` (this
        process's shard, in micro-batches of `sft.micro_batch_size`); `sync` lets the last micro-batch communicate.
        Returns the metric sums and the global number of trace tokens."""
        rt, cfg = self.rt, self.config
        prompts, completions = encode_traces(rt.tokenizer, self.task, problems, cfg.task.style)
        global_tokens = sum(len(c) for c in completions)
        prompts, completions, ratios = (shard(items, rt.rank, rt.world) for items in (prompts, completions, ratios))
        micro = micro_batches(len(prompts), cfg.sft.micro_batch_size, rt.world)
        sums = Sums()
        for i, rows in enumerate(micro):
            pick = lambda items: [items[r] for r in rows]  # noqa: E731
            loss, part = sft_loss(
                rt, pick(prompts), pick(completions), pick(ratios), student_weight, global_tokens, cfg.sft.fused_forward
            )
            rt.backward(weight * loss, sync=sync and i + 1 == len(micro))
            sums.merge(part)
        return sums, global_tokens


class Stage:
    """One stage of a run (see the module docstring); `steps` optimizer steps of `step`."""

    name: ClassVar[str]
    evaluated_before: ClassVar[bool] = False  # the run is evaluated when this stage starts

    def __init__(self, config: TrainConfig, steps: int):
        self.config = config
        self.steps = steps

    @property
    def section(self) -> SFTConfig | RLConfig:
        """The config section holding this stage's optimizer settings (lr, scheduler, warmup_steps)."""
        raise NotImplementedError

    @property
    def problems_per_step(self) -> int:
        """Problems one step draws from this stage's stream (the cursor a checkpoint records)."""
        raise NotImplementedError

    @property
    def needs_reference(self) -> bool:
        """Whether the step needs the frozen model of the stage's start (`StepContext.reference`)."""
        return False

    def step(self, ctx: StepContext, step: int) -> dict:
        """One optimizer step at stage step `step`; returns its metrics (`tokens`: global tokens trained on)."""
        raise NotImplementedError


class SFTStage(Stage):
    name = "sft"

    @property
    def section(self) -> SFTConfig:
        return self.config.sft

    @property
    def problems_per_step(self) -> int:
        return self.config.sft.batch_size

    def step(self, ctx: StepContext, step: int) -> dict:
        cfg, rt = self.config, ctx.rt
        if cfg.sft.batch_size % rt.world:
            raise BreadcrumbsError(
                f"sft.batch_size {cfg.sft.batch_size} does not split over {rt.world} processes; use a multiple"
            )
        problems = ctx.source.batch(self.name, step, cfg.sft.batch_size)
        choices, weights = cfg.beacon.choices()
        ratios = sample_ratios(cfg.beacon.views(choices), len(problems), derive_seed(cfg.seed, "sft-ratio", step), weights)
        student_weight = cfg.sft.student_weight if step >= cfg.sft.student_start else 0.0
        sums, global_tokens = ctx.backward_traces(problems, ratios, student_weight, 1.0, sync=True)
        norm = ctx.clip_and_step()
        metrics = sums.means(rt)
        metrics.update(grad_norm=norm, tokens=float(global_tokens))
        return metrics


class RLStage(Stage):
    name = "rl"
    evaluated_before = True
    pg_weight: ClassVar[float] = 1.0  # weight of the policy-gradient term

    @property
    def section(self) -> RLConfig:
        return self.config.rl

    @property
    def problems_per_step(self) -> int:
        return self.config.rl.batch_size // self.config.rl.group_size

    @property
    def needs_reference(self) -> bool:
        return self.config.rl.kl_coef > 0

    @property
    def anchored(self) -> bool:
        """Whether each update adds the solver-trace anchor (`rl.anchor_weight`)."""
        return self.config.rl.anchor_weight > 0

    def distill_weight(self, step: int) -> float:
        """The distillation coefficient at stage step `step` (joint mode: on; otherwise 0)."""
        return self._scheduled_distill_weight(step) if self.config.distill.mode == "joint" else 0.0

    def _scheduled_distill_weight(self, step: int) -> float:
        distill = self.config.distill
        weight = distill.weight
        if distill.schedule == "linear_warmup" and distill.warmup_steps:
            weight *= min(1.0, (step + 1) / distill.warmup_steps)
        return weight

    def teacher(self, ctx: StepContext) -> TokenScorer | None:
        """A frozen teacher that samples the rollouts and scores the distillation term (None: the model itself)."""
        return None

    def step(self, ctx: StepContext, step: int) -> dict:
        cfg, rt = self.config, ctx.rt
        rl = cfg.rl
        prompts_per_step = self.problems_per_step
        if prompts_per_step % rt.world:
            raise BreadcrumbsError(
                f"rl.batch_size / rl.group_size = {prompts_per_step} prompts do not split over {rt.world} processes; "
                f"make rl.batch_size a multiple of {rl.group_size * rt.world}"
            )
        if self.anchored and rl.anchor_batch % rt.world:
            raise BreadcrumbsError(
                f"rl.anchor_batch {rl.anchor_batch} does not split over {rt.world} processes; use a multiple"
            )
        problems = shard(ctx.source.batch(self.name, step, prompts_per_step), rt.rank, rt.world)
        choices, weights = cfg.beacon.choices()
        all_ratios = sample_ratios(
            cfg.beacon.views(choices), rl.batch_size, derive_seed(cfg.seed, self.name, "ratio", step), weights,
        )
        ratios = shard(all_ratios, rt.rank, rt.world)
        teacher = self.teacher(ctx)
        with rt.full_weights():
            rollouts = collect_rollouts(
                rt, ctx.task, problems, rl, ratios, derive_seed(cfg.seed, self.name, "sample", step, rt.rank),
                model=None if teacher is None else teacher.lm,
            )
        pg_weight, distill_weight = self.pg_weight, self.distill_weight(step)
        reference = ctx.reference if pg_weight else None  # the KL term belongs to the policy-gradient update
        per_update = (rl.minibatch_size or rl.batch_size) // rt.world
        # minibatches (one optimizer update each) of micro-batches (one forward/backward each)
        parts = [
            [rollouts.rows([start + r for r in rows]) for rows in micro_batches(
                min(per_update, len(rollouts) - start), rl.micro_batch_size, rt.world)]
            for start in range(0, len(rollouts), per_update)
        ]
        reuse = rl.updates_per_batch > 1 or len(parts) > 1
        scored = lambda model: [[sequence_logprobs(rt, model, m, rl) for m in part] for part in parts]  # noqa: E731
        old = scored(rt.model) if reuse and pg_weight else [[None] * len(part) for part in parts]
        ref = scored(reference) if reference is not None else [[None] * len(part) for part in parts]
        counts = rt.global_sum([
            float(sum(len(c) for m in part for c in m.completions)) if rl.loss_norm != "sequence"
            else float(sum(len(m) for m in part))
            for part in parts
        ])
        sums = rollout_sums(rollouts, rl.group_size)
        norms = []
        for update in range(rl.updates_per_batch):
            for index, (part, old_lp, ref_lp, denominator) in enumerate(zip(parts, old, ref, counts)):
                if self.anchored:  # the warm start's data: fresh solver traces at its difficulty in every update
                    batch = ctx.source.batch("anchor", (step * rl.updates_per_batch + update) * len(parts) + index,
                                             rl.anchor_batch)
                    traces, _ = ctx.backward_traces(batch, [None] * len(batch), 0.0, rl.anchor_weight, sync=False)
                    sums.add("anchor_ce", *traces.values["ce_teacher"])
                for i, micro in enumerate(part):
                    loss, micro_sums = rl_loss(
                        rt, micro, rl, cfg.distill, pg_weight, distill_weight, denominator, old_lp[i], ref_lp[i],
                        teacher,
                    )
                    rt.backward(loss, sync=i + 1 == len(part))
                    sums.merge(micro_sums)
                norms.append(ctx.clip_and_step())
        metrics = sums.means(rt)
        metrics.update(grad_norm=sum(norms) / len(norms), distill_weight=distill_weight,
                       generation_s=rollouts.generation_s,
                       tokens=float(rt.global_sum([sum(len(c) for c in rollouts.completions)])[0]))
        return metrics


class DistillStage(RLStage):
    """Two-stage mode's second stage: distillation on fresh rollouts, no policy gradient, no anchor."""

    name = "distill"
    evaluated_before = False
    pg_weight = 0.0

    @property
    def needs_reference(self) -> bool:
        return self.config.distill.teacher == "frozen"

    @property
    def anchored(self) -> bool:
        return False

    def distill_weight(self, step: int) -> float:
        return self._scheduled_distill_weight(step)

    def teacher(self, ctx: StepContext) -> TokenScorer | None:
        return ctx.reference


STAGES: dict[str, type[Stage]] = {stage.name: stage for stage in (SFTStage, RLStage, DistillStage)}


def build_stages(config: TrainConfig) -> list[Stage]:
    """The run's stages, in order, as objects (stages of 0 steps left out, as in `TrainConfig.stages`)."""
    return [STAGES[name](config, steps) for name, steps in config.stages()]
