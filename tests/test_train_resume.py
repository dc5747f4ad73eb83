"""Resume: a run killed after k steps and resumed ends with exactly the parameters of an uninterrupted run."""

from __future__ import annotations

import json

import pytest
import torch

from breadcrumbs.training import config_from_dict
from breadcrumbs.training.checkpoint import latest_checkpoint
from breadcrumbs.training.trainer import Trainer, TrainingInterrupted

CONFIG = {
    "model": {"name": "micro"},
    "task": {"name": "countdown", "difficulty": {"k": 3, "max_number": 6, "max_target": 20}, "style": "direct",
             "train_problems": 6, "eval_problems": 2},
    "beacon": {"ratios": [2, 4]},
    "sft": {"steps": 2, "batch_size": 4, "lr": 0.01},
    "rl": {"steps": 2, "batch_size": 4, "group_size": 2, "max_new_tokens": 12, "kl_coef": 0.1,
           "updates_per_batch": 2, "scheduler": "cosine"},
    "eval": {"max_new_tokens": 8}, "checkpoint": {"every": 1, "keep": 0},
}
TOLERANCE = 0.0  # exact: same data order, same sampling seeds, restored optimizer/scheduler/RNG, fp32 safetensors


def params(trainer):
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def train_records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("kill_after", [3])  # mid-RL: optimizer, scheduler, reference model and data cursor restored
def test_killed_and_resumed_run_equals_uninterrupted(tmp_path, kill_after):
    config = config_from_dict(CONFIG)
    straight = Trainer(config, tmp_path / "straight", progress=False)
    straight.run()

    killed = Trainer(config, tmp_path / "killed", progress=False)
    killed.stop_after = kill_after
    with pytest.raises(TrainingInterrupted):
        killed.run()
    run = tmp_path / "killed"
    assert latest_checkpoint(run).name == f"step-{kill_after}"
    # a checkpoint half-written at the moment of the kill is never picked up
    (run / "checkpoints" / f".tmp-step-{kill_after + 1}").mkdir()
    (run / "metrics.jsonl").open("a").write('{"kind": "train", "step": 99, "trunc')

    resumed = Trainer(None, run, resume=True, progress=False)  # config comes from the run directory
    resumed.run()
    a, b = params(straight), params(resumed)
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst <= TOLERANCE, worst
    ours = [r for r in train_records(run) if r["kind"] == "train"]
    theirs = [r for r in train_records(tmp_path / "straight") if r["kind"] == "train"]
    assert [r["step"] for r in ours] == [1, 2, 3, 4]
    assert [r["loss"] for r in ours] == [r["loss"] for r in theirs]
