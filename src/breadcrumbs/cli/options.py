"""Options shared by several commands (model, device, seed), so every command spells them the same way."""

from __future__ import annotations

import typer

from breadcrumbs.errors import BreadcrumbsError

MODEL_HELP = "A preset name (micro, tiny, small, base), a .gguf file, or a local Hugging Face checkpoint directory."

ModelOption = typer.Option("tiny", "--model", "-m", help=MODEL_HELP)
ArchOption = typer.Option("qwen2", "--arch", help="Architecture of a preset model: qwen2 or llama.")
DeviceOption = typer.Option("auto", "--device", help="cpu, cuda, cuda:N, or auto (cuda when available).")
SeedOption = typer.Option(0, "--seed", help="Random seed (model init for presets, sampling).")
ChatOption = typer.Option(
    None, "--chat/--no-chat",
    help="Send prompts through the model's chat template (default: when its tokenizer has one).",
)
QuietOption = typer.Option(False, "--quiet", "-q", help="No progress bars; print only results.")


def resolve_device(device: str) -> str:
    """`auto` → cuda if available else cpu; anything unusable is one clear error (see `validation`)."""
    from breadcrumbs.validation import resolve_device as resolve

    return resolve(device)


def quiet_loading(quiet: bool) -> None:
    """With `-q`, silence transformers' own progress bars (e.g. "Loading weights") too."""
    if quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def parse_difficulty(pairs: list[str]) -> dict[str, int]:
    """`--difficulty k=4 --difficulty max_number=20` -> {"k": 4, "max_number": 20}; a malformed pair is one error."""
    knobs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            knobs[key.strip()] = int(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise BreadcrumbsError(f"--difficulty expects KNOB=INTEGER (e.g. k=4), got {pair!r}")
    return knobs


TaskPathOption = typer.Option(
    None, "--task-path", help="With --task dataset: the JSONL, CSV or Parquet file (or datasets folder) of rows."
)
RewardOption = typer.Option(
    None, "--reward",
    help="With --task dataset: reward function(s) path/to/file.py:function or package.module:function, "
    "f(prompts, completions, **columns) -> list[float]; comma-separated for several (summed).",
)
RewardWeightsOption = typer.Option(
    None, "--reward-weights", help="Comma-separated weights, one per --reward function (default: all 1)."
)
VerifierOption = typer.Option(
    None, "--verifier", help="With --task dataset: a function REF (as --reward) whose value >= --threshold is correct."
)
ThresholdOption = typer.Option(
    None, "--threshold", help="With --task dataset: accuracy counts a completion whose reward >= this (default 1.0)."
)
ColumnOption = typer.Option(
    [], "--column", help="With --task dataset: prompt=COL, answer=COL or trace=COL (defaults: prompt, answer, trace)."
)
COLUMN_KEYS = ("prompt", "answer", "trace")


def task_from_options(
    name: str,
    path: str | None = None,
    reward: str | None = None,
    reward_weights: str | None = None,
    verifier: str | None = None,
    threshold: float | None = None,
    columns: list[str] | None = None,
    build: type | None = None,
):
    """The task `--task NAME` names, built with the dataset options given on the command line (only those given
    are passed, so a built-in task refuses any of them by name); `build` (a task class) instead of the registry."""
    from breadcrumbs.tasks import get_task

    options: dict = {"path": path, "reward": reward, "verifier": verifier, "threshold": threshold}
    if reward_weights is not None:
        try:
            options["reward_weights"] = [float(weight) for weight in reward_weights.split(",")]
        except ValueError:
            raise BreadcrumbsError(f"--reward-weights expects numbers separated by commas, got {reward_weights!r}") from None
    for pair in columns or []:
        key, sep, column = pair.partition("=")
        if not sep or key.strip() not in COLUMN_KEYS or not column.strip():
            raise BreadcrumbsError(f"--column expects {'|'.join(COLUMN_KEYS)}=COLUMN (e.g. prompt=question), got {pair!r}")
        options[key.strip()] = column.strip()
    given = {key: value for key, value in options.items() if value is not None}
    return get_task(name, **given) if build is None else build(**given)
