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
