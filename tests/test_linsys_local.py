"""LinSys `local=1`: every line restates what it uses, the traces verify, and `local=0` keeps the old spelling."""

from __future__ import annotations

import hashlib
import re

import pytest

from breadcrumbs.tasks import get_task
from breadcrumbs.tasks.base import STYLES

LINSYS = get_task("linsys")
DIFFICULTIES = [
    {"unknowns": 2, "max_coef": 2, "max_value": 5, "local": 1},
    {"unknowns": 2, "max_coef": 3, "max_value": 5, "local": 1},
    {"unknowns": 3, "max_coef": 5, "max_value": 9, "local": 1},
    {"unknowns": 5, "max_coef": 9, "max_value": 20, "local": 1},
    {"unknowns": 2, "max_coef": 2, "max_value": 5, "local": 2},
    {"unknowns": 4, "max_coef": 5, "max_value": 9, "local": 2},
]
_HEADER = re.compile(r"(?:E(\d+): ([a-z]) (-?\d+) in E(\d+), (-?\d+) in E(\d+), )?E(\d+)=(\d+)E(\d+)([+-]\d+)E(\d+)")
_TERM = re.compile(r"([+-]?\d+)([a-z])")


def parse_dense(text: str, variables: list[str]) -> tuple[list[int], int]:
    """`1x+0y-3z=7` -> ([1, 0, -3], 7); fails unless every variable is written once, in order."""
    left, const = text.split("=")
    terms = _TERM.findall(left)
    assert "".join(f"{c}{v}" for c, v in terms) == left and [v for _, v in terms] == variables, text
    return [int(c) for c, _ in terms], int(const)


@pytest.mark.parametrize("difficulty", DIFFICULTIES, ids=str)
def test_local_traces_verify_and_wrong_answers_fail(difficulty: dict) -> None:
    for problem in LINSYS.generate(150, seed=2, **difficulty):
        for style in STYLES:
            trace = LINSYS.solve(problem, style)
            assert LINSYS.verify(problem, trace) == 1.0, trace
            values = dict(zip(problem.data["variables"], problem.data["solution"]))
            first = problem.data["variables"][0]
            values[first] += 1
            wrong = ", ".join(f"{v}={x}" for v, x in values.items())
            assert LINSYS.verify(problem, trace.rsplit("Answer:", 1)[0] + f"Answer: {wrong}") == 0.0


def test_local_zero_is_the_old_spelling() -> None:
    """Fingerprints of the traces written before the knob existed (commit 813d00d), with and without `local=0`."""
    expected = {"": "b8f1c70731eeb5cf", "unknowns=2 max_coef=3 max_value=5": "91ed1a5ea6728111",
                "unknowns=4": "7d91d89ced500256"}
    for key, fingerprint in expected.items():
        difficulty = {k: int(v) for k, v in (part.split("=") for part in key.split())}
        for extra in ({}, {"local": 0}):
            digest = hashlib.sha256()
            for problem in LINSYS.generate(200, seed=0, **difficulty, **extra):
                digest.update((LINSYS.prompt(problem) + LINSYS.solve(problem, "search") + "|"
                               + LINSYS.solve(problem, "direct")).encode())
            assert digest.hexdigest()[:16] == fingerprint, (key, extra)


def test_local_prompt_labels_dense_equations() -> None:
    problem = LINSYS.generate(1, seed=0, unknowns=3, max_coef=2, max_value=3, local=1)[0]
    data = problem.data
    lines = LINSYS.prompt(problem).splitlines()
    assert lines[0] == "Solve for x,y,z:"
    for label, line in enumerate(lines[1:], start=1):
        name, equation = line.split(": ")
        assert name == f"E{label}"
        assert parse_dense(equation, data["variables"]) == (data["coefficients"][label - 1],
                                                            data["constants"][label - 1])


