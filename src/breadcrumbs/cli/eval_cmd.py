"""`breadcrumbs eval`: run methods (cache policies) over a task's problems into a resumable results JSONL."""

from __future__ import annotations

import warnings

import typer

from breadcrumbs.cli import app
from breadcrumbs.cli.method_help import MethodHelpCommand
from breadcrumbs.cli.options import (
    ArchOption,
    ChatOption,
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

DEFAULT_N = 32  # problems generated when --n is not given (a dataset split is evaluated whole)

METHODS_HELP = (
    "Comma-separated cache policies: full, beacon:C, {baselines}:BUDGET (generated KV "
    "entries kept besides the prompt), or NAME:@REF[@mean] to match REF's per-problem peak (or mean) KV entries; "
    "settings as :key=value (snapkv:16:window=4:kernel=3); window:B serves a model trained with beacon.layout: window."
)


@app.command(
    "eval",
    cls=MethodHelpCommand,
    epilog="Examples:\n\n  breadcrumbs eval --model tiny --task countdown --n 32 "
    "--methods full,beacon:4,beacon:8,tova:@beacon:8,h2o:@beacon:4 --out results.jsonl\n\n"
    "  breadcrumbs eval --model runs/mine/checkpoints/latest --task dataset --task-path data.jsonl "
    "--reward reward.py:score --methods full,beacon:4 --out results.jsonl\n\n"
    "  breadcrumbs eval --model runs/mine/checkpoints/latest --prompts prompts.jsonl "
    "--methods beacon:4,tova:@beacon:4 --out drift.jsonl\n\n"
    "  breadcrumbs report results.jsonl --out report/",
)
def eval_command(
    task: str = typer.Option(
        None, "--task", help="Task name: countdown, linsys, stargraph, dataset (with --task-path), or a plugin's."
    ),
    prompts: str = typer.Option(
        None, "--prompts",
        help="Instead of --task: your prompts (.jsonl/.csv/.parquet with a prompt column, or .txt with one per line), "
        "every row in order; records agreement with the full cache (added if not listed), accuracy only with "
        "--reward/--verifier.",
    ),
    methods: str = typer.Option("full,beacon:4,beacon:8,tova:@beacon:8,h2o:@beacon:8", "--methods", help=METHODS_HELP),
    out: str = typer.Option(..., "--out", "-o", help="Results JSONL (appended to; rerunning resumes)."),
    n: int = typer.Option(
        None, "--n",
        help=f"Number of problems: generated from --seed (default {DEFAULT_N}), or the first N rows of a dataset's "
        "split in file order (default: every row).",
    ),
    model: str = ModelOption,
    arch: str = ArchOption,
    chat: bool = ChatOption,
    difficulty: list[str] = typer.Option([], "--difficulty", help="Task knob KNOB=INTEGER; repeatable."),
    split: str = typer.Option(
        "test", "--split",
        help="Held-out split of the problems: test (reporting), dev (tuning) or train; training never sees dev/test. "
        "none: no split (a dataset file kept apart from training).",
    ),
    task_path: str = TaskPathOption,
    reward: str = RewardOption,
    reward_weights: str = RewardWeightsOption,
    verifier: str = VerifierOption,
    threshold: float = ThresholdOption,
    column: list[str] = ColumnOption,
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Stop each completion after this many tokens."),
    batch_size: int = typer.Option(16, "--batch-size", help="Problems decoded together."),
    temperature: float = typer.Option(0.0, "--temperature", "-t", help="0 = greedy (default)."),
    seed: int = SeedOption,
    device: str = DeviceOption,
    generator: str = typer.Option(
        "loop", "--generator",
        help="Decoding backend: loop (dynamic shapes), static (fixed shapes, same outputs), or "
        "path/to/file.py:factory returning your own (docs/serving.md).",
    ),
    quiet: bool = QuietOption,
) -> None:
    """Evaluate cache policies on a task or on your prompts; one JSON line per problem x method."""
    from breadcrumbs.errors import BreadcrumbsError
    from breadcrumbs.evaluation import evaluate, markdown_table, parse_methods, summarize
    from breadcrumbs.evaluation.runner import agreement_methods
    from breadcrumbs.generators import get_generator
    from breadcrumbs.models import PRESETS, load_model
    from breadcrumbs.trained import default_difficulty, read_trained_for
    from breadcrumbs import interrupts
    from breadcrumbs.validation import (
        MAX_PROBLEMS,
        POSITIVE_INT,
        SEED,
        TEMPERATURE,
        Range,
        check_output_file,
        check_range,
    )

    if n is not None:
        check_range("--n", n, Range(1, MAX_PROBLEMS, integer=True))
    check_range("--max-new-tokens", max_new_tokens, POSITIVE_INT)
    check_range("--batch-size", batch_size, POSITIVE_INT)
    check_range("--temperature", temperature, TEMPERATURE)
    check_range("--seed", seed, SEED)
    parse_methods(methods)  # refuse bad specs before loading anything
    get_generator(generator)
    if (task is None) == (prompts is None):
        raise BreadcrumbsError("name what to evaluate: --task NAME or --prompts FILE (one of them)")
    if prompts is not None:
        from breadcrumbs.tasks.dataset import PromptsTask

        if task_path is not None:
            raise BreadcrumbsError("--task-path goes with --task dataset; --prompts FILE names its file itself")
        task_object = task_from_options(
            "prompts", prompts, reward, reward_weights, verifier, threshold, column, build=PromptsTask
        )
        split = "none"  # every prompt of the file, in order
    else:
        task_object = task_from_options(task, task_path, reward, reward_weights, verifier, threshold, column)
    split_name = None if split == "none" else split
    fixed = task_object.fixed_problems(split_name)  # a dataset's rows of the split (None: a generated task)
    count = n if n is not None else DEFAULT_N if fixed is None else len(fixed)
    knobs = default_difficulty(read_trained_for(model), task_object.name, parse_difficulty(difficulty))
    problems = task_object.generate(count, seed=seed, split=split_name, **knobs)
    task_object.check_scoring(problems)  # before the model loads
    if fixed is not None:
        rows = "the whole file" if split_name is None else f"the {split} split"
        typer.echo(f"{task_object.summary()}; evaluating {len(problems)} of the {len(fixed)} rows of {rows}")
    device = resolve_device(device)
    check_output_file(out)
    saved = []
    interrupts.on_interrupt(
        lambda: f"{len(saved)} new records saved in {out}; rerun the same command to resume"
    )
    if prompts is not None and agreement_methods(methods)[1]:
        typer.echo("full cache added to the methods: agreement is measured against its output")
    quiet_loading(quiet)
    loaded, tokenizer = load_model(model, arch=arch, device=device, seed=seed, chat=chat)
    model_id = f"{model}/{arch}" if model in PRESETS else model
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = evaluate(
            loaded, tokenizer, task_object, problems, methods, max_new_tokens=max_new_tokens, batch_size=batch_size,
            temperature=temperature, seed=seed, out=out, model_id=model_id, progress=not quiet,
            on_record=saved.append, agreement=prompts is not None, split=split, generator=generator,
        )
    for warning in caught:
        typer.echo(f"warning: {warning.message}", err=True)
    typer.echo(f"{result.new} new records, {result.skipped} already in {out}")
    typer.echo(markdown_table(summarize(result.records)), nl=False)
