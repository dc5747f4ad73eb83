"""End to end on CPU: the supervised warm start learns the solver traces, and RL (+ distillation) steps run with
finite metrics, writing a complete run directory."""

from __future__ import annotations

import json
import math

import pytest
import torch

from breadcrumbs.models import beacon_token_id, build_preset_model, load_model
from breadcrumbs.tasks import get_task
from breadcrumbs.training import config_from_dict, train
from breadcrumbs.training.data import encode_traces
from breadcrumbs.training.runtime import Runtime
from breadcrumbs.training.sft import sft_loss

TASK = {"name": "countdown", "difficulty": {"k": 3, "max_number": 6, "max_target": 20}, "style": "direct",
        "eval_problems": 8}


def heldout_scores(model, tokenizer) -> dict:
    """Teacher-forced CE and next-token accuracy on held-out solver traces, teacher and student (c=4) layouts."""
    task = get_task("countdown")
    problems = task.generate(24, seed=12345, **TASK["difficulty"])
    prompts, completions = encode_traces(tokenizer, task, problems, "direct")
    rt = Runtime(model, model, tokenizer)
    with torch.no_grad():
        _, sums = sft_loss(rt, prompts, completions, [4] * len(prompts), 1.0, 1.0)
    means = {name: total / count for name, (total, count) in sums.values.items()}
    return means


def test_sft_lowers_loss_and_raises_trace_accuracy(tmp_path):
    config = config_from_dict({
        "model": {"name": "micro"}, "task": TASK, "beacon": {"ratios": [4]},
        "sft": {"steps": 40, "batch_size": 16, "lr": 0.01, "warmup_steps": 4},
        "rl": {"max_new_tokens": 40}, "checkpoint": {"every": 20, "keep": 1},
    })
    before_model, tokenizer = build_preset_model("micro", seed=0)
    before = heldout_scores(before_model.eval(), tokenizer)
    final = train(config, tmp_path / "run", progress=False)
    after_model, after_tokenizer = load_model(str(final))
    after = heldout_scores(after_model, after_tokenizer)
    print({k: (round(before[k], 3), round(after[k], 3)) for k in before})
    for layout in ("teacher", "student"):
        assert after[f"ce_{layout}"] < before[f"ce_{layout}"] - 1.5
        assert after[f"token_acc_{layout}"] > before[f"token_acc_{layout}"] + 0.3
    # the run directory
    run = tmp_path / "run"
    assert final == (run / "checkpoints" / "step-40").resolve()
    assert (run / "checkpoints" / "latest").resolve() == final
    assert not (run / "checkpoints" / "step-20").exists()  # keep: 1
    assert beacon_token_id(after_tokenizer) == beacon_token_id(tokenizer)
    for name in ("config.yaml", "metrics.jsonl", "train.log", "training_curves.png"):
        assert (run / name).is_file(), name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == list(range(1, 41))
    assert any(r["kind"] == "eval" and "acc_c4" in r for r in records)


@pytest.mark.parametrize("mode", ["joint", "two_stage"])
def test_rl_steps_run_with_finite_metrics(tmp_path, mode):
    config = config_from_dict({
        "model": {"name": "micro"}, "task": TASK, "beacon": {"ratios": [2, 4, 8]},
        "sft": {"steps": 1, "batch_size": 4},
        "rl": {"steps": 2, "batch_size": 8, "group_size": 4, "max_new_tokens": 16, "kl_coef": 0.05,
               "updates_per_batch": 2, "minibatch_size": 4, "format_reward": 0.1},
        "distill": {"mode": mode, "steps": 1 if mode == "two_stage" else 0, "schedule": "linear_warmup",
                    "warmup_steps": 2},
        "eval": {"max_new_tokens": 16}, "checkpoint": {"every": 100},
    })
    train(config, tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "train" and r["stage"] != "sft"]
    assert len(steps) == (2 if mode == "joint" else 3)
    for record in steps:
        for key, value in record.items():
            if isinstance(value, float):
                assert math.isfinite(value), (key, value)
    rl_steps = [r for r in steps if r["stage"] == "rl"]
    for key in ("reward", "accuracy", "pg_loss", "ref_kl", "entropy", "clip_frac", "kv_peak_full",
                "kv_peak_student", "gen_tokens_per_s", "train_tokens_per_s", "step_time_s"):
        assert key in rl_steps[0], key
    assert rl_steps[0]["kv_peak_student"] < rl_steps[0]["kv_peak_full"]
    if mode == "joint":
        assert all(r["distill_kl"] > 0 for r in rl_steps)
        assert [r["distill_weight"] for r in rl_steps] == [0.5, 1.0]
    else:
        assert all("distill_kl" not in r for r in rl_steps)  # RL first, without distillation ...
        distill = [r for r in steps if r["stage"] == "distill"]
        assert distill[0]["distill_kl"] > 0 and "pg_loss" not in distill[0]  # ... then distillation only


def test_student_ce_starts_at_student_start(tmp_path):
    config = config_from_dict({
        "model": {"name": "micro"}, "task": {**TASK, "eval_problems": 2}, "beacon": {"ratios": [2]},
        "sft": {"steps": 5, "batch_size": 4, "student_start": 3}, "rl": {"max_new_tokens": 16},
    })
    train(config, tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    with_student = [r["step"] for r in records if r["kind"] == "train" and "ce_student" in r]
    assert with_student == [4, 5]  # SFT steps are 0-based: steps 3 and 4 are global steps 4 and 5
