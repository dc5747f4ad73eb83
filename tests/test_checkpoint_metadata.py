"""A checkpoint says what it is: `config.breadcrumbs` records what it was trained for; eval, sweep and generate
default to it and warn on a mismatch; the Auto classes rebuild the same tokenizer and model; transformers' generate
never samples `<beacon>`; files follow the umask."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from breadcrumbs.cli import main
from breadcrumbs.models import beacon_token_id, build_preset_model, load_model
from breadcrumbs.trained import TrainedFor, default_policy, policy_warnings, trained_for
from breadcrumbs.training import config_from_dict
from breadcrumbs.training.schedule import student_steps, training_record
from breadcrumbs.training.trainer import Trainer

KNOBS = {"k": 3, "max_number": 6, "max_target": 20}
TRAINED = {"k": 3, "max_number": 6, "max_target": 20, "backtracks": 1, "order": 0, "echo": 0}
CONFIG = {
    "model": {"name": "micro"},
    "task": {"name": "countdown", "difficulty": KNOBS, "style": "direct", "train_problems": 6, "eval_problems": 2},
    "beacon": {"ratios": [2, 4]},
    "sft": {"steps": 3, "batch_size": 4, "lr": 0.01, "student_start": 1},
    "eval": {"max_new_tokens": 4}, "checkpoint": {"every": 1, "keep": 0},
}


def run(capsys, *args) -> tuple[int, str, str]:
    code = 0
    try:
        main([str(arg) for arg in args])
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def warnings_in(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: ")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A 3-step micro run (the student joins at step 1) with a checkpoint after every step."""
    out = tmp_path_factory.mktemp("meta") / "run"
    Trainer(config_from_dict(CONFIG), out, progress=False).run()
    return out


def metadata(checkpoint: Path) -> dict:
    return json.loads((checkpoint / "config.json").read_text())["breadcrumbs"]


def test_every_checkpoint_records_what_it_was_trained_for(trained):
    records = [metadata(trained / "checkpoints" / f"step-{n}") for n in (1, 2, 3)]
    assert [r["student_steps"] for r in records] == [0, 1, 2]  # SFT steps from student_start on
    last = records[-1]
    assert last["task"] == "countdown" and last["difficulty"] == TRAINED and last["steps"] == 3
    assert last["ratios"] == [2, 4] and last["lag"] == 0 and last["layout"] == "beacon" and last["sampling"] == "choice"
    assert last["stage_difficulty"] == {"sft": TRAINED}
    model, tokenizer = load_model(str(trained / "checkpoints" / "latest"))
    assert last["beacon_token_id"] == beacon_token_id(tokenizer)
    assert trained_for(model) == TrainedFor.from_dict(last)


