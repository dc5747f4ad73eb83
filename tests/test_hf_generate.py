"""Beacons inside transformers' `model.generate` (`breadcrumbs.hf.CUSTOM_GENERATE`): the same tokens as
`breadcrumbs.generate`, transformers' sampling settings, stopping criteria, streaming, and one clear error per
bad call."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    StoppingCriteria,
    StoppingCriteriaList,
    TextStreamer,
)

import breadcrumbs.hf
from breadcrumbs import BeaconPolicy, FullCache, generate
from breadcrumbs.chat import encode_prompt
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.generation import _left_pad, banned_token_ids, eos_token_ids
from breadcrumbs.hf import CUSTOM_GENERATE
from breadcrumbs.models import beacon_token_id, load_model
from conftest import tiny_model
from fixture_files import SMOLLM2, converted_fixture

PROMPTS = ["12+7=", "3", "Edges: 3 8 2 7\nPath:"]  # different lengths: a left-padded batch
NEW = 16


def hf_generate(model, prompt_rows, **settings):
    """`model.generate` with beacons on left-padded prompts; the generated part of every row, `[B, n]`."""
    ids, mask = _left_pad(prompt_rows, model.config.pad_token_id)
    out = model.generate(
        input_ids=ids, attention_mask=mask.long(), custom_generate=CUSTOM_GENERATE, trust_remote_code=True,
        **settings,
    )
    sequences = out if isinstance(out, torch.Tensor) else out.sequences
    return sequences[:, ids.shape[1] :], out


def our_loop(model, tokenizer, prompt_rows, policy, max_new_tokens=NEW):
    """`breadcrumbs.generate`'s completions padded as transformers pads finished rows, and the ids it bans."""
    out = generate(model, tokenizer, prompt_rows, policy=policy, max_new_tokens=max_new_tokens)
    width = max(len(row) for row in out.completion_ids)  # transformers stops once every row has finished
    padded = [row + [tokenizer.pad_token_id] * (width - len(row)) for row in out.completion_ids]
    return padded, out


def suppressed(model, tokenizer) -> list[int]:
    """The ids `breadcrumbs.generate` never samples besides the beacon (pad, BOS, ...), for transformers to match."""
    return [i for i in banned_token_ids(tokenizer, eos_token_ids(model, tokenizer)) if i != beacon_token_id(tokenizer)]


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def model_and_rows(request):
    model, tokenizer = tiny_model(request.param, seed=1)
    return model, tokenizer, [tokenizer(p)["input_ids"] for p in PROMPTS]


@pytest.mark.parametrize(("ratio", "lag"), [(2, 0), (4, 0), (2, 1)])
def test_greedy_equals_breadcrumbs_generate(model_and_rows, ratio, lag):
    model, tokenizer, rows = model_and_rows
    ours, _ = hf_generate(
        model, rows, beacon_ratio=ratio, beacon_lag=lag, tokenizer=tokenizer, max_new_tokens=NEW,
        do_sample=False, suppress_tokens=suppressed(model, tokenizer),
    )
    reference, _ = our_loop(model, tokenizer, rows, BeaconPolicy(ratio, lag))
    assert ours.tolist() == reference
    full, _ = our_loop(model, tokenizer, rows, FullCache())
    assert ours.tolist() != full  # the beacons change this model's tokens: the equality above is not vacuous


def test_calling_the_method_directly_needs_no_trust_remote_code(model_and_rows):
    model, tokenizer, rows = model_and_rows
    through_generate, _ = hf_generate(model, rows, beacon_ratio=2, tokenizer=tokenizer, max_new_tokens=NEW)
    ids, mask = _left_pad(rows, model.config.pad_token_id)
    direct = breadcrumbs.hf.generate(model, input_ids=ids, attention_mask=mask.long(), beacon_ratio=2,
                                     tokenizer=tokenizer, max_new_tokens=NEW)
    assert torch.equal(direct[:, ids.shape[1] :], through_generate)


