"""Countdown: reach a target from k numbers with + - * /, each number used at most once.

Rules (verifier): exact integer arithmetic, every intermediate value an integer (division exact, divisor
non-zero); each given number used at most as often as given. The solver only makes "useful" moves on a pair
a >= b: a+b, a-b (a > b), a*b and a/b (b > 1, exact), so its intermediates are positive integers.

Search trace: a depth-first search over pairwise moves, children tried closest-to-target first (ties in
generation order: pairs in board order, then + - * /), or, with the knob `order=1`, in that fixed generation order
alone. The fixed order makes every step of the trace local (the next move is the one after the last move tried at
this depth), which small models learn; closest-first needs a global sort of all moves at every node. With the knob
`echo=1` every move line repeats the target after its result (`27+8=35 (45) no`), so deciding whether a move hits
is a comparison of two adjacent numbers instead of a look-up of the prompt: without it, a small model trained on
these traces learns to stop the search after a typical number of failures and to claim a hit that is not one. Each tried move is one line, `a op b=c [board after]`;
a leaf that misses is `a op b=c no`; a failed subtree is closed by `back`; a move repeating one already tried
at that node (equal numbers) is skipped; the move that hits the target is `a op b=target`. The search is
capped at MAX_SEARCH_LINES lines; the generator draws the target from a random chain of moves over all k
numbers and re-draws any instance the capped search cannot solve (or that needs fewer than `backtracks` failed
subtrees), so every problem is solvable and its search trace fits the cap. The direct trace is just the
successful moves.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.tasks.arith import PRECEDENCE, Expr, apply, evaluate, literals, parse_expression
from breadcrumbs.tasks.base import Knob, Problem, Task, answer_lines, answer_text, parse_int, require, require_ints
from breadcrumbs.tasks.registry import register_task

MAX_SEARCH_LINES = 40
# one move line of a search trace: `a op b=c`, the echoed target `(t)`, then ` no`, the board after, or nothing (a hit)
# (numbers of at most 12 digits: a longer one is a wrong line, never a huge integer to convert)
MOVE_LINE = re.compile(r"(\d{1,12})([-+*/])(\d{1,12})=(\d{1,12})(?: \((\d{1,12})\))?( no| \[[\d,]{0,200}\])?", re.ASCII)


class Item(NamedTuple):
    """A number on the board; a produced number remembers the move that made it."""

    value: int
    op: str = ""
    left: Item | None = None
    right: Item | None = None


class Search(NamedTuple):
    """One capped depth-first search: its trace lines, the successful lines, and the answer (None if not found)."""

    lines: list[str]
    path: list[str]
    answer: str | None
    backtracks: int


def render(item: Item) -> tuple[str, int]:
    """(expression, precedence of its top operator; 3 for a literal) with the fewest parentheses needed."""
    if not item.op:
        return str(item.value), 3
    prec = PRECEDENCE[item.op]
    left, left_prec = render(item.left)
    right, right_prec = render(item.right)
    left = left if left_prec >= prec else f"({left})"
    tight = right_prec > prec or (right_prec == prec and item.op in "+*")
    return f"{left}{item.op}{right if tight else f'({right})'}", prec


def _ordered(x: Item, y: Item) -> tuple[Item, Item]:
    return (x, y) if x.value >= y.value else (y, x)


def _useful_ops(a: int, b: int) -> str:
    """The solver's moves on a >= b: + always, - if a > b, * and / if b > 1 (/ only when exact)."""
    ops = "+-" if a > b else "+"
    return ops + ("*/" if a % b == 0 else "*") if b > 1 else ops


def _moves(board: list[Item]) -> Iterator[tuple[Item, list[Item]]]:
    """Every useful move as (new item, new board), pairs in board order, then + - * /."""
    for i in range(len(board)):
        for j in range(i + 1, len(board)):
            a, b = _ordered(board[i], board[j])
            rest = [item for k, item in enumerate(board) if k not in (i, j)]
            for op in _useful_ops(a.value, b.value):
                item = Item(apply(op, a.value, b.value), op, a, b)
                yield item, rest + [item]


def random_chain(numbers: list[int], rng: random.Random) -> int:
    """The value of random useful moves combining all the numbers."""
    values = list(numbers)
    while len(values) > 1:
        i, j = rng.sample(range(len(values)), 2)
        a, b = max(values[i], values[j]), min(values[i], values[j])
        values = [v for k, v in enumerate(values) if k not in (i, j)] + [apply(rng.choice(_useful_ops(a, b)), a, b)]
    return values[0]


def search(numbers: list[int], target: int, closest_first: bool = True, echo: bool = False) -> Search:
    """Depth-first search for `target` (closest results first, or in generation order), capped at MAX_SEARCH_LINES
    lines; `echo` writes the target after every result (`a op b=c (target)`)."""
    lines: list[str] = []
    path: list[str] = []

    def dfs(board: list[Item]) -> Item | None:
        tried = set()
        moves = list(_moves(board))
        if closest_first:
            moves.sort(key=lambda move: abs(move[0].value - target))
        for item, after in moves:
            if len(lines) >= MAX_SEARCH_LINES:
                return None
            line = f"{item.left.value}{item.op}{item.right.value}={item.value}" + (f" ({target})" if echo else "")
            state = (line, tuple(sorted(x.value for x in after)))
            if state in tried:  # the same move on an equal number
                continue
            tried.add(state)
            if item.value == target:
                lines.append(line)
                path.append(line)
                return item
            if len(after) == 1:
                lines.append(f"{line} no")
                continue
            step = f"{line} [{','.join(str(x.value) for x in after)}]"
            lines.append(step)
            path.append(step)
            found = dfs(after)
            if found is not None:
                return found
            path.pop()
            lines.append("back")
        return None

    found = dfs([Item(n) for n in numbers])
    answer = None if found is None else render(found)[0]
    return Search(lines, path, answer, lines.count("back"))


