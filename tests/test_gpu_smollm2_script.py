"""The prepared GPU script of the SmolLM2 student recipe runs end to end at micro size on CPU: the same
docs/real-models/student_run.sh commands (train, eval against every baseline at c = 4, 8, 16, report, drift)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_smollm2_script_runs_at_micro_size(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), WORK=str(tmp_path / "work"), MODEL="micro", DEVICE="cpu", SCALE="micro",
               OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", "benchmarks/gpu/smollm2.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + (out / "run.log").read_text()[-3000:]
    assert "scale micro" in (out / "gpu.txt").read_text() and "exit 0" in (out / "timings.txt").read_text()
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    methods = {r["method"] for r in records}
    assert {"full", "beacon:4", "beacon:8", "beacon:16", "tova:@beacon:16", "triattention:@beacon:4"} <= methods
    assert len(records) == 4 * (1 + 3 * 8)  # 4 problems x (full + 3 ratios x (beacon + 7 baselines))
    drift = {json.loads(line)["method"] for line in (out / "drift.jsonl").read_text().splitlines()}
    assert drift == {"full", "beacon:4", "beacon:8", "beacon:16"}
    assert (out / "report.md").exists() and (out / "metrics.jsonl").exists()
    assert not list(out.glob("**/*.safetensors"))
