#!/bin/bash
# Probe (session 4): does the mixed student keep improving with more SFT? Continue `mixed` 600 steps.
cd /work/experiments/student-long
echo "start $(date -u +%FT%TZ)" >> times.log
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/work/exp_src/src python -m breadcrumbs train --config config.yaml --out run --quiet $( [ -f run/config.yaml ] && echo --resume ) > train.log 2>&1
echo "end rc=$? $(date -u +%FT%TZ)" >> times.log
