"""A report says what it measured (issue 26 item 2): the settings every record carries and `report.md` /
`summary.json` state, one panel per setting when records differ (never merged), the KV saving per generated
token, labels that do not overlap, and untrained beacons named as such."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest

from breadcrumbs import provenance
from breadcrumbs.cli import main
from breadcrumbs.errors import BreadcrumbsWarning
from breadcrumbs.evaluation import evaluate, summarize, write_report
from breadcrumbs.evaluation.pareto import pareto_figure
from breadcrumbs.models import load_model
from breadcrumbs.tasks import get_task

NEW_FIELDS = ("split", "dtype", "trained_for", "version", "commit", "date")


def record(method: str, problem: int, peak: int, **extra) -> dict:
    """A countdown record: prompt 10, 20 generated tokens, `peak` entries (the full cache holds 30)."""
    return {
        "task": "countdown", "method": method, "family": method.split(":")[0], "problem_id": f"countdown-test-0-{problem}",
        "correct": problem % 2 == 0, "reward": float(problem % 2 == 0), "prompt_tokens": 10, "generated_tokens": 20,
        "peak_kv_entries": peak, "mean_kv_entries": peak - 2, "peak_kv_bytes": peak * 256,
        "mean_kv_bytes": (peak - 2) * 256, "time_s": 0.1, "model": "m", "seed": 0, "difficulty": {"k": 3},
        "temperature": 0.0, "top_p": 1.0, "max_new_tokens": 20, "ratio": int(method[7:]) if method[:7] == "beacon:" else None,
        **extra,
    }


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def run(results: list[Path], out: Path) -> tuple[dict, str]:
    write_report(results, out, plot=False)
    return json.loads((out / "summary.json").read_text()), (out / "report.md").read_text()


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> tuple[Path, list[dict]]:
    """Two test-split countdown problems on the micro preset (untrained: its beacons never trained)."""
    out = tmp_path_factory.mktemp("eval") / "results.jsonl"
    model, tokenizer = load_model("micro")
    task = get_task("countdown")
    problems = task.generate(2, seed=0, split="test", k=3, max_number=10)
    with pytest.warns(BreadcrumbsWarning, match="never trained"):
        result = evaluate(model, tokenizer, task, problems, "full,beacon:4", max_new_tokens=6, out=out,
                          model_id="micro")
    return out, result.records


def test_records_carry_what_the_report_states(evaluated):
    _, records = evaluated
    for row in records:
        assert set(NEW_FIELDS) <= set(row)
        assert row["split"] == "test" and row["dtype"] == "float32" and row["trained_for"] is None
        assert row["version"] and row["date"].endswith("Z")


def test_report_states_model_task_difficulty_split_decoding_lengths_dtype_and_provenance(evaluated, tmp_path):
    results, records = evaluated
    summary, markdown = run([results], tmp_path)
    setting = summary["settings"]["countdown"]
    assert setting["task"] == "countdown" and setting["split"] == "test"
    assert setting["difficulty"] == records[0]["difficulty"] and setting["difficulty"]["k"] == 3
    assert setting["decoding"] == {"temperature": 0.0, "top_p": 1.0, "greedy": True}
    assert setting["max_new_tokens"] == 6
    assert setting["prompt_tokens_mean"] == sum(r["prompt_tokens"] for r in records) / len(records)
    assert setting["generated_tokens_mean"] == sum(r["generated_tokens"] for r in records) / len(records)
    (model,) = setting["models"]
    # micro: 2 layers x (K and V) x 1 KV head x head dim 16 x 4 bytes
    assert model == {"model": "micro", "methods": ["beacon:4", "full"], "trained_for": None, "dtype": "float32",
                     "bytes_per_kv_entry": 2 * 2 * 1 * 16 * 4}
    assert setting["versions"] == [records[0]["version"]] and len(setting["dates"]) in (1, 2)
    for text in ("## What was measured", "| split | test |", "| max new tokens | 6 |", "greedy (temperature 0.0",
                 "k=3 max_number=10 max_target=100 order=0 |", "dtype float32, 256 B per KV entry", "never trained"):
        assert text in markdown, text


def test_records_from_before_the_fields_still_report(evaluated, tmp_path):
    results, records = evaluated
    old = [{key: value for key, value in row.items() if key not in NEW_FIELDS} for row in records]
    summary, markdown = run([write(tmp_path / "old.jsonl", old)], tmp_path / "report")
    setting = summary["settings"]["countdown"]
    assert setting["split"] == "test"  # the problem ids name it
    assert setting["models"][0]["dtype"] is None and setting["versions"] == [] and setting["commits"] == []
    assert "| breadcrumbs version | unrecorded |" in markdown
    assert summary["warnings"] == []


def test_untrained_beacons_are_labelled_untrained(evaluated, tmp_path):
    _, records = evaluated
    labels = lambda rows: {text.get_text() for text in pareto_figure(summarize(rows)).axes[0].get_legend().texts}
    assert "Beacons (untrained)" in labels(records)  # the micro preset records no training
    trained = {"task": "countdown", "difficulty": {"k": 3}, "ratios": [4], "student_steps": 5, "steps": 5}
    assert "Beacons (learned)" in labels([{**row, "trained_for": trained} for row in records])
    _, markdown = run([write(tmp_path / "trained.jsonl", [{**row, "trained_for": trained} for row in records])],
                      tmp_path / "trained")
    assert "trained on countdown k=3, ratios 4, 5 student steps of 5" in markdown
    assert "Beacons (untrained)" in labels([{**row, "trained_for": {**trained, "student_steps": 0}} for row in records])
    # a record from before `trained_for`: the checkpoint's config.json, when it is on disk, decides
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text(json.dumps({"breadcrumbs": {**trained, "student_steps": 0}}))
    old = [{**{k: v for k, v in row.items() if k != "trained_for"}, "model": str(checkpoint)} for row in records]
    assert "Beacons (untrained)" in labels(old)
    assert "Beacons (learned)" in labels([{**row, "model": "gone"} for row in old])  # unknown: as registered


def test_different_difficulties_get_one_panel_each_and_one_line(tmp_path, capsys):
    easy = write(tmp_path / "easy.jsonl", [record(m, p, 30 if m == "full" else 18) for m in ("full", "beacon:4")
                                            for p in range(4)])
    hard = write(tmp_path / "hard.jsonl", [record(m, p, 30 if m == "full" else 18, difficulty={"k": 5})
                                            for m in ("full", "beacon:4") for p in range(4)])
    main_out = tmp_path / "report"
    try:
        main(["report", str(easy), str(hard), "--out", str(main_out), "--no-plot", "--quiet"])
    except SystemExit as done:
        assert done.code in (0, None)
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "differ in difficulty" in warnings[0] and "easy.jsonl" in warnings[0] and "hard.jsonl" in warnings[0]
    summary = json.loads((main_out / "summary.json").read_text())
    panels = {"countdown · difficulty k=3", "countdown · difficulty k=5"}
    assert set(summary["headline"]) == panels == set(summary["settings"])
    assert {s["task"] for s in summary["methods"]} == panels
    assert all(s["problems"] == 4 for s in summary["methods"])  # not merged (8), not deduplicated away


@pytest.mark.parametrize("name, value", [("split", "dev"), ("temperature", 0.7), ("top_p", 0.9),
                                         ("max_new_tokens", 64)])
def test_every_condition_splits_panels(tmp_path, name, value):
    first = write(tmp_path / "a.jsonl", [record("full", p, 30) for p in range(3)])
    second = write(tmp_path / "b.jsonl", [record("beacon:4", p, 18, **{name: value}) for p in range(3)])
    summary, _ = run([first, second], tmp_path / "report")
    assert len(summary["settings"]) == 2 and any(f"differ in {name}" in w for w in summary["warnings"])


def test_models_may_differ_between_methods_not_within_one(tmp_path):
    main_run = write(tmp_path / "main.jsonl", [record(m, p, 30 if m == "full" else 18) for m in ("full", "beacon:4")
                                                for p in range(3)])
    control = write(tmp_path / "window.jsonl", [record("window:8", p, 18, model="control") for p in range(3)])
    summary, _ = run([main_run, control], tmp_path / "one")
    assert list(summary["settings"]) == ["countdown"] and summary["warnings"] == []
    assert [m["model"] for m in summary["settings"]["countdown"]["models"]] == ["control", "m"]
    other = write(tmp_path / "other.jsonl", [record("full", p, 30, model="other") for p in range(3)])
    summary, _ = run([main_run, other], tmp_path / "two")
    assert set(summary["settings"]) == {"countdown · model m", "countdown · model other"}
    assert any("differ in model" in w for w in summary["warnings"])


def test_kv_saving_is_stated_in_total_and_per_generated_token(tmp_path):
    rows = [record(m, p, 30 if m == "full" else 18) for m in ("full", "beacon:4") for p in range(4)]
    summary, markdown = run([write(tmp_path / "r.jsonl", rows)], tmp_path / "report")
    beacon = next(s for s in summary["methods"] if s["method"] == "beacon:4")
    # total: 1 - 18/30; per generated token: (18 - 10)/20 = 0.4 entries against the full cache's (30 - 10)/20 = 1
    assert beacon["kv_saving_vs_full"] == pytest.approx(0.4)
    assert beacon["kv_entries_per_token"] == pytest.approx(0.4)
    assert beacon["kv_saving_per_token_vs_full"] == pytest.approx(0.6)
    assert "KV saving vs full (total / per gen. token)" in markdown and "| 40.0% / 60.0% |" in markdown


def test_point_labels_do_not_overlap():
    # six ratios and four budgets whose points crowd one corner: the default offset would stack their labels
    rows = [record(f"beacon:{c}", p, 20 + c % 3, ratio=c) for c in (2, 3, 4, 5, 6, 7) for p in range(2)]
    rows += [record(f"tova:{b}", p, 20 + b % 2, budget=b) for b in (8, 9, 10, 11) for p in range(2)]
    figure = pareto_figure(summarize(rows))
    renderer = figure.canvas.get_renderer()
    boxes = [text.get_window_extent(renderer) for text in figure.axes[0].texts if text.get_text()[:2] in ("c=", "B=")]
    assert len(boxes) == 10
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)


def test_commit_is_none_without_git(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    provenance.commit.cache_clear()
    monkeypatch.setattr(subprocess, "run", no_git)
    try:
        assert provenance.commit() is None
        assert provenance.provenance()["commit"] is None
    finally:
        provenance.commit.cache_clear()


def test_a_git_archive_names_its_commit(tmp_path):
    """A source tree made by `git archive` (how long runs snapshot their code) records the archived commit."""
    repo = provenance.SOURCE_DIR.parents[1]
    if not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    archive = subprocess.run(["git", "-C", str(repo), "archive", "HEAD", "src/breadcrumbs/ARCHIVED_COMMIT"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive, check=True)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert (tmp_path / "src" / "breadcrumbs" / "ARCHIVED_COMMIT").read_text().strip() == head.strip()
    assert provenance.ARCHIVED.read_text().strip() == "$Format:%H$"  # the checkout's own copy is not substituted


def test_the_archived_commit_wins_over_any_surrounding_checkout(tmp_path, monkeypatch):
    (tmp_path / "ARCHIVED_COMMIT").write_text("0123abcd" * 5 + "\n")
    monkeypatch.setattr(provenance, "ARCHIVED", tmp_path / "ARCHIVED_COMMIT")
    provenance.commit.cache_clear()
    try:
        assert provenance.commit() == "0123abcd" * 5
    finally:
        provenance.commit.cache_clear()
