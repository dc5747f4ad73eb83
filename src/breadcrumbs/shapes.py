"""Shape-only presets of the paper's models: their architecture from the public `config.json`, no weights.

`train --plan` needs only a model's shape; with one of these a user plans a paper-scale run before downloading
anything (`model.name` a missing directory whose last part is a shape's name, e.g. `/models/Qwen2.5-1.5B-Instruct`).
Nothing trains or generates from a shape: a run needs the checkpoint on disk. The rotary scaling tables of
Phi-4-mini (`rope_scaling`) change no tensor's size and are left out.
"""

from __future__ import annotations

from pathlib import Path

from transformers import AutoConfig, PretrainedConfig

# The size-bearing fields of each model's config.json (Hugging Face `Qwen/Qwen2.5-1.5B-Instruct`,
# `microsoft/Phi-4-mini-instruct`).
SHAPES: dict[str, dict] = {
    "Qwen2.5-1.5B-Instruct": {
        "model_type": "qwen2", "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
        "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 32768,
        "tie_word_embeddings": True, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "hidden_act": "silu",
    },
    "Phi-4-mini-instruct": {
        "model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
        "num_attention_heads": 24, "num_key_value_heads": 8, "vocab_size": 200064, "max_position_embeddings": 131072,
        "original_max_position_embeddings": 4096, "partial_rotary_factor": 0.75, "tie_word_embeddings": True,
        "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "hidden_act": "silu", "pad_token_id": 199999,
    },
}


def shape_name(name_or_path: str) -> str | None:
    """The shape a model name or path names (its last part, case-insensitive), or None."""
    last = Path(name_or_path.rstrip("/")).name.lower()
    return next((name for name in SHAPES if name.lower() == last), None)


def shape_config(name: str) -> PretrainedConfig:
    """The transformers config of shape `name` (a `SHAPES` key)."""
    fields = dict(SHAPES[name])
    return AutoConfig.for_model(fields.pop("model_type"), **fields)
