"""`breadcrumbs tasks sample | score | list` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breadcrumbs.cli import main
from breadcrumbs.tasks import Problem, get_task


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["tasks", "list"], capsys)
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines()] == ["countdown", "dataset", "linsys", "stargraph"]
    assert "[breadcrumbs (built-in)]" in out
    assert "k=4 (3..6)" in out


def test_sample_prints_problems_with_prompt_and_trace(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["tasks", "sample", "--task", "stargraph", "--n", "4", "--seed", "3", "-d", "d=3",
                        "--difficulty", "l=4", "--trace", "search"], capsys)
    assert code == 0
    task = get_task("stargraph")
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 4
    for record in records:
        problem = Problem.from_json(record)
        assert problem.difficulty == {"d": 3, "l": 4, "labels": 100, "compact": 0}
        assert record["prompt"] == task.prompt(problem) and record["style"] == "search"
        assert task.verify(problem, record["completion"]) == 1.0
    assert records == [json.loads(line) for line in run(
        ["tasks", "sample", "-t", "stargraph", "-n", "4", "--seed", "3", "-d", "d=3", "-d", "l=4", "--trace",
         "search"], capsys)[1].splitlines()]


def test_sample_stats_table(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["tasks", "sample", "-t", "linsys", "-n", "50", "--stats", "-d", "unknowns=2"], capsys)
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert set(rows) == {"prompt", "search", "direct"} and all(len(v) == 4 for v in rows.values())
    assert float(rows["search"][0]) > float(rows["direct"][0])


def test_score_reports_accuracy_and_skips_malformed_lines(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["tasks", "sample", "-t", "countdown", "-n", "6", "--trace", "direct"], capsys)
    records = [json.loads(line) for line in out.splitlines()]
    records[0]["completion"] = "Answer: 1+1"
    records[1] = {"problem": {k: v for k, v in records[1].items() if k != "completion"},
                  "completion": records[1]["completion"]}
    lines = [json.dumps(r) for r in records] + ["{oops", json.dumps({"id": "x", "data": {}, "completion": "a"}), "[]"]
    path = tmp_path / "completions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = run(["tasks", "score", "--task", "countdown", str(path)], capsys)
    assert code == 0
    assert out.startswith("accuracy: 0.8333 (5/6 correct") and "3 malformed lines skipped" in out
    assert [line.split(": ")[1] for line in err.splitlines()] == [f"{path}:{n}" for n in (7, 8, 9)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tasks", "sample", "--task", "nope"], "error: unknown task 'nope'; known tasks: countdown, dataset, linsys,"),
        (["tasks", "sample", "-t", "countdown", "-d", "k=9"], "error: difficulty knob k=9"),
        (["tasks", "sample", "-t", "countdown", "-d", "k"], "error: --difficulty expects KNOB=INTEGER"),
        (["tasks", "sample", "-t", "countdown", "--trace", "long"], "error: --trace must be one of"),
        (["tasks", "score", "-t", "nope", "x.jsonl"], "error: unknown task 'nope'"),
        (["tasks", "score", "-t", "linsys", "/nonexistent.jsonl"], "error: cannot read /nonexistent.jsonl"),
    ],
)
def test_bad_input_is_one_error_line(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(argv, capsys)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(message)


@pytest.mark.parametrize("command", ["sample", "score", "list"])
def test_every_command_has_help_with_an_example(command: str, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["tasks", command, "--help"], capsys)
    assert code == 0 and "Example" in out and "breadcrumbs tasks" in out
