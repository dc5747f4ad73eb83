#!/bin/bash
# The LinSys table (from the repo root), one thread, niced: the long teacher (../linsys-probes/teacher-long/run.sh,
# skipped when its checkpoint is there), the beacon student from it (student/config.yaml), then its test table
# (test.sh). Writes under the git-ignored experiments/linsys/.
set -e
DIR=experiments/linsys
TEACHER=experiments/linsys-probes/teacher-long/run/checkpoints/latest
mkdir -p $DIR
[ -e $TEACHER ] || bash docs/experiments/linsys-probes/teacher-long/run.sh
echo "student start $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD)" >> $DIR/times.log
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 breadcrumbs train --config docs/experiments/linsys/student/config.yaml \
  --out $DIR/student --quiet > $DIR/student.out 2>&1
echo "student end $(date -u +%FT%TZ)" >> $DIR/times.log
bash docs/experiments/linsys/test.sh student
