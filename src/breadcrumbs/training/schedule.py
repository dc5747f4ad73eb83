"""What a run's schedule does: the training record its checkpoints carry, the stages it can never run (one warning
line each at start), and which config changes a resumed run can take.

A resumed run (`train --out R --resume [--set KEY=VALUE]`) continues from its latest checkpoint `step-N`. A change
is refused, naming the key, only where it would break that state: the model, task, seed or training pool it was
built from; a schedule that moves step N to another stage or stage step; the learning rate or AdamW settings of a
stage the checkpoint is in the middle of (its restored optimizer and scheduler would keep the old values).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.trained import TrainedFor
from breadcrumbs.training.config import DistillConfig, RLConfig, SFTConfig, TrainConfig

# Keys a resumed run cannot change, with what they fixed.
FIXED_ON_RESUME = {
    "seed": "the data order, sampling seeds and held-out problems",
    "model.name": "the model (a resumed run continues its checkpoint)",
    "model.arch": "the model (a resumed run continues its checkpoint)",
    "model.dtype": "the dtype of its weights and optimizer state",
    "task.name": "the task",
    "task.train_problems": "the training pool its data cursor walks",
}
PLAN_KEYS = ("sft.steps", "rl.steps", "distill.mode", "distill.steps")
OPTIMIZER_KEYS = ("optim.beta1", "optim.beta2", "optim.eps", "optim.weight_decay")


def student_steps(config: TrainConfig, global_step: int) -> int:
    """How many of the first `global_step` steps train the student: SFT steps from `sft.student_start` on (with a
    student weight), RL steps of joint distillation, two-stage distillation steps (with a distillation weight)."""
    done = start = 0
    for stage, steps in config.stages():
        ran = max(0, min(steps, global_step - start))
        if stage == "sft":
            done += max(0, ran - config.sft.student_start) if config.sft.student_weight > 0 else 0
        elif config.distill.weight > 0 and (stage == "distill" or config.distill.mode == "joint"):
            done += ran
        start += steps
    return done


def training_record(config: TrainConfig, task: Any, global_step: int, beacon_token_id: int) -> TrainedFor:
    """The `config.breadcrumbs` record of the checkpoint at `global_step` (`task`: the run's `Task`)."""
    knobs = lambda stage: task.resolve_difficulty({**config.task.difficulty, **stage})  # noqa: E731
    stage_knobs = {"sft": config.sft.difficulty, "rl": config.rl.difficulty, "distill": config.rl.difficulty}
    beacon = config.beacon
    sizes = {"ratios": [], "windows": [], beacon.sizes_key: beacon.choices()[0]}  # the sizes under their own key
    return TrainedFor(
        task=config.task.name, difficulty=knobs(config.eval.difficulty), **sizes, lag=beacon.lag,
        layout=beacon.layout, sampling=beacon.sampling, student_steps=student_steps(config, global_step),
        steps=global_step, stage_difficulty={stage: knobs(stage_knobs[stage]) for stage, _ in config.stages()},
        beacon_token_id=beacon_token_id,
    )


def _changed(section: Any, default: Any, prefix: str, skip: tuple[str, ...] = ()) -> list[str]:
    """The keys of `section` that differ from the defaults (`skip`: keys left out)."""
    return [f"{prefix}.{item.name}" for item in dataclasses.fields(section)
            if item.name not in skip and getattr(section, item.name) != getattr(default, item.name)]


def _never(keys: list[str]) -> str:
    return f"{', '.join(keys)} never take{'s' if len(keys) == 1 else ''} effect"


def schedule_warnings(config: TrainConfig) -> list[str]:
    """One line per part of the schedule that can never run: a student start beyond the SFT steps, settings of a
    stage with no steps, a run in which no step trains the student."""
    lines = []
    sft, rl, distill = config.sft, config.rl, config.distill
    untrained = student_steps(config, config.total_steps) == 0
    late_student = sft.steps > 0 and sft.student_weight > 0 and sft.student_start >= sft.steps
    if late_student:
        tail = "; no later stage distills either, so the beacons stay untrained" if untrained else ""
        lines.append(f"sft.student_start ({sft.student_start}) is not below sft.steps ({sft.steps}): the warm start "
                     f"never trains the student{tail}")
    elif untrained:
        lines.append("no stage trains the student (sft.student_weight is 0 or sft.student_start too late, and no stage "
                     "distills): the checkpoints' beacons stay untrained")
    if sft.steps == 0 and (keys := _changed(sft, SFTConfig(), "sft", skip=("steps",))):
        lines.append(f"sft.steps is 0, so {_never(keys)}; set sft.steps > 0 to run the warm start")
    rl_used = rl.steps > 0 or distill.mode == "two_stage"  # two-stage distillation samples with the RL settings
    used_by_eval = ("max_new_tokens",) if config.eval.max_new_tokens == 0 else ()
    if not rl_used and (keys := _changed(rl, RLConfig(), "rl", skip=("steps", *used_by_eval))):
        lines.append(f"rl.steps is 0, so {_never(keys)}; set rl.steps > 0 to run RL")
    distills = distill.mode == "two_stage" or (distill.mode == "joint" and rl.steps > 0)
    if not distills and (keys := _changed(distill, DistillConfig(), "distill", skip=("mode",))):
        why = ("distill.mode is off" if distill.mode == "off"
               else "joint distillation runs in RL steps and rl.steps is 0")
        lines.append(f"{why}, so {_never(keys)}")
    return lines


def _flat(data: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "difficulty":
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def resume_position(config: TrainConfig, global_step: int) -> tuple[str, int] | None:
    """(stage, steps into it) of a checkpoint at `global_step` under `config`'s schedule; None before any step."""
    start = 0
    for stage, steps in config.stages():
        if start < global_step <= start + steps:
            return stage, global_step - start
        start += steps
    return None


def check_resume(saved: TrainConfig, config: TrainConfig, global_step: int) -> None:
    """Refuse, naming the key, a change from `saved` (the run's config.yaml) to `config` that would break the state
    of the checkpoint at `global_step`."""
    before, after = _flat(saved.to_dict()), _flat(config.to_dict())
    changed = [key for key in after if before.get(key) != after[key]]
    what = lambda key: f"config key '{key}' changed from {before.get(key)!r} to {after[key]!r}"  # noqa: E731
    for key in changed:
        if key in FIXED_ON_RESUME:
            raise BreadcrumbsError(
                f"{what(key)}, but a resumed run keeps {FIXED_ON_RESUME[key]}; start a new run (another --out) instead"
            )
    position = resume_position(saved, global_step)
    if position is None:
        return
    stage, done = position
    plan, start = {}, 0
    for name, steps in config.stages():
        plan[name] = (start, steps)
        start += steps
    if stage not in plan or plan[stage][0] != global_step - done or plan[stage][1] < done:
        key = next(k for k in PLAN_KEYS if k in changed)  # the stages depend on these keys alone
        raise BreadcrumbsError(
            f"{what(key)}, but the checkpoint step-{global_step} is {done} steps into the {stage} stage: the stages "
            f"before it cannot change and {stage} needs at least {done} steps"
        )
    if done < plan[stage][1]:  # the checkpoint's stage goes on with its restored optimizer and scheduler
        stage_lr = "sft.lr" if stage == "sft" else "rl.lr"
        for key in (stage_lr, *OPTIMIZER_KEYS):
            if key in changed:
                raise BreadcrumbsError(
                    f"{what(key)}, but the checkpoint step-{global_step} is in the middle of the {stage} stage, whose "
                    "restored optimizer and schedule keep the old value; change it for a later stage or a new run"
                )


def resume_config(run_dir: str | Path, overrides: list[str]) -> TrainConfig:
    """The run's saved config.yaml with `--set` overrides applied (checked against its checkpoint by the trainer)."""
    from breadcrumbs.training.config import apply_overrides, config_from_dict
    from breadcrumbs.validation import load_yaml, read_text_file

    saved = Path(run_dir) / "config.yaml"
    if not saved.is_file():
        raise BreadcrumbsError(f"--resume: no run at {str(run_dir)!r} (no config.yaml); drop --resume to start it")
    data = load_yaml(read_text_file(saved, "saved config"), f"saved config {str(saved)!r}") or {}
    return config_from_dict(apply_overrides(data, overrides))
