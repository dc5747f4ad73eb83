"""Reasoning tasks (Countdown, LinSys, StarGraph, a user's dataset, installed plugins) behind one registry.

>>> from breadcrumbs.tasks import get_task
>>> task = get_task("countdown")
>>> problem = task.generate(1, seed=0)[0]
>>> task.verify(problem, task.solve(problem))
1.0
"""

from breadcrumbs.tasks.base import Knob, Problem, Task
from breadcrumbs.tasks.io import load_problems
from breadcrumbs.tasks.registry import get_task, list_tasks, register_task

# Importing the built-in task modules registers them.
from breadcrumbs.tasks import countdown, dataset, linsys, stargraph  # noqa: E402,F401  isort: skip

__all__ = ["Knob", "Problem", "Task", "get_task", "list_tasks", "load_problems", "register_task"]
