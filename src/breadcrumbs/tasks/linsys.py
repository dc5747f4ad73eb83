"""LinSys: solve an n x n integer linear system with a unique integer solution.

The trace eliminates one variable at a time with integer-preserving row operations: the pivot is the remaining
equation with the smallest non-zero coefficient (ties: lowest label); every other remaining equation with that
variable becomes a new equation `E5=3E2-2E1: ...` (divided by the gcd of its entries, shown as `/g`). Then it
back-substitutes, last pivot first. Elimination has no dead ends, so the "search" style is the verbose one: it
writes each substitution out (`E2: 5y-7*2=1, 5y=15, y=3`) and checks the solution against every original
equation (`check E1: 2*2+3*3=13 ok`); "direct" writes only `5y=15, y=3`. The verifier substitutes the answer into
the equations; any variable order and spacing is accepted.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.tasks.base import Knob, Problem, Task, answer_text, parse_int, require, require_ints
from breadcrumbs.tasks.registry import register_task

VARIABLES = "xyzwv"
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z])\s*=\s*([+-]?\s*\d+)\s*$")

Equation = tuple[list[int], int]  # (coefficients, constant)


def _term(coef: int, var: str, first: bool) -> str:
    sign = "-" if coef < 0 else ("" if first else "+")
    return f"{sign}{'' if abs(coef) == 1 else abs(coef)}{var}"


def format_equation(equation: Equation, variables: list[str]) -> str:
    """`2x-y+3z=7` (zero coefficients omitted, unit coefficients bare)."""
    coefs, const = equation
    terms = [(c, v) for c, v in zip(coefs, variables) if c]
    return "".join(_term(c, v, i == 0) for i, (c, v) in enumerate(terms)) + f"={const}"


def _substituted(coefs: list[int], values: dict[int, int]) -> str:
    """`2*3-1*(-2)` for the known variables of an equation (values keyed by variable index)."""
    parts = []
    for index, value in values.items():
        if coefs[index]:
            shown = f"({value})" if value < 0 else str(value)
            sign = "-" if coefs[index] < 0 else ("+" if parts else "")
            parts.append(f"{sign}{abs(coefs[index])}*{shown}")
    return "".join(parts)


def _combination(mult_new: int, label: int, mult_pivot: int, pivot: int, divisor: int) -> str:
    """`3E2-2E1` or `(E2+2E1)/3`."""
    first = f"{'' if mult_new == 1 else mult_new}E{label}"
    second = f"{'-' if mult_pivot > 0 else '+'}{'' if abs(mult_pivot) == 1 else abs(mult_pivot)}E{pivot}"
    return f"({first}{second})/{divisor}" if divisor > 1 else first + second


def eliminate(equations: list[Equation], variables: list[str]) -> tuple[list[str], list[tuple[int, int]], dict]:
    """Forward elimination: (trace lines, [(pivot label, variable index)], label -> equation).

    Raises BreadcrumbsError if the system is singular.
    """
    table = {label: eq for label, eq in enumerate(equations, start=1)}
    remaining, pivots, lines = list(table), [], []
    for col in range(len(variables)):
        candidates = [label for label in remaining if table[label][0][col]]
        if not candidates:
            raise BreadcrumbsError("the linear system is singular")
        pivot = min(candidates, key=lambda label: (abs(table[label][0][col]), label))
        remaining.remove(pivot)
        pivots.append((pivot, col))
        p_coefs, p_const = table[pivot]
        for position, label in enumerate(remaining):
            coefs, const = table[label]
            if not coefs[col]:
                continue
            lcm = math.lcm(p_coefs[col], coefs[col])
            mult_new = abs(lcm // coefs[col])
            mult_pivot = mult_new * coefs[col] // p_coefs[col]
            new_coefs = [mult_new * c - mult_pivot * p for c, p in zip(coefs, p_coefs)]
            new_const = mult_new * const - mult_pivot * p_const
            divisor = math.gcd(*new_coefs, new_const) or 1
            new = ([c // divisor for c in new_coefs], new_const // divisor)
            new_label = len(table) + 1
            table[new_label] = new
            remaining[position] = new_label
            combo = _combination(mult_new, label, mult_pivot, pivot, divisor)
            lines.append(f"E{new_label}={combo}: {format_equation(new, variables)}")
    return lines, pivots, table


def back_substitute(
    pivots: list[tuple[int, int]], table: dict, variables: list[str], verbose: bool
) -> tuple[list[str], dict[int, int]]:
    """Solve the pivot equations last first: (trace lines, variable index -> value)."""
    values: dict[int, int] = {}
    lines = []
    for label, col in reversed(pivots):
        coefs, const = table[label]
        known = sum(coefs[k] * v for k, v in values.items())
        value, remainder = divmod(const - known, coefs[col])
        if remainder:
            raise BreadcrumbsError("the linear system has no integer solution")
        var = variables[col]
        lhs = _term(coefs[col], var, True)
        solved = f"{var}={value}" if coefs[col] == 1 else f"{lhs}={const - known}, {var}={value}"
        if verbose and any(coefs[k] for k in values):
            sub = _substituted(coefs, values)
            sub = sub if sub.startswith("-") else "+" + sub
            lines.append(f"E{label}: {lhs}{sub}={const}, {solved}")
        else:
            lines.append(f"E{label}: {solved}")
        values[col] = value
    return lines, values


@register_task
class LinSys(Task):
    """Solve a small integer linear system with a unique integer solution."""

    name = "linsys"
    knobs = (
        Knob("unknowns", 2, 5, 3, "number of unknowns (and equations)"),
        Knob("max_coef", 1, 9, 5, "coefficients are drawn from -max_coef..max_coef"),
        Knob("max_value", 1, 20, 9, "solution values are drawn from -max_value..max_value"),
    )

    def sample(self, rng: random.Random, knobs: dict[str, int]) -> dict | None:
        n, c, m = knobs["unknowns"], knobs["max_coef"], knobs["max_value"]
        coefficients = [[rng.randint(-c, c) for _ in range(n)] for _ in range(n)]
        solution = [rng.randint(-m, m) for _ in range(n)]
        constants = [sum(a * x for a, x in zip(row, solution)) for row in coefficients]
        try:
            eliminate(list(zip(coefficients, constants)), list(VARIABLES[:n]))
        except BreadcrumbsError:
            return None
        variables = list(VARIABLES[:n])
        return {"variables": variables, "coefficients": coefficients, "constants": constants, "solution": solution}

    def check_data(self, data: Mapping) -> None:
        variables = require(data, "variables", list)
        coefficients = require(data, "coefficients", list)
        constants = require_ints(require(data, "constants", list), "constants")
        n = len(variables)
        if not all(isinstance(v, str) and re.fullmatch("[a-z]", v) for v in variables) or len(set(variables)) != n:
            raise BreadcrumbsError("problem data 'variables' must be distinct single lowercase letters")
        square = all(len(require_ints(row, "coefficients")) == n for row in coefficients)
        if not square or len(coefficients) != n or len(constants) != n:
            raise BreadcrumbsError("problem data needs an n x n 'coefficients' matrix and n 'constants' for n variables")

    def problem_key(self, data: Mapping) -> str:
        """The system: its variables, coefficient rows and constants (the solution follows from them)."""
        return f"{data['variables']}:{data['coefficients']}={data['constants']}"

    def prompt(self, problem: Problem) -> str:
        data = problem.data
        lines = [format_equation(eq, data["variables"]) for eq in zip(data["coefficients"], data["constants"])]
        return f"Solve for {','.join(data['variables'])}:\n" + "\n".join(lines) + "\n"

    def reason(self, problem: Problem, style: str) -> tuple[list[str], str]:
        data = problem.data
        variables = data["variables"]
        equations = list(zip(data["coefficients"], data["constants"]))
        lines, pivots, table = eliminate(equations, variables)
        verbose = style == "search"
        solved, values = back_substitute(pivots, table, variables, verbose)
        lines += solved
        if verbose:
            for label, (coefs, const) in enumerate(equations, start=1):
                lines.append(f"check E{label}: {_substituted(coefs, dict(sorted(values.items())))}={const} ok")
        answer = ", ".join(f"{var}={values[col]}" for col, var in enumerate(variables))
        return lines, answer

    def parse_answer(self, text: str) -> list[tuple[str, int]] | None:
        answer = answer_text(text)
        if not answer or len(answer) > 1024:
            return None
        pairs = []
        for part in re.split(r"[,;]", answer):
            match = _ASSIGNMENT.match(part)
            value = parse_int(match.group(2).replace(" ", "")) if match else None
            if value is None:
                return None
            pairs.append((match.group(1).lower(), value))
        return pairs

    def check(self, problem: Problem, answer: list[tuple[str, int]]) -> bool:
        variables = problem.data["variables"]
        if sorted(name for name, _ in answer) != sorted(variables):
            return False
        values = dict(answer)
        return all(
            sum(a * values[v] for a, v in zip(row, variables)) == const
            for row, const in zip(problem.data["coefficients"], problem.data["constants"])
        )
