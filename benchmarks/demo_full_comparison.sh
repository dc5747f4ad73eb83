#!/usr/bin/env bash
# The demo and its full comparison run as a user runs them (one command, phases one after another, so the plain
# demo's own time is in demo.json), then NVIDIA kvpress on the trained checkpoint, all recorded for the repo:
#
#   OUT=../demo_full RECORD=benchmarks/results/demo_comparison_cpu bash benchmarks/demo_full_comparison.sh
#
# Resumable: rerun the same command and finished training steps and evaluation records are skipped (the wall times
# then cover the rerun only; run.txt says so). Settings, all optional: DEVICE (cpu), NICE (0; 19 yields a shared CPU),
# MICRO=1 (a smoke run of minutes), KVPRESS (the kvpress environment's python, ../kvpress-venv/bin/python; empty
# skips the cross-check), KVPRESS_OUT (benchmarks/results), KVPRESS_N (default: all the demo's test problems). The cross-check
# uses the demo's task, difficulty, test problems and token limit and the sweep's budgets.
# RECORD receives: demo/ (the plain demo's report.md, pareto.png, summary.json, demo.json with its wall times),
# comparison/ (report.md, pareto.png, summary.json, comparison.json with the wall time per phase), tuning.json (the
# settings chosen on the dev split), stdout.txt and run.txt (command, commit, machine, start, wall time).
set -euo pipefail
OUT="${OUT:?set OUT to an output folder}"
RECORD="${RECORD:?set RECORD to the folder that keeps the record}"
DEVICE="${DEVICE:-cpu}"
KVPRESS="${KVPRESS-../kvpress-venv/bin/python}"
MICRO_FLAG="${MICRO:+--micro}"
mkdir -p "$RECORD/demo" "$RECORD/comparison"
resumed=$([ -e "$OUT/train/checkpoints/latest" ] && echo "yes (wall times cover this rerun only)" || echo no)
command="python -m breadcrumbs demo --full-comparison --out $OUT --device $DEVICE --quiet $MICRO_FLAG"
started=$(date -u +%FT%TZ)
start=$(date +%s)
nice -n "${NICE:-0}" $command > "$RECORD/stdout.txt"
demo_s=$(( $(date +%s) - start ))
cp "$OUT/report.md" "$OUT/pareto.png" "$OUT/summary.json" "$OUT/demo.json" "$RECORD/demo/"
cp "$OUT/comparison/report.md" "$OUT/comparison/pareto.png" "$OUT/comparison/summary.json" \
    "$OUT/comparison/comparison.json" "$RECORD/comparison/"
cp "$OUT/sweep/tuning.json" "$RECORD/tuning.json"
{
    echo "command: $command (nice ${NICE:-0})"
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' + uncommitted src changes')"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), device $DEVICE"
    echo "torch threads: $(python -c 'import torch; print(torch.get_num_threads())')"
    echo "started: $started; resumed: $resumed"
    echo "demo + full comparison wall time: $demo_s s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$RECORD/run.txt"
if [ -n "$KVPRESS" ]; then
    start=$(date +%s)
    # The demo's own task, difficulty, problem count and token limit (demo.json) and the sweep's budgets.
    read -r task difficulty n tokens budgets < <(python - "$OUT" <<'PY'
import json, sys
demo = json.load(open(f"{sys.argv[1]}/demo.json"))
budgets = json.load(open(f"{sys.argv[1]}/comparison/comparison.json"))["budgets"]
settings = demo["settings"]
print(demo["task"], ",".join(f"{k}={v}" for k, v in settings["difficulty"].items()), settings["eval_problems"],
      settings["max_new_tokens"], ",".join(map(str, budgets)))
PY
)
    nice -n "${NICE:-0}" python benchmarks/kvpress_crosscheck.py --model "$OUT/train/checkpoints/latest" \
        --task "$task" --difficulty ${difficulty//,/ } --n "${KVPRESS_N:-$n}" --budgets ${budgets//,/ } \
        --max-new-tokens "$tokens" --python "$KVPRESS" --out "${KVPRESS_OUT:-benchmarks/results}" --name trained \
        >> "$RECORD/stdout.txt"
    echo "kvpress cross-check wall time: $(( $(date +%s) - start )) s" >> "$RECORD/run.txt"
fi
cat "$RECORD/run.txt"