def test_a_saved_checkpoint_serves_with_its_recorded_settings(model_and_rows, tmp_path):
    """Loaded with transformers' own Auto classes and called with no beacon settings and no tokenizer: ratio, lag and
    the beacon's id come from the checkpoint's `config.breadcrumbs`."""
    model, tokenizer, rows = model_and_rows
    model.config.breadcrumbs = {"ratios": [4, 8], "lag": 1, "layout": "beacon",
                                "beacon_token_id": beacon_token_id(tokenizer)}
    try:
        model.save_pretrained(tmp_path)
    finally:
        del model.config.breadcrumbs
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = AutoModelForCausalLM.from_pretrained(tmp_path), AutoTokenizer.from_pretrained(tmp_path)
    inputs = loaded_tokenizer(PROMPTS, return_tensors="pt", padding=True)
    out = loaded.generate(**inputs, custom_generate=CUSTOM_GENERATE, trust_remote_code=True, max_new_tokens=NEW,
                          suppress_tokens=suppressed(model, tokenizer))
    reference, _ = our_loop(model, tokenizer, rows, BeaconPolicy(4, lag=1))
    assert out[:, inputs["input_ids"].shape[1] :].tolist() == reference
    other, _ = our_loop(model, tokenizer, rows, BeaconPolicy(4))
    assert reference != other  # the recorded lag mattered


def test_eos_stops_a_row_and_the_others_continue_exactly(model_and_rows, monkeypatch):
    """A row that samples EOS is padded from then on, leaves the cache, and the other rows' tokens do not change."""
    model, tokenizer, rows = model_and_rows
    free, _ = our_loop(model, tokenizer, rows, BeaconPolicy(2))
    stop = free[0][5]  # the 6th token of row 0 becomes an EOS id
    monkeypatch.setattr(model.generation_config, "eos_token_id", [tokenizer.eos_token_id, stop])
    reference, out = our_loop(model, tokenizer, rows, BeaconPolicy(2))
    assert out.stats[0].stop_reason == "eos" and out.stats[0].generated_tokens <= 6
    assert any(s.stop_reason == "length" for s in out.stats)  # another row outlived it
    ours, _ = hf_generate(
        model, rows, beacon_ratio=2, tokenizer=tokenizer, max_new_tokens=NEW,
        suppress_tokens=suppressed(model, tokenizer),
    )
    assert ours.tolist() == reference


def test_sampling_honours_the_settings_and_never_emits_the_beacon(model_and_rows):
    """With the beacon pushed up by a logits processor and not in `suppress_tokens` (add_beacon lists it there),
    plain sampling emits it; beacon sampling never does (its logit is masked first, whatever the config says).
    top_k=1 sampling is greedy (the processors run), and a fixed seed repeats the draw."""
    model, tokenizer, rows = model_and_rows
    beacon = beacon_token_id(tokenizer)
    settings = dict(max_new_tokens=NEW, do_sample=True, temperature=1.5, top_p=0.95, sequence_bias={(beacon,): 9.0},
                    suppress_tokens=[])
    ids, mask = _left_pad(rows, tokenizer.pad_token_id)
    torch.manual_seed(0)
    plain = model.generate(input_ids=ids, attention_mask=mask.long(), **settings)
    assert (plain[:, ids.shape[1] :] == beacon).any()
    settings.update(beacon_ratio=4, tokenizer=tokenizer)
    torch.manual_seed(0)
    sampled, out = hf_generate(model, rows, return_dict_in_generate=True, output_scores=True, **settings)
    assert not (sampled == beacon).any()
    assert len(out.scores) == NEW and all(bool((s[:, beacon] == float("-inf")).all()) for s in out.scores)
    torch.manual_seed(0)
    assert torch.equal(hf_generate(model, rows, **settings)[0], sampled)
    top1, _ = hf_generate(model, rows, **{**settings, "top_k": 1})
    greedy, _ = hf_generate(model, rows, **{**settings, "do_sample": False})
    assert torch.equal(top1, greedy) and not torch.equal(sampled, greedy)


