"""The trained sliding-window control: config option, training through SFT + joint RL/distillation, serving spec."""

from __future__ import annotations

import json

import pytest
import torch

from breadcrumbs.beacon import build_student_batch
from breadcrumbs.beacon.layout import SlidingWindow, expected_peak_entries, student_views
from breadcrumbs.beacon.masks import dense_mask
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.policies import WindowPolicy, policy_from_spec
from breadcrumbs.training import config_from_dict, train

TASK = {"name": "countdown", "difficulty": {"k": 3, "max_number": 6, "max_target": 20}, "style": "direct",
        "eval_problems": 4}


def test_window_mask_sees_prompt_and_last_b_generated_tokens():
    batch = build_student_batch([[1, 2]], [[5, 6, 7, 8, 9]], SlidingWindow(2), beacon_id=99, pad_id=0)
    mask = dense_mask(batch)[0, 0].int().tolist()
    assert batch.input_ids.tolist() == [[1, 2, 5, 6, 7, 8, 9]]  # no beacon fed
    assert batch.position_ids.tolist() == [[0, 1, 2, 3, 4, 5, 6]]
    assert mask[6] == [1, 1, 0, 0, 0, 1, 1]  # token 9: prompt + {8, 9}
    assert mask[3] == [1, 1, 1, 1, 0, 0, 0]  # token 6: prompt + {5, 6}
    assert expected_peak_entries(2, 4, SlidingWindow(2)) == 4 and expected_peak_entries(2, 1, SlidingWindow(2)) == 3


def test_views_and_specs():
    assert student_views("window", [4, 8]) == [SlidingWindow(4), SlidingWindow(8)]
    assert student_views("beacon", [4]) == [4]
    policy = policy_from_spec("window:8")
    assert isinstance(policy, WindowPolicy) and policy.label == "window:8" and policy.sinks == 0
    with pytest.raises(BreadcrumbsError, match="sliding window size"):
        SlidingWindow(0)
    with pytest.raises(BreadcrumbsError, match="beacon.layout"):
        config_from_dict({"task": {"name": "countdown"}, "beacon": {"layout": "windows"}})


def test_window_layout_trains_with_the_beacon_recipe(tmp_path):
    config = config_from_dict({
        "model": {"name": "micro"}, "task": TASK, "beacon": {"windows": [3], "layout": "window"},
        "sft": {"steps": 2, "batch_size": 4},
        "rl": {"steps": 1, "batch_size": 4, "group_size": 2, "max_new_tokens": 12},
        "eval": {"max_new_tokens": 12}, "checkpoint": {"every": 100},
    })
    train(config, tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["kind"] == "eval"]
    assert evals and all("acc_w3" in r and "acc_c3" not in r for r in evals)
    assert all(r["kv_peak_w3"] < r["kv_peak_full"] for r in evals)
    rl = [r for r in records if r["kind"] == "train" and r["stage"] == "rl"]
    assert rl[0]["distill_kl"] > 0 and torch.isfinite(torch.tensor(rl[0]["distill_kl"]))
    assert rl[0]["kv_peak_student"] < rl[0]["kv_peak_full"]
