"""Key-norm eviction (Devoto et al., 2024, arXiv 2406.11430; kvpress `KnormPress`): keys with a large L2 norm tend
to receive little attention, so the generated entry whose key has the largest norm is evicted, per KV head.
Needs no attention at all: one norm per held key and layer (computed in float32, like kvpress). `recent` pins the
newest entries (0 by default, as in kvpress). The paper also leaves layers 0-1 uncompressed; that is not offered here,
because every layer of the `SlotCache` holds the same number of entries (budgets stay per-layer equal)."""

from __future__ import annotations

import torch

from breadcrumbs.policies.base import SessionView
from breadcrumbs.policies.registry import RECIPES, MethodFamily, PlotStyle, register
from breadcrumbs.policies.scored import BudgetMatch, ScoredEvictionPolicy, budget_argument


class KnormPolicy(ScoredEvictionPolicy):
    """Score = minus the key's L2 norm, per KV head."""

    name = "knorm"
    per_head = True
    needs_queries = False

    def __init__(self, budget: int | BudgetMatch | None, recent: int = 0):
        super().__init__(budget, recent=recent)

    def scores(self, session: SessionView) -> torch.Tensor:
        return -torch.linalg.vector_norm(self.generated_keys(session), dim=-1, dtype=torch.float32)


register(MethodFamily(
    "knorm", KnormPolicy, budget_argument, "K-norm", PlotStyle("#8c564b", "P"),
    grid=lambda b: [{"recent": r} for r in (0, 1, 2, 4) if r < b], recipes=frozenset(RECIPES),
))
