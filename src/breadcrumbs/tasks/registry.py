"""The task registry: one table of task factories, filled by one function from two sources.

Built-in tasks register themselves with `@register_task` when `breadcrumbs.tasks` is imported; installed packages
register theirs through the entry point group `breadcrumbs.tasks` (name = task name, value = a `Task` subclass or a
factory returning a `Task`), read lazily the first time a task is looked up. Both go through `_register`.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.tasks.base import Task

ENTRY_POINT_GROUP = "breadcrumbs.tasks"
BUILT_IN = "breadcrumbs (built-in)"


@dataclass(frozen=True)
class Entry:
    """A registered task: its factory (a Task subclass or a callable returning a Task) and where it came from."""

    factory: Callable[..., Task]
    origin: str


_TASKS: dict[str, Entry] = {}
_PLUGIN_ERRORS: dict[str, str] = {}  # entry point name -> why it could not be registered
_plugins_loaded = False


def _path(factory: Callable) -> str:
    return f"{factory.__module__}.{getattr(factory, '__qualname__', repr(factory))}"


def _register(name: str, factory: Callable[..., Task], origin: str) -> None:
    """Add `factory` under `name`; another factory may not reuse a name (the same one again is a no-op)."""
    if not isinstance(name, str) or not name:
        raise BreadcrumbsError(f"task factory {_path(factory)} needs a non-empty string name")
    existing = _TASKS.get(name)
    if existing is not None and _path(existing.factory) != _path(factory):
        raise BreadcrumbsError(f"task name '{name}' is already registered by {_path(existing.factory)}")
    _TASKS[name] = Entry(factory, origin)


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator adding a `Task` subclass under its `name`; a different class may not reuse a name."""
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise BreadcrumbsError(f"register_task needs a Task subclass, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise BreadcrumbsError(f"task class {cls.__name__} needs a non-empty string `name`")
    origin = BUILT_IN if cls.__module__.startswith("breadcrumbs.") else cls.__module__
    _register(name, cls, origin)
    return cls


def _load_plugins() -> None:
    """Register every installed `breadcrumbs.tasks` entry point once; one that fails to load or clashes with a
    registered name is recorded (shown by `tasks list`, raised when looked up) instead of breaking every command."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(point, "dist", None)
        origin = f"{dist.name} {dist.version}" if dist is not None else point.value
        try:
            factory = point.load()
            if not callable(factory):
                raise BreadcrumbsError(f"{point.value} is not a Task subclass or factory")
            if isinstance(factory, type) and not issubclass(factory, Task):
                raise BreadcrumbsError(f"{point.value} is a class but not a Task subclass")
            _register(point.name, factory, origin)
        except Exception as err:  # a broken plugin must not break the built-in tasks
            _PLUGIN_ERRORS[point.name] = f"entry point {point.name} = {point.value} ({origin}): {err}"


def reload_plugins() -> None:
    """Read the entry points again (after installing a plugin in a running process, e.g. in tests)."""
    global _plugins_loaded
    _plugins_loaded = False
    _PLUGIN_ERRORS.clear()
    _load_plugins()


def list_tasks() -> list[str]:
    """Registered task names (built-in and installed plugins), sorted."""
    _load_plugins()
    return sorted(_TASKS)


def task_origin(name: str) -> str:
    """Where a registered task comes from: the built-in package or the plugin distribution and version."""
    _load_plugins()
    return _TASKS[name].origin


def describe_task(name: str) -> str:
    """One `tasks list` line: `name: knobs — summary [origin]` (a plugin factory is called to read its knobs)."""
    entry = _TASKS[name]
    if isinstance(entry.factory, type):
        kind = entry.factory
    else:
        try:
            kind = type(get_task(name))
        except Exception as err:
            return f"{name}: cannot be built without options ({type(err).__name__}: {err}) [{entry.origin}]"
    knobs = ", ".join(f"{k.name}={k.default} ({k.low}..{k.high})" for k in kind.knobs) or "no knobs"
    summary = (kind.__doc__ or "").strip().splitlines()
    return f"{name}: {knobs}" + (f" — {summary[0]}" if summary else "") + f" [{entry.origin}]"


def plugin_errors() -> list[str]:
    """One line per installed task plugin that could not be registered."""
    _load_plugins()
    return list(_PLUGIN_ERRORS.values())


def get_task(name: str, **options: Any) -> Task:
    """A fresh instance of the task registered as `name`, built with `options` (only tasks that take options,
    such as `dataset`, accept any)."""
    _load_plugins()
    if name not in _TASKS:
        if name in _PLUGIN_ERRORS:
            raise BreadcrumbsError(f"task '{name}' could not be loaded: {_PLUGIN_ERRORS[name]}")
        raise BreadcrumbsError(f"unknown task '{name}'; known tasks: {', '.join(list_tasks())}")
    factory = _TASKS[name].factory
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as err:
        known = ", ".join(inspect.signature(factory).parameters) or "none"
        raise BreadcrumbsError(f"task {name}: {err} (its options: {known})") from None
    except ValueError:  # no introspectable signature: let the call decide
        pass
    task = factory(**options)
    if not isinstance(task, Task):
        raise BreadcrumbsError(f"task factory {_path(factory)} for '{name}' returned {type(task).__name__}, not a Task")
    if task.name != name:
        raise BreadcrumbsError(f"task factory {_path(factory)} is registered as '{name}' but makes task '{task.name}'")
    return task
