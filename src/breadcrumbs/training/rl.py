"""Joint RL + beacon distillation on the teacher's own rollouts.

One step: sample G completions per prompt with the full cache (the shared generation loop), score them with the
task's verifier, turn rewards into advantages (`rl.algorithm`: GRPO's group normalisation, or expert iteration's
1 for a verified sample), then minimise

    rl_weight * [clipped-ratio policy gradient + kl_coef * KL(policy || reference)]   (teacher layout)
  + distill_weight * KL(teacher || student)                                          (student layout, same tokens)
  + anchor_weight * CE on solver traces of the warm start's difficulty                (teacher layout; trainer.py)

The policy gradient counts every generated token, or (`rl.tokens: forks`) only those where the sample left the
policy's greedy path: on the other tokens a confident policy's gradient is noise that Adam turns into drift.

The teacher and student forwards run as one batch of 2B rows when `fused` (same weights, different masks); the
teacher's distribution is detached in the distillation term unless `teacher_grad`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from breadcrumbs.beacon.layout import StudentView, expected_peak_entries, layout_width
from breadcrumbs.policies import FullCache
from breadcrumbs.tasks import Problem, Task
from breadcrumbs.training.config import DistillConfig, RLConfig
from breadcrumbs.training.data import encode_prompts
from breadcrumbs.training.losses import group_advantages, grpo_token_loss, layout_batch, reference_kl
from breadcrumbs.training.runtime import Runtime, Sums


@dataclass
class Rollouts:
    """G completions per prompt (rows of a group are consecutive), their rewards and advantages."""

    problems: list[Problem]  # one per row
    prompts: list[list[int]]
    completions: list[list[int]]
    texts: list[str]
    rewards: torch.Tensor
    correct: torch.Tensor  # bool per row: the answer is right (the reward may also count trace errors)
    advantages: torch.Tensor
    ratios: list[int]  # student ratio of each row
    generation_s: float
    stats: list

    def __len__(self) -> int:
        return len(self.prompts)

    def rows(self, index: Sequence[int]) -> Rollouts:
        index = list(index)
        pick = lambda items: [items[i] for i in index]  # noqa: E731
        return Rollouts(
            pick(self.problems), pick(self.prompts), pick(self.completions), pick(self.texts),
            self.rewards[index], self.correct[index], self.advantages[index], pick(self.ratios), self.generation_s,
            pick(self.stats),
        )


def collect_rollouts(
    rt: Runtime,
    task: Task,
    problems: Sequence[Problem],
    cfg: RLConfig,
    ratios: Sequence[int],
    seed: int,
    model=None,
) -> Rollouts:
    """Sample `cfg.group_size` completions per problem with the full cache and score them; from `model` (a causal
    LM, e.g. a frozen teacher) when given, else from the model being trained."""
    rows = [problem for problem in problems for _ in range(cfg.group_size)]
    prompts = encode_prompts(rt.tokenizer, task, rows)
    sampler = rt.base if model is None else model
    was_training = sampler.training
    sampler.eval()
    started = time.perf_counter()
    output = rt.generator(
        sampler, rt.tokenizer, prompts, policy=FullCache(), max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature, top_p=cfg.top_p, seed=seed,
    )
    elapsed = time.perf_counter() - started
    sampler.train(was_training)
    scores, verified = task.score(rows, output.texts, cfg.format_reward, cfg.trace_penalty)  # once per batch
    rewards = torch.tensor(scores, dtype=torch.float32)
    correct = torch.tensor(verified, dtype=torch.bool)
    advantages = rollout_advantages(rewards, correct, cfg)
    return Rollouts(
        rows, prompts, output.completion_ids, output.texts, rewards, correct, advantages, list(ratios), elapsed,
        output.stats,
    )


def rollout_advantages(rewards: torch.Tensor, correct: torch.Tensor, cfg: RLConfig) -> torch.Tensor:
    """The advantage of each rollout under `cfg.algorithm`: GRPO's group-normalised rewards, or expert iteration's
    1 for a verified sample and 0 otherwise (its policy gradient is the cross-entropy on the verified samples)."""
    if cfg.algorithm == "expert_iteration":
        return correct.float()
    return group_advantages(rewards, cfg.group_size, cfg.scale_rewards, cfg.negative_weight)


def fork_mask(argmax: torch.Tensor, rollouts: Rollouts, mask: torch.Tensor) -> torch.Tensor:
    """`[B, N]`: 1 at the generated tokens that differ from the policy's own greedy choice (the forks where a
    sample left the greedy path), 0 elsewhere and off `mask`."""
    width = mask.shape[1]
    sampled = torch.tensor([c + [-1] * (width - len(c)) for c in rollouts.completions], device=argmax.device)
    return (argmax != sampled).float() * mask


WIDTH_SLACK = 1.25  # rows forwarded together are at least 1 / WIDTH_SLACK as long as the longest of them


def width_groups(widths: Sequence[int], slack: float = WIDTH_SLACK) -> list[list[int]]:
    """Row indices grouped by width, longest first: every row of a group is at least `1 / slack` of the group's
    longest, so padding a group to its longest row wastes at most `slack - 1` of each row."""
    groups: list[list[int]] = []
    for row in sorted(range(len(widths)), key=lambda i: -widths[i]):
        if groups and widths[row] * slack >= widths[groups[-1][0]]:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def score(
    rt: Runtime,
    rollouts: Rollouts,
    views: Sequence[StudentView] | None,
    options,
    model=None,
    teacher_hidden: torch.Tensor | None = None,
    keep_hidden: bool = False,
    teacher_head: torch.nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """The `TokenScorer` terms of every row of `rollouts` in the layout `views` (None: the teacher's), `[R, N]`
    (`hidden`: `[R, N, H]`), from one forward per group of rows of similar width (`width_groups`): rollouts of
    300 and 600 tokens, or students at c = 2 and c = 32, are not padded to the longest row of the whole batch.
    `model` defaults to `rt.model`; `teacher_hidden` pairs each row with its teacher (see `TokenScorer`), projected
    by `teacher_head` when it came from another model."""
    model = rt.model if model is None else model
    views = list(views) if views is not None else [None] * len(rollouts)
    width = max(len(c) for c in rollouts.completions)
    widths = [layout_width(len(p), len(c), v) for p, c, v in zip(rollouts.prompts, rollouts.completions, views)]
    order, parts = [], []
    for group in width_groups(widths):
        pick = lambda items: [items[i] for i in group]  # noqa: E731
        batch = layout_batch(pick(rollouts.prompts), pick(rollouts.completions), pick(views), rt.beacon_id,
                             rt.pad_id, rt.device)
        paired = None if teacher_hidden is None else teacher_hidden[group, : batch.completion_ids.shape[1]]
        parts.append(model(batch, options, teacher_hidden=paired, keep_hidden=keep_hidden, teacher_head=teacher_head))
        order += group
    inverse = torch.argsort(torch.tensor(order, device=rt.device))
    pad = lambda x: torch.nn.functional.pad(x, (0, 0) * (x.dim() - 2) + (0, width - x.shape[1]))  # noqa: E731
    return {name: torch.cat([pad(part[name]) for part in parts])[inverse] for name in parts[0]}


def sequence_logprobs(rt: Runtime, model, rollouts: Rollouts, rl_cfg: RLConfig) -> torch.Tensor:
    """Log-probs of the sampled tokens under the teacher layout (the sampling distribution), no gradient, `[B, N]`.
    `model` is a `TokenScorer` (possibly wrapped): the policy's or the reference's."""
    with torch.no_grad(), rt.autocast():
        return score(rt, rollouts, None, rt.head_options(rl_cfg.temperature), model)["logprob"]


def _normalise(per_token: torch.Tensor, mask: torch.Tensor, how: str, denominator: float) -> torch.Tensor:
    """Sum of a per-token term under `how` (token and counted: over tokens; sequence: per-sequence means) over a
    global denominator (all tokens, or all sequences, of this update across processes)."""
    if how == "sequence":
        return (per_token.sum(1) / mask.sum(1).clamp(min=1)).sum() / denominator
    return per_token.sum() / denominator


def rl_loss(
    rt: Runtime,
    rollouts: Rollouts,
    rl_cfg: RLConfig,
    distill_cfg: DistillConfig,
    rl_weight: float,
    distill_weight: float,
    denominator: float,
    old_logprobs: torch.Tensor | None = None,
    ref_logprobs: torch.Tensor | None = None,
    teacher=None,
) -> tuple[torch.Tensor, Sums]:
    """This process's share of the joint loss on `rollouts` (scaled for gradient averaging), and metric sums.

    `denominator` is the global number of tokens (loss_norm token, counted) or sequences (sequence) in this update.
    Under `counted` the policy gradient of this forward is rescaled to a mean over the tokens it counts (non-zero
    advantage, and a fork under `rl.tokens: forks`), so a term on 2% of the tokens is not 50x weaker than the
    distillation KL and the anchor beside it.
    `old_logprobs` None means the rollouts were sampled from the current weights (ratio = 1 exactly).
    `teacher` (a frozen `TokenScorer`, `distill.teacher: frozen`) scores the teacher rows without gradient; only
    the student rows of the trained model then enter the backward.
    """
    rows = len(rollouts)
    distill = distill_weight > 0
    teacher_needs_grad = rl_weight > 0 or (distill and distill_cfg.teacher_grad)
    options = rt.head_options(rl_cfg.temperature, distill_cfg)
    sums = Sums()
    with rt.autocast():
        if teacher is not None:
            with torch.no_grad():
                terms = score(rt, rollouts, None, options, model=teacher, keep_hidden=True)
            paired = score(rt, rollouts, rollouts.ratios, options, teacher_hidden=terms["hidden"],
                           teacher_head=teacher.lm.get_output_embeddings())
            terms.update(kl=paired["kl"], student_argmax=paired["student_argmax"])
        elif distill and distill_cfg.fused_forward and teacher_needs_grad:
            batch = layout_batch(
                rollouts.prompts * 2, rollouts.completions * 2, [None] * rows + rollouts.ratios, rt.beacon_id,
                rt.pad_id, rt.device,
            )
            terms = rt.model(batch, options, paired=True)
        else:
            with torch.set_grad_enabled(teacher_needs_grad and torch.is_grad_enabled()):
                terms = score(rt, rollouts, None, options, keep_hidden=distill)
            if distill:
                paired = score(rt, rollouts, rollouts.ratios, options, teacher_hidden=terms["hidden"])
                terms.update(kl=paired["kl"], student_argmax=paired["student_argmax"])
    lengths = torch.tensor([len(c) for c in rollouts.completions], device=rt.device)
    mask = (torch.arange(int(lengths.max()), device=rt.device) < lengths[:, None]).float()
    tokens = mask.sum()
    how = rl_cfg.loss_norm
    logprobs = terms["logprob"]
    loss = torch.zeros((), device=rt.device)
    if rl_weight > 0:
        old = logprobs.detach() if old_logprobs is None else old_logprobs
        advantages = rollouts.advantages.to(rt.device)
        high = rl_cfg.clip_eps_high or rl_cfg.clip_eps
        pg_mask = mask
        if rl_cfg.tokens == "forks":
            pg_mask = fork_mask(terms["argmax"], rollouts, mask)
            sums.add("fork_frac", pg_mask.sum(), tokens)
        pg, clipped = grpo_token_loss(logprobs, old, advantages, pg_mask, rl_cfg.clip_eps, high)
        rl_term = pg
        if how == "counted":  # the policy gradient as a mean over the tokens it moves
            counted = pg_mask * (advantages != 0).float()[:, None]
            rl_term = pg * (tokens / counted.sum().clamp(min=1))
            sums.add("counted_frac", counted.sum(), tokens)
        if ref_logprobs is not None and rl_cfg.kl_coef > 0:
            ref = reference_kl(logprobs, ref_logprobs, mask)
            rl_term = rl_term + rl_cfg.kl_coef * ref
            sums.add("ref_kl", ref.sum(), tokens)
        loss = loss + rl_weight * _normalise(rl_term, mask, how, denominator)
        sums.add("pg_loss", pg.sum(), tokens)
        sums.add("clip_frac", clipped.sum(), tokens)
    if distill:
        kl = terms["kl"]
        loss = loss + distill_weight * _normalise(kl, mask, how, denominator)
        sums.add("distill_kl", kl.sum(), tokens)
        sums.add("student_agree", ((terms["student_argmax"] == terms["argmax"]).float() * mask).sum(), tokens)
    sums.add("entropy", terms["entropy"].sum(), tokens)
    sums.add("nll_teacher", -logprobs.detach().sum(), tokens)
    sums.add("loss", loss.detach(), 1.0 / rt.world)  # summed over processes: the global loss of this update
    return loss * rt.world, sums


def rollout_sums(rollouts: Rollouts, group_size: int) -> Sums:
    """Reward, accuracy, length and KV figures of a rollout batch (full cache measured; beacon by the layout), and
    the GRPO diagnostics per group: `signal_groups` (share of groups whose rewards differ, the only ones with a
    non-zero advantage) and `pass_at_g` (share of groups with at least one correct sample)."""
    sums = Sums()
    rows = len(rollouts)
    groups = rollouts.rewards.view(-1, group_size)
    sums.add("reward", rollouts.rewards.sum(), rows)
    sums.add("accuracy", rollouts.correct.float().sum(), rows)
    sums.add("signal_groups", (groups.max(1).values > groups.min(1).values).float().sum(), len(groups))
    sums.add("pass_at_g", rollouts.correct.view(-1, group_size).any(1).float().sum(), len(groups))
    sums.add("completion_len", sum(len(c) for c in rollouts.completions), rows)
    sums.add("truncated", sum(s.stop_reason == "length" for s in rollouts.stats), rows)
    sums.add("kv_peak_full", sum(s.peak_kv_entries for s in rollouts.stats), rows)
    student_peak = sum(
        expected_peak_entries(s.prompt_tokens, max(s.generated_tokens - 1, 0), ratio)
        for s, ratio in zip(rollouts.stats, rollouts.ratios)
    )
    sums.add("kv_peak_student", student_peak, rows)
    generated = sum(s.generated_tokens for s in rollouts.stats)
    sums.add("gen_tokens_per_s", generated, rollouts.generation_s)
    return sums
