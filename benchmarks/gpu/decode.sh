#!/usr/bin/env bash
# Issue 23 item 4: decode throughput on one CUDA GPU, SmolLM2-135M shape (its config, random weights: speed depends
# on shapes only), bf16: HF generate (dynamic, static cache) vs our dynamic / static / compiled (CUDA graphs) paths,
# full cache vs beacons c = 4/16 vs streaming / K-norm / TOVA at the beacons' budget; tokens/s, TTFT, KV bytes.
# Goals (issue 23): beacons >= 10,000 tokens/s at batch 64 and >= 3x HF eager generate.
# Each case of bench_decode.GPU_GRID is one stage under its own timeout (about 8.5 minutes in all on an H200); a stage
# cut short keeps the cases it finished (results are written after every case).
#   OUT=../out bash benchmarks/gpu/decode.sh   -> $OUT/gpu.txt, $OUT/decode-gpu-{0,1,2}.{json,md}, $OUT/decode.log
# Micro smoke test without a GPU (tests/test_bench_decode.py): DEVICE=cpu DTYPE=float32 SHAPE= PRESET=micro QUICK=1
set -euo pipefail
OUT="${OUT:?set OUT to an output folder}"
DEVICE="${DEVICE:-cuda}" DTYPE="${DTYPE:-bfloat16}" SHAPE="${SHAPE-smollm2-135m}" PRESET="${PRESET:-tiny}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu.txt" 2>/dev/null || true
model=(--preset "$PRESET"); [ -n "$SHAPE" ] && model=(--shape "$SHAPE")
if [ -n "${QUICK:-}" ]; then
  python benchmarks/bench_decode.py --quick --device "$DEVICE" --dtype "$DTYPE" "${model[@]}" --out "$OUT" \
    --name decode-gpu-quick 2>&1 | tee "$OUT/decode.log"
  exit 0
fi
# stage limits (s): batch 64 x 1k with warm-ups (compiles), batch 64 x 4k with warm-ups, batch 64 x 32k (one call each)
limits=(200 170 130)
for case in 0 1 2; do
  warmup=(--warmup); [ "$case" = 2 ] && warmup=()   # at 32k one call per method; its compile time is included
  timeout "${limits[$case]}" python benchmarks/bench_decode.py --gpu "$case" --device "$DEVICE" --dtype "$DTYPE" \
    "${model[@]}" --repeats 1 "${warmup[@]}" --out "$OUT" --name "decode-gpu-$case" 2>&1 | tee -a "$OUT/decode.log" \
    || echo "stage $case stopped (timeout or error); see decode.log" | tee -a "$OUT/decode.log"
done
