#!/bin/bash
# Probe (session 4), second leg: continue the student-long probe (mixed + 600 steps) for 600 more steps at lr 5e-4.
cd /work/experiments/student-longer
until grep -q "^end" /work/experiments/student-long/times.log; do sleep 10; done
echo "start $(date -u +%FT%TZ)" >> times.log
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/work/exp_src/src python -m breadcrumbs train --config config.yaml --out run --quiet $( [ -f run/config.yaml ] && echo --resume ) > train.log 2>&1
echo "end rc=$? $(date -u +%FT%TZ)" >> times.log
