"""The dataset task: a user's file of prompts and answers, scored by the user's reward function(s).

Rows come from JSONL, CSV, Parquet (needs `pyarrow`) or a Hugging Face `datasets` folder written by
`save_to_disk` (needs `datasets`); both are the optional extra `breadcrumbs[datasets]`. Each row is a problem whose
data is the row itself. Its split is a hash of its prompt (`Task.split_of`), as built-in tasks split by their
canonical key; `fixed_problems(split)` gives the rows of a split in file order, so evaluation covers each row once.
The warm-start target is the row's reference trace when the file has a trace column, else `Answer: <answer>`.
Rewards have TRL's signature (`breadcrumbs.tasks.rewards`) and are called once per scored batch.

`PromptsTask` (`breadcrumbs eval --prompts FILE`) reads the same formats plus plain text (one prompt per non-blank
line), needs no answer column and no reward, and is scored only when a reward or verifier is named.
"""

from __future__ import annotations

import csv
import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.tasks.base import SPLITS, Problem, Task, answer_text
from breadcrumbs.tasks.io import iter_jsonl
from breadcrumbs.tasks.registry import register_task
from breadcrumbs.tasks.rewards import ScoreFunction, split_refs

FORMATS = ".jsonl, .csv, .parquet, or a Hugging Face datasets folder (save_to_disk)"
PROMPT_FORMATS = ".txt (one prompt per line), " + FORMATS
EXTRA = "pip install 'breadcrumbs[datasets]'"
# Column names a reward never receives by name, as in TRL: the prompt and completion are its first arguments.
RESERVED = ("prompt", "completion", "prompts", "completions")
DEFAULT_TRACE = "trace"  # used when the file has it; a trace column named otherwise must exist


def _jsonl_rows(path: Path) -> list[tuple[str, dict]]:
    rows = []
    for number, record in iter_jsonl(path):
        if isinstance(record, BreadcrumbsError):
            raise BreadcrumbsError(f"{path}:{number}: {record}")
        if not isinstance(record, dict):
            raise BreadcrumbsError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        rows.append((f"{path.name}:{number}", record))
    return rows


