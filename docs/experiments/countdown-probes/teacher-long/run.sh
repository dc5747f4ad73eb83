#!/bin/bash
# Probe (session 5): can the tiny teacher reach 70% held-out in <= 60 min of training from scratch on 2 cores?
# The experiment's teacher recipe (batch 16, lr 2e-3, 50 warmup steps, cosine) stretched to 3,000 steps, with a
# 57-min training-time budget, alone on the machine with 2 threads; 64 dev problems every 500 steps.
cd experiments/probes5/teacher-long  # from the repo root
echo "start $(date -u +%FT%TZ)" >> times.log
OMP_NUM_THREADS=2 breadcrumbs train --config teacher-long.yaml --out run --quiet > train.out 2>&1
echo "end $(date -u +%FT%TZ)" >> times.log
