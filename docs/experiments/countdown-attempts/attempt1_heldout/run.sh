#!/bin/bash
# Held-out check of the first Countdown teacher (closest-first, numbers 1..9, no echo; 1,000 teacher SFT steps).
CK=experiments/countdown-noecho/runs/teacher/checkpoints/latest
for split in train dev test; do
  OMP_NUM_THREADS=1 breadcrumbs eval --model $CK --task countdown --split $split --n 64 --methods full \
    --difficulty k=3 --difficulty max_number=9 --difficulty max_target=50 --difficulty backtracks=1 \
    --max-new-tokens 416 --batch-size 64 --out $split.jsonl --quiet
done
