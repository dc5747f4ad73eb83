"""What an experiment will do before it does it: every job of every wave with its state and an estimate of its
minutes (`breadcrumbs experiment NAME --plan`), and the ETA the run prints as it starts each job.

The estimates are for the `cpu` scale on this project's 2-core machine, one thread per job, from the recorded run's
job times (docs/experiments/countdown/experiment.json, 2026-11-26: 1,200 teacher steps in 24.7 min, 300 student
steps in 20–26 min with their dev evaluations, evaluations of 150 test problems at ~30 s per method); a job that
has finished in the output folder shows its own wall time instead. Other scales show no estimate.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from breadcrumbs.recipes.experiment import Job, Settings

SECONDS = {
    "teacher_step": 1.25,  # teacher rows only, one thread
    "student_step": 4.5,  # teacher + student rows, dev evaluations included
    "eval_method": 30.0,  # one method on the test problems
    "sweep": 600.0,  # every baseline family's settings tuned on the dev problems
    "arm_overhead": 600.0,  # an RL arm's dev evaluations beyond its budget (4-15 min measured)
}


def estimate_s(job: Job, s: Settings, scale: str) -> float | None:
    """Seconds one job takes on one thread at the `cpu` scale (None at other scales)."""
    if scale != "cpu":
        return None
    if job.sweep:
        return SECONDS["sweep"]
    if job.config is None:
        return SECONDS["eval_method"] * len(job.methods) * s.test_problems / 150
    if "time_budget_s" in job.config:
        return job.config["time_budget_s"] + SECONDS["arm_overhead"]
    sft = job.config["sft"]
    per_step = SECONDS["student_step"] if sft["student_weight"] > 0 else SECONDS["teacher_step"]
    return sft["steps"] * per_step


def _done_s(out: Path, name: str) -> float | None:
    path = out / "done" / name
    return float(path.read_text().strip() or 0) if path.is_file() else None


def remaining_s(out: Path, waves: list[list[Job]], s: Settings, scale: str, parallel: int,
                skip: set[str] = frozenset()) -> float | None:
    """Estimated wall seconds of the unfinished jobs (less `skip`), `parallel` at a time (None when no estimate
    exists)."""
    total = 0.0
    for wave in waves:
        pending = [estimate_s(job, s, scale) for job in wave
                   if _done_s(out, job.name) is None and job.name not in skip]
        if any(value is None for value in pending):
            return None
        total += sum(pending) / max(1, min(parallel, len(pending) or 1))
    return total


def describe(out: Path, waves: list[list[Job]], s: Settings, scale: str, parallel: int,
             recorded: dict[str, str] | None = None) -> str:
    """The plan as text: one line per job (wave, name, what it is, state, minutes), then the estimated total;
    `recorded` (name -> kind) are the jobs `--from-recorded` would adopt."""
    recorded = recorded or {}
    count = sum(len(wave) for wave in waves)
    lines = [f"{count} jobs in {len(waves)} waves, {parallel} at a time (estimates: the cpu scale on 2 cores)"]
    for number, wave in enumerate(waves, 1):
        lines.append(f"wave {number}:")
        for job in wave:
            done = _done_s(out, job.name)
            estimate = estimate_s(job, s, scale)
            if done is not None:
                state = f"done in {done / 60:.1f} min"
            elif job.name in recorded:
                state = f"recorded ({recorded[job.name]}): adopted"
            elif (out / "started" / job.name).exists():
                state = "started (resumes)"
            else:
                state = "to run"
            minutes = "" if estimate is None else f"~{estimate / 60:.0f} min"
            lines.append(f"  {job.name:<24} {_kind(job):<34} {minutes:>9}  {state}")
    left = remaining_s(out, waves, s, scale, parallel, set(recorded))
    lines.append("remaining: unknown at this scale" if left is None else f"remaining: ~{left / 3600:.1f} h")
    return "\n".join(lines)


def _kind(job: Job) -> str:
    """A few words on what a job is."""
    if job.sweep:
        return f"tuned baseline curves of {job.model_of}"
    if job.config is None:
        where = (", RL difficulty" if job.on_rl_difficulty else "") + (
            f", problems of seed {job.problem_seed}" if job.problem_seed else "")
        return f"test eval of {job.model_of} ({len(job.methods)} methods{where})"
    start = job.config["model"]["name"]
    if "time_budget_s" in job.config:
        return f"RL arm from {start[1:]}, {job.config['time_budget_s'] / 60:.0f} min"
    origin = f" from {start[1:]}" if start.startswith("@") else ""
    return f"SFT {job.config['sft']['steps']} steps{origin}"
