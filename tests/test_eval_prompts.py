"""`breadcrumbs eval --prompts FILE`: KV and agreement with the full cache on any prompts, no verifier needed;
accuracy only with a reward (called once per rollout); the report without a verifier shows agreement, no accuracy
or AUAC; matched budgets; every bad input one `error:` line with nothing written."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from cli_runner import run_cli

from breadcrumbs.evaluation import evaluate, summarize, write_report
from breadcrumbs.evaluation.agreement import agreement, first_divergence, token_agreement
from breadcrumbs.evaluation.pareto import pareto_figure
from breadcrumbs.generators import LoopGenerator
from breadcrumbs.models import load_model
from breadcrumbs.tasks.dataset import PromptsTask

PROMPTS = ["3+4=?", "1+2=?", "5+5=?"]
NEW = 8
# Logs each call's completions next to itself: the test counts calls and completions.
REWARD = '''
import json
from pathlib import Path


def exact(prompts, completions, answer, **columns):
    with open(Path(__file__).with_name("calls.log"), "a") as log:
        log.write(json.dumps(completions) + "\\n")
    return [1.0 if c.strip().endswith(f"Answer: {a}") else 0.0 for c, a in zip(completions, answer)]
'''


def write_prompts(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def micro():
    return load_model("micro")


# ----- the measures, by hand ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tokens", "reference", "divergence", "share"),
    [
        ([1, 2, 3], [1, 2, 3], None, 1.0),
        ([1, 2, 4], [1, 2, 3], 2, 2 / 3),
        ([1, 2], [1, 2, 3], 2, 2 / 3),  # a strict prefix diverges where it stops, and the longer length counts
        ([1, 2, 3, 9], [1, 2, 3], 3, 3 / 4),
        ([5, 2, 3, 4], [1, 2, 3], 0, 2 / 4),  # agreement after a divergence still counts position by position
        ([], [7], 0, 0.0),
        ([], [], None, 1.0),
    ],
)
def test_first_divergence_and_token_agreement_by_hand(tokens, reference, divergence, share) -> None:
    assert first_divergence(tokens, reference) == divergence
    assert token_agreement(tokens, reference) == pytest.approx(share)
    assert agreement(tokens, reference) == {
        "exact_match": divergence is None, "first_divergence": divergence, "token_agreement": pytest.approx(share),
    }


# ----- on a tiny model ---------------------------------------------------------------------------------------------
def test_agreement_on_a_tiny_model(qwen2_tiny, tmp_path: Path) -> None:
    """full is added and runs first; it and a policy that never evicts (tova:64 over 8 tokens) match full exactly;
    the beacon's recorded agreement is what its token ids give against full's."""
    model, tokenizer = qwen2_tiny
    task = PromptsTask(str(write_prompts(tmp_path / "p.jsonl", [{"prompt": p} for p in PROMPTS])))
    problems = task.fixed_problems()
    result = evaluate(model, tokenizer, task, problems, "beacon:2,tova:64", max_new_tokens=NEW, batch_size=2,
                      out=tmp_path / "r.jsonl", agreement=True)
    assert [r["method"] for r in result.records] == ["full"] * 3 + ["beacon:2"] * 3 + ["tova:64"] * 3
    assert lines(tmp_path / "r.jsonl") == result.records
    full = {r["problem_id"]: r["completion_ids"] for r in result.records if r["method"] == "full"}
    assert len({tuple(ids) for ids in full.values()}) > 1  # the random model writes different completions
    for record in result.records:
        assert record["correct"] is None and record["reward"] is None and record["scored"] is False
        assert {k: record[k] for k in ("exact_match", "first_divergence", "token_agreement")} == agreement(
            record["completion_ids"], full[record["problem_id"]])
    by_method = {s.method: s for s in summarize(result.records)}
    for method in ("full", "tova:64"):
        summary = by_method[method]
        assert (summary.exact_match, summary.token_agreement, summary.diverged) == (1.0, 1.0, 0)
        assert summary.first_divergence_mean is None and summary.accuracy is None
    assert by_method["beacon:2"].diverged > 0  # untrained beacons drift: the check above compared real divergences
    assert by_method["beacon:2"].peak_kv_entries < by_method["full"].peak_kv_entries


def test_a_crafted_divergence_is_found_where_it_was_made(micro, tmp_path: Path) -> None:
    """Every non-full completion gets a different token at position 3 (a backend that alters the loop's output,
    through the generator seam): exact match 0, first divergence 3 in every record (mean and median 3), token
    agreement (NEW - 1) / NEW."""
    model, tokenizer = micro
    loop = LoopGenerator()

    def altered(model, tokenizer, prompts, policy, **options):
        output = loop(model, tokenizer, prompts, policy, **options)
        if policy.label == "full":
            return output
        ids = [row[:3] + [row[3] + 1] + row[4:] for row in output.completion_ids]
        return dataclasses.replace(output, completion_ids=ids)

    task = PromptsTask(str(write_prompts(tmp_path / "p.jsonl", [{"prompt": p} for p in PROMPTS])))
    result = evaluate(model, tokenizer, task, task.fixed_problems(), "full,beacon:2", max_new_tokens=NEW,
                      agreement=True, generator=altered)
    beacon = [r for r in result.records if r["method"] == "beacon:2"]
    assert all(r["generated_tokens"] == NEW for r in result.records)  # no EOS: the crafted position exists
    assert [r["first_divergence"] for r in beacon] == [3, 3, 3]
    assert all(not r["exact_match"] and r["token_agreement"] == (NEW - 1) / NEW for r in beacon)
    summary = {s.method: s for s in summarize(result.records)}["beacon:2"]
    assert (summary.exact_match, summary.diverged) == (0.0, 3)
    assert summary.first_divergence_mean == summary.first_divergence_median == 3.0


# ----- the command and the report ----------------------------------------------------------------------------------
def test_matched_budgets_from_a_text_file_and_the_report_without_a_verifier(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A .txt file, one prompt per line (blank lines skipped); matched budgets; full added with one line; the report
    shows agreement, no accuracy, no AUAC, and the plot's y axis says agreement."""
    (tmp_path / "p.txt").write_text("\n".join(PROMPTS[:2]) + "\n\n")
    out, report = tmp_path / "r.jsonl", tmp_path / "report"
    code, stdout, err = run_cli(capsys, "eval", "--model", "micro", "--prompts", str(tmp_path / "p.txt"),
                            "--methods", "beacon:2,tova:@beacon:2,h2o:@beacon:2@mean", "--max-new-tokens", str(NEW),
                            "--out", str(out), "-q")
    assert code == 0, err
    assert "prompts p.txt: 2 prompts; no reward" in stdout
    assert stdout.count("full cache added to the methods") == 1
    records = lines(out)
    assert sorted({r["method"] for r in records}) == ["beacon:2", "full", "h2o:@beacon:2@mean", "tova:@beacon:2"]
    beacon = {r["problem_id"]: r for r in records if r["method"] == "beacon:2"}
    for record in (r for r in records if r["method"] == "tova:@beacon:2"):
        reference = beacon[record["problem_id"]]
        assert record["budget"] == reference["peak_kv_entries"] - reference["prompt_tokens"]
        assert record["peak_kv_entries"] <= reference["peak_kv_entries"]
    assert "exact match with full" in stdout and "accuracy" not in stdout.split("### prompts", 1)[1]

    code, _, err = run_cli(capsys, "report", str(out), "--out", str(report))
    assert code == 0, err
    markdown = (report / "report.md").read_text()
    table = markdown.split("### prompts\n", 1)[1]
    assert "exact match with full (95% CI)" in table and "token agreement" in table
    assert "accuracy (95% CI)" not in table and "AUAC" not in table.replace("no AUAC is computed", "")
    assert "peak-matched exact match" in markdown and "0.0%" not in table.split("|---|", 1)[0]
    summary = json.loads((report / "summary.json").read_text())
    assert summary["auac"] == {} and summary["headline"] == {"prompts": "exact_match"}
    assert all(m["accuracy"] is None and m["exact_match"] is not None for m in summary["methods"])
    figure = pareto_figure(write_report(out, tmp_path / "again", plot=False).summaries)
    assert "exact match" in figure.axes[0].get_ylabel()


