"""`breadcrumbs report`: results JSONL -> Pareto plot (PNG, SVG), `report.md` table and `summary.json`.

Records no verifier scored (`eval --prompts` without a reward) report agreement with the full cache (exact match,
token agreement, first divergence) in place of accuracy, and no AUAC (`evaluation.auac`).

Every report states what it measured (`evaluation.conditions`): per panel the task, difficulty, split, decoding,
max new tokens, mean prompt and generation lengths, each model with its training record, dtype and bytes per KV
entry, and the versions, commits and dates that made the records. Records of a task made under different
conditions get one panel each (one warning line says so), never one merged panel.

Deterministic for a given results file; malformed lines are skipped with a warning naming their line number; every
output is written atomically.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from breadcrumbs.evaluation.auac import auac, auac_table
from breadcrumbs.evaluation.conditions import describe, settings_table, split_panels
from breadcrumbs.evaluation.metrics import (
    BOOTSTRAP_SAMPLES,
    BOOTSTRAP_SEED,
    MethodSummary,
    dedupe,
    headline,
    headline_metric,
    summarize,
)
from breadcrumbs.evaluation.pareto import write_pareto
from breadcrumbs.evaluation.results import atomic_write, read_results
from breadcrumbs.errors import BreadcrumbsError


@dataclass
class Report:
    """What `write_report` produced."""

    summaries: list[MethodSummary]
    warnings: list[str]
    paths: list[Path] = field(default_factory=list)
    markdown: str = ""


def _number(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _bytes(value: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


def _share(value: float | None, low: float | None, high: float | None) -> str:
    """`71.9% [55.2, 86.2]`, or `–` when not measured."""
    if value is None or math.isnan(value):
        return "–"
    return f"{100 * value:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _divergence(s: MethodSummary) -> str:
    if s.diverged is None:
        return "–"
    if not s.diverged:
        return "none"
    return f"{_number(s.first_divergence_mean)} / {_number(s.first_divergence_median)} ({s.diverged} of {s.problems})"


AGREEMENT_NOTE = (
    "Agreement compares each completion's token ids with the full cache's completion of the same prompt: exact match "
    "is the share of identical completions (95% bootstrap CI); token agreement is, per row, the positions below the "
    "shorter length where the tokens agree divided by the longer length, averaged; first divergence is the first "
    "differing generated position (0-based), mean / median over the rows that diverge."
)


def markdown_table(summaries: list[MethodSummary]) -> str:
    """One markdown table per task: accuracy ± CI (where a verifier scored the records), agreement with the full
    cache (where recorded), KV entries and bytes, tokens, speed, saving vs full."""
    blocks = []
    for task in sorted({s.task for s in summaries}):
        rows = [s for s in summaries if s.task == task]
        left, right = "---", "---:"
        columns: list[tuple[str, str, Callable[[MethodSummary], object]]] = [
            ("method", left, lambda s: s.method), ("n", right, lambda s: s.problems),
        ]
        if any(s.accuracy is not None for s in rows):
            columns.append(("accuracy (95% CI)", left, lambda s: _share(s.accuracy, s.ci_low, s.ci_high)))
        if any(s.exact_match is not None for s in rows):
            columns += [
                ("exact match with full (95% CI)", left,
                 lambda s: _share(s.exact_match, s.exact_ci_low, s.exact_ci_high)),
                ("token agreement", right, lambda s: _percent(s.token_agreement)),
                ("first divergence mean / median (diverged)", right, _divergence),
            ]
        columns += [
            ("peak KV entries", right, lambda s: _number(s.peak_kv_entries)),
            ("mean KV entries", right, lambda s: _number(s.mean_kv_entries)),
            ("peak KV bytes", right, lambda s: _bytes(s.peak_kv_bytes)),
            ("mean KV bytes", right, lambda s: _bytes(s.mean_kv_bytes)),
            ("side state (peak)", right, lambda s: _bytes(s.peak_state_bytes)),
            ("gen. tokens", right, lambda s: _number(s.generated_tokens)),
            ("tokens/s", right, lambda s: _number(s.tokens_per_s, 0)),
            ("KV saving vs full (total / per gen. token)", right,
             lambda s: f"{_percent(s.kv_saving_vs_full)} / {_percent(s.kv_saving_per_token_vs_full)}"),
        ]
        lines = [
            f"### {task}",
            "",
            "| " + " | ".join(name for name, _, _ in columns) + " |",
            "|" + "|".join(align for _, align, _ in columns) + "|",
            *("| " + " | ".join(str(cell(s)) for _, _, cell in columns) + " |" for s in rows),
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def matched_tables(summaries: list[MethodSummary]) -> str:
    """Per task and reference: every baseline at the reference's per-problem peak and at its mean, side by side."""
    blocks = []
    for task in sorted({s.task for s in summaries}):
        rows = [s for s in summaries if s.task == task]
        metric = headline_metric(summaries, task)
        measure = metric.replace("_", " ")
        tag = "" if metric == "accuracy" else f" {measure}"
        references = sorted({s.match.split("@")[0] for s in rows if s.match})
        for reference in references:
            anchor = next((s for s in rows if s.method == reference), None)
            lines = [
                f"### {task}: matched to {reference}"
                + ("" if anchor is None else f" ({_number(100 * headline(anchor, metric)[0])}%{tag}, "
                   f"peak {_number(anchor.peak_kv_entries)}, mean {_number(anchor.mean_kv_entries)} entries)"),
                "",
                f"| family | peak-matched {measure} | peak / mean entries | mean-matched {measure} "
                "| peak / mean entries |",
                "|---|---|---:|---|---:|",
            ]
            by_family: dict[str, dict[str, MethodSummary]] = {}
            for s in rows:
                if s.match in (reference, f"{reference}@mean"):
                    by_family.setdefault(s.family, {})["mean" if s.match.endswith("@mean") else "peak"] = s
            for family, views in sorted(by_family.items()):
                cells = []
                for view in ("peak", "mean"):
                    s = views.get(view)
                    cells += ["–", "–"] if s is None else [
                        _share(*headline(s, metric)), f"{_number(s.peak_kv_entries)} / {_number(s.mean_kv_entries)}",
                    ]
                lines.append(f"| {family} | " + " | ".join(cells) + " |")
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _clean(value):
    """JSON-safe (NaN -> None), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def write_report(results: str | Path | Sequence[str | Path], out_dir: str | Path, plot: bool = True) -> Report:
    """Summarise one results file, or several (e.g. a trained control's next to the main run), into `out_dir`:
    pareto.png/.svg, report.md, summary.json."""
    sources = [Path(results)] if isinstance(results, (str, Path)) else [Path(path) for path in results]
    sourced, warnings = [], []
    for source in sources:
        source_records, source_warnings = read_results(source)
        sourced += [(source.name, record) for record in source_records]
        warnings += source_warnings
    records, panel_notes = split_panels(sourced)
    warnings += panel_notes
    records, repeat_warnings = dedupe(records)
    warnings += repeat_warnings
    names = ", ".join(f"`{source.name}`" for source in sources)
    if not records:
        raise BreadcrumbsError(f"{names} holds no usable result records; run `breadcrumbs eval --out FILE`")
    summaries = summarize(records)
    out_dir = Path(out_dir)
    table = markdown_table(summaries)
    tasks = sorted({s.task for s in summaries})
    metrics = {task: headline_metric(summaries, task) for task in tasks}
    unscored = [task for task, metric in metrics.items() if metric == "exact_match"]
    models = sorted({str(r.get("model")) for r in records if r.get("model") is not None})
    measured = describe(records)
    markdown = "\n".join(
        [
            f"# Memory–{'agreement' if len(unscored) == len(tasks) else 'accuracy'} report: {', '.join(tasks)}",
            "",
            f"Source: {names} ({len(records)} records; model {', '.join(models) or 'unknown'}). "
            f"{'Exact match' if len(unscored) == len(tasks) else 'Accuracy'} with a 95% percentile bootstrap CI "
            f"({BOOTSTRAP_SAMPLES} resamples, seed {BOOTSTRAP_SEED}); KV "
            "entries and bytes are per sequence, measured from the cache (prompt included), averaged over problems; "
            "the saving compares mean peak entries with the full cache, in total and per generated token (the "
            "entries above the prompt at the peak per generated token, which the prompt does not dilute)."
            + (f" No verifier scored the {', '.join(unscored)} records: agreement with the full cache replaces "
               "accuracy there (the plot and matched tables show exact match), and no AUAC is computed."
               if unscored else "")
            + (f" {AGREEMENT_NOTE}" if any(s.exact_match is not None for s in summaries) else ""),
            "",
            "![Pareto frontier](pareto.png)" if plot else "",
            "",
            table,
            "## What was measured",
            "",
            *(f"{settings_table(panel, setting)}\n" for panel, setting in measured.items()),
            *(["## Matched comparisons", "", matched, ""] if (matched := matched_tables(summaries)) else []),
            *(["## Area under the accuracy-vs-KV curve (AUAC)", "", area, ""] if (area := auac_table(summaries)) else []),
        ]
        + ([] if not warnings else ["## Warnings", "", *[f"- {w}" for w in warnings], ""])
    )
    paths = write_pareto(summaries, out_dir) if plot else []
    summary = {
        "source": ", ".join(source.name for source in sources),
        "records": len(records),
        "bootstrap": {"samples": BOOTSTRAP_SAMPLES, "seed": BOOTSTRAP_SEED, "confidence": 0.95},
        "methods": [s.to_dict() for s in summaries],
        "headline": metrics,
        "settings": measured,
        "auac": auac(summaries),
        "warnings": warnings,
    }
    paths.append(atomic_write(out_dir / "report.md", markdown))
    paths.append(atomic_write(out_dir / "summary.json", json.dumps(_clean(summary), indent=2, sort_keys=True) + "\n"))
    return Report(summaries, warnings, paths, markdown)
