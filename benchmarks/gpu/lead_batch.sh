#!/usr/bin/env bash
# Every GPU check of this session in one device call (a GPU is lent for 15 minutes in all): the Countdown experiment
# at GPU scale (issue 12), rollout speed (issue 14), device robustness (issue 15) and the demo's full comparison
# (issue 13), side by side on one card; whatever has not finished by DEADLINE seconds is stopped and packed as it is
# (every part is resumable). Carries the transformers wheel the project pins (.whl/). Run from the repo root:
#   OUT=../out DEADLINE=500 bash benchmarks/gpu/lead_batch.sh
set -uo pipefail
OUT="${OUT:?set OUT}"; DEADLINE="${DEADLINE:-500}"; WORK="${WORK:-../lead}"; mkdir -p "$WORK" "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" .whl/*.whl
export PYTHONPATH="$(cd "$WORK" && pwd)/site:$PWD/src" PYTHONUNBUFFERED=1
start=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$WORK/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" >> "$WORK/gpu.txt"
python3 -m breadcrumbs experiment countdown --scale gpu --parallel 8 --out "$WORK/countdown-gpu" > "$WORK/experiment.log" 2>&1 &
exp=$!
(OUT="$WORK/rollout" bash benchmarks/gpu/rollout_speed.sh > "$WORK/rollout.log" 2>&1) &
(OUT="$WORK/robust" bash benchmarks/gpu/robustness_devices.sh > "$WORK/robust.log" 2>&1) &
(OUT="$WORK/democmp" bash benchmarks/gpu/demo_comparison.sh > "$WORK/democmp.log" 2>&1) &
while [ $(( $(date +%s) - start )) -lt "$DEADLINE" ] && [ -n "$(jobs -r)" ]; do sleep 5; done
echo "stopped after $(( $(date +%s) - start )) s; still running: $(jobs -r | wc -l)" >> "$WORK/gpu.txt"
pkill -INT -f "breadcrumbs" ; sleep 3; kill $(jobs -p) 2>/dev/null
cp "$WORK/gpu.txt" "$OUT/"
tar czf "$OUT/countdown_gpu.tgz" -C "$WORK" --exclude='checkpoints' --exclude='reference' countdown-gpu experiment.log
tar czf "$OUT/others.tgz" -C "$WORK" --exclude='checkpoints' --exclude='*.safetensors' rollout robust democmp rollout.log robust.log democmp.log
ls -la "$OUT"; cat "$WORK/gpu.txt"; tail -5 "$WORK/experiment.log"; cat "$WORK/robust/robustness_devices.txt" 2>/dev/null | cut -c1-200
