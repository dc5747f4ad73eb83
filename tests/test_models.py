"""Presets, the char tokenizer and the beacon token survive save/reload; bad models are refused clearly."""

from __future__ import annotations

import pytest
import torch

from breadcrumbs import BeaconPolicy, BreadcrumbsError, add_beacon, generate, load_model
from breadcrumbs.models import BEACON_TOKEN, beacon_token_id, build_char_tokenizer, build_preset_model
from conftest import tiny_model


def test_char_tokenizer_round_trips_task_text():
    tokenizer = build_char_tokenizer()
    text = "try 8+3=11 -> [11, 5]\nno\nAnswer: (8+3)*2-5"
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and len(ids) == len(text) + 1
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_preset_save_reload_keeps_beacon_and_outputs(tmp_path, arch):
    model, tokenizer = build_preset_model("micro", arch)
    beacon = beacon_token_id(tokenizer)
    with torch.no_grad():
        model.get_input_embeddings().weight[beacon] = torch.linspace(-1, 1, model.config.hidden_size)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    reloaded, reloaded_tokenizer = load_model(str(tmp_path))
    assert beacon_token_id(reloaded_tokenizer) == beacon
    assert len(reloaded_tokenizer) == len(tokenizer)
    assert torch.equal(reloaded.get_input_embeddings().weight[beacon], model.get_input_embeddings().weight[beacon])
    prompts = ["12 7 -> 5\n"]
    before = generate(model.eval(), tokenizer, prompts, policy=BeaconPolicy(3), max_new_tokens=20)
    after = generate(reloaded, reloaded_tokenizer, prompts, policy=BeaconPolicy(3), max_new_tokens=20)
    assert before.completion_ids == after.completion_ids


def bare_tokenizer():
    """A Hugging Face tokenizer with no beacon (and no pad token), like a foreign checkpoint's."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<eos>": 0, **{char: index + 1 for index, char in enumerate("abcxyz ")}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>")


def test_add_beacon_to_a_foreign_tokenizer_is_trainable_and_idempotent():
    model, _ = tiny_model("phi3")
    foreign = bare_tokenizer()
    assert BEACON_TOKEN not in foreign.get_vocab() and foreign.pad_token is None
    model, foreign = add_beacon(model, foreign)
    beacon = beacon_token_id(foreign)
    assert foreign.pad_token is not None
    embeddings = model.get_input_embeddings()
    assert embeddings.weight.requires_grad and embeddings.num_embeddings >= len(foreign)
    rows = embeddings.num_embeddings
    assert add_beacon(model, foreign)[1] is foreign and beacon_token_id(foreign) == beacon
    assert model.get_input_embeddings().num_embeddings == rows


def test_unknown_preset_and_missing_checkpoint_are_clear_errors(tmp_path):
    with pytest.raises(BreadcrumbsError, match="unknown preset"):
        build_preset_model("huge")
    with pytest.raises(BreadcrumbsError, match="unknown architecture"):
        build_preset_model("micro", arch="gpt5")
    with pytest.raises(BreadcrumbsError, match="no model at"):
        load_model(str(tmp_path / "missing"))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(BreadcrumbsError, match="could not load"):
        load_model(str(tmp_path))


def test_tokenizer_without_beacon_is_refused():
    model, _ = tiny_model("llama")
    with pytest.raises(BreadcrumbsError, match="no <beacon> token"):
        generate(model, bare_tokenizer(), ["x"], policy=BeaconPolicy(2), max_new_tokens=4)
