"""Recorded models: a finished job's model is copied out with its fingerprint, and a later experiment on another
machine adopts it as that job's output only when its own plan made it."""

from __future__ import annotations

import json

import torch

from breadcrumbs.models import build_preset_model, load_model
from breadcrumbs.recipes.experiment import Settings, _checkpoint, fingerprints, plan, record
from breadcrumbs.recipes.experiment_recorded import RECORD_FILE, adopt_recorded
from breadcrumbs.training.checkpoint import STATE_FILE


def finished_job(out, name: str):
    """A finished experiment job with one checkpoint (`latest` -> step-1), as the trainer leaves it."""
    model, tokenizer = build_preset_model("micro", seed=3)
    step = out / "runs" / name / "checkpoints" / "step-1"
    model.save_pretrained(step)
    tokenizer.save_pretrained(step)
    torch.save({}, step / STATE_FILE)
    (step.parent / "latest").symlink_to("step-1")
    (out / "runs" / name / "metrics.jsonl").write_text(
        '{"kind": "train", "step": 1}\n{"kind": "eval", "step": 1, "acc_full": 0.5}\n')
    (out / "done").mkdir(parents=True)
    (out / "done" / name).write_text("12.5\n")
    return model


def test_recorded_model_is_adopted_by_the_same_plan_only(tmp_path):
    s = Settings.micro()
    prints = fingerprints(plan(s), s)
    original = finished_job(tmp_path / "a", "teacher")
    dest = tmp_path / "models"
    [folder] = record("countdown", tmp_path / "a", ["teacher"], dest, scale="micro", log=lambda m: None)
    saved = json.loads((folder / RECORD_FILE).read_text())
    assert saved["fingerprint"] == prints["teacher"] and saved["wall_s"] == 12.5
    assert "--scale micro" in saved["command"] and not (folder / STATE_FILE).exists()
    assert [json.loads(line)["kind"] for line in (folder / "metrics.jsonl").read_text().splitlines()] == ["eval"]

    messages = []
    assert adopt_recorded(tmp_path / "b", dest, prints, lambda name: None, messages.append) == ["teacher"]
    assert (tmp_path / "b" / "done" / "teacher").read_text() == "12.5\n"
    assert (tmp_path / "b" / "started" / "teacher").read_text().strip() == prints["teacher"]
    adopted, _ = load_model(str(_checkpoint(tmp_path / "b", "teacher")))
    for (name, a), b in zip(original.state_dict().items(), adopted.state_dict().values()):
        assert torch.equal(a, b), name

    # another plan's recorded model is named and not used
    saved["fingerprint"] = "0" * 16
    (folder / RECORD_FILE).write_text(json.dumps(saved))
    messages.clear()
    assert adopt_recorded(tmp_path / "c", dest, prints, lambda name: None, messages.append) == []
    assert not (tmp_path / "c" / "done" / "teacher").exists()
    assert "made by another plan" in messages[0]


def test_recording_an_unfinished_or_unknown_job_is_one_error(tmp_path):
    import pytest

    from breadcrumbs.errors import BreadcrumbsError

    with pytest.raises(BreadcrumbsError, match="has not finished"):
        record("countdown", tmp_path, ["teacher"], tmp_path / "models", scale="micro")
    with pytest.raises(BreadcrumbsError, match="unknown experiment job 'nope'"):
        record("countdown", tmp_path, ["nope"], tmp_path / "models", scale="micro")
    assert not (tmp_path / "models").exists()


def finished_evaluation(out, name: str, files: dict[str, str]) -> None:
    """A finished evaluation job: its results file (one name) or, for a sweep, its folder of files."""
    for relative, text in files.items():
        (out / "results" / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / "results" / relative).write_text(text)
    (out / "done").mkdir(parents=True, exist_ok=True)
    (out / "done" / name).write_text("30.0\n")


