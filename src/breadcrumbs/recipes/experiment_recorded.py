"""Recorded models: the few trained checkpoints an experiment's tables come from, committed with the repository so
that a run can resume on a new machine without retraining them.

`record_models` copies a finished job's model (Hugging Face files only: config, tokenizer, safetensors weights; no
optimizer state) to `DEST/NAME/` with `RECORD.json`: the job's fingerprint, wall time, date, commit and the command
that made it, plus the job's held-out evaluation records (`metrics.jsonl`, eval lines only). `adopt_recorded` does
the reverse at the start of `breadcrumbs experiment --from-recorded`: a recorded model whose fingerprint is this
plan's becomes the job's finished output (`runs/NAME/recorded/`), so the jobs built on it start from it; a recorded
model of another plan is named and left unused (the job then runs).
"""

from __future__ import annotations

import datetime
import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.files import atomic_write
from breadcrumbs.provenance import commit

RECORD_FILE = "RECORD.json"
RECORDED_DIR = "recorded"  # runs/NAME/recorded/: an adopted model (no trainer state: it is not resumed, only used)
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


def record_models(
    out: Path, names: Iterable[str], dest: Path, fingerprints: dict[str, str], checkpoint: Callable[[str], Path],
    command: str, log=print,
) -> list[Path]:
    """Copy each finished job of `names` from the experiment in `out` to `dest/NAME/`; returns the folders."""
    written = []
    for name in names:
        if name not in fingerprints:
            raise BreadcrumbsError(f"unknown experiment job {name!r}; choose from {', '.join(fingerprints)}")
        if not (out / "done" / name).exists():
            raise BreadcrumbsError(f"experiment job {name!r} has not finished in {out}; run the experiment first")
        source = checkpoint(name)
        folder = dest / name
        staging = dest / f".{name}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for file in MODEL_FILES:
            if (source / file).is_file():
                shutil.copy2(source / file, staging / file)
        metrics = out / "runs" / name / "metrics.jsonl"
        if metrics.is_file():
            evals = [line for line in metrics.read_text().splitlines() if '"kind": "eval"' in line]
            atomic_write(staging / "metrics.jsonl", "".join(line + "\n" for line in evals))
        record = {
            "job": name, "fingerprint": fingerprints[name],
            "wall_s": float((out / "done" / name).read_text().strip() or 0),
            "recorded": datetime.date.today().isoformat(), "commit": commit() or "unknown", "command": command,
        }
        atomic_write(staging / RECORD_FILE, json.dumps(record, indent=2) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        log(f"recorded {name} in {folder}")
        written.append(folder)
    return written


def adopt_recorded(out: Path, dest: Path, fingerprints: dict[str, str], log=print) -> list[str]:
    """Make every recorded model in `dest` whose fingerprint is this plan's the finished output of its job in
    `out` (jobs already finished there are left alone); returns the names adopted."""
    if not dest.is_dir():
        raise BreadcrumbsError(f"no recorded models in {dest}; run from the repository root or pass --recorded DIR")
    adopted = []
    for folder in sorted(path for path in dest.iterdir() if (path / RECORD_FILE).is_file()):
        record = json.loads((folder / RECORD_FILE).read_text())
        name = record["job"]
        if name not in fingerprints or (out / "done" / name).exists():
            continue
        if record["fingerprint"] != fingerprints[name]:
            log(f"recorded {name} was made by another plan (fingerprint {record['fingerprint']}, this plan's "
                f"{fingerprints[name]}): not used, the job runs")
            continue
        target = out / "runs" / name / RECORDED_DIR
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(folder, target)
        atomic_write(out / "started" / name, fingerprints[name] + "\n")
        atomic_write(out / "done" / name, f"{record['wall_s']:.1f}\n")
        log(f"adopted the recorded {name} (made {record['recorded']}, commit {record['commit']})")
        adopted.append(name)
    return adopted
