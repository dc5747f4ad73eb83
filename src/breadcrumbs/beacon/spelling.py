"""One spelling per feature of a student layout, printed here and nowhere else.

A student view (`StudentView` in `layout.py`: a beacon ratio, `LaggedBeacons`, a `SlidingWindow`) is written in
four contexts, one spelling each:

| context                                             | beacons    | beacons + raw tail     | window control          |
|-----------------------------------------------------|------------|------------------------|-------------------------|
| training config, `beacon` section                   | ratios: [8] | ratios: [8], lag: 2   | layout: window, windows: [16] |
| method spec (`--methods`, a result's `method`)      | `beacon:8` | `beacon:8:lag=2`       | `window:16`             |
| name (metric keys `acc_NAME`, job names, folders)   | `c8`       | `c8-lag2`              | `w16`                   |
| family (one curve and one AUAC per family)          | `beacon`   | `beacon-lag2`          | `window`                |

`view_spec`, `view_name` and `family_name` are the printers, `lagged` puts the lag on any other name built from a
view's (`joint-lag2-s0`); specs are parsed by `policies.policy_from_spec` (its policy's `view` is the layout back)
and families by `family_lag`. `upgrade_config` is the deprecation shim: it accepts the retired config spelling (the
window control's sizes under `ratios`) with one warning line. The retired spellings (the name `c8l2`, so the
metric key `acc_c8l2`; window sizes under `ratios`) and lag spellings formatted by hand appear in this file only
(`tests/test_spelling.py` greps the sources for them); records under docs/ and benchmarks/results/ keep theirs.
"""

from __future__ import annotations

import re
import warnings

from breadcrumbs.beacon.layout import LaggedBeacons, SlidingWindow, check_ratio
from breadcrumbs.errors import BreadcrumbsDeprecationWarning

BeaconView = int | LaggedBeacons | SlidingWindow  # a student view with a compressed cache (not the teacher)

LAG_SUFFIX = re.compile(r"-lag(\d+)$")


def lagged(name: str, lag: int) -> str:
    """`name` with an eviction lag: `c8` -> `c8-lag2`, `beacon` -> `beacon-lag2`; `name` itself for lag 0."""
    return f"{name}-lag{lag}" if lag else name


def view_spec(view: BeaconView) -> str:
    """The method spec that serves `view`: `beacon:8`, `beacon:8:lag=2`, `window:16`."""
    if isinstance(view, SlidingWindow):
        return f"window:{view.size}"
    if isinstance(view, LaggedBeacons):
        return f"beacon:{view.ratio}:lag={view.lag}"
    return f"beacon:{check_ratio(view)}"


def view_name(view: BeaconView) -> str:
    """The short name of `view` in metric keys (`acc_c8-lag2`), job names and folders: `c8`, `c8-lag2`, `w16`."""
    if isinstance(view, SlidingWindow):
        return f"w{view.size}"
    if isinstance(view, LaggedBeacons):
        return lagged(f"c{view.ratio}", view.lag)
    return f"c{check_ratio(view)}"


def family_name(lag: int) -> str:
    """The family of beacons with eviction lag `lag`: `beacon`, or `beacon-lag2` (another method: its own curve)."""
    return lagged("beacon", lag)


def family_lag(family: str) -> int:
    """The eviction lag of a beacon family name (`beacon-lag2` -> 2, `beacon` -> 0)."""
    match = LAG_SUFFIX.search(family)
    return int(match.group(1)) if match else 0


# The retired spelling of the window control's sizes: `beacon.ratios` / `eval.ratios` under `layout: window`.
_RETIRED_WINDOW_SIZES = ("beacon", "eval")


def upgrade_config(data: dict) -> dict:
    """`data` (a raw training config) with the retired spelling moved to its canonical key: under
    `beacon.layout: window`, a `beacon.ratios` / `eval.ratios` given without `windows` beside it holds window sizes
    (configs written before `windows` existed) and becomes `beacon.windows` / `eval.windows`, with one
    `BreadcrumbsDeprecationWarning` line each when it holds any."""
    beacon = data.get("beacon")
    if not isinstance(beacon, dict) or beacon.get("layout") != "window":
        return data
    upgraded = dict(data)
    for section in _RETIRED_WINDOW_SIZES:
        values = upgraded.get(section)
        if not isinstance(values, dict) or "ratios" not in values or "windows" in values:
            continue
        values = {key: value for key, value in values.items() if key != "ratios"} | {"windows": values["ratios"]}
        upgraded[section] = values
        if values["windows"]:
            warnings.warn(
                f"config key '{section}.ratios' under beacon.layout: window is deprecated; write the window sizes "
                f"as '{section}.windows: {values['windows']}'",
                BreadcrumbsDeprecationWarning, stacklevel=3,
            )
    return upgraded


def upgrade_record(data: dict) -> dict:
    """A checkpoint's training record (`config.breadcrumbs`) written before `windows` existed, with a window
    control's sizes moved from `ratios` to `windows` (silently: a record, not a spelling its reader chose)."""
    if data.get("layout") != "window" or "windows" in data:
        return data
    return {**data, "ratios": [], "windows": data["ratios"]}
