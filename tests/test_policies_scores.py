"""Scores on hand-built attention patterns: each policy evicts exactly the entries its formula names, and the
recorded-query attention equals the eager attention weights of a real model."""

from __future__ import annotations

import pytest
import torch

from breadcrumbs.generation import DecodeSession, _left_pad
from breadcrumbs.policies import FullCache, H2OPolicy, KnormPolicy, StreamingPolicy, TOVAPolicy
from breadcrumbs.policies.attention import QueryRecord, QueryRecorder, attention_over_cache
from breadcrumbs.policies.cache import SlotCache
from conftest import tiny_model


class FakeSession:
    """Just what a policy reads: one cache layer of hand-made keys, the newest query, the prompt width."""

    def __init__(self, prompt_keys: torch.Tensor, policy):
        batch, _, width, _ = prompt_keys.shape
        self.cache = SlotCache(1, 64)
        self.cache.layers[0].update(prompt_keys, prompt_keys.clone())
        self.prompt_mask = torch.ones(batch, width, dtype=torch.bool)
        self.padding = torch.zeros(batch, dtype=torch.long)
        self.tokens_fed = 0
        self.last_queries = None
        self.policy = policy
        policy.reset(self)

    def step(self, key: torch.Tensor, query: torch.Tensor | None = None) -> None:
        """Append one generated entry (`key [B, H_kv, D]`) attended by `query [B, H_q, D]` (scale 1)."""
        self.cache.layers[0].update(key[:, :, None], key[:, :, None].clone())
        if query is not None:
            self.last_queries = QueryRecord({0: query}, {0: 1.0}, {0: None})
        self.tokens_fed += 1
        self.policy.after_token(self)

    def held_births(self) -> list[list[list[int]]]:
        return [[sorted(head) for head in row] for row in self.policy.slot_state["birth"][0].tolist()]


def one_hot(index: int, size: int, heads: int = 1) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(index), size).float().expand(1, heads, size)


def test_tova_evicts_lowest_head_averaged_attention():
    """Head 0 would drop entry 1 and head 1 entry 2, but averaged over heads entry 3 is lowest: TOVA drops 3."""
    size = 5  # key j = e_j, so a query's logit on key j is its j-th coordinate
    policy = TOVAPolicy(4)
    session = FakeSession(one_hot(0, size)[:, :, None], policy)
    for j in (1, 2, 3):
        session.step(one_hot(j, size), torch.zeros(1, 2, size))
    logits = torch.tensor([[[0.0, 1.0, 6.0, 2.0, 4.0], [0.0, 6.0, 1.0, 2.0, 4.0]]])
    session.step(one_hot(4, size), logits)
    attention = logits.softmax(-1).mean(dim=1)[0, 1:4]  # generated entries 1..3 (4, the newest, is pinned)
    assert attention.argmin().item() == 2  # entry 3 by the formula
    assert session.held_births() == [[[1, 2, 4]]]
    held_keys = session.cache.layers[0].keys[0, 0].argmax(-1).tolist()
    assert sorted(held_keys) == [0, 1, 2, 4]  # physically gone from the cache too


def test_h2o_evicts_smallest_accumulated_attention_per_head():
    """Independent re-derivation: accumulate softmax attention per head since birth; keep budget//2 recent."""
    size, budget, steps = 9, 4, 8
    generator = torch.Generator().manual_seed(0)
    queries = torch.randn(steps, 1, 2, size, generator=generator) * 3
    policy = H2OPolicy(budget)
    session = FakeSession(one_hot(0, size, heads=2)[:, :, None], policy)
    held = [[], []]  # per head: births
    score = [{}, {}]
    for step in range(1, steps + 1):
        session.step(one_hot(step, size, heads=2), queries[step - 1])
        for head in range(2):
            held[head].append(step)
            keys = [0] + held[head]
            weights = queries[step - 1, 0, head, keys].softmax(-1)
            for key, weight in zip(keys[1:], weights[1:].tolist()):
                score[head][key] = score[head].get(key, 0.0) + weight
            if len(held[head]) >= budget:
                candidates = [b for b in held[head] if b <= step - budget // 2]
                victim = min(candidates, key=lambda b: (score[head][b], b))
                held[head].remove(victim)
    assert session.held_births() == [[sorted(held[0]), sorted(held[1])]]
    assert held[0] != held[1]  # the pattern makes the heads disagree, so per-head eviction is exercised


def test_knorm_evicts_the_largest_key_per_head():
    size = 4
    policy = KnormPolicy(3)
    session = FakeSession(torch.zeros(1, 2, 1, size), policy)
    norms = [(1.0, 5.0), (4.0, 2.0), (3.0, 3.0)]  # (head 0, head 1) key norms of entries 1..3
    for a, b in norms:
        session.step(torch.tensor([[[a, 0, 0, 0], [0, b, 0, 0]]]))
    assert session.held_births() == [[[1, 3], [2, 3]]]  # head 0 drops entry 2 (norm 4), head 1 entry 1 (norm 5)


def test_streaming_keeps_sinks_and_recent_window():
    policy = StreamingPolicy(5, sinks=2)
    session = FakeSession(torch.zeros(1, 1, 2, 3), policy)
    for _ in range(12):
        session.step(torch.randn(1, 1, 3))
    assert session.held_births() == [[[1, 2, 11, 12]]]  # + the next token = 2 sinks + 3 recent = budget 5


def test_recorded_query_attention_equals_eager_weights():
    model, tokenizer = tiny_model("qwen2", attn_implementation="eager")
    rows = [tokenizer(text)["input_ids"] for text in ("ab\n", "a longer prompt\n", "xyz\n")]
    ids, mask = _left_pad(rows, tokenizer.pad_token_id)
    session = DecodeSession(model, FullCache(), ids, mask, 4)
    session.prefill()
    with torch.no_grad(), QueryRecorder(model) as record:
        output = model(
            input_ids=torch.tensor([[5], [6], [7]]), attention_mask=session._attention_mask(1),
            position_ids=session.next_position[:, None], cache=session.cache, use_cache=True, output_attentions=True,
        )
    batch, heads = ids.shape[0], model.config.num_attention_heads
    for layer, expected in enumerate(output.attentions):
        got = attention_over_cache(
            record.queries[layer], session.cache.layers[layer].keys, record.scaling[layer], session.padding
        )
        torch.testing.assert_close(got.reshape(batch, heads, -1), expected[:, :, -1].float(), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("spec", ["tova:3", "h2o:3", "snapkv:3", "knorm:3", "streaming:3"])
def test_rows_leaving_the_batch_keep_state_aligned(spec):
    """Finished rows leave mid-generation (different lengths) without breaking per-row eviction state."""
    from breadcrumbs.generation import generate
    from breadcrumbs.policies import policy_from_spec

    model, tokenizer = tiny_model("qwen2", seed=1)
    prompts = ["a\n", "bb bb\n", "ccc ccc ccc\n", "d\n"]
    output = generate(model, tokenizer, prompts, policy=policy_from_spec(spec), max_new_tokens=12, batch_size=4)
    assert len(output.stats) == 4
