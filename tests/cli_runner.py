"""Helpers the CLI tests share: run `breadcrumbs` in-process, write a user's JSONL file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breadcrumbs.cli import main


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """Run the CLI in this process; returns (exit code, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def write_jsonl(path: Path, records: list) -> Path:
    """`records` as a JSONL file, one JSON value per line."""
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path
