"""The memory–accuracy Pareto plot: accuracy against mean peak KV entries, one curve per method family; for a task
no verifier scored (`eval --prompts` without a reward), exact-match agreement with the full cache instead.

Point labels (`c=4`, `B=64`) are placed so that none overlaps another: each takes the first of a few offsets around
its point whose box is clear of the labels already placed (measured after the layout is fixed).

Matplotlib's object API rendered by Agg (no pyplot, no display needed); PNG and SVG, rendered deterministically (no timestamps, fixed
SVG ids), so the same results file gives the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

from breadcrumbs.evaluation.metrics import MethodSummary, headline, headline_metric
from breadcrumbs.evaluation.results import atomic_write
from breadcrumbs.policies.registry import PlotStyle, families, family_of

# Families without a style of their own (a variant such as `beacon-lag2`, or a name no module registers).
EXTRA_COLORS = ["#7f7f7f", "#bcbd22", "#aec7e8", "#ffbb78"]


# Label offsets from the point, in points, tried in order: up-right, down-right, up-left, down-left, then further out.
LABEL_OFFSETS = [(4, 4), (4, -11), (-26, 4), (-26, -11), (4, 13), (4, -20), (-26, 13), (-26, -20), (4, 22), (4, -29)]


def family_name(family: str, trained: bool | None = None) -> str:
    """The legend name of a family, from its registry record (`beacon-lag2`: beacons with a raw tail of 2 windows;
    `trained` False: a learned family its model never trained, "Beacons (untrained)")."""
    record = family_of(family)
    return record.legend(family, trained) if record is not None else family


def _overlap(a, b) -> float:
    """The area two display boxes share (0 when apart)."""
    return max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))


def place_labels(figure, labels: list) -> None:
    """Move each annotation to the first offset in `LABEL_OFFSETS` where its box overlaps no label placed before
    it (the least-overlapping one when none is clear); the figure's layout is drawn first and then kept fixed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    figure.set_layout_engine("none")  # the positions measured here are the ones saved
    renderer = canvas.get_renderer()
    placed = []
    for label in labels:
        best, best_overlap = None, float("inf")
        for offset in LABEL_OFFSETS:
            label.set_position(offset)
            box = label.get_window_extent(renderer)
            overlap = sum(_overlap(box, other) for other in placed)
            if overlap < best_overlap:
                best, best_overlap = offset, overlap
            if overlap == 0:
                break
        label.set_position(best)
        placed.append(label.get_window_extent(renderer))


def _point_label(summary: MethodSummary) -> str:
    """`c=4` for a beacon ratio, `B=64` for a fixed budget; matched baselines sit at their reference's x: no label."""
    if summary.ratio is not None:
        return f"c={summary.ratio}"
    argument = summary.method.split(":")[1] if ":" in summary.method else ""
    return f"B={argument}" if argument.isdigit() else ""


def pareto_figure(summaries: list[MethodSummary]):
    """A matplotlib Figure with one panel per task."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure state

    tasks = sorted({s.task for s in summaries})
    figure = Figure(figsize=(5.2 * max(len(tasks), 1), 4.0), dpi=150, layout="constrained")
    axes = figure.subplots(1, max(len(tasks), 1), squeeze=False)[0]
    extra = iter(EXTRA_COLORS * 4)
    styles = {family.name: family.style for family in families()}
    known = list(styles)
    labels = []
    for axis, task in zip(axes, tasks):
        rows = [s for s in summaries if s.task == task]
        metric = headline_metric(summaries, task)
        shown = sorted({s.family for s in rows}, key=lambda f: (known.index(f) if f in known else len(known), f))
        for family in shown:
            if family not in styles:
                styles[family] = PlotStyle(next(extra), "o", 6)
            style = styles[family]
            members = [s for s in rows if s.family == family]
            # A curve joins a family's own budgets (beacon ratios, a fixed-budget sweep); matched points sit at
            # their reference's memory and are drawn unjoined (hollow when matched to the mean).
            curve = [s for s in members if not s.match]
            for kind, points in (("curve", curve), ("peak", [s for s in members if s.match and "@" not in s.match]),
                                 ("mean", [s for s in members if s.match and "@" in s.match])):
                if not points:
                    continue
                points = sorted(points, key=lambda s: s.peak_kv_entries)
                xs = [s.peak_kv_entries for s in points]
                values = [headline(s, metric) for s in points]
                ys = [100 * value for value, _, _ in values]
                errors = [
                    [100 * max(value - low, 0) for value, low, _ in values],
                    [100 * max(high - value, 0) for value, _, high in values],
                ]
                joined = kind == "curve" and family != "full"
                name = family_name(family, members[0].trained)
                label = name if kind == "curve" or not curve else None
                if kind != "curve":
                    label = label and f"{name} (matched {'mean' if kind == 'mean' else 'peak'})"
                axis.errorbar(
                    xs, ys, yerr=errors, label=label, linestyle="-" if joined else "none", linewidth=1.4, capsize=3,
                    elinewidth=0.9, color=style.color, marker=style.marker, markersize=style.markersize,
                    markerfacecolor="none" if kind == "mean" else style.color, zorder=3 if family == "full" else 2,
                )
                for point, x, y in zip(points, xs, ys):
                    text = _point_label(point)
                    if text:
                        labels.append(axis.annotate(text, (x, y), textcoords="offset points", xytext=LABEL_OFFSETS[0],
                                                    fontsize=7, color=style.color))
        axis.set_title(task, fontsize=None if len(task) <= 40 else 8)  # a panel of a split task names its setting
        axis.set_xlabel("KV cache entries per sequence (mean of per-problem peak)")
        axis.set_ylabel("Accuracy (%)  [95% bootstrap CI]" if metric == "accuracy" else
                        "Agreement with full cache (exact match, %)  [95% CI]")
        axis.set_ylim(-3, 108)  # room for the ratio labels above 100%
        axis.grid(True, alpha=0.3, linewidth=0.6)
        axis.legend(fontsize=8, frameon=False, loc="best")
    place_labels(figure, labels)
    return figure


def write_pareto(summaries: list[MethodSummary], out_dir: str | Path, stem: str = "pareto") -> list[Path]:
    """Render the plot to `out_dir/stem.png` and `.svg` (atomic writes); returns the paths."""
    import matplotlib

    figure = pareto_figure(summaries)
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "breadcrumbs", "svg.fonttype": "path"}):
        for fmt, metadata in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
            buffer = io.BytesIO()
            figure.savefig(buffer, format=fmt, metadata=metadata)
            paths.append(atomic_write(Path(out_dir) / f"{stem}.{fmt}", buffer.getvalue()))
    return paths
