#!/usr/bin/env bash
# Issue 14, item 7: rollout tokens/s (ours vs HF generate) and one RL-only / joint update time, on one CUDA GPU, for
# random-weight SmolLM2-135M- and Qwen2.5-0.5B-shaped models (built from their configs; no internet, no weights).
# Run from the repository root with the project installed; about 2 minutes on an H100.
#   OUT=../out bash benchmarks/gpu/rollout_speed.sh     -> $OUT/rollout_speed.{json,md}, $OUT/rollout_speed.log
# Smoke test without a GPU is not possible (CUDA timings); TOKENS=32 shortens it.
set -euo pipefail
OUT="${OUT:?set OUT to an output folder}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu.txt" 2>/dev/null || true
timeout 170 python benchmarks/gpu/rollout_speed.py 2>&1 | tee "$OUT/rollout_speed.log"
