"""TriAttention scores keys by the paper's trigonometric series, recomputed here the long way, through several
evictions on a left-padded batch.

`reference_scores` follows the paper's formula literally and shares nothing with the policy but the cache it reads:
the queries are this test's own copies of each step's recorded query, inverse-rotated with the cos/sin tables of the
model's own rotary module at their positions; each held key is inverse-rotated the same way at its known position
(prompt length + birth - 1); the frequencies come from `rope_theta` and `head_dim` in the config; the series is
summed term by term over frequencies and future offsets. Then z-normalised per query head, max over a KV group,
mean over layers, and the entry each KV head must lose is the lowest.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, Phi3Config

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.generation import DecodeSession, _left_pad, generate
from breadcrumbs.models import build_char_tokenizer
from breadcrumbs.policies import policy_from_spec
from breadcrumbs.policies.scored import BudgetMatch
from breadcrumbs.policies.triattention import TriAttentionPolicy
from conftest import TINY, tiny_model

BUDGET, MAX_OFFSET = 6, 64


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def unrotate(model, vectors: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Pre-RoPE vectors `[N, D]` from post-RoPE ones at `positions [N]`, through the model's own cos/sin."""
    cos, sin = model.model.rotary_emb(vectors[None], positions[None])
    cos, sin = cos[0].double(), sin[0].double()
    scale = cos.pow(2) + sin.pow(2)  # attention_scaling squared (1 for the default RoPE)
    return (vectors.double() * cos - rotate_half(vectors.double()) * sin) / scale


def reference_scores(model, queries, query_positions, keys, key_positions, next_position, max_offset):
    """One row, one layer, one query head: the paper's score of each key. queries `[Q, D]` post-RoPE at
    `query_positions`; keys `[n, D]` post-RoPE at `key_positions`; `next_position` is t."""
    config = model.config
    dim = keys.shape[-1]
    half = dim // 2
    theta = config.rope_parameters["rope_theta"]
    omega = [1.0 / theta ** (2 * f / dim) for f in range(half)]
    q = unrotate(model, queries, query_positions)
    k = unrotate(model, keys, key_positions)
    q_pairs = torch.complex(q[:, :half], q[:, half:])
    k_pairs = torch.complex(k[:, :half], k[:, half:])
    centre = q_pairs.mean(dim=0)
    mean_modulus = q_pairs.abs().mean(dim=0)
    offsets = [2**e for e in range(32) if 2**e <= max_offset]
    scores = []
    for j in range(keys.shape[0]):
        series = 0.0
        for d in offsets:
            for f in range(half):
                amplitude = abs(centre[f]) * abs(k_pairs[j, f])
                phase = math.atan2((centre[f] * k_pairs[j, f].conj()).imag, (centre[f] * k_pairs[j, f].conj()).real)
                distance = next_position + d - int(key_positions[j])
                series += float(amplitude) * math.cos(distance * omega[f] + phase)
        norm = sum(float((mean_modulus[f] - abs(centre[f])) * abs(k_pairs[j, f])) for f in range(half))
        scores.append(series / len(offsets) + norm)
    return torch.tensor(scores, dtype=torch.float64)


