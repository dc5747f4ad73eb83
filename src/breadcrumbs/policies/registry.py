"""The method families: one `MethodFamily` record per family of cache policies, registered by the family's own module.

A record says everything the rest of the project needs to know about a method: its spec name and how the spec's
argument is parsed, its policy class (whose keyword arguments are the `:key=value` settings it accepts), whether it
is learned or training-free, its sweep grid, its plot style and legend label, and which recorded recipes run it.
Spec parsing (`policy_from_spec`), sweeps, the Pareto plot, the report, AUAC's "is it learned", the demo, the
experiment, the full comparison and the CLI help all read these records.

Adding a method is one new module that defines its policy class and calls `register(MethodFamily(...))`, plus one
import line in `breadcrumbs/policies/__init__.py` (docs/baselines.md, "Adding a method"). Families are kept in
registration order, which is the order of the plot legend.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from breadcrumbs.errors import BreadcrumbsError

if TYPE_CHECKING:
    from breadcrumbs.policies.base import CachePolicy

# Parses the argument after `name:` of a spec (None when absent) into the policy class's positional arguments.
ArgumentParser = Callable[[str, "str | None"], tuple]
# Sweep candidates at a budget: keyword-argument dicts of the policy class, the default setting first.
Grid = Callable[[int], "list[dict]"]

RECIPES = ("demo", "experiment", "comparison")


@dataclass(frozen=True)
class PlotStyle:
    """How a family's points are drawn on the Pareto plot (matplotlib colour, marker and marker size)."""

    color: str
    marker: str
    markersize: int = 7


@dataclass(frozen=True)
class MethodFamily:
    """One family of cache policies (see the module docstring).

    `recipes` names the recorded recipes (`RECIPES`) whose baseline lists include a training-free family: it joins
    the demo, the experiment or the full comparison only when its record says so, so registering a new method does
    not change what an existing recorded run computes. `variant_label` names a variant family a policy reports
    (`BeaconPolicy.family` is `beacon-lag2` with a raw tail), falling back to `label`. `untrained_label` names a
    learned family whose model never trained it (a checkpoint with `student_steps: 0`).
    """

    name: str
    policy_class: type[CachePolicy]
    parse: ArgumentParser
    label: str
    style: PlotStyle
    learned: bool = False
    grid: Grid | None = None
    recipes: frozenset[str] = frozenset()
    argument: str = "B"
    variant_label: Callable[[str], str] | None = None
    untrained_label: str | None = None

    def __post_init__(self) -> None:
        unknown = set(self.recipes) - set(RECIPES)
        if unknown:
            raise BreadcrumbsError(f"method {self.name!r}: unknown recipe {sorted(unknown)[0]!r}; use {RECIPES}")

    @property
    def settings(self) -> dict[str, object]:
        """The `:key=value` settings the family accepts: its policy class's keyword arguments and their defaults."""
        parameters = inspect.signature(self.policy_class.__init__).parameters.values()
        return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}

    @property
    def usage(self) -> str:
        """The spec's shape for help texts, e.g. `tova:B`, `beacon:C`, `full`."""
        return f"{self.name}:{self.argument}" if self.argument else self.name

    def build(self, spec: str, argument: str | None, **settings) -> CachePolicy:
        """The policy of `spec` (its argument already split off, its settings already parsed)."""
        return self.policy_class(*self.parse(spec, argument), **settings)

    def legend(self, family: str, trained: bool | None = None) -> str:
        """The legend name of `family`, this record's own name or one of its variants; named as untrained when
        `trained` is False (the model never trained it) and the record has an `untrained_label`."""
        name = self.variant_label(family) if family != self.name and self.variant_label is not None else self.label
        if trained is False and self.untrained_label is not None:
            return self.untrained_label if family == self.name else f"{name} (untrained)"
        return name


def no_argument(spec: str, argument: str | None) -> tuple:
    """The argument parser of a policy that takes none (`full`)."""
    if argument is not None:
        raise BreadcrumbsError(f"policy {spec!r} takes no argument; write just {spec.split(':')[0]!r}")
    return ()


def whole_number(spec: str, argument: str | None) -> tuple[int]:
    """The argument parser of a policy that takes a whole number (`beacon:4`)."""
    if argument is None:
        raise BreadcrumbsError(f"policy {spec!r} needs a number, e.g. {spec.split(':')[0]}:4")
    try:
        return (int(argument),)
    except ValueError:
        raise BreadcrumbsError(f"policy {spec!r}: {argument!r} is not a whole number") from None


_FAMILIES: dict[str, MethodFamily] = {}


def register(family: MethodFamily) -> MethodFamily:
    """Add a family to the registry (once per name); returns it."""
    if family.name in _FAMILIES:
        raise BreadcrumbsError(f"method {family.name!r} is registered twice")
    _FAMILIES[family.name] = family
    return family


def families(learned: bool | None = None, recipe: str | None = None, swept: bool = False) -> list[MethodFamily]:
    """The registered families in registration order, optionally only the learned (or training-free) ones, those a
    recipe runs, or those with a sweep grid."""
    return [
        family for family in _FAMILIES.values()
        if (learned is None or family.learned == learned) and (recipe is None or recipe in family.recipes)
        and (not swept or family.grid is not None)
    ]


def baseline_names(recipe: str | None = None, swept: bool = False) -> tuple[str, ...]:
    """Names of the training-free families (those `recipe` runs, those with a sweep grid)."""
    return tuple(family.name for family in families(learned=False, recipe=recipe, swept=swept))


def get_family(name: str) -> MethodFamily:
    """The family registered as `name`; one error naming the choices otherwise."""
    if name not in _FAMILIES:
        raise BreadcrumbsError(f"unknown policy {name!r}; choose one of {', '.join(_FAMILIES)}")
    return _FAMILIES[name]


def family_of(family: str) -> MethodFamily | None:
    """The record of a reported family name: `beacon` or a variant such as `beacon-lag2` (None if unknown)."""
    return _FAMILIES.get(family) or _FAMILIES.get(family.partition("-")[0])


def is_learned(family: str) -> bool:
    """Whether a reported family is the model itself or a trained compression (full cache, beacons with or without
    a raw tail, the trained window control), as opposed to a training-free baseline."""
    record = family_of(family)
    return record is not None and record.learned
