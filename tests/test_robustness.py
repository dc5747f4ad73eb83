"""Issue 15 regression cases: every bad value, corrupt file and concurrent or interrupted run ends in one clear
`error:` line (or a correct result), with nothing half-written."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from breadcrumbs.cli import main
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.files import atomic_write, exclusive_lock, remove_stale_temporaries
from breadcrumbs.validation import Range, check_range, load_yaml

SRC = str(Path(__file__).resolve().parents[1] / "src")
MICRO_RUN = (
    "model: {name: micro}\n"
    "task: {name: countdown, difficulty: {k: 3, max_number: 6, max_target: 20}, style: direct, eval_problems: 0}\n"
    "sft: {steps: 2, batch_size: 2}\n"
    "checkpoint: {every: 1}\n"
)


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one in-process CLI call."""
    code = 0
    try:
        main([str(arg) for arg in args])
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error(capsys, *args: str) -> str:
    code, _, err = run(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    return lines[0]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A saved micro checkpoint (model + tokenizer)."""
    from breadcrumbs.models import build_preset_model

    path = tmp_path_factory.mktemp("ckpt") / "micro"
    model, tokenizer = build_preset_model("micro")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def damaged_copy(checkpoint: Path, tmp_path: Path, damage) -> Path:
    copy = tmp_path / "damaged"
    shutil.copytree(checkpoint, copy)
    damage(copy)
    return copy


# ----- numbers: one validation layer -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        (["eval", "--task", "countdown", "-t", "-1"], "--temperature must be in [0, 100], got -1.0"),
        (["eval", "--task", "countdown", "-t", "inf"], "--temperature must be a finite number in [0, 100], got inf"),
        (["eval", "--task", "countdown", "-t", "nan"], "--temperature must be a finite number in [0, 100], got nan"),
        (["eval", "--task", "countdown", "--n", "0"], "--n must be in [1, 1000000], got 0"),
        (["eval", "--task", "countdown", "--seed", "99999999999999999999999"], "--seed must be in [0, 4294967295]"),
        (["generate", "-p", "x", "--top-p", "1.5"], "--top-p must be in (0, 1], got 1.5"),
        (["generate", "-p", "x", "--top-p", "0"], "--top-p must be in (0, 1], got 0.0"),
        (["generate", "-p", "x", "-t", "3.5e38"], "--temperature must be in [0, 100]"),
        (["generate", "-p", "x", "--device", "banana"], "--device 'banana' is not one of cpu, cuda, cuda:N, auto"),
        (["tasks", "sample", "-t", "countdown", "--n", "99999999999999999999", "--stats"], "--n must be in [0, 1000000]"),
    ],
)
def test_bad_numbers_are_one_line_with_the_range(capsys, tmp_path, args, message):
    if args[0] == "eval":
        args = [*args, "--out", tmp_path / "r.jsonl", "-m", "micro"]
    assert message in one_error(capsys, *args)
    assert not (tmp_path / "r.jsonl").exists()  # refused before any work: nothing written


@pytest.mark.parametrize(
    "override, message",
    [
        ("sft.lr=.inf", "config key 'sft.lr' must be a finite number > 0, got inf"),
        ("distill.weight=.inf", "config key 'distill.weight' must be a finite number >= 0"),
        ("sft.student_weight=.nan", "config key 'sft.student_weight' must be a finite number >= 0, got nan"),
        ("rl.temperature=.inf", "config key 'rl.temperature' must be a finite number"),
        ("rl.temperature=1e6", "config key 'rl.temperature' must be in [0, 100], got 1000000.0"),
        ("optim.beta1=1.5", "config key 'optim.beta1' must be in [0, 1), got 1.5"),
        ("rl.negative_weight=1.5", "config key 'rl.negative_weight' must be in [0, 1], got 1.5"),
        ("seed=-3", "config key 'seed' must be in [0, 4294967295]"),
        ("device=banana", "config key 'device' 'banana' is not one of cpu, cuda, cuda:N, auto"),
    ],
)
def test_bad_config_values_are_refused_before_training(capsys, tmp_path, override, message):
    config = tmp_path / "c.yaml"
    config.write_text(MICRO_RUN)
    assert message in one_error(capsys, "train", "-c", config, "--set", override, "--out", tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda_is_an_error_not_a_cpu_run(capsys, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(MICRO_RUN + "device: cuda\n")
    assert "CUDA is not available" in one_error(capsys, "train", "-c", config, "--out", tmp_path / "run", "-q")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_range_texts():
    assert str(Range(0, 1, low_open=True)) == "in (0, 1]" and str(Range(1)) == ">= 1"
    assert str(Range(0, None, True)) == "> 0" and str(Range(None, 5)) == "<= 5"
    assert check_range("x", 3, Range(1, integer=True)) == 3
    with pytest.raises(BreadcrumbsError, match="x must be an integer >= 1, got 2.5"):
        check_range("x", 2.5, Range(1, integer=True))
    with pytest.raises(BreadcrumbsError, match="must be a number"):
        check_range("x", True, Range())


# ----- files read: configs, checkpoints, trainer state, results ----------------------------------------------------
def test_yaml_duplicate_keys_are_refused(capsys, tmp_path):
    config = tmp_path / "dup.yaml"
    config.write_text(MICRO_RUN + "sft: {steps: 5}\n")
    line = one_error(capsys, "train", "-c", config, "-o", tmp_path / "r")
    assert "line 5: duplicate key 'sft' (first on line 3)" in line
    with pytest.raises(BreadcrumbsError, match="duplicate key 'lr'"):
        load_yaml("sft:\n  lr: 1\n  lr: 2\n", "x.yaml")
    assert load_yaml("a: {b: 1}\nc: [1, 2]\n", "ok.yaml") == {"a": {"b": 1}, "c": [1, 2]}


@pytest.mark.parametrize("content", [b"\x00\x01\xff\xfe binary", b"\xff" * 100])
def test_binary_config_is_one_line(capsys, tmp_path, content):
    config = tmp_path / "weights.bin"
    config.write_bytes(content)
    assert "is not a text file" in one_error(capsys, "train", "-c", config, "-o", tmp_path / "r")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: (p / "model.safetensors").write_bytes(b""), "model.safetensors is empty or truncated"),
        (lambda p: (p / "model.safetensors").write_bytes((p / "model.safetensors").read_bytes()[:-100]), "truncated"),
        (lambda p: (p / "config.json").write_text(
            json.dumps({**json.loads((p / "config.json").read_text()), "hidden_size": "abc"})),
         "'hidden_size' must be a positive integer, got 'abc'"),
        (lambda p: [(p / n).unlink() for n in ("tokenizer.json", "tokenizer_config.json")], "no tokenizer files"),
        (lambda p: (p / "config.json").write_text(
            json.dumps({**json.loads((p / "config.json").read_text()), "vocab_size": 50})), "could not load"),
    ],
    ids=["empty-weights", "truncated-weights", "hidden-size-text", "no-tokenizer", "vocab-mismatch"],
)
def test_damaged_checkpoint_is_one_line(capsys, tmp_path, checkpoint, damage, message):
    bad = damaged_copy(checkpoint, tmp_path, damage)
    assert message in one_error(capsys, "generate", "-p", "1 2", "-m", bad, "-q")


def test_tokenizer_of_another_model_is_refused(tmp_path, checkpoint):
    from breadcrumbs.models import build_char_tokenizer, load_model

    bad = damaged_copy(checkpoint, tmp_path, lambda p: build_char_tokenizer(
        "".join(chr(c) for c in range(32, 127)) + "\néèàùç" + "".join(chr(c) for c in range(0x400, 0x480))
    ).save_pretrained(p))
    with pytest.raises(BreadcrumbsError, match="the tokenizer files belong to another model"):
        load_model(str(bad))


@pytest.mark.parametrize("prompt", ["café", "emoji 🙂", "ctrl \x07", "tab\there", "windows\r\nline"])
def test_prompt_outside_the_vocabulary_names_the_characters(capsys, prompt):
    line = one_error(capsys, "generate", "-m", "micro", "-p", prompt, "-n", "2", "-q")
    assert "cannot encode" in line and "U+" in line


def test_prompt_holding_the_beacon_token_is_refused(capsys):
    line = one_error(capsys, "generate", "-m", "micro", "-p", "1 2 <beacon> 3", "-n", "2", "-q")
    assert "reserved token <beacon>" in line and "remove it" in line


def test_truncated_trainer_state_on_resume(capsys, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(MICRO_RUN)
    out = tmp_path / "run"
    assert run(capsys, "train", "-c", config, "-o", out, "-q")[0] == 0
    state = out / "checkpoints" / "latest" / "trainer_state.pt"
    state.write_bytes(state.read_bytes()[:200])
    line = one_error(capsys, "train", "-o", out, "--resume", "-q")
    assert "trainer_state.pt is damaged" in line and "step-2" in line


def test_report_range_checks_records(capsys, tmp_path):
    good = {"task": "countdown", "method": "full", "family": "full", "problem_id": "p0", "correct": True,
            "prompt_tokens": 5, "generated_tokens": 4, "peak_kv_entries": 9, "mean_kv_entries": 7.5,
            "peak_kv_bytes": 90, "mean_kv_bytes": 75.0, "time_s": 0.1}
    lines = [good, {**good, "problem_id": "p1", "time_s": float("nan")},
             {**good, "problem_id": "p2", "peak_kv_entries": -5}, {**good, "problem_id": "p3", "time_s": float("inf")}]
    results = tmp_path / "r.jsonl"
    results.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, out, err = run(capsys, "report", results, "-o", tmp_path / "rep", "--no-plot")
    assert code == 0
    assert "line 2: field 'time_s' must be a finite number >= 0, got nan; skipped" in err
    assert "line 3: field 'peak_kv_entries' must be a finite number >= 0, got -5; skipped" in err
    assert "line 4: field 'time_s'" in err
    assert json.loads((tmp_path / "rep" / "summary.json").read_text())["records"] == 1


# ----- output paths checked before any work ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["file-as-dir", "dir-as-file", "read-only"])
@pytest.mark.parametrize("command", ["train", "eval", "report"])
def test_unusable_out_is_refused_before_work(capsys, tmp_path, kind, command):
    if kind == "read-only" and os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    a_file, a_dir, locked = tmp_path / "file", tmp_path / "dir", tmp_path / "locked"
    a_file.write_text("x")
    a_dir.mkdir()
    locked.mkdir(mode=0o500)
    out = {"file-as-dir": a_file / "sub", "dir-as-file": a_dir if command == "eval" else a_file,
           "read-only": locked / ("r.jsonl" if command == "eval" else "out")}[kind]
    config = tmp_path / "c.yaml"
    config.write_text(MICRO_RUN)
    results = tmp_path / "results.jsonl"
    results.write_text("")
    args = {
        "train": ["train", "-c", config, "-o", out, "-q"],
        "eval": ["eval", "--task", "countdown", "-m", "micro", "--n", "1", "-o", out, "-q"],
        "report": ["report", results, "-o", out],
    }[command]
    assert "--out" in one_error(capsys, *args)


# ----- evaluation records keyed by everything that defines them -------------------------------------------------
def test_eval_resume_never_reuses_records_of_another_difficulty(capsys, tmp_path):
    out = tmp_path / "r.jsonl"
    base = ["eval", "--task", "stargraph", "-m", "micro", "--n", "2", "--methods", "full", "--max-new-tokens", "4",
            "-o", out, "-q"]
    code, stdout, _ = run(capsys, *base, "--difficulty", "d=2", "--difficulty", "l=3")
    assert code == 0 and "2 new records" in stdout
    line = one_error(capsys, *base, "--difficulty", "d=4", "--difficulty", "l=5")
    assert "difficulty" in line and "use another --out" in line
    code, stdout, _ = run(capsys, *base, "--difficulty", "d=2", "--difficulty", "l=3")
    assert code == 0 and "0 new records, 2 already" in stdout


def test_record_key_covers_difficulty_and_sampling():
    from breadcrumbs.evaluation.results import record_key

    record = {"task": "t", "difficulty": {"d": 2}, "problem_id": "p", "method": "full", "model": "m",
              "max_new_tokens": 4, "temperature": 0.0, "top_p": 1.0, "seed": 0}
    assert record_key(record) == record_key({**record, "temperature": 0})
    for field, other in [("difficulty", {"d": 4}), ("temperature", 0.5), ("top_p", 0.9), ("seed", 1), ("model", "n"),
                         ("max_new_tokens", 8), ("method", "beacon:4"), ("problem_id", "q"), ("task", "u")]:
        assert record_key(record) != record_key({**record, field: other}), field


def test_huge_beacon_ratio_sizes_the_cache_by_max_tokens(capsys, tmp_path):
    out = tmp_path / "r.jsonl"
    code, stdout, err = run(capsys, "eval", "--task", "countdown", "-m", "micro", "--n", "1", "--max-new-tokens", "4",
                            "--methods", "beacon:100000000000", "-o", out, "-q")
    assert code == 0, err
    record = json.loads(out.read_text())
    assert record["method"] == "beacon:100000000000" and record["peak_kv_entries"] <= record["prompt_tokens"] + 4


def test_beacon_capacity_is_bounded_by_the_tokens_generated():
    from breadcrumbs.policies import BeaconPolicy

    assert BeaconPolicy(10**11).capacity(5, 4) == 5 + 4  # no window closes: prompt + every token
    # 8 tokens fed (the 9th is sampled, never fed): one beacon closes the first window, the second window is open
    assert BeaconPolicy(4).capacity(5, 9) == 5 + 1 + 4


def test_cache_that_cannot_fit_is_refused_up_front(monkeypatch):
    from breadcrumbs import validation
    from breadcrumbs.generation import generate
    from breadcrumbs.models import load_model

    model, tokenizer = load_model("micro")
    monkeypatch.setattr(validation, "available_memory", lambda device: 1000)
    with pytest.raises(BreadcrumbsError, match=r"a KV cache of .* needs .* GiB but cpu has .* free; lower the batch"):
        generate(model, tokenizer, ["1 2"], max_new_tokens=8)


# ----- atomic rewrites, stale temporaries, one writer per file --------------------------------------------------
def test_atomic_write_keeps_the_old_file_when_the_rename_fails(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    path.write_text("old\n")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError):
        atomic_write(path, "new\n")
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]


def test_resume_rewrites_metrics_atomically_and_sweeps_stale_temporaries(capsys, tmp_path, monkeypatch):
    config = tmp_path / "c.yaml"
    config.write_text(MICRO_RUN)
    out = tmp_path / "run"
    assert run(capsys, "train", "-c", config, "-o", out, "-q", "--set", "sft.steps=1")[0] == 0
    stale = [out / "checkpoints" / ".latest.tmp-4242", out / "checkpoints" / ".tmp-step-9",
             out / ".metrics.jsonl.x1y2.tmp"]
    os.symlink("step-1", stale[0])
    stale[1].mkdir()
    stale[2].write_text("half")
    rewrites = []
    import breadcrumbs.training.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "atomic_write", lambda path, data: rewrites.append(path) or
                        atomic_write(path, data))
    assert run(capsys, "train", "-c", config, "-o", out, "-q", "--resume")[0] == 0
    assert rewrites == [out / "metrics.jsonl"]
    assert not any(p.exists() or p.is_symlink() for p in stale)
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]


def test_remove_stale_temporaries_leaves_real_files(tmp_path):
    keep = ["metrics.jsonl", "step-3", "latest", ".hidden", "config.yaml"]
    for name in keep:
        (tmp_path / name).write_text("x")
    for name in [".latest.tmp-7", ".report.md.abc.tmp", ".write-probe-1"]:
        (tmp_path / name).write_text("x")
    removed = remove_stale_temporaries(tmp_path)
    assert len(removed) == 3 and sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


def test_second_writer_of_a_results_file_gets_a_clear_error(capsys, tmp_path):
    out = tmp_path / "r.jsonl"
    with exclusive_lock(out, str(out)):
        line = one_error(capsys, "eval", "--task", "countdown", "-m", "micro", "--n", "1", "-o", out, "-q")
    assert f"another process (pid {os.getpid()}) is writing {out}" in line
    assert not out.exists() and not Path(f"{out}.lock").exists()


def test_second_trainer_of_a_run_gets_a_clear_error(capsys, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(MICRO_RUN)
    out = tmp_path / "run"
    with exclusive_lock(out / "train", "x"):
        assert "another process" in one_error(capsys, "train", "-c", config, "-o", out, "-q")


def test_lock_is_taken_over_after_its_holder_died(tmp_path):
    out = tmp_path / "r.jsonl"
    Path(f"{out}.lock").write_text("12345\n")  # left by a killed process: the file exists, nobody holds it
    with exclusive_lock(out, "r"):
        assert Path(f"{out}.lock").read_text() == f"{os.getpid()}\n"
    assert not Path(f"{out}.lock").exists()


# ----- quiet loading, Ctrl-C --------------------------------------------------------------------------------------
def test_quiet_silences_the_weight_loading_bar(tmp_path, checkpoint):
    result = subprocess.run(
        [sys.executable, "-m", "breadcrumbs", "generate", "-m", str(checkpoint), "-p", "1 2", "-n", "2", "-q", "--policy", "full"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC}, timeout=300,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


def torch_loading(pid: int) -> bool:
    """The child has reached the command's heavy imports (torch's library is mapped): our handler is installed."""
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def interrupt(args: list[str], after_s: float, times: int = 1) -> subprocess.CompletedProcess:
    """Ctrl-C `after_s` seconds after the command starts importing torch (`times` in a row)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "breadcrumbs", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    deadline = time.time() + 60
    while not torch_loading(process.pid) and time.time() < deadline and process.poll() is None:
        time.sleep(0.005)
    time.sleep(after_s)
    for _ in range(times):
        process.send_signal(signal.SIGINT)
        time.sleep(0.01)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(args, process.returncode, out, err)


