"""The invariant: one parallel forward over the student layout equals incremental decoding with physical eviction."""

from __future__ import annotations

import pytest
import torch

from breadcrumbs.beacon import attention_mask_for, build_student_batch
from breadcrumbs.generation import DecodeSession, _left_pad
from breadcrumbs.models import beacon_token_id
from breadcrumbs.beacon.layout import LaggedBeacons, SlidingWindow, expected_peak_entries
from breadcrumbs.policies import FullCache, student_policy
from conftest import ARCHITECTURES, tiny_model

TOLERANCE = 1e-4
RATIOS = [1, 2, 3, 4, 16]
WINDOWS = [SlidingWindow(3), SlidingWindow(10)]  # the trained window control's mask vs window:B eviction
LAGGED = [LaggedBeacons(2, 1), LaggedBeacons(3, 2)]  # beacons with a raw tail of 1 or 2 closed windows


def random_batch(seed: int, vocab: tuple[int, int] = (5, 99)):
    """Prompts of different lengths and completions of different lengths (so rows finish at different times)."""
    generator = torch.Generator().manual_seed(seed)
    prompt_lengths, completion_lengths = [3, 9, 1, 6], [21, 17, 24, 9]
    draw = lambda n: torch.randint(*vocab, (n,), generator=generator).tolist()  # noqa: E731
    return [[1] + draw(p - 1) for p in prompt_lengths], [draw(n) for n in completion_lengths]


def parallel_logits(model, tokenizer, prompts, completions, ratio, padding_side):
    batch = build_student_batch(
        prompts, completions, ratio, beacon_token_id(tokenizer), tokenizer.pad_token_id, padding_side
    )
    with torch.no_grad():
        logits = model(
            input_ids=batch.input_ids, attention_mask=attention_mask_for(model, batch), position_ids=batch.position_ids
        ).logits
    picked = logits.gather(1, batch.predict_index[..., None].expand(-1, -1, logits.shape[-1]))
    return [picked[row, : len(c)] for row, c in enumerate(completions)]


def incremental_logits(model, tokenizer, prompts, completions, ratio):
    """Teacher-forced decoding through the real generation session (physical eviction), rows leaving when done."""
    policy = FullCache() if ratio is None else student_policy(ratio)
    policy.check(model, tokenizer)
    ids, mask = _left_pad(prompts, tokenizer.pad_token_id)
    longest = max(len(c) for c in completions)
    session = DecodeSession(model, policy, ids, mask, max_new_tokens=longest)
    collected = [[] for _ in prompts]
    logits = session.prefill()
    for step in range(longest):
        for row, row_logits in zip(session.rows.tolist(), logits):
            collected[row].append(row_logits)
        keep = torch.tensor([len(completions[row]) > step + 1 for row in session.rows.tolist()])
        session.keep_rows(keep)
        if session.batch_size == 0:
            break
        tokens = torch.tensor([completions[row][step] for row in session.rows.tolist()])
        logits = session.feed(tokens)
    return [torch.stack(rows) for rows in collected], session


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_parallel_student_forward_equals_evicting_decode(arch, attn):
    model, tokenizer = tiny_model(arch, attn)
    prompts, completions = random_batch(seed=len(arch))
    worst = 0.0
    for ratio in RATIOS + LAGGED + WINDOWS + [None]:
        incremental, _ = incremental_logits(model, tokenizer, prompts, completions, ratio)
        for padding_side in ("left", "right"):
            parallel = parallel_logits(model, tokenizer, prompts, completions, ratio, padding_side)
            for row_parallel, row_incremental in zip(parallel, incremental):
                worst = max(worst, (row_parallel - row_incremental).abs().max().item())
    print(f"{arch}/{attn}: max |diff| = {worst:.2e}")
    assert worst <= TOLERANCE


@pytest.mark.parametrize("view", [4, LaggedBeacons(4, 1), SlidingWindow(3)])
def test_mask_is_not_trivially_causal(qwen2_tiny, view):
    """Guard against a vacuous equivalence: the beacon and window layouts must change the logits versus causal."""
    model, tokenizer = qwen2_tiny
    prompts, completions = random_batch(seed=3)
    compressed = parallel_logits(model, tokenizer, prompts, completions, view, "left")
    plain = parallel_logits(model, tokenizer, prompts, completions, None, "left")
    assert max((a - b).abs().max().item() for a, b in zip(compressed, plain)) > 1e-2


def test_window_eviction_is_physical(qwen2_tiny):
    """The window control holds exactly prompt + B generated slots after B or more tokens were fed."""
    model, tokenizer = qwen2_tiny
    prompts, completions = random_batch(seed=4)
    completions = [c[:13] for c in completions]  # 12 tokens fed per row
    _, session = incremental_logits(model, tokenizer, prompts, completions, SlidingWindow(5))
    assert session.cache.length == max(len(p) for p in prompts) + 5 - 1  # evicted to B - 1 after the last forward


def test_eviction_is_physical(qwen2_tiny):
    """After decoding, the cache holds exactly prompt + beacons + open window slots (padding included)."""
    model, tokenizer = qwen2_tiny
    prompts, completions = random_batch(seed=4)
    completions = [c[:13] for c in completions]  # same length: 12 tokens fed per row
    _, session = incremental_logits(model, tokenizer, prompts, completions, 4)
    prompt_width = max(len(p) for p in prompts)
    # 12 fed: beacons after tokens 4 and 8 (token 12 closes a window but nothing followed it), window 9..12 open.
    assert session.cache.length == prompt_width + 2 + 4
    assert session.cache.layers[0].keys.shape[2] == session.cache.length


def test_lagged_beacons_differ_from_plain_beacons(qwen2_tiny):
    """The raw tail changes what a token sees: lag 1 is neither plain beacons nor the full cache."""
    model, tokenizer = qwen2_tiny
    prompts, completions = random_batch(seed=6)
    lagged = parallel_logits(model, tokenizer, prompts, completions, LaggedBeacons(3, 1), "left")
    for other in (3, None):
        plain = parallel_logits(model, tokenizer, prompts, completions, other, "left")
        assert max((a - b).abs().max().item() for a, b in zip(lagged, plain)) > 1e-2


@pytest.mark.parametrize("lag", [1, 2])
def test_lagged_eviction_is_physical(qwen2_tiny, lag):
    """With lag L the cache holds prompt + beacons + the last L closed windows + the open window, as the rule says."""
    model, tokenizer = qwen2_tiny
    prompts, completions = random_batch(seed=4)
    completions = [c[:16] for c in completions]  # 15 tokens fed per row: windows of 3 closed after 3, 6, 9, 12
    _, session = incremental_logits(model, tokenizer, prompts, completions, LaggedBeacons(3, lag))
    prompt_width = max(len(p) for p in prompts)
    # 15 fed: 4 beacons fed (token 15 closed a window that nothing followed), L closed windows raw, 3 open tokens
    assert session.cache.length == prompt_width + 4 + lag * 3 + 3
    assert session.cache.layers[0].keys.shape[2] == session.cache.length
    assert expected_peak_entries(prompt_width, 15, LaggedBeacons(3, lag)) == prompt_width + 4 + (lag + 1) * 3
