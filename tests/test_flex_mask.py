"""The flex-attention rendering of the student mask (used on CUDA) equals the dense rendering.

Runs flex attention on the CPU (torch compiles it with the host C++ compiler), so the CUDA path's mask logic is
checked everywhere; the dense path is itself proven equal to evicting decode in test_equivalence.py.
"""

from __future__ import annotations

import pytest
import torch

from breadcrumbs.beacon import build_student_batch
from breadcrumbs.beacon.layout import LaggedBeacons
from breadcrumbs.beacon.masks import dense_mask, flex_block_mask
from test_equivalence import parallel_logits, random_batch
from conftest import tiny_model


@pytest.mark.parametrize("ratio", [2, 3, LaggedBeacons(3, 2)])
def test_block_mask_agrees_with_dense_mask_elementwise(ratio):
    prompts, completions = random_batch(seed=3)
    batch = build_student_batch(prompts, completions, ratio, beacon_id=3, pad_id=0)
    block = flex_block_mask(batch)
    dense = block.to_dense()  # [B, 1, q_blocks, kv_blocks]: which blocks flex will visit
    mask = dense_mask(batch)[:, 0]
    width = mask.shape[-1]
    size = block.BLOCK_SIZE[0]
    for b in range(mask.shape[0]):
        for qb in range(dense.shape[2]):
            for kb in range(dense.shape[3]):
                tile = mask[b, qb * size : (qb + 1) * size, kb * size : (kb + 1) * size]
                if tile.any():
                    assert dense[b, 0, qb, kb], "a block holding visible pairs would be skipped"
    assert width == batch.input_ids.shape[1]


def test_flex_attention_logits_equal_sdpa_logits():
    sdpa_model, tokenizer = tiny_model("qwen2", "sdpa")
    flex_model, _ = tiny_model("qwen2", "flex_attention")
    prompts, completions = random_batch(seed=5)
    for view in (4, LaggedBeacons(3, 1)):
        expected = parallel_logits(sdpa_model, tokenizer, prompts, completions, view, "left")
        got = parallel_logits(flex_model, tokenizer, prompts, completions, view, "left")
        worst = max((a - b).abs().max().item() for a, b in zip(expected, got))
        assert worst <= 1e-4, (view, worst)
