"""Models and tokenizers: build a small model of a real architecture from a preset, or load a local checkpoint,
and give it the `<beacon>` token.

No hub access ever happens here: presets are built from configs in code, checkpoints load from a local path.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    Qwen2Config,
)
from transformers.convert_slow_tokenizer import bytes_to_unicode

from breadcrumbs.chat import set_chat
from breadcrumbs.errors import BreadcrumbsError

BEACON_TOKEN = "<beacon>"
PAD_TOKEN, BOS_TOKEN, EOS_TOKEN = "<pad>", "<bos>", "<eos>"
# Printable ASCII plus newline covers every task's prompt and reasoning trace.
DEFAULT_ALPHABET = "".join(chr(code) for code in range(32, 127)) + "\n"
# Attention implementations whose masks we can build exactly (dense bool/float, or a flex BlockMask).
SUPPORTED_ATTENTION = ("sdpa", "eager", "flex_attention")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
# config.json fields that must be positive integers when present (a string here fails deep inside transformers).
SIZE_FIELDS = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "intermediate_size", "max_position_embeddings", "head_dim",
)


@dataclass(frozen=True)
class Preset:
    """Size of a small model built from scratch."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    max_position_embeddings: int = 4096


PRESETS: dict[str, Preset] = {
    "micro": Preset(32, 2, 2, 1, 64, 2048),
    "tiny": Preset(128, 4, 4, 2, 384),
    "small": Preset(256, 6, 8, 4, 768),
    "base": Preset(512, 8, 8, 4, 1536, 8192),
}
ARCHITECTURES: dict[str, type] = {"qwen2": Qwen2Config, "llama": LlamaConfig}


def build_char_tokenizer(alphabet: str = DEFAULT_ALPHABET) -> PreTrainedTokenizerFast:
    """A character-level tokenizer over `alphabet` (one token per character, BOS prepended).

    Includes the `<beacon>` special token, so a preset model is beacon-ready from the start. Tokens are spelled in
    the byte-level alphabet of GPT-2/Qwen2 (space `Ġ`, newline `Ċ`) behind a byte-level pre-tokenizer and decoder,
    so `AutoTokenizer.from_pretrained` on a saved checkpoint rebuilds the same ids even where transformers swaps in
    the architecture's own class (a Qwen2 config gets a `Qwen2Tokenizer`, which keeps only the vocabulary and the
    post-processor of `tokenizer.json`): exact for single-byte characters, which every built-in task uses.
    """
    byte_char = bytes_to_unicode()
    spelled = lambda char: "".join(byte_char[byte] for byte in char.encode("utf-8"))  # noqa: E731
    specials = [PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, BEACON_TOKEN]
    vocab = {token: index for index, token in enumerate(specials + [spelled(c) for c in sorted(set(alphabet))])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=None))
    backend.normalizer = normalizers.NFC()  # what Qwen2Tokenizer applies
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A", special_tokens=[(BOS_TOKEN, vocab[BOS_TOKEN])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD_TOKEN,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=None,  # saved as null, so a rebuilding class adds no `<|endoftext|>` of its own
        extra_special_tokens=[BEACON_TOKEN],
        padding_side="left",
    )


