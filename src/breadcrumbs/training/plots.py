"""Training curves from `metrics.jsonl` (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import json
from pathlib import Path

PANELS = [
    ("loss", ["loss", "ce_teacher", "ce_student", "pg_loss", "distill_kl"]),
    ("reward / accuracy", ["reward", "accuracy", "token_acc_teacher", "token_acc_student"]),
    ("KL / entropy", ["distill_kl", "ref_kl", "entropy"]),
    ("eval accuracy", None),  # eval records: acc_full and acc_c*
]


def read_metrics(path: Path) -> list[dict]:
    records = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
    return records


def plot_metrics(metrics_path: Path, out_path: Path) -> Path | None:
    """Draw the loss, reward/accuracy, KL/entropy and eval panels into one PNG; None when there is nothing."""
    records = read_metrics(metrics_path)
    train = [r for r in records if r.get("kind") == "train"]
    evals = [r for r in records if r.get("kind") == "eval"]
    if not train and not evals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 3.6))
    for ax, (title, keys) in zip(axes, PANELS):
        if keys is None:
            names = sorted({k for r in evals for k in r if k.startswith("acc_")})
            for name in names:
                points = [(r["step"], r[name]) for r in evals if name in r]
                ax.plot(*zip(*points), marker="o", label=name)
        else:
            for key in keys:
                points = [(r["step"], r[key]) for r in train if isinstance(r.get(key), (int, float))]
                if points:
                    ax.plot(*zip(*points), label=key, linewidth=1)
        stages = {}
        for r in train:
            stages.setdefault(r.get("stage"), r["step"])
        for stage, start in stages.items():
            ax.axvline(start, color="grey", linewidth=0.5, linestyle=":")
        ax.set_title(title)
        ax.set_xlabel("step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return Path(out_path)
