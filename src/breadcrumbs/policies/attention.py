"""Attention scores for score-based eviction without switching the model to eager attention.

The models run sdpa (or flex), which never materialise attention weights. Score-based policies (TOVA, H2O, SnapKV)
only need the weights of the newest query over the keys the cache holds, and those keys are already in the
`SlotCache`. So the only thing to capture during a forward is each layer's newest **query** (after its rotary
embedding and any query norm) and the softmax scale the layer uses. `QueryRecorder` does that by wrapping the
attention function the model dispatches through (`transformers`' `AttentionInterface`, the same registry
`AttentionInterface.register` writes to) for the duration of one forward: the wrapper stores `query[:, :, -1]`
and calls the original function unchanged, so the model's outputs are bit-for-bit the same.

The policy then computes `softmax(q · Kᵀ · scale)` itself over the held keys (`attention_over_cache`), masking each
row's left-padding slots. Cost per decode step: one `[H, D] x [D, L]` product and a softmax per layer and row,
O(H·L·D) — the same order as the attention the model just ran, far below the MLPs, and no `[L, L]` matrix ever.

The wrapper is installed only while a forward of a policy that asked for it (`needs_queries = True`) runs, and it
is removed in a `finally`; like the policies themselves it is not thread-safe across concurrent generations.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedModel
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.policies.base import SessionView


@dataclass
class QueryRecord:
    """Per layer: the newest query `[B, H_q, D]`, its softmax scale and logit soft-cap (None when unused)."""

    queries: dict[int, torch.Tensor] = field(default_factory=dict)
    scaling: dict[int, float] = field(default_factory=dict)
    softcap: dict[int, float | None] = field(default_factory=dict)


def _eager_function(module: torch.nn.Module):
    function = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
    if function is None:
        raise BreadcrumbsError(
            f"cannot record attention queries of {type(module).__name__} under eager attention; "
            "load the model with attn_implementation='sdpa'"
        )
    return function


def _interfaces(model: PreTrainedModel) -> list:
    """The attention-function registries the model's attention modules dispatch through (usually the global one)."""
    found = {id(ALL_ATTENTION_FUNCTIONS): ALL_ATTENTION_FUNCTIONS}
    for module in model.modules():
        if hasattr(module, "layer_idx"):
            registry = getattr(sys.modules[type(module).__module__], "ALL_ATTENTION_FUNCTIONS", None)
            if registry is not None:
                found[id(registry)] = registry
    return list(found.values())


class QueryRecorder:
    """Context manager: during one model forward, record every layer's newest query (see module docstring).

    >>> with QueryRecorder(model) as record:
    ...     model(input_ids=..., cache=cache)
    >>> record.queries[0].shape  # [B, H_q, D]
    """

    def __init__(self, model: PreTrainedModel):
        self.model = model
        self.implementation = getattr(model.config, "_attn_implementation", None) or "eager"
        self.record = QueryRecord()
        self._installed: list[tuple[object, bool, object]] = []

    def _wrap(self, original):
        record = self.record

        def recording_attention(module, query, key, value, attention_mask, *args, **kwargs):
            layer = getattr(module, "layer_idx", len(record.queries))
            record.queries[layer] = query[:, :, -1].detach()
            scaling = kwargs.get("scaling")
            record.scaling[layer] = float(scaling if scaling is not None else query.shape[-1] ** -0.5)
            record.softcap[layer] = kwargs.get("softcap")
            function = original if original is not None else _eager_function(module)
            return function(module, query, key, value, attention_mask, *args, **kwargs)

        return recording_attention

    def __enter__(self) -> QueryRecord:
        for registry in _interfaces(self.model):
            had_local = self.implementation in registry._local_mapping
            previous = registry._local_mapping.get(self.implementation)
            original = registry[self.implementation] if self.implementation in registry else None
            registry[self.implementation] = self._wrap(original)
            self._installed.append((registry, had_local, previous))
        return self.record

    def __exit__(self, *exc) -> None:
        for registry, had_local, previous in reversed(self._installed):
            if had_local:
                registry._local_mapping[self.implementation] = previous
            else:
                registry._local_mapping.pop(self.implementation, None)
        self._installed.clear()


def attention_over_cache(
    queries: torch.Tensor,
    keys: torch.Tensor,
    scaling: float | torch.Tensor,
    padding: torch.Tensor | None = None,
    softcap: float | None = None,
    visible: torch.Tensor | None = None,
) -> torch.Tensor:
    """Attention weights of queries over held keys, grouped by KV head, in float32.

    queries `[B, H_q, D]` (one per row) or `[B, H_q, Q, D]`; keys `[B, H_kv, L, D]`; `padding[b]` masks row b's first
    slots; `visible` (bool, broadcastable to `[B, H_kv, Q, L]`) masks keys a query could not see; `scaling` is one
    number or a tensor broadcastable to `[B, H_kv, G, Q, L]` (e.g. one per row).
    Returns `[B, H_kv, G, L]` (or `[B, H_kv, G, Q, L]`), G = H_q / H_kv query heads per KV head, rows summing to 1.
    """
    single = queries.dim() == 3
    if single:
        queries = queries[:, :, None]
    batch, query_heads, length_q, dim = queries.shape
    kv_heads, length = keys.shape[1], keys.shape[2]
    grouped = queries.float().reshape(batch, kv_heads, query_heads // kv_heads, length_q, dim)
    logits = torch.einsum("bkgqd,bkld->bkgql", grouped, keys.float()) * scaling
    if softcap:
        logits = softcap * torch.tanh(logits / softcap)
    if padding is not None:
        slots = torch.arange(length, device=keys.device)
        pad = slots[None, :] < padding.to(keys.device)[:, None]  # [B, L]
        logits = logits.masked_fill(pad[:, None, None, None, :], float("-inf"))
    if visible is not None:
        logits = logits.masked_fill(~visible[:, :, None], float("-inf"))
    weights = torch.softmax(logits, dim=-1).nan_to_num(0.0)
    return weights[:, :, :, 0] if single else weights


def newest_query_attention(session: SessionView) -> torch.Tensor:
    """`[layers, B, H_kv, G, L]` attention weights of the last fed token's query over every held slot, all layers
    in one batched product (layers folded into the batch)."""
    record = session.last_queries
    keys = session.cache.keys  # [layers, B, H_kv, L, D]
    layers, batch = keys.shape[:2]
    softcaps = {record.softcap[layer] for layer in range(layers)}
    if len(softcaps) > 1:
        raise BreadcrumbsError("attention scores over all layers need one logit soft-cap for every layer")
    queries = torch.stack([record.queries[layer] for layer in range(layers)])
    scaling = torch.tensor([record.scaling[layer] for layer in range(layers)], device=keys.device)
    weights = attention_over_cache(
        queries.flatten(0, 1), keys.flatten(0, 1), scaling.repeat_interleave(batch)[:, None, None, None, None],
        session.padding.repeat(layers), softcaps.pop(),
    )
    return weights.unflatten(0, (layers, batch))