def build_preset_model(
    preset: str = "tiny",
    arch: str = "qwen2",
    tokenizer: PreTrainedTokenizerBase | None = None,
    seed: int = 0,
    attn_implementation: str = "sdpa",
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A freshly initialised model of a real architecture (`qwen2` or `llama`) at a named size, with its tokenizer."""
    if preset not in PRESETS:
        raise BreadcrumbsError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if arch not in ARCHITECTURES:
        raise BreadcrumbsError(f"unknown architecture {arch!r} for a preset; choose one of {', '.join(ARCHITECTURES)}")
    tokenizer = tokenizer or build_char_tokenizer()
    size = PRESETS[preset]
    config = ARCHITECTURES[arch](
        vocab_size=len(tokenizer),
        hidden_size=size.hidden_size,
        num_hidden_layers=size.num_hidden_layers,
        num_attention_heads=size.num_attention_heads,
        num_key_value_heads=size.num_key_value_heads,
        intermediate_size=size.intermediate_size,
        max_position_embeddings=size.max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attn_implementation)
    return add_beacon(model, tokenizer)


def add_beacon(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Give any causal LM the `<beacon>` special token with a trainable embedding (and a pad token if missing).

    Each added token gets a row of its own, initialised to the mean input embedding of the tokenizer's existing
    tokens (an untied output head: the mean output row). Its id is the next free one, which may be a row the
    embedding matrix already has (matrices padded beyond the tokenizer, e.g. Qwen2.5's 151,936 rows for 151,665
    tokens); that row is re-initialised, never inherited. The beacon is listed in the generation config's
    `suppress_tokens`. Idempotent: a model that has the beacon is unchanged.
    """
    existing = len(tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    if BEACON_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_tokens([BEACON_TOKEN], special_tokens=True)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    inputs, outputs = model.get_input_embeddings(), model.get_output_embeddings()
    with torch.no_grad():
        added = slice(existing, len(tokenizer))
        inputs.weight[added] = inputs.weight[:existing].mean(dim=0)
        if outputs is not None and outputs.weight is not inputs.weight:
            outputs.weight[added] = outputs.weight[:existing].mean(dim=0)
            if outputs.bias is not None:
                outputs.bias[added] = outputs.bias[:existing].mean()
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    suppress_beacon(model, beacon_token_id(tokenizer))
    return model, tokenizer


def suppress_beacon(model: PreTrainedModel, beacon: int) -> None:
    """List `<beacon>` in the generation config's `suppress_tokens` (saved in `generation_config.json`), so
    transformers' own `generate` never samples it."""
    config = getattr(model, "generation_config", None)
    if config is None:
        return
    suppressed = list(config.suppress_tokens or [])
    if beacon not in suppressed:
        config.suppress_tokens = [*suppressed, beacon]


def beacon_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id of `<beacon>`; a clear error if the tokenizer was never given one."""
    token_id = tokenizer.get_vocab().get(BEACON_TOKEN)
    if token_id is None:
        raise BreadcrumbsError("this tokenizer has no <beacon> token; call breadcrumbs.add_beacon(model, tokenizer)")
    return token_id


def check_attention_support(model: PreTrainedModel) -> None:
    """Refuse models whose attention cannot take the custom beacon masks (one clear error line)."""
    implementation = getattr(model.config, "_attn_implementation", None) or "eager"
    if implementation not in SUPPORTED_ATTENTION:
        raise BreadcrumbsError(
            f"attention implementation {implementation!r} cannot take a custom attention mask; "
            f"load the model with attn_implementation='sdpa' (or one of {', '.join(SUPPORTED_ATTENTION)})"
        )
    layer_types = getattr(model.config, "layer_types", None) or []
    if any(kind != "full_attention" for kind in layer_types):
        raise BreadcrumbsError(
            f"model {model.config.model_type!r} has non-full-attention layers ({sorted(set(layer_types))}); "
            "beacon compression supports full causal attention only"
        )


def context_length(model: PreTrainedModel) -> int:
    """How many positions the model can address (its `max_position_embeddings`)."""
    return int(getattr(model.config, "max_position_embeddings", 0) or 2**31)


def _load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    """Load a checkpoint's tokenizer, honouring a plain `tokenizers` backend (our char tokenizer) over the
    architecture's default class, which would otherwise add its own special tokens."""
    config_file = path / "tokenizer_config.json"
    saved_class = json.loads(config_file.read_text()).get("tokenizer_class") if config_file.is_file() else None
    if saved_class in ("TokenizersBackend", "PreTrainedTokenizerFast"):
        return PreTrainedTokenizerFast.from_pretrained(path, local_files_only=True)
    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def load_model(
    name_or_path: str,
    arch: str = "qwen2",
    device: str = "cpu",
    dtype: torch.dtype | None = None,
    attn_implementation: str = "sdpa",
    seed: int = 0,
    chat: bool | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A preset name (`tiny`, `small`, ...) builds a fresh model; a `.gguf` file is dequantised (float32 unless
    `dtype`); anything else is a local HF checkpoint directory.

    The result always carries the `<beacon>` token and is in eval mode on `device`. `chat` decides whether prompts
    go through the tokenizer's chat template (`None`: when it has one; see `breadcrumbs.chat`).
    """
    if name_or_path in PRESETS:
        model, tokenizer = build_preset_model(name_or_path, arch, seed=seed, attn_implementation=attn_implementation)
    elif name_or_path.endswith(".gguf"):
        from breadcrumbs.gguf import load_gguf

        model, tokenizer = add_beacon(*load_gguf(name_or_path, dtype, attn_implementation))
    else:
        path = Path(name_or_path)
        if not (path / "config.json").is_file():
            raise BreadcrumbsError(
                f"no model at {name_or_path!r}: expected a preset ({', '.join(PRESETS)}), a .gguf file "
                "or a local Hugging Face checkpoint directory containing config.json"
            )
        check_model_dir(path)
        try:
            tokenizer = _load_tokenizer(path)
            model = AutoModelForCausalLM.from_pretrained(
                path, local_files_only=True, dtype=dtype or "auto", attn_implementation=attn_implementation
            )
        except Exception as err:  # transformers and safetensors raise many types for a damaged checkpoint
            if isinstance(err, BreadcrumbsError):
                raise
            raise BreadcrumbsError(f"could not load the checkpoint at {name_or_path!r}: {err}".splitlines()[0]) from err
        rows = model.get_input_embeddings().num_embeddings
        if len(tokenizer) > rows:
            raise BreadcrumbsError(
                f"the tokenizer in {name_or_path!r} has {len(tokenizer)} tokens but the model's embedding has {rows} "
                "rows: the tokenizer files belong to another model; copy this model's own tokenizer files"
            )
        model, tokenizer = add_beacon(model, tokenizer)
    if tokenizer.padding_side != "left":
        tokenizer.padding_side = "left"
    set_chat(tokenizer, chat)
    if dtype is not None:
        model = model.to(dtype)
    check_attention_support(model)
    return model.to(device).eval(), tokenizer


def _check_safetensors(path: Path) -> None:
    """Header and length of a `.safetensors` file agree (catches empty and truncated files before torch does)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        length = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        if length < 2 or 8 + length > size:
            raise BreadcrumbsError(f"{path.name} is empty or truncated ({size} bytes); copy the weights again")
        try:
            header = json.loads(handle.read(length))
            end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        except (ValueError, TypeError, KeyError, IndexError):
            raise BreadcrumbsError(f"{path.name} has a damaged header; copy the weights again") from None
    if 8 + length + end != size:
        raise BreadcrumbsError(
            f"{path.name} is truncated ({size} bytes, its header describes {8 + length + end}); copy the weights again"
        )


def check_model_dir(path: str | Path) -> None:
    """Check a Hugging Face checkpoint directory before loading it: config.json is a JSON object with integer
    sizes, weights are present and whole, tokenizer files are there. Each problem is one error naming the file."""
    try:
        _check_model_files(Path(path))
    except BreadcrumbsError as err:
        raise BreadcrumbsError(f"could not load the checkpoint at {str(path)!r}: {err}") from None


def _check_model_files(path: Path) -> None:
    config_file = path / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise BreadcrumbsError(f"config.json is not valid JSON ({err}); restore it from the original model") from None
    if not isinstance(config, dict):
        raise BreadcrumbsError("config.json must hold a JSON object; restore it from the original model")
    for field in SIZE_FIELDS:
        value = config.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise BreadcrumbsError(f"config.json: {field!r} must be a positive integer, got {value!r}")
    weights = sorted(path.glob("*.safetensors"))
    if not weights and not any(path.glob("pytorch_model*.bin")):
        raise BreadcrumbsError(
            "no weights (no *.safetensors or pytorch_model*.bin); copy them next to config.json"
        )
    for file in weights:
        _check_safetensors(file)
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise BreadcrumbsError(
            f"no tokenizer files (looked for {', '.join(TOKENIZER_FILES)}); copy the tokenizer of the "
            "model next to config.json (tokenizer.save_pretrained(path))"
        )
