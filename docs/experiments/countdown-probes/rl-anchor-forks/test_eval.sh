#!/bin/bash
# The probe's arms on held-out test problems of the RL difficulty (max_number 30 on top of the trained difficulty):
# the full cache of the warm start and of every arm's last checkpoint, greedy, 256 problems, 900 new tokens.
# Run from the repo root after run.sh; outputs in experiments/probes-rl-anchor/test/ (git-ignored), then
# `breadcrumbs report` on them writes test/report.md (copied next to this file).
set -e
cd experiments/probes-rl-anchor
mkdir -p test
for arm in start ${ARMS:-grpo-forks-counted-anchor-lr5e-5 grpo-forks-counted-anchor-lr5e-5-s1 ei-forks-counted-anchor-lr5e-5 sft-control-rl-difficulty}; do
  model=$arm; [ "$arm" = start ] || model=$arm/checkpoints/latest
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} python -m breadcrumbs eval --model "$model" --task countdown --split test --n 256 \
    --difficulty max_number=30 --max-new-tokens 900 --batch-size 64 --methods full --out test/$arm.jsonl --quiet
  echo "$arm $(date -u +%FT%TZ)" >> test/times.log
done
