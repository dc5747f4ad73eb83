#!/bin/bash
# Resume the stopped second leg (from its step-300 checkpoint) to its planned 600 steps, 2 threads (machine idle).
# EXP_SRC: a copy of the source tree taken when the session-4 probes started (2026-11-26 ~09:00 UTC, near
# 4e902b9; the exact commit was not recorded), so that edits to the checkout could not change a running probe.
cd experiments/student-longer  # from the repo root
echo "resume $(date -u +%FT%TZ)" >> times.log
OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 PYTHONPATH=$EXP_SRC/src python -m breadcrumbs train --config config.yaml --out run --quiet --resume > train_resume.log 2>&1
echo "end rc=$? $(date -u +%FT%TZ)" >> times.log
