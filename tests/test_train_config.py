"""Training config: typed loading, overrides, and one clear error per bad config."""

from __future__ import annotations

import pytest
import yaml

from breadcrumbs.cli import main
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.training.config import TrainConfig, load_config

GOOD = {
    "model": {"name": "micro"},
    "task": {"name": "countdown", "difficulty": {"k": 3}},
    "beacon": {"ratios": [2, 4]},
    "sft": {"steps": 2, "batch_size": 4},
    "rl": {"steps": 1, "batch_size": 8, "group_size": 4},
}


def write(tmp_path, data, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_good_config_and_overrides(tmp_path):
    config = load_config(write(tmp_path, GOOD), ["rl.lr=3e-5", "beacon.ratios=[2,4,8]", "distill.direction=reverse"])
    assert isinstance(config, TrainConfig)
    assert config.rl.lr == pytest.approx(3e-5) and config.beacon.ratios == [2, 4, 8]
    assert config.distill.direction == "reverse"
    assert config.stages() == [("sft", 2), ("rl", 1)] and config.total_steps == 3


BAD = [
    ({"sft": {"stepz": 3}}, "unknown config key 'sft.stepz'"),
    ({"rl": {"steps": "ten"}}, "config key 'rl.steps' must be int"),
    ({"task": {"name": ""}}, "'task.name' is missing"),
    ({"task": {"name": "chess"}}, "unknown task 'chess'"),
    ({"task": {"difficulty": {"k": 99}}}, "task.difficulty"),
    ({"beacon": {"ratios": [4, 0]}}, "'beacon.ratios' holds 0"),
    ({"beacon": {"ratios": []}}, "'beacon.ratios' is empty"),
    ({"rl": {"batch_size": 10, "group_size": 4}}, "'rl.batch_size' (10) is not divisible by 'rl.group_size' (4)"),
    ({"distill": {"direction": "sideways"}}, "'distill.direction' must be one of forward, reverse"),
    ({"distill": {"mode": "two_stage"}}, "'distill.steps' is 0"),
    ({"sft": {"lr": -1.0}}, "'sft.lr' must be > 0"),
    ({"sft": {"steps": 0}, "rl": {"steps": 0}}, "nothing to train"),
    ({"rl": 5}, "config section 'rl' must be a mapping"),
]


@pytest.mark.parametrize("change,message", BAD, ids=[m.split("'")[1] if "'" in m else m for _, m in BAD])
def test_bad_config_is_one_clear_error(tmp_path, change, message):
    data = {key: dict(value) if isinstance(value, dict) else value for key, value in GOOD.items()}
    for section, values in change.items():
        data[section] = {**data.get(section, {}), **values} if isinstance(values, dict) else values
    if change.get("task", {}).get("name") == "":
        data["task"].pop("name")
    with pytest.raises(BreadcrumbsError) as info:
        load_config(write(tmp_path, data))
    text = str(info.value)
    assert message in text and "\n" not in text


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(BreadcrumbsError, match="expected key=value"):
        load_config(write(tmp_path, GOOD), ["rl.steps"])
    with pytest.raises(BreadcrumbsError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_cli_prints_one_error_line(tmp_path, capsys):
    path = write(tmp_path, {**GOOD, "rl": {"batch_size": 6, "group_size": 4}})
    with pytest.raises(SystemExit) as info:
        main(["train", "--config", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    assert info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: config key 'rl.batch_size'")


SCHEDULES = [
    ({"sft": {"steps": 2, "batch_size": 4, "student_start": 5}},
     "sft.student_start (5) is not below sft.steps (2): the warm start never trains the student"),
    ({"sft": {"steps": 2, "batch_size": 4, "student_start": 5}, "rl": {"steps": 0}},
     "the warm start never trains the student; no later stage distills either, so the beacons stay untrained"),
    ({"rl": {"steps": 0, "kl_coef": 0.1, "batch_size": 8, "group_size": 4}},
     "rl.steps is 0, so rl.batch_size, rl.group_size, rl.kl_coef never take effect"),
    ({"rl": {"steps": 0}, "distill": {"weight": 0.5}},
     "joint distillation runs in RL steps and rl.steps is 0, so distill.weight never takes effect"),
    ({"sft": {"steps": 0, "lr": 0.01}}, "sft.steps is 0, so sft.lr never takes effect"),
    ({"sft": {"steps": 2, "student_weight": 0.0}, "distill": {"mode": "off"}},
     "no stage trains the student"),
]


@pytest.mark.parametrize("change,message", SCHEDULES, ids=[m.split(" ")[0] for _, m in SCHEDULES])
def test_a_stage_that_can_never_run_is_one_warning_line(change, message):
    from breadcrumbs.training.config import config_from_dict
    from breadcrumbs.training.schedule import schedule_warnings

    assert schedule_warnings(config_from_dict(GOOD)) == []
    lines = schedule_warnings(config_from_dict({**GOOD, **change}))
    assert len(lines) == 1 and message in lines[0] and "\n" not in lines[0], lines


def test_training_prints_the_schedule_warning_once_at_start(tmp_path, capsys):
    config = {**GOOD, "sft": {"steps": 1, "batch_size": 2, "student_start": 3}, "rl": {"steps": 0},
              "task": {"name": "countdown", "difficulty": {"k": 3}, "eval_problems": 0}}
    path = write(tmp_path, config)
    main(["train", "--config", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert lines == ["warning: sft.student_start (3) is not below sft.steps (1): the warm start never trains the "
                     "student; no later stage distills either, so the beacons stay untrained"]
    assert "warning: sft.student_start (3)" in (tmp_path / "run" / "train.log").read_text()
