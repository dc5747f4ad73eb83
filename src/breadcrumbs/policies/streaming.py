"""StreamingLLM (Xiao et al., 2023, arXiv 2309.17453): attention sinks + the most recent window.

The original keeps the first few tokens of the *sequence* (the attention sinks) and a window of the most recent
ones. Here the prompt is always kept whole, so the sequence's first tokens — the real sinks — are already held;
by default no generated entry is pinned (`sinks=0`) and the budget is spent entirely on the most recent generated
entries. `sinks=s` additionally pins the first `s` generated entries (the recent window is then `budget - s`).
"""

from __future__ import annotations

import torch

from breadcrumbs.beacon.layout import SlidingWindow
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.policies.base import SessionView
from breadcrumbs.policies.registry import RECIPES, MethodFamily, PlotStyle, register
from breadcrumbs.policies.scored import BudgetMatch, ScoredEvictionPolicy, budget_argument


class StreamingPolicy(ScoredEvictionPolicy):
    """Evict the oldest generated entry that is not a pinned sink: score = the entry's birth step."""

    name = "streaming"
    per_head = False
    needs_queries = False

    def __init__(self, budget: int | BudgetMatch | None, sinks: int = 0):
        super().__init__(budget, sinks=sinks)

    def scores(self, session: SessionView) -> torch.Tensor:
        return self.slot_state["birth"][:, :, 0].float()


class WindowPolicy(StreamingPolicy):
    """Serving side of the trained sliding-window control (`SlidingWindow(B)` in `beacon/layout.py`): the prompt
    plus the `B` most recent generated entries, the oldest evicted. The same eviction as `streaming:B`; a separate
    family because it is meant for a model trained with that mask (`beacon.layout: window`), not a training-free
    baseline. Parallel window-mask forward == this policy's decoding is tested like the beacons'."""

    name = "window"

    def __init__(self, budget: int | BudgetMatch | None):
        super().__init__(budget, sinks=0)

    @property
    def view(self) -> SlidingWindow:
        """The student layout this policy serves (`student_policy(view)` builds the policy back)."""
        if not isinstance(self.budget, int):
            raise BreadcrumbsError(f"{self.label} takes its window from another method; it serves no trained window")
        return SlidingWindow(self.budget)


register(MethodFamily(
    "streaming", StreamingPolicy, budget_argument, "StreamingLLM", PlotStyle("#ff7f0e", "v"),
    grid=lambda b: [{"sinks": s} for s in (0, 1, 2, 4) if s < b], recipes=frozenset(RECIPES),
))
# The trained sliding-window control (a model trained with `beacon.layout: window`): nothing to tune.
register(MethodFamily(
    "window", WindowPolicy, budget_argument, "Sliding window (trained control)", PlotStyle("#e377c2", "h"),
    learned=True, grid=lambda b: [{}], untrained_label="Sliding window (untrained control)",
))
