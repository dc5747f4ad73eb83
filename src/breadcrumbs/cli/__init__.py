"""The `breadcrumbs` command line: one Typer app, one module per command group.

Every user-facing failure is a `BreadcrumbsError` (or a click usage error) and is printed as a single
`error: ...` line with a non-zero exit code; tracebacks are reserved for bugs (or `BREADCRUMBS_DEBUG=1`).
"""

from __future__ import annotations

import os
import sys
import warnings

import typer

from breadcrumbs import interrupts
from breadcrumbs.errors import BreadcrumbsError, BreadcrumbsWarning

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
    convert_cmd,
    demo_cmd,
    eval_cmd,
    experiment_cmd,
    generate_cmd,
    report_cmd,
    sweep_cmd,
    tasks_cmd,
    train_cmd,
)

EXIT_USER_ERROR = 1
EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app; user errors become one `error:` line and exit 1, usage errors exit 2,
    Ctrl-C exits 130 with one line saying what was saved and how to resume (a second Ctrl-C exits at once)."""
    args = sys.argv[1:] if argv is None else list(argv)
    warnings.showwarning = _show_warning
    with interrupts.handling_interrupts():
        try:
            command = typer.main.get_command(app)
            code = command.main(args=args or ["--help"], prog_name="breadcrumbs", standalone_mode=False)
        except typer.Exit as exit_:
            code = exit_.exit_code
        except (typer.Abort, KeyboardInterrupt):
            code = interrupts.EXIT_INTERRUPTED
        except typer.exceptions.TyperException as err:  # usage errors: bad option, missing value, ...
            print(f"error: {err.format_message() if hasattr(err, 'format_message') else err}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        except (BreadcrumbsError, OSError) as err:
            if os.environ.get("BREADCRUMBS_DEBUG"):
                raise
            message = str(err) if isinstance(err, BreadcrumbsError) else _os_error_line(err)
            print(f"error: {message}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        if code == interrupts.EXIT_INTERRUPTED:
            interrupts.exit_interrupted()
    if isinstance(code, int) and code:
        sys.exit(code)


_python_show_warning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A `BreadcrumbsWarning` as one `warning:` line on stderr; any other warning as Python shows it."""
    if issubclass(category, BreadcrumbsWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


def _os_error_line(err: OSError) -> str:
    """An operating-system failure (disk full, permission denied, ...) as one line naming the file."""
    where = f" ({err.filename})" if err.filename else ""
    return f"{err.strerror or err}{where}; free space or fix permissions, then rerun (runs resume)"
