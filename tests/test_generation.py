"""The generation loop: greedy beacon decoding matches the parallel student forward, KV figures are measured
exactly, sampling is seeded, and finished rows leave the batch correctly."""

from __future__ import annotations

import pytest
import torch

from breadcrumbs import BeaconPolicy, FullCache, generate
from breadcrumbs.beacon import attention_mask_for, build_student_batch, expected_peak_entries
from breadcrumbs.beacon.layout import LaggedBeacons
from breadcrumbs.generation import banned_token_ids, eos_token_ids, sample_next
from breadcrumbs.models import beacon_token_id
from conftest import tiny_model

PROMPTS = ["12 7 3 -> 26\n", "a\n", "the quick brown fox\n"]


def student_argmax(model, tokenizer, prompt_ids, completions, ratio):
    """Greedy choice of the parallel student forward over each completion (banned ids excluded)."""
    batch = build_student_batch(prompt_ids, completions, ratio, beacon_token_id(tokenizer), tokenizer.pad_token_id)
    with torch.no_grad():
        logits = model(
            input_ids=batch.input_ids, attention_mask=attention_mask_for(model, batch), position_ids=batch.position_ids
        ).logits
    logits[..., banned_token_ids(tokenizer, eos_token_ids(model, tokenizer))] = float("-inf")
    picked = logits.gather(1, batch.predict_index[..., None].expand(-1, -1, logits.shape[-1])).argmax(-1)
    return [picked[row, : len(c)].tolist() for row, c in enumerate(completions)]


@pytest.fixture(scope="module")
def llama():
    return tiny_model("llama", seed=1)


@pytest.mark.parametrize("ratio", [1, 3, 8])
def test_greedy_beacon_generation_reproduces_student_argmax(llama, ratio):
    model, tokenizer = llama
    out = generate(model, tokenizer, PROMPTS, policy=BeaconPolicy(ratio), max_new_tokens=40)
    prompt_ids = [tokenizer(p)["input_ids"] for p in PROMPTS]
    assert student_argmax(model, tokenizer, prompt_ids, out.completion_ids, ratio) == out.completion_ids


def test_ratio_beyond_length_equals_full_cache(llama):
    model, tokenizer = llama
    full = generate(model, tokenizer, PROMPTS, policy=FullCache(), max_new_tokens=30)
    wide = generate(model, tokenizer, PROMPTS, policy=BeaconPolicy(64), max_new_tokens=30)
    assert wide.completion_ids == full.completion_ids
    assert [s.peak_kv_entries for s in wide.stats] == [s.peak_kv_entries for s in full.stats]


def test_beacons_change_generation(llama):
    """A non-vacuity check: compressing at c=2 changes what an untrained model generates."""
    model, tokenizer = llama
    full = generate(model, tokenizer, PROMPTS, policy=FullCache(), max_new_tokens=30)
    compressed = generate(model, tokenizer, PROMPTS, policy=BeaconPolicy(2), max_new_tokens=30)
    assert compressed.completion_ids != full.completion_ids


def _with_eos(model, token_id):
    model.generation_config.eos_token_id = token_id
    return model


@pytest.mark.parametrize("policy", [FullCache(), BeaconPolicy(4), BeaconPolicy(5), BeaconPolicy(4, lag=2),
                                    BeaconPolicy(3, lag=20)])
