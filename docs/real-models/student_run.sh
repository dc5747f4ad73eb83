#!/bin/bash
# SmolLM2-135M-Instruct learns to read its beacons (issue 25) on CPU: convert, train configs/smollm2-student.yaml
# (SFT of the teacher, then distillation from the frozen teacher at c = 4, TIME s of training), evaluate on N
# test-split problems against the full cache and every training-free baseline at the beacons' per-problem peak
# KV, report, and the general-text drift on 50 chat prompts. Outputs in OUT (default ../smol, outside the repo:
# the checkpoints are 540 MB); the records a table needs are copied to docs/real-models/student/.
set -euo pipefail
cd "$(dirname "$0")/../.."  # the repo root
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-../smol} TIME=${TIME:-3600} N=${N:-100}
G=${G:-~/.cache/breadcrumbs/fixtures/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
[ -d "$OUT/model" ] || breadcrumbs convert "$G" "$OUT/model" -q
RESUME=(); [ -d "$OUT/student/checkpoints" ] && RESUME=(--resume)
breadcrumbs train --config configs/smollm2-student.yaml --set model.name="$OUT/model" --set time_budget_s="$TIME" \
  --out "$OUT/student" --device cpu -q "${RESUME[@]}"
M="$OUT/student/checkpoints/latest"
METHODS=full,beacon:4$(for b in streaming h2o tova snapkv knorm rkv triattention; do printf ",%s:@beacon:4" $b; done)
breadcrumbs eval --model "$M" --task countdown --split test --n "$N" --max-new-tokens 48 --batch-size 25 \
  --methods "$METHODS" --out "$OUT/results.jsonl" -q
breadcrumbs report "$OUT/results.jsonl" --out "$OUT/report"
breadcrumbs eval --model "$M" --prompts docs/real-models/chat-prompts.txt --methods full,beacon:4,beacon:8 \
  --max-new-tokens 32 --batch-size 25 --out "$OUT/drift.jsonl" -q
mkdir -p docs/real-models/student
cp "$OUT/results.jsonl" "$OUT/drift.jsonl" "$OUT/student/metrics.jsonl" "$OUT/report/report.md" docs/real-models/student/
