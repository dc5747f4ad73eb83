#!/usr/bin/env bash
# The demo plus its full comparison (tuned baseline sweeps + the trained sliding-window control) on one CUDA GPU.
# Run from the repository root on a machine with the project installed (no internet needed: the model is built from
# a preset and trained here). Writes everything under $OUT/demo (resumable: rerun the same command to continue).
#   OUT=../out bash benchmarks/gpu/demo_comparison.sh
# The two trainings (beacons, window control) run side by side; then the demo's evaluation, the sweeps and the
# control's evaluation. Not yet timed on a GPU. Smoke test on CPU: DEVICE=cpu MICRO=1 OUT=../x bash <this file>.
set -euo pipefail
OUT="${OUT:?set OUT to an output folder}"
DEVICE="${DEVICE:-cuda}"
MICRO_FLAG="${MICRO:+--micro}"
DEMO="$OUT/demo"
mkdir -p "$DEMO"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu.txt" 2>/dev/null || true
start=$(date +%s)
python - "$DEMO" "$DEVICE" "${MICRO:-}" <<'PY' > "$OUT/control_train.log" 2>&1 &
import sys
from breadcrumbs.recipes.demo import demo_config
from breadcrumbs.training import train
from breadcrumbs.training.checkpoint import latest_checkpoint
run = f"{sys.argv[1]}/window/train"
config = demo_config("stargraph", micro=bool(sys.argv[3]), layout="window")
train(config, run, resume=latest_checkpoint(run) is not None, progress=False, device=sys.argv[2])
PY
control=$!
python -m breadcrumbs demo --device "$DEVICE" --out "$DEMO" --quiet $MICRO_FLAG > "$OUT/demo.log" 2>&1
wait "$control"
echo "trainings + demo evaluation: $(( $(date +%s) - start )) s" >> "$OUT/timings.txt"
python -m breadcrumbs demo --device "$DEVICE" --out "$DEMO" --quiet $MICRO_FLAG --full-comparison \
    > "$OUT/comparison.log" 2>&1
echo "total: $(( $(date +%s) - start )) s" >> "$OUT/timings.txt"
cat "$OUT/timings.txt" "$DEMO/comparison/report.md"
