#!/usr/bin/env bash
# SmolLM2-135M-Instruct learns to read its beacons on one GPU (issue 25, item 4): the CPU run's recipe
# (docs/real-models/student_run.sh, configs/smollm2-student.yaml: SFT of the teacher for the format, then
# distillation from the frozen teacher's own samples) at GPU scale: bf16 autocast, 16 prompts x 4 samples per
# distillation step, students at c = 4, 8 and 16 (one sampled per sequence), 200 test problems against the full cache
# and every training-free baseline at each ratio's per-problem peak KV, the chat drift at 4, 8, 16; ~9 minutes.
# Records in $OUT: gpu.txt (card, versions, commit), timings.txt, peak_memory.txt, run.log, metrics.jsonl (step
# times, tokens/s), results.jsonl, report.md, drift.jsonl; no checkpoint comes back.
#
# The GPU machine has no registry and takes at most 64 MiB per call, and the GGUF is 98 MB, so it travels in two
# git-ignored parts that stay on the warm machine between calls (`split` and `cat`, no format change):
#   split -b 48M ~/.cache/breadcrumbs/fixtures/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf .fixtures/smollm2.gguf.part-
#   device call 1: carry [".fixtures/smollm2.gguf.part-aa"], command `true`
#   device call 2: carry [".fixtures/smollm2.gguf.part-ab"], command `OUT=$OUT bash benchmarks/gpu/smollm2.sh`
# The same path on CPU in a minute (CI, tests/test_gpu_smollm2_script.py):
#   OUT=../out MODEL=micro DEVICE=cpu SCALE=micro bash benchmarks/gpu/smollm2.sh
set -euo pipefail
OUT="${OUT:?set OUT to an output folder}"; DEVICE="${DEVICE:-cuda}"; SCALE="${SCALE:-gpu}"
WORK="${WORK:-${TMPDIR:-/tmp}/smollm2-gpu}"   # weights and checkpoints stay here
mkdir -p "$OUT" "$WORK"
if [ -z "${MODEL:-}" ]; then
  MODEL="$WORK/SmolLM2-135M-Instruct.Q4_1.gguf"
  [ -f "$MODEL" ] || cat .fixtures/smollm2.gguf.part-* > "$MODEL"
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU ($DEVICE)"
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
  echo "scale $SCALE commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} > "$OUT/gpu.txt"
if [ "$SCALE" = micro ]; then  # seconds: the same commands on a random preset
  SETTINGS=(TIME=20 N=4 BATCH=4 "SETS=sft.steps=2 sft.batch_size=2 distill.steps=2 rl.batch_size=4 eval.every=0")
else
  SETTINGS=(TIME=240 N=200 BATCH=100
    "SETS=mixed_precision=bf16 sft.batch_size=32 sft.steps=40 rl.batch_size=64 rl.group_size=4 eval.batch_size=64 checkpoint.every=100")
fi
poll=""
if command -v nvidia-smi > /dev/null 2>&1; then  # the card's memory in use, every 0.5 s, for the peak
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$WORK/memory.csv" 2>/dev/null &
  poll=$!
fi
start=$(date +%s)
env OUT="$WORK" MODEL="$MODEL" DEVICE="$DEVICE" RATIOS="4 8 16" DRIFT="4 8 16" RECORDS=0 OMP_NUM_THREADS="${OMP_NUM_THREADS:-8}" \
  "${SETTINGS[@]}" bash docs/real-models/student_run.sh > "$OUT/run.log" 2>&1 || status=$?
echo "wall $(( $(date +%s) - start )) s, exit ${status:-0}" > "$OUT/timings.txt"
if [ -n "$poll" ]; then
  kill "$poll" 2> /dev/null || true
  echo "peak GPU memory in use (nvidia-smi, every 0.5 s): $(sort -n "$WORK/memory.csv" | tail -1) MiB" > "$OUT/peak_memory.txt"
else
  echo "no GPU: memory not polled" > "$OUT/peak_memory.txt"
fi
for f in student/metrics.jsonl results.jsonl drift.jsonl report/report.md; do
  [ -f "$WORK/$f" ] && cp "$WORK/$f" "$OUT/"
done
cat "$OUT/gpu.txt" "$OUT/timings.txt"
exit "${status:-0}"
