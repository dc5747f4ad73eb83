#!/usr/bin/env bash
# Issue 14: DeepSpeed ZeRO-2 through `accelerate` on one CUDA GPU (on CPU, tests/test_train_ddp.py runs it with 2
# processes where deepspeed is installed: benchmarks/results/deepspeed_zero2_cpu.md). Trains the 2-process test's
# config (micro model, 2 SFT steps with micro-batches + 1 RL step with a reference KL) once plainly and once under
# ZeRO-2 (what `accelerate launch --use_deepspeed --zero_stage 2` sets), and compares the weights after the SFT
# steps. No internet, no weights.
# Needs `deepspeed` importable (WHEELS=/dir installs it from local wheels). About a minute.
#   OUT=../out bash benchmarks/gpu/deepspeed_zero2.sh     -> $OUT/deepspeed_zero2.txt (PASS|FAIL|SKIP line + figures)
set -uo pipefail
OUT="${OUT:?set OUT to an output folder}"
mkdir -p "$OUT"
LOG="$OUT/deepspeed_zero2.txt"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$LOG" 2>&1 || true
if ! python -c "import deepspeed" 2>/dev/null; then
  [ -n "${WHEELS:-}" ] && pip install -q --no-index --find-links "$WHEELS" deepspeed >> "$LOG" 2>&1
  python -c "import deepspeed" 2>/dev/null || { echo "SKIP deepspeed is not installed" >> "$LOG"; exit 0; }
fi
WORK=$(mktemp -d)
python - "$WORK" <<'PY'
import sys, yaml
sys.path.insert(0, "tests")
from test_train_ddp import CONFIG, WORKER
config = {**CONFIG, "device": "cuda", "sft": {**CONFIG["sft"], "micro_batch_size": 4},
          "rl": {**CONFIG["rl"], "micro_batch_size": 4}}
open(f"{sys.argv[1]}/config.yaml", "w").write(yaml.safe_dump(config))
open(f"{sys.argv[1]}/worker.py", "w").write(WORKER)
PY
run() {  # run NAME [ENV...]: one process under torchrun, as accelerate launch would start it
  local name=$1; shift
  env "$@" timeout 240 torchrun --nproc_per_node 1 --master_port 29531 "$WORK/worker.py" "$WORK/config.yaml" \
    "$WORK/$name" > "$OUT/deepspeed_zero2_$name.log" 2>&1
}
run plain && run zero2 ACCELERATE_USE_DEEPSPEED=true ACCELERATE_DEEPSPEED_ZERO_STAGE=2
rc=$?
python - "$WORK" "$rc" >> "$LOG" 2>&1 <<'PY'
import sys
from pathlib import Path
from safetensors.torch import load_file
work, rc = Path(sys.argv[1]), int(sys.argv[2])
if rc:
    print(f"FAIL a run exited with {rc}; see deepspeed_zero2_*.log")
    sys.exit()
plain = load_file(work / "plain/checkpoints/step-2/model.safetensors")
zero2 = load_file(work / "zero2/checkpoints/step-2/model.safetensors")
worst = max((plain[k] - zero2[k]).abs().max().item() for k in plain)
moved = max((load_file(work / "zero2/checkpoints/step-3/model.safetensors")[k] - zero2[k]).abs().max().item()
            for k in zero2)
verdict = "PASS" if worst <= 1e-4 and moved > 0 else "FAIL"
print(f"{verdict} ZeRO-2 vs plain after 2 SFT steps (micro-batches of 4): max |param diff| {worst:.2e}; "
      f"RL step moved the weights by up to {moved:.2e}")
PY
grep -h "world" "$OUT"/deepspeed_zero2_*.log >> "$LOG" 2>/dev/null
cat "$LOG"
