"""Supervised warm start: CE on solver traces under the teacher layout, plus (optionally) the same CE under the
student (beacon) layout at sampled ratios, so the beacons learn to summarise before RL begins."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from breadcrumbs.training.losses import completion_logits, cross_entropy, layout_batch
from breadcrumbs.training.runtime import Runtime, Sums


def sft_loss(
    rt: Runtime,
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    ratios: Sequence[int],
    student_weight: float,
    global_tokens: float,
    fused: bool = True,
) -> tuple[torch.Tensor, Sums]:
    """This process's share of the global loss `(CE_teacher + w * CE_student) / global_tokens` (scaled by the
    number of processes, since data parallelism averages gradients), and the metric sums."""
    rows = len(prompts)
    sums = Sums()
    with rt.autocast():
        if student_weight > 0 and fused:
            batch = layout_batch(
                list(prompts) * 2, list(completions) * 2, [None] * rows + list(ratios), rt.beacon_id, rt.pad_id,
                rt.device,
            )
            logits = completion_logits(rt.model, batch, rt.base)
            teacher_logits, student_logits = logits[:rows], logits[rows:]
        else:
            batch = layout_batch(prompts, completions, None, rt.beacon_id, rt.pad_id, rt.device)
            teacher_logits = completion_logits(rt.model, batch, rt.base)
            student_logits = None
            if student_weight > 0:
                student = layout_batch(prompts, completions, ratios, rt.beacon_id, rt.pad_id, rt.device)
                student_logits = completion_logits(rt.model, student, rt.base)
    ids, mask = batch.completion_ids[:rows], batch.completion_mask[:rows].float()
    tokens = mask.sum()
    ce_teacher = cross_entropy(teacher_logits, ids, mask).sum()
    loss = ce_teacher
    sums.add("ce_teacher", ce_teacher, tokens)
    sums.add("token_acc_teacher", ((teacher_logits.argmax(-1) == ids).float() * mask).sum(), tokens)
    if student_logits is not None:
        ce_student = cross_entropy(student_logits, ids, mask).sum()
        loss = loss + student_weight * ce_student
        sums.add("ce_student", ce_student, tokens)
        sums.add("token_acc_student", ((student_logits.argmax(-1) == ids).float() * mask).sum(), tokens)
    sums.add("loss", loss, tokens)
    sums.add("completion_len", tokens, rows)
    return loss / global_tokens * rt.world, sums
