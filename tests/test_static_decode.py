"""The static-shape decode path equals the dynamic one: same logits (float tolerance), same greedy tokens, same KV
accounting, on left-padded batches of different lengths, with beacons (c = 2/4, lag 0/1) and evicting baselines;
every decode step sees the same shapes; the compile option traces without recompiling per step."""

from __future__ import annotations

import pytest
import torch

from breadcrumbs import generate, generation
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.generation import DecodeSession, _left_pad
from breadcrumbs.policies import policy_from_spec
from breadcrumbs.policies.cache import SlotLayer
from conftest import tiny_model

SPECS = ["full", "beacon:2", "beacon:4", "beacon:2:lag=1", "beacon:4:lag=1", "streaming:5", "knorm:5", "tova:5"]
TOLERANCE = 1e-5


def teacher_forced(model, tokenizer, spec: str, static: bool, compile: bool = False):
    """Per-step logits of a padded batch fed fixed tokens, rows leaving at different steps; and the session."""
    generator = torch.Generator().manual_seed(7)
    prompts = [[1] + torch.randint(5, 90, (n,), generator=generator).tolist() for n in (2, 8, 5)]
    completions = [torch.randint(5, 90, (n,), generator=generator).tolist() for n in (14, 11, 9)]
    policy = policy_from_spec(spec)
    policy.check(model, tokenizer)
    ids, mask = _left_pad(prompts, tokenizer.pad_token_id)
    session = DecodeSession(model, policy, ids, mask, max(map(len, completions)), static=static, compile=compile)
    steps = []
    logits = session.prefill()
    for step in range(max(map(len, completions))):
        steps.append((session.rows.tolist(), logits))
        session.keep_rows(torch.tensor([len(completions[row]) > step + 1 for row in session.rows.tolist()]))
        if session.batch_size == 0:
            break
        logits = session.feed(torch.tensor([completions[row][step] for row in session.rows.tolist()]))
    return steps, session


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_static_logits_and_accounting_equal_dynamic(arch, attn):
    model, tokenizer = tiny_model(arch, attn)
    for spec in SPECS:
        dynamic, dynamic_session = teacher_forced(model, tokenizer, spec, static=False)
        static, static_session = teacher_forced(model, tokenizer, spec, static=True)
        assert len(dynamic) == len(static)
        for (rows, expected), (static_rows, got) in zip(dynamic, static):
            assert rows == static_rows
            assert (expected - got).abs().max().item() < TOLERANCE, spec
        assert dynamic_session.row_stats(1) == static_session.row_stats(1), spec  # occupied slots, not capacity
        assert dynamic_session.cache.length == static_session.cache.length
        assert static_session.peak_allocated_bytes == static_session.cache.capacity * 3 * static_session.cache.slot_bytes()


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_static_generate_is_token_for_token(arch):
    model, tokenizer = tiny_model(arch, seed=1)
    prompts = ["Countdown: make 31\n", "x-y=2\n", "ab\n"]
    for spec in ("full", "beacon:2", "beacon:4:lag=1", "h2o:6", "snapkv:6"):
        dynamic = generate(model, tokenizer, prompts, policy_from_spec(spec), max_new_tokens=19)
        static = generate(model, tokenizer, prompts, policy_from_spec(spec), max_new_tokens=19, static=True)
        assert static.completion_ids == dynamic.completion_ids, spec
        assert [s.to_dict() for s in static.stats] == [s.to_dict() for s in dynamic.stats], spec
        assert static.peak_allocated_kv_bytes == dynamic.peak_allocated_kv_bytes


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("bucket", [0, 4])
def test_bucketed_static_steps_equal_dynamic(attn, bucket, monkeypatch):
    """Uncompiled, a static step attends over the slots up to a multiple of STATIC_BUCKET (0: all of them, the
    compiled layout); with a bucket of 4 the shapes change every few steps (growing, and shrinking after
    evictions); the masked unoccupied slots leave the logits equal to the dynamic path's."""
    monkeypatch.setattr(generation, "STATIC_BUCKET", bucket)
    model, tokenizer = tiny_model("llama", attn)
    widths = set()
    layer_update = SlotLayer.update

    def recording(self, key_states, value_states, *args, **kwargs):
        keys, values = layer_update(self, key_states, value_states, *args, **kwargs)
        widths.add(keys.shape[2])
        return keys, values

    monkeypatch.setattr(SlotLayer, "update", recording)
    for spec in SPECS:
        dynamic, _ = teacher_forced(model, tokenizer, spec, static=False)
        widths.clear()
        static, session = teacher_forced(model, tokenizer, spec, static=True)
        if bucket:
            assert len(widths) >= (4 if spec == "full" else 2), spec  # the full cache grows through 4+ buckets
            assert all(width % bucket == 0 or width == session.cache.capacity for width in widths), spec
        else:
            assert widths == {session.cache.capacity}, spec
        for (rows, expected), (static_rows, got) in zip(dynamic, static, strict=True):
            assert rows == static_rows
            assert (expected - got).abs().max().item() < TOLERANCE, spec