def test_measured_peak_kv_matches_layout_rule_for_every_row(policy):
    """Rows stop at different lengths (a token the untrained model emits at different steps is made EOS);
    every row's measured peak equals prompt + closed windows' beacons + the open window."""
    model, tokenizer = tiny_model("qwen2", seed=2)
    reference = generate(model, tokenizer, PROMPTS, policy=policy, max_new_tokens=48)
    # Choose as EOS a token that first appears at different steps in different rows.
    first_seen = {}
    for row, ids in enumerate(reference.completion_ids):
        for step, token in enumerate(ids):
            first_seen.setdefault(token, {}).setdefault(row, step)
    eos = max(first_seen, key=lambda t: (len(set(first_seen[t].values())), len(first_seen[t])))
    _with_eos(model, eos)
    out = generate(model, tokenizer, PROMPTS, policy=policy, max_new_tokens=48)
    lengths = {s.generated_tokens for s in out.stats}
    assert len(lengths) > 1, "rows should finish at different lengths"
    view = None if isinstance(policy, FullCache) else (LaggedBeacons(policy.ratio, policy.lag) if policy.lag
                                                       else policy.ratio)
    layer = model.config.num_hidden_layers
    entry_bytes = layer * 2 * model.config.num_key_value_heads * (model.config.hidden_size // model.config.num_attention_heads) * 4
    for ids, ref_ids, stats in zip(out.completion_ids, reference.completion_ids, out.stats):
        assert ids == ref_ids[: len(ids)]
        if stats.stop_reason == "eos":
            assert ids[-1] == eos and eos not in ids[:-1]
        fed = stats.generated_tokens - 1  # the last sampled token is never fed
        assert stats.peak_kv_entries == expected_peak_entries(stats.prompt_tokens, fed, view)
        assert stats.prompt_tokens <= stats.mean_kv_entries <= stats.peak_kv_entries
        assert stats.peak_kv_bytes == stats.peak_kv_entries * entry_bytes


def test_cache_bytes_match_tensor_storage(qwen2_tiny):
    from breadcrumbs.generation import DecodeSession, _left_pad

    model, tokenizer = qwen2_tiny
    policy = BeaconPolicy(4)
    policy.check(model, tokenizer)
    ids, mask = _left_pad([tokenizer(p)["input_ids"] for p in PROMPTS], tokenizer.pad_token_id)
    session = DecodeSession(model, policy, ids, mask, max_new_tokens=20)
    session.prefill()
    for token in range(10, 20):
        session.feed(torch.full((len(PROMPTS),), token))
    tensors = [t for layer in session.cache.layers for t in (layer.keys, layer.values)]
    assert session.cache.held_bytes() == sum(t.numel() * t.element_size() for t in tensors)
    assert session.cache.slot_bytes() * session.cache.length * len(PROMPTS) == session.cache.held_bytes()
    assert session.cache.allocated_bytes() >= session.cache.held_bytes()


def test_sampling_is_seeded_and_top_p_restricts(llama):
    model, tokenizer = llama
    kwargs = dict(policy=BeaconPolicy(4), max_new_tokens=20, temperature=1.0)
    first = generate(model, tokenizer, PROMPTS, seed=7, **kwargs).completion_ids
    assert generate(model, tokenizer, PROMPTS, seed=7, **kwargs).completion_ids == first
    assert generate(model, tokenizer, PROMPTS, seed=8, **kwargs).completion_ids != first
    logits = torch.tensor([[0.0, 5.0, 4.9, -3.0]]).repeat(200, 1)
    drawn = sample_next(logits, 1.0, 0.5, torch.Generator().manual_seed(0))
    assert set(drawn.tolist()) == {1}  # token 1 alone holds > 50% of the mass
    assert sample_next(logits, 0.0, 1.0, None, banned_ids=[1]).unique().tolist() == [2]


def test_beacon_and_specials_are_never_sampled(llama):
    model, tokenizer = llama
    beacon = beacon_token_id(tokenizer)
    with torch.no_grad():
        model.lm_head.weight[beacon] *= 50  # make the beacon the model's favourite token (tied embeddings)
    try:
        out = generate(model, tokenizer, PROMPTS, policy=BeaconPolicy(2), max_new_tokens=30, temperature=1.0)
    finally:
        with torch.no_grad():
            model.lm_head.weight[beacon] /= 50
    assert all(beacon not in ids and tokenizer.pad_token_id not in ids for ids in out.completion_ids)
    assert all("<beacon>" not in text for text in out.texts)


def test_batching_does_not_change_results(llama):
    model, tokenizer = llama
    whole = generate(model, tokenizer, PROMPTS, policy=BeaconPolicy(3), max_new_tokens=25)
    split = generate(model, tokenizer, PROMPTS, policy=BeaconPolicy(3), max_new_tokens=25, batch_size=1)
    assert whole.completion_ids == split.completion_ids
    assert [s.peak_kv_entries for s in whole.stats] == [s.peak_kv_entries for s in split.stats]
