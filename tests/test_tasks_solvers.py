"""Every solver trace, in both styles, is well-formed and scores 1.0 with its own verifier across difficulties."""

from __future__ import annotations

import pytest

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.tasks import get_task
from task_names import GENERATED
from breadcrumbs.tasks.base import STYLES
from breadcrumbs.tasks.countdown import MAX_SEARCH_LINES

ALPHABET = {chr(code) for code in range(32, 127)} | {"\n"}

# (task, difficulty, problems): thousands of problems per task, spread over the knob ranges.
GRID = [
    ("countdown", {"k": 3, "max_number": 10, "backtracks": 0}, 600),
    ("countdown", {"k": 4}, 600),
    ("countdown", {"k": 5, "max_number": 50, "max_target": 500, "backtracks": 0}, 500),
    ("countdown", {"k": 6, "max_number": 100, "max_target": 1000, "backtracks": 0}, 300),
    ("countdown", {"k": 3, "max_number": 100, "max_target": 1000, "backtracks": 2}, 200),
    ("linsys", {"unknowns": 2, "max_coef": 1, "max_value": 1}, 600),
    ("linsys", {}, 1000),
    ("linsys", {"unknowns": 4, "max_coef": 9, "max_value": 20}, 400),
    ("linsys", {"unknowns": 5, "max_coef": 9, "max_value": 20}, 200),
    ("stargraph", {"d": 2, "l": 3}, 1000),
    ("stargraph", {}, 1000),
    ("stargraph", {"d": 8, "l": 10}, 500),
]


@pytest.mark.parametrize(("name", "difficulty", "n"), GRID, ids=[f"{g[0]}-{g[1]}" for g in GRID])
def test_solver_traces_verify(name: str, difficulty: dict, n: int) -> None:
    task = get_task(name)
    for problem in task.generate(n, seed=len(str(difficulty)), **difficulty):
        prompt = task.prompt(problem)
        assert prompt.endswith("\n") and set(prompt) <= ALPHABET
        for style in STYLES:
            trace = task.solve(problem, style)
            assert set(trace) <= ALPHABET and not trace.endswith("\n")
            assert trace.splitlines()[-1].startswith("Answer: ")
            assert task.verify(problem, trace) == 1.0, (problem, style, trace)


def test_search_is_longer_than_direct_and_bounded() -> None:
    for name in GENERATED:
        task = get_task(name)
        for problem in task.generate(200, seed=3):
            search, direct = task.solve(problem, "search"), task.solve(problem, "direct")
            assert len(search) >= len(direct)
    countdown = get_task("countdown")
    for problem in countdown.generate(300, seed=4, backtracks=2):
        lines = countdown.solve(problem).splitlines()
        assert lines.count("back") >= 2 and len(lines) <= MAX_SEARCH_LINES + 1
        assert countdown.solve(problem).endswith(f"Answer: {problem.data['answer']}")


REFERENCE = {
    "countdown": lambda data: data["answer"],
    "linsys": lambda data: ", ".join(f"{v}={x}" for v, x in zip(data["variables"], data["solution"])),
    "stargraph": lambda data: "-".join(map(str, data["path"])),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_answers_verify(name: str) -> None:
    """The answer stored in each problem's data is itself correct."""
    task = get_task(name)
    for problem in task.generate(300, seed=5):
        assert task.verify(problem, f"Answer: {REFERENCE[name](problem.data)}") == 1.0


def test_unknown_style_is_a_clear_error() -> None:
    task = get_task("stargraph")
    with pytest.raises(Exception, match="unknown trace style 'long'"):
        task.solve(task.generate(1, seed=0)[0], "long")


def test_stargraph_single_character_labels():
    task = get_task("stargraph")
    for problem in task.generate(200, seed=4, d=3, l=3, labels=10):
        assert all(0 <= node < 10 for edge in problem.data["edges"] for node in edge)
        assert task.verify(problem, task.solve(problem)) == 1.0
    with pytest.raises(BreadcrumbsError, match="too few"):
        task.generate(1, seed=0, d=3, l=4, labels=10)


def test_stargraph_compact_spelling_names_each_node_with_one_character():
    task = get_task("stargraph")
    for problem in task.generate(200, seed=5, d=3, l=4, labels=40, compact=1):
        prompt, trace = task.prompt(problem), task.solve(problem)
        edge_words = prompt.splitlines()[0].removeprefix("Edges: ").split(" ")
        assert all(len(word) == 2 for word in edge_words) and len(edge_words) == 12
        assert ">" not in prompt and "-" not in trace
        assert trace.splitlines()[-2] == trace.splitlines()[-1].removeprefix("Answer: ")  # last arm = the answer
        assert task.verify(problem, trace) == 1.0 and task.verify(problem, task.solve(problem, "direct")) == 1.0
    with pytest.raises(BreadcrumbsError, match="labels must be <= 62"):
        task.generate(1, seed=0, compact=1)
