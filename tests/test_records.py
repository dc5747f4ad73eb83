"""Issue 24 item 5: records a stranger can follow. No committed file names a path of the machine it was made on
(`/work/...`, `/root/...`, `/home/<user>/...`, `/Users/<user>/...`, a scratch `/tmp/<dir>`): paths in records,
scripts and docs are relative to the repo root or to their folder (docs/experiments/README.md says which)."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The kinds of absolute path found in the records before they were made relative (issue 24).
MACHINE_PATH = re.compile(r"(?<![\w.~$-])(/work/|/root/|/home/[a-z_][\w-]*/|/Users/[\w.-]+/|/tmp/[\w.-])")
# What must stay: this file's own patterns.
ALLOWED = {"tests/test_records.py"}


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [name for name in result.stdout.decode().split("\0") if name]


def machine_paths(text: str) -> list[tuple[int, str]]:
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in MACHINE_PATH.finditer(text)]


def test_pattern_finds_the_kinds_of_path_it_is_for():
    text = "cd /work/experiments/x\nPYTHONPATH=/root/src\n--out /tmp/demo_full\n/home/alice/data\nok: ../x /tmp\n"
    assert [line for line, _ in machine_paths(text)] == [1, 2, 3, 4]
    assert machine_paths("/usr/bin/time ~/.cache/x $PWD/src ../lead /proc/meminfo https://x.org/work/a") == []


def test_no_committed_file_names_a_machine_path():
    found = []
    for name in tracked_files():
        if name in ALLOWED:
            continue
        path = ROOT / name
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        if name.endswith(".gz"):  # recorded results (docs/experiments/*/models/): read what they hold
            data = gzip.decompress(data)
        if b"\0" in data[:8192]:  # binary (images, archives)
            continue
        text = data.decode("utf-8", errors="replace")
        found += [f"{name}:{line}: {match}" for line, match in machine_paths(text)]
    assert not found, "absolute paths of a machine in committed files (make them relative):\n" + "\n".join(found[:50])


def test_the_lora_comparison_table_is_what_its_command_prints():
    """docs/real-models/student-lora/comparison.md is the output of the command docs/real-models.md shows, run on
    the committed metrics of both runs."""
    import sys

    command = [sys.executable, "docs/real-models/compare_curves.py", "docs/real-models/student/metrics.jsonl",
               "docs/real-models/student-lora/metrics.jsonl", "--names", "all-weights,lora-r16", "--bin", "150"]
    printed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert printed == (ROOT / "docs/real-models/student-lora/comparison.md").read_text()
