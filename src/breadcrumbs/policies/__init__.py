"""Cache policies for the generation loop, looked up by spec strings such as `full` or `beacon:4`."""

from __future__ import annotations

from breadcrumbs.beacon.layout import LaggedBeacons, SlidingWindow
from breadcrumbs.errors import BreadcrumbsError

# The method families: importing a family's module registers it (`registry.register`), so the order of these
# imports is the registry's order, which recipes' baseline lists and the plot legend follow.
from breadcrumbs.policies.base import CachePolicy, FullCache
from breadcrumbs.policies.beacon import BeaconPolicy
from breadcrumbs.policies.streaming import StreamingPolicy, WindowPolicy
from breadcrumbs.policies.h2o import H2OPolicy
from breadcrumbs.policies.tova import TOVAPolicy
from breadcrumbs.policies.snapkv import SnapKVPolicy
from breadcrumbs.policies.knorm import KnormPolicy
from breadcrumbs.policies.rkv import RKVPolicy
from breadcrumbs.policies.triattention import TriAttentionPolicy  # noqa: F401  (registers triattention)
from breadcrumbs.policies.registry import MethodFamily, families, get_family
from breadcrumbs.policies.scored import BudgetMatch, ScoredEvictionPolicy


def _setting(spec: str, text: str) -> tuple[str, int | float]:
    name, _, value = text.partition("=")
    for kind in (int, float):
        try:
            return name, kind(value)
        except ValueError:
            continue
    raise BreadcrumbsError(f"policy {spec!r}: setting {text!r} needs a number, e.g. {name}=4")


def student_policy(view: int | LaggedBeacons | SlidingWindow) -> CachePolicy:
    """The serving policy of a student view: `BeaconPolicy(c)` for a ratio (`BeaconPolicy(c, lag)` for lagged
    beacons), `WindowPolicy(B)` for a window."""
    if isinstance(view, SlidingWindow):
        return WindowPolicy(view.size)
    if isinstance(view, LaggedBeacons):
        return BeaconPolicy(view.ratio, view.lag)
    return BeaconPolicy(view)


def policy_from_spec(spec: str) -> CachePolicy:
    """Build a policy from `name[:argument][:key=value...]`, e.g. `full`, `beacon:4`, `snapkv:16:window=4:kernel=3`
    (settings are the policy class's keyword arguments; a policy's `label` is the spec that rebuilds it)."""
    name, _, rest = spec.strip().partition(":")
    family = get_family(name)
    known = list(family.settings)
    argument_parts, setting_parts, in_reference = [], [], False
    for part in rest.split(":") if rest else []:
        in_reference = in_reference or part.startswith("@")
        # after `@REF`, a setting this policy does not take belongs to the matched method (`@beacon:8:lag=2`)
        ours = "=" in part and not (in_reference and part.partition("=")[0] not in known)
        (setting_parts if ours else argument_parts).append(part)
    argument = ":".join(argument_parts) or None
    settings = dict(_setting(spec, part) for part in setting_parts)
    unknown = sorted(set(settings) - set(known))
    if unknown:
        offered = ", ".join(known) or "none"
        raise BreadcrumbsError(f"policy {spec!r}: unknown setting {unknown[0]!r}; {name} takes: {offered}")
    return family.build(spec, argument, **settings)


__all__ = [
    "BeaconPolicy",
    "BudgetMatch",
    "CachePolicy",
    "FullCache",
    "H2OPolicy",
    "KnormPolicy",
    "MethodFamily",
    "RKVPolicy",
    "ScoredEvictionPolicy",
    "SnapKVPolicy",
    "StreamingPolicy",
    "TOVAPolicy",
    "WindowPolicy",
    "families",
    "get_family",
    "policy_from_spec",
    "student_policy",
]
