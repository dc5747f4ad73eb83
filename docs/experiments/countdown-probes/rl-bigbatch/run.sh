#!/bin/bash
# Probe (session 5): does GRPO lift the teacher with a bigger batch, a lower temperature and the training difficulty?
# From the recorded `mixed` warm start: 16 prompts x 8 samples per step (was 4 x 8), lr 1e-4 with 4 warmup steps
# (was 2e-4), rollouts at temperature 0.7 (was 1.0; the policy gradient uses the same tempered log-probs), problems
# of the SFT difficulty (was backtracks=2), 128 dev problems per curve point (was 32). 35-min training-time budget
# each, side by side, one thread each; both were stopped by hand (Ctrl-C, checkpoint kept) after ~21-24 min of
# training time, when their curves had stayed flat.
cd experiments/probes5  # from the repo root
for arm in rl joint; do
  OMP_NUM_THREADS=1 breadcrumbs train --config $arm.yaml --out $arm > $arm.log 2>&1 &
done
wait
