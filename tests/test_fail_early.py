"""Issue 24 item 6: a command that cannot succeed on its inputs says so before any work, in one `error:` line, and
leaves nothing on disk; files with a UTF-8 byte-order mark lose no record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breadcrumbs.cli import main
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.evaluation.results import read_results
from breadcrumbs.files import undone_on_error
from breadcrumbs.tasks import get_task
from breadcrumbs.tasks.io import load_problems

ROOT = Path(__file__).resolve().parents[1]
MICRO_RUN = (
    "model: {name: micro}\n"
    "task: {name: countdown, difficulty: {k: 3, max_number: 6, max_target: 20}, style: direct, eval_problems: 0}\n"
    "sft: {steps: 2, batch_size: 2}\n"
    "checkpoint: {every: 1}\n"
)


def run(capsys, *args) -> tuple[int, str]:
    """Exit code and stderr of one in-process CLI call."""
    code = 0
    try:
        main([str(arg) for arg in args])
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def one_error(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    return lines[0]


def micro_config(tmp_path: Path) -> Path:
    path = tmp_path / "micro.yaml"
    path.write_text(MICRO_RUN)
    return path


def test_max_new_tokens_is_bounded_at_config_validation(tmp_path, capsys):
    out = tmp_path / "runs" / "huge"
    code, err = run(capsys, "train", "--config", ROOT / "configs/countdown-tiny.yaml", "--out", out, "--quiet",
                    "--set", "eval.max_new_tokens=1000000000000")
    line = one_error(code, err)
    assert "config key 'eval.max_new_tokens' must be in [0, 1048576], got 1000000000000" in line
    assert not (tmp_path / "runs").exists()


def test_max_new_tokens_beyond_the_model_context_is_refused_before_training(tmp_path, capsys):
    out = tmp_path / "run"
    code, err = run(capsys, "train", "--config", micro_config(tmp_path), "--out", out, "-q",
                    "--set", "eval.max_new_tokens=1000000")
    line = one_error(code, err)
    assert "config key 'eval.max_new_tokens' is 1000000" in line and "the model's context is" in line, line
    assert not out.exists()


def test_batch_that_cannot_fit_is_refused_by_the_memory_estimate(tmp_path, capsys):
    out = tmp_path / "run"
    code, err = run(capsys, "train", "--config", ROOT / "configs/countdown-tiny.yaml", "--out", out, "--quiet",
                    "--set", "sft.batch_size=100000000", "--device", "cpu")
    line = one_error(code, err)
    assert "this config needs an estimated" in line and "bytes" in line and "free" in line, line
    assert "SFT step" in line and "lower sft.batch_size" in line and "train --plan" in line, line
    assert not out.exists()


def test_plan_shows_the_sft_step_and_host_share(capsys):
    code = 0
    try:
        main(["train", "--config", str(ROOT / "configs/countdown-tiny.yaml"), "--plan"])
    except SystemExit as exit_:
        code = exit_.code
    text = capsys.readouterr().out
    assert code == 0 and "SFT step (one micro-batch)" in text and "host (CPU memory)" in text, text


def test_failed_start_leaves_no_run_directory(tmp_path, capsys):
    """An input error found only once the trainer started (the model cannot be loaded) used to leave config.yaml
    and an empty train.log: the folders this invocation created are removed, parents included."""
    out = tmp_path / "new" / "run"
    code, err = run(capsys, "train", "--config", micro_config(tmp_path), "--out", out, "-q",
                    "--set", f"model.name={tmp_path / 'no-such-model'}")
    assert "no model at" in one_error(code, err)
    assert not (tmp_path / "new").exists()


def test_failed_start_in_an_existing_folder_removes_only_what_it_wrote(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, err = run(capsys, "train", "--config", micro_config(tmp_path), "--out", out, "-q",
                    "--set", f"model.name={tmp_path / 'no-such-model'}")
    assert "no model at" in one_error(code, err)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_refused_command_never_removes_an_existing_run(tmp_path, capsys):
    out = tmp_path / "run"
    config = micro_config(tmp_path)
    code, err = run(capsys, "train", "--config", config, "--out", out, "-q")
    assert code == 0, err
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    code, err = run(capsys, "train", "--config", config, "--out", out, "-q")  # no --resume: refused
    assert "already holds a run" in one_error(code, err)
    code, err = run(capsys, "train", "--out", out, "--resume", "-q", "--device", "cuda:7")
    assert code == 1
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before


def test_undone_on_error_keeps_the_work_of_a_run(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(BreadcrumbsError):
        with undone_on_error(out, keep=("checkpoints",)):
            (out / "checkpoints" / "step-1").mkdir(parents=True)
            raise BreadcrumbsError("late")
    assert (out / "checkpoints" / "step-1").is_dir()
    with pytest.raises(KeyboardInterrupt):  # not an input error: nothing is touched
        with undone_on_error(tmp_path / "other"):
            (tmp_path / "other").mkdir()
            raise KeyboardInterrupt
    assert (tmp_path / "other").is_dir()


def test_results_file_with_a_byte_order_mark_keeps_its_first_record(tmp_path):
    source = ROOT / "docs/real-models/results.jsonl"
    records, warnings = read_results(source)
    assert records and not warnings
    path = tmp_path / "results.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + source.read_bytes())
    with_bom, warnings = read_results(path)
    assert warnings == [] and with_bom == records


def test_problems_file_with_a_byte_order_mark_keeps_its_first_record(tmp_path, capsys):
    problems = get_task("countdown").generate(3, seed=0, k=3, max_number=6, max_target=20)
    path = tmp_path / "problems.jsonl"
    text = "".join(json.dumps(p.to_json()) + "\n" for p in problems)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert [p.id for p in load_problems(path, "countdown")] == [p.id for p in problems]
