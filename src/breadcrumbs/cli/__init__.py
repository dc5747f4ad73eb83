"""The `breadcrumbs` command line: one Typer app, one module per command group.

Every user-facing failure is a `BreadcrumbsError` (or a click usage error) and is printed as a single
`error: ...` line with a non-zero exit code; tracebacks are reserved for bugs (or `BREADCRUMBS_DEBUG=1`).
"""

from __future__ import annotations

import os
import sys

import typer

from breadcrumbs.errors import BreadcrumbsError

app = typer.Typer(
    name="breadcrumbs",
    help="Memory-efficient reasoning with learned compression beacons.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)



@app.callback()
def _root() -> None:
    """Memory-efficient reasoning with learned compression beacons."""


# Each module registers its commands on `app` when imported.
from breadcrumbs.cli import (  # noqa: E402,F401
    demo_cmd,
    eval_cmd,
    generate_cmd,
    report_cmd,
    tasks_cmd,
    train_cmd,
)

EXIT_USER_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app and turn user errors into one line and an exit code."""
    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        command.main(args=args or ["--help"], prog_name="breadcrumbs", standalone_mode=False)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except typer.Abort:
        print("error: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except typer.exceptions.TyperException as err:  # usage errors: bad option, missing value, ...
        print(f"error: {err.format_message() if hasattr(err, 'format_message') else err}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except BreadcrumbsError as err:
        if os.environ.get("BREADCRUMBS_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
