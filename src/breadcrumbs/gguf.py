"""GGUF files: load one as a float Hugging Face model + tokenizer, or convert it to a normal HF checkpoint directory.

transformers reads GGUF (weights dequantised to float, tokenizer and chat template from the file's metadata) with
the `gguf` package, for the architectures it lists in `GGUF_SUPPORTED_ARCHITECTURES`. A model loaded this way
refuses `save_pretrained`, so `convert_gguf` rebuilds a plain model from its config and copies the weights in.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import shutil
import struct
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.files import follow_umask

NEEDS_GGUF = "reading .gguf files needs the gguf package: pip install 'breadcrumbs[gguf]'"


def _check_has_weights(path: Path) -> None:
    """Refuse a GGUF file without tensors (a vocabulary-only file): transformers would build random weights. Reads
    the tensor count from the header (magic `GGUF`, version, tensor count: the format's first fields) rather than
    parsing the whole file, which for a real vocabulary takes seconds."""
    try:
        import gguf  # noqa: F401  (transformers reads the file with it)
    except ImportError as err:
        raise BreadcrumbsError(NEEDS_GGUF) from err
    with open(path, "rb") as handle:
        head = handle.read(16)
    if len(head) < 16 or head[:4] != b"GGUF":
        raise BreadcrumbsError(f"{path} is not a readable GGUF file: it does not start with a GGUF header")
    order = "<" if struct.unpack("<I", head[4:8])[0] < 1 << 16 else ">"  # a big-endian file's version reads huge
    version = struct.unpack(order + "I", head[4:8])[0]
    tensors = struct.unpack(order + "I", head[8:12])[0] if version == 1 else struct.unpack(order + "Q", head[8:16])[0]
    if tensors == 0:
        raise BreadcrumbsError(f"{path.name} holds no weights (a vocabulary-only GGUF); pass a GGUF model file")


def load_gguf(
    path: str | Path, dtype: torch.dtype | None = None, attn_implementation: str = "sdpa"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model (dequantised to `dtype`, float32 by default) and tokenizer stored in one GGUF file."""
    path = Path(path)
    if not path.is_file():
        raise BreadcrumbsError(f"no GGUF file at {str(path)!r}")
    _check_has_weights(path)
    from transformers.utils import logging as hf_logging

    # transformers' de-quantising loop has its own tqdm bar that its progress-bar switch does not reach: when
    # progress bars are off (`-q`), its stderr output is dropped
    bars_on = hf_logging.is_progress_bar_enabled()
    quiet = contextlib.nullcontext() if bars_on else contextlib.redirect_stderr(io.StringIO())
    try:
        with quiet:
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                path.parent, gguf_file=path.name, local_files_only=True, dtype=dtype or torch.float32,
                attn_implementation=attn_implementation,
            )
    except ImportError as err:
        raise BreadcrumbsError(NEEDS_GGUF) from err
    except ValueError as err:
        if "not supported" not in str(err):
            raise BreadcrumbsError(f"could not load the GGUF model {str(path)!r}: {err}".splitlines()[0]) from err
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

        readable = sorted(set(GGUF_SUPPORTED_ARCHITECTURES) - {"general", "tokenizer"})  # those two are not models
        raise BreadcrumbsError(
            f"{path.name}: {err} Architectures transformers reads from GGUF: {', '.join(readable)}. "
            "Convert the model to a Hugging Face directory with its own tools and pass that directory instead"
        ) from err
    except (OSError, KeyError, RuntimeError) as err:
        raise BreadcrumbsError(f"could not load the GGUF model {str(path)!r}: {err}".splitlines()[0]) from err
    return model, tokenizer


def convert_gguf(path: str | Path, out_dir: str | Path, dtype: torch.dtype | None = None) -> Path:
    """Write the GGUF model at `path` as a Hugging Face checkpoint directory (safetensors + tokenizer with its chat
    template) at `out_dir`, which must not exist yet. Written to a temporary sibling, then renamed into place."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise BreadcrumbsError(f"{out_dir} already exists; choose a new output directory")
    loaded, tokenizer = load_gguf(path, dtype)
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):  # the weights are float now; a "gguf" mark would block saving again
        del config.quantization_config
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=loaded.dtype)
    model.load_state_dict(loaded.state_dict(), assign=True)
    model.generation_config = loaded.generation_config
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model.save_pretrained(temp)
        tokenizer.save_pretrained(temp)
        follow_umask(temp)
        os.replace(temp, out_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return out_dir
