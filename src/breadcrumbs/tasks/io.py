"""Reading problems (and scored completions) from JSONL files."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.tasks.base import Problem, Task
from breadcrumbs.tasks.registry import get_task


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON or the BreadcrumbsError explaining why it is malformed) per non-blank line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # -sig: a byte-order mark is not part of line 1
    except (OSError, UnicodeDecodeError) as err:
        raise BreadcrumbsError(f"cannot read {path}: {err}") from None
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as err:
                yield number, BreadcrumbsError(f"invalid JSON ({err.msg})")


def problem_from_record(record: Any, task: str | Task) -> Problem:
    """A problem of `task` (a Task or its name) from `{"id":..., "data":{...}}` (task and difficulty optional);
    validates data."""
    if not isinstance(record, Mapping):
        raise BreadcrumbsError("expected a JSON object")
    task = get_task(task) if isinstance(task, str) else task
    task_name = task.name
    if record.get("task", task_name) != task_name:
        raise BreadcrumbsError(f"problem is for task '{record['task']}', not '{task_name}'")
    problem = Problem.from_json({"task": task_name, **record})
    task.check_data(problem.data)
    return problem


def load_problems(path: str | Path, task_name: str) -> list[Problem]:
    """Every problem in a JSONL file, to be scored with `task_name`'s verifier; a bad line names file and line."""
    get_task(task_name)
    problems = []
    for number, record in iter_jsonl(path):
        try:
            if isinstance(record, BreadcrumbsError):
                raise record
            problems.append(problem_from_record(record, task_name))
        except BreadcrumbsError as err:
            raise BreadcrumbsError(f"{path}:{number}: {err}") from None
    return problems
