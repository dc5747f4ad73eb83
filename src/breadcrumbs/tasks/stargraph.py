"""StarGraph: find the path from the centre of a star graph to a given leaf.

The graph has d arms of l nodes each, labelled with distinct random integers 0..labels-1 (default 100); its
directed edges (pointing away from the centre) are listed in shuffled order. Search trace: walk the arms in the
order the centre's edges appear in the list, one line per arm (then ` no` at a wrong leaf) until the arm that ends
at the goal. Direct trace: walk back from the goal to the centre along the unique incoming edges. The answer is
the centre-to-goal node list; the verifier walks it along the edges.

Two spellings (knob `compact`):
- 0 (default): decimal labels, edges `u>v`, paths `c-a-b`, direct trace `g<p<c`;
- 1: every node is ONE character (`0-9a-zA-Z`, so labels <= 62), edges `uv`, paths and direct trace without
  separators (`cab`, `gpc`). Each step of a walk is then one look-up of "the character after this one" in the
  edge list, which a small character-level model learns in minutes (the demo's default).
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.tasks.base import Knob, Problem, Task, answer_text, parse_int, require, require_ints
from breadcrumbs.tasks.registry import register_task

MAX_ANSWER_CHARS = 4096
COMPACT_NAMES = string.digits + string.ascii_lowercase + string.ascii_uppercase


def _is_compact(problem: Problem) -> bool:
    return bool(problem.difficulty.get("compact", 0))


def _name(node: int, compact: bool) -> str:
    return COMPACT_NAMES[node] if compact else str(node)


def _path_text(nodes: list[int], sep: str, compact: bool) -> str:
    return ("" if compact else sep).join(_name(node, compact) for node in nodes)


def _parse_nodes(answer: str, compact: bool) -> list[int] | None:
    """The node labels of an answer in one spelling, or None if it is not written in that spelling."""
    if compact:
        nodes = [COMPACT_NAMES.find(char) for char in answer]
        return None if -1 in nodes else nodes
    nodes = [parse_int(part) for part in answer.split("-")]
    return None if None in nodes else nodes


@register_task
class StarGraph(Task):
    """Path-finding from the centre to one leaf of a star graph given as a shuffled edge list."""

    name = "stargraph"
    knobs = (
        Knob("d", 2, 8, 6, "number of arms"),
        Knob("l", 3, 10, 6, "nodes per arm (excluding the centre)"),
        Knob("labels", 10, 1000, 100, "node labels are drawn from 0..labels-1 (must exceed d*l)"),
        Knob("compact", 0, 1, 0, "1: one character per node (0-9a-zA-Z, labels <= 62), no separators"),
    )

    def sample(self, rng: random.Random, knobs: dict[str, int]) -> dict:
        d, l = knobs["d"], knobs["l"]
        if knobs["labels"] <= d * l:
            raise BreadcrumbsError(f"stargraph: labels={knobs['labels']} is too few for {d * l + 1} nodes; raise it")
        if knobs["compact"] and knobs["labels"] > len(COMPACT_NAMES):
            raise BreadcrumbsError(
                f"stargraph: compact=1 names each node with one character, so labels must be <= {len(COMPACT_NAMES)}"
                f" (got {knobs['labels']}); lower labels or set compact=0"
            )
        labels = rng.sample(range(knobs["labels"]), d * l + 1)
        centre, arms = labels[0], [labels[1 + a * l : 1 + (a + 1) * l] for a in range(d)]
        edges = [[u, v] for arm in arms for u, v in zip([centre] + arm, arm)]
        rng.shuffle(edges)
        path = [centre] + rng.choice(arms)
        return {"edges": edges, "start": centre, "goal": path[-1], "path": path}

    def check_data(self, data: Mapping) -> None:
        edges = require(data, "edges", list)
        if not all(len(require_ints(edge, "edges")) == 2 for edge in edges):
            raise BreadcrumbsError("problem data 'edges' must be a list of [from, to] integer pairs")
        require(data, "start", int)
        require(data, "goal", int)

    def problem_key(self, data: Mapping) -> str:
        """The graph (edges in sorted order: the listing order is presentation), start and goal."""
        return f"{sorted(map(tuple, data['edges']))}:{data['start']}->{data['goal']}"

    def prompt(self, problem: Problem) -> str:
        compact = _is_compact(problem)
        edges = " ".join(_path_text(edge, ">", compact) for edge in problem.data["edges"])
        start, goal = _name(problem.data["start"], compact), _name(problem.data["goal"], compact)
        return f"Edges: {edges}\nPath: {start} to {goal}\n"

    def reason(self, problem: Problem, style: str) -> tuple[list[str], str]:
        edges, start, goal = problem.data["edges"], problem.data["start"], problem.data["goal"]
        compact = _is_compact(problem)
        children: dict[int, list[int]] = {}
        parent: dict[int, int] = {}
        for u, v in edges:
            children.setdefault(u, []).append(v)
            parent[v] = u
        back = [goal]
        while back[-1] != start:
            if back[-1] not in parent or len(back) > len(edges):
                raise BreadcrumbsError(f"stargraph problem {problem.id}: no path from {start} to {goal}")
            back.append(parent[back[-1]])
        answer = _path_text(back[::-1], "-", compact)
        if style == "direct":
            return [_path_text(back, "<", compact)], answer
        lines = []
        for first in children[start]:
            arm = [start, first]
            while arm[-1] in children and len(arm) <= len(edges):
                arm.append(children[arm[-1]][0])
            if arm[-1] == goal:
                return lines + [_path_text(arm, "-", compact)], answer
            lines.append(_path_text(arm, "-", compact) + " no")
        raise BreadcrumbsError(f"stargraph problem {problem.id}: the goal is on no arm from {start}")

    def parse_answer(self, text: str) -> str | None:
        """The answer's text if it is a node list in either spelling (`3-14-15` or `3ef`), else None; `check`
        reads it in the problem's spelling."""
        answer = answer_text(text)
        if answer is None or not answer or len(answer) > MAX_ANSWER_CHARS:
            return None
        if _parse_nodes(answer, compact=False) is None and _parse_nodes(answer, compact=True) is None:
            return None
        return answer

    def check(self, problem: Problem, answer: str) -> bool:
        nodes = _parse_nodes(answer, _is_compact(problem))
        edges = {(u, v) for u, v in problem.data["edges"]}
        return (
            nodes is not None
            and nodes[0] == problem.data["start"]
            and nodes[-1] == problem.data["goal"]
            and all((u, v) in edges for u, v in zip(nodes, nodes[1:]))
        )