class CheckedTriAttention(TriAttentionPolicy):
    """Keeps its own copies of the recorded queries; at each eviction compares its scores with the reference's,
    then checks that exactly the reference's victim left every layer."""

    def reset(self, session):
        super().reset(session)
        self.recorded: list[tuple[list[torch.Tensor], torch.Tensor]] = []
        self.expected: torch.Tensor | None = None
        self.checked = 0

    def observe(self, session):
        super().observe(session)
        record = session.last_queries
        self.recorded.append(([record.queries[layer].clone() for layer in sorted(record.queries)],
                              (session.next_position - 1).clone()))

    def score(self, session, layer):
        ours = super().score(session, layer)
        if layer == 0:
            reference = self._reference(session)
            assert torch.allclose(ours.double(), reference, rtol=1e-4, atol=1e-4), (ours, reference)
            self.expected = self.slot_state["birth"][0].gather(-1, reference.argmin(dim=-1, keepdim=True))[..., 0]
        return ours

    def after_token(self, session):
        self.expected = None
        super().after_token(session)
        if self.expected is None:
            return
        for births in self.slot_state["birth"]:
            assert births.shape[-1] == self.budget - 1
            assert not (births == self.expected[..., None]).any()
            self.checked += 1

    def _reference(self, session) -> torch.Tensor:
        model = session.model
        width = session.prompt_mask.shape[1]
        prompt_lengths = session.prompt_mask.sum(dim=1)
        layers = len(session.cache.layers)
        batch, kv_heads, held = self.slot_state["birth"][0].shape
        query_heads = model.config.num_attention_heads
        group = query_heads // kv_heads
        total = torch.zeros(batch, kv_heads, held, dtype=torch.float64)
        for layer in range(layers):
            keys = session.cache.layers[layer].keys[:, :, width:]
            births = self.slot_state["birth"][layer]
            for row in range(batch):
                queries = torch.stack([step[layer][row] for step, _ in self.recorded], dim=1)  # [H_q, Q, D]
                query_positions = torch.stack([positions[row] for _, positions in self.recorded])
                for kv_head in range(kv_heads):
                    key_positions = prompt_lengths[row] + births[row, kv_head] - 1
                    per_head = []
                    for head in range(kv_head * group, (kv_head + 1) * group):
                        scores = reference_scores(model, queries[head], query_positions, keys[row, kv_head],
                                                  key_positions, int(session.next_position[row]), self.max_offset)
                        per_head.append((scores - scores.mean()) / scores.std(unbiased=False).clamp_min(1e-6))
                    total[row, kv_head] += torch.stack(per_head).amax(dim=0)
        return total / layers


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_triattention_matches_the_paper_formula_through_several_evictions(arch):
    model, tokenizer = tiny_model(arch, seed=5)
    prompts = [tokenizer(text)["input_ids"] for text in ("Countdown: make 31\n", "x-y=2\n", "abc\n")]
    ids, mask = _left_pad(prompts, tokenizer.pad_token_id)
    policy = CheckedTriAttention(BUDGET, max_offset=MAX_OFFSET)
    policy.check(model, tokenizer)
    session = DecodeSession(model, policy, ids, mask, max_new_tokens=16)
    session.prefill()
    for step in torch.randint(5, 90, (12, 3), generator=torch.Generator().manual_seed(2)):
        session.feed(step)
    assert policy.checked == (12 - BUDGET + 1) * model.config.num_hidden_layers


def test_generation_keeps_exactly_the_budget(qwen2_tiny):
    model, tokenizer = qwen2_tiny
    prompts = ["abc", "a longer prompt"]
    output = generate(model, tokenizer, prompts, policy_from_spec("triattention:5"), max_new_tokens=14)
    for prompt, stats in zip(prompts, output.stats):
        assert stats.generated_tokens == 14
        assert stats.peak_kv_entries == stats.prompt_tokens + 5


def test_specs_settings_and_errors():
    policy = policy_from_spec("triattention:@beacon:4")
    assert policy.match == BudgetMatch("beacon:4") and policy.label == "triattention:@beacon:4"
    assert policy_from_spec("triattention:8:recent=2:max_offset=256").label == "triattention:8:recent=2:max_offset=256"
    for bad, message in (("triattention", "needs a KV budget"), ("triattention:8:max_offset=0", "max_offset"),
                         ("triattention:8:window=2", "takes: recent, max_offset")):
        with pytest.raises(BreadcrumbsError, match=message) as error:
            policy_from_spec(bad)
        assert "\n" not in str(error.value)


def test_partial_rotary_is_refused():
    tokenizer = build_char_tokenizer()
    config = Phi3Config(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
                        eos_token_id=None, partial_rotary_factor=0.5, **TINY)
    model = AutoModelForCausalLM.from_config(config)
    with pytest.raises(BreadcrumbsError, match="partial rotary"):
        TriAttentionPolicy(8).check(model, tokenizer)


def test_cli_eval_runs_triattention_matched_to_beacons(tmp_path, capsys):
    from breadcrumbs.cli import main

    out = tmp_path / "r.jsonl"
    main(["eval", "--model", "micro", "--task", "linsys", "--n", "2", "--methods", "triattention:@beacon:4",
          "--max-new-tokens", "12", "--out", str(out), "--quiet"])
    assert "| triattention:@beacon:4 |" in capsys.readouterr().out
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["method"] for r in records} == {"beacon:4", "triattention:@beacon:4"}
    peaks = {(r["method"], r["problem_id"]): r["peak_kv_entries"] for r in records}
    for (method, problem), peak in peaks.items():
        if method.startswith("triattention"):
            assert peak == peaks[("beacon:4", problem)]
