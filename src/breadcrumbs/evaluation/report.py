"""`breadcrumbs report`: results JSONL -> Pareto plot (PNG, SVG), `report.md` table and `summary.json`.

Deterministic for a given results file; malformed lines are skipped with a warning naming their line number; every
output is written atomically.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from breadcrumbs.evaluation.metrics import BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, MethodSummary, dedupe, summarize
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


def markdown_table(summaries: list[MethodSummary]) -> str:
    """One markdown table per task: accuracy ± CI, KV entries and bytes, tokens, speed, saving vs full."""
    blocks = []
    for task in sorted({s.task for s in summaries}):
        lines = [
            f"### {task}",
            "",
            "| method | n | accuracy (95% CI) | peak KV entries | mean KV entries | peak KV bytes | mean KV bytes "
            "| gen. tokens | tokens/s | KV saving vs full |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in (s for s in summaries if s.task == task):
            saving = "–" if s.kv_saving_vs_full is None else f"{100 * s.kv_saving_vs_full:.1f}%"
            lines.append(
                f"| {s.method} | {s.problems} | {100 * s.accuracy:.1f}% [{100 * s.ci_low:.1f}, {100 * s.ci_high:.1f}] "
                f"| {_number(s.peak_kv_entries)} | {_number(s.mean_kv_entries)} | {_bytes(s.peak_kv_bytes)} "
                f"| {_bytes(s.mean_kv_bytes)} | {_number(s.generated_tokens)} | {_number(s.tokens_per_s, 0)} "
                f"| {saving} |"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _clean(value):
    """JSON-safe (NaN -> None), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def write_report(results: str | Path, out_dir: str | Path, plot: bool = True) -> Report:
    """Summarise a results file into `out_dir`: pareto.png/.svg, report.md, summary.json."""
    results = Path(results)
    records, warnings = read_results(results)
    records, repeat_warnings = dedupe(records)
    warnings += repeat_warnings
    if not records:
        raise BreadcrumbsError(f"{results} holds no usable result records; run `breadcrumbs eval --out {results}`")
    summaries = summarize(records)
    out_dir = Path(out_dir)
    table = markdown_table(summaries)
    tasks = sorted({s.task for s in summaries})
    models = sorted({str(r.get("model")) for r in records if r.get("model") is not None})
    markdown = "\n".join(
        [
            f"# Memory–accuracy report: {', '.join(tasks)}",
            "",
            f"Source: `{results.name}` ({len(records)} records; model {', '.join(models) or 'unknown'}). Accuracy "
            f"with a 95% percentile bootstrap CI ({BOOTSTRAP_SAMPLES} resamples, seed {BOOTSTRAP_SEED}); KV "
            "entries and bytes are per sequence, measured from the cache (prompt included), averaged over problems; "
            "the saving compares mean peak entries with the full cache.",
            "",
            "![Pareto frontier](pareto.png)" if plot else "",
            "",
            table,
        ]
        + ([] if not warnings else ["## Warnings", "", *[f"- {w}" for w in warnings], ""])
    )
    paths = write_pareto(summaries, out_dir) if plot else []
    summary = {
        "source": results.name,
        "records": len(records),
        "bootstrap": {"samples": BOOTSTRAP_SAMPLES, "seed": BOOTSTRAP_SEED, "confidence": 0.95},
        "methods": [s.to_dict() for s in summaries],
        "warnings": warnings,
    }
    paths.append(atomic_write(out_dir / "report.md", markdown))
    paths.append(atomic_write(out_dir / "summary.json", json.dumps(_clean(summary), indent=2, sort_keys=True) + "\n"))
    return Report(summaries, warnings, paths, markdown)
