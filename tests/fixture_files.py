"""Real-model fixtures fetched by `scripts/fetch_fixtures.py` (CI runs it before the tests): their paths, and a
skip with the fix when a file is absent."""

from __future__ import annotations

import fcntl
import importlib.util
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fetch_fixtures.py"
_spec = importlib.util.spec_from_file_location("fetch_fixtures", _SCRIPT)
fetch_fixtures = importlib.util.module_from_spec(_spec)
sys.modules["fetch_fixtures"] = fetch_fixtures  # dataclasses look their module up there
_spec.loader.exec_module(fetch_fixtures)

SMOLLM2 = fetch_fixtures.SMOLLM2
VOCABS = {  # name -> fixture file of a real tokenizer vocabulary (with the tokenizer family it stands for)
    "qwen2": "vocab/ggml-vocab-qwen2.gguf",  # byte-level BPE, 151,936 entries, chat template
    "phi-3": "vocab/ggml-vocab-phi-3.gguf",  # SentencePiece (Llama-2 style), chat template
    "gpt-2": "vocab/ggml-vocab-gpt-2.gguf",  # byte-level BPE, no pad token, no chat template
    "llama-spm": "vocab/ggml-vocab-llama-spm.gguf",  # SentencePiece, no chat template
}


def require_fixture(name: str) -> Path:
    """The fixture file's path, or skip the test naming the command that fetches it."""
    path = fetch_fixtures.fixture_path(name)
    if not path.is_file():
        pytest.skip(f"fixture {path} is absent; run `python scripts/fetch_fixtures.py` (CI does)")
    return path


def converted_fixture(name: str) -> Path:
    """The GGUF fixture `name` converted once into a Hugging Face directory beside it (`<stem>-hf`, the same weights:
    tests/test_real_smollm2.py checks that `breadcrumbs convert` makes the same, exactly), which loads in a second
    where de-quantising the GGUF takes tens of seconds; test processes (pytest-xdist workers) share it under a file
    lock."""
    from breadcrumbs.gguf import convert_gguf

    gguf = require_fixture(name)
    target = gguf.with_name(gguf.stem + "-hf")
    with open(gguf.with_name(gguf.name + ".convert.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "config.json").is_file():
            convert_gguf(gguf, target)  # written to a temporary sibling, then renamed: never half there
    return target
