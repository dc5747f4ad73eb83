#!/bin/bash
# Probe (session 4): does the mixed student keep improving with more SFT? Continue `mixed` 600 steps.
# EXP_SRC: a copy of the source tree taken when the session-4 probes started (2026-11-26 ~09:00 UTC, near
# 4e902b9; the exact commit was not recorded), so that edits to the checkout could not change a running probe.
cd experiments/student-long  # from the repo root
echo "start $(date -u +%FT%TZ)" >> times.log
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$EXP_SRC/src python -m breadcrumbs train --config config.yaml --out run --quiet $( [ -f run/config.yaml ] && echo --resume ) > train.log 2>&1
echo "end rc=$? $(date -u +%FT%TZ)" >> times.log