@pytest.mark.parametrize("difficulty", DIFFICULTIES, ids=str)
def test_every_local_line_restates_its_operands(difficulty: dict) -> None:
    """Replays a search trace: each line's operands are on that line, and each equals what the line before it (or
    the prompt) says; the arithmetic of each line is exact."""
    for problem in LINSYS.generate(100, seed=7, **difficulty):
        variables = problem.data["variables"]
        equations = {label: eq for label, eq in enumerate(zip(problem.data["coefficients"],
                                                               problem.data["constants"]), start=1)}
        lines = LINSYS.solve(problem, "search").splitlines()
        previous: list[str] = []
        i = 0
        while i < len(lines) and (header := _HEADER.fullmatch(lines[i])):
            new, a, label, b, pivot = map(int, header.groups()[6:])
            assert a > 0 and b != 0 and new == max(equations) + 1
            restated = header.group(1) is not None
            assert restated == (difficulty["local"] == 2)
            if restated:  # local=2: the eliminated variable's coefficients, as the two equations have them
                col = variables.index(header.group(2))
                assert (int(header.group(1)), int(header.group(4)), int(header.group(6))) == (new, label, pivot)
                assert int(header.group(3)) == equations[label][0][col] and int(header.group(5)) == equations[pivot][0][col]
                assert a * equations[label][0][col] + b * equations[pivot][0][col] == 0
            scaled = []
            for offset, (mult, source) in enumerate(((a, label), (b, pivot)), start=1):
                match = re.fullmatch(rf"{mult}E{source}: {mult}\((.+)\)=(.+)", lines[i + offset])
                assert match, lines[i + offset]
                operand = parse_dense(match.group(1), variables)
                assert operand == tuple(equations[source])  # the equation restated as the prompt / its line says
                product = parse_dense(match.group(2), variables)
                assert product == ([mult * c for c in operand[0]], mult * operand[1])
                scaled.append(match.group(2))
            total = re.fullmatch(rf"E{new}: (\S+) \+ (\S+?)(?:: (.+))? -> (\S+)", lines[i + 3])
            assert total and [total.group(1), total.group(2)] == scaled  # restates the two lines before it
            s_coefs, s_const = parse_dense(total.group(4), variables)
            (c1, k1), (c2, k2) = (parse_dense(text, variables) for text in scaled)
            assert (s_coefs, s_const) == ([x + y for x, y in zip(c1, c2)], k1 + k2)
            if difficulty["local"] == 2:  # term by term, each sum next to its two terms
                expected = [f"{v} {x}{y:+d}={x + y}" for v, x, y in zip(variables, c1, c2)] + [f"= {k1}{k2:+d}={k1 + k2}"]
                assert total.group(3).split(", ") == expected
            else:
                assert total.group(3) is None
            i += 4
            divided = re.fullmatch(rf"E{new}: (.+) /(\d+) -> (.+)", lines[i]) if i < len(lines) else None
            if divided:
                assert divided.group(1) == total.group(4)
                g = int(divided.group(2))
                assert g > 1 and parse_dense(divided.group(3), variables) == ([c // g for c in s_coefs], s_const // g)
                assert all(c % g == 0 for c in s_coefs) and s_const % g == 0
                equations[new] = parse_dense(divided.group(3), variables)
                i += 1
            else:
                equations[new] = (s_coefs, s_const)
        values: dict[str, int] = {}
        while i < len(lines) and not lines[i].startswith("check"):
            match = re.fullmatch(r"E(\d+): ([^,:]+)(?:, ([^:]+))?: (.+), ([a-z])=(-?\d+)/\(?(-?\d+)\)?=(-?\d+)",
                                 lines[i])
            assert match, lines[i]
            label = int(match.group(1))
            coefs, const = parse_dense(match.group(2), variables)
            assert (coefs, const) == tuple(equations[label])  # restates its pivot equation
            known = dict(part.split("=") for part in match.group(3).split(",")) if match.group(3) else {}
            assert {v: int(x) for v, x in known.items()} == values  # restates every known value, as solved
            var = match.group(5)
            col = variables.index(var)
            rhs, lead, value = int(match.group(6)), int(match.group(7)), int(match.group(8))
            assert lead == coefs[col] and rhs == const - sum(coefs[variables.index(v)] * x for v, x in values.items())
            assert lead * value == rhs
            steps = match.group(4).split(", ")
            assert steps[-1].startswith(f"{lead}{var}=") and steps[-1].endswith(f"={rhs}")
            ordered = sorted(values.items(), key=lambda item: variables.index(item[0]))
            if values:  # products, their values, then the constant minus each of them: one operation per step
                products = "".join(f"{coefs[variables.index(v)]:+d}*" + (f"({x})" if x < 0 else str(x))
                                   for v, x in ordered)
                terms = [coefs[variables.index(v)] * x for v, x in ordered]
                assert steps[0] == f"{lead}{var}{products}={const}"
                assert steps[1] == f"{lead}{var}" + "".join(f"{t:+d}" for t in terms) + f"={const}"
                moved = steps[2].split("=")[1]
                assert [int(t) for t in re.findall(r"[+-]?\d+", moved)] == [const] + [-t for t in terms]
            values[var] = value
            i += 1
        solution = dict(zip(variables, problem.data["solution"]))
        assert values == solution
        for label in sorted(problem_labels := range(1, len(variables) + 1)):
            match = re.fullmatch(r"check E(\d+): ([^,]+), ([^:]+): (.+)=(-?\d+) ok", lines[i])
            assert match and int(match.group(1)) == label and label in problem_labels
            assert parse_dense(match.group(2), variables) == tuple(equations[label])
            assert match.group(3) == ",".join(f"{v}={solution[v]}" for v in variables)
            assert int(match.group(5)) == equations[label][1]
            products, terms = match.group(4).split("=")
            coefs = equations[label][0]
            expected = "".join((f"{c}*" if k == 0 else f"{c:+d}*")
                               + (f"({solution[v]})" if solution[v] < 0 else str(solution[v]))
                               for k, (c, v) in enumerate(zip(coefs, variables)))
            assert products == expected
            shown = [int(t) for t in re.findall(r"[+-]?\d+", terms)]
            assert shown == [c * solution[v] for c, v in zip(coefs, variables)] and sum(shown) == int(match.group(5))
            i += 1
        assert lines[i:] == ["Answer: " + ", ".join(f"{v}={solution[v]}" for v in variables)]


def test_local_example_is_the_documented_one() -> None:
    """The small-step spelling as docs/tasks.md shows it."""
    problem = LINSYS.generate(1, seed=0, unknowns=2, max_coef=2, max_value=5, local=1)[0]
    trace = LINSYS.solve(problem, "search")
    assert LINSYS.prompt(problem) == "Solve for x,y:\nE1: 1x+1y=5\nE2: -2x+0y=-6\n"
    assert trace.splitlines() == [
        "E3=1E2+2E1",
        "1E2: 1(-2x+0y=-6)=-2x+0y=-6",
        "2E1: 2(1x+1y=5)=2x+2y=10",
        "E3: -2x+0y=-6 + 2x+2y=10 -> 0x+2y=4",
        "E3: 0x+2y=4 /2 -> 0x+1y=2",
        "E3: 0x+1y=2: 1y=2, y=2/1=2",
        "E1: 1x+1y=5, y=2: 1x+1*2=5, 1x+2=5, 1x=5-2=3, x=3/1=3",
        "check E1: 1x+1y=5, x=3,y=2: 1*3+1*2=3+2=5 ok",
        "check E2: -2x+0y=-6, x=3,y=2: -2*3+0*2=-6+0=-6 ok",
        "Answer: x=3, y=2",
    ]
    direct = LINSYS.solve(problem, "direct").splitlines()
    assert direct == trace.splitlines()[:7] + ["Answer: x=3, y=2"]


def test_local_two_refines_only_the_header_and_the_sum() -> None:
    one, two = (LINSYS.generate(1, seed=0, unknowns=2, max_coef=2, max_value=5, local=k)[0] for k in (1, 2))
    assert LINSYS.prompt(one) == LINSYS.prompt(two)
    lines_one, lines_two = LINSYS.solve(one, "search").splitlines(), LINSYS.solve(two, "search").splitlines()
    assert lines_two[0] == "E3: x -2 in E2, 1 in E1, E3=1E2+2E1"
    assert lines_two[3] == "E3: -2x+0y=-6 + 2x+2y=10: x -2+2=0, y 0+2=2, = -6+10=4 -> 0x+2y=4"
    assert [line for i, line in enumerate(lines_two) if i not in (0, 3)] == [
        line for i, line in enumerate(lines_one) if i not in (0, 3)]
