"""What produced a result: the package version, the git commit of its source and when.

The commit is the checkout's (`git rev-parse HEAD`), or, for a source tree made by `git archive` (how long runs
snapshot the code they import), the hash git wrote into `ARCHIVED_COMMIT` (an `export-subst` file, see
`.gitattributes`). Never fails: elsewhere (an installed wheel) the commit is None.
"""

from __future__ import annotations

import datetime
import subprocess
from functools import cache
from pathlib import Path

from breadcrumbs import __version__

SOURCE_DIR = Path(__file__).resolve().parent
ARCHIVED = SOURCE_DIR / "ARCHIVED_COMMIT"  # `$Format:%H$` in a checkout; the commit's hash in a `git archive`


def _archived() -> str | None:
    text = ARCHIVED.read_text().strip() if ARCHIVED.is_file() else ""
    return text if text and not text.startswith("$Format") else None


@cache
def commit() -> str | None:
    """The commit hash of the checkout the package runs from (`+dirty` with uncommitted changes), of the archive it
    was extracted from (that file wins: an archive unpacked inside another checkout is not that checkout), or
    None."""
    if _archived():
        return _archived()
    try:
        found = subprocess.run(["git", "-C", str(SOURCE_DIR), "rev-parse", "HEAD"], capture_output=True, text=True,
                               timeout=10)
        if found.returncode != 0 or not found.stdout.strip():
            return None
        dirty = subprocess.run(["git", "-C", str(SOURCE_DIR), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def now() -> str:
    """The current UTC time, ISO 8601 to the second (`2026-12-02T14:03:11Z`)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def provenance() -> dict[str, str | None]:
    """`{"version": ..., "commit": ..., "date": ...}` for a record or a report."""
    return {"version": __version__, "commit": commit(), "date": now()}
