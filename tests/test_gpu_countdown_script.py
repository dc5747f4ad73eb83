"""The prepared GPU script of the method experiment runs end to end at micro size on CPU and packs its records."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_countdown_method_script_runs_at_micro_size(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path / "out"), WORK=str(tmp_path / "work"), SCALE="micro", PARALLEL="1",
               DEADLINE="500", OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", "benchmarks/gpu/countdown_method.sh"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    record = (tmp_path / "out" / "gpu.txt").read_text()
    assert "scale micro" in record and "finished in" in record and "exit 0" in record
    with tarfile.open(tmp_path / "out" / "countdown.tgz") as packed:
        names = packed.getnames()
    assert "countdown/report/report.md" in names and "countdown/ablation.md" in names
    assert not any("checkpoints" in name or name.endswith(".safetensors") for name in names)
