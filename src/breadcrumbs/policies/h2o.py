"""H2O (Zhang et al., 2023, arXiv 2306.14048): heavy hitters by accumulated attention, plus a recent window.

Every generated entry accumulates the attention it receives from every later query (including its own), per layer
and per KV head (query heads of a GQA group averaged). When the budget is full, the `recent` newest entries are
kept (default: half the budget, as in the paper's equal heavy/recent split) and, among the rest, the entry with the
smallest accumulated attention is evicted — independently in each KV head.
"""

from __future__ import annotations

import torch

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.policies.attention import newest_query_attention
from breadcrumbs.policies.base import SessionView
from breadcrumbs.policies.registry import RECIPES, MethodFamily, PlotStyle, register
from breadcrumbs.policies.scored import BudgetMatch, ScoredEvictionPolicy, budget_argument


class H2OPolicy(ScoredEvictionPolicy):
    """Score = attention accumulated since the entry was fed, per KV head; `recent` newest entries pinned."""

    name = "h2o"
    per_head = True
    needs_queries = True

    def __init__(self, budget: int | BudgetMatch | None, recent: int | None = None):
        super().__init__(budget)
        if recent is not None and (isinstance(recent, bool) or not isinstance(recent, int) or recent < 0):
            raise BreadcrumbsError(f"h2o: recent must be a non-negative whole number, got {recent!r}")
        self.recent = recent  # None: half the budget

    def protected_counts(self) -> tuple[int, int]:
        recent = self.budget // 2 if self.recent is None else self.recent
        return 0, min(recent, self.budget - 1)

    def reset(self, session: SessionView) -> None:
        super().reset(session)
        self.slot_state["score"] = torch.zeros(self.slot_state["birth"].shape, device=session.prompt_mask.device)

    def observe(self, session: SessionView) -> None:
        width = session.prompt_mask.shape[1]
        received = newest_query_attention(session)[..., width:].mean(dim=3)  # [layers, B, H_kv, n]
        previous = self.slot_state["score"]
        padded = torch.nn.functional.pad(previous, (0, received.shape[-1] - previous.shape[-1]))
        self.slot_state["score"] = padded + received

    def scores(self, session: SessionView) -> torch.Tensor:
        return self.slot_state["score"]


register(MethodFamily(
    "h2o", H2OPolicy, budget_argument, "H2O", PlotStyle("#2ca02c", "^"),
    grid=lambda b: [{}] + [{"recent": round(share * b)} for share in (0.0, 0.25, 0.75)], recipes=frozenset(RECIPES),
))
