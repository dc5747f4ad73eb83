"""Budget bookkeeping shared by the training-free eviction baselines (kvpress style: one scoring rule per class).

**Budget semantics.** A budget `B` bounds the entries of the *generated* part a row holds during any forward; the
prompt is always kept whole. So every measured reading (`SequenceStats.peak_kv_entries`) is at most
`prompt + B` — counted exactly as the beacon policy's peak is (its window and beacon are counted at their forward),
which makes "same budget" comparisons fair. To get there the policy evicts right after a forward that filled the
budget: it drops the lowest-scoring generated entries until `B - 1` remain, making room for the next token.
(In TOVA's own terms — "hold B', attend with B' + 1, drop one" — this is TOVA with B' = B - 1, measured honestly.)

**Choice of victims.** Each policy scores the held generated entries (per layer, and per KV head where the method
is per-head); entries it protects (attention sinks, a recent window) score +inf; the lowest scores go, ties broken
toward the oldest entry. Protected counts are clamped so that `sinks + recent <= B - 1`.

**Matched budgets.** A spec `tova:@beacon:8` builds a policy without a budget that `evaluate` resolves per problem
from the reference method's measured KV entries (peak by default, `@beacon:8@mean` for the mean); see
`breadcrumbs.evaluation`. Generating with an unresolved policy is refused.

Per-slot state (each entry's birth step, accumulated scores, ...) lives in `[layers, B, H_kv, n_generated]` tensors
that are compacted with the very same moves as the cache (`_compaction_moves`), because slot order stops being
temporal after the first eviction.

**Vectorised.** A step scores every layer at once (`scores`: `[layers, B, H_kv or 1, n]`), picks the victims of
all layers, rows and heads in one sort, and evicts them from the cache with one gather and one scatter
(`SlotCache.drop_slots`); no Python loop over layers. Policies whose score is easier written per layer (SnapKV,
R-KV, TriAttention) implement `score(session, layer)`, which the default `scores` stacks.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from typing import ClassVar

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.policies.base import CachePolicy, SessionView
from breadcrumbs.policies.cache import _compaction_moves


MATCH_STATISTICS = ("peak", "mean")


@dataclass(frozen=True)
class BudgetMatch:
    """Budget taken per problem from another method's measured KV entries: `reference` is its spec (`beacon:8`),
    `statistic` is `peak` or `mean`."""

    reference: str
    statistic: str = "peak"

    @property
    def label(self) -> str:
        return f"@{self.reference}" + ("" if self.statistic == "peak" else f"@{self.statistic}")


def parse_budget(spec: str, argument: str | None) -> int | BudgetMatch:
    """`64` -> 64; `@beacon:8` -> match beacon:8's peak; `@beacon:8@mean` -> its mean. Anything else: one error."""
    name = spec.split(":")[0]
    if argument is None:
        raise BreadcrumbsError(
            f"policy {spec!r} needs a KV budget, e.g. {name}:64 (64 generated entries) or {name}:@beacon:8"
        )
    if argument.startswith("@"):
        reference, _, statistic = argument[1:].partition("@")
        statistic = statistic or "peak"
        if not reference:
            raise BreadcrumbsError(f"policy {spec!r}: name the method to match after '@', e.g. {name}:@beacon:8")
        if statistic not in MATCH_STATISTICS:
            raise BreadcrumbsError(
                f"policy {spec!r}: can match 'peak' or 'mean' entries, not {statistic!r}; e.g. {name}:@beacon:8@mean"
            )
        if reference.partition(":")[2].startswith("@"):
            raise BreadcrumbsError(f"policy {spec!r}: the matched method must have its own budget, not another '@'")
        return BudgetMatch(reference, statistic)
    try:
        budget = int(argument)
    except ValueError:
        raise BreadcrumbsError(f"policy {spec!r}: budget {argument!r} is not a whole number of KV entries") from None
    if budget <= 0:
        raise BreadcrumbsError(f"policy {spec!r}: the budget must be at least 1 KV entry, got {budget}")
    return budget


def budget_argument(spec: str, argument: str | None) -> tuple[int | BudgetMatch]:
    """The argument parser of every budgeted family (`MethodFamily.parse`): `(parse_budget(spec, argument),)`."""
    return (parse_budget(spec, argument),)


