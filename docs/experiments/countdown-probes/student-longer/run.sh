#!/bin/bash
# Probe (session 4), second leg: continue the student-long probe (mixed + 600 steps) for 600 more steps at lr 5e-4.
# EXP_SRC: a copy of the source tree taken when the session-4 probes started (2026-11-26 ~09:00 UTC, near
# 4e902b9; the exact commit was not recorded), so that edits to the checkout could not change a running probe.
cd experiments/student-longer  # from the repo root
until grep -q "^end" ../student-long/times.log; do sleep 10; done
echo "start $(date -u +%FT%TZ)" >> times.log
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$EXP_SRC/src python -m breadcrumbs train --config config.yaml --out run --quiet $( [ -f run/config.yaml ] && echo --resume ) > train.log 2>&1
echo "end rc=$? $(date -u +%FT%TZ)" >> times.log
