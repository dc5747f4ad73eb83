"""Cache policies for the generation loop, looked up by spec strings such as `full` or `beacon:4`."""

from __future__ import annotations

from collections.abc import Callable

from breadcrumbs.beacon.layout import SlidingWindow
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.policies.base import CachePolicy, FullCache
from breadcrumbs.policies.beacon import BeaconPolicy
from breadcrumbs.policies.h2o import H2OPolicy
from breadcrumbs.policies.knorm import KnormPolicy
from breadcrumbs.policies.rkv import RKVPolicy
from breadcrumbs.policies.scored import BudgetMatch, ScoredEvictionPolicy, parse_budget
from breadcrumbs.policies.snapkv import SnapKVPolicy
from breadcrumbs.policies.streaming import StreamingPolicy, WindowPolicy
from breadcrumbs.policies.tova import TOVAPolicy


def _int_argument(spec: str, argument: str | None) -> int:
    if argument is None:
        raise BreadcrumbsError(f"policy {spec!r} needs a number, e.g. {spec.split(':')[0]}:4")
    try:
        return int(argument)
    except ValueError:
        raise BreadcrumbsError(f"policy {spec!r}: {argument!r} is not a whole number") from None


def _full_cache(spec: str, argument: str | None) -> FullCache:
    if argument is not None:
        raise BreadcrumbsError(f"policy {spec!r} takes no argument; write just {spec.split(':')[0]!r}")
    return FullCache()


# name -> factory(spec, argument) -> policy
POLICY_FACTORIES: dict[str, Callable[[str, str | None], CachePolicy]] = {
    "full": _full_cache,
    "beacon": lambda spec, argument: BeaconPolicy(_int_argument(spec, argument)),
    # Training-free eviction baselines: `name:BUDGET` (generated entries kept besides the prompt) or
    # `name:@beacon:8[@mean]` (budget matched per problem to another method's measured peak/mean entries).
    "streaming": lambda spec, argument: StreamingPolicy(parse_budget(spec, argument)),
    "h2o": lambda spec, argument: H2OPolicy(parse_budget(spec, argument)),
    "tova": lambda spec, argument: TOVAPolicy(parse_budget(spec, argument)),
    "snapkv": lambda spec, argument: SnapKVPolicy(parse_budget(spec, argument)),
    "knorm": lambda spec, argument: KnormPolicy(parse_budget(spec, argument)),
    "rkv": lambda spec, argument: RKVPolicy(parse_budget(spec, argument)),
    # The trained sliding-window control (a model trained with `beacon.layout: window`): `window:B`.
    "window": lambda spec, argument: WindowPolicy(parse_budget(spec, argument)),
}


def student_policy(view: int | SlidingWindow) -> CachePolicy:
    """The serving policy of a student view: `BeaconPolicy(c)` for a ratio, `WindowPolicy(B)` for a window."""
    return WindowPolicy(view.size) if isinstance(view, SlidingWindow) else BeaconPolicy(view)


def policy_from_spec(spec: str) -> CachePolicy:
    """Build a policy from `name[:argument]`, e.g. `full`, `beacon:4`."""
    name, _, argument = spec.strip().partition(":")
    factory = POLICY_FACTORIES.get(name)
    if factory is None:
        raise BreadcrumbsError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_FACTORIES)}")
    return factory(spec, argument or None)


__all__ = [
    "POLICY_FACTORIES",
    "BeaconPolicy",
    "BudgetMatch",
    "CachePolicy",
    "FullCache",
    "H2OPolicy",
    "KnormPolicy",
    "RKVPolicy",
    "ScoredEvictionPolicy",
    "SnapKVPolicy",
    "StreamingPolicy",
    "TOVAPolicy",
    "WindowPolicy",
    "policy_from_spec",
    "student_policy",
]