def test_record_of_a_range_a_window_and_the_student_steps_of_each_stage():
    task_knobs = {"name": "countdown", "difficulty": KNOBS}
    ranged = config_from_dict({"task": task_knobs, "beacon": {"ratios": [2, 5], "sampling": "range"},
                               "sft": {"steps": 1}})
    from breadcrumbs.tasks import get_task

    record = training_record(ranged, get_task("countdown"), 1, 3)
    assert record.ratios == [2, 3, 4, 5] and record.sampling == "range" and record.served_as[0] == "beacon:2"
    window = config_from_dict({"task": task_knobs, "beacon": {"windows": [8], "layout": "window"}, "sft": {"steps": 1}})
    window_record = training_record(window, get_task("countdown"), 1, 3)
    assert window_record.served_as == ["window:8"] and (window_record.ratios, window_record.windows) == ([], [8])
    rl = {"steps": 3, "batch_size": 4, "group_size": 2}
    joint = config_from_dict({"task": task_knobs, "sft": {"steps": 4, "student_start": 2}, "rl": rl})
    assert [student_steps(joint, n) for n in (1, 3, 4, 6, 7)] == [0, 1, 2, 4, 5]
    off = config_from_dict({"task": task_knobs, "sft": {"steps": 4, "student_weight": 0}, "rl": rl,
                            "distill": {"mode": "off"}})
    assert student_steps(off, 7) == 0
    two = config_from_dict({"task": task_knobs, "sft": {"steps": 2, "student_weight": 0}, "rl": rl,
                            "distill": {"mode": "two_stage", "steps": 2}})
    assert [student_steps(two, n) for n in (5, 7)] == [0, 2]


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_auto_classes_round_trip_a_saved_checkpoint(tmp_path, trained, arch):
    if arch == "qwen2":
        path = trained / "checkpoints" / "latest"
    else:
        model, tokenizer = build_preset_model("micro", arch)
        path = tmp_path / arch
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    ours_model, ours = load_model(str(path))
    auto = AutoTokenizer.from_pretrained(path)
    text = "12 7 3 -> 26\nAnswer: (8+3)*2 - 5"
    assert len(auto) == len(ours) == ours_model.get_input_embeddings().num_embeddings
    assert auto(text)["input_ids"] == ours(text)["input_ids"] and len(ours(text)["input_ids"]) == len(text) + 1
    assert auto.decode(auto(text)["input_ids"], skip_special_tokens=True) == text
    assert auto.padding_side == "left" and auto.unk_token is None
    auto_model = AutoModelForCausalLM.from_pretrained(path)
    ids = torch.tensor([ours(text)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(auto_model(ids).logits, ours_model(ids).logits)


def test_transformers_generate_never_samples_the_beacon(trained):
    path = trained / "checkpoints" / "latest"
    assert beacon_token_id(load_model(str(path))[1]) in json.loads((path / "generation_config.json").read_text())[
        "suppress_tokens"]
    model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    beacon = beacon_token_id(tokenizer)

    def boost(module, inputs, logits):  # the beacon would win every step
        logits[..., beacon] += 1e4
        return logits

    model.lm_head.register_forward_hook(boost)
    prompt = tokenizer(["12 7 -> 5\n"], return_tensors="pt")
    kept = model.generate(**prompt, max_new_tokens=6, do_sample=False)
    assert beacon not in kept[0, prompt["input_ids"].shape[1]:].tolist()
    free = model.generate(**prompt, max_new_tokens=6, do_sample=False, suppress_tokens=None)
    assert beacon in free[0, prompt["input_ids"].shape[1]:].tolist()  # the test would see a sampled beacon


def modes(root: Path) -> set[tuple[str, int]]:
    return {("dir" if p.is_dir() else "file", p.stat().st_mode & 0o777) for p in [root, *root.rglob("*")]
            if not p.is_symlink()}


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_checkpoints_and_convert_follow_the_umask(tmp_path, monkeypatch, umask):
    import breadcrumbs.gguf as gguf
    from breadcrumbs.training.checkpoint import save_checkpoint

    model, tokenizer = build_preset_model("micro")
    monkeypatch.setattr(gguf, "load_gguf", lambda path, dtype=None: build_preset_model("micro"))
    previous = os.umask(umask)
    try:
        checkpoint = save_checkpoint(tmp_path / "run", 1, model, tokenizer, {"global_step": 1})
        converted = gguf.convert_gguf("fake.gguf", tmp_path / "converted")
    finally:
        os.umask(previous)
    expected = {("dir", 0o777 & ~umask), ("file", 0o666 & ~umask)}
    assert modes(checkpoint) == expected and modes(converted) == expected


def test_eval_defaults_to_the_trained_difficulty_and_warns_on_mismatches(capsys, tmp_path, trained):
    latest = trained / "checkpoints" / "latest"
    common = ["eval", "--model", latest, "--task", "countdown", "--n", "2", "--max-new-tokens", "4", "-q"]
    code, _, err = run(capsys, *common, "--methods", "full,beacon:2", "--out", tmp_path / "a.jsonl")
    assert code == 0 and warnings_in(err) == []
    records = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert records and all(r["difficulty"] == TRAINED for r in records)
    code, _, err = run(capsys, *common, "--methods", "beacon:8", "--difficulty", "k=4", "--out", tmp_path / "b.jsonl")
    lines = warnings_in(err)
    assert code == 0 and len(lines) == 2, err
    assert "differs from this model's training: k=4 (trained 3);" in lines[0]  # the other knobs stay trained
    records = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert records and all(r["difficulty"] == {**TRAINED, "k": 4} for r in records)
    assert "beacon:8 never trained: this model was trained for beacon:2, beacon:4" in lines[1]
    first = trained / "checkpoints" / "step-1"  # the student had not joined yet
    code, _, err = run(capsys, "eval", "--model", first, "--task", "countdown", "--n", "1", "--max-new-tokens", "2",
                       "-q", "--methods", "beacon:2", "--out", tmp_path / "c.jsonl")
    assert code == 0 and ["beacons were never trained (0 student steps)" in line for line in warnings_in(err)] == [True]


def test_sweep_defaults_to_the_trained_difficulty(capsys, tmp_path, trained):
    code, _, err = run(capsys, "sweep", "--model", trained / "checkpoints" / "latest", "--task", "countdown",
                       "--n", "2", "--n-dev", "2", "--families", "streaming", "--budgets", "2", "--extra", "full",
                       "--max-new-tokens", "3", "--out", tmp_path / "sweep", "-q")
    assert code == 0 and warnings_in(err) == [], err
    records = [json.loads(line) for line in (tmp_path / "sweep" / "results.jsonl").read_text().splitlines()]
    assert records and all(r["difficulty"] == TRAINED for r in records)


def test_generate_defaults_to_the_trained_ratio_or_to_the_full_cache(capsys, trained):
    def generate(model, *extra):
        code, out, err = run(capsys, "generate", "-m", model, "-p", "3 4 -> 7", "-n", "3", "--json", "-q", *extra)
        assert code == 0, err
        return json.loads(out.splitlines()[0])["policy"], warnings_in(err)

    assert generate(trained / "checkpoints" / "latest") == ("beacon:2", [])
    policy, lines = generate(trained / "checkpoints" / "step-1")
    assert policy == "full" and len(lines) == 1 and "trained its beacons for 0 steps" in lines[0]
    policy, lines = generate("micro")
    assert policy == "full" and len(lines) == 1 and "records no breadcrumbs training" in lines[0]
    policy, lines = generate(trained / "checkpoints" / "latest", "--policy", "beacon:8")
    assert policy == "beacon:8" and len(lines) == 1 and "beacon:8 never trained" in lines[0]


def test_python_api_reads_the_record(trained):
    from breadcrumbs.policies import BeaconPolicy, FullCache

    model, _ = load_model(str(trained / "checkpoints" / "latest"))
    assert default_policy(model) == ("beacon:2", None)
    assert policy_warnings(model, [FullCache(), BeaconPolicy(4)]) == []
    assert policy_warnings(model, [BeaconPolicy(4, 1)]) == [
        "beacon:4:lag=1 never trained: this model was trained for beacon:2, beacon:4"]
    fresh, _ = load_model("micro")
    assert trained_for(fresh) is None and default_policy(fresh)[0] == "full"


def test_resume_with_set_is_recorded_or_refused_with_the_key(capsys, tmp_path, trained):
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir, symlinks=True)
    for change, key in (("seed=3", "'seed'"), ("sft.steps=2", "'sft.steps'"), ("model.name=tiny", "'model.name'")):
        code, _, err = run(capsys, "train", "--out", run_dir, "--resume", "--set", change, "-q")
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1 and lines[0].startswith(f"error: config key {key} changed"), err
    code, out, err = run(capsys, "train", "--out", run_dir, "--resume", "--set", "sft.steps=4", "-q")
    assert code == 0, err
    import yaml

    assert yaml.safe_load((run_dir / "config.yaml").read_text())["sft"]["steps"] == 4
    record = metadata(run_dir / "checkpoints" / "latest")
    assert record["steps"] == 4 and record["student_steps"] == 3


def test_resume_refuses_a_new_learning_rate_mid_stage(capsys, tmp_path):
    from breadcrumbs.training.trainer import TrainingInterrupted

    run_dir = tmp_path / "run"
    killed = Trainer(config_from_dict(CONFIG), run_dir, progress=False)
    killed.stop_after = 1
    with pytest.raises(TrainingInterrupted):
        killed.run()
    code, _, err = run(capsys, "train", "--out", run_dir, "--resume", "--set", "sft.lr=0.5", "-q")
    assert code == 1 and "config key 'sft.lr' changed from 0.01 to 0.5" in err and "middle of the sft stage" in err
    code, _, err = run(capsys, "train", "--out", run_dir, "--resume", "--set", "rl.lr=0.5", "-q")  # a later stage
    assert code == 0 and warnings_in(err) == ["warning: rl.steps is 0, so rl.lr never takes effect; set rl.steps > 0 "
                                              "to run RL"], err
