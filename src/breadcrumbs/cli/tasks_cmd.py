"""`breadcrumbs tasks`: sample problems with their prompts and solver traces, score completions, list tasks."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from breadcrumbs.cli import app
from breadcrumbs.cli.options import (
    ColumnOption,
    RewardOption,
    RewardWeightsOption,
    TaskPathOption,
    ThresholdOption,
    VerifierOption,
    parse_difficulty,
    task_from_options,
)
from breadcrumbs.errors import BreadcrumbsError

tasks_app = typer.Typer(
    help="Reasoning tasks: sample problems and solver traces, score completions, list tasks.",
    epilog="Examples:\n\n  breadcrumbs tasks list\n\n  breadcrumbs tasks sample --task countdown --n 3 --trace search",
    no_args_is_help=True,
)
app.add_typer(tasks_app, name="tasks")

TRACE_CHOICES = ("search", "direct", "none")


@tasks_app.command(
    "sample",
    epilog="Examples:\n\n  breadcrumbs tasks sample --task countdown --n 5 --seed 0 --trace search\n\n"
    "  breadcrumbs tasks sample --task linsys --n 1000 --difficulty unknowns=2 --stats\n\n"
    "  breadcrumbs tasks sample --task dataset --task-path data.jsonl --n 3 --trace direct",
)
def sample(
    task: str = typer.Option(..., "--task", "-t", help="Task name (see `breadcrumbs tasks list`)."),
    n: int = typer.Option(10, "--n", "-n", help="Number of problems."),
    seed: int = typer.Option(0, "--seed", help="Generator seed: same seed and difficulty, same problems."),
    difficulty: list[str] = typer.Option([], "--difficulty", "-d", help="Knob as key=value; repeat for more."),
    trace: str = typer.Option("none", "--trace", help="Add the solver's completion: search, direct or none."),
    stats: bool = typer.Option(False, "--stats", help="Print trace-length statistics instead of problems."),
    task_path: str = TaskPathOption,
    column: list[str] = ColumnOption,
) -> None:
    """Print generated problems (a dataset's first rows) as JSONL (task, id, data, difficulty, prompt[, style,
    completion: the solver's trace, or a dataset's reference trace])."""
    from breadcrumbs.tasks.stats import trace_stats

    from breadcrumbs.validation import MAX_PROBLEMS, SEED, Range, check_range

    check_range("--n", n, Range(0, MAX_PROBLEMS, integer=True))
    check_range("--seed", seed, SEED)
    if trace not in TRACE_CHOICES:
        raise BreadcrumbsError(f"--trace must be one of {', '.join(TRACE_CHOICES)}, got {trace!r}")
    solver = task_from_options(task, task_path, columns=column)
    if solver.summary() is not None:
        typer.echo(solver.summary(), err=True)  # stdout stays JSONL
    problems = solver.generate(n, seed, **parse_difficulty(difficulty))
    if stats:
        if not problems:
            raise BreadcrumbsError("--stats needs --n of at least 1")
        knobs = " ".join(f"{k}={v}" for k, v in problems[0].difficulty.items())
        typer.echo(f"{task}: {n} problems, seed {seed}, {knobs}; lengths in tokens (= characters)")
        typer.echo(f"{'':8}{'mean':>8}{'p50':>6}{'p90':>6}{'max':>6}")
        for row, values in trace_stats(solver, problems).items():
            typer.echo(f"{row:8}{values['mean']:8.1f}{values['p50']:6}{values['p90']:6}{values['max']:6}")
        return
    for problem in problems:
        record = {**problem.to_json(), "prompt": solver.prompt(problem)}
        if trace != "none":
            record.update(style=trace, completion=solver.solve(problem, trace))
        typer.echo(json.dumps(record))


@tasks_app.command(
    "score",
    epilog="Example:\n\n  breadcrumbs tasks sample -t countdown -n 100 --trace search > cd.jsonl\n\n"
    "  breadcrumbs tasks score --task countdown cd.jsonl",
)
def score(
    file: Path = typer.Argument(
        ..., help='JSONL of {"problem": {...}, "completion": "..."} or {"id", "data", "completion"}.'
    ),
    task: str = typer.Option(..., "--task", "-t", help="Task whose verifier scores the completions."),
    format_reward: float = typer.Option(0.0, "--format-reward", help="Reward for a parsed but wrong answer."),
    task_path: str = TaskPathOption,
    reward: str = RewardOption,
    reward_weights: str = RewardWeightsOption,
    verifier: str = VerifierOption,
    threshold: float = ThresholdOption,
    column: list[str] = ColumnOption,
) -> None:
    """Score completions with the task's verifier and print the accuracy; malformed lines are skipped."""
    from breadcrumbs.tasks.io import iter_jsonl, problem_from_record

    from breadcrumbs.validation import PROBABILITY, check_range

    check_range("--format-reward", format_reward, PROBABILITY)
    solver = task_from_options(task, task_path, reward, reward_weights, verifier, threshold, column)
    problems, completions, skipped = [], [], 0
    for number, record in iter_jsonl(file):
        try:
            if isinstance(record, BreadcrumbsError):
                raise record
            if not isinstance(record, dict) or not isinstance(record.get("completion"), str):
                raise BreadcrumbsError('expected a JSON object with a string "completion"')
            fields = record.get("problem", {k: v for k, v in record.items() if k != "completion"})
            problem = problem_from_record(fields, solver)
        except BreadcrumbsError as err:
            skipped += 1
            typer.echo(f"warning: {file}:{number}: {err}; skipped", err=True)
            continue
        problems.append(problem)
        completions.append(record["completion"])
    if not problems:
        raise BreadcrumbsError(f"no scorable lines in {file}")
    rewards, right = solver.score(problems, completions, format_reward)
    correct = sum(right)
    typer.echo(
        f"accuracy: {correct / len(rewards):.4f} ({correct}/{len(rewards)} correct, "
        f"mean reward {sum(rewards) / len(rewards):.4f}, {skipped} malformed lines skipped)"
    )


@tasks_app.command("list", epilog="Example:\n\n  breadcrumbs tasks list")
def list_() -> None:
    """List the installed tasks (built-in and plugins, `breadcrumbs.tasks` entry points) with where each comes from
    and its difficulty knobs (default and allowed range); a plugin that fails to load is a warning."""
    from breadcrumbs.tasks.registry import describe_task, list_tasks, plugin_errors

    for name in list_tasks():
        typer.echo(describe_task(name))
    for error in plugin_errors():
        typer.echo(f"warning: {error}", err=True)
