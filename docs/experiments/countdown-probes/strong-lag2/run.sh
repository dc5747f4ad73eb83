#!/bin/bash
# Probe (session 5): the c8-lag2 student recipe (300 steps, same config as the experiment's c8-lag2 job) on the
# 3,000-step teacher of teacher-long/ (83.3% on test), then its test evaluation (150 problems).
cd experiments/probes5/strong-lag2  # from the repo root
echo "start $(date -u +%FT%TZ)" >> times.log
OMP_NUM_THREADS=1 breadcrumbs train --config c8-lag2.yaml --out run --quiet > train.out 2>&1
OMP_NUM_THREADS=1 breadcrumbs eval --task countdown -m run/checkpoints/step-300 --methods full,beacon:8:lag=2 --n 150 \
  --split test --difficulty k=3 --difficulty max_number=20 --difficulty max_target=100 --difficulty backtracks=1 \
  --difficulty order=1 --difficulty echo=1 --max-new-tokens 600 --batch-size 64 -o test.jsonl -q > eval.out 2>&1
echo "end $(date -u +%FT%TZ)" >> times.log
