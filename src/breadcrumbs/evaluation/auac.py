"""AUAC: the area under the accuracy-vs-KV-cache curve, the paper's one-number summary of a method family.

For each task and family (beacons across ratios, an eviction method across budgets, the window control across
sizes), points are (x = mean peak KV entries / the full cache's mean peak KV entries, accuracy). The curve joins
them in x order, ends at (1, full-cache accuracy) (a cache as large as the full one evicts nothing) and is 0 left of
the family's smallest measured cache (no claim is made below what was measured). AUAC is the mean of that curve over
x in [x0, 1], x0 the smallest x any family of the task reached, so every family is scored over the same range and a
family that reaches smaller caches with the same accuracy scores higher. Range: 0..1.

**One kind of point per task.** A baseline can appear both at fixed budgets (`tova:9`, a sweep) and at budgets
matched per problem to a beacon ratio (`tova:@beacon:4`, `...@mean`); mixing them would join points of different
kinds into one curve. So every family of a task is scored over the same kind: **fixed-budget** points when any
baseline of the task ran at a fixed budget (matched points are left out), else **peak-matched** points (the plain
demo's report; mean-matched points are left out). Beacons (one point per ratio) and the window control (one per
size) are fixed-size points and count in both.

**Accuracy only.** A task whose records no verifier scored (`eval --prompts` without a reward) has no AUAC: the
report shows its agreement with the full cache instead, and computes no area over it.
"""

from __future__ import annotations

from collections import defaultdict

from breadcrumbs.evaluation.metrics import MethodSummary
from breadcrumbs.policies.registry import is_learned


def _curve_area(points: list[tuple[float, float]], start: float) -> float:
    """Trapezoid area of the piecewise-linear curve through `points` (sorted by x, ending at x=1) from `start`."""
    area = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x1 <= start:
            continue
        if x0 < start:  # clip the first segment at `start`
            y0 = y0 + (y1 - y0) * (start - x0) / (x1 - x0)
            x0 = start
        area += (x1 - x0) * (y0 + y1) / 2
    return area


FIXED_BUDGET, PEAK_MATCHED = "fixed-budget", "peak-matched"
LEFT_OUT = {
    FIXED_BUDGET: "baselines at their swept budgets, beacons per ratio, the window control per size; points matched "
    "to a beacon's peak or mean left out",
    PEAK_MATCHED: "no baseline ran at a fixed budget, so baselines matched to each beacon ratio's peak; "
    "mean-matched points left out",
}


def point_kind(summaries: list[MethodSummary], task: str) -> str:
    """The kind of point `task`'s AUAC uses: fixed-budget if any baseline of the task ran at a fixed budget."""
    fixed = any(s.task == task and not is_learned(s.family) and s.match is None for s in summaries)
    return FIXED_BUDGET if fixed else PEAK_MATCHED


def _counts(summary: MethodSummary, kind: str) -> bool:
    """Whether `summary` is a point of `kind` (unmatched points always are; peak-matched ones only in that kind)."""
    return summary.match is None or (kind == PEAK_MATCHED and not summary.match.endswith("@mean"))


def auac(summaries: list[MethodSummary]) -> dict[str, dict[str, dict]]:
    """{task: {family: {"auac", "points", "x0", "kind"}}} for every family with at least one compressed point of
    the task's point kind (`point_kind`); tasks without accuracy (no verifier) are left out."""
    summaries = [s for s in summaries if s.accuracy is not None]
    full = {s.task: s for s in summaries if s.family == "full"}
    kinds = {task: point_kind(summaries, task) for task in {s.task for s in summaries}}
    points: dict[str, dict[str, dict[float, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for s in summaries:
        reference = full.get(s.task)
        if s.family == "full" or reference is None or reference.peak_kv_entries <= 0 or not _counts(s, kinds[s.task]):
            continue
        x = min(1.0, s.peak_kv_entries / reference.peak_kv_entries)
        points[s.task][s.family][round(x, 6)].append(s.accuracy)
    result: dict[str, dict[str, dict]] = {}
    for task, families in points.items():
        start = min(x for family in families.values() for x in family)
        if start >= 1.0:
            continue
        result[task] = {}
        for family, by_x in families.items():
            curve = sorted((x, sum(ys) / len(ys)) for x, ys in by_x.items() if x < 1.0)
            curve.append((1.0, full[task].accuracy))
            curve.insert(0, (curve[0][0], 0.0))  # the drop to 0 just left of the smallest measured cache
            result[task][family] = {"auac": _curve_area(curve, start) / (1.0 - start), "points": len(by_x),
                                    "x0": start, "kind": kinds[task]}
    return result


def auac_table(summaries: list[MethodSummary]) -> str:
    """A markdown table per task: family, AUAC, number of (cache size, accuracy) points; best first."""
    blocks = []
    for task, families in sorted(auac(summaries).items()):
        first = next(iter(families.values()))
        lines = [f"AUAC of {task} over KV fractions [{first['x0']:.3f}, 1] of the full cache (higher is better), "
                 f"from {first['kind']} points only: {LEFT_OUT[first['kind']]}.", "",
                 "| family | AUAC | points |", "|---|---:|---:|"]
        for family, entry in sorted(families.items(), key=lambda item: -item[1]["auac"]):
            lines.append(f"| {family} | {entry['auac']:.3f} | {entry['points']} |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")
