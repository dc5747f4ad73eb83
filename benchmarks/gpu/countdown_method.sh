#!/usr/bin/env bash
# The paper's method on one GPU in one device call (issue 21, item 6): `breadcrumbs experiment countdown --scale gpu`
# (the `small` preset: teacher, mixed / c8 / raw-tail students, the RL arms with the chosen update and joint
# distillation on their rollouts, every training-free baseline peak- and mean-matched, the window control, AUAC)
# for at most DEADLINE seconds; whatever has not finished is stopped and packed as it is (every job resumes, so a
# second call with the packed folder unpacked continues). Records land in $OUT: gpu.txt (card, versions, wall time),
# the experiment's tables and logs (no checkpoints), in the layout of docs/experiments/countdown*/.
# Run from the repository root:
#   OUT=../out DEADLINE=520 bash benchmarks/gpu/countdown_method.sh          # on the GPU machine (<= 9 minutes)
#   OUT=../out SCALE=micro PARALLEL=1 bash benchmarks/gpu/countdown_method.sh  # the same path on CPU in seconds (CI)
set -uo pipefail
OUT="${OUT:?set OUT}"; DEADLINE="${DEADLINE:-520}"; SCALE="${SCALE:-gpu}"; PARALLEL="${PARALLEL:-8}"
WORK="${WORK:-../countdown-method}"; mkdir -p "$WORK" "$OUT"
if ls .whl/*.whl > /dev/null 2>&1; then  # the pinned transformers wheel, carried to a machine without a registry
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" .whl/*.whl
  export PYTHONPATH="$(cd "$WORK" && pwd)/site:$PWD/src"
else
  export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
start=$(date +%s)
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU (cpu)"
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
  echo "scale $SCALE parallel $PARALLEL deadline $DEADLINE s commit $(git rev-parse --short HEAD 2>/dev/null)"
} > "$WORK/gpu.txt"
python3 -m breadcrumbs experiment countdown --scale "$SCALE" --parallel "$PARALLEL" --out "$WORK/countdown" \
  > "$WORK/experiment.log" 2>&1 &
experiment=$!
while [ $(( $(date +%s) - start )) -lt "$DEADLINE" ] && kill -0 "$experiment" 2> /dev/null; do sleep 2; done
if kill -0 "$experiment" 2> /dev/null; then
  kill -INT "$experiment"; wait "$experiment"  # as Ctrl-C: the driver stops its jobs (each saves), then exits
  echo "stopped at the deadline after $(( $(date +%s) - start )) s (rerun to resume)" >> "$WORK/gpu.txt"
  status=124
else
  wait "$experiment"; status=$?
  echo "finished in $(( $(date +%s) - start )) s, exit $status" >> "$WORK/gpu.txt"
fi
cp "$WORK/gpu.txt" "$WORK/experiment.log" "$OUT/"
tar czf "$OUT/countdown.tgz" -C "$WORK" --exclude='checkpoints' --exclude='recorded' --exclude='reference' countdown
cat "$WORK/gpu.txt"; tail -3 "$WORK/experiment.log"
exit "$status"
