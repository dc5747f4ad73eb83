"""Held-out hygiene (issue 12): evaluation problems never occur in a training stream; per-stage difficulty; the
GRPO diagnostics; ratios drawn from a whole range; the run's time budget."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.tasks import Problem, get_task
from task_names import GENERATED
from breadcrumbs.training import config_from_dict, train
from breadcrumbs.training.data import ProblemSource, sample_ratios
from breadcrumbs.training.rl import Rollouts, rollout_sums

SMALL = {
    "countdown": {"k": 3, "max_number": 6, "max_target": 20, "backtracks": 0},
    "linsys": {"unknowns": 2, "max_coef": 2, "max_value": 3},
    "stargraph": {"d": 2, "l": 3, "labels": 10, "compact": 1},
}


@pytest.mark.parametrize("name", GENERATED)
def test_training_streams_never_meet_evaluation_sets(name):
    """Small difficulties, where many problems repeat: every training problem of several stages, steps, seeds
    and a fixed pool is in the train split; every evaluation set (trainer dev set, any `test` draw) is not."""
    task = get_task(name)
    config = config_from_dict({"task": {"name": name, "difficulty": SMALL[name], "eval_problems": 64},
                               "sft": {"steps": 1}})
    keys = {}
    for seed in (0, 1):
        source = ProblemSource(task, config.task, seed)
        for stage in ("sft", "rl", "distill"):
            for step in range(8):
                for problem in source.batch(stage, step, 16):
                    keys[task.problem_key(problem.data)] = "train"
        held = source.eval_problems() + task.generate(200, seed=seed, split="test", **SMALL[name])
        held_keys = {task.problem_key(p.data) for p in held}
        assert held_keys and not held_keys & set(keys)
    pool = ProblemSource(task, config_from_dict({"task": {"name": name, "difficulty": SMALL[name],
                                                           "train_problems": 100}, "sft": {"steps": 1}}).task, 0)
    assert all(task.split_of(p.data) == "train" for p in pool.pool)
    # the unfiltered stream does contain held-out problems at these sizes, so the filter is doing the work
    unfiltered = task.generate(400, seed=3, **SMALL[name])
    assert {task.split_of(p.data) for p in unfiltered} == {"train", "dev", "test"}


def test_canonical_keys_ignore_presentation():
    countdown, stargraph = get_task("countdown"), get_task("stargraph")
    assert countdown.problem_key({"numbers": [3, 9, 4], "target": 10}) == countdown.problem_key(
        {"numbers": [9, 4, 3], "target": 10, "answer": "9+4-3"})
    assert countdown.problem_key({"numbers": [3, 9, 4], "target": 10}) != countdown.problem_key(
        {"numbers": [3, 9, 4], "target": 11})
    problem = stargraph.generate(1, seed=5, **SMALL["stargraph"])[0].data
    shuffled = dict(problem, edges=random.Random(0).sample(problem["edges"], len(problem["edges"])))
    assert stargraph.problem_key(shuffled) == stargraph.problem_key(problem)
    assert stargraph.split_of(shuffled) == stargraph.split_of(problem)


def test_split_ids_and_errors():
    task = get_task("countdown")
    assert [p.id for p in task.generate(2, seed=4, split="test")] == ["countdown-test-4-0", "countdown-test-4-1"]
    with pytest.raises(BreadcrumbsError, match="unknown split 'eval'"):
        task.generate(1, seed=0, split="eval")


def test_each_stage_draws_its_own_difficulty():
    config = config_from_dict({
        "task": {"name": "countdown", "difficulty": {"k": 3, "max_number": 9}},
        "sft": {"steps": 1, "difficulty": {"backtracks": 0}}, "rl": {"difficulty": {"k": 4}},
        "eval": {"difficulty": {"backtracks": 2}},
    })
    source = ProblemSource(get_task("countdown"), config.task, 0,
                           {"sft": config.sft.difficulty, "rl": config.rl.difficulty, "eval": config.eval.difficulty})
    assert {len(p.data["numbers"]) for p in source.batch("sft", 0, 8)} == {3}
    assert {len(p.data["numbers"]) for p in source.batch("rl", 0, 8)} == {4}
    assert all(p.difficulty["backtracks"] == 2 and p.difficulty["max_number"] == 9 for p in source.eval_problems())
    with pytest.raises(BreadcrumbsError, match="config key 'rl.difficulty'.*k=9"):
        config_from_dict({"task": {"name": "countdown"}, "sft": {"steps": 1}, "rl": {"difficulty": {"k": 9}}})


def test_grpo_diagnostics_count_groups_with_signal_and_pass_at_g():
    correct = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]) >= 1.0  # groups of 4
    # rewards shaped by trace errors: the first group's equal answers still differ in reward, the last does not
    rewards = correct.float() - torch.tensor([0.0, 0.1, 0.0, 0.0] + [0.0] * 4 + [0.2] * 4)
    problem = Problem("countdown", "x", {})
    rollouts = Rollouts([problem] * 12, [[1]] * 12, [[2]] * 12, [""] * 12, rewards, correct, rewards, [4] * 12, 1.0,
                        [])
    rollouts.stats = [type("S", (), {"stop_reason": "eos", "peak_kv_entries": 3, "prompt_tokens": 1,
                                      "generated_tokens": 1})()] * 12
    means = {name: total / count for name, (total, count) in rollout_sums(rollouts, 4).values.items()}
    assert means["signal_groups"] == pytest.approx(2 / 3)  # groups whose rewards differ give GRPO a gradient
    assert means["pass_at_g"] == pytest.approx(2 / 3) and means["accuracy"] == pytest.approx(5 / 12)


def test_ratio_range_draws_every_ratio_log_uniformly():
    config = config_from_dict({"task": {"name": "countdown"}, "sft": {"steps": 1},
                               "beacon": {"ratios": [2, 32], "sampling": "range"}})
    values, weights = config.beacon.choices()
    assert values == list(range(2, 33)) and sum(weights) == pytest.approx(math.log(33 / 2))
    draws = sample_ratios(values, 20_000, seed=0, weights=weights)
    assert set(draws) == set(values)
    low = sum(2 <= c < 4 for c in draws) / len(draws)  # [2, 4) and [16, 32) carry equal log-mass
    high = sum(16 <= c < 32 for c in draws) / len(draws)
    assert low == pytest.approx(high, abs=0.02) and low == pytest.approx(math.log(2) / math.log(33 / 2), abs=0.02)
    with pytest.raises(BreadcrumbsError, match=r"\[low, high\]"):
        config_from_dict({"task": {"name": "countdown"}, "sft": {"steps": 1},
                          "beacon": {"ratios": [2, 4, 8], "sampling": "range"}})


def test_time_budget_stops_the_run_and_resume_keeps_it_stopped(tmp_path):
    config = config_from_dict({
        "model": {"name": "micro"}, "task": {"name": "countdown", "difficulty": SMALL["countdown"],
                                              "eval_problems": 2, "style": "direct"},
        "sft": {"steps": 10_000, "batch_size": 2}, "eval": {"max_new_tokens": 4},
        "checkpoint": {"every": 10_000}, "time_budget_s": 1e-9,
    })
    final = train(config, tmp_path, progress=False, device="cpu")
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [1]
    assert [r["kind"] for r in records].count("eval") == 1 and final.name == "step-1"
    assert train(None, tmp_path, resume=True, progress=False, device="cpu").name == "step-1"
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == len(records)


def test_countdown_echo_repeats_the_target_on_every_move_line():
    task = get_task("countdown")
    for problem in task.generate(20, seed=3, k=3, max_number=9, max_target=50, echo=1):
        lines = task.solve(problem).splitlines()
        target = problem.data["target"]
        moves = [line for line in lines[:-1] if line != "back"]
        assert all(f"=" in line and f" ({target})" in line for line in moves)
        assert moves[-1].endswith(f"={target} ({target})") and task.verify(problem, "\n".join(lines)) == 1.0
        plain = task.solve(problem.__class__(problem.task, problem.id, problem.data, dict(problem.difficulty, echo=0)))
        assert plain == "\n".join(line.replace(f" ({target})", "") for line in lines)
