"""`breadcrumbs sweep`: each baseline family as a curve of fixed budgets, settings tuned on the dev split."""

from __future__ import annotations

import typer

from breadcrumbs.cli import app
from breadcrumbs.cli.method_help import MethodHelpCommand
from breadcrumbs.cli.options import (
    ArchOption,
    ColumnOption,
    DeviceOption,
    ModelOption,
    QuietOption,
    RewardOption,
    RewardWeightsOption,
    SeedOption,
    TaskPathOption,
    ThresholdOption,
    VerifierOption,
    parse_difficulty,
    quiet_loading,
    resolve_device,
    task_from_options,
)
from breadcrumbs.errors import BreadcrumbsError


def _families(text: str) -> list[str]:
    """`--families`: the named families, or every training-free family with a sweep grid when empty."""
    from breadcrumbs.policies.registry import baseline_names

    return [name.strip() for name in text.split(",") if name.strip()] or list(baseline_names(swept=True))


def _integers(text: str, option: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BreadcrumbsError(f"{option} expects comma-separated whole numbers, e.g. 4,8,16; got {text!r}") from None


@app.command(
    cls=MethodHelpCommand,
    epilog="Example:\n\n  breadcrumbs sweep --model runs/sg/checkpoints/latest --task stargraph --difficulty d=2 "
    "--families streaming,h2o,tova,snapkv,knorm,rkv --budgets 4,8,16 --extra full,beacon:4 --out sweep/\n\n"
    "  breadcrumbs report sweep/results.jsonl --out sweep/report",
)
def sweep(
    task: str = typer.Option(
        ..., "--task", help="Task name: countdown, linsys, stargraph, dataset (with --task-path), or a plugin's."
    ),
    out: str = typer.Option(..., "--out", "-o", help="Output folder: dev.jsonl, results.jsonl, tuning.json."),
    families: str = typer.Option(
        "", "--families", show_default=False,
        help="Baseline families, comma-separated (default: every training-free one with a sweep grid: {swept}).",
    ),
    budgets: str = typer.Option("4,8,16,32", "--budgets", help="Generated KV entries kept, comma-separated."),
    extra: str = typer.Option("full", "--extra", help="Methods run on the test problems as they are (e.g. beacons)."),
    n: int = typer.Option(100, "--n", help="Test problems (split test; a dataset's first test rows)."),
    n_dev: int = typer.Option(100, "--n-dev", help="Dev problems for tuning (split dev, disjoint from test)."),
    task_path: str = TaskPathOption,
    reward: str = RewardOption,
    reward_weights: str = RewardWeightsOption,
    verifier: str = VerifierOption,
    threshold: float = ThresholdOption,
    column: list[str] = ColumnOption,
    model: str = ModelOption,
    arch: str = ArchOption,
    difficulty: list[str] = typer.Option([], "--difficulty", help="Task knob KNOB=INTEGER; repeatable."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Stop each completion after this many tokens."),
    batch_size: int = typer.Option(64, "--batch-size", help="Problems decoded together."),
    seed: int = SeedOption,
    device: str = DeviceOption,
    quiet: bool = QuietOption,
) -> None:
    """Tune each family's settings per budget on dev problems, run the choices on test problems (resumable)."""
    from breadcrumbs.evaluation import markdown_table, parse_methods, summarize
    from breadcrumbs.evaluation.results import read_results
    from breadcrumbs.evaluation.sweep import sweep as run_sweep
    from breadcrumbs.models import PRESETS, load_model
    from breadcrumbs.trained import default_difficulty, read_trained_for

    if n < 1 or n_dev < 1:
        raise BreadcrumbsError(f"--n and --n-dev must be >= 1, got {n} and {n_dev}")
    extra_methods = [spec for spec in extra.split(",") if spec.strip()]
    if extra_methods:
        parse_methods(extra_methods)
    task_object = task_from_options(task, task_path, reward, reward_weights, verifier, threshold, column)
    knobs = default_difficulty(read_trained_for(model), task_object.name, parse_difficulty(difficulty))
    dev = task_object.generate(n_dev, seed=seed, split="dev", **knobs)
    test = task_object.generate(n, seed=seed, split="test", **knobs)
    task_object.check_scoring(test)  # before the model loads
    if task_object.summary() is not None:
        typer.echo(f"{task_object.summary()}; tuning on {len(dev)} dev rows, testing on {len(test)} test rows")
    quiet_loading(quiet)
    loaded, tokenizer = load_model(model, arch=arch, device=resolve_device(device), seed=seed)
    result = run_sweep(
        loaded, tokenizer, task_object, dev, test, _families(families),
        _integers(budgets, "--budgets"), out, extra_methods=extra_methods, max_new_tokens=max_new_tokens,
        batch_size=batch_size, seed=seed, progress=not quiet, model_id=f"{model}/{arch}" if model in PRESETS else model,
    )
    records, _ = read_results(result.results)
    typer.echo(markdown_table(summarize(records)), nl=False)
    typer.echo(f"wrote {result.dev}, {result.results}, {result.tuning}")
