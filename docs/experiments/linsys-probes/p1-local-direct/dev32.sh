#!/bin/bash
# After run.sh (from the repo root): the p1 checkpoint on the first 32 dev problems, greedy, full cache, and the first
# wrong line of each wrong completion (errors.txt). Ran 2026-12-03 15:42 UTC from ebe3e30 (linsys.py as in 9ed4655).
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 breadcrumbs eval \
  --model experiments/linsys-probes/p1-local-direct/run/checkpoints/latest --task linsys \
  --difficulty unknowns=2 --difficulty max_coef=2 --difficulty max_value=5 --difficulty local=1 \
  --split dev --n 32 --methods full --max-new-tokens 320 --out experiments/linsys-probes/p1-local-direct/dev32.jsonl
python docs/experiments/linsys-probes/errors.py experiments/linsys-probes/p1-local-direct/dev32.jsonl direct \
  unknowns=2 max_coef=2 max_value=5 local=1 > docs/experiments/linsys-probes/p1-local-direct/errors.txt
