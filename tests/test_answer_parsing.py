"""Answer parsing tolerates a chatty model: markdown around `Answer:`, math/code marks, a closing full stop, and
text after the answer; the verifier reads the last well-formed answer and never raises."""

from __future__ import annotations

import pytest

from breadcrumbs.tasks import get_task
from task_names import GENERATED
from breadcrumbs.tasks.base import answer_lines

CHATTY = [
    "**Answer:** {a}",
    "### Answer: {a}",
    "**Answer: {a}**",
    "Answer: ${a}$",
    "Answer: `{a}`",
    "Answer: {a}.",
    "Sure! Let me think step by step.\n\nAnswer: {a}\n\nI hope this helps!",
    "Answer: {a}\nAnswer: I am not sure about this one",  # a malformed answer after a well-formed one
]


@pytest.mark.parametrize("template", CHATTY)
@pytest.mark.parametrize("name", GENERATED)
def test_chatty_answers_are_read(name, template):
    task = get_task(name)
    for problem in task.generate(3, seed=5):
        answer = task.solve(problem).splitlines()[-1].partition(":")[2].strip()
        assert task.verify(problem, template.format(a=answer)) == 1.0, template


@pytest.mark.parametrize("name", GENERATED)
def test_the_last_well_formed_answer_counts(name):
    task = get_task(name)
    first, second = task.generate(2, seed=9)
    right = task.solve(first).splitlines()[-1]
    wrong = task.solve(second).splitlines()[-1]  # well formed, but the answer to another problem
    assert task.verify(first, f"{wrong}\n{right}") == 1.0
    assert task.verify(first, f"{right}\n{wrong}", format_reward=0.25) == 0.25


@pytest.mark.parametrize("name", GENERATED)
@pytest.mark.parametrize("text", ["", "Answer:", "**Answer:**", "answer: ``", "Answer: $", "\u2581Answer: ?", None, 7])
def test_garbage_never_raises(name, text):
    task = get_task(name)
    assert task.verify(task.generate(1, seed=0)[0], text) == 0.0


def test_answer_lines_are_last_first_and_stripped():
    assert answer_lines("Answer: 1\nnoise\n**Answer:** `2`.\n") == ["2", "1"]
    assert answer_lines("no answer here") == [] and answer_lines(None) == []
