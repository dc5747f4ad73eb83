"""Loss terms: completion logits under a (teacher or student) layout, CE, GRPO, and the distillation KL.

All per-token terms are returned as `[B, N]` tensors (zero where `completion_mask` is False); the caller sums them
and divides by a *global* count (tokens or sequences over all processes), so data-parallel training with any
number of processes computes the same loss as one process over the global batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
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


def completion_logits(model, batch: StudentBatch, mask_model: PreTrainedModel | None = None) -> torch.Tensor:
    """`[B, N, V]` float32 logits predicting each completion token, from one forward over the layout.

    `model` may be a DDP/FSDP wrapper; `mask_model` is the plain model the mask is rendered for. Only the logits at
    the predicting positions are projected onto the vocabulary (`logits_to_keep` with per-row positions).
    """
    mask = attention_mask_for(mask_model or model, batch)
    index = batch.predict_index
    output = model(
        input_ids=batch.input_ids, attention_mask=mask, position_ids=batch.position_ids, logits_to_keep=index,
        use_cache=False,
    )
    logits = output.logits
    if logits.shape[:2] != index.shape:  # an architecture without per-row logits_to_keep: gather from all positions
        logits = model(
            input_ids=batch.input_ids, attention_mask=mask, position_ids=batch.position_ids, use_cache=False
        ).logits
        logits = logits.gather(1, index[..., None].expand(-1, -1, logits.shape[-1]))
    return logits.float()


def token_logprobs(logits: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
    """log p(token) per position, `[B, N]`."""
    return torch.log_softmax(logits, dim=-1).gather(-1, token_ids[..., None]).squeeze(-1)


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of each next-token distribution, `[B, N]`."""
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


def cross_entropy(logits: torch.Tensor, token_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-token negative log-likelihood, zero off the mask, `[B, N]`."""
    return -token_logprobs(logits, token_ids) * mask


def distill_kl(
    teacher_logits: torch.Tensor,
    student_logits: torch.Tensor,
    mask: torch.Tensor,
    direction: str = "forward",
    teacher_grad: bool = False,
) -> torch.Tensor:
    """Token-level KL between the teacher's and the student's next-token distributions, `[B, N]`.

    forward: KL(teacher || student) = sum_v p_T (log p_T - log p_S)  (mode-covering; the paper-style default)
    reverse: KL(student || teacher) = sum_v p_S (log p_S - log p_T)  (mode-seeking)
    The teacher side is detached unless `teacher_grad`. Identical logits give exactly 0.
    """
    if not teacher_grad:
        teacher_logits = teacher_logits.detach()
    teacher = torch.log_softmax(teacher_logits, dim=-1)
    student = torch.log_softmax(student_logits, dim=-1)
    if direction == "forward":
        kl = (teacher.exp() * (teacher - student)).sum(-1)
    elif direction == "reverse":
        kl = (student.exp() * (student - teacher)).sum(-1)
    else:
        raise ValueError(f"unknown KL direction {direction!r}")
    return kl * mask


def group_advantages(rewards: torch.Tensor, group_size: int, scale: bool = True, eps: float = 1e-6) -> torch.Tensor:
    """GRPO advantages: each reward minus its group's mean, divided by the group's std when `scale`."""
    grouped = rewards.view(-1, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if scale:
        centred = centred / (grouped.std(dim=1, keepdim=True, unbiased=False) + eps)
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
