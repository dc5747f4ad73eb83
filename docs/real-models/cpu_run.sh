#!/bin/bash
# SmolLM2-135M-Instruct on CPU: convert, train (5-minute budget), evaluate, report.
set -euo pipefail
cd /work/main
export OMP_NUM_THREADS=1
G=~/.cache/breadcrumbs/fixtures/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
[ -d /tmp/smol/model ] || breadcrumbs convert $G /tmp/smol/model -q
/usr/bin/time -v breadcrumbs train --config configs/smollm2-countdown.yaml --set model.name=/tmp/smol/model \
  --set time_budget_s=300 --out /tmp/smol/run --device cpu -q 2> /tmp/smol/time.txt
breadcrumbs eval --model /tmp/smol/run/checkpoints/latest --task countdown --n 16 --difficulty k=3 \
  --difficulty max_number=10 --difficulty max_target=30 --max-new-tokens 64 --batch-size 16 \
  --methods full,beacon:4,tova:@beacon:4 --out /tmp/smol/results.jsonl -q
breadcrumbs report /tmp/smol/results.jsonl --out /tmp/smol/report
