"""What produced a result: the package version, the git commit of its source (when it is a git checkout) and when.

Never fails: without git, or outside a checkout (an installed wheel), the commit is None.
"""

from __future__ import annotations

import datetime
import subprocess
from functools import cache
from pathlib import Path

from breadcrumbs import __version__

SOURCE_DIR = Path(__file__).resolve().parent


@cache
def commit() -> str | None:
    """The commit hash of the checkout the package runs from (`+dirty` with uncommitted changes), or None."""
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
