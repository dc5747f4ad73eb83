"""`distill.teacher: frozen`: the distillation stage samples from, and takes its targets from, a frozen copy of the
model at the stage's start; the trained model's student rows alone enter the backward."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from safetensors.torch import load_file

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.models import build_preset_model
from breadcrumbs.training import config_from_dict, train
from breadcrumbs.training.config import DistillConfig, RLConfig
from breadcrumbs.training.losses import TokenScorer, group_advantages
from breadcrumbs.training.rl import Rollouts, rl_loss
from breadcrumbs.training.runtime import Runtime

TASK = {"name": "countdown", "difficulty": {"k": 3, "max_number": 6, "max_target": 20}, "style": "direct",
        "eval_problems": 2}


def batch(rt, rows=4, n=10):
    gen = torch.Generator().manual_seed(0)
    prompts = [[rt.tokenizer.bos_token_id] + torch.randint(10, 90, (3 + r,), generator=gen).tolist() for r in range(rows)]
    completions = [torch.randint(10, 90, (n - r,), generator=gen).tolist() for r in range(rows)]
    rewards = torch.zeros(rows)
    return Rollouts([None] * rows, prompts, completions, [""] * rows, rewards, rewards > 0,
                    group_advantages(rewards, 2), [3] * rows, 0.0, [])


def distill(rt, rollouts, teacher=None):
    rt.model.zero_grad(set_to_none=True)
    tokens = float(sum(len(c) for c in rollouts.completions))
    loss, sums = rl_loss(rt, rollouts, RLConfig(), DistillConfig(mode="two_stage", steps=1), 0.0, 1.0, tokens,
                         teacher=teacher)
    return loss, sums


def test_frozen_copy_gives_the_shared_weights_loss_and_no_teacher_gradient():
    model, tokenizer = build_preset_model("micro", seed=0)
    rt = Runtime(model.train(), model, tokenizer)
    frozen = TokenScorer(copy.deepcopy(model).eval().requires_grad_(False))
    rollouts = batch(rt)
    shared, before = distill(rt, rollouts)
    loss, _ = distill(rt, rollouts, frozen)
    assert loss.item() > 0 and loss.item() == pytest.approx(shared.item(), rel=1e-5)
    loss.backward()
    assert all(p.grad is None for p in frozen.lm.parameters())
    assert rt.base.get_input_embeddings().weight.grad[rt.beacon_id].abs().sum() > 0
    with torch.no_grad():  # the trained model moves away, head included; the targets stay the frozen model's
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    moved, after = distill(rt, rollouts, frozen)
    self_target, _ = distill(rt, rollouts)
    assert after.values["nll_teacher"][0] == pytest.approx(before.values["nll_teacher"][0], rel=1e-5)
    assert moved.item() != pytest.approx(self_target.item(), rel=1e-3)


def test_a_frozen_teacher_needs_the_distillation_stage():
    with pytest.raises(BreadcrumbsError, match="distill.teacher' is frozen but distill.mode is not two_stage"):
        config_from_dict({"task": TASK, "rl": {"steps": 2}, "distill": {"teacher": "frozen"}})


def test_run_with_a_frozen_teacher_keeps_it_and_trains_the_student(tmp_path):
    config = config_from_dict({
        "model": {"name": "micro"}, "task": TASK, "beacon": {"ratios": [2]},
        "sft": {"steps": 2, "batch_size": 4},
        "rl": {"steps": 0, "batch_size": 4, "group_size": 2, "max_new_tokens": 8, "lr": 0.01},
        "distill": {"mode": "two_stage", "steps": 3, "teacher": "frozen"},
        "eval": {"max_new_tokens": 4}, "checkpoint": {"every": 2, "keep": 0},
    })
    run = tmp_path / "run"
    train(config, run, progress=False)
    start = load_file(run / "checkpoints" / "step-2" / "model.safetensors")
    teacher = load_file(run / "reference" / "model.safetensors")
    final = load_file(run / "checkpoints" / "step-5" / "model.safetensors")
    assert all(torch.equal(start[k], teacher[k]) for k in start)  # the teacher is the model at the stage's start
    assert any(not torch.equal(start[k], final[k]) for k in start)  # the student trained
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "train" and r["stage"] == "distill"]
    assert len(steps) == 3 and all(r["distill_kl"] >= 0 for r in steps)
    from breadcrumbs.models import beacon_token_id, load_model

    model, tokenizer = load_model(str(run / "reference"))  # the teacher is a checkpoint one can evaluate
    assert beacon_token_id(tokenizer) < model.config.vocab_size
