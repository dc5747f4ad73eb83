"""`breadcrumbs report`: a results JSONL -> Pareto plot (PNG + SVG), report.md and summary.json."""

from __future__ import annotations

import typer

from breadcrumbs.cli import app
from breadcrumbs.cli.options import QuietOption


@app.command(
    epilog="Examples:\n\n  breadcrumbs report results.jsonl --out report/\n\n"
    "  breadcrumbs report demo_out/results.jsonl demo_out/window/results.jsonl --out report/   # two models"
)
def report(
    results: list[str] = typer.Argument(..., help="Results JSONL file(s) written by `breadcrumbs eval` / `sweep`."),
    out: str = typer.Option("report", "--out", "-o", help="Output folder."),
    no_plot: bool = typer.Option(False, "--no-plot", help="Skip the PNG/SVG plot."),
    quiet: bool = QuietOption,
) -> None:
    """Summarise results: memory–accuracy Pareto plot, markdown table, JSON summary."""
    from breadcrumbs.evaluation import markdown_table, write_report
    from breadcrumbs.validation import check_output_dir

    check_output_dir(out)
    written = write_report(results, out, plot=not no_plot)
    for warning in written.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if not quiet:
        typer.echo(markdown_table(written.summaries), nl=False)
    typer.echo("wrote " + ", ".join(str(path) for path in written.paths))
