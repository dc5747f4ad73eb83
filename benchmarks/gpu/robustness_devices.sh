#!/usr/bin/env bash
# Issue 15 device checks on one CUDA GPU (the CPU suite cannot exercise them). Run from the repository root with the
# project installed; no internet, no weights (presets are built here). Finishes in well under a minute.
#   OUT=../out bash benchmarks/gpu/robustness_devices.sh      -> $OUT/robustness_devices.txt (every line: PASS|FAIL)
# Checks: --device cuda:N past the device count is one error; --device cuda generates on the GPU; a KV cache larger
# than the GPU's free memory is refused up front (no allocation attempted); Ctrl-C during a CUDA eval exits 130.
set -uo pipefail
OUT="${OUT:?set OUT to an output folder}"
mkdir -p "$OUT"
LOG="$OUT/robustness_devices.txt"
: > "$LOG"
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader >> "$LOG" 2>&1 || true
check() {  # check NAME EXPECTED_RC GREP_PATTERN -- command...
  local name=$1 want=$2 pattern=$3; shift 4
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  if [ "$rc" = "$want" ] && grep -q -- "$pattern" <<<"$err" && ! grep -q Traceback <<<"$err"; then
    echo "PASS $name (rc $rc): ${err:0:300}" >> "$LOG"
  else
    echo "FAIL $name (rc $rc, wanted $want /$pattern/): ${err:0:2000}" >> "$LOG"
  fi
}
check "cuda index out of range" 1 "CUDA device(s)" -- python -m breadcrumbs generate -m micro -p "1 2" --device cuda:99 -q
check "generate on cuda" 0 "" -- python -m breadcrumbs generate -m tiny -p "1 2" -n 8 --device cuda -q
check "cache larger than free GPU memory refused" 0 "" -- python - <<'PY'
import torch
from breadcrumbs import BreadcrumbsError, generate, load_model
model, tokenizer = load_model("base", device="cuda")
before = torch.cuda.memory_allocated()
try:
    generate(model, tokenizer, ["1 2"] * 4096, max_new_tokens=8000)
except BreadcrumbsError as err:
    assert "GiB but cuda" in str(err), err
    assert torch.cuda.memory_allocated() == before, "allocated before refusing"
    print("refused:", err, flush=True)
else:
    raise SystemExit("not refused")
PY
python -m breadcrumbs eval --task countdown -m tiny --n 5000 --device cuda -q --out "$OUT/interrupted.jsonl" \
    > /dev/null 2> "$OUT/interrupt.err" &
pid=$!
sleep 25
kill -INT "$pid"
wait "$pid"; rc=$?
if [ "$rc" = 130 ] && grep -q "error: interrupted;" "$OUT/interrupt.err" && ! grep -q Traceback "$OUT/interrupt.err"; then
  echo "PASS ctrl-c during cuda eval (rc 130): $(cat "$OUT/interrupt.err")" >> "$LOG"
else
  echo "FAIL ctrl-c during cuda eval (rc $rc): $(cat "$OUT/interrupt.err")" >> "$LOG"
fi
cat "$LOG"
