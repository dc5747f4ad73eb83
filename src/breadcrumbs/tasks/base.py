"""The task interface: a problem record, difficulty knobs, and the `Task` base class.

A task generates reproducible problems from a seed, renders a prompt, writes a reference reasoning trace
(`solve`), and scores a model's free-form completion (`verify`). Every prompt and trace uses only printable
ASCII plus newline, so one character is one token of the character-level tokenizer.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from breadcrumbs.errors import BreadcrumbsError

STYLES = ("search", "direct")
# Draws a generator may reject in a row before the difficulty is declared infeasible.
MAX_ATTEMPTS = 10_000
# Longest integer literal any parser accepts (keeps int() cheap and far below Python's digit limit).
MAX_DIGITS = 12
# Held-out splits: a problem's split is a pure function of its canonical key (`Task.problem_key`), so a problem is
# in the same split whatever seed, stage or difficulty drew it, and training streams (split "train") never meet
# evaluation sets ("dev" for tuning, "test" for reporting). Buckets of a 100-way hash: 0-9 test, 10-19 dev, rest train.
SPLITS = ("train", "dev", "test")
_SPLIT_BUCKETS = (("test", 10), ("dev", 20), ("train", 100))
# An answer line, as chat models also write it: markdown marks around the label (`**Answer:**`, `### Answer:`).
_ANSWER_LINE = re.compile(r"^[\s#>*_`-]*answer[\s*_`]*:(.*)$", re.IGNORECASE)
_ANSWER_MARKS = " \t*_`$"  # stripped around an answer: emphasis, code and math marks


@dataclass(frozen=True)
class Problem:
    """One task instance: JSON-serialisable inputs plus the reference answer, and the difficulty it came from."""

    task: str
    id: str
    data: dict = field(hash=False)
    difficulty: dict = field(default_factory=dict, hash=False)

    def to_json(self) -> dict:
        """A plain dict for one JSONL line."""
        return {"task": self.task, "id": self.id, "data": self.data, "difficulty": self.difficulty}

    @classmethod
    def from_json(cls, record: Mapping) -> Problem:
        """Rebuild a problem from `to_json()` output; raises BreadcrumbsError on a malformed record."""
        if not isinstance(record, Mapping):
            raise BreadcrumbsError(f"a problem must be a JSON object, got {type(record).__name__}")
        missing = [key for key in ("task", "id", "data") if key not in record]
        if missing:
            raise BreadcrumbsError(f"problem record lacks {', '.join(missing)}")
        if not isinstance(record["data"], dict) or not isinstance(record.get("difficulty", {}), dict):
            raise BreadcrumbsError("problem 'data' and 'difficulty' must be JSON objects")
        return cls(str(record["task"]), str(record["id"]), record["data"], record.get("difficulty", {}))


@dataclass(frozen=True)
class Knob:
    """One integer difficulty knob with its inclusive allowed range."""

    name: str
    low: int
    high: int
    default: int
    help: str


def answer_lines(text: str) -> list[str]:
    """The content of every line starting with `Answer:` (any case, any spacing, markdown marks around the label
    and the answer, a closing full stop), last line first."""
    if not isinstance(text, str):
        return []
    matches = (_ANSWER_LINE.match(line) for line in reversed(text.splitlines()))
    return [match.group(1).strip(_ANSWER_MARKS).removesuffix(".").strip(_ANSWER_MARKS) for match in matches if match]


def answer_text(text: str) -> str | None:
    """The content of the LAST line starting with `Answer:` (see `answer_lines`); None if absent."""
    lines = answer_lines(text)
    return lines[0] if lines else None


def parse_int(token: str) -> int | None:
    """An optionally signed decimal integer of at most MAX_DIGITS digits, else None."""
    token = token.strip()
    digits = token[1:] if token[:1] in "+-" else token
    if not digits or len(digits) > MAX_DIGITS or not (digits.isascii() and digits.isdigit()):
        return None
    return int(token)


def require(data: Mapping, key: str, kind: type) -> Any:
    """`data[key]`, checked to be of `kind`; raises BreadcrumbsError naming the key otherwise."""
    value = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BreadcrumbsError(f"problem data needs '{key}' of type {kind.__name__}")
    return value


def require_ints(values: Any, what: str) -> list[int]:
    """A list of plain ints, else BreadcrumbsError naming `what`."""
    if not isinstance(values, list) or not all(type(v) is int for v in values):
        raise BreadcrumbsError(f"problem data '{what}' must be a list of integers")
    return values


class Task(ABC):
    """Base class of every task. Subclasses set `name` and `knobs` and implement the abstract methods."""

    name: ClassVar[str]
    knobs: ClassVar[tuple[Knob, ...]]
    scores: bool = True  # False: nothing to score with (prompts without a reward); `score` is then never called

    # ----- difficulty -------------------------------------------------------------------------------------
    def default_difficulty(self) -> dict[str, int]:
        """Every knob at its default value."""
        return {knob.name: knob.default for knob in self.knobs}

    def difficulty_ranges(self) -> dict[str, tuple[int, int]]:
        """Inclusive (low, high) range per knob."""
        return {knob.name: (knob.low, knob.high) for knob in self.knobs}

    def resolve_difficulty(self, overrides: Mapping[str, Any]) -> dict[str, int]:
        """Defaults updated with `overrides`; an unknown knob or out-of-range value raises BreadcrumbsError."""
        ranges = self.difficulty_ranges()
        resolved = self.default_difficulty()
        for key, value in overrides.items():
            if key not in ranges:
                known = ", ".join(f"{k} ({lo}..{hi})" for k, (lo, hi) in ranges.items())
                raise BreadcrumbsError(f"unknown difficulty knob '{key}' for task {self.name}; known: {known}")
            low, high = ranges[key]
            if type(value) is not int or not low <= value <= high:
                raise BreadcrumbsError(
                    f"difficulty knob {key}={value!r} for task {self.name} must be an integer in {low}..{high}"
                )
            resolved[key] = value
        return resolved

    # ----- generation -------------------------------------------------------------------------------------
    def generate(self, n: int, seed: int, split: str | None = None, **difficulty: Any) -> list[Problem]:
        """`n` valid problems, identical for the same seed and difficulty on any machine (a prefix for smaller n).

        `split` ("train", "dev" or "test") keeps only problems of that held-out split (see `split_of`); None keeps
        every problem. Ids name the split, so records made from different splits never share an id."""
        if type(n) is not int or n < 0:
            raise BreadcrumbsError(f"the number of problems must be a non-negative integer, got {n!r}")
        if type(seed) is not int:
            raise BreadcrumbsError(f"the seed must be an integer, got {seed!r}")
        if split is not None and split not in SPLITS:
            raise BreadcrumbsError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        knobs = self.resolve_difficulty(difficulty)
        fixed = self.fixed_problems(split)
        if fixed is not None:
            return fixed[:n]
        rng = random.Random(seed)
        prefix = f"{self.name}-{seed}" if split is None else f"{self.name}-{split}-{seed}"
        return [Problem(self.name, f"{prefix}-{i}", self._draw(rng, knobs, split), knobs) for i in range(n)]

    def _draw(self, rng: random.Random, knobs: dict[str, int], split: str | None = None) -> dict:
        for _ in range(MAX_ATTEMPTS):
            data = self.sample(rng, knobs)
            if data is not None and (split is None or self.split_of(data) == split):
                return data
        where = "" if split is None else f" in split {split!r}"
        raise BreadcrumbsError(
            f"task {self.name} found no valid problem{where} in {MAX_ATTEMPTS} draws at difficulty {knobs}; "
            "widen the ranges"
        )

    def fixed_problems(self, split: str | None = None) -> list[Problem] | None:
        """Every problem of `split` (None: all of them), in order, for a task that reads a fixed set (the dataset
        task); None for a task that generates its problems (the default). `generate(n, ...)` then returns the
        first `n` of them, whatever the seed, and training walks them as a pool."""
        return None

    def summary(self) -> str | None:
        """A line stating a fixed set's size and split sizes, for command output; None for a generated task."""
        return None

    def problem_key(self, data: Mapping) -> str:
        """The canonical identity of a problem: equal for two instances that are the same question (tasks override
        this to ignore presentation, e.g. the order of given numbers or edges). Default: the data as sorted JSON."""
        return json.dumps(data, sort_keys=True)

    def split_of(self, data: Mapping) -> str:
        """The held-out split ("train", "dev" or "test") a problem belongs to, from a hash of its canonical key."""
        digest = hashlib.sha256(f"{self.name}:{self.problem_key(data)}".encode()).digest()
        bucket = int.from_bytes(digest[:8], "little") % 100
        return next(name for name, end in _SPLIT_BUCKETS if bucket < end)

    @abstractmethod
    def sample(self, rng: random.Random, knobs: dict[str, int]) -> dict | None:
        """One random instance's data (inputs + reference answer), or None to reject this draw."""

    @abstractmethod
    def check_data(self, data: Mapping) -> None:
        """Raise BreadcrumbsError if `data` lacks a field the prompt or verifier needs."""

    # ----- prompting and solving --------------------------------------------------------------------------
    @abstractmethod
    def prompt(self, problem: Problem) -> str:
        """The prompt text; it ends with a newline and the completion follows it."""

    def solve(self, problem: Problem, style: str = "search") -> str:
        """A correct reasoning trace in `style` ("search" or "direct"), ending in the line `Answer: ...`."""
        if style not in STYLES:
            raise BreadcrumbsError(f"unknown trace style '{style}'; choose one of {', '.join(STYLES)}")
        steps, answer = self.reason(problem, style)
        return "\n".join([*steps, f"Answer: {answer}"])

    @abstractmethod
    def reason(self, problem: Problem, style: str) -> tuple[list[str], str]:
        """The trace's step lines and the final answer text for `style`."""

    # ----- scoring ----------------------------------------------------------------------------------------
    @abstractmethod
    def parse_answer(self, text: str) -> Any | None:
        """The parsed final answer from the last `Answer:` line of free text, or None."""

    @abstractmethod
    def check(self, problem: Problem, answer: Any) -> bool:
        """Whether a parsed answer solves the problem."""

    def final_answer(self, text: str) -> Any | None:
        """The last well-formed answer in free text: `Answer:` lines from the last up, the first that parses (a chatty
        model may add a malformed one after it); None if none does."""
        for content in answer_lines(text):
            answer = self.parse_answer(f"Answer: {content}")
            if answer is not None:
                return answer
        return None

    def verify(self, problem: Problem, completion: str, format_reward: float = 0.0) -> float:
        """1.0 if correct; `format_reward` if an answer parsed but is wrong; else 0.0. Never raises on any text."""
        answer = self.final_answer(completion)
        if answer is None:
            return 0.0
        return 1.0 if self.check(problem, answer) else format_reward

    def trace_errors(self, problem: Problem, completion: str) -> tuple[int, int]:
        """(wrong, checked) step lines of a completion's trace, for tasks whose steps can be checked one line at a
        time; (0, 0) for a task without such a check."""
        return 0, 0

    def score(
        self, problems: Sequence[Problem], completions: Sequence[str], format_reward: float = 0.0,
        trace_penalty: float = 0.0,
    ) -> tuple[list[float], list[bool]]:
        """(RL reward, correct) of each completion of a batch: `reward`, and `verify` giving 1.0. Callers score a
        batch once through this; a task whose scoring is one call per batch (the dataset task) overrides it."""
        rewards = [self.reward(p, c, format_reward, trace_penalty) for p, c in zip(problems, completions)]
        return rewards, [self.verify(p, c) >= 1.0 for p, c in zip(problems, completions)]

    def check_scoring(
        self, problems: Sequence[Problem], format_reward: float = 0.0, trace_penalty: float = 0.0, count: int = 4
    ) -> None:
        """Score the reference completions of the first `count` problems, so a task that cannot score (a dataset
        without a reward, a user's reward that raises, returns the wrong length or NaN) fails before any work."""
        if not self.scores:
            return
        head = list(problems[:count])
        self.score(head, [self.solve(problem) for problem in head], format_reward, trace_penalty)

    def reward(
        self, problem: Problem, completion: str, format_reward: float = 0.0, trace_penalty: float = 0.0
    ) -> float:
        """The RL reward: `verify`, minus `trace_penalty` times the share of checked trace lines that are wrong."""
        checks_trace = trace_penalty and isinstance(completion, str)
        wrong, checked = self.trace_errors(problem, completion) if checks_trace else (0, 0)
        return self.verify(problem, completion, format_reward) - (trace_penalty * wrong / checked if checked else 0.0)
