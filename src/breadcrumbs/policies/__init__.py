"""Cache policies for the generation loop, looked up by spec strings such as `full` or `beacon:4`."""

from __future__ import annotations

from collections.abc import Callable

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.policies.base import CachePolicy, FullCache
from breadcrumbs.policies.beacon import BeaconPolicy


def _int_argument(spec: str, argument: str | None) -> int:
    if argument is None:
        raise BreadcrumbsError(f"policy {spec!r} needs a number, e.g. {spec.split(':')[0]}:4")
    try:
        return int(argument)
    except ValueError:
        raise BreadcrumbsError(f"policy {spec!r}: {argument!r} is not a whole number") from None


def _no_argument(spec: str, argument: str | None) -> None:
    if argument is not None:
        raise BreadcrumbsError(f"policy {spec!r} takes no argument; write just {spec.split(':')[0]!r}")


# name -> factory(spec, argument) -> policy
POLICY_FACTORIES: dict[str, Callable[[str, str | None], CachePolicy]] = {
    "full": lambda spec, argument: _no_argument(spec, argument) or FullCache(),
    "beacon": lambda spec, argument: BeaconPolicy(_int_argument(spec, argument)),
}


def policy_from_spec(spec: str) -> CachePolicy:
    """Build a policy from `name[:argument]`, e.g. `full`, `beacon:4`."""
    name, _, argument = spec.strip().partition(":")
    factory = POLICY_FACTORIES.get(name)
    if factory is None:
        raise BreadcrumbsError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_FACTORIES)}")
    return factory(spec, argument or None)


__all__ = ["POLICY_FACTORIES", "BeaconPolicy", "CachePolicy", "FullCache", "policy_from_spec"]
