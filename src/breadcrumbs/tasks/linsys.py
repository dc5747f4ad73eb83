"""LinSys: solve an n x n integer linear system with a unique integer solution.

The trace eliminates one variable at a time with integer-preserving row operations: the pivot is the remaining
equation with the smallest non-zero coefficient (ties: lowest label); every other remaining equation with that
variable becomes a new equation `E5=3E2-2E1: ...` (divided by the gcd of its entries, shown as `/g`). Then it
back-substitutes, last pivot first. Elimination has no dead ends, so the "search" style is the verbose one: it
writes each substitution out (`E2: 5y-7*2=1, 5y=15, y=3`) and checks the solution against every original
equation (`check E1: 2*2+3*3=13 ok`); "direct" writes only `5y=15, y=3`. The verifier substitutes the answer into
the equations; any variable order and spacing is accepted.

With the knob `local=1` every line can be written from itself, the line(s) just before it and the prompt (which a
beacon cache never compresses): the prompt labels its equations (`E1: 1x+1y=13`), every equation is written densely
(every coefficient, 0 and 1 included), and each elimination is spelled in small steps that restate their operands:
`E3=1E2+5E1`, then `1E2: 1(-5x-1y=-41)=-5x-1y=-41`, `5E1: 5(1x+1y=13)=5x+5y=65`, the sum
`E3: -5x-1y=-41 + 5x+5y=65 -> 0x+4y=24` and, when the gcd is not 1, `E3: 0x+4y=24 /4 -> 0x+1y=6`. A
back-substitution line restates its equation and the known values (`E1: 1x+1y=13, y=6: 1x+1*6=13, 1x+6=13,
1x=13-6=7, x=7/1=7`), and a check line restates the equation and the solution (`check E1: 1x+1y=13, x=7,y=6:
1*7+1*6=7+6=13 ok`). `local=2` is the same with the two steps `local=1` leaves to one look: the header first
restates the coefficients of the variable it eliminates (`E3: x -5 in E2, 1 in E1, E3=1E2+5E1`), and the sum adds
term by term (`E3: -5x-1y=-41 + 5x+5y=65: x -5+5=0, y -1+5=4, = -41+65=24 -> 0x+4y=24`).
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


def dense_equation(equation: Equation, variables: list[str]) -> str:
    """`1x+0y-3z=7`: every coefficient written, zeros and ones included (the `local=1` spelling)."""
    coefs, const = equation
    return "".join(f"{c}{v}" if i == 0 else f"{c:+d}{v}" for i, (c, v) in enumerate(zip(coefs, variables))) + f"={const}"


def _signed_terms(terms: list[int]) -> str:
    """`7-6+0`: a sum of integers written with their signs, the first without `+`."""
    return "".join(str(t) if i == 0 else f"{t:+d}" for i, t in enumerate(terms))


def _factor(value: int) -> str:
    return f"({value})" if value < 0 else str(value)


def _combination(mult_new: int, label: int, mult_pivot: int, pivot: int, divisor: int) -> str:
    """`3E2-2E1` or `(E2+2E1)/3`."""
    first = f"{'' if mult_new == 1 else mult_new}E{label}"
    second = f"{'-' if mult_pivot > 0 else '+'}{'' if abs(mult_pivot) == 1 else abs(mult_pivot)}E{pivot}"
    return f"({first}{second})/{divisor}" if divisor > 1 else first + second


def eliminate(
    equations: list[Equation], variables: list[str], local: int = 0
) -> tuple[list[str], list[tuple[int, int]], dict]:
    """Forward elimination: (trace lines, [(pivot label, variable index)], label -> equation).

    `local` (1 or 2) spells each new equation in the small steps of the `local` spellings (module docstring).

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
            if local:
                lines += _local_elimination(
                    (new_label, label, pivot, mult_new, -mult_pivot, divisor), table, new_coefs, new_const, variables,
                    (col, local == 2),
                )
            else:
                combo = _combination(mult_new, label, mult_pivot, pivot, divisor)
                lines.append(f"E{new_label}={combo}: {format_equation(new, variables)}")
    return lines, pivots, table


