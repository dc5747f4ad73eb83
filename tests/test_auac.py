"""AUAC (issue 12): the area under the accuracy-vs-KV curve, on hand-computed cases."""

from __future__ import annotations

import pytest

from breadcrumbs.evaluation.auac import auac, auac_table
from breadcrumbs.evaluation.metrics import MethodSummary


def point(family: str, peak: float, accuracy: float, method: str | None = None) -> MethodSummary:
    return MethodSummary(
        task="t", method=method or f"{family}:{peak}", family=family, problems=10, accuracy=accuracy, ci_low=0.0,
        ci_high=1.0, mean_reward=accuracy, peak_kv_entries=peak, mean_kv_entries=peak, max_peak_kv_entries=int(peak),
        peak_kv_bytes=0.0, mean_kv_bytes=0.0, prompt_tokens=10.0, generated_tokens=90.0, time_s=1.0,
        tokens_per_s=1.0, budget=None, ratio=None, kv_saving_vs_full=None,
    )


def test_auac_by_hand():
    summaries = [
        point("full", 100, 0.8),
        point("beacon", 20, 0.8), point("beacon", 50, 0.8),  # flat at the full accuracy from x = 0.2
        point("tova", 50, 0.4),  # nothing measured below x = 0.5: 0 there
    ]
    result = auac(summaries)["t"]
    assert result["beacon"]["x0"] == pytest.approx(0.2)
    assert result["beacon"]["auac"] == pytest.approx(0.8)
    # tova: 0 on [0.2, 0.5), then the line from (0.5, 0.4) to (1, 0.8): area 0.5 * 0.6 = 0.3, over a range of 0.8
    assert result["tova"]["auac"] == pytest.approx(0.3 / 0.8)
    table = auac_table(summaries)
    assert table.index("| beacon |") < table.index("| tova |")


def test_auac_needs_a_full_cache_reference_and_a_compressed_point():
    assert auac([point("beacon", 20, 0.5)]) == {}
    assert auac([point("full", 100, 0.5), point("beacon", 100, 0.5)]) == {}


def matched(family: str, peak: float, accuracy: float, match: str) -> MethodSummary:
    summary = point(family, peak, accuracy, method=f"{family}:@{match}")
    summary.match = match
    return summary


def test_auac_uses_fixed_budget_points_only_when_a_sweep_is_present():
    fixed_only = [point("full", 100, 0.8), point("beacon", 20, 0.8), point("tova", 50, 0.4)]
    with_matched = fixed_only + [matched("tova", 20, 0.0, "beacon:4"), matched("tova", 30, 0.8, "beacon:4@mean")]
    result = auac(with_matched)["t"]
    assert result["tova"]["auac"] == pytest.approx(auac(fixed_only)["t"]["tova"]["auac"])  # 0.3 / 0.8, as by hand
    assert result["tova"]["points"] == 1 and result["tova"]["kind"] == "fixed-budget"
    assert "from fixed-budget points only" in auac_table(with_matched)


def test_auac_without_a_sweep_uses_peak_matched_points_and_leaves_mean_matched_out():
    summaries = [
        point("full", 100, 0.8), point("beacon", 20, 0.8),
        matched("tova", 20, 0.4, "beacon:4"),  # peak-matched: counts
        matched("tova", 10, 0.8, "beacon:4@mean"),  # mean-matched: left out (it would lower x0 and raise tova)
    ]
    result = auac(summaries)["t"]
    assert result["tova"]["kind"] == "peak-matched" and result["tova"]["points"] == 1
    assert result["tova"]["x0"] == pytest.approx(0.2)
    # tova: the line from (0.2, 0.4) to (1, 0.8) over [0.2, 1]: mean 0.6
    assert result["tova"]["auac"] == pytest.approx(0.6)
    assert "from peak-matched points only" in auac_table(summaries)