def test_text_streamer_receives_the_text(model_and_rows, capsys):
    model, tokenizer, rows = model_and_rows
    streamer = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    ours, _ = hf_generate(model, rows[:1], beacon_ratio=2, tokenizer=tokenizer, max_new_tokens=NEW,
                          streamer=streamer)
    text = tokenizer.decode(ours[0], skip_special_tokens=True)
    assert len(text) >= 8 and capsys.readouterr().out == text + "\n"


def test_stopping_criteria_and_stop_strings(model_and_rows):
    model, tokenizer, rows = model_and_rows
    free, _ = hf_generate(model, rows[:1], beacon_ratio=2, tokenizer=tokenizer, max_new_tokens=NEW)

    class AfterFive(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), input_ids.shape[1] - len(rows[0]) >= 5, dtype=torch.bool)

    stopped, _ = hf_generate(model, rows[:1], beacon_ratio=2, tokenizer=tokenizer, max_new_tokens=NEW,
                             stopping_criteria=StoppingCriteriaList([AfterFive()]))
    assert stopped.tolist() == free[:, :5].tolist()
    text = tokenizer.decode(free[0])
    stop = text[6]
    stopped, _ = hf_generate(model, rows[:1], beacon_ratio=2, tokenizer=tokenizer, max_new_tokens=NEW,
                             stop_strings=[stop])
    assert tokenizer.decode(stopped[0]) == text[: text.index(stop) + 1]


@pytest.mark.parametrize(("settings", "message"), [
    ({}, r"pass beacon_ratio=C"),
    ({"beacon_ratio": 2}, r"pass tokenizer=tokenizer"),
    ({"beacon_ratio": 0, "tokenizer": True}, r"compression ratio must be an integer >= 1"),
    ({"beacon_ratio": 2, "beacon_lag": -1, "tokenizer": True}, r"lag must be an integer >= 0"),
    ({"beacon_ratio": 2, "tokenizer": True, "num_beams": 2}, r"does not support num_beams"),
    ({"beacon_ratio": 2, "tokenizer": True, "synced_gpus": True}, r"does not support synced_gpus"),
    ({"beacon_ratio": 2, "tokenizer": True, "assistant": True}, r"does not support assistant_model"),
    ({"beacon_ratio": 2, "tokenizer": True, "right_padded": True}, r"needs left-padded prompts"),
])
def test_bad_calls_are_one_clear_error(qwen2_tiny, settings, message):
    model, tokenizer = qwen2_tiny
    settings = dict(settings)
    if settings.pop("tokenizer", False):
        settings["tokenizer"] = tokenizer
    if settings.pop("assistant", False):
        settings["assistant_model"] = model
    ids, mask = _left_pad([tokenizer(p)["input_ids"] for p in PROMPTS[:2]], tokenizer.pad_token_id)
    if settings.pop("right_padded", False):
        ids, mask = ids.flip(1), mask.flip(1)
    with pytest.raises(BreadcrumbsError, match=message):
        model.generate(input_ids=ids, attention_mask=mask.long(), custom_generate=CUSTOM_GENERATE,
                       trust_remote_code=True, max_new_tokens=4, **settings)


@pytest.fixture(scope="module")
def smollm2():
    return load_model(str(converted_fixture(SMOLLM2)), dtype=torch.float32)


def test_real_smollm2_greedy_equals_breadcrumbs_generate(smollm2):
    """SmolLM2-135M-Instruct (30 layers, BPE, chat prompts): c = 2 and 4 change its tokens, and match our loop."""
    model, tokenizer = smollm2
    rows = [encode_prompt(tokenizer, "What is the capital of France?"), encode_prompt(tokenizer, "Count: 1, 2,")]
    full, _ = our_loop(model, tokenizer, rows, FullCache(), max_new_tokens=12)
    for ratio in (2, 4):
        ours, _ = hf_generate(model, rows, beacon_ratio=ratio, tokenizer=tokenizer, max_new_tokens=12,
                              suppress_tokens=suppressed(model, tokenizer))
        reference, _ = our_loop(model, tokenizer, rows, BeaconPolicy(ratio), max_new_tokens=12)
        assert ours.tolist() == reference != full, ratio
