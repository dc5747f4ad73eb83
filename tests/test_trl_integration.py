"""`breadcrumbs.integrations.trl`: TRL's GRPOTrainer plus the beacon distillation loss, on micro models on CPU.

The distillation term moves the student; on one fixed batch it equals `rl_loss`'s distillation term (value and
gradient) and the joint loss equals `rl_loss`'s joint loss; the checkpoint loads in `breadcrumbs eval`; the beacon
(and every special token but EOS) is never sampled; a raising reward is one error naming it; PEFT/LoRA and
`accelerate launch` with 2 processes (DDP, gloo) work; the README's TRL commands run as written.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("trl")
pytest.importorskip("datasets")

from datasets import Dataset  # noqa: E402

from breadcrumbs.beacon.layout import LaggedBeacons  # noqa: E402
from breadcrumbs.errors import BreadcrumbsError  # noqa: E402
from breadcrumbs.generation import banned_token_ids, eos_token_ids  # noqa: E402
from breadcrumbs.integrations.trl import BeaconGRPOConfig, BeaconGRPOTrainer  # noqa: E402
from breadcrumbs.models import build_preset_model  # noqa: E402
from breadcrumbs.training.config import DistillConfig, RLConfig  # noqa: E402
from breadcrumbs.training.rl import Rollouts, rl_loss  # noqa: E402
from breadcrumbs.training.runtime import Runtime  # noqa: E402
from cli_runner import run_cli, write_jsonl  # noqa: E402
from test_train_ddp import NO_DEEPSPEED, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# The trainer's distillation loss vs `rl_loss`'s on the same rollouts (float32, micro model): the same per-token KL
# from a different batching (rl_loss's fused teacher + student forward), so equal to float rounding.
TOLERANCE = 1e-5
PROMPTS = ["1+2=?", "10+20=?", "3=?", "7+7+7=?"]


def micro(scale: float = 1.0):
    """A micro model and its tokenizer; `scale` > 1 sharpens the random weights, so the teacher's next-token
    distribution depends on its context and the beacon mask visibly changes the student's."""
    model, tokenizer = build_preset_model("micro")
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 2:
                param.mul_(scale)
    return model, tokenizer


def dataset(rows: int = 16) -> Dataset:
    return Dataset.from_list([{"prompt": f"{i}+{i % 3}=?", "answer": str(i + i % 3)} for i in range(rows)])


def distinct(prompts, completions, **columns):
    """A reward that varies between samples: distinct characters / 10."""
    return [len(set(c)) / 10 for c in completions]


def constant(prompts, completions, **columns):
    """All advantages 0: TRL's own loss has zero gradient, only the distillation term trains."""
    return [1.0] * len(completions)


def boom(prompts, completions, **columns):
    raise ValueError("no answer column")


def config(out: Path, **changes) -> BeaconGRPOConfig:
    base = dict(
        output_dir=str(out), per_device_train_batch_size=8, num_generations=4, max_completion_length=16, max_steps=2,
        use_cpu=True, bf16=False, report_to="none", logging_steps=1, save_strategy="no", learning_rate=1e-2, seed=0,
        beacon_ratios=[2], disable_tqdm=True,
    )
    return BeaconGRPOConfig(**{**base, **changes})


def fixed_batch(tokenizer, width: int = 12, lengths: tuple[int, ...] = (12, 5, 9, 1), seed: int = 0) -> dict:
    """One TRL micro-batch (`_compute_loss`'s inputs): left-padded prompts of different lengths, right-padded
    completions of `lengths` tokens (no special token), advantages of both signs."""
    prompts = [tokenizer(text)["input_ids"] for text in PROMPTS]
    generator = torch.Generator().manual_seed(seed)
    pad, longest = tokenizer.pad_token_id, max(map(len, prompts))
    prompt_ids = torch.tensor([[pad] * (longest - len(p)) + p for p in prompts])
    prompt_mask = torch.tensor([[0] * (longest - len(p)) + [1] * len(p) for p in prompts])
    first_plain = max(banned_token_ids(tokenizer, [tokenizer.eos_token_id])) + 1
    completion_ids = torch.randint(first_plain, len(tokenizer), (len(prompts), width), generator=generator)
    completion_mask = (torch.arange(width) < torch.tensor(lengths)[:, None]).long()
    completion_ids = completion_ids.masked_fill(completion_mask == 0, pad)
    return {
        "prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "completion_ids": completion_ids,
        "completion_mask": completion_mask, "advantages": torch.randn(len(prompts), generator=generator),
        "num_items_in_batch": completion_mask.sum(),
    }


