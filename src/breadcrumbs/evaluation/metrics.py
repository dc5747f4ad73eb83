"""Per (task, method) summaries of result records: accuracy with a bootstrap CI, KV entries and bytes, speed, and
agreement with the full cache where the records hold it (`eval --prompts`).

Accuracy is over the records a verifier scored (`correct` not null); with none it is None, and a task's headline
metric (`headline_metric`: the Pareto plot's y, the matched tables) is then exact match with the full cache. First
divergence is summarised over the rows that diverge (`diverged` counts them; an exact match has no divergence).

Deterministic: the bootstrap uses a fixed seed and the same resamples for every method with the same number of
problems, and methods are ordered by a fixed rule (full cache, beacons, then baselines by name; larger caches first).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np

BOOTSTRAP_SEED = 0
BOOTSTRAP_SAMPLES = 2000
CONFIDENCE = 0.95
FAMILY_ORDER = ("full", "beacon")


def bootstrap_ci(
    values, samples: int = BOOTSTRAP_SAMPLES, confidence: float = CONFIDENCE, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of `values` (fixed seed: same input, same interval)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(samples, data.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


@dataclass
class MethodSummary:
    """One row of the report: a method on a task, averaged over its problems."""

    task: str
    method: str
    family: str
    problems: int
    accuracy: float | None  # None: no record was scored (no verifier)
    ci_low: float | None
    ci_high: float | None
    mean_reward: float | None
    peak_kv_entries: float  # mean over problems of each problem's peak
    mean_kv_entries: float  # mean over problems of each problem's mean
    max_peak_kv_entries: int
    peak_kv_bytes: float
    mean_kv_bytes: float
    prompt_tokens: float
    generated_tokens: float
    time_s: float
    tokens_per_s: float
    budget: float | None  # mean per-problem budget of an eviction baseline (generated entries)
    ratio: int | None  # beacon compression ratio
    kv_saving_vs_full: float | None  # 1 - peak entries / full cache's peak entries (same task)
    match: str | None = None  # the reference of a matched budget (`beacon:4` peak, `beacon:4@mean` mean)
    peak_state_bytes: float = 0.0  # the policy's side state per sequence at its largest, mean over problems
    settings: dict | None = None  # the policy's hyperparameters (as recorded)
    # agreement with the full cache's completion (None: the records hold none; see `evaluation.agreement`)
    exact_match: float | None = None
    exact_ci_low: float | None = None
    exact_ci_high: float | None = None
    token_agreement: float | None = None
    first_divergence_mean: float | None = None  # over the `diverged` rows
    first_divergence_median: float | None = None
    diverged: int | None = None
    # generated-token entries held at the peak per generated token ((peak - prompt) / generated), mean over problems;
    # the full cache holds about 1, beacons at ratio c about 1/c (+ one window)
    kv_entries_per_token: float = float("nan")
    kv_saving_per_token_vs_full: float | None = None  # 1 - kv_entries_per_token / the full cache's (same task)
    trained: bool | None = None  # whether the model trained its student views (see `trained_student`); None: unknown

    def to_dict(self) -> dict:
        return asdict(self)


def _mean(values) -> float:
    values = list(values)
    return float(sum(values) / len(values)) if values else float("nan")


# A task's headline metric -> its (value, CI low, CI high) fields.
HEADLINES = {
    "accuracy": ("accuracy", "ci_low", "ci_high"),
    "exact_match": ("exact_match", "exact_ci_low", "exact_ci_high"),
}


def headline_metric(summaries: list[MethodSummary], task: str) -> str:
    """`accuracy` when a verifier scored any of `task`'s records, else `exact_match` (agreement with full)."""
    return "accuracy" if any(s.accuracy is not None for s in summaries if s.task == task) else "exact_match"


def headline(summary: MethodSummary, metric: str) -> tuple[float, float, float]:
    """(value, CI low, CI high) of `metric` (a `HEADLINES` key); NaN where the summary lacks it."""
    values = [getattr(summary, name) for name in HEADLINES[metric]]
    return tuple(float("nan") if value is None else value for value in values)


def _agreement(rows: list[dict]) -> dict:
    """The agreement fields of a summary, from the rows that hold them (empty when none do)."""
    rows = [row for row in rows if "exact_match" in row]
    if not rows:
        return {}
    exact = [1.0 if row["exact_match"] else 0.0 for row in rows]
    low, high = bootstrap_ci(exact)
    divergences = [row["first_divergence"] for row in rows if row["first_divergence"] is not None]
    return {
        "exact_match": _mean(exact), "exact_ci_low": low, "exact_ci_high": high,
        "token_agreement": _mean(row["token_agreement"] for row in rows),
        "first_divergence_mean": _mean(divergences) if divergences else None,
        "first_divergence_median": float(np.median(divergences)) if divergences else None,
        "diverged": len(divergences),
    }


