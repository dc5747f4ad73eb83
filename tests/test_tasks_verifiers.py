"""Verifiers never crash, agree with independent checks, and reject mutated answers."""

from __future__ import annotations

import ast
import random
import re
from collections import Counter
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from breadcrumbs.tasks import Problem, get_task

COUNTDOWN, LINSYS, STARGRAPH = get_task("countdown"), get_task("linsys"), get_task("stargraph")
TASKS = (COUNTDOWN, LINSYS, STARGRAPH)
PROBLEMS = {task.name: task.generate(5, seed=11) for task in TASKS}


# ----- robustness ---------------------------------------------------------------------------------------------
NASTY = [
    "", "Answer:", "answer :", "ANSWER: 1/0", "Answer: (" * 3000 + "1" + ")" * 3000, "Answer: " + "9" * 5000,
    "Answer: " + "9" * 5000 + "*" + "9" * 5000, "Answer: " + "+".join(["1"] * 10000), "Answer: 1/(2-2)",
    "Answer: x=" + "9" * 5000, "Answer: " + "-".join(["1"] * 100000), "Answer: \u0661\u0662", "Answer: ²",
    "Answer: 1e9", "Answer: -", "Answer: ,", "Answer: x=1, x=2", "Answer: ()", "Answer: 3-" * 1000,
    "\x00Answer: 1\x00", "Answer: 1\u2028Answer: 2", "Answer: 5-3-", "Answer: 0-0-0",
]
ANSWERISH = st.text(alphabet="0123456789+-*/() xyzwv=,;-\tAnswer:\n", max_size=300)


def _assert_safe(text: str) -> None:
    for task in TASKS:
        for problem in PROBLEMS[task.name]:
            assert task.verify(problem, text, format_reward=0.25) in (0.0, 0.25, 1.0)
            assert -0.5 <= task.reward(problem, text, format_reward=0.25, trace_penalty=0.5) <= 1.0


def test_nasty_inputs_do_not_crash() -> None:
    for text in NASTY:
        _assert_safe(text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), ANSWERISH, ANSWERISH.map(lambda s: "Answer: " + s)))
def test_arbitrary_text_does_not_crash(text: str) -> None:
    _assert_safe(text)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=20_000), st.sampled_from(["(", "((1+", "1*(", "(1/0)*("]))
def test_deep_nesting_does_not_crash(depth: int, opener: str) -> None:
    _assert_safe("Answer: " + opener * depth + "1" + ")" * depth)


def test_non_string_completion_scores_zero() -> None:
    for task in TASKS:
        assert task.verify(PROBLEMS[task.name][0], None) == 0.0  # type: ignore[arg-type]
        assert task.reward(PROBLEMS[task.name][0], None, trace_penalty=1.0) == 0.0  # type: ignore[arg-type]


def test_countdown_trace_errors_count_each_wrong_line_once() -> None:
    problem = COUNTDOWN.generate(1, seed=3, backtracks=1, order=1, echo=1)[0]
    trace = COUNTDOWN.solve(problem, style="search")
    lines = trace.split("\n")
    moves = [i for i, line in enumerate(lines) if re.match(r"\d", line)]
    assert COUNTDOWN.trace_errors(problem, trace) == (0, len(moves))
    assert COUNTDOWN.reward(problem, trace, trace_penalty=0.5) == 1.0
    misses = [i for i in moves if lines[i].endswith(" no")]
    slip = list(lines)  # an arithmetic slip on a missing leaf, and a false hit claimed on another
    slip[misses[0]] = re.sub(r"=(\d+)", lambda m: f"={int(m.group(1)) + 1}", slip[misses[0]], count=1)
    slip[misses[1]] = slip[misses[1]].removesuffix(" no")
    slipped = "\n".join(slip + ["7 plus 7"])  # and one line that is not a move at all
    assert COUNTDOWN.trace_errors(problem, slipped) == (3, len(moves) + 1)
    wrong_echo = trace.replace(f"({problem.data['target']})", f"({problem.data['target'] + 1})", 1)
    assert COUNTDOWN.trace_errors(problem, wrong_echo) == (1, len(moves))
    assert COUNTDOWN.reward(problem, slipped, trace_penalty=0.5) == 1.0 - 0.5 * 3 / (len(moves) + 1)
    # moves must use the board's numbers, and a shown board must be the rest plus the result
    absent = 1 + max(problem.data["numbers"])
    filler = f"{absent}+{absent}={2 * absent} ({problem.data['target']}) no"
    assert COUNTDOWN.trace_errors(problem, "\n".join([filler] * 5 + [trace])) == (5, len(moves) + 5)
    first = lines[moves[0]]
    assert first.endswith("]") and COUNTDOWN.trace_errors(problem, first) == (0, 1)
    assert COUNTDOWN.trace_errors(problem, first[:-1] + ",1]") == (1, 1)
    assert COUNTDOWN.trace_errors(problem, trace.replace("Answer:", "**Answer:**")) == (0, len(moves))
    assert COUNTDOWN.trace_errors(problem, "\u0663+\u0664=\u0667 no") == (1, 1)  # ASCII digits only
    assert LINSYS.trace_errors(PROBLEMS["linsys"][0], "x=1") == (0, 0)  # no line check: the reward is verify's