def student_kl(trainer: BeaconGRPOTrainer, inputs: dict) -> float:
    """The trainer's distillation loss on `inputs` in eval mode (per-token mean for `dapo`), without gradient."""
    trainer.model.eval()
    with torch.no_grad():
        value = trainer.distillation_loss(inputs).item()
    trainer.model.train()
    trainer._metrics["eval"].clear()
    return value


def params(model) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def test_distillation_moves_the_student(tmp_path: Path) -> None:
    """With a constant reward (TRL's loss has zero gradient) 6 steps of distillation cut the student's KL on a
    fixed batch at least 5-fold and raise its greedy agreement; with distill_weight 0 the weights do not move."""
    model, tokenizer = micro(scale=4.0)
    start = params(model)
    trainer = BeaconGRPOTrainer(model, constant, config(tmp_path, max_steps=6), train_dataset=dataset(),
                                processing_class=tokenizer)
    inputs = fixed_batch(tokenizer)
    before = student_kl(trainer, inputs)
    trainer.train()
    after = student_kl(trainer, inputs)
    assert after < before / 5, (before, after)
    logged = [h for h in trainer.state.log_history if "beacon/distill_kl" in h]
    assert len(logged) == 6 and logged[-1]["beacon/distill_kl"] < logged[0]["beacon/distill_kl"]
    assert logged[-1]["beacon/student_agree"] >= logged[0]["beacon/student_agree"]

    model, tokenizer = micro(scale=4.0)
    control = BeaconGRPOTrainer(model, constant, config(tmp_path, max_steps=2, distill_weight=0.0),
                                train_dataset=dataset(), processing_class=tokenizer)
    control.train()
    assert all(torch.equal(value, start[name]) for name, value in params(control.plain_model()).items())
    assert not any("beacon/distill_kl" in h for h in control.state.log_history)


@pytest.mark.parametrize(("loss_type", "loss_norm", "ratios", "lag"), [
    ("grpo", "sequence", [2], 0),
    ("dapo", "token", [3], 1),
])
def test_one_batch_matches_rl_loss(tmp_path: Path, loss_type: str, loss_norm: str, ratios: list, lag: int) -> None:
    """On one fixed batch: the trainer's distillation loss and its gradient equal `rl_loss`'s distillation term
    (its joint loss with the term minus without, fused teacher + student forward), and TRL's loss plus the term
    equals `rl_loss`'s joint loss, within TOLERANCE."""
    model, tokenizer = micro(scale=4.0)
    trainer = BeaconGRPOTrainer(model, distinct, config(tmp_path, loss_type=loss_type, beacon_ratios=ratios,
                                                        beacon_lag=lag), train_dataset=dataset(),
                                processing_class=tokenizer)
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train; one micro-batch per update here
    trainer.model.train()
    inputs = fixed_batch(tokenizer)
    lm = trainer.plain_model()

    def grads(loss: torch.Tensor) -> list[torch.Tensor]:
        lm.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in lm.parameters()]

    ours = trainer.distillation_loss(inputs)
    ours_grads = grads(ours)
    joint = trainer._compute_loss(trainer.model, inputs)

    rt = Runtime(lm, lm, tokenizer)
    rows = len(PROMPTS)
    view = LaggedBeacons(ratios[0], lag) if lag else ratios[0]
    rollouts = Rollouts(
        [None] * rows, [p[m.bool()].tolist() for p, m in zip(inputs["prompt_ids"], inputs["prompt_mask"])],
        [c[m.bool()].tolist() for c, m in zip(inputs["completion_ids"], inputs["completion_mask"])], [""] * rows,
        torch.zeros(rows), torch.zeros(rows, dtype=torch.bool), inputs["advantages"], [view] * rows, 0.0, [],
    )
    rl_cfg = RLConfig(loss_norm=loss_norm, temperature=trainer.temperature)
    distill_cfg = DistillConfig(fused_forward=True)
    denominator = float(rows if loss_norm == "sequence" else inputs["num_items_in_batch"])
    with_kl, _ = rl_loss(rt, rollouts, rl_cfg, distill_cfg, 1.0, 1.0, denominator)
    without_kl, _ = rl_loss(rt, rollouts, rl_cfg, distill_cfg, 1.0, 0.0, denominator)
    term_grads = [a - b for a, b in zip(grads(with_kl), grads(without_kl))]

    assert ours.item() > 1e-3  # a KL worth comparing
    assert abs(ours.item() - (with_kl - without_kl).item()) < TOLERANCE
    assert max((a - b).abs().max().item() for a, b in zip(ours_grads, term_grads)) < TOLERANCE
    assert abs(joint.item() - with_kl.item()) < TOLERANCE


