"""The `breadcrumbs` console script: installs the Ctrl-C handler before anything heavy is imported, so an
interrupt during imports or start-up is one line and exit 130 too, then runs the CLI."""

from __future__ import annotations


def main() -> None:
    from breadcrumbs import interrupts

    interrupts.install()
    try:
        from breadcrumbs.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:  # outside a command (imports, building the command tree): nothing was saved
        interrupts.exit_interrupted()
