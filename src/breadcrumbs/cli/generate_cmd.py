"""`breadcrumbs generate`: sample completions under a cache policy and print the text and the KV figures."""

from __future__ import annotations

import json

import typer

from breadcrumbs.cli import app
from breadcrumbs.cli.options import (
    ArchOption,
    ChatOption,
    DeviceOption,
    ModelOption,
    QuietOption,
    SeedOption,
    quiet_loading,
    resolve_device,
)


@app.command(
    epilog="Examples:\n\n  breadcrumbs generate --model tiny --policy beacon:4 --prompt '12 7 3 -> 26'\n\n"
    "  breadcrumbs generate -m demo_out/train/checkpoints/latest --policy full -p 'a' -p 'b' --json\n\n"
    "  breadcrumbs generate -m SmolLM2-135M-Instruct.Q4_1.gguf -p 'What is the capital of France?'"
)
def generate(
    prompt: list[str] = typer.Option(..., "--prompt", "-p", help="Prompt text; repeat for a batch."),
    model: str = ModelOption,
    arch: str = ArchOption,
    policy: str = typer.Option(
        None, "--policy",
        help="Cache policy spec: full, beacon:C, ... (default: the ratio the model was trained for; full when its "
        "beacons were never trained).",
    ),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", "-n", help="Stop after this many new tokens."),
    temperature: float = typer.Option(0.0, "--temperature", "-t", help="0 = greedy."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling mass (with temperature > 0)."),
    seed: int = SeedOption,
    device: str = DeviceOption,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per prompt instead of text."),
    chat: bool = ChatOption,
    quiet: bool = QuietOption,
) -> None:
    """Generate completions with a (compressed) KV cache and report the memory it took."""
    from breadcrumbs.generation import generate as run_generation
    from breadcrumbs.models import load_model
    from breadcrumbs.policies import policy_from_spec
    from breadcrumbs.trained import default_policy, policy_warnings

    from breadcrumbs.validation import POSITIVE_INT, SEED, check_range, check_sampling

    check_range("--max-new-tokens", max_new_tokens, POSITIVE_INT)
    check_sampling(temperature, top_p, ("--temperature", "--top-p"))
    check_range("--seed", seed, SEED)
    cache_policy = None if policy is None else policy_from_spec(policy)
    device = resolve_device(device)
    quiet_loading(quiet)
    loaded, tokenizer = load_model(model, arch=arch, device=device, seed=seed, chat=chat)
    if cache_policy is None:
        spec, notice = default_policy(loaded)
        cache_policy = policy_from_spec(spec)
        notices = [notice] if notice else []
    else:
        notices = policy_warnings(loaded, [cache_policy])
    output = run_generation(
        loaded, tokenizer, prompt, policy=cache_policy, max_new_tokens=max_new_tokens,
        temperature=temperature, top_p=top_p, seed=seed, progress=not quiet,
    )
    for text, stats in zip(output.texts, output.stats):
        if as_json:
            typer.echo(json.dumps({"text": text, "policy": cache_policy.label, **stats.to_dict()}))
            continue
        typer.echo(text)
        typer.echo(
            f"[{cache_policy.label}] prompt {stats.prompt_tokens} + generated {stats.generated_tokens} tokens "
            f"({stats.stop_reason}); KV entries peak {stats.peak_kv_entries}, mean {stats.mean_kv_entries:.1f}; "
            f"KV bytes peak {stats.peak_kv_bytes:,}, mean {stats.mean_kv_bytes:,.0f}"
        )
    if not as_json:
        typer.echo(f"{output.tokens_per_s:.1f} tokens/s over {output.wall_time_s:.2f} s")
    for line in notices:  # after the output, so that a failed generation stays one error line
        typer.echo(f"warning: {line}", err=True)
