"""The prepared GPU script of the method experiment runs at micro size on CPU up to its deadline, stops the
experiment there and packs the records so far (the experiment itself runs to the end in tests/test_experiment.py,
which is the same `breadcrumbs experiment countdown --scale micro`)."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_countdown_method_script_stops_at_its_deadline_and_packs(tmp_path):
    # 45 s: past the driver's start and its first job's even on a loaded machine (at 25 s a CI run beside a training
    # job had not yet written the experiment folder), before the micro plan's end (~105 s at PARALLEL=1 here)
    env = dict(os.environ, OUT=str(tmp_path / "out"), WORK=str(tmp_path / "work"), SCALE="micro", PARALLEL="1",
               DEADLINE="45", OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", "benchmarks/gpu/countdown_method.sh"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 124, done.stdout[-2000:] + done.stderr[-2000:]
    record = (tmp_path / "out" / "gpu.txt").read_text()
    assert "scale micro" in record and "stopped at the deadline" in record and "torch" in record
    with tarfile.open(tmp_path / "out" / "countdown.tgz") as packed:
        names = packed.getnames()
        packed.extractall(tmp_path / "packed", filter="data")
    assert "countdown/logs/teacher.log" in names and "countdown/configs/teacher.yaml" in names
    assert not any("checkpoints" in name or name.endswith(".safetensors") for name in names)
    # the job that was running when the deadline came was interrupted as by Ctrl-C (it saved and said so); one
    # that had just finished its work is marked done
    countdown = tmp_path / "packed" / "countdown"
    for started in (countdown / "started").iterdir():
        if not (countdown / "done" / started.name).exists():
            last = (countdown / "logs" / f"{started.name}.log").read_text().strip().splitlines()[-1]
            assert last.startswith("error: interrupted"), (started.name, last)
