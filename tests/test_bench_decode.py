"""The decode benchmark's quick mode and the prepared GPU script run end to end at micro size on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_mode_measures_every_method_kind(tmp_path):
    done = subprocess.run(
        [sys.executable, "benchmarks/bench_decode.py", "--quick", "--preset", "micro", "--repeats", "1",
         "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads((tmp_path / "decode.json").read_text())["rows"][0]
    methods = row["methods"]
    assert {"hf", "hf+static", "full", "full+static", "beacon:4+static", "streaming:@beacon:4"} <= set(methods)
    assert all(figures["all_tokens_generated"] for figures in methods.values())
    assert methods["streaming:@beacon:4"]["spec"] == "streaming:13"  # beacon:4's peak generated entries at N = 40
    assert methods["beacon:4+static"]["kv_peak_bytes"] == methods["beacon:4"]["kv_peak_bytes"]
    assert methods["beacon:4"]["kv_peak_bytes"] < methods["full"]["kv_peak_bytes"]
    assert "vs matched beacons" in (tmp_path / "decode.md").read_text()


def test_gpu_script_runs_at_micro_size_on_cpu(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "DEVICE": "cpu", "DTYPE": "float32", "SHAPE": "", "PRESET": "micro",
           "QUICK": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", "benchmarks/gpu/decode.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    assert json.loads((tmp_path / "decode-gpu-quick.json").read_text())["rows"]


def test_gpu_shape_model_is_smollm2_shaped():
    """The GPU script's model: SmolLM2-135M's config with random weights, enough positions for 32k tokens."""
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_decode import GPU_GRID, shape_model

    model, tokenizer = shape_model("smollm2-135m", torch.device("cpu"), torch.float32, 2 * 32768 + 64)
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.num_key_value_heads) == (30, 576, 3)
    assert model.config.max_position_embeddings >= 32768 + 32768 // 16 + 32
    assert max(new_tokens for _, new_tokens, _ in GPU_GRID) == 32768 and all(b == 64 for b, _, _ in GPU_GRID)
    assert tokenizer.eos_token is None
