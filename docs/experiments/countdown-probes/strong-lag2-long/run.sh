#!/bin/bash
# Probes (session 6) on the 3,000-step teacher (probes5/teacher-long, 83.3% on test), one thread each, side by side:
#   strong-lag2-long   the c8-lag2 student recipe for 1,000 steps (was 300: probe strong-lag2, 43.3% vs 76.7% full)
#   strong-mixed-lag2  300 steps with c drawn per sequence log-uniformly from 2..32 and an eviction lag of 2
# then each one's test evaluation (150 problems, greedy).
# EXP6_SRC / EXP6B_SRC: copies of the source tree at b309987 (+ 38018e0, a2b7398) and at cdec830, as in
# ../rl-stability/run.sh.
cd experiments/probes6  # from the repo root
D="--difficulty k=3 --difficulty max_number=20 --difficulty max_target=100 --difficulty backtracks=1 --difficulty order=1 --difficulty echo=1"
run() {  # name, steps, methods
  echo "$1 start $(date -u +%FT%TZ)" >> times.log
  OMP_NUM_THREADS=1 PYTHONPATH=$EXP6_SRC/src python -m breadcrumbs train --config $1.yaml --out $1 --quiet > $1.log 2>&1
  echo "$1 trained $(date -u +%FT%TZ) rc=$?" >> times.log
  OMP_NUM_THREADS=1 PYTHONPATH=$EXP6_SRC/src python -m breadcrumbs eval --task countdown -m $1/checkpoints/step-$2 \
    --methods $3 --n 150 --split test $D --max-new-tokens 600 --batch-size 64 -o $1-test.jsonl -q >> $1.log 2>&1
  echo "$1 end $(date -u +%FT%TZ) rc=$?" >> times.log
}
case "$1" in
  long) run strong-lag2-long 1000 full,beacon:8:lag=2 ;;
  mixed) run strong-mixed-lag2 300 full$(for c in 2 3 4 5 6 8 12 16 24 32; do printf ",beacon:$c:lag=2"; done) ;;
esac
# 16:18 UTC: every training-free baseline at the long student's per-problem peak and mean KV (appended to its test
# results; the full cache and beacon records already there are reused):
#   ./run-students.sh matched
if [ "$1" = matched ]; then
  M="full,beacon:8:lag=2"
  for b in streaming h2o tova snapkv knorm rkv; do M="$M,$b:@beacon:8:lag=2,$b:@beacon:8:lag=2@mean"; done
  echo "strong-lag2-long-matched start $(date -u +%FT%TZ)" >> times.log
  OMP_NUM_THREADS=2 PYTHONPATH=$EXP6B_SRC/src python -m breadcrumbs eval --task countdown \
    -m strong-lag2-long/checkpoints/step-1000 --methods $M --n 150 --split test $D --max-new-tokens 600 \
    --batch-size 64 -o strong-lag2-long-test.jsonl -q >> strong-lag2-long.log 2>&1
  echo "strong-lag2-long-matched end $(date -u +%FT%TZ) rc=$?" >> times.log
fi
