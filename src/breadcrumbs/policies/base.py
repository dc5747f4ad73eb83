"""The cache-policy interface: how the generation loop manages the KV entries of the generated part.

A policy is a small object with a few hooks, called by `DecodeSession` (see `generation.py`), which the hooks
see through `SessionView`, the narrow view below (what a policy may read and do while a batch decodes):

- `check(model, tokenizer)` once, to refuse what it cannot serve;
- `capacity(prompt_len, max_new_tokens)`: the most entries a row will hold, so buffers are preallocated once;
- `reset(session)` at the start of every batch (per-batch state lives on the policy);
- `before_token(session)` before each generated token is fed (beacons are fed here);
- `after_token(session)` after it is fed (score-based eviction happens here);
- `select_rows(rows)` when finished rows leave the batch, to keep per-row state aligned.

The prompt is never evicted by any policy. Policies are not thread-safe: use one per concurrent generation.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from breadcrumbs.policies.cache import SlotCache
from breadcrumbs.policies.registry import MethodFamily, PlotStyle, no_argument, register


class SessionView(Protocol):
    """What the hooks of a policy see of the decoding batch (`generation.DecodeSession` is the implementation).

    Rows are the batch's active rows (finished rows have left; `select_rows` told the policy which stay). Read
    `model` only for its settings (e.g. RoPE); change entries only through `cache` (`drop_span`, `drop_slots`) and
    feed tokens only through `forward_uniform`.
    """

    model: PreTrainedModel
    cache: SlotCache  # the evicting cache: `keys` [layers, B, H_kv, L, D], `layers[i].keys/values`, `length`
    prompt_mask: torch.BoolTensor  # [B, P]: True on prompt tokens, False on left padding (never evicted)
    padding: torch.LongTensor  # [B]: left-padding slots of each row
    next_position: torch.LongTensor  # [B]: the position id the next fed token takes
    tokens_fed: int  # generated tokens fed so far, the same for every row
    last_queries: list | None  # the newest queries per layer, recorded for policies with `needs_queries`

    def forward_uniform(self, token_id: int) -> torch.Tensor:
        """Feed `token_id` to every row (beacons); returns its logits."""
        ...


class CachePolicy:
    """Base class; the default hooks keep every entry (the full cache)."""

    name: ClassVar[str] = "full"

    def check(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        """Raise `BreadcrumbsError` if this policy cannot serve `model`."""

    def capacity(self, prompt_len: int, max_new_tokens: int) -> int:
        """Upper bound on the entries one row holds during generation (prompt included)."""
        return prompt_len + max_new_tokens

    def positions_used(self, max_new_tokens: int) -> int:
        """Position ids consumed by generating `max_new_tokens` tokens (more than that if extra tokens are fed)."""
        return max_new_tokens

    def reset(self, session: SessionView) -> None:
        """Start of a batch."""

    def before_token(self, session: SessionView) -> None:
        """Called before each generated token is fed."""

    def after_token(self, session: SessionView) -> None:
        """Called after each generated token is fed."""

    def select_rows(self, rows: torch.LongTensor) -> None:
        """Rows `rows` (indices into the current batch) stay; the rest have finished."""

    def state_bytes(self) -> int:
        """Bytes of side state the policy held for the current batch (all rows) at its largest during the last
        token's step: per-entry scores, recorded queries, bookkeeping. Read off the tensors; 0 for none."""
        return 0

    @property
    def label(self) -> str:
        """Short name used in reports, e.g. `full` or `beacon:4`."""
        return self.name

    @property
    def family(self) -> str:
        """The curve this policy's points belong to in reports and AUAC (its `name` unless a variant differs)."""
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label})"


class FullCache(CachePolicy):
    """Keep every entry: the uncompressed reference."""

    name = "full"


register(MethodFamily(
    "full", FullCache, no_argument, "Full cache", PlotStyle("black", "*", 13), learned=True, argument=""
))
