"""Real tokenizer vocabularies (byte-level BPE: Qwen2, GPT-2; SentencePiece: Phi-3, Llama) under breadcrumbs:
the beacon gets a fresh row of its own on padded, tied and untied embedding matrices, task traces survive the
encode/decode round trip with beacons interleaved (no SentencePiece `▁` leaks into texts or answers), and prompts
use the chat template exactly when the tokenizer has one.

The vocabularies are GGUF files fetched by `scripts/fetch_fixtures.py`; without them these tests skip.
"""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

from breadcrumbs.chat import encode_prompt, set_chat
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.generation import banned_token_ids
from breadcrumbs.models import BEACON_TOKEN, add_beacon, beacon_token_id
from breadcrumbs.tasks import get_task
from task_names import GENERATED
from breadcrumbs.training.data import encode_completion
from fixture_files import VOCABS, require_fixture

_LOADED: dict = {}
CHAT_TEMPLATES = {"qwen2": True, "phi-3": True, "gpt-2": False, "llama-spm": False}


def load_vocab(name: str):
    """A fresh copy of a real tokenizer (each test may add tokens); the file is parsed once per session."""
    if name not in _LOADED:
        path = require_fixture(VOCABS[name])
        _LOADED[name] = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    return copy.deepcopy(_LOADED[name])


def tiny_model_for(tokenizer, padding: int, tied: bool):
    """A 1-layer Llama whose embedding has `padding` rows beyond the tokenizer (Qwen2.5-style), tied or not."""
    config = LlamaConfig(
        vocab_size=len(tokenizer) + padding, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=tied,
    )
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config)


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
@pytest.mark.parametrize("padding", [0, 64], ids=["exact", "padded"])
@pytest.mark.parametrize("name", list(VOCABS))
def test_beacon_gets_a_fresh_row_of_its_own(name, padding, tied):
    tokenizer = load_vocab(name)
    model = tiny_model_for(tokenizer, padding, tied)
    existing, had_pad = len(tokenizer), tokenizer.pad_token is not None
    before_in = model.get_input_embeddings().weight.detach().clone()
    before_out = model.get_output_embeddings().weight.detach().clone()
    model, tokenizer = add_beacon(model, tokenizer)
    beacon = beacon_token_id(tokenizer)
    added = range(existing, len(tokenizer))  # the beacon, and a pad token where the vocabulary had none
    assert beacon in added and len(added) == 1 + (not had_pad)
    assert [tokenizer.convert_ids_to_tokens(beacon)] == [BEACON_TOKEN]
    assert tokenizer(f"a{BEACON_TOKEN}b", add_special_tokens=False)["input_ids"].count(beacon) == 1
    weight_in = model.get_input_embeddings().weight
    weight_out = model.get_output_embeddings().weight
    assert weight_in.shape[0] == max(existing + padding, len(tokenizer))  # padded matrices are not grown
    assert (weight_out is weight_in) == tied
    torch.testing.assert_close(weight_in[:existing], before_in[:existing], rtol=0, atol=0)
    torch.testing.assert_close(weight_in[beacon], before_in[:existing].mean(dim=0))
    if padding:  # the row the beacon took was a padding row: re-initialised, not inherited
        assert not torch.equal(weight_in[beacon], before_in[beacon])
        torch.testing.assert_close(weight_in[len(tokenizer) :], before_in[len(tokenizer) :], rtol=0, atol=0)
    if not tied:
        torch.testing.assert_close(weight_out[:existing], before_out[:existing], rtol=0, atol=0)
        torch.testing.assert_close(weight_out[beacon], before_out[:existing].mean(dim=0))
    assert beacon in banned_token_ids(tokenizer, [tokenizer.eos_token_id])
    assert add_beacon(model, tokenizer)[0].get_input_embeddings().weight.shape == weight_in.shape  # idempotent


def _interleave(ids: list[int], ratio: int, beacon: int) -> list[int]:
    """The ids as the student layout feeds them: a beacon after every `ratio` tokens."""
    out = []
    for index, token in enumerate(ids, start=1):
        out.append(token)
        if index % ratio == 0:
            out.append(beacon)
    return out


@pytest.mark.parametrize("name", list(VOCABS))
def test_traces_round_trip_with_beacons_and_answers_parse(name):
    tokenizer = load_vocab(name)
    model = tiny_model_for(tokenizer, 0, True)
    _, tokenizer = add_beacon(model, tokenizer)
    beacon = beacon_token_id(tokenizer)
    for task_name in GENERATED:
        task = get_task(task_name)
        for problem in task.generate(3, seed=11):
            trace = task.solve(problem)
            ids = encode_completion(tokenizer, trace)
            assert ids[-1] == tokenizer.eos_token_id
            for ratio in (1, 3, 4):
                text = tokenizer.decode(_interleave(ids, ratio, beacon), skip_special_tokens=True)
                assert text == trace, (task_name, ratio, text)
            assert "\u2581" not in text and BEACON_TOKEN not in text
            assert task.verify(problem, text) == 1.0


@pytest.mark.parametrize("name", list(VOCABS))
def test_chat_template_is_used_exactly_when_present(name):
    tokenizer = load_vocab(name)
    task = get_task("countdown")
    prompt = task.prompt(task.generate(1, seed=0)[0])
    assert set_chat(tokenizer) == CHAT_TEMPLATES[name]
    chat_ids = encode_prompt(tokenizer, prompt)
    assert set_chat(tokenizer, False) is False
    raw_ids = encode_prompt(tokenizer, prompt)
    assert raw_ids == tokenizer(prompt)["input_ids"]
    if CHAT_TEMPLATES[name]:
        assert chat_ids != raw_ids and prompt.strip() in tokenizer.decode(chat_ids)
    else:
        assert chat_ids == raw_ids
        with pytest.raises(BreadcrumbsError, match="no chat template; use --no-chat"):
            set_chat(tokenizer, True)