# ----- answer-line parsing --------------------------------------------------------------------------------------
def test_last_answer_line_wins_and_spacing_case_are_lenient() -> None:
    problem = Problem("stargraph", "p", {"edges": [[1, 2], [2, 3], [1, 4]], "start": 1, "goal": 3}, {})
    assert STARGRAPH.verify(problem, "Answer: 1-4\nthinking\n  answer :1 - 2 - 3") == 1.0
    assert STARGRAPH.verify(problem, "Answer: 1-2-3\nAnswer: 1-4", format_reward=0.5) == 0.5
    assert STARGRAPH.verify(problem, "1-2-3", format_reward=0.5) == 0.0
    assert STARGRAPH.verify(problem, "Answer: 123", format_reward=0.5) == 0.5  # compact spelling, wrong problem
    compact = Problem("stargraph", "q", problem.data, {"compact": 1})
    assert STARGRAPH.verify(compact, "Answer: 123") == 1.0
    assert STARGRAPH.verify(compact, "Answer: 1-2-3", format_reward=0.5) == 0.5
    assert STARGRAPH.verify(compact, "Answer: 1 2 3", format_reward=0.5) == 0.0


# ----- countdown: agreement with an independent Fraction evaluator ----------------------------------------------
def reference_value(expression: str) -> Fraction | None:
    """Python's own parse, walked with Fractions; None if any intermediate is not an integer or divides by 0."""

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return Fraction(node.value)
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise ZeroDivisionError
            ops = {ast.Add: left + right, ast.Sub: left - right, ast.Mult: left * right}
            value = ops.get(type(node.op), left / right if isinstance(node.op, ast.Div) else None)
            if value is None or value.denominator != 1:
                raise ValueError
            return value
        raise ValueError

    try:
        return walk(ast.parse(expression, mode="eval").body)
    except (ValueError, ZeroDivisionError):
        return None


def literal_counts(expression: str) -> Counter:
    return Counter(int(token) for token in re.findall(r"\d+", expression))


def random_expression(rng: random.Random, numbers: list[int]) -> str:
    """A random expression over a random sub-multiset of `numbers`, parenthesised at random."""
    terms = [str(n) for n in rng.sample(numbers, rng.randint(1, len(numbers)))]
    while len(terms) > 1:
        i = rng.randrange(len(terms) - 1)
        combined = f"{terms[i]}{rng.choice('+-*/')}{terms[i + 1]}"
        terms[i : i + 2] = [f"({combined})" if rng.random() < 0.6 else combined]
    return terms[0]


def test_countdown_agrees_with_fraction_evaluation() -> None:
    rng = random.Random(0)
    agreed_correct = 0
    for problem in COUNTDOWN.generate(300, seed=12, backtracks=0):
        numbers = problem.data["numbers"]
        for _ in range(10):
            expression = random_expression(rng, numbers + ([rng.randint(1, 30)] if rng.random() < 0.2 else []))
            value = reference_value(expression)
            target = int(value) if value is not None and rng.random() < 0.5 else problem.data["target"]
            candidate = Problem("countdown", "x", {**problem.data, "target": target}, {})
            fits = not literal_counts(expression) - Counter(numbers)
            expected = 1.0 if fits and value == target else 0.0
            assert COUNTDOWN.verify(candidate, f"Answer: {expression}") == expected, (expression, numbers, target)
            agreed_correct += expected == 1.0
    assert agreed_correct > 300  # the comparison covers many correct answers, not only rejections


