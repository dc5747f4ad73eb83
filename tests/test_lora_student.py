"""LoRA adapters for the student (`model.lora_rank`): only the adapters and the beacon's embedding row train,
checkpoints are ordinary merged models, the frozen reference is merged too, and a resumed adapter run is exact."""

from __future__ import annotations

import pytest
import torch

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.models import beacon_token_id, build_preset_model, load_model
from breadcrumbs.training import config_from_dict
from breadcrumbs.training.adapters import inject_lora, merged_state_dict
from breadcrumbs.training.checkpoint import latest_checkpoint
from breadcrumbs.training.trainer import Trainer, TrainingInterrupted

pytest.importorskip("peft")

CONFIG = {
    "model": {"name": "micro", "lora_rank": 4, "lora_alpha": 8.0, "lora_targets": ["q_proj", "v_proj", "down_proj"]},
    "task": {"name": "countdown", "difficulty": {"k": 3, "max_number": 6, "max_target": 20}, "style": "direct",
             "eval_problems": 2},
    "beacon": {"ratios": [2]},
    "sft": {"steps": 2, "batch_size": 4, "lr": 0.01},
    "rl": {"steps": 2, "batch_size": 4, "group_size": 2, "max_new_tokens": 8, "kl_coef": 0.1},
    "optim": {"weight_decay": 0.1},
    "eval": {"max_new_tokens": 8}, "checkpoint": {"every": 1, "keep": 0},
}


def test_merged_weights_give_the_adapted_models_logits():
    model, tokenizer = build_preset_model("micro", seed=0)
    plain = {key: value.clone() for key, value in model.state_dict().items()}
    inject_lora(model, 4, 8.0, ["q_proj", "v_proj", "down_proj"], beacon_token_id(tokenizer))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.1)  # B starts at zero: give the adapters an update to merge
    merged = merged_state_dict(model)
    assert set(merged) == set(plain)
    q, k = "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight"
    assert not torch.equal(merged[q], plain[q]) and torch.equal(merged[k], plain[k])  # adapted / not adapted
    reference, _ = build_preset_model("micro", seed=0)
    reference.load_state_dict(merged)
    ids = torch.tensor([[3, 4, 5, 6, 7, 8]])
    torch.testing.assert_close(reference(ids).logits, model(ids).logits, rtol=1e-5, atol=1e-5)


def test_only_adapters_and_the_beacon_row_train_and_checkpoints_are_plain(tmp_path):
    trainer = Trainer(config_from_dict(CONFIG), tmp_path / "run", progress=False)
    final = trainer.run()
    start, tokenizer = build_preset_model("micro", seed=0)
    beacon = beacon_token_id(tokenizer)
    trained, _ = load_model(str(final))
    before, after = start.state_dict(), trained.state_dict()
    assert set(before) == set(after)  # no LoRA names: an ordinary checkpoint
    embeddings = ("model.embed_tokens.weight", "lm_head.weight")  # tied in the micro preset: one tensor
    rows = torch.arange(after[embeddings[0]].shape[0]) != beacon
    for key in embeddings:
        assert torch.equal(after[key][rows], before[key][rows])  # frozen rows, weight decay 0 on them
        assert not torch.equal(after[key][beacon], before[key][beacon])
    for key in set(before) - set(embeddings):
        adapted = any(f".{t}." in key for t in CONFIG["model"]["lora_targets"]) and key.endswith("weight")
        assert torch.equal(after[key], before[key]) != adapted, key  # adapted layers moved, the rest did not
    reference, _ = load_model(str(tmp_path / "run" / "reference"))  # the KL reference, merged at RL's start
    assert set(reference.state_dict()) == set(before)


def test_a_killed_adapter_run_resumes_exactly(tmp_path):
    config = config_from_dict(CONFIG)
    straight = Trainer(config, tmp_path / "straight", progress=False)
    straight.run()
    killed = Trainer(config, tmp_path / "killed", progress=False)
    killed.stop_after = 3
    with pytest.raises(TrainingInterrupted):
        killed.run()
    assert latest_checkpoint(tmp_path / "killed").name == "step-3"
    resumed = Trainer(None, tmp_path / "killed", resume=True, progress=False)
    resumed.run()
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert max((a[k] - b[k]).abs().max().item() for k in a) == 0.0


def test_an_unknown_target_is_one_error_before_training(tmp_path):
    config = config_from_dict({**CONFIG, "model": {**CONFIG["model"], "lora_targets": ["qkv"]}})
    with pytest.raises(BreadcrumbsError, match="no module named 'qkv'"):
        Trainer(config, tmp_path / "run", progress=False).run()
    assert not (tmp_path / "run" / "checkpoints").exists()