def test_a_reward_adds_accuracy_and_is_called_once_per_rollout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """With answers and --reward: accuracy beside agreement; one call for the check before the model loads, then
    one per batch, every rollout scored exactly once. A later run without the reward into the same file is refused."""
    (tmp_path / "reward.py").write_text(REWARD)
    path = write_prompts(tmp_path / "p.jsonl", [{"prompt": p, "answer": str(eval(p[:-2]))} for p in PROMPTS])
    out = tmp_path / "r.jsonl"
    args = ["eval", "--model", "micro", "--prompts", str(path), "--methods", "full,beacon:2",
            "--max-new-tokens", str(NEW), "--batch-size", "2", "--out", str(out), "-q"]
    code, stdout, err = run_cli(capsys, *args, "--reward", f"{tmp_path}/reward.py:exact")
    assert code == 0, err
    calls = [json.loads(line) for line in (tmp_path / "calls.log").read_text().splitlines()]
    check, rollouts = calls[0], calls[1:]
    assert check == [f"Answer: {eval(p[:-2])}" for p in PROMPTS]  # reference completions, before any rollout
    assert [len(call) for call in rollouts] == [2, 1, 2, 1]  # two methods x batches of 2 and 1
    records = lines(out)
    assert [r["completion"] for r in records] == [c for call in rollouts for c in call]  # each scored once
    assert all(isinstance(r["correct"], bool) and r["scored"] for r in records)
    header = stdout.split("### prompts", 1)[1].splitlines()[2]
    assert "accuracy (95% CI)" in header and "exact match with full" in header

    code, _, err = run_cli(capsys, *args)
    assert code == 1 and re.fullmatch(r"error: .*r\.jsonl holds results with scored=True, this run has False.*\n", err)