def test_unpadded_static_steps_pass_no_mask(qwen2_tiny, monkeypatch):
    """By default (STATIC_BUCKET = 1) an unpadded batch's uncompiled static step attends over exactly the held slots
    with no key mask, as the dynamic path does, and equals it; with a bucket the unoccupied slots are masked."""
    model, tokenizer = qwen2_tiny
    masks = []
    forward = type(model).forward

    def recording(self, *args, attention_mask=None, **kwargs):
        masks.append(attention_mask)
        return forward(self, *args, attention_mask=attention_mask, **kwargs)

    monkeypatch.setattr(type(model), "forward", recording)
    prompts = ["Countdown: 1 2 3\n", "Countdown: 4 5 6\n"]
    for spec in ("full", "beacon:4"):
        dynamic = generate(model, tokenizer, prompts, policy_from_spec(spec), max_new_tokens=13)
        masks.clear()
        static = generate(model, tokenizer, prompts, policy_from_spec(spec), max_new_tokens=13, static=True)
        assert static.completion_ids == dynamic.completion_ids, spec
        assert len(masks) >= 13 and all(mask is None for mask in masks), spec
    monkeypatch.setattr(generation, "STATIC_BUCKET", 64)
    masks.clear()
    generate(model, tokenizer, prompts, policy_from_spec("beacon:4"), max_new_tokens=13, static=True)
    assert sum(mask is not None for mask in masks) > len(masks) // 2  # unmasked only where the view is full


def test_every_static_decode_step_has_the_same_shapes(qwen2_tiny, monkeypatch):
    """With STATIC_BUCKET = 0 (the compiled layout, here uncompiled) each one-token forward gets keys/values of the
    full capacity and the same mask tensor; nothing reallocates."""
    monkeypatch.setattr(generation, "STATIC_BUCKET", 0)
    model, tokenizer = qwen2_tiny
    seen = []
    layer_update = SlotLayer.update

    def recording(self, key_states, value_states, *args, **kwargs):
        keys, values = layer_update(self, key_states, value_states, *args, **kwargs)
        if key_states.shape[-2] == 1:
            seen.append((tuple(keys.shape), keys.data_ptr(), self.cache.write_slots.data_ptr()))
        return keys, values

    SlotLayer.update = recording
    try:
        _, session = teacher_forced(model, tokenizer, "beacon:2", static=True)
    finally:
        SlotLayer.update = layer_update
    per_layer = len(session.cache.layers)
    steps = [seen[i : i + per_layer] for i in range(0, len(seen), per_layer)]
    composition = [step for step in steps if step[0][0][0] == 3]  # the steps before the first row left
    assert len(composition) > 5 and all(step == composition[0] for step in composition)
    assert composition[0][0][0][2] == session.cache.capacity


def test_compile_needs_static_and_no_recorded_queries(qwen2_tiny):
    model, tokenizer = qwen2_tiny
    ids, mask = _left_pad([[1, 5, 6]], tokenizer.pad_token_id)
    with pytest.raises(BreadcrumbsError, match="compile=True needs static=True"):
        DecodeSession(model, policy_from_spec("full"), ids, mask, 4, compile=True)
    with pytest.raises(BreadcrumbsError, match="torch.compile cannot capture"):
        DecodeSession(model, policy_from_spec("tova:4"), ids, mask, 4, static=True, compile=True)


def test_compiled_static_step_traces_once(qwen2_tiny, monkeypatch):
    """With torch.compile (the eager backend on CPU: tracing only), the decode step is traced a bounded number of
    times, not once per step, and equals the uncompiled static path."""
    model, tokenizer = qwen2_tiny
    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda module, **_: real_compile(module, backend="eager", dynamic=False))
    torch._dynamo.reset()
    from torch._dynamo.utils import counters

    counters.clear()
    compiled, _ = teacher_forced(model, tokenizer, "beacon:4", static=True, compile=True)
    plain, _ = teacher_forced(model, tokenizer, "beacon:4", static=True)
    assert len(compiled) == len(plain)
    for (_, expected), (_, got) in zip(plain, compiled):
        assert (expected - got).abs().max().item() < TOLERANCE
    # one trace per batch composition (3 rows, 2, 1), plus at most a retrace each: never one per step (~14)
    assert 1 <= counters["stats"]["unique_graphs"] <= 6, dict(counters["stats"])
    torch._dynamo.reset()
