#!/usr/bin/env bash
# The demo plus its full comparison (tuned baseline sweeps + the trained sliding-window control) on one CUDA GPU.
# Run from the repository root on a machine with the project installed (no internet needed: the model is built from
# a preset and trained here). Writes everything under $OUT/demo (resumable: rerun the same command to continue).
#   OUT=/tmp/out bash benchmarks/gpu/demo_comparison.sh
# The two trainings (beacons, window control) run side by side; then the demo's evaluation, the sweeps and the
# control's evaluation. Not yet timed on a GPU: the lead runs it with a limit and reruns to resume if needed.
set -euo pipefail
OUT="${OUT:?set OUT to an output folder}"
DEMO="$OUT/demo"
mkdir -p "$DEMO"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu.txt" || true
start=$(date +%s)
python - "$DEMO" <<'PY' > "$OUT/control_train.log" 2>&1 &
import sys
from breadcrumbs.demo import demo_config
from breadcrumbs.training import train
from breadcrumbs.training.checkpoint import latest_checkpoint
run = f"{sys.argv[1]}/window/train"
train(demo_config("stargraph", layout="window"), run, resume=latest_checkpoint(run) is not None, progress=False,
      device="cuda")
PY
control=$!
python -m breadcrumbs demo --device cuda --out "$DEMO" --quiet > "$OUT/demo.log" 2>&1
wait "$control"
echo "trainings + demo evaluation: $(( $(date +%s) - start )) s" >> "$OUT/timings.txt"
python -m breadcrumbs demo --device cuda --out "$DEMO" --quiet --full-comparison > "$OUT/comparison.log" 2>&1
echo "total: $(( $(date +%s) - start )) s" >> "$OUT/timings.txt"
rm -rf "$DEMO"/train/checkpoints "$DEMO"/window/train/checkpoints  # weights are not needed back
cat "$OUT/timings.txt" "$DEMO/comparison/report.md"
