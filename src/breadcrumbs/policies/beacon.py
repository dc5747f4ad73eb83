"""Beacon compression: every `ratio` generated tokens, feed `<beacon>` and evict the window it summarises."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from breadcrumbs.beacon.layout import beacons_fed, check_ratio
from breadcrumbs.models import beacon_token_id
from breadcrumbs.policies.base import CachePolicy

if TYPE_CHECKING:
    from breadcrumbs.generation import DecodeSession


class BeaconPolicy(CachePolicy):
    """After the c-th token of a window is fed and the next token sampled, hold that token, feed the beacon
    (its logits are discarded), evict the window's c entries (the beacon's stays), then feed the held token."""

    name = "beacon"

    def __init__(self, ratio: int):
        self.ratio = check_ratio(ratio)
        self.beacon_id: int | None = None

    def check(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        self.beacon_id = beacon_token_id(tokenizer)

    def capacity(self, prompt_len: int, max_new_tokens: int) -> int:
        # At most max_new_tokens - 1 tokens are fed (the last sampled one never is); the peak is a full window plus
        # its beacon on top of the earlier beacons; a window never outgrows the tokens generated.
        return prompt_len + beacons_fed(max_new_tokens - 1, self.ratio) + min(self.ratio, max_new_tokens)

    def positions_used(self, max_new_tokens: int) -> int:
        return max_new_tokens + beacons_fed(max_new_tokens - 1, self.ratio)

    def before_token(self, session: DecodeSession) -> None:
        fed = session.tokens_fed
        if fed == 0 or fed % self.ratio:
            return
        session.forward_uniform(self.beacon_id)
        end = session.cache.length - 1  # the beacon's slot; the window sits just before it
        session.cache.drop_span(end - self.ratio, end)

    @property
    def label(self) -> str:
        return f"beacon:{self.ratio}"
