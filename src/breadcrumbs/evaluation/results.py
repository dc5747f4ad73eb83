"""Results files: one JSON object per line, appended whole and flushed, readable after a crash.

One process writes a results file at a time (`ResultWriter` holds `<file>.lock`). Writers append a complete line
(`json + "\\n"`) in one `write` and flush it (and fsync), so a file is always a run of
complete lines, except possibly a last line cut short by a kill; `prepare_append` detects that line and drops it
before appending more. Readers skip malformed lines with a warning naming the line number and use the rest.
Whole-file outputs (reports) are written atomically: to a temporary file in the same folder, then `os.replace`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.files import atomic_write, exclusive_lock
from breadcrumbs.tasks.base import SPLITS

__all__ = ["ResultWriter", "atomic_write", "prepare_append", "problems_split", "read_results", "record_key",
           "record_problem", "record_split"]

# Field -> accepted JSON types, every record must have these to be used in a report.
REQUIRED_FIELDS: dict[str, tuple[type, ...]] = {
    "task": (str,),
    "method": (str,),
    "family": (str,),
    "problem_id": (str,),
    "correct": (bool, type(None)),  # null: nothing scored it (prompts without a reward)
    "prompt_tokens": (int,),
    "generated_tokens": (int,),
    "peak_kv_entries": (int,),
    "mean_kv_entries": (int, float),
    "peak_kv_bytes": (int,),
    "mean_kv_bytes": (int, float),
    "time_s": (int, float),
}
# Written together by an agreement run (`eval --prompts`): agreement with the full cache's completion.
AGREEMENT_FIELDS = ("exact_match", "first_divergence", "token_agreement")
# Fields that define a record: a resume reuses a record only if all of them agree with the new run.
KEY_FIELDS = ("task", "difficulty", "problem_id", "method", "model", "max_new_tokens", "temperature", "top_p", "seed")


def record_key(record: dict) -> str:
    """Everything that defines a record (task, difficulty, problem, method, model, sampling) as one string."""
    values = {name: record.get(name) for name in KEY_FIELDS}
    for name in ("temperature", "top_p"):  # 0 and 0.0 are the same setting
        if isinstance(values[name], (int, float)) and not isinstance(values[name], bool):
            values[name] = float(values[name])
    return json.dumps(values, sort_keys=True)


def id_split(task: str, problem_id: str) -> str | None:
    """The split a generated problem's id names (`countdown-test-0-3`: test; `countdown-0-3`: none, drawn from no
    split); None when the id is not of that form (a dataset row's id does not name its split)."""
    found = re.fullmatch(rf"{re.escape(task)}-(?:({'|'.join(SPLITS)})-)?-?\d+-\d+", problem_id)
    return None if found is None else found.group(1) or "none"


def problems_split(task: str, problems: Sequence) -> str | None:
    """The one split all `problems` name in their ids (see `id_split`), or None."""
    splits = {id_split(task, problem.id) for problem in problems}
    return splits.pop() if len(splits) == 1 else None


def record_split(record: dict) -> str | None:
    """A record's split: as recorded, or (records from before it was) as its problem id names it."""
    return record["split"] if "split" in record else id_split(record["task"], record["problem_id"])


def record_problem(record: object) -> str | None:
    """Why a parsed line is not a usable result record, or None if it is."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    for name, kinds in REQUIRED_FIELDS.items():
        if name not in record:
            return f"missing field {name!r}"
        value = record[name]
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            return f"field {name!r} has the wrong type ({type(value).__name__})"
        if bool not in kinds and str not in kinds and not (math.isfinite(value) and value >= 0):
            return f"field {name!r} must be a finite number >= 0, got {value!r}"
    if record["peak_kv_entries"] < record["mean_kv_entries"] - 1e-6:
        return "field 'peak_kv_entries' is below 'mean_kv_entries'"
    return agreement_problem(record)


def agreement_problem(record: dict) -> str | None:
    """Why a record's agreement fields (all or none of them) are unusable, or None."""
    present = [name for name in AGREEMENT_FIELDS if name in record]
    if not present:
        return None
    if len(present) < len(AGREEMENT_FIELDS):
        return f"agreement fields {', '.join(n for n in AGREEMENT_FIELDS if n not in record)} missing"
    divergence, share = record["first_divergence"], record["token_agreement"]
    if not isinstance(record["exact_match"], bool):
        return "field 'exact_match' must be true or false"
    if divergence is not None and (type(divergence) is not int or divergence < 0):
        return f"field 'first_divergence' must be null or an integer >= 0, got {divergence!r}"
    if type(share) not in (int, float) or not 0 <= share <= 1:
        return f"field 'token_agreement' must be a number in [0, 1], got {share!r}"
    if record["exact_match"] != (divergence is None):
        return "fields 'exact_match' and 'first_divergence' disagree"
    return None


def read_results(path: str | Path) -> tuple[list[dict], list[str]]:
    """Usable records of a results file and one warning per skipped line (`results.jsonl line 7: ...`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: a byte-order mark is not part of the first record
    except FileNotFoundError:
        raise BreadcrumbsError(f"no results file at {path}; run `breadcrumbs eval --out {path}` first") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BreadcrumbsError(f"cannot read {path}: {err}") from None
    records, warnings = [], []
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        truncated = number == len(lines)  # no newline after it: cut short by an interrupted write
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            why = "truncated last line (interrupted write)" if truncated else f"not valid JSON ({err.msg})"
            warnings.append(f"{path.name} line {number}: {why}; skipped")
            continue
        problem = record_problem(record)
        if problem is not None:
            warnings.append(f"{path.name} line {number}: {problem}; skipped")
            continue
        records.append(record)
    return records, warnings


def prepare_append(path: Path) -> list[str]:
    """Make `path` ready for appending: create its folder, and drop a truncated last line (returned as a warning)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return []
    with path.open("rb+") as handle:
        data = handle.read()
        if not data or data.endswith(b"\n"):
            return []
        keep = data.rfind(b"\n") + 1
        handle.truncate(keep)
    line = data[:keep].count(b"\n") + 1
    return [f"{path.name} line {line}: dropped a truncated last line (interrupted write); it will be rerun"]


class ResultWriter:
    """Appends records to a JSONL file, one complete flushed line each, as the file's only writer.

    Opening takes `<file>.lock` (another live writer is one clear error) and drops a truncated last line; the file
    itself is created by the first record, so a run that fails before writing leaves no empty file behind.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._stack = ExitStack()
        self._stack.enter_context(exclusive_lock(self.path, str(self.path)))
        try:
            self.notes = prepare_append(self.path)
        except BaseException:
            self._stack.close()
            raise
        self._handle = None

    def write(self, record: dict) -> None:
        if self._handle is None:
            self._handle = self._stack.enter_context(self.path.open("a", encoding="utf-8"))
        self._handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
