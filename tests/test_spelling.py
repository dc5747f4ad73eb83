"""One spelling per feature of a student layout (`beacon/spelling.py`): the printers, the deprecation shim for the
retired config spelling, and a grep that finds the retired and hand-rolled spellings only in the shim."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from breadcrumbs.beacon.layout import LaggedBeacons, SlidingWindow
from breadcrumbs.beacon.spelling import family_lag, family_name, lagged, view_name, view_spec
from breadcrumbs.errors import BreadcrumbsDeprecationWarning, BreadcrumbsError
from breadcrumbs.policies import policy_from_spec, student_policy
from breadcrumbs.trained import TrainedFor
from breadcrumbs.training import config_from_dict

SOURCES = Path(__file__).resolve().parents[1] / "src" / "breadcrumbs"
SHIM = SOURCES / "beacon" / "spelling.py"
# Spellings no source file but the shim may write: the retired `c8l2` name (metric keys `acc_c8l2`) and lag names
# or specs formatted by hand instead of through the printers (`f"c8-lag{lag}"`, `f"beacon:8:lag={lag}"`).
RETIRED = {
    "retired name c<ratio>l<lag>": re.compile(r"\bc\d+l\d+\b|c\{[^}]*\}l\{"),
    "hand-formatted lag": re.compile(r"-lag\{|:lag=\{|removeprefix\(['\"]beacon-lag"),
}

VIEWS = [(8, "beacon:8", "c8"), (LaggedBeacons(8, 2), "beacon:8:lag=2", "c8-lag2"), (SlidingWindow(16), "window:16", "w16")]


@pytest.mark.parametrize(("view", "spec", "name"), VIEWS)
def test_one_printer_per_context_and_the_policy_takes_the_same_view(view, spec, name):
    assert view_spec(view) == spec and view_name(view) == name
    policy = student_policy(view)
    assert policy.label == spec and policy.view == view  # the policy serves the layout it was built from
    assert policy_from_spec(spec).view == view  # the spec parser gives the same layout back


def test_family_names_carry_the_lag_one_way():
    assert family_name(0) == "beacon" and family_name(2) == "beacon-lag2" == lagged("beacon", 2)
    assert family_lag("beacon-lag2") == 2 and family_lag("beacon") == 0
    assert policy_from_spec("beacon:8:lag=2").family == "beacon-lag2"
    assert lagged("joint", 0) == "joint"


def test_retired_spellings_appear_only_in_the_shim():
    found = [
        f"{path.relative_to(SOURCES)}:{number}: {what}: {line.strip()}"
        for path in sorted(SOURCES.rglob("*.py")) if path != SHIM
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for what, pattern in RETIRED.items() if pattern.search(line)
    ]
    assert not found, "\n".join(found)
    assert all(pattern.search(SHIM.read_text(encoding="utf-8")) for pattern in RETIRED.values())


TASK = {"name": "countdown"}


def test_window_sizes_under_ratios_still_load_with_one_deprecation_line():
    new = config_from_dict({"task": TASK, "beacon": {"layout": "window", "windows": [16, 48]},
                            "eval": {"windows": [16]}, "sft": {"steps": 1}})
    with pytest.warns(BreadcrumbsDeprecationWarning) as caught:
        old = config_from_dict({"task": TASK, "beacon": {"layout": "window", "ratios": [16, 48]},
                                "eval": {"ratios": [16]}, "sft": {"steps": 1}})
    assert old == new and new.eval_views() == [SlidingWindow(16)]
    messages = [str(warning.message) for warning in caught]
    assert messages == [
        "config key 'beacon.ratios' under beacon.layout: window is deprecated; write the window sizes as "
        "'beacon.windows: [16, 48]'",
        "config key 'eval.ratios' under beacon.layout: window is deprecated; write the window sizes as "
        "'eval.windows: [16]'",
    ]
    assert issubclass(BreadcrumbsDeprecationWarning, FutureWarning)  # shown to end users by default
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config_from_dict(new.to_dict())  # a saved config (both keys written) loads without a warning


@pytest.mark.parametrize(("beacon", "eval_", "message"), [
    ({"layout": "window", "windows": [16], "ratios": [8]}, {}, "'beacon.ratios' does not apply to beacon.layout: window"),
    ({"layout": "window", "windows": [16]}, {"ratios": [8], "windows": [16]}, "'eval.ratios' does not apply"),
    ({"ratios": [8], "windows": [16]}, {}, "'beacon.windows' does not apply to beacon.layout: beacon"),
    ({"layout": "window", "windows": []}, {}, "'beacon.windows' is empty"),
    ({"layout": "window", "windows": [0]}, {}, "every window size must be an integer >= 1"),
])
def test_sizes_under_the_other_layouts_key_are_one_clear_error(beacon, eval_, message):
    with pytest.raises(BreadcrumbsError, match=message):
        config_from_dict({"task": TASK, "beacon": beacon, "eval": eval_, "sft": {"steps": 1}})


def test_a_window_checkpoint_recorded_before_windows_existed_reads_as_one():
    old = {"task": "countdown", "difficulty": {}, "ratios": [16, 48], "layout": "window"}
    record = TrainedFor.from_dict(old)
    assert (record.ratios, record.windows, record.served_as) == ([], [16, 48], ["window:16", "window:48"])
    assert TrainedFor.from_dict(record.to_dict()) == record