@register_task
class Countdown(Task):
    """Reach the target with + - * / over the given numbers."""

    name = "countdown"
    knobs = (
        Knob("k", 3, 6, 4, "how many numbers are given"),
        Knob("max_number", 5, 100, 20, "numbers are drawn from 1..max_number"),
        Knob("max_target", 10, 1000, 100, "targets lie in 10..max_target"),
        Knob("backtracks", 0, 4, 1, "least number of failed subtrees (`back` lines) in the search trace"),
        Knob("order", 0, 1, 0, "search order of moves: 0 closest-to-target first, 1 fixed (pairs in board order, + - * /)"),
        Knob("echo", 0, 1, 0, "1: every move line repeats the target after its result, `a op b=c (target)`"),
    )

    def sample(self, rng: random.Random, knobs: dict[str, int]) -> dict | None:
        numbers = [rng.randint(1, knobs["max_number"]) for _ in range(knobs["k"])]
        target = random_chain(numbers, rng)
        if not 10 <= target <= knobs["max_target"] or target in numbers:
            return None
        found = search(numbers, target, closest_first=not knobs["order"], echo=bool(knobs["echo"]))
        if found.answer is None or found.backtracks < knobs["backtracks"]:
            return None
        return {"numbers": numbers, "target": target, "answer": found.answer}

    def check_data(self, data: Mapping) -> None:
        require_ints(require(data, "numbers", list), "numbers")
        require(data, "target", int)

    def problem_key(self, data: Mapping) -> str:
        """Sorted numbers and the target: the same question whatever order the numbers are given in."""
        return f"{sorted(data['numbers'])}->{data['target']}"

    def prompt(self, problem: Problem) -> str:
        numbers = ",".join(str(n) for n in problem.data["numbers"])
        return f"Countdown: make {problem.data['target']} from [{numbers}]\n"

    def reason(self, problem: Problem, style: str) -> tuple[list[str], str]:
        knobs = problem.difficulty
        found = search(problem.data["numbers"], problem.data["target"], closest_first=not knobs.get("order", 0),
                       echo=bool(knobs.get("echo", 0)))
        if found.answer is None:
            raise BreadcrumbsError(f"countdown problem {problem.id} has no solution within the search cap")
        return (found.lines if style == "search" else found.path), found.answer

    def trace_errors(self, problem: Problem, completion: str) -> tuple[int, int]:
        """(wrong, checked) move lines of a search trace. A move line is right when it uses two numbers of the
        current board, its result is `a op b` in exact integers, its echoed target (if any) is the target, it claims
        a hit (no suffix) exactly when the result is the target, a miss on the last two numbers is closed by ` no`,
        and a board (`[...]`, which the next lines then search) holds the rest and the result. `back` returns to
        the board before; `Answer:` and blank lines are not checked; any other line is wrong."""
        target = problem.data["target"]
        boards = [Counter(problem.data["numbers"])]
        wrong = checked = 0
        for line in completion.split("\n"):
            line = line.strip()
            if not line or answer_lines(line):
                continue
            if line == "back":
                boards = boards[:-1] or boards
                continue
            checked += 1
            move = MOVE_LINE.fullmatch(line)
            if move is None:
                wrong += 1
                continue
            left, op, right, result, echoed, after = move.groups()
            board, uses, value = boards[-1], Counter([int(left), int(right)]), int(result)
            right_line = (
                all(board[number] >= count for number, count in uses.items())
                and apply(op, int(left), int(right)) == value
                and (echoed is None or int(echoed) == target)
                and (after is None) == (value == target)
                and (after != " no" or board.total() == 2)
            )
            if after not in (None, " no"):
                shown = Counter(int(number) for number in after.strip(" []").split(",") if number)
                right_line = right_line and board.total() > 2 and shown == board - uses + Counter([value])
                boards.append(shown)  # later lines are judged against the board the trace shows
            wrong += not right_line
        return wrong, checked

    def parse_answer(self, text: str) -> Expr | None:
        """The answer's expression; `Answer: 10+7+2 = 19` is read too, when the stated value is the expression's."""
        answer = answer_text(text)
        if answer is None:
            return None
        expression, equals, stated = answer.partition("=")
        tree = parse_expression(expression)
        if tree is None or (equals and evaluate(tree) != parse_int(stated)):
            return None
        return tree

    def check(self, problem: Problem, answer: Expr) -> bool:
        used, given = Counter(literals(answer)), Counter(problem.data["numbers"])
        if any(count > given[number] for number, count in used.items()):
            return False
        return evaluate(answer) == problem.data["target"]
