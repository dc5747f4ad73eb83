"""The `breadcrumbs` console script: installs the Ctrl-C handler before anything heavy is imported, so an
interrupt during imports or start-up is one line and exit 130 too, then runs the CLI."""

from __future__ import annotations

from breadcrumbs import interrupts


def main() -> None:
    interrupts.install(at_once=True)  # until a command runs, a Ctrl-C exits at once: nothing was saved
    try:
        from breadcrumbs.cli import main as cli_main

        cli_main()
    except SystemExit as exit_:
        if exit_.code == interrupts.EXIT_INTERRUPTED:
            interrupts.exit_process(interrupts.EXIT_INTERRUPTED)
        raise