def test_checkpoint_loads_in_breadcrumbs_eval(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Two joint steps, `save_model`, then `breadcrumbs eval` on the user's JSONL and reward; config.breadcrumbs
    records ratios, lag and student steps; no rollout ever held a banned token."""
    write_jsonl(tmp_path / "data.jsonl", list(dataset(40)))
    (tmp_path / "reward.py").write_text(
        "def distinct(prompts, completions, answer, **columns):\n"
        "    return [len(set(c)) / 10 for c in completions]\n"
    )
    model, tokenizer = micro()
    trainer = BeaconGRPOTrainer(model, distinct, config(tmp_path / "run", beacon_ratios=[2, 4], beacon_lag=1),
                                train_dataset=dataset(), processing_class=tokenizer)
    sampled = []
    generate = trainer._generate_and_score_completions
    trainer._generate_and_score_completions = lambda rows: sampled.append(out := generate(rows)) or out
    trainer.train()
    trainer.save_model(str(tmp_path / "model"))

    banned = set(banned_token_ids(tokenizer, eos_token_ids(model, tokenizer)))
    assert trainer.beacon_id in banned and len(sampled) == 2
    assert not banned & {int(t) for batch in sampled for t in batch["completion_ids"][batch["completion_mask"] > 0]}
    saved = json.loads((tmp_path / "model" / "config.json").read_text())["breadcrumbs"]
    assert (saved["ratios"], saved["lag"], saved["layout"], saved["student_steps"]) == ([2, 4], 1, "beacon", 2)
    generation = json.loads((tmp_path / "model" / "generation_config.json").read_text())
    assert trainer.beacon_id in generation["suppress_tokens"]  # transformers' own generate never samples it

    code, out, err = run_cli(capsys, "eval", "--model", str(tmp_path / "model"), "--task", "dataset",
                         "--task-path", str(tmp_path / "data.jsonl"), "--reward", f"{tmp_path}/reward.py:distinct",
                         "--split", "none", "--n", "2", "--methods", "full,beacon:2:lag=1", "--max-new-tokens", "8",
                         "--out", str(tmp_path / "results.jsonl"), "-q")
    assert code == 0, err
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {r["method"] for r in records} == {"full", "beacon:2:lag=1"} and len(records) == 4
    assert "never trained" not in err + out


def test_a_raising_reward_is_one_error_naming_it(tmp_path: Path) -> None:
    model, tokenizer = micro()
    trainer = BeaconGRPOTrainer(model, [distinct, boom], config(tmp_path), train_dataset=dataset(),
                                processing_class=tokenizer)
    with pytest.raises(BreadcrumbsError, match=r"^reward function 'boom' raised ValueError: no answer column"):
        trainer.train()


@pytest.mark.parametrize(("changes", "message"), [
    ({"beacon_ratios": [0]}, "compression ratio must be an integer >= 1"),
    ({"beacon_ratios": []}, "beacon_ratios needs at least one"),
    ({"beacon_lag": -1}, "lag must be an integer >= 0"),
    ({"distill_direction": "sideways"}, "distill_direction must be one of forward, reverse"),
    ({"distill_weight": -1.0}, "distill_weight must be >= 0"),
])
def test_bad_beacon_settings_are_one_error(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(BreadcrumbsError, match=message):
        config(tmp_path, **changes)


def test_peft_lora_trains_and_saves_merged(tmp_path: Path) -> None:
    """LoRA adapters get the distillation gradient too; the final save is the merged model, which loads."""
    peft = pytest.importorskip("peft")
    from breadcrumbs.models import load_model

    model, tokenizer = micro()
    start = params(model)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = BeaconGRPOTrainer(model, distinct, config(tmp_path / "run"), train_dataset=dataset(),
                                processing_class=tokenizer, peft_config=lora)
    trainer.train()
    assert any("beacon/distill_kl" in h for h in trainer.state.log_history)
    trainer.save_model(str(tmp_path / "model"))
    assert not (tmp_path / "model" / "adapter_config.json").exists()
    loaded, _ = load_model(str(tmp_path / "model"))
    weights = loaded.state_dict()
    assert set(weights) == set(start)
    query = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(weights[query], start[query])
    assert loaded.config.breadcrumbs["student_steps"] == 2


def test_readme_trl_commands_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture) -> None:
    """The README's "through TRL" section: the example on "Bring your own task"'s JSONL and reward (fewer steps), then
    `breadcrumbs eval` on what it saved."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Bring your own task\n", 1)[1].split("\n## ", 1)[0]
    make_data, reward = re.findall(r"```python\n(.*?)```", section, re.S)[:2]
    trl_section = readme.split("## Bring your own task, through TRL\n", 1)[1].split("\n## ", 1)[0]
    (commands,) = re.findall(r"```bash\n(.*?)```", trl_section, re.S)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BREADCRUMBS", str(ROOT))
    (tmp_path / "make_data.py").write_text(make_data)
    (tmp_path / "reward.py").write_text(reward)
    subprocess.run([sys.executable, "make_data.py"], check=True)
    train, evaluate = [shlex.split(os.path.expandvars(line)) for line in commands.strip().splitlines()]
    assert train[:2] == ["python", f"{ROOT}/examples/trl_beacons.py"] and evaluate[:2] == ["breadcrumbs", "eval"]
    shrink = ["--max_steps", "2", "--use_cpu", "true", "--disable_tqdm", "true"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, *train[1:], *shrink], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    code, out, err = run_cli(capsys, *evaluate[1:], "--n", "2", "-q")
    assert code == 0, err
    assert "| beacon:4 |" in out


