"""A tiny, bounded arithmetic-expression parser and exact integer evaluator (never `eval`).

Grammar: expr := term (('+'|'-') term)* ; term := factor (('*'|'/') factor)* ; factor := INT | '(' expr ')'.
Only non-negative integer literals (no unary minus). Evaluation is exact: every intermediate value must be an
integer, so division must be exact and its divisor non-zero; negative intermediates are allowed.
"""

from __future__ import annotations

from typing import Union

from breadcrumbs.tasks.base import MAX_DIGITS

# A parsed expression: an integer literal, or (operator, left, right).
Expr = Union[int, tuple[str, "Expr", "Expr"]]

MAX_CHARS = 256  # longer answers are rejected before parsing
MAX_DEPTH = 32  # parenthesis nesting bound (keeps recursion shallow)
OPERATORS = "+-*/"
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expr(self, depth: int) -> Expr | None:
        return self.chain(depth, "+-", self.term)

    def term(self, depth: int) -> Expr | None:
        return self.chain(depth, "*/", self.factor)

    def chain(self, depth: int, ops: str, operand) -> Expr | None:
        left = operand(depth)
        while left is not None and self.peek() and self.peek() in ops:
            op = self.text[self.pos]
            self.pos += 1
            right = operand(depth)
            left = None if right is None else (op, left, right)
        return left

    def factor(self, depth: int) -> Expr | None:
        char = self.peek()
        if char == "(":
            if depth >= MAX_DEPTH:
                return None
            self.pos += 1
            inner = self.expr(depth + 1)
            if inner is None or self.peek() != ")":
                return None
            self.pos += 1
            return inner
        start = self.pos
        while self.pos < len(self.text) and "0" <= self.text[self.pos] <= "9":
            self.pos += 1
        digits = self.text[start : self.pos]
        return int(digits) if 0 < len(digits) <= MAX_DIGITS else None


def parse_expression(text: str) -> Expr | None:
    """The expression tree of `text`, or None if it is not a well-formed bounded expression."""
    if not isinstance(text, str) or len(text) > MAX_CHARS:
        return None
    parser = _Parser(text)
    tree = parser.expr(0)
    return tree if tree is not None and parser.peek() == "" else None


def literals(tree: Expr) -> list[int]:
    """The integer literals of an expression, left to right."""
    if isinstance(tree, int):
        return [tree]
    return literals(tree[1]) + literals(tree[2])


def evaluate(tree: Expr) -> int | None:
    """The exact integer value, or None on division by zero or an inexact division."""
    if isinstance(tree, int):
        return tree
    op, left_tree, right_tree = tree
    left, right = evaluate(left_tree), evaluate(right_tree)
    if left is None or right is None:
        return None
    return apply(op, left, right)


def apply(op: str, left: int, right: int) -> int | None:
    """`left op right` in exact integers; None for a zero divisor or a remainder."""
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if right == 0 or left % right:
        return None
    return left // right
