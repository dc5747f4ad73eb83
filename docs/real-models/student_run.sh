#!/bin/bash
# SmolLM2-135M-Instruct learns to read its beacons (issue 25): convert, train configs/smollm2-student.yaml (SFT of
# the teacher, then distillation from the frozen teacher, TIME s of training), evaluate on N test-split problems
# against the full cache and every training-free baseline at each beacon ratio's per-problem peak KV, report, and
# the general-text drift on 50 chat prompts. One script for every scale (benchmarks/gpu/smollm2.sh calls it):
#   OUT    outputs (default ../smol, outside the repo: the checkpoints are 540 MB)
#   MODEL  a GGUF file (converted once into OUT/model), an HF directory or a preset (micro: the CI's size)
#   DEVICE cpu | cuda;  RATIOS beacon ratios trained and evaluated ("4"; "4 8 16" on the GPU);  DRIFT the
#          ratios of the chat drift ("4 8")
#   TIME   training budget in s;  N test problems;  BATCH eval batch;  SETS extra --set overrides (space-separated)
#   RECORDS 1: copy the records a table needs to docs/real-models/student/ (the CPU run's default)
set -euo pipefail
cd "$(dirname "$0")/../.."  # the repo root
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
bc() { python3 -m breadcrumbs "$@"; }  # this checkout's breadcrumbs, installed or not
OUT=${OUT:-../smol} TIME=${TIME:-3600} N=${N:-100} DEVICE=${DEVICE:-cpu} RATIOS=${RATIOS:-4} BATCH=${BATCH:-25}
DRIFT=${DRIFT:-4 8}
MODEL=${MODEL:-$HOME/.cache/breadcrumbs/fixtures/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf} RECORDS=${RECORDS:-1}
if [[ "$MODEL" == *.gguf ]]; then
  [ -d "$OUT/model" ] || bc convert "$MODEL" "$OUT/model" -q
  MODEL="$OUT/model"
fi
LIST=$(echo $RATIOS | tr ' ' ',')
SET=(--set model.name="$MODEL" --set time_budget_s="$TIME" --set "beacon.ratios=[$LIST]" --set "eval.ratios=[$LIST]")
for s in ${SETS:-}; do SET+=(--set "$s"); done
RESUME=(); [ -d "$OUT/student/checkpoints" ] && RESUME=(--resume)
bc train --config configs/smollm2-student.yaml "${SET[@]}" --out "$OUT/student" --device "$DEVICE" -q \
  "${RESUME[@]}"
M="$OUT/student/checkpoints/latest"
METHODS=full
for c in $RATIOS; do
  METHODS+=",beacon:$c$(for b in streaming h2o tova snapkv knorm rkv triattention; do printf ",%s:@beacon:%s" $b $c; done)"
done
bc eval --model "$M" --task countdown --split test --n "$N" --max-new-tokens 48 --batch-size "$BATCH" \
  --methods "$METHODS" --device "$DEVICE" --out "$OUT/results.jsonl" -q
bc report "$OUT/results.jsonl" --out "$OUT/report"
DRIFT_METHODS=full$(for c in $DRIFT; do printf ",beacon:%s" $c; done)
bc eval --model "$M" --prompts docs/real-models/chat-prompts.txt --methods "$DRIFT_METHODS" \
  --max-new-tokens 32 --batch-size "$BATCH" --device "$DEVICE" --out "$OUT/drift.jsonl" -q
if [ "$RECORDS" = 1 ]; then
  mkdir -p docs/real-models/student
  cp "$OUT/results.jsonl" "$OUT/drift.jsonl" "$OUT/student/metrics.jsonl" "$OUT/report/report.md" docs/real-models/student/
fi
