"""Trace-length statistics (in tokens: one character is one token of the character tokenizer)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from breadcrumbs.tasks.base import STYLES, Problem, Task


def length_stats(lengths: Sequence[int]) -> dict[str, float]:
    """mean, p50, p90 (nearest rank) and max of a non-empty list of lengths."""
    ordered = sorted(lengths)

    def rank(q: float) -> int:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {"mean": statistics.fmean(ordered), "p50": rank(0.5), "p90": rank(0.9), "max": ordered[-1]}


def trace_stats(task: Task, problems: Sequence[Problem]) -> dict[str, dict[str, float]]:
    """Length statistics of the prompt and of each trace style (completion only) over `problems`."""
    rows = {"prompt": length_stats([len(task.prompt(p)) for p in problems])}
    for style in STYLES:
        rows[style] = length_stats([len(task.solve(p, style)) for p in problems])
    return rows
