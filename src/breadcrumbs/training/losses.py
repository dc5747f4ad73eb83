"""Loss terms: per-token log-probs, entropy and distillation KL from a (teacher or student) layout, computed in
memory-bounded chunks inside the wrapped model's forward; GRPO advantages and the clipped-ratio loss.

All per-token terms are returned as `[B, N]` tensors (zero where `completion_mask` is False); the caller sums them
and divides by a *global* count (tokens or sequences over all processes), so data-parallel training with any
number of processes computes the same loss as one process over the global batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint
from transformers import PreTrainedModel

from breadcrumbs.beacon import StudentBatch, attention_mask_for, build_student_batch


def layout_batch(
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    ratios: Sequence[int | None] | None,
    beacon_id: int,
    pad_id: int,
    device: torch.device | str,
) -> StudentBatch:
    """The batch in the student layout (teacher layout where a ratio is None), on `device`."""
    ratio = list(ratios) if ratios is not None else None
    return build_student_batch(prompts, completions, ratio, beacon_id, pad_id, "left").to(device)


@dataclass(frozen=True)
class HeadOptions:
    """How per-token terms are computed from the final hidden states.

    `temperature` and `banned_ids` describe the distribution the rollouts were sampled from (the sampler divides the
    logits by the temperature and never draws a banned id); log-probs and entropy are those of that distribution,
    so the importance ratio and the policy gradient match the sampler. The distillation KL compares the model's own
    distributions (temperature 1, full vocabulary). `chunk_tokens` bounds memory: at most that many positions are
    projected onto the vocabulary at a time, and each chunk's logits are recomputed in backward rather than kept
    (0: all positions at once, logits kept for backward).
    """

    chunk_tokens: int = 0
    temperature: float = 1.0
    banned_ids: tuple[int, ...] = ()
    direction: str = "forward"  # forward: KL(teacher || student) | reverse: KL(student || teacher)
    teacher_grad: bool = False  # let the distillation gradient flow through the teacher's side


class TokenScorer(torch.nn.Module):
    """A causal LM whose forward returns per-token terms of the completion tokens instead of logits.

    The vocabulary projection and the losses run inside `forward`, so DDP, FSDP and DeepSpeed see every use of the
    weights (the output embedding included) as part of the wrapped module's forward; `lm` stays a plain HF model.
    """

    def __init__(self, lm: PreTrainedModel):
        super().__init__()
        self.lm = lm
        self._no_split_modules = lm._no_split_modules  # FSDP's transformer auto-wrap policy reads it

    def forward(
        self,
        batch: StudentBatch,
        options: HeadOptions,
        paired: bool = False,
        teacher_hidden: torch.Tensor | None = None,
        keep_hidden: bool = False,
        teacher_head: torch.nn.Module | None = None,
    ) -> dict[str, torch.Tensor]:
        """`[R, N]` terms for the completion tokens of `batch` (zero off `completion_mask`).

        Unpaired: every row is scored on its own tokens (`logprob`, `entropy`, `argmax`). Paired (`paired`, or
        `teacher_hidden` given): rows are students and the teacher is the first half of the batch (`paired`) or
        `teacher_hidden` (`[R, N, H]` from an earlier forward); the terms are then the teacher's, plus `kl` and
        `student_argmax`. `keep_hidden` also returns the final hidden states at the predicting positions.
        `teacher_head` projects `teacher_hidden` when it came from another model (a frozen teacher).
        """
        hidden = self.lm.base_model(
            input_ids=batch.input_ids, attention_mask=attention_mask_for(self.lm, batch),
            position_ids=batch.position_ids, use_cache=False,
        ).last_hidden_state
        hidden = hidden.gather(1, batch.predict_index[..., None].expand(-1, -1, hidden.shape[-1]))
        ids, mask = batch.completion_ids, batch.completion_mask
        student = None
        if paired:
            rows = hidden.shape[0] // 2
            hidden, student, ids, mask = hidden[:rows], hidden[rows:], ids[:rows], mask[:rows]
        elif teacher_hidden is not None:
            hidden, student = teacher_hidden, hidden
        terms = head_terms(self.lm.get_output_embeddings(), hidden, ids, mask, options, student, teacher_head)
        if keep_hidden:
            terms["hidden"] = hidden
        return terms


def head_terms(
    head: torch.nn.Module,
    hidden: torch.Tensor,
    token_ids: torch.Tensor,
    mask: torch.Tensor,
    options: HeadOptions,
    student: torch.Tensor | None = None,
    teacher_head: torch.nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """Per-token terms from final hidden states `[R, N, H]`, computed over the masked positions in chunks of
    `options.chunk_tokens`: no `[R, N, V]` tensor is ever built (beyond one chunk's rows). `hidden` goes through
    `teacher_head` when given (a frozen teacher's), `student` through `head`."""
    rows, width = token_ids.shape
    where = mask.flatten().nonzero().squeeze(1)
    flat = lambda x: x.flatten(0, 1)[where]  # noqa: E731
    inputs = [flat(hidden), flat(token_ids)] + ([flat(student)] if student is not None else [])
    banned = None
    if options.banned_ids:
        banned = torch.zeros(head.weight.shape[0], dtype=torch.bool, device=hidden.device)
        banned[list(options.banned_ids)] = True
    compute = lambda *chunk: _chunk_terms(head, teacher_head or head, options, banned, *chunk)  # noqa: E731
    size = options.chunk_tokens or max(len(where), 1)
    parts = []
    for start in range(0, len(where), size):
        chunk = [x[start : start + size] for x in inputs]
        if options.chunk_tokens and torch.is_grad_enabled():
            parts.append(checkpoint(compute, *chunk, use_reentrant=False))
        else:
            parts.append(compute(*chunk))
    if not parts:
        parts.append(compute(*[x[:0] for x in inputs]))
    names = parts[0].keys()
    return {
        name: torch.zeros(rows * width, dtype=parts[0][name].dtype, device=hidden.device)
        .index_copy(0, where, torch.cat([part[name] for part in parts]))
        .view(rows, width)
        for name in names
    }


def _chunk_terms(
    head: torch.nn.Module,
    teacher_head: torch.nn.Module,
    options: HeadOptions,
    banned: torch.Tensor | None,
    hidden: torch.Tensor,
    token_ids: torch.Tensor,
    student: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The terms of one chunk of `n` positions: `[n, V]` logits live only inside this function."""
    logits = teacher_head(hidden).float()
    policy = logits if banned is None else logits.masked_fill(banned, float("-inf"))
    policy = torch.log_softmax(policy / options.temperature, dim=-1)
    terms = {"logprob": policy.gather(-1, token_ids[:, None]).squeeze(-1)}
    with torch.no_grad():
        terms["entropy"] = torch.special.entr(policy.exp()).sum(-1)
        terms["argmax"] = logits.argmax(-1)
    if student is not None:
        student_logits = head(student).float()
        teacher = torch.log_softmax(logits if options.teacher_grad else logits.detach(), dim=-1)
        student_logp = torch.log_softmax(student_logits, dim=-1)
        if options.direction == "forward":
            terms["kl"] = (teacher.exp() * (teacher - student_logp)).sum(-1)
        elif options.direction == "reverse":
            terms["kl"] = (student_logp.exp() * (student_logp - teacher)).sum(-1)
        else:
            raise ValueError(f"unknown KL direction {options.direction!r}")
        terms["student_argmax"] = student_logits.detach().argmax(-1)
    return terms


def group_advantages(
    rewards: torch.Tensor, group_size: int, scale: bool = True, negative_weight: float = 1.0, eps: float = 1e-6
) -> torch.Tensor:
    """GRPO advantages: each reward minus its group's mean, divided by the group's std when `scale`; the negative
    ones (samples worse than their group) multiplied by `negative_weight` (1 = GRPO, 0 = reinforce only the samples
    better than their group)."""
    grouped = rewards.view(-1, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if scale:
        centred = centred / (grouped.std(dim=1, keepdim=True, unbiased=False) + eps)
    centred = torch.where(centred < 0, centred * negative_weight, centred)
    return centred.reshape(-1)


def grpo_token_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_low: float,
    clip_high: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped-ratio policy-gradient loss per token and the clipped indicator, both `[B, N]`."""
    ratio = torch.exp(logprobs - old_logprobs)
    adv = advantages[:, None]
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    loss = torch.maximum(unclipped, clipped)
    was_clipped = (clipped > unclipped).float()
    return loss * mask, was_clipped * mask


def reference_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The k3 estimator of KL(policy || reference) on the sampled tokens (non-negative, unbiased), `[B, N]`."""
    delta = ref_logprobs - logprobs
    return (torch.exp(delta) - delta - 1.0) * mask
