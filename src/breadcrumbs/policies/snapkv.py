"""SnapKV (Li et al., 2024, arXiv 2404.14469) adapted to decoding.

SnapKV compresses a prompt once, scoring each key by the attention it receives from an *observation window* of the
last `window` queries, smoothed by 1-D pooling over neighbouring positions, per KV head; the window itself is kept.
Decoding adaptation used here (formulas as in kvpress's `SnapKVPress`): the session records every step's query;
the policy keeps the last `window` of them per layer. When the budget is full, each window query attends over the
held keys it could see when it was fed (causal: keys fed later are masked; softmax over prompt + generated keys),
weights are averaged over the window queries, average-pooled (`kernel`, stride 1, zero padding; the window's own
entries count as zeros, as kvpress cuts them off before pooling) along the held entries in temporal order, averaged over the query heads of each KV group, and the lowest-scoring generated entry
outside the window is evicted, per KV head. Cost per step: `window` queries x held keys per layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.policies.attention import attention_over_cache
from breadcrumbs.policies.base import SessionView
from breadcrumbs.policies.registry import RECIPES, MethodFamily, PlotStyle, register
from breadcrumbs.policies.scored import BudgetMatch, ScoredEvictionPolicy, budget_argument


def pool_in_order(scores: torch.Tensor, order: torch.LongTensor, kernel: int) -> torch.Tensor:
    """Average-pool `scores [..., L]` along the permutation `order [..., L]` (temporal order), back in slot order."""
    ordered = scores.gather(-1, order)
    flat = ordered.reshape(-1, 1, ordered.shape[-1])
    pooled = F.avg_pool1d(flat, kernel_size=kernel, stride=1, padding=kernel // 2).reshape(ordered.shape)
    return torch.zeros_like(pooled).scatter_(-1, order, pooled)


class SnapKVPolicy(ScoredEvictionPolicy):
    """Score = pooled attention from the last `window` queries, per KV head; the window's own entries pinned."""

    name = "snapkv"
    per_head = True
    needs_queries = True

    def __init__(self, budget: int | BudgetMatch | None, window: int = 8, kernel: int = 5):
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise BreadcrumbsError(f"snapkv: window must be a whole number >= 1, got {window!r}")
        if isinstance(kernel, bool) or not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0:
            raise BreadcrumbsError(f"snapkv: kernel must be an odd whole number >= 1, got {kernel!r}")
        super().__init__(budget, recent=window)
        self.window = window
        self.kernel = kernel

    def reset(self, session: SessionView) -> None:
        super().reset(session)
        self._queries: list[torch.Tensor] = []  # per layer [B, H_q, <=window, D]
        self._query_births: list[int] = []

    def select_rows(self, rows: torch.LongTensor) -> None:
        super().select_rows(rows)
        self._queries = [queries[rows.to(queries.device)] for queries in self._queries]

    def side_state(self) -> list[torch.Tensor]:
        return super().side_state() + self._queries

    def observe(self, session: SessionView) -> None:
        record = session.last_queries
        self._scaling = record.scaling
        self._softcap = record.softcap
        layers = range(len(session.cache.layers))
        new = [record.queries[layer][:, :, None] for layer in layers]
        stacked = [torch.cat([old, q], dim=2) for old, q in zip(self._queries, new)] if self._queries else new
        self._queries = [queries[:, :, -self.window :] for queries in stacked]
        self._query_births = (self._query_births + [session.tokens_fed])[-self.window :]

    def score(self, session: SessionView, layer: int) -> torch.Tensor:
        keys = session.cache.layers[layer].keys
        width = session.prompt_mask.shape[1]
        births = self.slot_state["birth"][layer]  # [B, H_kv, n]
        key_births = torch.cat([births.new_zeros(*births.shape[:2], width), births], dim=-1)  # prompt = 0
        query_births = torch.tensor(self._query_births, device=keys.device)
        visible = key_births[:, :, None, :] <= query_births[None, None, :, None]  # [B, H_kv, Q, L]
        weights = attention_over_cache(
            self._queries[layer], keys, self._scaling[layer], session.padding, self._softcap[layer], visible
        )  # [B, H_kv, G, Q, L]
        observed = weights.mean(dim=3)  # [B, H_kv, G, L]
        # kvpress pools the scores with the window's own keys cut off (zero padding at that edge): zero them here.
        _, recent = self.protected_counts()
        in_window = key_births > session.tokens_fed - recent
        observed = observed.masked_fill(in_window[:, :, None], 0.0)
        order = key_births.argsort(dim=-1, stable=True)[:, :, None].expand_as(observed)
        pooled = pool_in_order(observed, order, self.kernel)
        return pooled.mean(dim=2)[..., width:]


register(MethodFamily(
    "snapkv", SnapKVPolicy, budget_argument, "SnapKV (decoding variant)", PlotStyle("#9467bd", "D", 6),
    grid=lambda b: [{}] + [{"window": w, "kernel": k} for w in (1, 2, 4) if w < b for k in (1, 3, 5)], recipes=frozenset(RECIPES),
))