@pytest.mark.parametrize(
    ("name", "content", "extra", "message"),
    [
        ("p.jsonl", "\n\n", [], r"prompts file .*p\.jsonl has no rows"),
        ("p.txt", "", [], r"prompts file .*p\.txt has no rows"),
        ("p.jsonl", '{"prompt": "a"}\n{"prompt": \n', [], r"p\.jsonl:2: invalid JSON"),
        ("p.jsonl", '{"prompt": "a"}\n\n{"prompt": 5}\n', [], r"row 2 \(p\.jsonl:3\): the prompt \('prompt'\) must be a "
         r"non-empty string, got 5"),
        ("p.jsonl", '["a"]\n', [], r"p\.jsonl:1: expected a JSON object, got list"),
        ("p.jsonl", '{"question": "a"}\n', [], r"prompts file p\.jsonl has no prompt column 'prompt' .*--column "
         r"prompt=COLUMN"),
        ("p.jsonl", '{"prompt": "a"}\n', ["--column", "answer=gold"], r"no answer column 'gold'"),
        ("p.md", "a\n", [], r"unknown format '\.md'; use \.txt \(one prompt per line\)"),
        ("p.txt", "a\n", ["--task", "countdown"], r"--task NAME or --prompts FILE \(one of them\)"),
        ("p.txt", "a\n", ["--task-path", "x.jsonl"], r"--task-path goes with --task dataset"),
    ],
)
def test_bad_prompt_files_are_one_error_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture, name: str, content: str, extra: list[str], message: str
) -> None:
    (tmp_path / name).write_text(content)
    out = tmp_path / "results" / "r.jsonl"
    code, _, err = run_cli(capsys, "eval", "--prompts", str(tmp_path / name), *extra, "--model", "micro",
                       "--max-new-tokens", "4", "--out", str(out), "-q")
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and re.search(message, err), err
    assert not out.parent.exists()


def test_neither_task_nor_prompts_is_one_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_cli(capsys, "eval", "--model", "micro", "--out", str(tmp_path / "r.jsonl"))
    assert code == 1 and err == "error: name what to evaluate: --task NAME or --prompts FILE (one of them)\n"
