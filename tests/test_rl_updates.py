"""The RL update options: `rl.algorithm` (GRPO or expert iteration), `rl.tokens: forks` (the policy gradient only
where a sample left the greedy path) and `rl.anchor_weight` (solver-trace cross-entropy in every RL update)."""

from __future__ import annotations

import json

import pytest
import torch

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.models import build_preset_model
from breadcrumbs.tasks import get_task
from breadcrumbs.training import config_from_dict, train
from breadcrumbs.training.config import DistillConfig, RLConfig
from breadcrumbs.training.losses import group_advantages
from breadcrumbs.training.rl import collect_rollouts, fork_mask, rl_loss, rollout_advantages
from breadcrumbs.training.runtime import Runtime

TASK = {"name": "countdown", "difficulty": {"k": 3, "max_number": 6, "max_target": 20}, "style": "direct",
        "eval_problems": 4}


def test_expert_iteration_advantages_are_the_verified_samples():
    rewards = torch.tensor([1.0, 0.1, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    correct = torch.tensor([True, False, False, True, False, False, False, False])
    ei = rollout_advantages(rewards, correct, RLConfig(algorithm="expert_iteration", group_size=4))
    assert ei.tolist() == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    grpo = rollout_advantages(rewards, correct, RLConfig(group_size=4))
    assert torch.equal(grpo, group_advantages(rewards, 4))


def test_fork_mask_marks_tokens_off_the_greedy_path():
    class Rows:
        completions = [[5, 6, 7], [5, 9]]

    argmax = torch.tensor([[5, 8, 7], [4, 9, 3]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    assert fork_mask(argmax, Rows(), mask).tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


def test_fork_policy_gradient_counts_exactly_the_forks():
    """On-policy (ratio 1) the per-token loss is -advantage, so the summed pg loss is -sum(adv x forks); the forks
    are recomputed here from a plain forward of the model, independently of the scorer."""
    model, tokenizer = build_preset_model("micro", seed=0)
    model.eval()
    task = get_task("countdown")
    problems = task.generate(2, seed=3, **TASK["difficulty"])
    cfg = RLConfig(group_size=4, max_new_tokens=12, temperature=1.0, tokens="forks")
    rt = Runtime(model, model, tokenizer)
    rollouts = collect_rollouts(rt, task, problems, cfg, [4] * 8, seed=0)
    rollouts.advantages = torch.linspace(-1.0, 1.0, len(rollouts))
    _, sums = rl_loss(rt, rollouts, cfg, DistillConfig(mode="off"), 1.0, 0.0, denominator=1.0)
    forks = []
    with torch.no_grad():
        for prompt, completion in zip(rollouts.prompts, rollouts.completions):
            logits = model(torch.tensor([prompt + completion])).logits[0]
            greedy = logits[len(prompt) - 1 : len(prompt) + len(completion) - 1].argmax(-1)
            forks.append(int((greedy != torch.tensor(completion)).sum()))
    expected = -sum(a * f for a, f in zip(rollouts.advantages.tolist(), forks))
    total, tokens = sums.values["pg_loss"]
    assert sum(forks) > 0 and tokens == sum(len(c) for c in rollouts.completions)
    assert total == pytest.approx(expected, abs=1e-4)
    assert sums.values["fork_frac"][0] == sum(forks)


def test_counted_norm_is_the_mean_over_the_moved_tokens():
    """`rl.loss_norm: counted`: on-policy, the loss is -sum(advantage x fork) over the number of forks with a
    non-zero advantage (expert iteration: the verified samples' forks), not over every generated token."""
    model, tokenizer = build_preset_model("micro", seed=0)
    model.eval()
    task = get_task("countdown")
    problems = task.generate(2, seed=3, **TASK["difficulty"])
    rt = Runtime(model, model, tokenizer)
    cfg = RLConfig(group_size=4, max_new_tokens=12, temperature=1.0, tokens="forks", loss_norm="counted")
    rollouts = collect_rollouts(rt, task, problems, cfg, [4] * 8, seed=0)
    rollouts.advantages = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    tokens = float(sum(len(c) for c in rollouts.completions))
    loss, sums = rl_loss(rt, rollouts, cfg, DistillConfig(mode="off"), 1.0, 0.0, denominator=tokens)
    forks = sums.values["fork_frac"][0]
    counted = sums.values["counted_frac"][0]
    pg_sum = sums.values["pg_loss"][0]
    assert 0 < counted < forks  # some forks lie on rows of advantage 0
    assert loss.item() == pytest.approx(pg_sum / counted, rel=1e-5)
    token_loss, _ = rl_loss(rt, rollouts, RLConfig(group_size=4, max_new_tokens=12, tokens="forks"),
                            DistillConfig(mode="off"), 1.0, 0.0, denominator=tokens)
    assert token_loss.item() == pytest.approx(pg_sum / tokens, rel=1e-5)


def test_anchor_cross_entropy_trains_during_rl(tmp_path):
    """Expert iteration of an untrained model finds no verified sample (zero advantages), so the anchor is the
    only gradient: its solver-trace loss must fall over the RL steps."""
    config = config_from_dict({
        "model": {"name": "micro"}, "task": TASK, "beacon": {"ratios": [4]},
        "sft": {"steps": 0},
        "rl": {"steps": 8, "batch_size": 4, "group_size": 2, "max_new_tokens": 8, "lr": 0.01,
               "algorithm": "expert_iteration", "tokens": "forks", "anchor_weight": 1.0, "anchor_batch": 8},
        "distill": {"mode": "off"}, "eval": {"max_new_tokens": 8}, "checkpoint": {"every": 100},
    })
    train(config, tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "train" and r["stage"] == "rl"]
    assert len(steps) == 8
    assert all(0.0 <= r["fork_frac"] <= 1.0 for r in steps)
    assert steps[-1]["anchor_ce"] < steps[0]["anchor_ce"] - 0.5


@pytest.mark.parametrize("key, value", [("rl.algorithm", "ppo"), ("rl.tokens", "some")])
def test_unknown_update_option_is_refused(key, value):
    section, name = key.split(".")
    with pytest.raises(BreadcrumbsError, match=f"config key '{key}' must be one of"):
        config_from_dict({"task": TASK, section: {name: value}})
