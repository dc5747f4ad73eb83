"""Beacons with an eviction lag (a raw tail of recent windows): views, specs, config checks and training.

The mask-vs-eviction exactness of lagged beacons is proven with every other view in test_equivalence.py."""

from __future__ import annotations

import json

import pytest
import yaml

from breadcrumbs.beacon.layout import LaggedBeacons, student_views
from breadcrumbs.beacon.spelling import view_name
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.policies import BeaconPolicy, policy_from_spec, student_policy
from breadcrumbs.training import load_config
from breadcrumbs.training.trainer import Trainer


def test_views_specs_and_labels():
    assert student_views("beacon", [4, 8], lag=2) == [LaggedBeacons(4, 2), LaggedBeacons(8, 2)]
    assert student_views("beacon", [4], lag=0) == [4]
    assert view_name(LaggedBeacons(8, 2)) == "c8-lag2" and view_name(8) == "c8"
    policy = policy_from_spec("beacon:8:lag=2")
    assert isinstance(policy, BeaconPolicy) and (policy.ratio, policy.lag) == (8, 2)
    assert policy.label == "beacon:8:lag=2" and policy_from_spec(policy.label).label == policy.label
    assert student_policy(LaggedBeacons(8, 2)).label == "beacon:8:lag=2"
    assert policy_from_spec("beacon:8:lag=0").label == "beacon:8"
    # capacity covers the raw tail: prompt + beacons + lag + 1 windows
    assert policy.capacity(10, 100) == 10 + 12 + 24


def test_baselines_match_lagged_beacons():
    """After `@`, a setting the baseline does not take belongs to the matched method; the label rebuilds the spec."""
    matched = policy_from_spec("tova:@beacon:8:lag=2@mean:recent=2")
    assert (matched.match.reference, matched.match.statistic, matched.recent) == ("beacon:8:lag=2", "mean", 2)
    assert policy_from_spec(matched.label).label == matched.label == "tova:@beacon:8:lag=2@mean:recent=2"
    with pytest.raises(BreadcrumbsError, match="unknown setting 'lag'; tova takes: recent"):
        policy_from_spec("tova:16:lag=2")


@pytest.mark.parametrize(("make", "message"), [
    (lambda: policy_from_spec("beacon:8:lag=-1"), "lag must be an integer >= 0"),
    (lambda: policy_from_spec("beacon:8:lag=1.5"), "lag must be an integer >= 0"),
    (lambda: policy_from_spec("beacon:8:keep=2"), "unknown setting 'keep'; beacon takes: lag"),
    (lambda: LaggedBeacons(8, 0), "lag 0 is the plain ratio"),
    (lambda: student_views("window", [8], lag=1), "applies to the beacon layout only"),
])
def test_bad_lag_is_one_clear_error(make, message):
    with pytest.raises(BreadcrumbsError, match=message):
        make()


MICRO = """
seed: 0
model: {name: micro}
task: {name: countdown, difficulty: {k: 3, max_number: 9, max_target: 30}, eval_problems: 2}
beacon: {ratios: [2], lag: %s, layout: %s}
eval: {max_new_tokens: 12, ratios: [2]}
sft: {steps: 2, batch_size: 2, student_weight: 1.0}
checkpoint: {every: 100, keep: 1}
"""


@pytest.mark.parametrize(("lag", "layout", "message"), [
    (-1, "beacon", "'beacon.lag'"), (1, "window", "'beacon.lag' applies to beacon.layout: beacon only"),
])
def test_bad_lag_in_config(tmp_path, lag, layout, message):
    config = MICRO.replace("ratios", "windows") if layout == "window" else MICRO  # `beacon.windows`: the window's sizes
    (tmp_path / "c.yaml").write_text(config % (lag, layout))
    with pytest.raises(BreadcrumbsError, match=message):
        load_config(str(tmp_path / "c.yaml"))


def test_training_with_a_lag_logs_the_lagged_student(tmp_path):
    (tmp_path / "c.yaml").write_text(MICRO % (1, "beacon"))
    trainer = Trainer(load_config(str(tmp_path / "c.yaml")), tmp_path / "run", progress=False, echo=False)
    trainer.run()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    final = [r for r in records if r["kind"] == "eval"][-1]
    assert "acc_c2-lag1" in final and "kv_peak_c2-lag1" in final
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["beacon"]["lag"] == 1


def test_lagged_beacons_are_their_own_family_in_reports():
    """A raw tail is another method: its own curve and AUAC, even in results that recorded it as `beacon`."""
    from breadcrumbs.evaluation import summarize
    from breadcrumbs.evaluation.auac import auac

    def record(method, family, problem, correct, peak):
        return {"task": "countdown", "method": method, "family": family, "problem_id": problem, "correct": correct,
                "generated_tokens": 10, "time_s": 1.0, "peak_kv_entries": peak, "mean_kv_entries": peak,
                "peak_kv_bytes": peak, "mean_kv_bytes": peak, "prompt_tokens": 5, "ratio": 8}

    records = [record(method, family, p, p % 2 == 0, peak) for p in range(4) for method, family, peak in
               (("full", "full", 40), ("beacon:8", "beacon", 10), ("beacon:8:lag=2", "beacon", 20))]
    families = {s.method: s.family for s in summarize(records)}
    assert families == {"full": "full", "beacon:8": "beacon", "beacon:8:lag=2": "beacon-lag2"}
    assert {"beacon", "beacon-lag2"} <= set(auac(summarize(records))["countdown"])
