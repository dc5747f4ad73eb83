"""Our TOVA / K-norm / SnapKV choose the same victims as kvpress's published scoring formulas.

kvpress 0.5.5 (the reference implementation) pins `transformers<5.3` and would downgrade our transformers 5.24, so it
is not installed (and never a dependency). These tests re-derive its `TOVAPress`, `KnormPress` and `SnapKVPress`
`score()` formulas line by line (kvpress/presses/{tova,knorm,snapkv}_press.py, v0.5.5) on the same prefilled keys and
queries of a real tiny model, and check that the entry our policy evicts when its budget first fills is the
lowest-scored generated entry under kvpress's formula (the prompt, which we never evict, excluded). If kvpress ever
becomes importable next to our pins, the same comparison can call it directly.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from breadcrumbs.generation import DecodeSession, _left_pad
from breadcrumbs.policies import FullCache, KnormPolicy, SnapKVPolicy, TOVAPolicy
from conftest import tiny_model

STEPS = 14
WINDOW, KERNEL = 4, 5


class RecordingFullCache(FullCache):
    """Full cache that keeps every step's recorded queries."""

    needs_queries = True

    def reset(self, session):
        self.steps = []

    def after_token(self, session):
        self.steps.append({layer: q.clone() for layer, q in session.last_queries.queries.items()})


def run(model, tokenizer, policy, prompt, tokens):
    ids, mask = _left_pad([tokenizer(prompt)["input_ids"]], tokenizer.pad_token_id)
    session = DecodeSession(model, policy, ids, mask, max_new_tokens=len(tokens) + 1)
    session.prefill()
    for token in tokens:
        session.feed(torch.tensor([token]))
    return session


def repeat_kv(keys, groups):
    batch, heads, length, dim = keys.shape
    return keys[:, :, None].expand(batch, heads, groups, length, dim).reshape(batch, heads * groups, length, dim)


def kvpress_tova_scores(query, keys, groups):
    """TOVAPress.score with attentions of the last token: softmax over all keys, drop the last, head mean."""
    attn = torch.softmax(query[:, :, None] @ repeat_kv(keys, groups).transpose(2, 3) / math.sqrt(keys.shape[-1]), -1)
    scores = attn[..., -1:, :-1].mean(1)  # [B, 1, L-1]
    scores = scores.repeat(1, keys.shape[1], 1)
    return F.pad(scores, (0, 1), value=scores.max().item() + 1)


def kvpress_knorm_scores(keys):
    return -torch.linalg.vector_norm(keys, dim=-1, dtype=torch.float32)


def kvpress_snapkv_scores(window_queries, keys, groups, window, kernel):
    """SnapKVPress.compute_window_attention + score (window queries given post-rope, as kvpress recomputes them)."""
    batch, kv_heads, length, _ = keys.shape
    attn = window_queries @ repeat_kv(keys, groups).transpose(2, 3) / math.sqrt(keys.shape[-1])
    mask = torch.triu(torch.ones_like(attn) * float("-inf"), diagonal=length - window + 1)
    attn = torch.softmax(attn + mask, dim=-1, dtype=torch.float32)[..., :-window]
    scores = attn.mean(dim=-2)
    scores = F.avg_pool1d(scores, kernel_size=kernel, padding=kernel // 2, stride=1)
    scores = scores.view(batch, kv_heads, groups, length - window).mean(2)
    return F.pad(scores, (0, window), value=scores.max().item() + 1)


def our_victims(policy, session, steps):
    """Birth (1-based generated index) evicted per layer and KV head at the first eviction."""
    victims = []
    for births in policy.slot_state["birth"]:
        row = []
        for head in births[0].tolist():
            missing = set(range(1, steps + 1)) - set(head)
            assert len(missing) == 1
            row.append(missing.pop())
        victims.append(row)
    return victims


@pytest.mark.parametrize("arch,prompt", [("qwen2", "Countdown: make 31 from [11,5,6,19]\n"), ("llama", "x-y=2\n")])
def test_victims_match_kvpress_formulas(arch, prompt):
    model, tokenizer = tiny_model(arch, seed=2)
    groups = model.config.num_attention_heads // model.config.num_key_value_heads
    tokens = torch.randint(5, 90, (STEPS,), generator=torch.Generator().manual_seed(len(prompt))).tolist()
    reference = RecordingFullCache()
    full = run(model, tokenizer, reference, prompt, tokens)
    width = full.prompt_mask.shape[1]
    agreements = 0
    for name, policy in (
        ("tova", TOVAPolicy(STEPS)), ("knorm", KnormPolicy(STEPS)), ("snapkv", SnapKVPolicy(STEPS, WINDOW, KERNEL))
    ):
        ours = our_victims(policy, run(model, tokenizer, policy, prompt, tokens), STEPS)
        for layer, layer_victims in enumerate(ours):
            keys = full.cache.layers[layer].keys
            if name == "tova":
                scores = kvpress_tova_scores(reference.steps[-1][layer], keys, groups)
            elif name == "knorm":
                scores = kvpress_knorm_scores(keys)
            else:
                window = torch.stack([step[layer] for step in reference.steps[-WINDOW:]], dim=2)
                scores = kvpress_snapkv_scores(window, keys, groups, WINDOW, KERNEL)
            generated = scores[0, :, width:]  # the prompt is never evicted here
            expected = (generated.argmin(dim=-1) + 1).tolist()
            assert layer_victims == expected, (name, layer)
            agreements += len(expected)
    assert agreements > 0