def _local_elimination(
    step: tuple[int, int, int, int, int, int], table: dict, sum_coefs: list[int], sum_const: int, variables: list[str],
    finer: tuple[int, bool] = (0, False),
) -> list[str]:
    """The lines of `E{new} = a E{label} + b E{pivot}` (b may be negative), each restating what it combines;
    `finer` = (eliminated column, local=2): the header restates that column's coefficients, the sum goes term by term."""
    new_label, label, pivot, a, b, divisor = step
    col, term_by_term = finer
    header = f"E{new_label}={a}E{label}{b:+d}E{pivot}"
    if term_by_term:
        shown = f"{variables[col]} {table[label][0][col]} in E{label}, {table[pivot][0][col]} in E{pivot}"
        header = f"E{new_label}: {shown}, {header}"
    lines = [header]
    scaled = []
    for mult, source in ((a, label), (b, pivot)):
        coefs, const = table[source]
        product = dense_equation(([mult * c for c in coefs], mult * const), variables)
        scaled.append(product)
        lines.append(f"{mult}E{source}: {mult}({dense_equation(table[source], variables)})={product}")
    total = dense_equation((sum_coefs, sum_const), variables)
    terms = ""
    if term_by_term:
        (c1, k1), (c2, k2) = (([m * c for c in table[s][0]], m * table[s][1]) for m, s in ((a, label), (b, pivot)))
        steps = [f"{v} {x}{y:+d}={x + y}" for v, x, y in zip(variables, c1, c2)] + [f"= {k1}{k2:+d}={k1 + k2}"]
        terms = ": " + ", ".join(steps)
    lines.append(f"E{new_label}: {scaled[0]} + {scaled[1]}{terms} -> {total}")
    if divisor > 1:
        lines.append(f"E{new_label}: {total} /{divisor} -> {dense_equation(table[new_label], variables)}")
    return lines


def _local_substitution(label: int, col: int, equation: Equation, values: dict[int, int], variables: list[str]) -> str:
    """`E1: 1x+1y=13, y=6: 1x+1*6=13, 1x+6=13, 1x=13-6=7, x=7/1=7` (values: the later variables, all known)."""
    coefs, const = equation
    var, lead = variables[col], f"{coefs[col]}{variables[col]}"
    known = sorted(values)
    rhs = const - sum(coefs[k] * values[k] for k in known)
    line = f"E{label}: {dense_equation(equation, variables)}"
    if known:
        products = "".join(f"{coefs[k]:+d}*{_factor(values[k])}" for k in known)
        terms = "".join(f"{coefs[k] * values[k]:+d}" for k in known)
        moved = _signed_terms([const] + [-coefs[k] * values[k] for k in known])
        assigned = ",".join(f"{variables[k]}={values[k]}" for k in known)
        line += f", {assigned}: {lead}{products}={const}, {lead}{terms}={const}, {lead}={moved}={rhs}"
    else:
        line += f": {lead}={rhs}"
    return line + f", {var}={rhs}/{_factor(coefs[col])}={rhs // coefs[col]}"


def _local_check(label: int, equation: Equation, values: dict[int, int], variables: list[str]) -> str:
    """`check E1: 1x+1y=13, x=7,y=6: 1*7+1*6=7+6=13 ok`."""
    coefs, const = equation
    assigned = ",".join(f"{variables[k]}={values[k]}" for k in sorted(values))
    products = "".join(
        f"{c}*{_factor(values[k])}" if k == 0 else f"{c:+d}*{_factor(values[k])}" for k, c in enumerate(coefs)
    )
    terms = _signed_terms([c * values[k] for k, c in enumerate(coefs)])
    return f"check E{label}: {dense_equation(equation, variables)}, {assigned}: {products}={terms}={const} ok"


def back_substitute(
    pivots: list[tuple[int, int]], table: dict, variables: list[str], verbose: bool, local: int = 0
) -> tuple[list[str], dict[int, int]]:
    """Solve the pivot equations last first: (trace lines, variable index -> value); `local`: the `local=1`
    spelling, one line per equation restating it and the known values."""
    values: dict[int, int] = {}
    lines = []
    for label, col in reversed(pivots):
        coefs, const = table[label]
        known = sum(coefs[k] * v for k, v in values.items())
        value, remainder = divmod(const - known, coefs[col])
        if remainder:
            raise BreadcrumbsError("the linear system has no integer solution")
        var = variables[col]
        if local:
            lines.append(_local_substitution(label, col, table[label], values, variables))
            values[col] = value
            continue
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
        Knob("local", 0, 2, 0, "1: labelled prompt, dense equations, every step restates its operands; 2: and finer steps"),
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
        equations = zip(data["coefficients"], data["constants"])
        if problem.difficulty.get("local", 0):
            lines = [f"E{i}: {dense_equation(eq, data['variables'])}" for i, eq in enumerate(equations, start=1)]
            return f"Solve for {','.join(data['variables'])}:\n" + "\n".join(lines) + "\n"
        lines = [format_equation(eq, data["variables"]) for eq in equations]
        return f"Solve for {','.join(data['variables'])}:\n" + "\n".join(lines) + "\n"

    def reason(self, problem: Problem, style: str) -> tuple[list[str], str]:
        data = problem.data
        variables = data["variables"]
        equations = list(zip(data["coefficients"], data["constants"]))
        local = int(problem.difficulty.get("local", 0))
        lines, pivots, table = eliminate(equations, variables, local)
        verbose = style == "search"
        solved, values = back_substitute(pivots, table, variables, verbose, local)
        lines += solved
        if verbose and local:
            ordered = dict(sorted(values.items()))
            lines += [_local_check(label, eq, ordered, variables) for label, eq in enumerate(equations, start=1)]
        elif verbose:
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
