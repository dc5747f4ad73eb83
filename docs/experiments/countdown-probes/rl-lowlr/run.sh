#!/bin/bash
# Probe (session 4): do the RL arms keep the warm start's accuracy with a small learning rate and a warmup
# (the 4-min arms at lr 2e-4 all dropped 8-14 points in their first 4 updates)? joint and rl, 10 min each, side by side.
# EXP_SRC: a copy of the source tree taken when the session-4 probes started (2026-11-26 ~09:00 UTC, near
# 4e902b9; the exact commit was not recorded), so that edits to the checkout could not change a running probe.
cd experiments/rl-lowlr  # from the repo root
echo "start $(date -u +%FT%TZ)" >> times.log
for arm in joint rl; do
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$EXP_SRC/src python -m breadcrumbs train --config $arm.yaml --out run-$arm --quiet > $arm.log 2>&1 &
done
wait
echo "end $(date -u +%FT%TZ)" >> times.log
