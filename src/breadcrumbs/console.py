"""The `breadcrumbs` console script: installs the Ctrl-C handler before anything heavy is imported, so an
interrupt during imports is one line and exit 130 too, then runs the CLI."""

from __future__ import annotations


def main() -> None:
    from breadcrumbs import interrupts

    interrupts.install()
    try:
        from breadcrumbs.cli import main as cli_main
    except KeyboardInterrupt:
        interrupts.exit_interrupted()
    cli_main()
