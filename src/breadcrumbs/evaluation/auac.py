"""AUAC: the area under the accuracy-vs-KV-cache curve, the paper's one-number summary of a method family.

For each task and family (beacons across ratios, an eviction method across budgets, the window control across
sizes), points are (x = mean peak KV entries / the full cache's mean peak KV entries, accuracy). The curve joins
them in x order, ends at (1, full-cache accuracy) (a cache as large as the full one evicts nothing) and is 0 left of
the family's smallest measured cache (no claim is made below what was measured). AUAC is the mean of that curve over
x in [x0, 1], x0 the smallest x any family of the task reached, so every family is scored over the same range and a
family that reaches smaller caches with the same accuracy scores higher. Range: 0..1.
"""

from __future__ import annotations

from collections import defaultdict

from breadcrumbs.evaluation.metrics import MethodSummary


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


def auac(summaries: list[MethodSummary]) -> dict[str, dict[str, dict]]:
    """{task: {family: {"auac", "points", "x0"}}} for every family with at least one compressed point."""
    full = {s.task: s for s in summaries if s.family == "full"}
    points: dict[str, dict[str, dict[float, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for s in summaries:
        reference = full.get(s.task)
        if s.family == "full" or reference is None or reference.peak_kv_entries <= 0:
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
                                    "x0": start}
    return result


def auac_table(summaries: list[MethodSummary]) -> str:
    """A markdown table per task: family, AUAC, number of (cache size, accuracy) points; best first."""
    blocks = []
    for task, families in sorted(auac(summaries).items()):
        x0 = next(iter(families.values()))["x0"]
        lines = [f"AUAC of {task} over KV fractions [{x0:.3f}, 1] of the full cache (higher is better):", "",
                 "| family | AUAC | points |", "|---|---:|---:|"]
        for family, entry in sorted(families.items(), key=lambda item: -item[1]["auac"]):
            lines.append(f"| {family} | {entry['auac']:.3f} | {entry['points']} |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")
