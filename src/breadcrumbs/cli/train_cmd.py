"""`breadcrumbs train`: supervised warm start, then joint RL + beacon distillation, into a run directory."""

from __future__ import annotations

from pathlib import Path

import typer

from breadcrumbs.cli import app
from breadcrumbs.cli.options import QuietOption


@app.command(
    epilog="Examples:\n\n  breadcrumbs train --config configs/countdown-tiny.yaml --out runs/countdown\n\n"
    "  breadcrumbs train --config configs/countdown-tiny.yaml --set rl.steps=20 --set beacon.ratios=[2,4,8]\n\n"
    "  breadcrumbs train --out runs/countdown --resume\n\n"
    "  accelerate launch --num_processes 2 $(which breadcrumbs) train --config ... (see docs/training.md)"
)
def train(
    config: Path = typer.Option(None, "--config", "-c", help="YAML config (see configs/ and docs/training.md)."),
    overrides: list[str] = typer.Option([], "--set", "-s", help="Override a config key: key.sub=value (YAML value)."),
    out: Path = typer.Option(None, "--out", "-o", help="Run directory (default runs/<config name>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run directory's latest checkpoint."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:N or auto (default: the config's device)."),
    quiet: bool = QuietOption,
) -> None:
    """Train a model to reason with compression beacons; writes checkpoints, metrics.jsonl, a plot and a log."""
    from breadcrumbs.errors import BreadcrumbsError
    from breadcrumbs.training import load_config
    from breadcrumbs.training.trainer import train as run_training

    if config is None and not resume:
        raise BreadcrumbsError("no config: pass --config FILE.yaml (or --resume with --out of an existing run)")
    if out is None:
        if config is None:
            raise BreadcrumbsError("--resume needs --out RUN_DIR (the run to continue)")
        out = Path("runs") / config.stem
    if config is None and overrides:
        raise BreadcrumbsError("--set needs --config (a resumed run without --config reuses its saved config as is)")
    if device is not None and device not in ("auto", "cpu") and not device.startswith("cuda"):
        raise BreadcrumbsError(f"--device {device!r} is not one of cpu, cuda, cuda:N, auto")
    if device is not None and device.startswith("cuda"):
        from breadcrumbs.cli.options import resolve_device

        device = resolve_device(device)
    loaded = load_config(config, overrides) if config is not None else None
    final = run_training(loaded, out, resume=resume, progress=not quiet, device=device, echo=not quiet)
    typer.echo(f"final checkpoint: {final}")

