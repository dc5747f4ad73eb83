"""Two processes (torchrun, gloo on CPU) train on the same global batch as one process, and stay in sync."""

from __future__ import annotations

import os
import subprocess
import sys

import torch
import yaml
from safetensors.torch import load_file

from breadcrumbs.training import config_from_dict, train

CONFIG = {
    "model": {"name": "micro"},
    "task": {"name": "countdown", "difficulty": {"k": 3, "max_number": 6, "max_target": 20}, "style": "direct",
             "eval_problems": 2},
    "beacon": {"ratios": [2, 4]},
    "sft": {"steps": 2, "batch_size": 8, "lr": 0.01},
    "rl": {"steps": 1, "batch_size": 8, "group_size": 2, "max_new_tokens": 12, "kl_coef": 0.1},
    "eval": {"max_new_tokens": 8}, "checkpoint": {"every": 100, "keep": 0},
}
# One process vs two after 2 SFT steps: the same global loss, summed in a different order (per-rank partial sums
# then an all-reduce), so equal to float32 rounding.
TOLERANCE = 1e-5
WORKER = """
import sys, torch
from breadcrumbs.training import load_config
from breadcrumbs.training.trainer import Trainer
trainer = Trainer(load_config(sys.argv[1]), sys.argv[2], progress=False, echo=False)
trainer.run()
rank = trainer.accelerator.process_index
torch.save(trainer.model.state_dict(), f"{sys.argv[2]}/params-rank{rank}.pt")
print("world", trainer.accelerator.num_processes, trainer.accelerator.distributed_type)
"""


def test_two_processes_match_one(tmp_path):
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(CONFIG))
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
         str(worker), str(config_path), str(tmp_path / "two")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "world 2 DistributedType.MULTI_CPU" in result.stdout

    # after the RL step every rank holds identical parameters
    rank0 = torch.load(tmp_path / "two" / "params-rank0.pt")
    rank1 = torch.load(tmp_path / "two" / "params-rank1.pt")
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)

    # after the SFT stage (deterministic data, no sampling) two processes equal one process on the global batch
    one = train(config_from_dict({**CONFIG, "rl": {**CONFIG["rl"], "steps": 0}}), tmp_path / "one", progress=False)
    single = load_file(one / "model.safetensors")
    double = load_file(tmp_path / "two" / "checkpoints" / "step-2" / "model.safetensors")
    worst = max((single[k] - double[k]).abs().max().item() for k in single)
    print(f"max |param diff| one vs two processes after 2 SFT steps: {worst:.2e}")
    assert worst <= TOLERANCE
    moved = max((single[k] - load_file(tmp_path / "two" / "checkpoints" / "step-3" / "model.safetensors")[k])
                .abs().max().item() for k in single)
    assert moved > 0  # the RL step did update the weights
