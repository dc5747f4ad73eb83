"""Results files: one JSON object per line, appended whole and flushed, readable after a crash.

Writers append a complete line (`json + "\\n"`) in one `write` and flush it (and fsync), so a file is always a run of
complete lines, except possibly a last line cut short by a kill; `prepare_append` detects that line and drops it
before appending more. Readers skip malformed lines with a warning naming the line number and use the rest.
Whole-file outputs (reports) are written atomically: to a temporary file in the same folder, then `os.replace`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from breadcrumbs.errors import BreadcrumbsError

# Field -> accepted JSON types, every record must have these to be used in a report.
REQUIRED_FIELDS: dict[str, tuple[type, ...]] = {
    "task": (str,),
    "method": (str,),
    "family": (str,),
    "problem_id": (str,),
    "correct": (bool,),
    "prompt_tokens": (int,),
    "generated_tokens": (int,),
    "peak_kv_entries": (int,),
    "mean_kv_entries": (int, float),
    "peak_kv_bytes": (int,),
    "mean_kv_bytes": (int, float),
    "time_s": (int, float),
}


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
    return None


def read_results(path: str | Path) -> tuple[list[dict], list[str]]:
    """Usable records of a results file and one warning per skipped line (`results.jsonl line 7: ...`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
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
    """Appends records to a JSONL file, one complete flushed line each."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._handle = self.path.open("a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write a whole file atomically (temporary file in the same folder, then `os.replace`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