def _csv_rows(path: Path) -> list[tuple[str, dict]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            return [(f"{path.name}:{reader.line_num}", dict(row)) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise BreadcrumbsError(f"cannot read {path}: {err}") from None


def _parquet_rows(path: Path) -> list[tuple[str, dict]]:
    try:
        import pyarrow.parquet
    except ImportError:
        raise BreadcrumbsError(f"reading {path.name} needs pyarrow: {EXTRA}") from None
    records = pyarrow.parquet.read_table(path).to_pylist()
    return [(f"{path.name} row {index}", record) for index, record in enumerate(records, start=1)]


def _hf_rows(path: Path) -> list[tuple[str, dict]]:
    try:
        import datasets
    except ImportError:
        raise BreadcrumbsError(f"reading the datasets folder {path} needs the datasets package: {EXTRA}") from None
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        raise BreadcrumbsError(
            f"{path} holds the splits {', '.join(loaded)}; point the path at one of them (e.g. {path / next(iter(loaded))})"
        )
    return [(f"{path.name} row {index}", dict(record)) for index, record in enumerate(loaded, start=1)]


def _text_rows(path: Path) -> list[tuple[str, dict]]:
    """One `{"prompt": line}` row per non-blank line of a plain text file."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise BreadcrumbsError(f"cannot read {path}: {err}") from None
    return [(f"{path.name}:{number}", {"prompt": line}) for number, line in enumerate(lines, start=1) if line.strip()]


READERS = {".jsonl": _jsonl_rows, ".csv": _csv_rows, ".parquet": _parquet_rows}


def read_rows(path: str | Path, what: str = "dataset", readers: Mapping = READERS,
              formats: str = FORMATS) -> list[tuple[str, dict]]:
    """(where, row) for every row of a data file or folder, in order; `where` names the file and line or row."""
    path = Path(path)
    if not path.exists():
        raise BreadcrumbsError(f"{what} {str(path)!r} does not exist")
    if path.is_dir():
        rows = _hf_rows(path)
    else:
        reader = readers.get(path.suffix.lower())
        if reader is None:
            raise BreadcrumbsError(f"{what} {path.name}: unknown format {path.suffix!r}; use {formats}")
        rows = reader(path)
    if not rows:
        raise BreadcrumbsError(f"{what} {path} has no rows")
    return rows


@register_task
class DatasetTask(Task):
    """Rows of your file (JSONL, CSV, Parquet, datasets folder), scored by your reward: --task-path FILE --reward REF."""

    name = "dataset"
    knobs = ()
    what: ClassVar[str] = "dataset"  # how errors name the file
    answer_required: ClassVar[bool] = True

    def __init__(
        self,
        path: str = "",
        reward: str = "",
        reward_weights: Sequence[float] = (),
        verifier: str = "",
        threshold: float = 1.0,
        prompt: str = "prompt",
        answer: str = "answer",
        trace: str = DEFAULT_TRACE,
    ):
        if not path:
            raise BreadcrumbsError("task dataset needs a file: task.path in a config, --task-path on the command line")
        self.path = Path(path)
        self.rewards = [ScoreFunction.load(ref) for ref in split_refs(reward)]
        weights = list(reward_weights) or [1.0] * len(self.rewards)
        if len(weights) != len(self.rewards):
            raise BreadcrumbsError(
                f"{len(weights)} reward weights for {len(self.rewards)} reward functions ({reward}); give one each"
            )
        for what, value in [*(("reward weight", weight) for weight in weights), ("threshold", threshold)]:
            if type(value) not in (int, float) or not math.isfinite(value):
                raise BreadcrumbsError(f"the dataset task's {what} must be a finite number, got {value!r}")
        self.weights = [float(weight) for weight in weights]
        self.verifier = ScoreFunction.load(verifier, "verifier") if verifier else None
        self.threshold = float(threshold)
        self.prompt_column, self.answer_column = prompt, answer
        rows = self.read_rows()
        self.columns = list(dict.fromkeys(column for _, row in rows for column in row))
        if prompt not in self.columns:
            raise BreadcrumbsError(self._missing(prompt, "prompt"))
        if answer not in self.columns:
            if self.answer_required or answer != "answer":  # a named answer column must exist
                raise BreadcrumbsError(self._missing(answer, "answer"))
            self.answer_column = None
        if trace not in self.columns and trace != DEFAULT_TRACE:
            raise BreadcrumbsError(self._missing(trace, "trace"))
        self.trace_column = trace if trace in self.columns else None
        self.where: dict[str, str] = {}
        self.problems: list[Problem] = []
        for index, (where, row) in enumerate(rows, start=1):
            where = f"row {index} ({where})"
            self._check_row(row, where)
            digest = hashlib.sha256(row[prompt].encode()).hexdigest()[:8]
            problem = Problem(self.name, f"{self.path.stem}-{index}-{digest}", row)
            self.where[problem.id] = where
            self.problems.append(problem)

    def read_rows(self) -> list[tuple[str, dict]]:
        """(where, row) for every row of the file."""
        return read_rows(self.path)

    def _missing(self, column: str, option: str) -> str:
        return (
            f"{self.what} {self.path.name} has no {option} column {column!r} (columns: {', '.join(self.columns)}); "
            f"name it with task.{option}: COLUMN in a config or --column {option}=COLUMN"
        )

    def _check_row(self, row: Mapping, where: str) -> None:
        prompt = row.get(self.prompt_column)
        if not isinstance(prompt, str) or not prompt.strip():
            raise BreadcrumbsError(
                f"{self.what} {where}: the prompt ({self.prompt_column!r}) must be a non-empty string, got {prompt!r}"
            )
        if self.answer_column is not None and row.get(self.answer_column) is None:
            raise BreadcrumbsError(f"{self.what} {where}: no answer ({self.answer_column!r})")
        if self.trace_column is not None and not isinstance(row.get(self.trace_column), str):
            raise BreadcrumbsError(
                f"dataset {where}: the trace ({self.trace_column!r}) must be a string, got {row.get(self.trace_column)!r}"
            )

    # ----- the fixed set and its splits -------------------------------------------------------------------
    def problem_key(self, data: Mapping) -> str:
        """The prompt: rows asking the same question fall in the same split."""
        return data[self.prompt_column]

    def split_sizes(self) -> dict[str, int]:
        sizes = dict.fromkeys(SPLITS, 0)
        for problem in self.problems:
            sizes[self.split_of(problem.data)] += 1
        return sizes

    def summary(self) -> str:
        sizes = self.split_sizes()
        return (
            f"dataset {self.path.name}: {len(self.problems)} rows; by a hash of the prompt "
            + ", ".join(f"{count} {split}" for split, count in sizes.items())
        )

    def fixed_problems(self, split: str | None = None) -> list[Problem]:
        """The rows of `split` in file order (None: every row); an empty split is an error stating the sizes."""
        if split is None:
            return list(self.problems)
        chosen = [problem for problem in self.problems if self.split_of(problem.data) == split]
        if not chosen:
            raise BreadcrumbsError(
                f"{self.summary()}: the {split} split is empty; add rows, or use the whole file with "
                "task.split: none in a config or --split none in eval (keep evaluation rows in a file of their own)"
            )
        return chosen

    def sample(self, rng: random.Random, knobs: dict[str, int]) -> dict | None:
        """Never called: `generate` reads the fixed rows."""
        raise BreadcrumbsError("the dataset task reads its rows from a file; it does not sample problems")

    def check_data(self, data: Mapping) -> None:
        self._check_row(data, "problem")

    # ----- prompting and solving --------------------------------------------------------------------------
    def prompt(self, problem: Problem) -> str:
        """The prompt column, with a newline added when it lacks one (the completion starts on its own line)."""
        text = problem.data[self.prompt_column]
        return text if text.endswith("\n") else text + "\n"

    def solve(self, problem: Problem, style: str = "search") -> str:
        """The row's reference trace when the file has one, else `Answer: <answer>` (`style` does not apply)."""
        if self.trace_column is not None:
            return problem.data[self.trace_column]
        return super().solve(problem, "direct")

    def reason(self, problem: Problem, style: str) -> tuple[list[str], str]:
        return [], "" if self.answer_column is None else str(problem.data[self.answer_column])

    # ----- scoring ----------------------------------------------------------------------------------------
    def parse_answer(self, text: str) -> str | None:
        """The last `Answer:` line's text (the base parser; scoring itself is the user's reward)."""
        return answer_text(text)

    def check(self, problem: Problem, answer: str) -> bool:
        return self.answer_column is not None and answer == str(problem.data[self.answer_column])

    def score(
        self, problems: Sequence[Problem], completions: Sequence[str], format_reward: float = 0.0,
        trace_penalty: float = 0.0,
    ) -> tuple[list[float], list[bool]]:
        """(reward, correct) per completion: the weighted sum of the reward functions, each called once for the
        batch; correct when the verifier (the reward unless one is named) is at least `threshold`."""
        if format_reward or trace_penalty:
            raise BreadcrumbsError(
                "rl.format_reward and rl.trace_penalty apply to built-in tasks; put such terms in your reward function"
            )
        if not self.rewards and self.verifier is None:
            raise BreadcrumbsError("task dataset has no reward to score with: --reward REF or task.reward: REF")
        if not problems:
            return [], []
        prompts = [problem.data[self.prompt_column] for problem in problems]
        columns = {
            column: [problem.data.get(column) for problem in problems]
            for column in self.columns if column not in RESERVED
        }
        where = [self.where.get(problem.id, problem.id) for problem in problems]
        call = lambda function: function(prompts, list(completions), columns, where)  # noqa: E731
        verified = call(self.verifier) if self.verifier is not None else None
        if self.rewards:
            rewards = [0.0] * len(problems)
            for weight, function in zip(self.weights, self.rewards):
                rewards = [total + weight * value for total, value in zip(rewards, call(function))]
        else:
            rewards = verified
        return rewards, [value >= self.threshold for value in (rewards if verified is None else verified)]

    def verify(self, problem: Problem, completion: str, format_reward: float = 0.0) -> float:
        """The reward of one completion (`score` for a batch of one)."""
        return self.score([problem], [completion], format_reward)[0][0]


class PromptsTask(DatasetTask):
    """Your prompts, for `breadcrumbs eval --prompts FILE`: JSONL / CSV / Parquet rows with a prompt column, or a
    plain text file with one prompt per non-blank line; answers and a reward optional (scored only when a reward or
    verifier is named). Not in the task registry: there is nothing to train on without a reward."""

    name = "prompts"
    what = "prompts file"
    answer_required = False

    @property
    def scores(self) -> bool:
        """Whether a reward or verifier was named."""
        return bool(self.rewards or self.verifier)

    def read_rows(self) -> list[tuple[str, dict]]:
        return read_rows(self.path, self.what, {**READERS, ".txt": _text_rows}, PROMPT_FORMATS)

    def summary(self) -> str:
        scored = "scored by your reward" if self.scores else "no reward: agreement with the full cache only"
        return f"prompts {self.path.name}: {len(self.problems)} prompts; {scored}"
