"""The task registry: look tasks up by name; users add their own with `@register_task`."""

from __future__ import annotations

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.tasks.base import Task

_TASKS: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator adding a `Task` subclass under its `name`; a different class may not reuse a name."""
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise BreadcrumbsError(f"register_task needs a Task subclass, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise BreadcrumbsError(f"task class {cls.__name__} needs a non-empty string `name`")
    existing = _TASKS.get(name)
    if existing is not None and _path(existing) != _path(cls):
        raise BreadcrumbsError(f"task name '{name}' is already registered by {_path(existing)}")
    _TASKS[name] = cls
    return cls


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def list_tasks() -> list[str]:
    """Registered task names, sorted."""
    return sorted(_TASKS)


def get_task(name: str) -> Task:
    """A fresh instance of the task registered as `name`."""
    if name not in _TASKS:
        raise BreadcrumbsError(f"unknown task '{name}'; known tasks: {', '.join(list_tasks())}")
    return _TASKS[name]()