@pytest.mark.slow
def test_ctrl_c_during_training_exits_130_with_a_resume_hint(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(MICRO_RUN.replace("steps: 2", "steps: 100000"))
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "breadcrumbs", "train", "-c", str(config), "-o", str(out), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": SRC},
    )
    deadline = time.time() + 120
    while not (out / "checkpoints" / "latest").exists() and time.time() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: interrupted; checkpoint step-"), err
    assert f"continue with: breadcrumbs train --out {out} --resume" in lines[0]


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc to time the interrupt")
# 0.3-1.4 s land inside torch's import, where Python runs from C++: a KeyboardInterrupt raised there aborted the
# process (pybind11 terminate) or ended it by SIGINT; the start-up handler exits without raising.
@pytest.mark.parametrize("after_s, times", [(0.0, 1), (0.3, 1), (0.6, 1), (1.2, 1), (3.0, 1), (1.0, 2)],
                         ids=["importing", "torch-0.3s", "torch-0.6s", "torch-1.2s", "running", "twice"])
def test_ctrl_c_any_time_is_one_line_and_130(tmp_path, after_s, times):
    out = tmp_path / "r.jsonl"
    result = interrupt(["eval", "--task", "countdown", "-m", "micro", "--n", "1000", "--out", str(out), "-q"],
                       after_s, times)
    # A second Ctrl-C landing during interpreter shutdown kills the process by SIGINT: a shell sees 130 either way.
    assert result.returncode == 130 or times == 2 and result.returncode == -signal.SIGINT, result.stderr
    assert "Traceback" not in result.stderr
    assert all(line.startswith("error: interrupted") for line in result.stderr.strip().splitlines()), result.stderr