def test_the_core_imports_without_trl() -> None:
    """With trl, datasets and peft unimportable, the package and its CLI import; the integration says what to
    install."""
    code = (
        "import sys\n"
        "for name in ('trl', 'datasets', 'peft'): sys.modules[name] = None\n"
        "import breadcrumbs, breadcrumbs.cli, breadcrumbs.integrations, breadcrumbs.training\n"
        "try:\n"
        "    import breadcrumbs.integrations.trl\n"
        "except ModuleNotFoundError as err:\n"
        "    print(err)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "needs TRL: pip install 'breadcrumbs[trl]'" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("launch, kind", [
    (["--multi_gpu"], "MULTI_CPU"),
    pytest.param(["--use_deepspeed", "--zero_stage", "2"], "DEEPSPEED", marks=NO_DEEPSPEED),
], ids=["ddp", "deepspeed_zero2"])
def test_accelerate_launch_two_processes(tmp_path: Path, launch: list[str], kind: str) -> None:
    """`accelerate launch --num_processes 2` on CPU (gloo), DDP or DeepSpeed ZeRO-2: each rank distils on its own
    rollouts, yet both end with the same weights, moved from the start: the distillation gradient is all-reduced
    too."""
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", *launch, "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
         free_port(), str(worker), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"world 2 {kind}" in result.stdout
    first, second = (torch.load(tmp_path / f"params-rank{rank}.pt") for rank in (0, 1))
    start, _ = micro()
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert not all(torch.equal(first[name], value) for name, value in start.state_dict().items())


WORKER = """
import sys, torch
from datasets import Dataset
from breadcrumbs.integrations.trl import BeaconGRPOConfig, BeaconGRPOTrainer
from breadcrumbs.models import build_preset_model
out = sys.argv[1]
model, tokenizer = build_preset_model("micro")
def distinct(prompts, completions, **columns):
    return [len(set(c)) / 10 for c in completions]
args = BeaconGRPOConfig(output_dir=out, per_device_train_batch_size=4, num_generations=4, max_completion_length=12,
                        max_steps=2, use_cpu=True, bf16=False, report_to="none", save_strategy="no",
                        learning_rate=1e-2, seed=0, beacon_ratios=[2, 4], disable_tqdm=True)
data = Dataset.from_list([{"prompt": f"{i}+{i % 3}=?"} for i in range(16)])
trainer = BeaconGRPOTrainer(model, distinct, args, train_dataset=data, processing_class=tokenizer)
trainer.train()
rank = trainer.accelerator.process_index
torch.save(trainer.plain_model().state_dict(), f"{out}/params-rank{rank}.pt")
if trainer.accelerator.is_main_process:
    print(f"world {trainer.accelerator.num_processes} {trainer.accelerator.distributed_type.value}", flush=True)
"""
