"""R-KV chooses the victims of its published scoring, through several evictions on a padded batch.

`reference_rkv_scores` transcribes the authors' reference (`R1KV._compute_scores`, `compute_attention_scores` with
max pooling over a GQA group, `cal_similarity` with retain_direction="last"; github.com/Zefan-Cai/R-KV, rkv/) for one
unpadded row: the cache in temporal order, the last `window` queries, the window cut off. At every eviction of a
left-padded batch, in every layer, row and KV head, the entry our policy evicts must be the generated entry with the
lowest reference score (the prompt is never a candidate with us).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from breadcrumbs.generation import DecodeSession, _left_pad
from breadcrumbs.policies import RKVPolicy
from conftest import tiny_model

WINDOW, KERNEL, LAMBDA = 3, 5, 0.07


def reference_rkv_scores(keys, queries, window, kernel, mix_lambda, threshold=0.5):
    """keys `[1, H, L, D]` in temporal order, queries `[1, H_q, window, D]`: scores of keys[:-window]."""
    batch, query_heads, q_len, dim = queries.shape
    kv_heads, length = keys.shape[1], keys.shape[2]
    grouped = queries.view(batch, kv_heads, query_heads // kv_heads, q_len, dim)
    attn = (grouped @ keys.unsqueeze(2).transpose(3, 4) / math.sqrt(dim)).max(dim=2).values
    attn_sum = F.softmax(attn[:, :, -window:, :-window], dim=-1, dtype=torch.float32).mean(dim=-2)
    attn_cache = F.max_pool1d(attn_sum, kernel_size=kernel, padding=kernel // 2, stride=1)
    unit = keys / (keys.norm(dim=-1, keepdim=True) + 1e-8)
    similarity = unit @ unit.transpose(-1, -2)
    similarity = similarity.masked_fill(torch.eye(length, dtype=torch.bool), 0)
    indices = torch.where(similarity > threshold, torch.arange(length), torch.zeros((), dtype=torch.long))
    retain = indices.max(dim=-1).values
    similarity.scatter_(-1, retain.unsqueeze(-1), 0)
    redundancy = similarity.mean(dim=-2).softmax(dim=-1)[:, :, :-window]
    return attn_cache * mix_lambda - redundancy * (1 - mix_lambda)


class CheckedRKV(RKVPolicy):
    """Before each eviction, computes the reference's choice per layer/row/head; after it, checks ours."""

    def reset(self, session):
        super().reset(session)
        self.checked = 0

    def after_token(self, session):
        held = session.cache.length - session.prompt_mask.shape[1]
        if held < self.budget:
            return super().after_token(session)
        expected = self._reference_victims(session)
        super().after_token(session)
        for layer, per_row in enumerate(expected):
            for row, per_head in enumerate(per_row):
                for head, victim in enumerate(per_head):
                    kept = set(self.slot_state["birth"][layer][row, head].tolist())
                    assert victim not in kept and len(kept) == self.budget - 1, (layer, row, head)
                    self.checked += 1

    def _reference_victims(self, session):
        self._append_births(session, session.cache.length - session.prompt_mask.shape[1])
        self.observe(session)  # the state the policy will score with (rolled back below)
        victims = []
        width = session.prompt_mask.shape[1]
        for layer, cache_layer in enumerate(session.cache.layers):
            births = self.slot_state["birth"][layer]
            per_row = []
            for row in range(births.shape[0]):
                padding = int(session.padding[row])
                per_head = []
                for head in range(births.shape[1]):
                    order = births[row, head].argsort()
                    keys = torch.cat([cache_layer.keys[row, head, padding:width],
                                      cache_layer.keys[row, head, width:][order]])[None, None]
                    groups = self._queries[layer].shape[1] // births.shape[1]
                    queries = self._queries[layer][row : row + 1, head * groups : (head + 1) * groups]
                    scores = reference_rkv_scores(keys.float(), queries.float(), WINDOW, KERNEL, LAMBDA)[0, 0]
                    generated = scores[width - padding :]  # prompt entries are not candidates
                    per_head.append(int(births[row, head][order][generated.argmin()]))
                per_row.append(per_head)
            victims.append(per_row)
        self.slot_state["birth"] = self.slot_state["birth"][..., :-1]
        self._queries = [queries[:, :, :-1] for queries in self._queries]
        self._query_births = self._query_births[:-1]
        return victims


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_rkv_victims_match_reference_through_several_evictions(arch):
    model, tokenizer = tiny_model(arch, seed=3)
    prompts = [tokenizer(text)["input_ids"] for text in ("Countdown: make 31\n", "x-y=2\n", "abc\n")]
    ids, mask = _left_pad(prompts, tokenizer.pad_token_id)
    policy = CheckedRKV(7, window=WINDOW, kernel=KERNEL, mix_lambda=LAMBDA)
    session = DecodeSession(model, policy, ids, mask, max_new_tokens=20)
    session.prefill()
    tokens = torch.randint(5, 90, (16, 3), generator=torch.Generator().manual_seed(1))
    for step in tokens:
        session.feed(step)
    evictions = 16 - 6
    assert policy.checked == evictions * 3 * model.config.num_key_value_heads * model.config.num_hidden_layers


def test_rkv_redundancy_penalises_repeated_keys():
    """Two identical keys and one distinct: a copy is more redundant, and the newest copy is exempted by its twin."""
    from breadcrumbs.policies.rkv import redundancy_scores

    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 1.0]])[None, None]
    scores = redundancy_scores(keys, torch.ones(1, 1, 4, dtype=torch.bool), threshold=0.5)[0, 0]
    assert torch.allclose(scores.sum(), torch.tensor(1.0))
    assert scores[1] > scores[2]  # the older copy is the redundant one; the newest copy's similarity is exempted


@pytest.mark.parametrize("spec", ["streaming:5", "h2o:5", "snapkv:5", "rkv:5", "full", "beacon:4"])
def test_side_state_bytes_are_read_off_the_policy_tensors(qwen2_tiny, spec):
    """Per row: births (int64) per held generated entry, plus H2O's float32 scores, plus SnapKV/R-KV's window of
    8 recorded queries; none for the full cache and beacons."""
    from breadcrumbs.policies import policy_from_spec

    model, tokenizer = qwen2_tiny
    policy = policy_from_spec(spec)
    policy.check(model, tokenizer)
    ids, mask = _left_pad([tokenizer("abc")["input_ids"], tokenizer("a longer one")["input_ids"]], 0)
    session = DecodeSession(model, policy, ids, mask, max_new_tokens=13)
    session.prefill()
    for _ in range(12):
        session.feed(torch.tensor([7, 9]))
    config = model.config
    layers, kv_heads = config.num_hidden_layers, config.num_key_value_heads
    births = layers * kv_heads * 5 * 8
    window_queries = layers * config.num_attention_heads * 8 * (config.hidden_size // config.num_attention_heads) * 4
    expected = {"streaming:5": births, "h2o:5": births + layers * kv_heads * 5 * 4,
                "snapkv:5": births + window_queries, "rkv:5": births + window_queries, "full": 0, "beacon:4": 0}[spec]
    for _, _, _, _, peak_state, mean_state in session.row_stats(session.cache.slot_bytes()):
        assert peak_state == expected
        assert (0 < mean_state < expected) if expected else mean_state == 0
