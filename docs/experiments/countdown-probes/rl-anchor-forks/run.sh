#!/bin/bash
# Probe (2026-12-02): does expert iteration on the forks with a solver-trace anchor lift the Countdown teacher on
# the RL difficulty (backtracks 2), and is it more than the anchor's doing? Two arms side by side, one thread each,
# 30 min of training time each (time_budget_s), from START: ei-forks-anchor (RL only; 8 x 8 rollouts, T = 1,
# lr 5e-4) and sft-control (no RL: the warm start continued on its own difficulty's solver traces at the same lr).
# START was step 1,000 (of 3,000, lr still 1.6e-3 in its cosine) of the strong-recipe teacher while it trained
# (experiments/countdown/runs/teacher), the only teacher on the machine that day.
# Run from the repo root; outputs in experiments/probes-rl-anchor (git-ignored); configs and trimmed metrics here.
# The code is a snapshot of a commit (SRC: `git archive COMMIT src | tar -x -C SRC`), so that edits to the working
# tree while the probe runs cannot reach it; the commit is in SRC/COMMIT and in times.log.
set -e
SRC="$(cd "${SRC:?set SRC to a snapshot of src/}" && pwd)"
START="${START:-experiments/countdown/runs/teacher/checkpoints/latest}"
mkdir -p experiments/probes-rl-anchor
if [ ! -d experiments/probes-rl-anchor/start ]; then  # one copy of START for every arm (ARMS may come in turns)
  cp -r "$START/." experiments/probes-rl-anchor/start && rm -f experiments/probes-rl-anchor/start/trainer_state.pt
fi
cp docs/experiments/countdown-probes/rl-anchor-forks/*.yaml experiments/probes-rl-anchor/
cd experiments/probes-rl-anchor
for arm in ${ARMS:-ei-forks-anchor sft-control}; do
  (echo "$arm start $(date -u +%FT%TZ) code $(cat "$SRC/COMMIT")"; OMP_NUM_THREADS=1 PYTHONPATH="$SRC/src" python -m breadcrumbs train --config $arm.yaml --out $arm --quiet > $arm.log 2>&1; echo "$arm end $(date -u +%FT%TZ) rc=$?") >> times.log &
done
wait
# 2026-12-02: first started 18:27 UTC from the shared working tree (an engineer's half-made edit broke its import:
# the reason for SRC), then 18:43 UTC from a snapshot of 2562469 on the step-1,000 teacher; stopped 19:00 UTC with
# 3 RL updates done (177 s per update while the 2 cores also ran the teacher and other jobs): no result. Rerun it
# from the recorded teacher: START=docs/experiments/countdown/models/teacher SRC=../snap bash <this file>.
# 2026-12-02 (236b368): ei-forks-counted-anchor and grpo-forks-counted-anchor at lr 5e-4 from the recorded teacher:
# both collapse (29.7% -> 4-16% on 128 dev problems within 8 updates, entropy 0.017 -> 0.26); results/*lr5e-4*.
# 2026-12-03 04:25-05:22 UTC (code 1287148, 2-core CPU, one thread each, beside the SmolLM2 student run):
#   ARMS=ei-forks-counted-anchor-lr5e-5 then ARMS=grpo-forks-counted-anchor-lr5e-5, START and SRC as above.
#   EI: 29.7 -> 39.1 (update 48) -> 25.0% (111 updates, entropy 0.020 -> 0.063); GRPO: 29.7 -> 50.0% (128 of 131
#   updates, entropy 0.020 -> 0.025, truncated rollouts 34% -> 19%).
# 2026-12-03 07:35-08:03 UTC (code 1287148, side by side, one thread each, while the other core ran tests and a
#   refactoring's tests): ARMS="grpo-forks-counted-anchor-lr5e-5-s1 sft-control-rl-difficulty": GRPO seed 1 got 70
#   updates in 1500 s (contention: 28.7 s per update at first against 15.5 s for seed 0), 34.4 -> 46.1% on its dev
#   draw; the SFT control 29.7 -> 73.4% (639 steps; 77.3% at step 600).
# Then test_eval.sh (2026-12-03 08:05-08:08 UTC, code c0cedc5): results/*.test.jsonl, table in countdown.md ("RL").
