"""`breadcrumbs train`: supervised warm start, then joint RL + beacon distillation, into a run directory."""

from __future__ import annotations

from pathlib import Path

import typer

from breadcrumbs.cli import app
from breadcrumbs.cli.options import ChatOption, QuietOption, quiet_loading


@app.command(
    epilog="Examples:\n\n  breadcrumbs train --config configs/countdown-tiny.yaml --out runs/countdown\n\n"
    "  breadcrumbs train --config configs/countdown-tiny.yaml --set rl.steps=20 --set beacon.ratios=[2,4,8]\n\n"
    "  breadcrumbs train --out runs/countdown --resume\n\n"
    "  breadcrumbs train --out runs/countdown --resume --set rl.steps=40   # recorded in its config.yaml\n\n"
    "  breadcrumbs train --config configs/qwen2.5-1.5b-countdown.yaml --plan --processes 8 --set model.name=DIR\n\n"
    "  accelerate launch --num_processes 2 $(which breadcrumbs) train --config ... (see docs/training.md)"
)
def train(
    config: Path = typer.Option(None, "--config", "-c", help="YAML config (see configs/ and docs/training.md)."),
    overrides: list[str] = typer.Option(
        [], "--set", "-s",
        help="Override a config key: key.sub=value (YAML value); with --resume and no --config, a key of the run's "
        "saved config.",
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Run directory (default runs/<config name>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run directory's latest checkpoint."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:N or auto (default: the config's device)."),
    chat: bool = typer.Option(
        None, "--chat/--no-chat", help="Prompts through the chat template (sets model.chat; default: the config's)."
    ),
    plan: bool = typer.Option(
        False, "--plan", help="Print the per-process memory estimate and token counts of a step, then exit."
    ),
    processes: int = typer.Option(1, "--processes", help="With --plan: the number of training processes."),
    sharding: str = typer.Option("none", "--sharding", help="With --plan: none (DDP), zero2 or fsdp."),
    quiet: bool = QuietOption,
) -> None:
    """Train a model to reason with compression beacons; writes checkpoints, metrics.jsonl, a plot and a log."""
    from breadcrumbs import interrupts
    from breadcrumbs.chat import chat_mode
    from breadcrumbs.errors import BreadcrumbsError
    from breadcrumbs.training import load_config
    from breadcrumbs.training.schedule import resume_config
    from breadcrumbs.training.trainer import train as run_training
    from breadcrumbs.validation import check_device_name, check_output_dir
    from breadcrumbs.files import undone_on_error

    if config is None and not resume:
        raise BreadcrumbsError("no config: pass --config FILE.yaml (or --resume with --out of an existing run)")
    if out is None:
        if config is None:
            raise BreadcrumbsError("--resume needs --out RUN_DIR (the run to continue)")
        out = Path("runs") / config.stem
    if chat is not None:
        overrides = [*overrides, f"model.chat={chat_mode(chat)}"]
    if device is not None:
        check_device_name("--device", device)
    loaded = None
    if config is not None:
        loaded = load_config(config, overrides)
    elif overrides:  # the run's saved config, changed; the trainer refuses a change its checkpoint cannot take
        loaded = resume_config(out, overrides)
    if plan:
        from breadcrumbs.training.plan import make_plan

        if loaded is None:
            raise BreadcrumbsError("--plan needs --config FILE.yaml")
        if processes < 1:
            raise BreadcrumbsError(f"--processes must be >= 1, got {processes}")
        typer.echo(make_plan(loaded, processes, sharding).text())
        return
    if loaded is not None:  # every rule before the first step: the sequences fit the model, the step fits memory
        _check_fits(loaded, device)
    with undone_on_error(out, keep=("checkpoints", "metrics.jsonl")):  # a failed start leaves no run folder
        if not resume or out.exists():  # a missing run to resume is the trainer's clear error, not a new folder
            check_output_dir(out)
        interrupts.on_interrupt(lambda: _resume_hint(out))
        quiet_loading(quiet)
        final = run_training(loaded, out, resume=resume, progress=not quiet, device=device, echo=not quiet)
    typer.echo(f"final checkpoint: {final}")


def _check_fits(config, device: str | None) -> None:
    """`train --plan`'s estimate, run before any work (one process; skipped under a sharding launcher, whose
    shares it cannot tell)."""
    import os

    from breadcrumbs.training.plan import check_fits
    from breadcrumbs.validation import resolve_device

    sharded = ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED")
    if any(os.environ.get(name, "").lower() in ("1", "true") for name in sharded):
        return
    where = resolve_device(device or config.device, "--device" if device else "config key 'device'")
    check_fits(config, where, processes=int(os.environ.get("WORLD_SIZE", "1") or 1))


def _resume_hint(out: Path) -> str:
    """What an interrupted training run left: its newest complete checkpoint, and the command that continues."""
    from breadcrumbs.training.checkpoint import latest_checkpoint

    latest = latest_checkpoint(out)
    if latest is None:
        return f"no checkpoint was saved yet in {out}; rerun the same command to start again"
    return f"checkpoint {latest.name} is saved in {out}; continue with: breadcrumbs train --out {out} --resume"
