"""TOVA (Oren et al., 2024, arXiv 2401.06104): evict the entry the current query attends to least.

After every forward, per layer, the newest query's attention over the held keys is averaged over all query heads;
when the budget is full the generated entry with the lowest average goes (the same slot in every head of that
layer). As in kvpress's `TOVAPress`, the newest entry itself is never the victim while another candidate exists
(`recent=1`); the original TOVA does not pin it, which rarely matters because a token attends strongly to itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from breadcrumbs.policies.attention import attention_over_cache
from breadcrumbs.policies.scored import BudgetMatch, ScoredEvictionPolicy

if TYPE_CHECKING:
    from breadcrumbs.generation import DecodeSession


def newest_query_attention(session: DecodeSession, layer: int) -> torch.Tensor:
    """`[B, H_kv, G, L]` attention weights of the last fed token's query over every held slot of `layer`."""
    record = session.last_queries
    return attention_over_cache(
        record.queries[layer], session.cache.layers[layer].keys, record.scaling[layer], session.padding,
        record.softcap[layer],
    )


class TOVAPolicy(ScoredEvictionPolicy):
    """Score = attention of the newest query, averaged over all heads, per layer."""

    name = "tova"
    per_head = False
    needs_queries = True

    def __init__(self, budget: int | BudgetMatch | None, recent: int = 1):
        super().__init__(budget, recent=recent)

    def score(self, session: DecodeSession, layer: int) -> torch.Tensor:
        width = session.prompt_mask.shape[1]
        return newest_query_attention(session, layer)[..., width:].mean(dim=(1, 2))
