"""`breadcrumbs experiment`: the long-reasoning experiment (Countdown), resumable, with its report."""

from __future__ import annotations

import typer

from breadcrumbs.cli import app
from breadcrumbs.cli.options import QuietOption

RECORDED = "docs/experiments/countdown/models"  # relative to the repository root, where the README's commands run


@app.command(
    epilog="Examples:\n\n  breadcrumbs experiment countdown --plan   # the jobs, their estimated minutes, what is done\n\n"
    "  breadcrumbs experiment countdown --out experiments/countdown   # ~8 h on 2 CPU cores\n\n"
    "  breadcrumbs experiment countdown --out experiments/countdown   # rerun after an interruption: resumes\n\n"
    "  breadcrumbs experiment countdown --scale micro --out ../cd-micro   # the same path in seconds\n\n"
    "  breadcrumbs experiment countdown --out experiments/countdown --restart-changed   # after editing the plan\n\n"
    "  breadcrumbs experiment countdown --scale gpu --parallel 8 --out experiments/countdown-gpu\n\n"
    "  breadcrumbs experiment countdown --from-recorded --out experiments/countdown   # start from the committed "
    "models\n\n"
    "  breadcrumbs experiment countdown --record teacher,mixed --out experiments/countdown   # commit-ready copies\n\n"
    "  breadcrumbs experiment countdown --record rl-s0,eval-rl-rl-s0 --without-weights --out experiments/countdown"
    "   # an arm's curve and its evaluation, no weights\n\n"
    "  breadcrumbs experiment countdown --from-recorded --only rl-s1,eval-rl-rl-s1 --out experiments/countdown"
    "   # one arm (and the runs it starts from) first"
)
def experiment(
    name: str = typer.Argument("countdown", help="Which experiment: countdown."),
    out: str = typer.Option("experiments/countdown", "--out", "-o", help="Output directory (rerunning resumes)."),
    parallel: int = typer.Option(2, "--parallel", help="Jobs run side by side, one CPU thread each."),
    scale: str = typer.Option("cpu", "--scale", help="cpu (the recorded run), gpu (a larger model on one GPU) or "
                              "micro (seconds, CI)."),
    restart_changed: bool = typer.Option(False, "--restart-changed", help="Jobs whose settings changed since they "
                                         "ran: move their outputs to OUT/obsolete/ and run them again."),
    from_recorded: bool = typer.Option(False, "--from-recorded", help="Adopt every job recorded in --recorded "
                                       "that this plan made (its job is then done), instead of running it again."),
    record: str = typer.Option("", "--record", help="Comma-separated finished jobs: copy their models (HF files, "
                               "no optimizer state) or, for evaluations, their results (gzip) to --recorded and "
                               "exit."),
    without_weights: bool = typer.Option(False, "--without-weights", help="With --record: keep a training job's "
                                         "held-out curve but not its weights (only when every job built on it is "
                                         "recorded)."),
    recorded: str = typer.Option(RECORDED, "--recorded", help="Folder of recorded jobs (models, evaluations)."),
    only: str = typer.Option("", "--only", help="Comma-separated jobs (`--plan` names them): run just these and the "
                             "unfinished runs they start from, write no report."),
    show_plan: bool = typer.Option(False, "--plan", help="List the waves and jobs with their estimated minutes and "
                                   "what OUT already holds; run nothing."),
    quiet: bool = QuietOption,
) -> None:
    """The long-reasoning experiment (docs/experiments/countdown.md), resumable: the teacher's warm start; the
    students (mixed 2..32, c8, c8 with a raw tail of L windows `c8-lagL`, the trained window control `window`);
    the RL arms at equal wall time (joint RL + distillation, RL only, distillation only, SFT continued; two seeds;
    `window-joint`, `joint-lagL`); test-split evaluations against every training-free baseline, peak- and
    mean-matched and as tuned curves; the reports with AUAC. `--plan` lists every job."""
    from breadcrumbs import interrupts
    from breadcrumbs.recipes import experiment as recipe
    from breadcrumbs.validation import Range, check_range

    check_range("--parallel", parallel, Range(1, 64, integer=True))
    interrupts.on_interrupt(f"finished jobs are saved in {out}; rerun the same command to resume")
    log = (lambda message: None) if quiet else typer.echo
    if show_plan:
        typer.echo(recipe.show_plan(name, out, scale, parallel, recorded if from_recorded else None))
        return
    if record:
        recipe.record(name, out, _names(record), recorded, scale, not without_weights, log)
        return
    result = recipe.run_experiment(name, out, scale=scale, parallel=parallel, log=log,
                                   restart_changed=restart_changed, recorded=recorded if from_recorded else None,
                                   only=_names(only) or None)
    if only:
        return
    typer.echo(f"wrote {result}/report/report.md, {result}/ablation.md and {result}/ablation_curves.png")


def _names(text: str) -> list[str]:
    """The job names of a comma-separated option."""
    return [name.strip() for name in text.split(",") if name.strip()]
