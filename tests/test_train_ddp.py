"""Two processes (torchrun, gloo on CPU) train on the same global batch as one process, and stay in sync: under DDP
under FSDP2 (accelerate's FSDP settings, applied on CPU by `make_accelerator`) and, where `deepspeed` is installed,
under DeepSpeed ZeRO-2 (DeepSpeed's CPU accelerator, gloo)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys

import pytest
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
params = trainer.runtime.full_state_dict() or trainer.model.state_dict()
if rank == 0 or trainer.accelerator.distributed_type != "FSDP":  # FSDP: one copy, sharded; gathered on rank 0
    torch.save(params, f"{sys.argv[2]}/params-rank{rank}.pt")
if trainer.accelerator.is_main_process:  # one line from one rank: two ranks' prints can interleave
    print(f"world {trainer.accelerator.num_processes} {trainer.accelerator.distributed_type!s}", flush=True)
trainer.accelerator.wait_for_everyone()  # no rank tears the group down under another's last collective (the gather)
trainer.accelerator.end_training()  # release the gloo group before exit, as `train` does
"""
# what `accelerate launch` sets for each backend (`accelerate launch --use_fsdp --fsdp_version 2 ...`,
# `accelerate launch --use_deepspeed --zero_stage 2 ...`)
BACKENDS = {
    "ddp": ({}, "MULTI_CPU"),
    "fsdp2": ({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP",
               "FSDP_RESHARD_AFTER_FORWARD": "true", "FSDP_STATE_DICT_TYPE": "FULL_STATE_DICT"}, "FSDP"),
    "deepspeed_zero2": ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"}, "DEEPSPEED"),
}
NO_DEEPSPEED = pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="deepspeed is not installed")


def free_port() -> str:
    """A port no one listens on now: a fixed one collides when two test runs share a machine."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


@pytest.mark.parametrize("backend", [
    pytest.param(name, marks=NO_DEEPSPEED) if name.startswith("deepspeed") else name for name in BACKENDS
])
def test_two_processes_match_one(tmp_path, backend):
    launch_env, distributed_type = BACKENDS[backend]
    config_path = tmp_path / "config.yaml"
    # the two processes also accumulate (2 micro-batches per process and update): still the one-process update
    accumulated = {**CONFIG, "sft": {**CONFIG["sft"], "micro_batch_size": 4}, "rl": {**CONFIG["rl"], "micro_batch_size": 4}}
    config_path.write_text(yaml.safe_dump(accumulated))
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **launch_env}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", free_port(),
         str(worker), str(config_path), str(tmp_path / "two")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"world 2 DistributedType.{distributed_type}" in result.stdout

    # after the RL step every rank holds identical parameters
    rank0 = torch.load(tmp_path / "two" / "params-rank0.pt")
    if backend != "fsdp2":
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
