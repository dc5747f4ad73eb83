"""Registry, custom tasks, JSONL loading, difficulty validation and per-seed determinism."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.tasks import Knob, Problem, Task, get_task, list_tasks, load_problems, register_task, registry
from task_names import GENERATED


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_TASKS", dict(registry._TASKS))


class Addition(Task):
    """A user task: add two numbers."""

    name = "addition"
    knobs = (Knob("max_number", 1, 99, 9, "addends are drawn from 0..max_number"),)

    def sample(self, rng: random.Random, knobs: dict[str, int]) -> dict:
        a, b = rng.randint(0, knobs["max_number"]), rng.randint(0, knobs["max_number"])
        return {"a": a, "b": b, "answer": a + b}

    def check_data(self, data) -> None:
        if not all(type(data.get(key)) is int for key in ("a", "b")):
            raise BreadcrumbsError("addition data needs integers 'a' and 'b'")

    def prompt(self, problem: Problem) -> str:
        return f"{problem.data['a']}+{problem.data['b']}=?\n"

    def reason(self, problem: Problem, style: str) -> tuple[list[str], str]:
        return [], str(problem.data["a"] + problem.data["b"])

    def parse_answer(self, text: str) -> str | None:
        from breadcrumbs.tasks.base import answer_text

        return answer_text(text)

    def check(self, problem: Problem, answer: str) -> bool:
        return answer == str(problem.data["a"] + problem.data["b"])


def test_builtin_tasks_are_listed() -> None:
    assert list_tasks() == ["countdown", "dataset", "linsys", "stargraph"]
    for name in GENERATED:
        task = get_task(name)
        assert task.name == name
        assert set(task.default_difficulty()) == set(task.difficulty_ranges())


def test_register_a_custom_task(clean_registry: None) -> None:
    assert register_task(Addition) is Addition
    task = get_task("addition")
    problem = task.generate(1, seed=0, max_number=50)[0]
    assert task.verify(problem, task.solve(problem)) == 1.0
    assert "addition" in list_tasks()

    class Other(Addition):
        name = "addition"

    with pytest.raises(BreadcrumbsError, match="already registered"):
        register_task(Other)
    with pytest.raises(BreadcrumbsError, match="Task subclass"):
        register_task(dict)  # type: ignore[arg-type]


def test_unknown_task_lists_the_known_ones() -> None:
    with pytest.raises(BreadcrumbsError, match="unknown task 'nope'; known tasks: countdown, dataset, linsys, stargraph"):
        get_task("nope")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"q": 1}, r"unknown difficulty knob 'q' for task countdown; known: k \(3\.\.6\)"),
        ({"k": 7}, r"difficulty knob k=7 for task countdown must be an integer in 3\.\.6"),
        ({"k": "4"}, r"k='4'.*3\.\.6"),
        ({"max_number": 4}, r"max_number=4 .* 5\.\.100"),
    ],
)
def test_bad_difficulty_is_one_clear_line(overrides: dict, message: str) -> None:
    with pytest.raises(BreadcrumbsError, match=message) as info:
        get_task("countdown").generate(1, seed=0, **overrides)
    assert "\n" not in str(info.value)


def test_generation_is_deterministic_per_seed() -> None:
    for name in GENERATED:
        task = get_task(name)
        first = task.generate(20, seed=7)
        assert first == task.generate(20, seed=7)
        assert first[:5] == task.generate(5, seed=7)  # a smaller n is a prefix
        assert first != task.generate(20, seed=8)
        assert [p.id for p in first] == [f"{name}-7-{i}" for i in range(20)]
        assert all(Problem.from_json(json.loads(json.dumps(p.to_json()))) == p for p in first)


def test_generation_matches_recorded_fingerprints() -> None:
    """Same seed, same problems on any machine: fingerprints of seed 0 at default difficulty."""
    fingerprints = {}
    for name in GENERATED:
        blob = json.dumps([p.to_json() for p in get_task(name).generate(50, seed=0)], sort_keys=True)
        fingerprints[name] = hashlib.sha256(blob.encode()).hexdigest()[:16]
    assert fingerprints == FINGERPRINTS


FINGERPRINTS = {
    "countdown": "c21618a44da88195",
    "linsys": "85f261a358f5216a",  # difficulty records the local knob (without it: 8c04949dc1eb4524, data unchanged)
    "stargraph": "e47243b8ae7012a1",  # difficulty records the labels and compact knobs (data unchanged)
}


def test_load_problems_round_trip_and_errors(tmp_path: Path) -> None:
    task = get_task("linsys")
    problems = task.generate(3, seed=1)
    path = tmp_path / "p.jsonl"
    lines = [json.dumps(p.to_json()) for p in problems]
    lines.append(json.dumps({"id": "minimal", "data": problems[0].data}))
    path.write_text("\n".join(lines) + "\n\n")
    loaded = load_problems(path, "linsys")
    assert loaded[:3] == problems and loaded[3].id == "minimal" and loaded[3].task == "linsys"

    for bad, reason in [
        ("{not json", "invalid JSON"),
        (json.dumps({"id": "x"}), "lacks data"),
        (json.dumps({"id": "x", "data": {"variables": ["x"]}}), "coefficients"),
        (json.dumps({"task": "countdown", "id": "x", "data": {}}), "for task 'countdown'"),
        ("[1, 2]", "JSON object"),
    ]:
        path.write_text("\n".join([lines[0], lines[1], bad]) + "\n")
        with pytest.raises(BreadcrumbsError, match=f"{path}:3: .*{reason}"):
            load_problems(path, "linsys")
    with pytest.raises(BreadcrumbsError, match="cannot read"):
        load_problems(tmp_path / "missing.jsonl", "linsys")
