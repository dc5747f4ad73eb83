"""Tables and curves of the long-reasoning experiment: the RL ablation at equal wall time (held-out accuracy of the
teacher and the student against training time, per arm and seed, and each arm's teacher on test problems of the RL
difficulty against its warm start's) and the compression of each trained model."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path

from breadcrumbs.evaluation.results import atomic_write
from breadcrumbs.recipes.experiment_recorded import RECORDED_DIR

CURVES = (("acc_full", "teacher (full cache)"), ("acc_c8", "student, beacons c = 8"))


def _evals(run_dir: Path) -> list[dict]:
    """The evaluation records of a training run, in order (of its recorded copy, for a job adopted from one)."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        path = run_dir / RECORDED_DIR / "metrics.jsonl"
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r.get("kind") == "eval"]


def _cell(values: list[float]) -> str:
    if not values:
        return "–"
    text = " / ".join(f"{100 * v:.0f}" for v in values)
    return f"{100 * statistics.mean(values):.1f}% ({text})" if len(values) > 1 else f"{100 * values[0]:.1f}%"


def test_accuracy(path: Path) -> tuple[float, float, float] | None:
    """The full cache's accuracy in a results file with its 95% CI (None when the file is absent)."""
    from breadcrumbs.evaluation import summarize
    from breadcrumbs.evaluation.results import read_results

    if not path.exists():
        return None
    full = next((s for s in summarize(read_results(path)[0]) if s.family == "full"), None)
    return None if full is None else (full.accuracy, full.ci_low, full.ci_high)


def _ci(value: tuple[float, float, float] | None) -> str:
    return "–" if value is None else f"{100 * value[0]:.1f}% [{100 * value[1]:.1f}, {100 * value[2]:.1f}]"


def ablation_rows(out: Path, seeds: Sequence[int], arms: Sequence[str]) -> list[dict]:
    """Per arm: start and end held-out accuracy (teacher, student c8) per seed, steps and training time, and the
    teacher's test accuracy on the RL difficulty per seed (`results/eval-rl-ARM-sSEED.jsonl`)."""
    rows = []
    for arm in arms:
        runs = [_evals(out / "runs" / f"{arm}-s{seed}") for seed in seeds]
        runs = [r for r in runs if r]
        row = {"arm": arm, "seeds": len(runs)}
        for key, _ in CURVES:
            row[f"{key}_start"] = [r[0].get(key) for r in runs if key in r[0]]
            row[f"{key}_end"] = [r[-1].get(key) for r in runs if key in r[-1]]
        row["steps"] = [r[-1]["step"] for r in runs]
        row["minutes"] = [r[-1].get("train_time_s", 0.0) / 60 for r in runs]
        row["test_end"] = [test_accuracy(out / "results" / f"eval-rl-{arm}-s{seed}.jsonl") for seed in seeds]
        rows.append(row)
    return rows


def write_ablation(out: Path, seeds: Sequence[int], arms: Sequence[str], start: str) -> None:
    """`ablation.md` (dev curves' ends and each arm's teacher on test problems of the RL difficulty against the warm
    start's, `results/eval-rl-START.jsonl`) and `ablation_curves.png` (held-out accuracy against training time)."""
    rows = ablation_rows(out, seeds, arms)
    begin = test_accuracy(out / "results" / f"eval-rl-{start}.jsonl")
    lines = [
        "| arm | seeds | teacher start | teacher end | student c=8 start | student c=8 end | steps | minutes "
        "| teacher on test, RL difficulty (per seed) | lift (points, mean) |",
        "|---|---:|---|---|---|---|---|---|---|---:|",
    ]
    for row in rows:
        ends = [value for value in row["test_end"] if value is not None]
        lift = f"{100 * (statistics.mean(v[0] for v in ends) - begin[0]):+.1f}" if ends and begin else "–"
        lines.append(
            f"| {row['arm']} | {row['seeds']} | {_cell(row['acc_full_start'])} | {_cell(row['acc_full_end'])} "
            f"| {_cell(row['acc_c8_start'])} | {_cell(row['acc_c8_end'])} "
            f"| {' / '.join(str(s) for s in row['steps'])} | {' / '.join(f'{m:.1f}' for m in row['minutes'])} "
            f"| {' / '.join(_ci(value) for value in row['test_end'])} | {lift} |"
        )
    lines += ["", f"Dev columns: the arm's own held-out points (first and last; mean over seeds, then per seed). Test "
              f"columns: the full cache, greedy, on test problems of the RL difficulty; the warm start `{start}` "
              f"scores {_ci(begin)} there."]
    atomic_write(out / "ablation.md", "\n".join(lines) + "\n")
    _plot_curves(out, seeds, arms)


def _plot_curves(out: Path, seeds: Sequence[int], arms: Sequence[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(CURVES), figsize=(5.5 * len(CURVES), 4), sharey=True)
    colours = dict(zip(arms, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for axis, (key, title) in zip(axes, CURVES):
        for arm in arms:
            for index, seed in enumerate(seeds):
                evals = [r for r in _evals(out / "runs" / f"{arm}-s{seed}") if key in r]
                if not evals:
                    continue
                axis.plot([r.get("train_time_s", 0.0) / 60 for r in evals], [100 * r[key] for r in evals],
                          color=colours[arm], marker="o", markersize=3, alpha=0.9 if index == 0 else 0.5,
                          linestyle="-" if index == 0 else "--", label=arm if index == 0 else None)
        axis.set_title(title)
        axis.set_xlabel("training time (min)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("held-out accuracy (%)")
    axes[0].legend(title="arm (solid: seed 0, dashed: seed 1)")
    figure.tight_layout()
    temp = out / ".ablation_curves.tmp.png"
    figure.savefig(temp, dpi=150)
    plt.close(figure)
    temp.replace(out / "ablation_curves.png")


def write_models(out: Path, models: dict[str, str | tuple[str, ...]]) -> None:
    """`models.md`: per trained model (label -> results file stem(s)), accuracy and mean peak KV entries of the full
    cache and of each beacon ratio (or trained window) evaluated, with the peak as a fraction of the full cache's on
    the same problems."""
    from breadcrumbs.evaluation import summarize
    from breadcrumbs.policies.registry import is_learned
    from breadcrumbs.evaluation.results import read_results

    lines = ["| model | method | accuracy (95% CI) | of teacher | peak KV entries | peak KV / full |",
             "|---|---|---|---:|---:|---:|"]
    for label, stems in models.items():
        paths = [out / "results" / f"{stem}.jsonl" for stem in ((stems,) if isinstance(stems, str) else stems)]
        records = [record for path in paths if path.exists() for record in read_results(path)[0]]
        summaries = [s for s in summarize(records) if is_learned(s.family)]
        full = next((s for s in summaries if s.family == "full"), None)
        for s in sorted(summaries, key=lambda s: (s.family != "full", s.family, s.ratio or s.budget or 0)):
            kept = f"{s.accuracy / full.accuracy:.2f}" if full and full.accuracy else "–"
            fraction = f"{s.peak_kv_entries / full.peak_kv_entries:.3f}" if full else "–"
            lines.append(f"| {label} | {s.method} | {100 * s.accuracy:.1f}% [{100 * s.ci_low:.1f}, "
                         f"{100 * s.ci_high:.1f}] | {kept} | {s.peak_kv_entries:.1f} | {fraction} |")
    atomic_write(out / "models.md", "\n".join(lines) + "\n")
