"""R-KV (Cai et al., 2025, arXiv 2505.24133): redundancy-aware eviction for long reasoning traces.

Published scoring (the authors' reference `R1KV`, defaults window 8, kernel 7, lambda 0.07, threshold 0.5), per KV
head, over the held keys in temporal order:

- **importance**: the last `window` queries' attention logits `q·k·scale` over the keys outside the window, the
  query heads of a GQA group pooled by their **max** logit, softmax over those keys, averaged over the window
  queries, then **max**-pooled along the sequence (`kernel`, stride 1; the window is cut off before pooling);
- **redundancy**: cosine similarity between every pair of held keys (diagonal zeroed); for each key, its most
  recent neighbour above `threshold` is exempted (that similarity set to 0: the newest copy of a repeated thought is
  the one kept); each key's redundancy is its mean similarity to all keys, softmaxed over the keys;
- **score** = `lambda * importance - (1 - lambda) * redundancy`; the window's own entries are pinned.

Deliberate differences: the prompt is never evicted here (it takes part in both normalisations, as in the
reference, but is never a candidate), and eviction happens at every step (compression interval 1) rather than every
`buffer` = 128 tokens, so the cache never exceeds its budget and peak-matched comparisons stay exact. Queries that
see fewer keys (after a row's left padding, or keys fed after them when the budget is below the window) are masked.
`tests/test_policies_rkv.py` checks the victims against a line-by-line transcription of the reference formulas
through several evictions on a padded batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.policies.base import SessionView
from breadcrumbs.policies.registry import MethodFamily, PlotStyle, register
from breadcrumbs.policies.scored import BudgetMatch, budget_argument
from breadcrumbs.policies.snapkv import SnapKVPolicy


def redundancy_scores(keys: torch.Tensor, real: torch.Tensor, threshold: float) -> torch.Tensor:
    """R-KV redundancy of keys in temporal order `[B, H, L, D]`; `real [B, 1, L]` marks non-padding keys (padding
    leads each row). Returns `[B, H, L]`, a softmax over each row's real keys."""
    length = keys.shape[2]
    unit = keys.float() / (keys.float().norm(dim=-1, keepdim=True) + 1e-8)
    similarity = unit @ unit.transpose(-1, -2)
    similarity.diagonal(dim1=-2, dim2=-1).zero_()
    pairs = real[..., :, None] & real[..., None, :]
    similarity = similarity.masked_fill(~pairs, 0.0)
    index = torch.arange(length, device=keys.device)
    first_real = (~real).sum(dim=-1, keepdim=True)  # the reference's index 0 is a row's first real key
    newest_similar = torch.where(similarity > threshold, index, first_real[..., None]).amax(dim=-1)
    similarity.scatter_(-1, newest_similar[..., None], 0.0)
    mean = similarity.sum(dim=-2) / real.sum(dim=-1, keepdim=True)
    return mean.masked_fill(~real, float("-inf")).softmax(dim=-1)


class RKVPolicy(SnapKVPolicy):
    """Score = `lambda` x pooled window attention - (1 - `lambda`) x key redundancy, per KV head (module docstring)."""

    name = "rkv"

    def __init__(
        self,
        budget: int | BudgetMatch | None,
        window: int = 8,
        kernel: int = 7,
        mix_lambda: float = 0.07,
        threshold: float = 0.5,
    ):
        super().__init__(budget, window=window, kernel=kernel)
        for what, value in (("mix_lambda", mix_lambda), ("threshold", threshold)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BreadcrumbsError(f"rkv: {what} must be a number, got {value!r}")
        if not 0.0 <= mix_lambda <= 1.0:
            raise BreadcrumbsError(f"rkv: mix_lambda must be between 0 and 1, got {mix_lambda!r}")
        self.mix_lambda = float(mix_lambda)
        self.threshold = float(threshold)

    def score(self, session: SessionView, layer: int) -> torch.Tensor:
        keys = session.cache.layers[layer].keys
        batch, kv_heads, length, dim = keys.shape
        width = session.prompt_mask.shape[1]
        births = self.slot_state["birth"][layer]
        key_births = torch.cat([births.new_zeros(batch, kv_heads, width), births], dim=-1)  # prompt = 0
        order = key_births.argsort(dim=-1, stable=True)  # temporal order (prompt, padding first, keeps slot order)
        keys = keys.gather(2, order[..., None].expand(-1, -1, -1, dim))
        born = key_births.gather(-1, order)
        real = (torch.arange(length, device=keys.device) >= session.padding.to(keys.device)[:, None])[:, None]

        _, recent = self.protected_counts()
        candidate = real & (born <= session.tokens_fed - recent)  # outside the window
        queries = self._queries[layer]  # [B, H_q, Q, D]
        grouped = queries.float().reshape(batch, kv_heads, -1, queries.shape[2], dim)
        logits = torch.einsum("bkgqd,bkld->bkgql", grouped, keys.float()) * self._scaling[layer]
        logits = logits.amax(dim=2)  # GQA: max over the query heads of a group
        query_births = torch.tensor(self._query_births, device=keys.device)
        visible = candidate[:, :, None, :] & (born[:, :, None, :] <= query_births[None, None, :, None])
        attention = logits.masked_fill(~visible, float("-inf")).softmax(dim=-1).nan_to_num(0.0).mean(dim=2)
        attention = attention.masked_fill(~candidate, float("-inf"))  # cut off the window (and padding)
        pooled = F.max_pool1d(attention.reshape(-1, 1, length), self.kernel, stride=1, padding=self.kernel // 2)
        importance = pooled.reshape(batch, kv_heads, length)

        redundancy = redundancy_scores(keys, real, self.threshold)
        temporal = self.mix_lambda * importance - (1.0 - self.mix_lambda) * redundancy
        return torch.zeros_like(temporal).scatter_(-1, order, temporal)[..., width:]


register(MethodFamily(
    "rkv", RKVPolicy, budget_argument, "R-KV", PlotStyle("#17becf", "X"),
    grid=lambda b: [{}] + [{"window": w, "kernel": k} for w in (1, 2, 4) if w < b for k in (1, 3, 7)]
    + [{"mix_lambda": 0.5}], recipes=frozenset({"experiment", "comparison"}),
))
