"""Supervised warm start: CE on solver traces under the teacher layout, plus (optionally) the same CE under the
student (beacon) layout at sampled ratios, so the beacons learn to summarise before RL begins."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from breadcrumbs.training.losses import layout_batch
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
    options = rt.head_options()
    with rt.autocast():
        if student_weight > 0 and fused:
            batch = layout_batch(
                list(prompts) * 2, list(completions) * 2, [None] * rows + list(ratios), rt.beacon_id, rt.pad_id,
                rt.device,
            )
            terms = rt.model(batch, options)
            views = {
                "teacher": {k: v[:rows] for k, v in terms.items()}, "student": {k: v[rows:] for k, v in terms.items()}
            }
        else:
            batch = layout_batch(prompts, completions, None, rt.beacon_id, rt.pad_id, rt.device)
            views = {"teacher": rt.model(batch, options)}
            if student_weight > 0:
                student = layout_batch(prompts, completions, ratios, rt.beacon_id, rt.pad_id, rt.device)
                views["student"] = rt.model(student, options)
    ids, mask = batch.completion_ids[:rows], batch.completion_mask[:rows].float()
    tokens = mask.sum()
    loss = torch.zeros((), device=rt.device)
    for name, terms in views.items():
        ce = -terms["logprob"].sum()
        loss = loss + (student_weight if name == "student" else 1.0) * ce
        sums.add(f"ce_{name}", ce, tokens)
        sums.add(f"token_acc_{name}", ((terms["argmax"] == ids).float() * mask).sum(), tokens)
    sums.add("loss", loss, tokens)
    sums.add("completion_len", tokens, rows)
    return loss / global_tokens * rt.world, sums
