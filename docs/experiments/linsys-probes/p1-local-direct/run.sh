#!/bin/bash
# Probe p1 (from the repo root): LinSys local=1, direct, unknowns=2 max_coef=2 max_value=5; 8 min of training,
# one thread, niced (beside another one-thread job on the 2-core CPU).
NAME=p1-local-direct
mkdir -p experiments/linsys-probes/$NAME
echo "start $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD)" >> experiments/linsys-probes/$NAME/times.log
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 breadcrumbs train \
  --config docs/experiments/linsys-probes/$NAME/config.yaml --out experiments/linsys-probes/$NAME/run --quiet \
  > experiments/linsys-probes/$NAME/train.out 2>&1
echo "end $(date -u +%FT%TZ)" >> experiments/linsys-probes/$NAME/times.log
