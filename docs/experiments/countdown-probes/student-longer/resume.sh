#!/bin/bash
# Resume the stopped second leg (from its step-300 checkpoint) to its planned 600 steps, 2 threads (machine idle).
cd /work/experiments/student-longer
echo "resume $(date -u +%FT%TZ)" >> times.log
OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 PYTHONPATH=/work/exp_src/src python -m breadcrumbs train --config config.yaml --out run --quiet --resume > train_resume.log 2>&1
echo "end rc=$? $(date -u +%FT%TZ)" >> times.log
