"""The distillation term: exactly 0 without beacons, positive with them, and its gradient trains the beacon."""

from __future__ import annotations

import pytest
import torch

from breadcrumbs.models import build_preset_model
from breadcrumbs.training.config import DistillConfig, RLConfig
from breadcrumbs.training.losses import group_advantages, grpo_token_loss
from breadcrumbs.training.rl import Rollouts, rl_loss
from breadcrumbs.training.runtime import Runtime


@pytest.fixture(scope="module")
def runtime():
    model, tokenizer = build_preset_model("micro", seed=0)
    return Runtime(model.train(), model, tokenizer)


def rollouts(rt, ratio, n=12, rows=4):
    gen = torch.Generator().manual_seed(0)
    prompts = [[rt.tokenizer.bos_token_id] + torch.randint(10, 90, (3 + r,), generator=gen).tolist() for r in range(rows)]
    completions = [torch.randint(10, 90, (n - r,), generator=gen).tolist() for r in range(rows)]
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0])
    return Rollouts(
        [None] * rows, prompts, completions, [""] * rows, rewards, rewards >= 1.0, group_advantages(rewards, 2),
        [ratio] * rows if isinstance(ratio, int) else list(ratio), 0.0, [],
    )


def distill_only(rt, batch, fused=True, direction="forward"):
    rt.model.zero_grad(set_to_none=True)
    cfg = DistillConfig(fused_forward=fused, direction=direction)
    tokens = float(sum(len(c) for c in batch.completions))
    loss, sums = rl_loss(rt, batch, RLConfig(), cfg, rl_weight=1.0, distill_weight=1.0, denominator=tokens)
    return loss, sums.values["distill_kl"][0] / sums.values["distill_kl"][1]


@pytest.mark.parametrize("fused", [True, False])
def test_distill_is_exactly_zero_without_beacons(runtime, fused):
    # ratio >= completion length: the student layout has no beacon, so it is the teacher layout.
    _, kl = distill_only(runtime, rollouts(runtime, ratio=12), fused)
    assert kl == 0.0
    _, kl = distill_only(runtime, rollouts(runtime, ratio=64), fused, direction="reverse")
    assert kl == 0.0


@pytest.mark.parametrize("ratio", [2, 4, [2, 4, 8, 2]])
def test_distill_positive_with_beacons_and_gradient_reaches_beacon_row(runtime, ratio):
    rt = runtime
    batch = rollouts(rt, ratio=ratio)
    batch.advantages.zero_()  # isolate the distillation gradient (the policy-gradient term is then 0)
    loss, kl = distill_only(rt, batch)
    assert kl > 0
    loss.backward()
    grad = rt.base.get_input_embeddings().weight.grad
    assert grad is not None and grad[rt.beacon_id].abs().sum() > 0


def test_teacher_side_detached_unless_asked(runtime):
    """teacher_grad false: the teacher's distribution is a constant target; true: gradient also flows through it,
    so the two gradients differ."""
    rt = runtime
    batch = rollouts(rt, ratio=3)
    batch.advantages.zero_()
    grads = []
    for teacher_grad in (False, True):
        rt.model.zero_grad(set_to_none=True)
        cfg = DistillConfig(teacher_grad=teacher_grad, fused_forward=False)
        loss, _ = rl_loss(rt, batch, RLConfig(), cfg, rl_weight=0.0, distill_weight=1.0, denominator=40.0)
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in rt.base.parameters() if p.grad is not None]))
    assert grads[0].norm() > 0 and not torch.allclose(grads[0], grads[1])


def test_group_advantages_and_clipping():
    adv = group_advantages(torch.tensor([1.0, 0.0, 1.0, 1.0]), group_size=2)
    assert torch.allclose(adv, torch.tensor([1.0, -1.0, 0.0, 0.0]), atol=1e-4)
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    for weight in (0.0, 0.5):  # only the negative advantages shrink; 1.0 is GRPO
        weighted, plain = group_advantages(rewards, 4, negative_weight=weight), group_advantages(rewards, 4)
        assert torch.allclose(weighted, torch.where(plain < 0, weight * plain, plain)) and (plain < 0).any()
    logp = torch.tensor([[0.0, 0.0]])
    old = torch.log(torch.tensor([[0.5, 2.0]]))  # ratios 2 and 0.5
    mask = torch.ones(1, 2)
    loss, clipped = grpo_token_loss(logp, old, torch.tensor([1.0]), mask, 0.2, 0.2)
    # positive advantage: ratio 2 is clipped to 1.2; ratio 0.5 is kept (pessimistic bound)
    assert torch.allclose(loss, torch.tensor([[-1.2, -0.5]])) and clipped.tolist() == [[1.0, 0.0]]
