"""StarGraph: find the path from the centre of a star graph to a given leaf.

The graph has d arms of l nodes each, labelled with distinct random integers 0..labels-1 (default 100; with
`labels=10` every node is one character, which makes the task much easier for a small character-level model); its directed edges
(`u>v`, pointing away from the centre) are listed in shuffled order. Search trace: walk the arms in the order
the centre's edges appear in the list, one line per arm (`c-a-b-...` then ` no` at a wrong leaf) until the arm
that ends at the goal. Direct trace: walk back from the goal to the centre along the unique incoming edges
(`g<p<...<c`). The answer is the node list `c-a-...-g`; the verifier walks it along the edges.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.tasks.base import Knob, Problem, Task, answer_text, parse_int, require, require_ints
from breadcrumbs.tasks.registry import register_task

MAX_ANSWER_CHARS = 4096


def _path_text(nodes: list[int], sep: str) -> str:
    return sep.join(str(node) for node in nodes)


@register_task
class StarGraph(Task):
    """Path-finding from the centre to one leaf of a star graph given as a shuffled edge list."""

    name = "stargraph"
    knobs = (
        Knob("d", 2, 8, 6, "number of arms"),
        Knob("l", 3, 10, 6, "nodes per arm (excluding the centre)"),
        Knob("labels", 10, 1000, 100, "node labels are drawn from 0..labels-1 (must exceed d*l)"),
    )

    def sample(self, rng: random.Random, knobs: dict[str, int]) -> dict:
        d, l = knobs["d"], knobs["l"]
        if knobs["labels"] <= d * l:
            raise BreadcrumbsError(f"stargraph: labels={knobs['labels']} is too few for {d * l + 1} nodes; raise it")
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

    def prompt(self, problem: Problem) -> str:
        edges = " ".join(f"{u}>{v}" for u, v in problem.data["edges"])
        return f"Edges: {edges}\nPath: {problem.data['start']} to {problem.data['goal']}\n"

    def reason(self, problem: Problem, style: str) -> tuple[list[str], str]:
        edges, start, goal = problem.data["edges"], problem.data["start"], problem.data["goal"]
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
        answer = _path_text(back[::-1], "-")
        if style == "direct":
            return [_path_text(back, "<")], answer
        lines = []
        for first in children[start]:
            arm = [start, first]
            while arm[-1] in children and len(arm) <= len(edges):
                arm.append(children[arm[-1]][0])
            if arm[-1] == goal:
                return lines + [_path_text(arm, "-")], answer
            lines.append(_path_text(arm, "-") + " no")
        raise BreadcrumbsError(f"stargraph problem {problem.id}: the goal is on no arm from {start}")

    def parse_answer(self, text: str) -> list[int] | None:
        answer = answer_text(text)
        if answer is None or not answer or len(answer) > MAX_ANSWER_CHARS:
            return None
        nodes = [parse_int(part) for part in answer.split("-")]
        return None if None in nodes else nodes

    def check(self, problem: Problem, answer: list[int]) -> bool:
        edges = {(u, v) for u, v in problem.data["edges"]}
        return (
            answer[0] == problem.data["start"]
            and answer[-1] == problem.data["goal"]
            and all((u, v) in edges for u, v in zip(answer, answer[1:]))
        )
