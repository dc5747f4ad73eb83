"""The vectorised eviction (all layers, rows and heads scored and evicted at once) picks the same victims and gives
the same outputs as the per-layer loop it replaced, transcribed here, for every training-free policy, through many
evictions on a left-padded batch with rows leaving."""

from __future__ import annotations

import pytest
import torch

from breadcrumbs.generation import DecodeSession, _left_pad
from breadcrumbs.policies import (
    H2OPolicy, KnormPolicy, RKVPolicy, SnapKVPolicy, StreamingPolicy, TOVAPolicy, policy_from_spec,
)
from breadcrumbs.policies.attention import attention_over_cache
from breadcrumbs.policies.scored import drop_from_state
from breadcrumbs.policies.triattention import TriAttentionPolicy
from conftest import tiny_model

SPECS = ["streaming:5", "streaming:5:sinks=1", "knorm:5", "knorm:5:recent=2", "tova:5", "h2o:6", "h2o:6:recent=0",
         "snapkv:6:window=3:kernel=3", "rkv:6:window=2:kernel=3", "triattention:5"]


def newest_attention(session, layer):
    record = session.last_queries
    return attention_over_cache(record.queries[layer], session.cache.layers[layer].keys, record.scaling[layer],
                                session.padding, record.softcap[layer])


def looped(policy):
    """`policy` made to evict with the per-layer loop of the previous implementation (and H2O to accumulate per
    layer): each layer scored on its own, its victims picked on their own."""

    class Looped(type(policy)):
        def observe(self, session):
            if not isinstance(self, H2OPolicy):
                return super().observe(session)
            width = session.prompt_mask.shape[1]
            updated = []
            for layer in range(len(session.cache.layers)):
                received = newest_attention(session, layer)[..., width:].mean(dim=2)
                previous = self.slot_state["score"][layer]
                updated.append(torch.nn.functional.pad(previous, (0, received.shape[-1] - previous.shape[-1])) + received)
            self.slot_state["score"] = torch.stack(updated)

        def layer_score(self, session, layer):
            width = session.prompt_mask.shape[1]
            if isinstance(self, TOVAPolicy):
                return newest_attention(session, layer)[..., width:].mean(dim=(1, 2))
            if isinstance(self, KnormPolicy):
                keys = session.cache.layers[layer].keys[:, :, width:]
                return -torch.linalg.vector_norm(keys, dim=-1, dtype=torch.float32)
            if isinstance(self, StreamingPolicy):
                return self.slot_state["birth"][layer][:, 0].float()
            if isinstance(self, H2OPolicy):
                return self.slot_state["score"][layer]
            return self.score(session, layer)

        def after_token(self, session):
            cache, width = session.cache, session.prompt_mask.shape[1]
            held = cache.length - width
            self._append_births(session, held)
            self.observe(session)
            self._state_high = sum(state.nbytes for state in self.side_state())
            excess = held - (self.budget - 1)
            if excess <= 0:
                return
            per_layer = []
            for layer in range(len(cache.layers)):
                births = self.slot_state["birth"][layer]
                scores = self.layer_score(session, layer).float()
                if not self.per_head:
                    births = births[:, :1]
                    scores = scores[:, None] if scores.dim() == 2 else scores[:, :1]
                scores = scores.expand_as(births).clone()
                scores[self._protected(births, session.tokens_fed)] = float("inf")
                victims = self._lowest(scores, births, excess)
                per_layer.append(victims.expand(-1, self._kv_heads(cache), -1))
            stacked = torch.stack(per_layer)
            cache.drop_slots(stacked + width)
            self.slot_state = {
                name: torch.stack([drop_from_state(state[layer], per_layer[layer]) for layer in range(len(per_layer))])
                for name, state in self.slot_state.items()
            }

    clone = Looped.__new__(Looped)
    clone.__dict__.update(policy.__dict__)
    return clone


def run(model, tokenizer, policy):
    """Births held and logits after every fed token (rows leaving at different steps)."""
    prompts = [tokenizer(text)["input_ids"] for text in ("Countdown: make 31\n", "x-y=2\n", "ab\n")]
    stops = [17, 12, 15]
    ids, mask = _left_pad(prompts, tokenizer.pad_token_id)
    policy.check(model, tokenizer)
    session = DecodeSession(model, policy, ids, mask, max_new_tokens=max(stops))
    session.prefill()
    tokens = torch.randint(5, 90, (max(stops), len(prompts)), generator=torch.Generator().manual_seed(4))
    trace = []
    for step in range(max(stops) - 1):
        session.keep_rows(torch.tensor([stops[row] > step + 1 for row in session.rows.tolist()]))
        logits = session.feed(tokens[step, session.rows])
        trace.append((logits, policy.slot_state["birth"].sort(dim=-1).values, session.cache.keys.clone()))
    return trace, session.row_stats(1)


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
@pytest.mark.parametrize("spec", SPECS)
def test_vectorised_eviction_equals_the_per_layer_loop(arch, spec):
    model, tokenizer = tiny_model(arch, seed=2)
    ours, our_stats = run(model, tokenizer, policy_from_spec(spec))
    reference, reference_stats = run(model, tokenizer, looped(policy_from_spec(spec)))
    assert our_stats == reference_stats
    for (logits, births, keys), (expected_logits, expected_births, expected_keys) in zip(ours, reference):
        assert torch.equal(births, expected_births)  # the same victims in every layer, row and head
        assert torch.equal(keys, expected_keys)
        assert torch.allclose(logits, expected_logits, atol=1e-6, rtol=0)
    assert len(ours) == len(reference)
    assert ours[-1][1].shape[-1] == policy_from_spec(spec).budget - 1  # evicting for the last ~10 steps


def test_policies_covered():
    """Every training-free scored policy is in the exactness test above."""
    covered = {type(policy_from_spec(spec)) for spec in SPECS}
    assert covered == {StreamingPolicy, KnormPolicy, TOVAPolicy, H2OPolicy, SnapKVPolicy, RKVPolicy, TriAttentionPolicy}
