#!/bin/bash
# The long teacher (from the repo root): LinSys local=1, direct, unknowns=2 max_coef=2 max_value=5, 4,400 steps or
# 56 min of training, one thread, niced (beside another one-thread job on the 2-core CPU); then (`run.sh test`) the
# test split, 150 problems, greedy: the full cache and the untrained beacons at c = 8 and 32.
NAME=teacher-long
DIR=experiments/linsys-probes/$NAME
mkdir -p $DIR
if [ "$1" != test ]; then
  bash docs/experiments/linsys-probes/train.sh $NAME
else
  echo "test start $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD)" >> $DIR/times.log
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 breadcrumbs eval --model $DIR/run/checkpoints/latest --task linsys \
    --difficulty unknowns=2 --difficulty max_coef=2 --difficulty max_value=5 --difficulty local=1 \
    --split test --n 150 --methods full,beacon:8,beacon:32 --max-new-tokens 320 --out $DIR/test.jsonl > $DIR/test.out 2>&1
  echo "test end $(date -u +%FT%TZ)" >> $DIR/times.log
fi
