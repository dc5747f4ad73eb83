"""Task plugins: a package installed with a `breadcrumbs.tasks` entry point registers its task, which `tasks list`
shows and `eval` runs; a broken plugin is a warning in the list and one clear error where it is used."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.tasks import get_task, list_tasks, registry
from cli_runner import run_cli

PLUGIN = '''
import random

from breadcrumbs.tasks import Knob, Problem, Task
from breadcrumbs.tasks.base import answer_text


class Addition(Task):
    """Add two small numbers."""

    name = "addition"
    knobs = (Knob("max_number", 1, 9, 5, "addends are drawn from 0..max_number"),)

    def sample(self, rng: random.Random, knobs: dict) -> dict:
        a, b = rng.randint(0, knobs["max_number"]), rng.randint(0, knobs["max_number"])
        return {"a": a, "b": b}

    def check_data(self, data) -> None:
        pass

    def prompt(self, problem: Problem) -> str:
        return f"{problem.data['a']}+{problem.data['b']}=?\\n"

    def reason(self, problem: Problem, style: str):
        return [], str(problem.data["a"] + problem.data["b"])

    def parse_answer(self, text: str):
        return answer_text(text)

    def check(self, problem: Problem, answer) -> bool:
        return answer == str(problem.data["a"] + problem.data["b"])


class Doubling(Addition):
    """Double a number (made by a factory)."""

    name = "doubling"


def make_doubling() -> Task:
    return Doubling()


def make_nothing():
    return 42
'''

ENTRY_POINTS = """
[breadcrumbs.tasks]
addition = adderplugin:Addition
doubling = adderplugin:make_doubling
broken = adderplugin_missing:Task
notatask = adderplugin:make_nothing
countdown = adderplugin:Addition
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway distribution `adderplugin` 0.1 (module + dist-info with entry_points.txt) on sys.path, and a
    registry that reads the entry points afresh (restored afterwards)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "adderplugin.py").write_text(PLUGIN)
    info = site / "adderplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: adderplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_TASKS", dict(registry._TASKS))
    monkeypatch.setattr(registry, "_PLUGIN_ERRORS", {})
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    return site


def test_an_installed_plugin_is_listed_with_its_origin(installed: Path, capsys: pytest.CaptureFixture) -> None:
    assert {"addition", "doubling", "countdown", "dataset"} <= set(list_tasks())
    assert registry.task_origin("addition") == "adderplugin 0.1"
    assert registry.task_origin("countdown") == registry.BUILT_IN  # a plugin cannot take a built-in's name
    code, out, err = run_cli(capsys, "tasks", "list")
    assert code == 0
    lines = {line.split(":")[0]: line for line in out.splitlines()}
    assert lines["addition"] == "addition: max_number=5 (1..9) — Add two small numbers. [adderplugin 0.1]"
    assert lines["doubling"].endswith("— Double a number (made by a factory). [adderplugin 0.1]")
    assert lines["countdown"].endswith("[breadcrumbs (built-in)]")
    assert lines["notatask"].startswith("notatask: cannot be built without options") and "returned int" in lines["notatask"]
    warnings = err.strip().splitlines()
    assert len(warnings) == 2 and all(line.startswith("warning: entry point ") for line in warnings)
    assert any("broken = adderplugin_missing:Task" in line and "No module named" in line for line in warnings)
    assert any("countdown" in line and "already registered" in line for line in warnings)


def test_a_plugin_task_works_like_a_built_in(installed: Path) -> None:
    task = get_task("addition")
    problem = task.generate(1, seed=0, max_number=3)[0]
    assert task.verify(problem, task.solve(problem)) == 1.0
    assert get_task("doubling").name == "doubling"


def test_broken_plugins_are_one_error_where_used(installed: Path) -> None:
    with pytest.raises(BreadcrumbsError, match=r"task 'broken' could not be loaded: .*No module named 'adderplugin_missing'"):
        get_task("broken")
    with pytest.raises(BreadcrumbsError, match=r"make_nothing for 'notatask' returned int, not a Task"):
        get_task("notatask")
    with pytest.raises(BreadcrumbsError, match=r"task addition: got an unexpected keyword argument 'path'"):
        get_task("addition", path="x.jsonl")


def test_eval_runs_a_plugin_task(installed: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "results.jsonl"
    code, stdout, err = run_cli(capsys, "eval", "--task", "addition", "--split", "none", "--n", "3",
                            "--model", "micro", "--methods", "full,beacon:2", "--max-new-tokens", "4",
                            "--out", str(out), "-q")
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 6 and {r["task"] for r in records} == {"addition"}
    assert "### addition" in stdout