def drop_from_state(state: torch.Tensor, slots: torch.LongTensor) -> torch.Tensor:
    """Apply `SlotCache.drop_slots`'s compaction to a per-slot state tensor `[..., n]` (slots `[..., k]`)."""
    movers, holes = _compaction_moves(slots, state.shape[-1])
    state = state.clone()
    state.scatter_(-1, holes, state.gather(-1, movers))
    return state[..., : state.shape[-1] - slots.shape[-1]]


class ScoredEvictionPolicy(CachePolicy):
    """Keep the prompt plus at most `budget` generated entries, evicting the lowest-scoring ones.

    Subclasses set `name`, `per_head`, `needs_queries` and implement `scores` (all layers) or `score` (one layer);
    optionally `observe` (update running state after each forward) and extra per-slot state via `self.slot_state`
    (`[layers, B, H_kv, n]` tensors).
    """

    name: ClassVar[str] = "scored"
    per_head: ClassVar[bool] = False  # evict per KV head (True) or the same slots in all heads of a layer (False)
    needs_queries: ClassVar[bool] = False  # ask the session to record each layer's newest query (attention.py)

    def __init__(self, budget: int | BudgetMatch | None, sinks: int = 0, recent: int = 0):
        if isinstance(budget, bool) or not (budget is None or isinstance(budget, (int, BudgetMatch))):
            raise BreadcrumbsError(f"{self.name}: the budget must be a whole number of KV entries, got {budget!r}")
        if isinstance(budget, int) and budget <= 0:
            raise BreadcrumbsError(f"{self.name}: the budget must be at least 1 KV entry, got {budget}")
        for what, value in (("sinks", sinks), ("recent", recent)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BreadcrumbsError(f"{self.name}: {what} must be a non-negative whole number, got {value!r}")
        self.match = budget if isinstance(budget, BudgetMatch) else None
        self.budget: int | None = budget if isinstance(budget, int) else None
        self.sinks = sinks
        self.recent = recent
        self.slot_state: dict[str, torch.Tensor] = {}

    # ----- construction ------------------------------------------------------------------------------------------
    def with_budget(self, budget: int) -> ScoredEvictionPolicy:
        """A copy with a concrete budget (keeps the label of a matched spec)."""
        if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
            raise BreadcrumbsError(f"{self.name}: the budget must be at least 1 KV entry, got {budget!r}")
        clone = copy.copy(self)
        clone.budget = budget
        clone.slot_state = {}
        return clone

    @property
    def settings(self) -> dict:
        """The hyperparameters beyond the budget (the constructor's keyword arguments), as set."""
        names = list(inspect.signature(type(self).__init__).parameters)[2:]  # after self, budget
        return {name: getattr(self, name) for name in names}

    @property
    def label(self) -> str:
        """`name:budget` (or `name:@reference`), then `:key=value` for each setting that is not the default:
        the spec `policy_from_spec` reads back."""
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(type(self).__init__).parameters.items()
        }
        options = "".join(f":{name}={value}" for name, value in self.settings.items() if value != defaults[name])
        budget = self.match.label if self.match is not None else self.budget
        return f"{self.name}:{budget}{options}"

    # ----- CachePolicy hooks -------------------------------------------------------------------------------------
    def check(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        if self.budget is None:
            raise BreadcrumbsError(
                f"policy {self.label} takes its budget from {self.match.reference} per problem; run it through "
                "`breadcrumbs eval` / breadcrumbs.evaluation.evaluate, or give a number, e.g. "
                f"{self.name}:64"
            )

    def capacity(self, prompt_len: int, max_new_tokens: int) -> int:
        return prompt_len + min(self.budget or max_new_tokens, max_new_tokens)

    def reset(self, session: SessionView) -> None:
        # [layers, B, H_kv, n]; the KV heads are filled in with the first generated entry (`_append_births`)
        births = torch.empty(len(session.cache.layers), session.prompt_mask.shape[0], 0, 0, dtype=torch.long)
        self.slot_state = {"birth": births.to(session.prompt_mask.device)}
        self._state_high = 0

    def side_state(self) -> list[torch.Tensor]:
        """Every side-state tensor held for the batch (per-slot births and scores; subclasses add theirs)."""
        return list(self.slot_state.values())

    def state_bytes(self) -> int:
        return self._state_high

    def select_rows(self, rows: torch.LongTensor) -> None:
        self.slot_state = {name: state[:, rows.to(state.device)] for name, state in self.slot_state.items()}

    def protected_counts(self) -> tuple[int, int]:
        """(sinks, recent) actually protected when `budget - 1` entries are kept."""
        room = self.budget - 1
        sinks = min(self.sinks, room)
        return sinks, min(self.recent, room - sinks)

    def after_token(self, session: SessionView) -> None:
        cache = session.cache
        width = session.prompt_mask.shape[1]
        held = cache.length - width
        self._append_births(session, held)
        self.observe(session)
        self._state_high = sum(state.nbytes for state in self.side_state())  # before eviction: its largest
        excess = held - (self.budget - 1)
        if excess <= 0:
            return
        births = self.slot_state["birth"]
        scores = self.scores(session).float()
        if not self.per_head:
            births = births[:, :, :1]
            scores = scores[:, :, None] if scores.dim() == 3 else scores[:, :, :1]
        scores = scores.expand_as(births).clone()
        scores[self._protected(births, session.tokens_fed)] = float("inf")
        victims = self._lowest(scores, births, excess)  # [layers, B, H or 1, excess], generated-part indices
        victims = victims.expand(-1, -1, self._kv_heads(cache), -1)
        cache.drop_slots(victims + width)
        self.slot_state = {name: drop_from_state(state, victims) for name, state in self.slot_state.items()}

    # ----- to implement ------------------------------------------------------------------------------------------
    def scores(self, session: SessionView) -> torch.Tensor:
        """Scores of every layer's held generated entries: `[layers, B, H_kv, n]` (per-head) or `[layers, B, n]`;
        by default `score` of each layer, stacked."""
        return torch.stack([self.score(session, layer) for layer in range(len(session.cache.layers))])

    def score(self, session: SessionView, layer: int) -> torch.Tensor:
        """Scores of the held generated entries of `layer`: `[B, H_kv, n]` (per-head) or `[B, n]`; low = evict.
        Entry j is cache slot `prompt_width + j`."""
        raise NotImplementedError

    def observe(self, session: SessionView) -> None:
        """Update running state after each forward (before any eviction); the newest entry is the last slot."""

    # ----- helpers -----------------------------------------------------------------------------------------------
    @staticmethod
    def _kv_heads(cache) -> int:
        return cache.layers[0].keys.shape[1]

    def _append_births(self, session: SessionView, held: int) -> None:
        if self.slot_state["birth"].shape[-1] == 0:  # the first generated entry: the KV heads are known now
            shape = session.cache.keys.shape[:3]
            self.slot_state = {name: state.new_zeros(*shape, 0) for name, state in self.slot_state.items()}
        births = self.slot_state["birth"]
        if births.shape[-1] + 1 != held:
            raise RuntimeError(
                f"{self.label}: expected one new generated entry per forward, found {held} held vs "
                f"{births.shape[-1]} tracked (is another policy feeding extra tokens?)"
            )
        new = torch.full((*births.shape[:3], 1), session.tokens_fed, dtype=torch.long, device=births.device)
        self.slot_state["birth"] = torch.cat([births, new], dim=-1)

    def _protected(self, births: torch.Tensor, tokens_fed: int) -> torch.Tensor:
        sinks, recent = self.protected_counts()
        return (births <= sinks) | (births > tokens_fed - recent)

    @staticmethod
    def _lowest(scores: torch.Tensor, births: torch.Tensor, k: int) -> torch.LongTensor:
        """Indices of the k lowest scores per row/head; ties go to the oldest entry (smallest birth)."""
        by_age = births.argsort(dim=-1, stable=True)
        order = scores.gather(-1, by_age).argsort(dim=-1, stable=True)[..., :k]
        return by_age.gather(-1, order)

    def generated_keys(self, session: SessionView, layer: int | slice = slice(None)) -> torch.Tensor:
        """Keys of the held generated entries of `layer`, `[B, H_kv, n, D]` (all layers: `[layers, B, H_kv, n, D]`)."""
        return session.cache.keys[layer, ..., session.prompt_mask.shape[1] :, :]
