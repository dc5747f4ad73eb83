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
    assert adopt_recorded(tmp_path / "b", dest, prints, messages.append) == ["teacher"]
    assert (tmp_path / "b" / "done" / "teacher").read_text() == "12.5\n"
    assert (tmp_path / "b" / "started" / "teacher").read_text().strip() == prints["teacher"]
    adopted, _ = load_model(str(_checkpoint(tmp_path / "b", "teacher")))
    for (name, a), b in zip(original.state_dict().items(), adopted.state_dict().values()):
        assert torch.equal(a, b), name

    # another plan's recorded model is named and not used
    saved["fingerprint"] = "0" * 16
    (folder / RECORD_FILE).write_text(json.dumps(saved))
    messages.clear()
    assert adopt_recorded(tmp_path / "c", dest, prints, messages.append) == []
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
