"""Shared fixtures: tiny random models of several real architectures, built offline."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    GemmaConfig,
    LlamaConfig,
    MistralConfig,
    Phi3Config,
    Qwen2Config,
    Qwen3Config,
)

from breadcrumbs.models import add_beacon, build_char_tokenizer

# One thread: tiny models are faster on one, and far faster when the two cores are shared with other work.
torch.set_num_threads(1)

TINY = dict(
    hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
    max_position_embeddings=512,
)
ARCHITECTURES = {
    "llama": (LlamaConfig, {}),
    "qwen2": (Qwen2Config, {}),
    "mistral": (MistralConfig, {"sliding_window": None}),
    "phi3": (Phi3Config, {}),
    "qwen3": (Qwen3Config, {"head_dim": 16}),
    "gemma": (GemmaConfig, {"head_dim": 16}),
}


def tiny_model(arch: str, attn_implementation: str = "sdpa", seed: int = 0):
    """A tiny random fp32 model of `arch` with the char tokenizer and the beacon token."""
    tokenizer = build_char_tokenizer()
    config_class, extra = ARCHITECTURES[arch]
    config = config_class(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, **TINY, **extra,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attn_implementation, dtype=torch.float32)
    model, tokenizer = add_beacon(model, tokenizer)
    return model.eval(), tokenizer


@pytest.fixture(scope="session")
def qwen2_tiny():
    return tiny_model("qwen2")
