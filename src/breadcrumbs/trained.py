"""What a checkpoint was trained for, and the defaults and warnings that follow from it.

Every checkpoint the trainer saves records, in `config.json` under `breadcrumbs` (so `model.config.breadcrumbs`),
the task and difficulty it was trained on, its student views (ratios or windows, lag, layout, sampling) and how many steps
trained the student. `eval` and `sweep` draw problems at that difficulty when `--difficulty` is not given,
`generate` defaults to the trained policy (the full cache when the beacons were never trained), and `evaluate`
warns in one line per mismatch: problems at another difficulty or task, a beacon ratio (or window) never trained,
beacons never trained at all.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from transformers import PreTrainedModel

from breadcrumbs.beacon.layout import student_views
from breadcrumbs.beacon.spelling import upgrade_record, view_spec
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.policies import BeaconPolicy
from breadcrumbs.policies.streaming import WindowPolicy

METADATA_KEY = "breadcrumbs"


@dataclass(frozen=True)
class TrainedFor:
    """The `config.breadcrumbs` record of a trained checkpoint (JSON-able through `to_dict`)."""

    task: str
    difficulty: dict[str, int]  # knobs of the run's own evaluation problems (task.difficulty + eval.difficulty)
    ratios: list[int]  # every beacon ratio a training sequence could take (empty for layout `window`)
    lag: int = 0
    layout: str = "beacon"  # beacon | window
    windows: list[int] = field(default_factory=list)  # layout `window`: every window size a sequence could take
    sampling: str = "choice"  # how sequences took their ratio: choice (one of `ratios`) | range (log-uniform)
    student_steps: int = 0  # training steps with a student (beacon or window) loss; 0 = beacons never trained
    steps: int = 0  # training steps of the checkpoint
    stage_difficulty: dict[str, dict[str, int]] = field(default_factory=dict)  # knobs each training stage drew
    beacon_token_id: int | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainedFor:
        """The record read back from a config (unknown keys, from a newer version, are ignored)."""
        if not isinstance(data, dict) or "task" not in data or "ratios" not in data:
            raise BreadcrumbsError(f"config.json: '{METADATA_KEY}' is not a breadcrumbs training record: {data!r}")
        names = {item.name for item in dataclasses.fields(cls)}
        data = upgrade_record(data)
        return cls(**{key: value for key, value in data.items() if key in names})

    @property
    def served_as(self) -> list[str]:
        """The policy specs of the trained student views (`beacon:4`, `beacon:8:lag=2`, `window:16`)."""
        sizes = self.windows if self.layout == "window" else self.ratios
        return [view_spec(view) for view in student_views(self.layout, sizes, self.lag)]

    def trained_difficulties(self) -> list[dict[str, int]]:
        """Every difficulty the run drew problems at (evaluation and training stages)."""
        return [self.difficulty, *self.stage_difficulty.values()]


def trained_for(model: PreTrainedModel) -> TrainedFor | None:
    """The model's training record, or None when it has none (a preset, a converted or foreign checkpoint)."""
    data = getattr(model.config, METADATA_KEY, None)
    return None if data is None else TrainedFor.from_dict(data)


def knobs_text(knobs: dict) -> str:
    """`k=3 max_number=10` (`no knobs` for a task without any)."""
    return " ".join(f"{key}={value}" for key, value in knobs.items()) or "no knobs"


def read_trained_for(name_or_path: str) -> TrainedFor | None:
    """The training record in a checkpoint directory's `config.json`, read without loading the model (None for a
    preset, a `.gguf` file, or a checkpoint without one); lets a command draw its problems before loading."""
    config_file = Path(name_or_path) / "config.json"
    try:
        data = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    except (OSError, ValueError):
        return None  # `load_model` names what is wrong with the file
    record = data.get(METADATA_KEY) if isinstance(data, dict) else None
    return None if record is None else TrainedFor.from_dict(record)


def default_difficulty(record: TrainedFor | None, task: str, given: dict[str, int]) -> dict[str, int]:
    """The knobs to draw `task`'s problems at: the trained difficulty (same task only) with `given` on top, as a
    config's `eval.difficulty` sits on top of `task.difficulty` (`--difficulty backtracks=2` changes one knob)."""
    if record is None or record.task != task:
        return dict(given)
    return {**record.difficulty, **given}


def default_policy(model: PreTrainedModel) -> tuple[str, str | None]:
    """(policy spec, notice): the first trained student view, or `full` with a one-line notice when the model's
    beacons were never trained."""
    record = trained_for(model)
    if record is not None and record.student_steps > 0:
        return record.served_as[0], None
    why = "records no breadcrumbs training" if record is None else "trained its beacons for 0 steps"
    return "full", f"this model {why}; generating with the full cache (pass --policy beacon:C to compress anyway)"


def policy_warnings(model: PreTrainedModel, policies: Iterable) -> list[str]:
    """One line when learned policies (beacons, trained windows) ask for what this model never trained."""
    learned = [p for p in policies
               if isinstance(p, BeaconPolicy) or (isinstance(p, WindowPolicy) and isinstance(p.budget, int))]
    if not learned:
        return []
    labels = ", ".join(dict.fromkeys(p.label for p in learned))
    record = trained_for(model)
    if record is None:
        return [f"{labels}: this model records no breadcrumbs training (config.breadcrumbs), so its beacons were "
                "never trained; expect the quality of untrained compression"]
    if record.student_steps == 0:
        return [f"{labels}: this model's beacons were never trained (0 student steps); expect the quality of "
                "untrained compression"]
    untrained = [label for label in dict.fromkeys(p.label for p in learned) if label not in record.served_as]
    if not untrained:
        return []
    return [f"{', '.join(untrained)} never trained: this model was trained for {', '.join(record.served_as)}"]


def problem_warnings(model: PreTrainedModel, task: str, problems: Sequence) -> list[str]:
    """One line when the problems come from another task, or from a difficulty the model never trained at."""
    record = trained_for(model)
    if record is None or not problems:
        return []
    if record.task != task:
        return [f"this model was trained on {record.task}, not {task}"]
    trained = record.trained_difficulties()
    other = [p.difficulty for p in problems if p.difficulty not in trained]
    if not other:
        return []
    differing = ", ".join(f"{key}={value} (trained {record.difficulty.get(key, 'without it')})"
                          for key, value in other[0].items() if record.difficulty.get(key) != value)
    return [f"the problems' difficulty differs from this model's training: {differing or knobs_text(other[0])}; "
            "eval and sweep use the trained one when --difficulty is not given"]
