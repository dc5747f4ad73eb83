#!/bin/bash
# SmolLM2-135M-Instruct on CPU: convert, train (5-minute budget), evaluate, report.
set -euo pipefail
cd "$(dirname "$0")/../.."  # the repo root
export OMP_NUM_THREADS=1
G=~/.cache/breadcrumbs/fixtures/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
[ -d ../smol/model ] || breadcrumbs convert $G ../smol/model -q
/usr/bin/time -v breadcrumbs train --config configs/smollm2-countdown.yaml --set model.name=../smol/model \
  --set time_budget_s=300 --out ../smol/run --device cpu -q 2> ../smol/time.txt
breadcrumbs eval --model ../smol/run/checkpoints/latest --task countdown --n 16 --difficulty k=3 \
  --difficulty max_number=10 --difficulty max_target=30 --max-new-tokens 64 --batch-size 16 \
  --methods full,beacon:4,tova:@beacon:4 --out ../smol/results.jsonl -q
breadcrumbs report ../smol/results.jsonl --out ../smol/report
