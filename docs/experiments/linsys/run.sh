#!/bin/bash
# The LinSys table (from the repo root), one thread, niced: the long teacher (../linsys-probes/teacher-long/run.sh,
# skipped when its checkpoint is there), the beacon student from it (student/config.yaml), then 150 test problems,
# greedy: the full cache, the student at c = 8 and c = 32, and every training-free baseline at the student's
# per-problem peak and mean KV. Writes under the git-ignored experiments/linsys/.
set -e
DIR=experiments/linsys
TEACHER=experiments/linsys-probes/teacher-long/run/checkpoints/latest
mkdir -p $DIR
[ -e $TEACHER ] || bash docs/experiments/linsys-probes/teacher-long/run.sh
echo "student start $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD)" >> $DIR/times.log
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 breadcrumbs train --config docs/experiments/linsys/student/config.yaml \
  --out $DIR/student --quiet > $DIR/student.out 2>&1
echo "student end $(date -u +%FT%TZ)" >> $DIR/times.log
METHODS=full,beacon:8,beacon:32
for C in 8 32; do
  for B in streaming h2o tova snapkv knorm rkv; do METHODS=$METHODS,$B:@beacon:$C,$B:@beacon:$C@mean; done
done
echo "test start $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD)" >> $DIR/times.log
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 breadcrumbs eval --model $DIR/student/checkpoints/latest --task linsys --split test \
  --n 150 --methods $METHODS --max-new-tokens 320 --out $DIR/test.jsonl --quiet > $DIR/test.out 2>&1
breadcrumbs report $DIR/test.jsonl --out $DIR/report >> $DIR/test.out 2>&1
echo "test end $(date -u +%FT%TZ)" >> $DIR/times.log
