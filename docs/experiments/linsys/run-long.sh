#!/bin/bash
# The longer LinSys student (from the repo root, after run.sh): 1,500 more steps from run.sh's student
# (student-long/config.yaml), then the same test table as run.sh. One thread, niced; writes under the git-ignored
# experiments/linsys/.
set -e
DIR=experiments/linsys
echo "student-long start $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD)" >> $DIR/times.log
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 breadcrumbs train --config docs/experiments/linsys/student-long/config.yaml \
  --out $DIR/student-long --quiet > $DIR/student-long.out 2>&1
echo "student-long end $(date -u +%FT%TZ)" >> $DIR/times.log
bash docs/experiments/linsys/test.sh student-long
