"""Bad input across every command: one `error:` line, a non-zero exit, no traceback, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from breadcrumbs.cli import main


def run(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.err


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "not-a-dir").write_text("a file")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "config.json").write_text("{broken")
    (tmp_path / "bad.yaml").write_text("task: [unclosed\n")
    (tmp_path / "unknown-key.yaml").write_text("task: {name: countdown}\nsft: {stepz: 3}\n")
    (tmp_path / "bad-ratio.yaml").write_text("task: {name: countdown}\nbeacon: {ratios: [0]}\n")
    (tmp_path / "group.yaml").write_text("task: {name: countdown}\nrl: {steps: 1, batch_size: 10, group_size: 4}\n")
    (tmp_path / "results.jsonl").write_text("{not json\n")
    return tmp_path


CASES = [
    (["demo", "--task", "sudoku", "--out", "{w}/d"], "unknown demo task 'sudoku'"),
    (["demo", "--out", "{w}/not-a-dir/sub", "--micro"], "is a file, not a folder"),
    (["generate", "-p", "x", "--policy", "beacon:0"], "ratio must be an integer >= 1"),
    (["generate", "-p", "x", "--policy", "sliding:4"], "unknown policy 'sliding'"),
    (["generate", "-p", "x", "--model", "{w}/missing"], "no model at"),
    (["generate", "-p", "x", "--model", "{w}/corrupt"], "could not load the checkpoint"),
    (["generate", "-p", "x", "-m", "micro", "-p", "y" * 3000], "shorten the prompt"),
    (["eval", "--task", "sudoku", "--out", "{w}/r.jsonl", "-m", "micro"], "unknown task 'sudoku'"),
    (["eval", "--task", "countdown", "--out", "{w}/r.jsonl", "--methods", "tova:0"], "budget"),
    (["eval", "--task", "countdown", "--out", "{w}/r.jsonl", "--methods", "magic:4"], "magic"),
    (["report", "{w}/results.jsonl", "--out", "{w}/rep"], "no usable result records"),
    (["report", "{w}/absent.jsonl", "--out", "{w}/rep"], "absent.jsonl"),
    (["train", "--config", "{w}/bad.yaml", "--out", "{w}/t"], "bad.yaml"),
    (["train", "--config", "{w}/unknown-key.yaml", "--out", "{w}/t"], "stepz"),
    (["train", "--config", "{w}/bad-ratio.yaml", "--out", "{w}/t"], "ratio"),
    (["train", "--config", "{w}/group.yaml", "--out", "{w}/t"], "group"),
    (["train", "--config", "{w}/none.yaml", "--out", "{w}/t"], "none.yaml"),
    (["train", "--resume", "--out", "{w}/never-ran"], "no run at"),
    (["tasks", "sample", "--task", "countdown", "--n", "2", "--difficulty", "k=99"], "k"),
    (["generate", "-p", "x", "--temperature", "warm"], "temperature"),
]


@pytest.mark.parametrize("args, message", CASES, ids=[" ".join(a[:2]) + f"-{i}" for i, (a, _) in enumerate(CASES)])
def test_bad_input_gives_one_clear_line(capsys, workdir, args, message):
    code, err = run(capsys, *[arg.replace("{w}", str(workdir)) for arg in args])
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and message in lines[0], err
    assert "Traceback" not in err
    assert not (workdir / "t" / "checkpoints").exists() and not (workdir / "rep" / "report.md").exists()
