"""The main job end to end at micro size: every artefact exists, is well-formed, and a rerun resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breadcrumbs import BeaconPolicy, generate, load_model
from breadcrumbs.recipes.demo import demo_methods, run_demo

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return run_demo("stargraph", out, seed=0, device="cpu", progress=False, micro=True)


def test_demo_writes_every_artefact(demo_run):
    out = demo_run.out_dir
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    methods = demo_methods()
    assert {r["method"] for r in records} == set(methods)
    assert len(records) == len(methods) * len({r["problem_id"] for r in records})
    assert all(0.0 <= r["reward"] <= 1.0 and r["peak_kv_entries"] > 0 for r in records)
    report = (out / "report.md").read_text()
    assert "| beacon:4 |" in report and "| tova:@beacon:4 |" in report and "pareto.png" in report
    assert (out / "pareto.png").read_bytes().startswith(PNG_MAGIC)
    assert (out / "pareto.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    summary = json.loads((out / "summary.json").read_text())
    assert {m["method"] for m in summary["methods"]} == set(methods)
    info = json.loads((out / "demo.json").read_text())
    assert info["timings_s"]["total_s"] > 0 and info["task"] == "stargraph"
    assert (out / info["checkpoint"]).resolve() == Path(demo_run.checkpoint).resolve()  # relative to OUT
    assert not Path(info["checkpoint"]).is_absolute()
    assert (out / "train" / "metrics.jsonl").stat().st_size > 0
    assert demo_run.table.startswith("###") or "| method |" in demo_run.table


def test_demo_checkpoint_reloads_and_generates(demo_run):
    model, tokenizer = load_model(str(demo_run.checkpoint))
    out = generate(model, tokenizer, ["Edges: 1>2 2>3\nPath: 1 to 3\n"], policy=BeaconPolicy(4), max_new_tokens=12)
    assert out.stats[0].generated_tokens >= 1 and out.stats[0].peak_kv_entries > 0


def test_interrupted_demo_resumes_without_redoing_work(demo_run):
    out = demo_run.out_dir
    results = out / "results.jsonl"
    lines = results.read_text().splitlines(keepends=True)
    results.write_text("".join(lines[:-3]) + lines[-3][: len(lines[-3]) // 2])  # killed mid-write
    (out / "report.md").unlink()
    again = run_demo("stargraph", out, seed=0, device="cpu", progress=False, micro=True)
    assert again.checkpoint == demo_run.checkpoint
    resumed = results.read_text().splitlines()
    assert len(resumed) == len(lines) and all(json.loads(line) for line in resumed)
    assert (out / "report.md").is_file()


def test_stargraph_config_file_is_the_demo_recipe():
    """configs/stargraph-tiny.yaml documents the demo's training; it must not drift from the code that runs it."""
    from breadcrumbs.recipes.demo import demo_config
    from breadcrumbs.training.config import load_config

    config = load_config(Path(__file__).parent.parent / "configs" / "stargraph-tiny.yaml").to_dict()
    demo = demo_config("stargraph").to_dict()
    for section in ("model", "beacon", "sft", "rl", "distill"):
        assert config[section] == demo[section], section
    for key in ("name", "difficulty", "style"):
        assert config["task"][key] == demo["task"][key], key
