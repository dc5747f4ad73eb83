"""Budget sweeps: candidates tuned on dev, only the chosen setting runs on test, settings recorded, curves reported."""

from __future__ import annotations

import json

import pytest

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.evaluation import write_report
from breadcrumbs.evaluation.sweep import choose, spec_for, sweep
from breadcrumbs.policies import families
from breadcrumbs.tasks import get_task


def test_choose_prefers_dev_accuracy_then_the_default():
    specs = ["snapkv:8", "snapkv:8:window=2:kernel=1", "snapkv:8:window=4:kernel=3"]
    assert choose(specs, {specs[0]: 0.5, specs[1]: 0.7, specs[2]: 0.7}) == specs[1]
    assert choose(specs, {spec: 0.0 for spec in specs}) == specs[0]


def test_grids_build_valid_distinct_policies():
    for record in families(swept=True):
        family = record.name
        for budget in (1, 4, 16):
            specs = [spec_for(family, budget, setting) for setting in record.grid(budget)]
            assert specs[0] == f"{family}:{budget}" or family == "tova"  # the default setting first
            assert all(spec.startswith(f"{family}:{budget}") for spec in specs)


def test_sweep_tunes_on_dev_and_runs_the_choice_on_test(qwen2_tiny, tmp_path):
    model, tokenizer = qwen2_tiny
    task = get_task("stargraph")
    knobs = {"d": 2, "l": 3, "labels": 10, "compact": 1}
    dev = task.generate(3, seed=1, split="dev", **knobs)
    test = task.generate(3, seed=1, split="test", **knobs)
    result = sweep(model, tokenizer, task, dev, test, ["streaming", "knorm"], [2, 6], tmp_path, extra_methods=["full"],
                   max_new_tokens=8, batch_size=4)
    tuning = json.loads(result.tuning.read_text())
    assert {(t["family"], t["budget"]) for t in tuning} == {("streaming", 2), ("streaming", 6), ("knorm", 2), ("knorm", 6)}
    dev_methods = {json.loads(line)["method"] for line in result.dev.read_text().splitlines()}
    assert dev_methods == {spec for t in tuning for spec in t["dev_accuracy"]}
    assert "streaming:6:sinks=4" in dev_methods and "streaming:2:sinks=4" not in dev_methods  # pins < budget
    test_records = [json.loads(line) for line in result.results.read_text().splitlines()]
    assert {r["method"] for r in test_records} == {"full"} | {t["chosen"] for t in tuning}
    assert {r["problem_id"] for r in test_records} == {p.id for p in test}
    for record in test_records:
        if record["family"] != "full":
            assert record["settings"] == next(t["settings"] for t in tuning if t["chosen"] == record["method"])
    report = write_report(result.results, tmp_path / "report")
    assert "side state (peak)" in report.markdown and "†" not in report.markdown  # vectorised: no reference marks
    with pytest.raises(BreadcrumbsError, match="overlap"):
        sweep(model, tokenizer, task, dev, dev, ["streaming"], [2], tmp_path / "x", max_new_tokens=4)
    with pytest.raises(BreadcrumbsError, match="cannot sweep"):
        sweep(model, tokenizer, task, dev, test, ["beacon"], [2], tmp_path / "x", max_new_tokens=4)


def test_sweep_and_report_commands(tmp_path, capsys):
    from breadcrumbs.cli import main

    knobs = ["--difficulty", "d=2", "--difficulty", "l=3", "--difficulty", "labels=10", "--difficulty", "compact=1"]
    main(["sweep", "--model", "micro", "--task", "stargraph", *knobs, "--families", "streaming,rkv", "--budgets", "2,5",
          "--extra", "full,beacon:4", "--n", "2", "--n-dev", "2", "--max-new-tokens", "6", "--out", str(tmp_path / "s"),
          "--quiet"])
    tuning = json.loads((tmp_path / "s" / "tuning.json").read_text())
    assert len(tuning) == 4 and all(t["dev_problems"] == 2 for t in tuning)
    other = tmp_path / "other.jsonl"
    other.write_text((tmp_path / "s" / "results.jsonl").read_text().replace('"beacon:4"', '"beacon:4x"'))
    main(["report", str(tmp_path / "s" / "results.jsonl"), str(other), "--out", str(tmp_path / "r"), "--no-plot"])
    report = (tmp_path / "r" / "report.md").read_text()
    assert "results.jsonl`, `other.jsonl" in report and "beacon:4x" in report
    with pytest.raises(SystemExit):
        main(["sweep", "--model", "micro", "--task", "stargraph", "--budgets", "4,x", "--out", str(tmp_path / "t")])
    assert "error: --budgets expects comma-separated whole numbers" in capsys.readouterr().err
