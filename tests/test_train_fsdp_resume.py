"""FSDP2 resume (2 processes, gloo on CPU): a run stopped mid-stage and resumed from its checkpoint (weights and
the sharded AdamW moments) ends with exactly the parameters and losses of an uninterrupted 2-process run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml
from safetensors.torch import load_file

from test_train_ddp import BACKENDS, free_port
from test_train_ddp import CONFIG as DDP_CONFIG

# the 2-process test's run, SFT only, 4 steps, a checkpoint every 2
CONFIG = {**DDP_CONFIG, "sft": {**DDP_CONFIG["sft"], "steps": 4}, "rl": {**DDP_CONFIG["rl"], "steps": 0},
          "checkpoint": {"every": 2, "keep": 0}}
STOP_AFTER = 2  # mid-stage: steps 3 and 4 need the AdamW moments of steps 1 and 2
WORKER = """
import sys
from breadcrumbs.training import load_config
from breadcrumbs.training.trainer import Trainer, TrainingInterrupted
config, out, mode = sys.argv[1:4]
trainer = Trainer(None if mode == "resume" else load_config(config), out, resume=mode == "resume", progress=False,
                  echo=False)
if mode == "stop":
    trainer.stop_after = %d
try:
    trainer.run()
except TrainingInterrupted:
    print("stopped", flush=True)
if trainer.accelerator.is_main_process:  # one line from one rank: two ranks' prints can interleave
    print(f"world {trainer.accelerator.num_processes} {trainer.accelerator.distributed_type!s}", flush=True)
trainer.accelerator.wait_for_everyone()  # after a stop, no rank tears the group down under another's last op
trainer.accelerator.end_training()  # release the gloo group before exit, as `train` does
""" % STOP_AFTER


def launch(tmp_path, out: str, mode: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **BACKENDS["fsdp2"][0]}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", free_port(),
         str(tmp_path / "worker.py"), str(tmp_path / "config.yaml"), str(tmp_path / out), mode],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "world 2 DistributedType.FSDP" in result.stdout
    return result.stdout


def losses(run) -> list[float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if r["kind"] == "train"]


def test_fsdp_resume_equals_uninterrupted(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    (tmp_path / "worker.py").write_text(WORKER)
    launch(tmp_path, "straight", "run")
    assert "stopped" in launch(tmp_path, "resumed", "stop")
    assert not (tmp_path / "resumed" / "checkpoints" / "step-4").exists()
    launch(tmp_path, "resumed", "resume")
    straight = load_file(tmp_path / "straight" / "checkpoints" / "step-4" / "model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "checkpoints" / "step-4" / "model.safetensors")
    worst = max((straight[k] - resumed[k]).abs().max().item() for k in straight)
    print(f"max |param diff| uninterrupted vs resumed under FSDP2: {worst:.2e}")
    assert worst == 0.0
    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight")
    assert len(losses(tmp_path / "straight")) == 4