def trained_student(record: dict) -> bool | None:
    """Whether a record's model trained its student views (beacons, a trained window): from the record's
    `trained_for` (null: the model records no training, so never), or, for a record from before that field, the
    checkpoint's `config.json` when it is on disk; None when unknown."""
    from breadcrumbs.errors import BreadcrumbsError
    from breadcrumbs.trained import read_trained_for

    if "trained_for" in record:
        data = record["trained_for"]
    else:
        model = record.get("model")
        try:
            found = read_trained_for(model) if isinstance(model, str) and model else None
        except BreadcrumbsError:
            found = None
        if found is None:
            return None
        data = found.to_dict()
    return isinstance(data, dict) and int(data.get("student_steps", 0) or 0) > 0


def sort_key(summary: MethodSummary) -> tuple:
    family_rank = FAMILY_ORDER.index(summary.family) if summary.family in FAMILY_ORDER else len(FAMILY_ORDER)
    return (summary.task, family_rank, summary.family, -summary.peak_kv_entries, summary.method)


def dedupe(records: list[dict]) -> tuple[list[dict], list[str]]:
    """Keep the first record of each (task, method, problem); a warning counts the repeats dropped."""
    seen, kept, repeats = set(), [], 0
    for record in records:
        key = (record["task"], record["method"], record["problem_id"])
        if key in seen:
            repeats += 1
            continue
        seen.add(key)
        kept.append(record)
    return kept, ([f"{repeats} repeated (task, method, problem) records ignored"] if repeats else [])


def family_of(method: str, recorded: str) -> str:
    """The family of a method label, from the label itself (results written before a family was split off, such as
    `beacon-lagL`, report like new ones); `recorded` for a label this version cannot parse."""
    from breadcrumbs.errors import BreadcrumbsError
    from breadcrumbs.policies import policy_from_spec

    try:
        return policy_from_spec(method).family
    except BreadcrumbsError:
        return recorded


def summarize(records: list[dict]) -> list[MethodSummary]:
    """Summaries per (task, method), in report order."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for record in records:
        groups[(record["task"], record["method"])].append(record)
    summaries = []
    for (task, method), rows in groups.items():
        rows = sorted(rows, key=lambda row: row["problem_id"])
        correct = [1.0 if row["correct"] else 0.0 for row in rows if row["correct"] is not None]
        low, high = bootstrap_ci(correct) if correct else (None, None)
        rewards = [row.get("reward", row["correct"]) for row in rows]
        rewards = [float(value) for value in rewards if value is not None]
        tokens = sum(row["generated_tokens"] for row in rows)
        seconds = sum(row["time_s"] for row in rows)
        budgets = [row["budget"] for row in rows if isinstance(row.get("budget"), (int, float))]
        ratio = rows[0].get("ratio")
        summaries.append(
            MethodSummary(
                task=task,
                method=method,
                family=family_of(method, rows[0]["family"]),
                problems=len(rows),
                accuracy=_mean(correct) if correct else None,
                ci_low=low,
                ci_high=high,
                mean_reward=_mean(rewards) if rewards else None,
                peak_kv_entries=_mean(row["peak_kv_entries"] for row in rows),
                mean_kv_entries=_mean(row["mean_kv_entries"] for row in rows),
                max_peak_kv_entries=max(row["peak_kv_entries"] for row in rows),
                peak_kv_bytes=_mean(row["peak_kv_bytes"] for row in rows),
                mean_kv_bytes=_mean(row["mean_kv_bytes"] for row in rows),
                prompt_tokens=_mean(row["prompt_tokens"] for row in rows),
                generated_tokens=_mean(row["generated_tokens"] for row in rows),
                time_s=float(seconds),
                tokens_per_s=float(tokens / seconds) if seconds > 0 else float("nan"),
                budget=_mean(budgets) if budgets else None,
                ratio=ratio if isinstance(ratio, int) and not isinstance(ratio, bool) else None,
                kv_saving_vs_full=None,
                match=rows[0].get("match"),
                peak_state_bytes=_mean(row.get("peak_state_bytes", 0) for row in rows),
                settings=rows[0].get("settings"),
                **_agreement(rows),
                kv_entries_per_token=_mean((row["peak_kv_entries"] - row["prompt_tokens"])
                                           / max(row["generated_tokens"], 1) for row in rows),
                trained=trained_student(rows[0]),
            )
        )
    full = {s.task: s for s in summaries if s.family == "full"}
    for summary in summaries:
        reference = full.get(summary.task)
        if reference is not None and reference.peak_kv_entries > 0:
            summary.kv_saving_vs_full = 1.0 - summary.peak_kv_entries / reference.peak_kv_entries
        if reference is not None and reference.kv_entries_per_token > 0:
            summary.kv_saving_per_token_vs_full = 1.0 - summary.kv_entries_per_token / reference.kv_entries_per_token
    return sorted(summaries, key=sort_key)
