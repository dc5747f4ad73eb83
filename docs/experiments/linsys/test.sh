#!/bin/bash
# The LinSys test table of one student (from the repo root): `bash docs/experiments/linsys/test.sh NAME` evaluates
# experiments/linsys/NAME/checkpoints/latest on 150 test problems, greedy: the full cache, the student at c = 8 and
# c = 32, and every training-free baseline at the student's per-problem peak and mean KV; then the report.
# One thread, niced; writes experiments/linsys/NAME-test.jsonl, NAME-test.out and NAME-report/ (git-ignored).
set -e
DIR=experiments/linsys
NAME=$1
METHODS=full,beacon:8,beacon:32
for C in 8 32; do
  for B in streaming h2o tova snapkv knorm rkv; do METHODS=$METHODS,$B:@beacon:$C,$B:@beacon:$C@mean; done
done
echo "$NAME test start $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD)" >> $DIR/times.log
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 breadcrumbs eval --model $DIR/$NAME/checkpoints/latest --task linsys \
  --split test --n 150 --methods $METHODS --max-new-tokens 320 --out $DIR/$NAME-test.jsonl --quiet > $DIR/$NAME-test.out 2>&1
breadcrumbs report $DIR/$NAME-test.jsonl --out $DIR/$NAME-report >> $DIR/$NAME-test.out 2>&1
echo "$NAME test end $(date -u +%FT%TZ)" >> $DIR/times.log
