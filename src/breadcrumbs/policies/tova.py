"""TOVA (Oren et al., 2024, arXiv 2401.06104): evict the entry the current query attends to least.

After every forward, per layer, the newest query's attention over the held keys is averaged over all query heads;
when the budget is full the generated entry with the lowest average goes (the same slot in every head of that
layer). As in kvpress's `TOVAPress`, the newest entry itself is never the victim while another candidate exists
(`recent=1`); the original TOVA does not pin it, which rarely matters because a token attends strongly to itself.
"""

from __future__ import annotations

import torch

from breadcrumbs.policies.attention import newest_query_attention
from breadcrumbs.policies.base import SessionView
from breadcrumbs.policies.registry import RECIPES, MethodFamily, PlotStyle, register
from breadcrumbs.policies.scored import BudgetMatch, ScoredEvictionPolicy, budget_argument


class TOVAPolicy(ScoredEvictionPolicy):
    """Score = attention of the newest query, averaged over all heads, per layer."""

    name = "tova"
    per_head = False
    needs_queries = True

    def __init__(self, budget: int | BudgetMatch | None, recent: int = 1):
        super().__init__(budget, recent=recent)

    def scores(self, session: SessionView) -> torch.Tensor:
        width = session.prompt_mask.shape[1]
        return newest_query_attention(session)[..., width:].mean(dim=(2, 3))


register(MethodFamily(
    "tova", TOVAPolicy, budget_argument, "TOVA", PlotStyle("#1f77b4", "s", 6),
    grid=lambda b: [{"recent": r} for r in (1, 0, 2, 4) if r < b], recipes=frozenset(RECIPES),
))
