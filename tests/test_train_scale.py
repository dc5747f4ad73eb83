"""Paper-scale training pieces on CPU: chunked vocabulary projections equal the unchunked computation (values and
gradients), log-probs are those of the distribution the rollouts were sampled from, gradient accumulation leaves
the update unchanged, and the distillation-only stage loads no reference model."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from safetensors.torch import load_file

from breadcrumbs.generation import sample_next
from breadcrumbs.models import build_preset_model
from breadcrumbs.training import config_from_dict, train
from breadcrumbs.training.config import DistillConfig, RLConfig
from breadcrumbs.training.losses import HeadOptions, group_advantages, layout_batch
from breadcrumbs.training.rl import Rollouts, rl_loss, width_groups
from breadcrumbs.training.runtime import Runtime
from breadcrumbs.training.sft import sft_loss

# Chunked and unchunked sums differ only in float32 summation order.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def model_and_tokenizer():
    model, tokenizer = build_preset_model("micro", seed=0)
    return model.train(), tokenizer


def rollouts(tokenizer, rows=4, n=13):
    gen = torch.Generator().manual_seed(0)
    prompts = [[tokenizer.bos_token_id] + torch.randint(10, 90, (3 + r,), generator=gen).tolist() for r in range(rows)]
    completions = [torch.randint(10, 90, (n - 2 * r,), generator=gen).tolist() for r in range(rows)]
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0])
    return Rollouts([None] * rows, prompts, completions, [""] * rows, rewards, rewards >= 1.0,
                    group_advantages(rewards, 2), [2, 4, 3, 2], 0.0, [])


def joint_loss_and_grads(model, tokenizer, chunk_tokens, fused=True, temperature=0.7, direction="forward"):
    """The joint loss (policy gradient with a stale policy, reference KL, distillation KL), its metrics and the
    gradient of every parameter, at one chunk size."""
    rt = Runtime(model, model, tokenizer, chunk_tokens=chunk_tokens)
    batch = rollouts(tokenizer)
    torch.manual_seed(1)
    old = -torch.rand(4, 13) * 5  # a stale policy: ratios != 1, some clipped
    ref = -torch.rand(4, 13) * 5
    rl_cfg = RLConfig(temperature=temperature, kl_coef=0.1)
    cfg = DistillConfig(fused_forward=fused, direction=direction)
    model.zero_grad(set_to_none=True)
    loss, sums = rl_loss(rt, batch, rl_cfg, cfg, 1.0, 0.5, 40.0, old, ref)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), {k: total / count for k, (total, count) in sums.values.items()}, grads


@pytest.mark.parametrize("fused,direction", [(True, "forward"), (False, "reverse")])
def test_chunked_losses_equal_unchunked(model_and_tokenizer, fused, direction):
    model, tokenizer = model_and_tokenizer
    whole = joint_loss_and_grads(model, tokenizer, 0, fused, direction=direction)
    for chunk in (1, 5, 16):  # 5 does not divide the 34 completion tokens
        loss, metrics, grads = joint_loss_and_grads(model, tokenizer, chunk, fused, direction=direction)
        assert abs(loss - whole[0]) <= TOLERANCE * max(1.0, abs(whole[0]))
        for name in ("pg_loss", "ref_kl", "distill_kl", "entropy", "nll_teacher", "clip_frac", "student_agree"):
            assert abs(metrics[name] - whole[1][name]) <= TOLERANCE * max(1.0, abs(whole[1][name])), name
        assert whole[1]["distill_kl"] > 0 and whole[1]["clip_frac"] > 0  # the terms compared are not trivial
        assert grads.keys() == whole[2].keys()
        worst = max((grads[k] - whole[2][k]).abs().max().item() / max(1.0, whole[2][k].abs().max().item())
                    for k in grads)
        assert worst <= TOLERANCE, worst


def test_width_groups_bound_padding():
    widths = [100, 30, 81, 79, 26, 24, 100]
    groups = width_groups(widths, slack=1.25)
    assert groups == [[0, 6, 2], [3], [1, 4, 5]]
    assert sorted(i for group in groups for i in group) == list(range(len(widths)))
    assert all(widths[group[0]] <= 1.25 * widths[i] for group in groups for i in group)


def test_width_grouped_forwards_equal_one_forward(model_and_tokenizer):
    """The unfused joint loss runs one forward per group of similar-width rows (teacher rows of 3 to 30 tokens,
    students at c = 2 to 4): loss, metrics and gradients equal those of one forward over every row (fused)."""
    model, tokenizer = model_and_tokenizer
    batch = rollouts(tokenizer)
    batch.completions = [row * 3 for row in batch.completions[:2]] + [row[:3] for row in batch.completions[2:]]
    widths = [len(p) + len(c) for p, c in zip(batch.prompts, batch.completions)]
    assert len(width_groups(widths)) > 1  # the teacher rows really are split
    results = []
    for fused in (True, False):
        rt = Runtime(model, model, tokenizer, chunk_tokens=5)
        model.zero_grad(set_to_none=True)
        old = -torch.rand(4, 39, generator=torch.Generator().manual_seed(1)) * 5
        loss, sums = rl_loss(rt, batch, RLConfig(temperature=0.7), DistillConfig(fused_forward=fused), 1.0, 0.5,
                             60.0, old)
        loss.backward()
        metrics = {k: total / count for k, (total, count) in sums.values.items()}
        results.append((loss.item(), metrics, {n: p.grad.clone() for n, p in model.named_parameters()}))
    (loss_a, metrics_a, grads_a), (loss_b, metrics_b, grads_b) = results
    assert loss_b == pytest.approx(loss_a, rel=TOLERANCE)
    assert metrics_a["distill_kl"] > 0 and metrics_a["clip_frac"] > 0
    for name, value in metrics_a.items():
        assert metrics_b[name] == pytest.approx(value, rel=TOLERANCE, abs=TOLERANCE), name
    worst = max((grads_a[k] - grads_b[k]).abs().max().item() for k in grads_a)
    assert worst <= TOLERANCE, worst


def test_chunked_sft_loss_equals_unchunked(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    batch = rollouts(tokenizer)
    values = []
    for chunk in (0, 3):
        model.zero_grad(set_to_none=True)
        loss, _ = sft_loss(Runtime(model, model, tokenizer, chunk_tokens=chunk), batch.prompts, batch.completions,
                           batch.ratios, 1.0, 34.0)
        loss.backward()
        values.append((loss.item(), model.get_input_embeddings().weight.grad.clone()))
    assert values[0][0] == pytest.approx(values[1][0], rel=TOLERANCE)
    assert torch.allclose(values[0][1], values[1][1], atol=TOLERANCE)


def test_logprobs_are_those_of_the_sampler(model_and_tokenizer):
    """The policy-gradient log-prob of a token is log of the probability `sample_next` draws it with: logits over
    the temperature, special tokens (the beacon, padding, BOS) banned; and it differs from the T = 1 log-prob."""
    model, tokenizer = model_and_tokenizer
    rt = Runtime(model, model, tokenizer)
    batch = rollouts(tokenizer)
    teacher = layout_batch(batch.prompts, batch.completions, None, rt.beacon_id, rt.pad_id, "cpu")
    with torch.no_grad():
        logits = model(input_ids=teacher.input_ids, attention_mask=teacher.input_ids != rt.pad_id).logits
        row, j = 1, 4
        position = teacher.predict_index[row, j]
        token = teacher.completion_ids[row, j]
        # the sampler's probability of `token`, estimated exactly: the softmax it samples from
        masked = logits[row, position].clone()[None]
        masked[:, list(rt.banned_ids)] = float("-inf")
        expected = torch.log_softmax(masked / 0.6, dim=-1)[0, token]
        got = rt.model(teacher, rt.head_options(0.6))["logprob"][row, j]
        plain = rt.model(teacher, rt.head_options())["logprob"][row, j]
        # and the sampler really draws from that distribution: banned ids never come out
        draws = sample_next(logits[row, position][None].repeat(2000, 1), 0.6, 1.0,
                            torch.Generator().manual_seed(0), rt.banned_ids)
    assert got.item() == pytest.approx(expected.item(), abs=1e-5)
    assert abs(plain.item() - got.item()) > 1e-3
    assert not set(draws.tolist()) & set(rt.banned_ids)


def test_head_options_follow_the_config(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    rt = Runtime(model, model, tokenizer, chunk_tokens=7)
    options = rt.head_options(0.8, DistillConfig(direction="reverse", teacher_grad=True))
    assert options == HeadOptions(7, 0.8, rt.banned_ids, "reverse", True)
    assert rt.beacon_id in options.banned_ids and tokenizer.pad_token_id in options.banned_ids
    assert dataclasses.replace(rt.head_options(), chunk_tokens=0) == HeadOptions()


TINY = {
    "model": {"name": "micro"},
    "task": {"name": "countdown", "difficulty": {"k": 3, "max_number": 6, "max_target": 20}, "style": "direct",
             "eval_problems": 0},
    "beacon": {"ratios": [2, 4]},
    "sft": {"steps": 2, "batch_size": 8, "lr": 0.01},
    "rl": {"steps": 2, "batch_size": 8, "group_size": 2, "max_new_tokens": 10, "temperature": 0.9,
           "minibatch_size": 4, "lr": 0.01},
    "checkpoint": {"every": 100, "keep": 0},
    # Adam divides by sqrt(v) + eps: with a tiny eps it turns float32 noise in near-zero gradients (unused
    # embedding rows) into full-size steps; eps 1 keeps the update proportional to the gradient, so it is compared
    "optim": {"eps": 1.0},
}


def test_gradient_accumulation_gives_the_same_update(tmp_path):
    """Micro-batches of 2 (SFT: 4 forward/backward passes per step; RL: 2 per minibatch update) against whole
    batches: the same optimizer updates, to float32 summation order."""
    finals = []
    for name, micro in (("whole", 0), ("micro", 2)):
        config = config_from_dict({**TINY, "sft": {**TINY["sft"], "micro_batch_size": micro},
                                   "rl": {**TINY["rl"], "micro_batch_size": micro}})
        finals.append(load_file(train(config, tmp_path / name, progress=False) / "model.safetensors"))
    start = load_file(train(config_from_dict({**TINY, "sft": {**TINY["sft"], "steps": 1}, "rl": {"steps": 0}}),
                            tmp_path / "start", progress=False) / "model.safetensors")
    worst = max((finals[0][k] - finals[1][k]).abs().max().item() for k in finals[0])
    moved = max((finals[0][k] - start[k]).abs().max().item() for k in start)
    assert moved > 1e-4 and worst <= 1e-4 * moved, (worst, moved)  # measured: 3.7e-9 against 6.5e-4


def test_distillation_stage_loads_no_reference(tmp_path, monkeypatch):
    from breadcrumbs.training.trainer import Trainer

    stages = []
    monkeypatch.setattr(Trainer, "_reference", lambda self, rt, first: stages.append(first))
    config = config_from_dict({**TINY, "sft": {"steps": 0}, "rl": {**TINY["rl"], "steps": 1, "kl_coef": 0.1},
                               "distill": {"mode": "two_stage", "steps": 1}})
    train(config, tmp_path / "run", progress=False)
    assert stages == [0]  # once, for the RL stage; not for the distillation stage


def test_plan_prints_memory_and_tokens(tmp_path):
    """`train --plan` prints the per-process estimate and token counts without loading weights; chunking, micro-
    batches and sharding shrink exactly the components they should."""
    from typer.testing import CliRunner

    from breadcrumbs.cli import app
    from breadcrumbs.training.plan import make_plan

    result = CliRunner().invoke(app, ["train", "--config", "configs/countdown-tiny.yaml", "--plan", "--processes", "2"])
    assert result.exit_code == 0, result.output
    assert "memory plan per process (2 process(es)" in result.output and "rollouts per step" in result.output
    base = {**TINY, "rl": {**TINY["rl"], "batch_size": 16, "max_new_tokens": 64}}
    plan = lambda **sections: make_plan(config_from_dict({**base, **sections}), prompt=20)  # noqa: E731
    whole = plan(model={"name": "micro", "logit_chunk_tokens": 0})
    chunked = plan(model={"name": "micro", "logit_chunk_tokens": 8})
    # one update is a minibatch of 4 rollouts x 64 positions; chunks of 8 positions hold 1/32 of it
    assert chunked.training["vocabulary projection"] * 32 == whole.training["vocabulary projection"]
    micro = plan(rl={**base["rl"], "micro_batch_size": 2})
    assert micro.training["activations"] * 2 == plan().training["activations"]
    sharded = make_plan(config_from_dict(base), processes=2, sharding="zero2", prompt=20)
    assert sharded.static["AdamW moments"] * 2 == plan().static["AdamW moments"]
    assert sharded.static["weights"] == plan().static["weights"]
    assert whole.tokens["student sequence at c=2 (max)"] == 20 + 64 + 32
