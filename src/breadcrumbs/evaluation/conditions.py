"""What a report measured: the conditions records were made under, and one panel per condition.

A panel is what one Pareto axis, one table and one AUAC compare: records of one task made under the same
`CONDITIONS` (difficulty, held-out split, temperature, top_p, max new tokens). Records of one task that differ in
any of them are never merged: each condition gets its own panel, named after the task and the differing values
(`countdown · difficulty k=3 max_number=10`), and the report says so in one line. Models may differ between methods
(a trained window control next to the main run), not within one: a method recorded from two models splits its
task's panels by model too. Fields a record predates read as unrecorded (the split as its problem id names it).
"""

from __future__ import annotations

from collections import defaultdict

from breadcrumbs.evaluation.results import record_split
from breadcrumbs.trained import knobs_text

CONDITIONS = ("difficulty", "split", "temperature", "top_p", "max_new_tokens")
UNRECORDED = "unrecorded"


def condition(record: dict, name: str) -> str:
    """One condition of a record as text (`k=3 max_number=10`, `test`, `0.0`, `64`; `unrecorded` when absent)."""
    if name == "split":
        value = record_split(record)
    else:
        value = record.get(name)
    if value is None:
        return UNRECORDED
    if name == "difficulty":
        return knobs_text(value) if isinstance(value, dict) else str(value)
    if name in ("temperature", "top_p") and isinstance(value, (int, float)):
        return str(float(value))
    return str(value)


def split_panels(sourced: list[tuple[str, dict]]) -> tuple[list[dict], list[str]]:
    """The records (given with the name of their file) with `task` set to their panel, and one line per task whose
    records were split into panels, naming the differing conditions and the files."""
    by_task: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for source, record in sourced:
        by_task[record["task"]].append((source, record))
    records, notes = [], []
    for task, rows in by_task.items():
        differing = [name for name in CONDITIONS if len({condition(r, name) for _, r in rows}) > 1]
        groups: dict[tuple, list[tuple[str, dict]]] = defaultdict(list)
        for source, record in rows:
            groups[tuple(condition(record, name) for name in differing)].append((source, record))
        if any(len({str(r.get("model")) for _, r in group if r["method"] == method}) > 1
               for group in groups.values() for method in {r["method"] for _, r in group}):
            differing.append("model")
        if not differing:
            records += [record for _, record in rows]
            continue
        names = []
        for source, record in rows:
            values = [condition(record, name) if name != "model" else str(record.get("model")) for name in differing]
            panel = f"{task} · " + ", ".join(f"{name} {value}" for name, value in zip(differing, values))
            records.append({**record, "task": panel, "task_name": task})
            names.append((panel, source))
        panels = list(dict.fromkeys(panel for panel, _ in names))
        files = {panel: sorted({source for name, source in names if name == panel}) for panel in panels}
        notes.append(
            f"{task}: the records differ in {', '.join(differing)}; one panel per setting, never merged: "
            + "; ".join(f"{panel} ({', '.join(files[panel])})" for panel in panels)
        )
    return records, notes


def describe(records: list[dict]) -> dict[str, dict]:
    """Per panel, what was measured: the task, its conditions, decoding, mean prompt and generation lengths, each
    model (as given, its training record, dtype and bytes per KV entry) and the versions, commits and dates that
    made the records."""
    by_panel: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_panel[record["task"]].append(record)
    described = {}
    for panel, rows in sorted(by_panel.items()):
        first = rows[0]
        temperature = first.get("temperature")
        models: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            models[str(row.get("model"))].append(row)
        described[panel] = {
            "task": first.get("task_name", first["task"]),
            "difficulty": first.get("difficulty"),
            "split": record_split(first),
            "decoding": {"temperature": temperature, "top_p": first.get("top_p"),
                         "greedy": None if temperature is None else float(temperature) == 0.0},
            "max_new_tokens": first.get("max_new_tokens"),
            "prompt_tokens_mean": sum(row["prompt_tokens"] for row in rows) / len(rows),
            "generated_tokens_mean": sum(row["generated_tokens"] for row in rows) / len(rows),
            "models": [
                {"model": name, "methods": sorted({row["method"] for row in group}),
                 "trained_for": group[0].get("trained_for"),
                 "dtype": group[0].get("dtype"),
                 "bytes_per_kv_entry": _bytes_per_entry(group)}
                for name, group in sorted(models.items())
            ],
            "versions": sorted({str(row["version"]) for row in rows if row.get("version") is not None}),
            "commits": sorted({str(row["commit"]) for row in rows if row.get("commit") is not None}),
            "dates": _span(row.get("date") for row in rows),
        }
    return described


def _span(dates) -> list[str]:
    """The first and last of the recorded dates (one when they agree, none when unrecorded)."""
    found = sorted({str(date) for date in dates if date is not None})
    return found[:1] + found[1:][-1:]


def _model_line(model: dict) -> str:
    """`runs/sg/checkpoints/latest` (full, beacon:4): trained on stargraph d=2 l=3, ratios 2, 4, 8, 1500 student
    steps; float32, 1024 B per KV entry."""
    record = model["trained_for"]
    if record is None:
        trained = "records no breadcrumbs training (its beacons were never trained)"
    elif isinstance(record, dict):
        views = ("windows", record["windows"]) if record.get("windows") else ("ratios", record.get("ratios", []))
        trained = (f"trained on {record.get('task')} {knobs_text(record.get('difficulty') or {})}, {views[0]} "
                   f"{', '.join(str(v) for v in views[1])}, {record.get('student_steps', 0)} student steps of "
                   f"{record.get('steps', 0)}")
    else:
        trained = "training record unrecorded"
    per_entry = model["bytes_per_kv_entry"]
    size = UNRECORDED if per_entry is None else f"{per_entry:,.0f} B"
    return (f"`{model['model']}` ({', '.join(model['methods'])}): {trained}; dtype {model['dtype'] or UNRECORDED}, "
            f"{size} per KV entry")


def settings_table(panel: str, setting: dict) -> str:
    """The markdown table of one panel's `describe` entry."""
    decoding = setting["decoding"]
    mode = {True: "greedy", False: "sampled", None: UNRECORDED}[decoding["greedy"]]
    difficulty = setting["difficulty"]
    rows = [
        ("task", setting["task"]),
        ("difficulty", knobs_text(difficulty) if isinstance(difficulty, dict) else UNRECORDED),
        ("split", setting["split"] or UNRECORDED),
        ("decoding", f"{mode} (temperature {decoding['temperature']}, top_p {decoding['top_p']})"),
        ("max new tokens", setting["max_new_tokens"]),
        ("prompt / generated tokens (mean)",
         f"{setting['prompt_tokens_mean']:,.1f} / {setting['generated_tokens_mean']:,.1f}"),
        *(("model", _model_line(model)) for model in setting["models"]),
        ("breadcrumbs version", ", ".join(setting["versions"]) or UNRECORDED),
        ("commit", ", ".join(setting["commits"]) or UNRECORDED),
        ("date", " to ".join(setting["dates"]) or UNRECORDED),
    ]
    return "\n".join([f"### {panel}", "", "| setting | value |", "|---|---|",
                      *(f"| {name} | {value} |" for name, value in rows)])


def _bytes_per_entry(rows: list[dict]) -> float | None:
    """Bytes per KV entry over `rows` (None when they held no entry, e.g. zero-length records)."""
    entries = sum(row["peak_kv_entries"] for row in rows)
    return sum(row["peak_kv_bytes"] for row in rows) / entries if entries else None
