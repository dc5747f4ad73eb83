"""`run_comparison` on a micro demo: tuned sweeps, the trained window control, and one report with all of them."""

from __future__ import annotations

import json

import pytest

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.recipes.comparison import run_comparison
from breadcrumbs.recipes.demo import run_demo


@pytest.mark.slow
def test_comparison_after_a_micro_demo(tmp_path):
    out = tmp_path / "demo"
    with pytest.raises(BreadcrumbsError, match="no finished demo"):
        run_comparison("stargraph", out, micro=True, progress=False)
    run_demo("stargraph", out, progress=False, micro=True)
    families, budgets = ("streaming", "rkv"), (4, 9)
    result = run_comparison("stargraph", out, micro=True, progress=False, families=families, budgets=budgets)
    config = (out / "window" / "train" / "config.yaml").read_text()
    assert "layout: window" in config
    tuning = json.loads((out / "sweep" / "tuning.json").read_text())
    assert {(t["family"], t["budget"]) for t in tuning} == {(f, b) for f in families for b in budgets}
    methods = {s.method for s in result["report"].summaries}
    assert {f"window:{b}" for b in budgets} <= methods and "beacon:4" in methods and "full" in methods
    assert {t["chosen"] for t in tuning} <= methods
    assert {"rkv:@beacon:4", "rkv:@beacon:4@mean", "streaming:@beacon:8@mean"} <= methods
    markdown = (out / "comparison" / "report.md").read_text()
    assert "Matched comparisons" in markdown and "window:9" in markdown
    assert (out / "comparison" / "pareto.png").stat().st_size > 0
    record = json.loads((out / "comparison" / "comparison.json").read_text())
    assert record["budgets"] == list(budgets) and record["families"] == list(families)
    assert set(record["timings_s"]) == {"sweep_s", "control_train_s", "control_eval_s", "matched_eval_s"}
    assert all(seconds > 0 for seconds in record["timings_s"].values())
