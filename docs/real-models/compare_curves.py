"""Which student learns faster per CPU minute: the distillation curves of two runs side by side at equal training
time. Both runs distill from the same frozen teacher on the same stream (same seed, so the same problems and the
same teacher samples at each step); the figures are means over the steps of each time bin.

    python docs/real-models/compare_curves.py docs/real-models/student/metrics.jsonl \
        docs/real-models/student-lora/metrics.jsonl --names all-weights,lora-r16 --bin 150
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

KEYS = ("distill_kl", "student_agree")


def distill_curve(path: Path) -> list[tuple[float, dict]]:
    """(training seconds since the distillation stage began, the step's record) for each distillation step."""
    spent, curve = 0.0, []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("kind") == "train" and record.get("stage") == "distill":
            spent += record["step_time_s"]
            curve.append((spent, record))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", nargs=2, type=Path)
    parser.add_argument("--names", default="a,b")
    parser.add_argument("--bin", type=float, default=150.0, help="seconds of training per row")
    args = parser.parse_args()
    names = args.names.split(",")
    curves = [distill_curve(path) for path in args.metrics]
    end = min(curve[-1][0] for curve in curves)
    header = ["training s"] + [f"{name} {key}" for name in names for key in KEYS] + [f"{name} steps" for name in names]
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    start = 0.0
    while start + args.bin <= end:  # whole bins only
        row = [f"{start:.0f}-{start + args.bin:.0f}"]
        counts = []
        for curve in curves:
            inside = [r for t, r in curve if start < t <= start + args.bin]
            counts.append(str(len(inside)))
            for key in KEYS:
                values = [r[key] for r in inside if key in r]
                row.append(f"{sum(values) / len(values):.3f}" if values else "—")
        print("| " + " | ".join(row + counts) + " |")
        start += args.bin
    for name, curve in zip(names, curves):
        print(f"{name}: {len(curve)} distillation steps in {curve[-1][0]:.0f} s, "
              f"median step {sorted(t2 - t1 for (t1, _), (t2, _) in zip(curve, curve[1:]))[len(curve) // 2 - 1]:.1f} s")


if __name__ == "__main__":
    main()
