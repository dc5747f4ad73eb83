"""`write_report` / `breadcrumbs report`: deterministic outputs, a valid plot, malformed lines reported by number."""

from __future__ import annotations

import json

import matplotlib.image
import pytest

from breadcrumbs.cli import main
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.evaluation import bootstrap_ci, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def record(method, family, problem, correct, peak, **extra):
    return {
        "task": "countdown", "method": method, "family": family, "problem_id": f"countdown-0-{problem}",
        "correct": correct, "reward": float(correct), "prompt_tokens": 30, "generated_tokens": 40,
        "peak_kv_entries": peak, "mean_kv_entries": peak - 10.5, "peak_kv_bytes": peak * 256,
        "mean_kv_bytes": (peak - 10.5) * 256, "time_s": 0.25, "model": "tiny/qwen2", "seed": 0, **extra,
    }


def results_file(path, n=12):
    rows = []
    for problem in range(n):
        rows.append(record("full", "full", problem, problem % 4 != 0, 70))
        for ratio, peak in ((4, 48), (8, 43)):
            rows.append(record(f"beacon:{ratio}", "beacon", problem, problem % 3 != 0, peak, ratio=ratio))
            rows.append(record(f"tova:@beacon:{ratio}", "tova", problem, problem % 2 == 0, peak, budget=peak - 30))
        rows.append(record("h2o:16", "h2o", problem, problem % 5 == 0, 46, budget=16))
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return rows


def test_report_is_deterministic_with_a_valid_plot(tmp_path):
    results = tmp_path / "results.jsonl"
    results_file(results)
    first = write_report(results, tmp_path / "a")
    second = write_report(results, tmp_path / "b")
    for name in ("report.md", "summary.json", "pareto.svg", "pareto.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    png = (tmp_path / "a" / "pareto.png").read_bytes()
    assert png.startswith(PNG_MAGIC)
    image = matplotlib.image.imread(tmp_path / "a" / "pareto.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 400
    assert first.warnings == [] and [s.method for s in first.summaries] == [s.method for s in second.summaries]
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    methods = {m["method"]: m for m in summary["methods"]}
    assert list(methods) == ["full", "beacon:4", "beacon:8", "h2o:16", "tova:@beacon:4", "tova:@beacon:8"]
    assert methods["full"]["accuracy"] == pytest.approx(9 / 12)
    assert methods["beacon:4"]["kv_saving_vs_full"] == pytest.approx(1 - 48 / 70)
    assert methods["beacon:4"]["ci_low"] <= methods["beacon:4"]["accuracy"] <= methods["beacon:4"]["ci_high"]
    assert methods["tova:@beacon:8"]["budget"] == 13 and methods["beacon:8"]["ratio"] == 8
    assert methods["full"]["tokens_per_s"] == pytest.approx(40 / 0.25)
    table = (tmp_path / "a" / "report.md").read_text()
    assert "| beacon:4 | 12 | 66.7% [" in table and "![Pareto frontier](pareto.png)" in table
    assert not list((tmp_path / "a").glob(".*.tmp"))  # atomic writes leave no temporaries


def test_malformed_lines_are_reported_by_number_and_the_rest_used(tmp_path):
    results = tmp_path / "results.jsonl"
    rows = results_file(results, n=4)
    text = results.read_text().splitlines(keepends=True)
    broken = record("full", "full", 9, True, 70)
    del broken["peak_kv_entries"]
    text.insert(1, "{not json\n")
    text.insert(3, json.dumps(broken) + "\n")
    text.insert(5, json.dumps({**rows[0], "correct": "yes"}) + "\n")
    text.append('{"task": "countdown", "meth')  # truncated last line
    results.write_text("".join(text))
    report = write_report(results, tmp_path / "out", plot=False)
    assert report.warnings[0].startswith("results.jsonl line 2: not valid JSON")
    assert report.warnings[1] == "results.jsonl line 4: missing field 'peak_kv_entries'; skipped"
    assert report.warnings[2].startswith("results.jsonl line 6: field 'correct' has the wrong type")
    assert report.warnings[3].startswith(f"results.jsonl line {len(text)}: truncated last line")
    assert sum(s.problems for s in report.summaries) == len(rows)
    assert "## Warnings" in (tmp_path / "out" / "report.md").read_text()


def test_unusable_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(BreadcrumbsError, match="no results file"):
        write_report(tmp_path / "missing.jsonl", tmp_path / "out")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("garbage\n")
    with pytest.raises(BreadcrumbsError, match="no usable result records"):
        write_report(empty, tmp_path / "out")


def test_bootstrap_ci_is_deterministic():
    values = [1, 0, 1, 1, 0, 1, 0, 1]
    assert bootstrap_ci(values) == bootstrap_ci(values)
    low, high = bootstrap_ci(values)
    assert 0.0 <= low < sum(values) / len(values) < high <= 1.0
    assert bootstrap_ci([1, 1, 1]) == (1.0, 1.0)


def test_cli_report(tmp_path, capsys):
    results = tmp_path / "results.jsonl"
    results_file(results, n=3)
    with results.open("a") as handle:
        handle.write("oops\n")
    main(["report", str(results), "--out", str(tmp_path / "rep")])
    captured = capsys.readouterr()
    assert "warning: results.jsonl line 19: not valid JSON" in captured.err
    assert "| tova:@beacon:8 |" in captured.out and (tmp_path / "rep" / "pareto.svg").exists()
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "rep")])
    assert exit_.value.code == 1 and capsys.readouterr().err.startswith("error: no results file")
