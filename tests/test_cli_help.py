"""Every command's --help shows working examples: a non-empty "Example(s):" section whose `breadcrumbs ...` lines
parse against the command they name (options, types and arguments checked by click, nothing run)."""

from __future__ import annotations

import shlex

import click
import pytest
import typer
from typer.testing import CliRunner

from breadcrumbs.cli import app

ROOT = typer.main.get_command(app)


def all_commands(group=ROOT, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], click.Command]:
    """Every command and command group below `group`, by its path of names."""
    found = {}
    for name, command in group.commands.items():
        found[(*prefix, name)] = command
        if hasattr(command, "commands"):
            found.update(all_commands(command, (*prefix, name)))
    return found


COMMANDS = all_commands()


def examples(path: tuple[str, ...]) -> list[str]:
    """The example lines of a command's rendered help (wide enough that no example wraps)."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    heading = next(i for i, line in enumerate(lines) if line.strip() in ("Examples:", "Example:"))
    return [line.strip() for line in lines[heading + 1 :] if line.strip()]


def test_every_command_is_covered():
    assert {"generate", "eval", "train", "demo", "report", "convert"} <= {path[0] for path in COMMANDS}


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_help_shows_examples_that_parse(path):
    lines = examples(path)
    own = [line for line in lines if line.startswith(f"breadcrumbs {' '.join(path)}")]
    assert own, f"breadcrumbs {' '.join(path)} --help has no example of itself: {lines}"
    for line in lines:
        if not line.startswith("breadcrumbs ") or "..." in line:
            continue
        args = shlex.split(line.split(" > ")[0], comments=True)[1:]
        command, depth = ROOT, 0
        while hasattr(command, "commands"):
            command, depth = command.commands[args[depth]], depth + 1
        command.make_context(" ".join(args[:depth]), args[depth:])  # raises on an unknown option or a bad value
