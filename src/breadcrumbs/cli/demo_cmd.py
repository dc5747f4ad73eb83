"""`breadcrumbs demo`: the main job — train, compress, and beat the baselines, on a laptop."""

from __future__ import annotations

import typer

from breadcrumbs.cli import app
from breadcrumbs.cli.options import ChatOption, DeviceOption, QuietOption, SeedOption, quiet_loading, resolve_device


@app.command(
    epilog="Examples:\n\n  breadcrumbs demo\n\n  breadcrumbs demo --task countdown --out runs/demo-countdown\n\n"
    "  breadcrumbs demo --out demo_out   # rerun after an interruption: resumes training and evaluation"
)
def demo(
    task: str = typer.Option("stargraph", "--task", help="stargraph (default), countdown or linsys."),
    out: str = typer.Option("demo_out", "--out", "-o", help="Output directory (rerunning resumes)."),
    seed: int = SeedOption,
    device: str = DeviceOption,
    micro: bool = typer.Option(False, "--micro", help="A seconds-long smoke run (tiny schedule, tiny model)."),
    full_comparison: bool = typer.Option(
        False, "--full-comparison",
        help="Then sweep every baseline over budgets with settings tuned on a dev split, train the sliding-window "
        "control with the same recipe, and write OUT/comparison/ (about doubles the time).",
    ),
    chat: bool = ChatOption,
    quiet: bool = QuietOption,
) -> None:
    """Train a preset model (SFT warm start + joint RL/beacon distillation), evaluate full cache, beacons at
    c = 2, 4, 8 and every training-free baseline at matched peak KV, and write report.md + pareto.png."""
    from breadcrumbs import interrupts
    from breadcrumbs.recipes.demo import run_demo
    from breadcrumbs.validation import SEED, check_range

    check_range("--seed", seed, SEED)
    device = resolve_device(device)
    quiet_loading(quiet)
    interrupts.on_interrupt(f"finished parts are saved in {out}; rerun the same command to resume")
    result = run_demo(task, out, seed=seed, device=device, progress=not quiet, micro=micro, chat=chat)
    typer.echo(result.table, nl=False)
    minutes = result.timings_s["total_s"] / 60
    typer.echo(f"\nwrote {result.out_dir}/report.md and {result.out_dir}/pareto.png in {minutes:.1f} min")
    if full_comparison:
        from breadcrumbs.recipes.comparison import run_comparison

        compared = run_comparison(task, out, seed=seed, device=device, progress=not quiet, micro=micro)
        minutes = sum(compared["timings_s"].values()) / 60
        typer.echo(f"wrote {result.out_dir}/comparison/report.md (tuned sweeps + window control) in {minutes:.1f} min")
