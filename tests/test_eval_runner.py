"""`evaluate` / `breadcrumbs eval`: records, matched budgets, resumable JSONL, bad input."""

from __future__ import annotations

import json

import pytest

from breadcrumbs.cli import main
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.evaluation import budget_from_reference, evaluate, parse_methods
from breadcrumbs.models import load_model
from breadcrumbs.tasks import get_task

NEW = 20


@pytest.fixture(scope="module")
def setup():
    model, tokenizer = load_model("micro")
    task = get_task("countdown")
    return model, tokenizer, task, task.generate(3, seed=0)


def lines(path):
    return path.read_text().splitlines()


def test_records_and_matched_budgets(setup, tmp_path):
    model, tokenizer, task, problems = setup
    out = tmp_path / "results.jsonl"
    result = evaluate(
        model, tokenizer, task, problems, "full,tova:@beacon:4,h2o:@beacon:4@mean", max_new_tokens=NEW,
        batch_size=2, out=out, model_id="micro",
    )
    methods = [r["method"] for r in result.records]
    assert methods == ["full"] * 3 + ["beacon:4"] * 3 + ["tova:@beacon:4"] * 3 + ["h2o:@beacon:4@mean"] * 3
    assert result.new == 12 and len(lines(out)) == 12
    records = [json.loads(line) for line in lines(out)]
    for record in records:
        for field in ("task", "family", "problem_id", "correct", "reward", "prompt_tokens", "generated_tokens",
                      "peak_kv_entries", "mean_kv_entries", "peak_kv_bytes", "mean_kv_bytes", "time_s", "model", "seed"):
            assert field in record
        assert record["model"] == "micro" and record["task"] == "countdown"
    by = {(r["method"], r["problem_id"]): r for r in records}
    for problem in problems:
        beacon, tova = by[("beacon:4", problem.id)], by[("tova:@beacon:4", problem.id)]
        assert beacon["ratio"] == 4 and tova["family"] == "tova" and tova["match"] == "beacon:4"
        assert tova["budget"] == beacon["peak_kv_entries"] - beacon["prompt_tokens"]
        assert tova["peak_kv_entries"] <= beacon["peak_kv_entries"]
        h2o = by[("h2o:@beacon:4@mean", problem.id)]
        assert abs(h2o["mean_kv_entries"] - beacon["mean_kv_entries"]) < 2.0


def test_resume_skips_done_pairs_and_drops_a_truncated_line(setup, tmp_path):
    model, tokenizer, task, problems = setup
    out = tmp_path / "results.jsonl"
    run = dict(max_new_tokens=NEW, out=out, model_id="micro")
    evaluate(model, tokenizer, task, problems, "full,beacon:4", **run)
    first = out.read_text()
    again = evaluate(model, tokenizer, task, problems, "full,beacon:4", **run)
    assert again.new == 0 and again.skipped == 6 and out.read_text() == first
    text = first.splitlines(keepends=True)
    out.write_text("".join(text[:-1]) + text[-1][: len(text[-1]) // 2])  # killed mid-write
    with pytest.warns(UserWarning, match="line 6: dropped a truncated last line"):
        resumed = evaluate(model, tokenizer, task, problems, "full,beacon:4", **run)
    assert resumed.new == 1 and resumed.skipped == 5
    assert len(lines(out)) == 6 and all(json.loads(line) for line in lines(out))
    assert [json.loads(line)["method"] for line in lines(out)][-1] == "beacon:4"
    more = evaluate(model, tokenizer, task, problems, "beacon:4,knorm:3", **run)  # new method only
    assert more.new == 3 and len(lines(out)) == 9
    with pytest.raises(BreadcrumbsError, match="max_new_tokens"):
        evaluate(model, tokenizer, task, problems, "full", max_new_tokens=NEW + 1, out=out, model_id="micro")


def test_bad_methods_fail_before_running(setup, tmp_path):
    model, tokenizer, task, problems = setup
    out = tmp_path / "results.jsonl"
    for methods in ("full,lru:3", "tova:0", "h2o:-4", "tova:x", "", "tova:@tova:@beacon:4"):
        with pytest.raises(BreadcrumbsError):
            evaluate(model, tokenizer, task, problems, methods, out=out)
    assert not out.exists()


def test_parse_methods_adds_references_first():
    labels = [m.label for m in parse_methods("tova:@beacon:8,full,snapkv:@beacon:8@mean")]
    assert labels == ["full", "beacon:8", "tova:@beacon:8", "snapkv:@beacon:8@mean"]


def test_budget_from_reference():
    record = {"peak_kv_entries": 30, "prompt_tokens": 20, "mean_kv_entries": 25.0, "generated_tokens": 11}
    assert budget_from_reference(record, "peak") == 10
    # 11 forwards hold 0, 1..10 generated entries capped at B: B=10 gives 55/11 = 5.0 exactly
    assert budget_from_reference(record, "mean") == 10
    # target 4: B=5 gives 40/11 = 3.64, B=6 gives 45/11 = 4.09 (closest), B=7 gives 49/11 = 4.45
    assert budget_from_reference({**record, "mean_kv_entries": 24.0}, "mean") == 6
    assert budget_from_reference({**record, "peak_kv_entries": 20}, "peak") == 1


def test_cli_eval_and_errors(tmp_path, capsys):
    out = tmp_path / "cli.jsonl"
    main(["eval", "--model", "micro", "--task", "linsys", "--n", "2", "--methods", "full,streaming:@beacon:4",
          "--max-new-tokens", "12", "--out", str(out), "--quiet"])
    shown = capsys.readouterr().out
    assert "6 new records" in shown and "| streaming:@beacon:4 |" in shown
    assert len(lines(out)) == 6
    for bad in (["--methods", "tova:0"], ["--methods", "nope:3"], ["--n", "0"], ["--difficulty", "x"]):
        with pytest.raises(SystemExit) as exit_:
            main(["eval", "--model", "micro", "--task", "linsys", "--out", str(out), "--quiet", *bad])
        assert exit_.value.code == 1
        error = capsys.readouterr().err
        assert error.startswith("error: ") and error.count("\n") == 1
