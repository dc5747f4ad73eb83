"""Recorded jobs: the few trained checkpoints and evaluations an experiment's tables come from, committed with the
repository so that a run can resume on a new machine without redoing them.

`record_jobs` copies finished jobs to `DEST/NAME/`, each with `RECORD.json` (the job's fingerprint, what was kept,
wall time, date, commit and the command that made it):

- a training job: its model (Hugging Face files only: config, tokenizer, safetensors weights; no optimizer state)
  and its held-out evaluation records (`metrics.jsonl`, eval lines only) — `kind: model`; or, where every job built
  on it is recorded too (nothing will start from it again), the evaluation records alone — `kind: metrics`, which
  keeps an RL arm's curve without spending the models' size budget on weights nobody loads;
- an evaluation or a sweep: its results files gzip-compressed (`*.gz`, traces compress ~10x) — `kind: results`.

`adopt_recorded` does the reverse at the start of `breadcrumbs experiment --from-recorded`: a recorded job whose
fingerprint is this plan's becomes the job's finished output (a model or metrics in `runs/NAME/recorded/`, results
where the evaluation writes them), so the jobs built on it start from it; a record of another plan is named and
left unused (the job then runs).
"""

from __future__ import annotations

import datetime
import gzip
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
KINDS = ("model", "metrics", "results")


def record_jobs(
    out: Path, names: Iterable[str], dest: Path, fingerprints: dict[str, str], checkpoint: Callable[[str], Path],
    results: Callable[[str], Path | None], users: Callable[[str], list[str]], command: str, weights: bool = True,
    log=print,
) -> list[Path]:
    """Copy each finished job of `names` from the experiment in `out` to `dest/NAME/`; returns the folders.

    `results(name)` is an evaluation's results file or folder (None for a training job), `users(name)` the jobs
    built on a training job's model; `weights=False` records training jobs without their weights, allowed only
    when every job that uses them is recorded (or recorded in the same call)."""
    names = list(names)
    already = recorded_jobs(dest, fingerprints)
    for name in names:
        if name not in fingerprints:
            raise BreadcrumbsError(f"unknown experiment job {name!r}; choose from {', '.join(fingerprints)}")
        if not (out / "done" / name).exists():
            raise BreadcrumbsError(f"experiment job {name!r} has not finished in {out}; run the experiment first")
        missing = [user for user in users(name) if user not in names and user not in already]
        if not weights and results(name) is None and missing:
            raise BreadcrumbsError(f"experiment job {name!r} cannot be recorded without its weights: "
                                   f"{', '.join(missing)} start from it and are not recorded; record them too")
    return [_record(out, name, dest, fingerprints, checkpoint, results(name), weights, command, log)
            for name in names]


def _record(out: Path, name: str, dest: Path, fingerprints: dict[str, str], checkpoint: Callable[[str], Path],
            results: Path | None, weights: bool, command: str, log) -> Path:
    folder, staging = dest / name, dest / f".{name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if results is not None:
        kind = "results"
        files = sorted(path for path in results.iterdir() if path.suffix != ".lock") if results.is_dir() else [results]
        for file in files:
            atomic_write(staging / f"{file.name}.gz", gzip.compress(file.read_bytes(), mtime=0))
    else:
        kind = "model" if weights else "metrics"
        source = checkpoint(name) if weights else None
        for file in MODEL_FILES if source else ():
            if (source / file).is_file():
                shutil.copy2(source / file, staging / file)
        metrics = out / "runs" / name / "metrics.jsonl"
        if not metrics.is_file():  # a job adopted from an earlier record: its recorded eval lines
            metrics = out / "runs" / name / RECORDED_DIR / "metrics.jsonl"
        if metrics.is_file():
            evals = [line for line in metrics.read_text().splitlines() if '"kind": "eval"' in line]
            atomic_write(staging / "metrics.jsonl", "".join(line + "\n" for line in evals))
    record = {
        "job": name, "kind": kind, "fingerprint": fingerprints[name],
        "wall_s": float((out / "done" / name).read_text().strip() or 0),
        "recorded": datetime.date.today().isoformat(), "commit": commit() or "unknown", "command": command,
    }
    atomic_write(staging / RECORD_FILE, json.dumps(record, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    log(f"recorded {name} ({kind}) in {folder}")
    return folder


def recorded_jobs(dest: Path, fingerprints: dict[str, str]) -> dict[str, str]:
    """The jobs recorded in `dest` by this plan (their fingerprint is this plan's): name -> kind."""
    found = {}
    for path in sorted(dest.glob(f"*/{RECORD_FILE}")) if dest.is_dir() else ():
        record = json.loads(path.read_text())
        if fingerprints.get(record["job"]) == record["fingerprint"]:
            found[record["job"]] = record.get("kind", "model")
    return found


def adopt_recorded(out: Path, dest: Path, fingerprints: dict[str, str], results: Callable[[str], Path | None],
                   log=print) -> list[str]:
    """Make every recorded job in `dest` whose fingerprint is this plan's the finished output of its job in `out`
    (jobs already finished there are left alone); `results(name)` is where an evaluation writes its results (a
    file, or a folder for a sweep). Returns the names adopted."""
    if not dest.is_dir():
        raise BreadcrumbsError(f"no recorded jobs in {dest}; run from the repository root or pass --recorded DIR")
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
        if record.get("kind") == "results":
            target = results(name)
            for file in folder.glob("*.gz"):  # an evaluation's one file, or a sweep's folder of them
                path = target if target.name == file.stem else target / file.stem
                atomic_write(path, gzip.decompress(file.read_bytes()))
        else:
            target = out / "runs" / name / RECORDED_DIR
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(folder, target)
        atomic_write(out / "started" / name, fingerprints[name] + "\n")
        atomic_write(out / "done" / name, f"{record['wall_s']:.1f}\n")
        log(f"adopted the recorded {name} ({record.get('kind', 'model')}, made {record['recorded']}, "
            f"commit {record['commit']})")
        adopted.append(name)
    return adopted
