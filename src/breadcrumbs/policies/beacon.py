"""Beacon compression: every `ratio` generated tokens, feed `<beacon>` and evict the window it summarises (or, with
an eviction lag L, the window L windows before it: a raw tail of recent windows next to the beacons)."""

from __future__ import annotations

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from breadcrumbs.beacon.layout import LaggedBeacons, beacons_fed, check_lag, check_ratio
from breadcrumbs.beacon.spelling import family_lag, family_name, view_spec
from breadcrumbs.models import beacon_token_id
from breadcrumbs.policies.base import CachePolicy, SessionView
from breadcrumbs.policies.registry import MethodFamily, PlotStyle, register, whole_number


class BeaconPolicy(CachePolicy):
    """After the c-th token of a window is fed and the next token sampled, hold that token, feed the beacon
    (its logits are discarded), evict the c entries of the window `lag` windows back (the window itself when
    lag = 0; the beacons stay), then feed the held token."""

    name = "beacon"

    def __init__(self, ratio: int, lag: int = 0):
        self.ratio = check_ratio(ratio)
        self.lag = check_lag(lag)
        self.beacon_id: int | None = None

    def check(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        self.beacon_id = beacon_token_id(tokenizer)

    def capacity(self, prompt_len: int, max_new_tokens: int) -> int:
        # At most max_new_tokens - 1 tokens are fed (the last sampled one never is); the peak is lag + 1 full windows
        # plus a beacon on top of the earlier beacons; the raw windows never outgrow the tokens generated.
        return (prompt_len + beacons_fed(max_new_tokens - 1, self.ratio)
                + min((self.lag + 1) * self.ratio, max_new_tokens))

    def positions_used(self, max_new_tokens: int) -> int:
        return max_new_tokens + beacons_fed(max_new_tokens - 1, self.ratio)

    def before_token(self, session: SessionView) -> None:
        fed = session.tokens_fed
        if fed == 0 or fed % self.ratio:
            return
        session.forward_uniform(self.beacon_id)
        if fed // self.ratio <= self.lag:
            return  # fewer than lag + 1 windows closed: all stay raw
        # the cache ends with lag + 1 (window, beacon) pairs; evict the window of the oldest pair
        start = session.cache.length - (self.lag + 1) * (self.ratio + 1)
        session.cache.drop_span(start, start + self.ratio)

    @property
    def view(self) -> int | LaggedBeacons:
        """The student layout this policy serves (`student_policy(view)` builds the policy back)."""
        return LaggedBeacons(self.ratio, self.lag) if self.lag else self.ratio

    @property
    def label(self) -> str:
        return view_spec(self.view)

    @property
    def family(self) -> str:
        """`beacon`; `beacon-lagL` with a raw tail (another method: its own curve and AUAC)."""
        return family_name(self.lag)


register(MethodFamily(
    "beacon", BeaconPolicy, whole_number, "Beacons (learned)", PlotStyle("#d62728", "o"), learned=True, argument="C",
    variant_label=lambda family: f"Beacons + raw tail of {family_lag(family)} windows",
    untrained_label="Beacons (untrained)",
))
