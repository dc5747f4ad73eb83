"""Cache policies for the generation loop, looked up by spec strings such as `full` or `beacon:4`."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from breadcrumbs.beacon.layout import LaggedBeacons, SlidingWindow
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


def _beacon(spec: str, argument: str | None, **settings) -> BeaconPolicy:
    """`beacon:C` (and `beacon:C:lag=L`: windows stay raw for L more windows)."""
    return BeaconPolicy(_int_argument(spec, argument), **settings)


_beacon.policy_class = BeaconPolicy


def _scored(cls: type[ScoredEvictionPolicy]) -> Callable[..., CachePolicy]:
    """Factory of a budgeted baseline: `name:BUDGET` or `name:@REF[@mean]`, plus `:key=value` settings."""

    def factory(spec: str, argument: str | None, **settings) -> CachePolicy:
        return cls(parse_budget(spec, argument), **settings)

    factory.policy_class = cls
    return factory


# name -> factory(spec, argument, **settings) -> policy
POLICY_FACTORIES: dict[str, Callable[..., CachePolicy]] = {
    "full": _full_cache,
    "beacon": _beacon,
    # Training-free eviction baselines: `name:BUDGET` (generated entries kept besides the prompt) or
    # `name:@beacon:8[@mean]` (budget matched per problem to another method's measured peak/mean entries).
    "streaming": _scored(StreamingPolicy),
    "h2o": _scored(H2OPolicy),
    "tova": _scored(TOVAPolicy),
    "snapkv": _scored(SnapKVPolicy),
    "knorm": _scored(KnormPolicy),
    "rkv": _scored(RKVPolicy),
    # The trained sliding-window control (a model trained with `beacon.layout: window`): `window:B`.
    "window": _scored(WindowPolicy),
}


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
    factory = POLICY_FACTORIES.get(name)
    if factory is None:
        raise BreadcrumbsError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_FACTORIES)}")
    policy_class = getattr(factory, "policy_class", None)
    known = list(inspect.signature(policy_class.__init__).parameters)[2:] if policy_class else []
    argument_parts, setting_parts, in_reference = [], [], False
    for part in rest.split(":") if rest else []:
        in_reference = in_reference or part.startswith("@")
        # after `@REF`, a setting this policy does not take belongs to the matched method (`@beacon:8:lag=2`)
        ours = "=" in part and not (in_reference and part.partition("=")[0] not in known)
        (setting_parts if ours else argument_parts).append(part)
    argument = ":".join(argument_parts) or None
    settings = dict(_setting(spec, part) for part in setting_parts)
    if not settings:
        return factory(spec, argument)
    unknown = sorted(set(settings) - set(known))
    if unknown:
        offered = ", ".join(known) or "none"
        raise BreadcrumbsError(f"policy {spec!r}: unknown setting {unknown[0]!r}; {name} takes: {offered}")
    return factory(spec, argument, **settings)


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
