#!/bin/bash
# Probe p2 (from the repo root): LinSys local=0 (the old spelling), search, unknowns=2 max_coef=2 max_value=5; 8 min of
# training, one thread, niced (beside another one-thread job on the 2-core CPU).
bash docs/experiments/linsys-probes/train.sh p2-old-search