def test_evaluations_are_recorded_compressed_and_adopted_byte_for_byte(tmp_path):
    s = Settings.micro()
    prints = fingerprints(plan(s), s)
    lines = "".join(json.dumps({"problem_id": f"p{i}", "completion": "1+2=3\n" * 50}) + "\n" for i in range(20))
    finished_evaluation(tmp_path / "a", "eval-c8", {"eval-c8.jsonl": lines})
    finished_evaluation(tmp_path / "a", "sweep", {"sweep/results.jsonl": lines, "sweep/tuning.json": "{}\n",
                                                   "sweep/dev.jsonl.lock": ""})
    dest = tmp_path / "models"
    folders = record("countdown", tmp_path / "a", ["eval-c8", "sweep"], dest, scale="micro", log=lambda m: None)
    assert [json.loads((f / RECORD_FILE).read_text())["kind"] for f in folders] == ["results", "results"]
    assert (dest / "eval-c8" / "eval-c8.jsonl.gz").stat().st_size < len(lines) / 5  # traces compress
    assert sorted(p.name for p in (dest / "sweep").iterdir()) == [RECORD_FILE, "results.jsonl.gz", "tuning.json.gz"]

    assert set(adopt_recorded(tmp_path / "b", dest, prints, lambda name: tmp_path / "b" / "results" / (
        name if name == "sweep" else f"{name}.jsonl"), lambda m: None)) == {"eval-c8", "sweep"}
    assert (tmp_path / "b" / "results" / "eval-c8.jsonl").read_text() == lines
    assert (tmp_path / "b" / "results" / "sweep" / "results.jsonl").read_text() == lines
    assert (tmp_path / "b" / "results" / "sweep" / "tuning.json").read_text() == "{}\n"
    assert (tmp_path / "b" / "done" / "sweep").read_text() == "30.0\n"


def test_an_arm_without_its_weights_needs_every_job_built_on_it_recorded(tmp_path):
    import pytest

    from breadcrumbs.errors import BreadcrumbsError
    from breadcrumbs.recipes.experiment import show_plan
    from breadcrumbs.recipes.experiment_report import ablation_rows

    s = Settings.micro()
    finished_job(tmp_path / "a", "rl-s0")
    dest = tmp_path / "models"
    with pytest.raises(BreadcrumbsError, match="eval-rl-rl-s0 start from it"):
        record("countdown", tmp_path / "a", ["rl-s0"], dest, scale="micro", weights=False)
    assert not dest.exists()
    finished_evaluation(tmp_path / "a", "eval-rl-rl-s0", {"eval-rl-rl-s0.jsonl": "{}\n"})
    record("countdown", tmp_path / "a", ["rl-s0", "eval-rl-rl-s0"], dest, scale="micro", weights=False,
           log=lambda m: None)
    assert sorted(p.name for p in (dest / "rl-s0").iterdir()) == [RECORD_FILE, "metrics.jsonl"]
    assert json.loads((dest / "rl-s0" / RECORD_FILE).read_text())["kind"] == "metrics"

    assert "recorded (metrics): adopted" in show_plan("countdown", tmp_path / "b", "micro", recorded=dest)
    adopt_recorded(tmp_path / "b", dest, fingerprints(plan(s), s), lambda name: tmp_path / "b" / "results" / (
        f"{name}.jsonl"), lambda m: None)
    [row] = ablation_rows(tmp_path / "b", [0], ["rl"])  # the arm's curve, from its recorded eval lines
    assert row["acc_full_end"] == [0.5] and row["steps"] == [1]


def test_jobs_start_as_soon_as_the_run_they_use_has_finished_evaluations_first(tmp_path):
    from breadcrumbs.recipes.experiment import _next_job

    jobs = [job for wave in plan(Settings.micro()) for job in wave]
    assert _next_job(jobs, tmp_path).name == "teacher"
    (tmp_path / "done").mkdir()
    for name in ("teacher", "c8"):
        (tmp_path / "done" / name).write_text("1\n")
    pending = [job for job in jobs if job.name not in ("teacher", "c8")]
    assert _next_job(pending, tmp_path).name == "eval-c8"  # before the training runs that were planned first
    pending = [job for job in pending if job.name not in ("eval-c8", "eval-c8-seed1")]
    assert _next_job(pending, tmp_path).name == "mixed"
    assert _next_job([job for job in jobs if job.name == "joint-s0"], tmp_path) is None  # mixed not finished
