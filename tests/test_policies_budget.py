"""Eviction baselines in the real generation loop: budget never exceeded, promised entries kept, cache slots
aligned with the policy's bookkeeping, and an unlimited budget equal to the full cache token for token."""

from __future__ import annotations

import pytest
import torch

from breadcrumbs.generation import DecodeSession, _left_pad, generate
from breadcrumbs.policies import (
    FullCache,
    H2OPolicy,
    KnormPolicy,
    SnapKVPolicy,
    StreamingPolicy,
    TOVAPolicy,
    policy_from_spec,
)
from conftest import tiny_model

NAMES = ["streaming", "h2o", "tova", "snapkv", "knorm"]
PROMPTS = ["Countdown: make 31 from [11,5,6,19]\n", "x+y=3\n", "Edges: 1>2 2>3\nPath: 1 to 3\n"]


@pytest.fixture(scope="module")
def llama():
    return tiny_model("llama")


def make(name: str, budget: int):
    return {
        "streaming": lambda: StreamingPolicy(budget, sinks=2),
        "h2o": lambda: H2OPolicy(budget),
        "tova": lambda: TOVAPolicy(budget),
        "snapkv": lambda: SnapKVPolicy(budget, window=3),
        "knorm": lambda: KnormPolicy(budget),
    }[name]()


def teacher_forced(model, tokenizer, policy, completions, check=None):
    """Feed fixed completions through a DecodeSession (rows of different prompt lengths), calling `check`."""
    rows = [tokenizer(prompt)["input_ids"] for prompt in PROMPTS]
    ids, mask = _left_pad(rows, tokenizer.pad_token_id)
    policy.check(model, tokenizer)
    session = DecodeSession(model, policy, ids, mask, max_new_tokens=completions.shape[1] + 1)
    session.prefill()
    for step in range(completions.shape[1]):
        session.feed(completions[:, step])
        if check is not None:
            check(session)
    return session


@pytest.mark.parametrize("name", NAMES)
def test_budget_and_promises_hold_at_every_step(llama, name):
    model, tokenizer = llama
    budget, steps = 7, 30
    completions = torch.randint(5, 90, (len(PROMPTS), steps), generator=torch.Generator().manual_seed(1))
    policy = make(name, budget)
    width = None
    full_keys = teacher_forced(model, tokenizer, FullCache(), completions).cache.layers[0].keys.clone()

    def check(session):
        nonlocal width
        width = session.prompt_mask.shape[1]
        fed = session.tokens_fed
        # the forward just taken held at most prompt + budget entries (generated part <= budget)
        entries = session.cache.length - session.padding
        prompt = width - session.padding
        assert bool((entries <= prompt + budget).all())
        births = policy.slot_state["birth"]
        assert births[0].shape[-1] == min(fed, budget - 1)  # room made for the next token
        sinks, recent = policy.protected_counts()
        for layer_births in births:
            for row_head in layer_births.reshape(-1, layer_births.shape[-1]).tolist():
                held = set(row_head)
                assert len(held) == len(row_head)
                assert set(range(1, min(sinks, fed) + 1)) <= held  # pinned first generated entries
                assert set(range(max(fed - recent + 1, 1), fed + 1)) <= held  # pinned recent window
        # layer-0 keys depend only on token and position: held slots must be exactly the tracked births
        held_keys = session.cache.layers[0].keys[:, :, width:]
        expected = full_keys.gather(
            2, (width - 1 + births[0])[..., None].expand(-1, -1, -1, full_keys.shape[-1])
        )
        torch.testing.assert_close(held_keys, expected)

    session = teacher_forced(model, tokenizer, policy, completions, check)
    assert int(session.peak_entries.max()) <= width + budget
    if name == "streaming":
        assert policy.protected_counts() == (2, 0)
        assert sorted(policy.slot_state["birth"][0][0, 0].tolist()) == [1, 2] + list(range(steps - 3, steps + 1))
    if name == "snapkv":
        assert policy.protected_counts() == (0, 3)
    if name == "h2o":
        assert policy.protected_counts() == (0, budget // 2)
    if name == "tova":
        assert policy.protected_counts() == (0, 1)


@pytest.mark.parametrize("name", NAMES)
def test_peak_in_stats_is_prompt_plus_budget(llama, name):
    model, tokenizer = llama
    budget, new = 5, 20
    output = generate(model, tokenizer, PROMPTS, policy=policy_from_spec(f"{name}:{budget}"), max_new_tokens=new)
    for stats in output.stats:
        fed = stats.generated_tokens - 1
        assert stats.peak_kv_entries == stats.prompt_tokens + min(fed, budget)


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_unlimited_budget_equals_full_cache(arch):
    model, tokenizer = tiny_model(arch, seed=3)
    new = 24
    full = generate(model, tokenizer, PROMPTS, max_new_tokens=new)
    for name in NAMES:
        output = generate(model, tokenizer, PROMPTS, policy=make(name, new), max_new_tokens=new)
        assert output.completion_ids == full.completion_ids, name
        assert [s.peak_kv_entries for s in output.stats] == [s.peak_kv_entries for s in full.stats]


def test_small_budget_changes_the_output(llama):
    """Guard against vacuous equality: a budget of 1 must change some greedy continuation."""
    model, tokenizer = llama
    full = generate(model, tokenizer, PROMPTS, max_new_tokens=24)
    changed = [
        generate(model, tokenizer, PROMPTS, policy=make(name, 1), max_new_tokens=24).completion_ids
        != full.completion_ids
        for name in ("tova", "h2o", "streaming")
    ]
    assert any(changed)


def test_recording_queries_changes_nothing_and_cleans_up(llama):
    """The query recorder wraps the attention function only during a forward and leaves logits bit-identical."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    model, tokenizer = llama
    before = dict(ALL_ATTENTION_FUNCTIONS._local_mapping)
    rows = [tokenizer(prompt)["input_ids"] for prompt in PROMPTS]
    ids, mask = _left_pad(rows, tokenizer.pad_token_id)
    plain = DecodeSession(model, FullCache(), ids, mask, 4)
    recorded = DecodeSession(model, TOVAPolicy(100), ids, mask, 4)
    assert torch.equal(plain.prefill(), recorded.prefill())
    token = torch.tensor([7, 8, 9])
    assert torch.equal(plain.feed(token), recorded.feed(token))
    assert plain.last_queries is None
    assert sorted(recorded.last_queries.queries) == list(range(model.config.num_hidden_layers))
    assert ALL_ATTENTION_FUNCTIONS._local_mapping == before
