#!/bin/bash
# One probe's training (from the repo root): `bash docs/experiments/linsys-probes/train.sh NAME` trains
# NAME/config.yaml with one thread, niced (beside another one-thread job on the 2-core CPU), into the git-ignored
# experiments/linsys-probes/NAME/, logging start, end and commit to its times.log.
NAME=$1
DIR=experiments/linsys-probes/$NAME
mkdir -p $DIR
echo "start $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD)" >> $DIR/times.log
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 breadcrumbs train \
  --config docs/experiments/linsys-probes/$NAME/config.yaml --out $DIR/run --quiet > $DIR/train.out 2>&1
echo "end $(date -u +%FT%TZ)" >> $DIR/times.log