def test_countdown_rejects_bad_answers() -> None:
    problem = Problem("countdown", "x", {"numbers": [6, 4, 3, 3], "target": 24}, {})
    assert COUNTDOWN.verify(problem, "Answer: 6*4") == 1.0
    assert COUNTDOWN.verify(problem, "Answer: (3+3)*4") == 1.0  # a repeated number used as often as given
    for wrong in ["3*3*3-3", "6*4+0", "6*4*1", "24", "6*4/(3-3)", "6/4*16", "(6/4)*(4*4)", "6*4 = 25", "6*4 =",
                  "6*4 = 24 = 24", "-6*-4"]:
        assert COUNTDOWN.verify(problem, f"Answer: {wrong}") == 0.0, wrong
    assert COUNTDOWN.verify(problem, "Answer: 6+4", format_reward=0.1) == 0.1
    assert COUNTDOWN.verify(problem, "Answer: 6*4 = 24") == 1.0  # the value stated after the expression, if right


def test_countdown_mutations_match_the_reference() -> None:
    """Change a number or swap an operator in a correct answer: the verdict equals the independent check."""
    rng = random.Random(1)
    rejected = 0
    for problem in COUNTDOWN.generate(300, seed=13):
        answer = problem.data["answer"]
        positions = [i for i, ch in enumerate(answer) if ch in "+-*/"]
        if rng.random() < 0.5 and positions:
            i = rng.choice(positions)
            mutated = answer[:i] + rng.choice([op for op in "+-*/" if op != answer[i]]) + answer[i + 1 :]
        else:
            digits = [i for i, ch in enumerate(answer) if ch.isdigit()]
            i = rng.choice(digits)
            mutated = answer[:i] + str((int(answer[i]) + rng.randint(1, 9)) % 10) + answer[i + 1 :]
        fits = not literal_counts(mutated) - Counter(problem.data["numbers"])
        expected = 1.0 if fits and reference_value(mutated) == problem.data["target"] else 0.0
        assert COUNTDOWN.verify(problem, f"Answer: {mutated}") == expected, (problem.data, mutated)
        rejected += expected == 0.0
    assert rejected > 250


# ----- linsys: substitution ------------------------------------------------------------------------------------
def test_linsys_checks_by_substitution() -> None:
    rng = random.Random(2)
    for problem in LINSYS.generate(500, seed=14, unknowns=rng.randint(2, 5)):
        variables, solution = problem.data["variables"], problem.data["solution"]
        pairs = [f"{v}={x}" for v, x in zip(variables, solution)]
        shuffled = pairs[:]
        rng.shuffle(shuffled)
        assert LINSYS.verify(problem, "Answer: " + " ; ".join(p.replace("=", " = ") for p in shuffled)) == 1.0
        assert LINSYS.verify(problem, "Answer: " + ",".join(pairs).upper()) == 1.0
        i = rng.randrange(len(pairs))
        perturbed = pairs[:i] + [f"{variables[i]}={solution[i] + rng.choice([-3, -1, 1, 2])}"] + pairs[i + 1 :]
        for wrong in (perturbed, pairs[:-1], pairs + ["q=0"], pairs + [pairs[0]], [pairs[0]] + pairs[1:] + ["t=1"]):
            assert LINSYS.verify(problem, "Answer: " + ", ".join(wrong)) == 0.0, wrong


def test_linsys_accepts_any_valid_solution_form() -> None:
    data = {"variables": ["x", "y"], "coefficients": [[1, 1], [1, -1]], "constants": [5, 1]}
    problem = Problem("linsys", "p", data, {})
    assert LINSYS.verify(problem, "so...\nAnswer:y=2,x=3") == 1.0
    assert LINSYS.verify(problem, "Answer: x=3, y=+2") == 1.0
    assert LINSYS.verify(problem, "Answer: x=3, y=2, ") == 0.0
    assert LINSYS.verify(problem, "Answer: x=3.0, y=2") == 0.0


# ----- stargraph: walking the edges ----------------------------------------------------------------------------
def test_stargraph_walks_edges() -> None:
    rng = random.Random(3)
    for problem in STARGRAPH.generate(500, seed=15, d=rng.randint(2, 8), l=rng.randint(3, 10)):
        path = problem.data["path"]
        edges = problem.data["edges"]
        assert all([u, v] in edges for u, v in zip(path, path[1:]))
        text = lambda nodes: "Answer: " + "-".join(map(str, nodes))  # noqa: E731
        assert STARGRAPH.verify(problem, text(path)) == 1.0
        i = rng.randrange(1, len(path) - 1)
        other_leaf = next(v for u, v in edges if v not in path and all(x != v for x, _ in edges))
        wrong_node = next(n for n in range(100) if n not in path)
        for wrong in (path[:i] + path[i + 1 :], path[:i] + [wrong_node] + path[i + 1 :], path[::-1],
                      path + [wrong_node], path[1:], path[:-1] + [other_leaf], [path[0], path[-1]]):
            assert STARGRAPH.verify(problem, text(wrong)) == 0.0, wrong
