#!/bin/bash
# Session 6 RL probes, in the order they ran (this file is the probe directory's run.sh, its notes written as each
# probe was stopped). Code: $EXP6_SRC was a copy of the working tree at b309987, with the files of 38018e0
# (rl.negative_weight) copied in before rl-pos / joint-pos, and those of a2b7398 (rl.trace_penalty, the first line
# check, without the board replay of 86ca66e) before joint-trace. From the recorded `mixed` warm start
# (experiments/countdown/runs/mixed/checkpoints/step-300), one thread per run, seed 0, rollouts 16 x 8 at
# temperature 0.7, the SFT difficulty; each run's config and metrics.jsonl are beside this file.
# Probe (session 6): GRPO at lr 1e-3 (10x the session-5 probe), else the rl-bigbatch settings:
# 16 prompts x 8 samples, T=0.7, SFT difficulty, from the recorded `mixed` warm start; 15 min training time each.
cd experiments/probes6  # from the repo root
for arm in rl-lr1e3 joint-lr1e3; do
  (echo "$arm start $(date -u +%FT%TZ)"; OMP_NUM_THREADS=1 PYTHONPATH=$EXP6_SRC/src python -m breadcrumbs train --config $arm.yaml --out $arm > $arm.log 2>&1; echo "$arm end $(date -u +%FT%TZ) rc=$?") >> times.log &
done
wait
# 14:40 UTC: rl-lr1e3 collapsed (truncated rollouts 5% -> 91% in 10 steps, reward 0, dev 45% -> 0%): stopped;
# replaced by the same at lr 3e-4:
#   OMP_NUM_THREADS=1 PYTHONPATH=$EXP6_SRC/src python -m breadcrumbs train --config rl-lr3e4.yaml --out rl-lr3e4
# 14:47 UTC: rl-lr3e4 (dev 45 -> 28% in 24 steps, truncation 2% -> 14%) and joint-lr1e3 (45 -> 20% in 16 steps,
# truncation -> 59%) also degrade: stopped. Next: reinforce only the samples better than their group
# (rl.negative_weight 0), lr 1e-3, 128 dev problems per point every 12 steps:
for arm in rl-pos joint-pos; do
  (echo "$arm start $(date -u +%FT%TZ)"; OMP_NUM_THREADS=1 PYTHONPATH=$EXP6_SRC/src python -m breadcrumbs train --config $arm.yaml --out $arm > $arm.log 2>&1; echo "$arm end $(date -u +%FT%TZ) rc=$?") >> times.log &
done
wait
# 14:52 UTC: rl-pos collapsed too (dev 36.7% -> 0% at step 12, truncation -> 81%): stopped. joint-pos goes on.
# Next in its slot: positive-only GRPO at lr 2e-4 with a 30-step warmup:
#   OMP_NUM_THREADS=1 PYTHONPATH=$EXP6_SRC/src python -m breadcrumbs train --config rl-pos-lr2e4.yaml --out rl-pos-lr2e4
# 15:00 UTC: joint-pos collapsed as well (dev 36.7% -> 30.5% -> 0%, truncation -> 100% by step 29); rl-pos-lr2e4
# drifted down (36.7 -> 41.4 -> 29.7 -> 27.3% over 36 updates, truncation <= 11%): both stopped. RL probes end here.
# Then ./run-students.sh long & ./run-students.sh mixed (the student probes, side by side).
# 15:02 UTC: joint GRPO + distillation with the trace-line reward (rl.trace_penalty 1.0), lr 3e-4, 10 warmup steps,
# beside the two student probes (three processes on two cores):
#   OMP_NUM_THREADS=1 PYTHONPATH=$EXP6_SRC/src python -m breadcrumbs train --config joint-trace.yaml --out joint-trace
# 15:38 UTC: joint-trace ended its 15 minutes level-to-down (36.7 -> 30.5%) but stable (entropy 0.03, truncation
# <= 12%). The same for 40 minutes of training time, with the committed line check (board replay, 86ca66e; code
# copied to $EXP6B_SRC at cdec830), beside the strong-lag2-long student probe:
#   OMP_NUM_THREADS=1 PYTHONPATH=$EXP6B_SRC/src python -m breadcrumbs train --config joint-trace-long.yaml --out joint-trace-long
# 16:17 UTC: joint-trace-long collapsed after ~120 updates (dev 36.7 -> ~30% level for 96 updates, then 13.3 -> 0.0%): stopped.
