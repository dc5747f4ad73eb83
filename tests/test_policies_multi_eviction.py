"""Every eviction, not just the first: on a left-padded batch, through ten evictions, each policy's victim in every
layer, row and KV head is the one its reference rule picks on the entries held at that moment.

TOVA, K-norm and SnapKV are checked against kvpress's score formulas (transcribed in
`test_policies_kvpress_reference.py`), applied to the row's held keys in temporal order without padding; H2O against
the original accumulation rule (Zhang et al. 2023, `H2OKVCache_LayerWise`): each held entry accumulates the attention
of every query since it was fed (its own included), scores survive evictions, the `recent` newest are kept, and the
lowest accumulated score goes (ties: the older). R-KV has its own reference test (`test_policies_rkv.py`).
"""

from __future__ import annotations

import pytest
import torch

from breadcrumbs.generation import DecodeSession, _left_pad
from breadcrumbs.policies import H2OPolicy, KnormPolicy, SnapKVPolicy, TOVAPolicy
from breadcrumbs.policies.attention import attention_over_cache
from conftest import tiny_model
from test_policies_kvpress_reference import kvpress_knorm_scores, kvpress_snapkv_scores, kvpress_tova_scores

BUDGET, STEPS, WINDOW, KERNEL = 6, 15, 3, 3


def held_in_order(policy, session, layer, row, head):
    """(births, keys `[1, 1, L, D]`) of the row's prompt (unpadded) + held generated entries, in temporal order."""
    width = session.prompt_mask.shape[1]
    padding = int(session.padding[row])
    births = policy.slot_state["birth"][layer][row, head]
    order = births.argsort()
    keys = session.cache.layers[layer].keys[row, head]
    ordered = torch.cat([keys[padding:width], keys[width:][order]])
    return births[order].tolist(), ordered[None, None].float()


def kvpress_victim(policy, session, layer, row, head):
    """The generated entry kvpress's formula scores lowest (prompt excluded, as we never evict it)."""
    births, keys = held_in_order(policy, session, layer, row, head)
    prompt = keys.shape[2] - len(births)
    kv_heads = session.cache.layers[layer].keys.shape[1]
    groups = policy.model_heads // kv_heads
    if isinstance(policy, TOVAPolicy):
        # TOVA averages all heads of the layer: score with every KV head's keys of this row (same order per head).
        queries = policy._record.queries[layer][row : row + 1]
        keys = torch.cat([held_in_order(policy, session, layer, row, h)[1] for h in range(kv_heads)], dim=1)
        scores = kvpress_tova_scores(queries.float(), keys, groups)[0, head]
    elif isinstance(policy, KnormPolicy):
        scores = kvpress_knorm_scores(keys)[0, 0]
    else:
        queries = policy._queries[layer][row : row + 1, head * groups : (head + 1) * groups].float()
        scores = kvpress_snapkv_scores(queries, keys, groups, WINDOW, KERNEL)[0, 0]
    return births[int(scores[prompt:].argmin())]


class H2OReference:
    """The original H2O accumulation, kept independently per (layer, row, head) as {birth: accumulated score}."""

    def __init__(self):
        self.scores: dict[tuple[int, int, int], dict[int, float]] = {}

    def observe_and_choose(self, policy, session, layer, row, head):
        births = policy.slot_state["birth"][layer][row, head].tolist()
        width = session.prompt_mask.shape[1]
        record = session.last_queries
        weights = attention_over_cache(
            record.queries[layer][row : row + 1], session.cache.layers[layer].keys[row : row + 1],
            record.scaling[layer], session.padding[row : row + 1],
        )[0, head].mean(dim=0)[width:]  # query heads of the group averaged (GQA), generated slots
        table = self.scores.setdefault((layer, row, head), {})
        for birth, weight in zip(births, weights.tolist()):
            table[birth] = table.get(birth, 0.0) + weight
        for gone in set(table) - set(births):
            del table[gone]
        _, recent = policy.protected_counts()
        candidates = [b for b in births if b <= session.tokens_fed - recent]
        return min(candidates, key=lambda b: (table[b], b)) if candidates else None


def checked(policy_class, **settings):
    """A subclass of `policy_class` that checks every eviction against its reference rule."""

    class Checked(policy_class):
        def reset(self, session):
            super().reset(session)
            self.checked = 0
            self.h2o = H2OReference()

        def after_token(self, session):
            self._record = session.last_queries
            self.model_heads = session.model.config.num_attention_heads
            width = session.prompt_mask.shape[1]
            evicting = session.cache.length - width >= self.budget
            expected = {}
            if evicting or isinstance(self, H2OPolicy):  # H2O's reference accumulates at every step
                saved = (dict(self.slot_state),
                         list(getattr(self, "_queries", [])), list(getattr(self, "_query_births", [])))
                self._append_births(session, session.cache.length - width)  # the state scoring will see ...
                self.observe(session)
                choose = self.h2o.observe_and_choose if isinstance(self, H2OPolicy) else kvpress_victim
                for layer in range(len(session.cache.layers)):
                    for row in range(session.batch_size):
                        for head in range(session.cache.layers[layer].keys.shape[1]):
                            expected[layer, row, head] = choose(self, session, layer, row, head)
                self.slot_state = saved[0]  # ... then restored, so that the real hook runs on the same state
                if isinstance(self, SnapKVPolicy):
                    self._queries, self._query_births = saved[1], saved[2]
            super().after_token(session)
            if not evicting:
                return
            for (layer, row, head), victim in expected.items():
                assert victim not in self.slot_state["birth"][layer][row, head].tolist(), (layer, row, head)
                self.checked += 1

    return Checked(BUDGET, **settings)


@pytest.mark.parametrize("name", ["tova", "knorm", "snapkv", "h2o"])
def test_every_eviction_matches_the_reference_rule_on_a_padded_batch(name):
    policy = {
        "tova": lambda: checked(TOVAPolicy),
        "knorm": lambda: checked(KnormPolicy),
        "snapkv": lambda: checked(SnapKVPolicy, window=WINDOW, kernel=KERNEL),
        "h2o": lambda: checked(H2OPolicy, recent=2),
    }[name]()
    model, tokenizer = tiny_model("qwen2", seed=5)
    prompts = [tokenizer(text)["input_ids"] for text in ("Countdown: make 31\n", "x-y=2\n", "ab\n")]
    ids, mask = _left_pad(prompts, tokenizer.pad_token_id)
    session = DecodeSession(model, policy, ids, mask, max_new_tokens=STEPS + 1)
    session.prefill()
    for step in torch.randint(5, 90, (STEPS, len(prompts)), generator=torch.Generator().manual_seed(2)):
        session.feed(step)
    kv_heads, layers = model.config.num_key_value_heads, model.config.num_hidden_layers
    assert policy.checked == (STEPS - BUDGET + 1) * len(prompts) * kv_heads * layers
