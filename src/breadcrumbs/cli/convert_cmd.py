"""`breadcrumbs convert`: turn a GGUF model file into a normal Hugging Face checkpoint directory."""

from __future__ import annotations

from pathlib import Path

import typer

from breadcrumbs.cli import app
from breadcrumbs.cli.options import QuietOption, quiet_loading


@app.command(
    epilog="Examples:\n\n  breadcrumbs convert SmolLM2-135M-Instruct.Q4_1.gguf models/smollm2\n\n"
    "  breadcrumbs generate --model models/smollm2 -p 'What is 3 + 5?'"
)
def convert(
    gguf_file: Path = typer.Argument(..., help="A GGUF model file (weights are dequantised to float32)."),
    out_dir: Path = typer.Argument(..., help="New directory for the checkpoint (must not exist)."),
    quiet: bool = QuietOption,
) -> None:
    """Write a GGUF model as a Hugging Face checkpoint (safetensors, config, tokenizer with its chat template)."""
    from breadcrumbs.gguf import convert_gguf

    quiet_loading(quiet)
    written = convert_gguf(gguf_file, out_dir)
    typer.echo(f"wrote {written}")
