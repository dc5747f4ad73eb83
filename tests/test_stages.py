"""The stages as objects: which stages a config plans, and what each says about itself to the loop."""

from __future__ import annotations

import pytest

from breadcrumbs.training import config_from_dict
from breadcrumbs.training.stages import DistillStage, RLStage, SFTStage, build_stages

TASK = {"name": "countdown"}


def stages(**sections):
    return build_stages(config_from_dict({"task": TASK, **sections}))


def test_the_plan_becomes_stage_objects_in_order():
    planned = stages(sft={"steps": 3, "batch_size": 8, "lr": 0.01}, rl={"steps": 2, "batch_size": 16, "group_size": 4},
                     distill={"mode": "two_stage", "steps": 5})
    assert [type(s) for s in planned] == [SFTStage, RLStage, DistillStage]
    assert [(s.name, s.steps) for s in planned] == [("sft", 3), ("rl", 2), ("distill", 5)]
    sft, rl, distill = planned
    assert sft.problems_per_step == 8 and rl.problems_per_step == 4 and distill.problems_per_step == 4
    assert sft.section.lr == 0.01 and rl.section is distill.section
    assert [s.evaluated_before for s in planned] == [False, True, False]
    assert [type(s) for s in stages(sft={"steps": 4}, rl={"steps": 0})] == [SFTStage]


@pytest.mark.parametrize("mode, rl_weight, distill_weight", [("joint", 0.5, None), ("two_stage", 0.0, 0.5),
                                                             ("off", 0.0, None)])
def test_distillation_weight_belongs_to_the_stage_that_distills(mode, rl_weight, distill_weight):
    distill = {"mode": mode, "weight": 0.5, "steps": 1 if mode == "two_stage" else 0}
    planned = stages(rl={"steps": 2}, distill=distill)
    rl = planned[0]
    assert rl.distill_weight(0) == rl_weight and rl.pg_weight == 1.0
    if distill_weight is None:
        assert len(planned) == 1
    else:
        assert planned[1].distill_weight(0) == distill_weight and planned[1].pg_weight == 0.0


def test_warmup_schedule_and_reference_needs():
    rl = stages(rl={"steps": 8, "kl_coef": 0.1},
                distill={"weight": 1.0, "schedule": "linear_warmup", "warmup_steps": 4})[0]
    assert [rl.distill_weight(step) for step in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert rl.needs_reference and not rl.anchored
    assert not stages(rl={"steps": 1, "anchor_weight": 1.0})[0].needs_reference
    assert stages(rl={"steps": 1, "anchor_weight": 1.0})[0].anchored
    frozen = stages(rl={"steps": 1}, distill={"mode": "two_stage", "steps": 1, "teacher": "frozen"})[1]
    assert frozen.needs_reference and not frozen.anchored
