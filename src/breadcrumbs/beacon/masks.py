"""Attention masks for the student layout, in the format each attention implementation takes.

One visibility rule (`layout.py`) and three renderings of it: a dense boolean mask (sdpa), a dense additive float
mask (eager), and a flex-attention `BlockMask` (CUDA), whose mask function is the same rule evaluated per block.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from breadcrumbs.beacon.layout import PAD_WINDOW, PROMPT_WINDOW, StudentBatch


def _visible(
    q_window: torch.Tensor,
    k_window: torch.Tensor,
    k_beacon: torch.Tensor,
    q_index: torch.Tensor,
    k_index: torch.Tensor,
    sliding: torch.Tensor,
    lag: torch.Tensor,
) -> torch.Tensor:
    """The visibility rule for broadcastable query/key attributes (see `layout.py`); `sliding` > 0 limits a
    generated query to that many most recent generated keys (the window control has no beacons, so index distance
    is generated-token distance); `lag` > 0 lets a query see the raw keys of that many earlier windows (causality
    keeps later windows out)."""
    causal = k_index <= q_index
    recent = (sliding == 0) | (q_index - k_index < sliding)
    raw = (q_window - k_window <= lag) & recent
    shared = (k_window == PROMPT_WINDOW) | raw | (k_beacon & (k_window < q_window))
    real = (k_window != PAD_WINDOW) & (q_window != PAD_WINDOW)
    # A padding query sees itself only, so no softmax row is empty (an empty row gives NaN in sdpa).
    return (causal & shared & real) | (k_index == q_index)


def dense_mask(batch: StudentBatch) -> torch.BoolTensor:
    """`[B, 1, T, T]` boolean mask, True where the query (row) may attend to the key (column)."""
    width = batch.input_ids.shape[1]
    index = torch.arange(width, device=batch.input_ids.device)
    windows = batch.window_ids
    mask = _visible(
        windows[:, :, None], windows[:, None, :], batch.is_beacon[:, None, :], index[None, :, None], index[None, None, :],
        batch.sliding[:, None, None], batch.lag[:, None, None],
    )
    return mask[:, None]


def flex_block_mask(batch: StudentBatch):
    """A flex-attention `BlockMask` with the same visibility rule (sparse: whole evicted blocks are skipped)."""
    from torch.nn.attention.flex_attention import create_block_mask

    windows, beacons, sliding, lag = batch.window_ids, batch.is_beacon, batch.sliding, batch.lag

    def mask_mod(b, h, q_idx, kv_idx):
        return _visible(windows[b, q_idx], windows[b, kv_idx], beacons[b, kv_idx], q_idx, kv_idx, sliding[b], lag[b])

    batch_size, width = windows.shape
    return create_block_mask(mask_mod, batch_size, None, width, width, device=windows.device)


def attention_mask_for(model: PreTrainedModel, batch: StudentBatch):
    """The student mask rendered for `model`'s attention implementation (bool for sdpa, additive float for eager,
    BlockMask for flex_attention)."""
    implementation = model.config._attn_implementation
    if implementation == "flex_attention":
        return flex_block_mask(batch)
    mask = dense_mask(batch)
    if implementation == "eager":
        dtype = model.dtype
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, torch.finfo(dtype).min)
    return mask
