#!/usr/bin/env bash
# The strong-recipe run's test-split reports so far, from its recorded evaluations (run from the repo root).
# `breadcrumbs experiment countdown --from-recorded --out experiments/countdown` first adopts every record of
# docs/experiments/countdown/models/ into experiments/countdown/results/ (or the run wrote them there itself);
# the experiment writes the same reports itself once its last job is done (report/, report-c8-lag2/, models.md).
set -euo pipefail
R=experiments/countdown/results
D=docs/experiments/countdown/strong-recipe
# the joint model (mixed 2..32 after 40 min of joint RL + distillation) against every baseline, peak- and
# mean-matched at c = 8, and the baselines' curves with settings tuned per budget on dev problems
breadcrumbs report $R/eval-joint-s0.jsonl $R/sweep/results.jsonl --out $D/report-joint -q
# the paper-rule c = 8 student and the raw-tail c = 8 student against every baseline at their own peak / mean KV
breadcrumbs report $R/eval-c8-lag2-matched.jsonl --out $D/report-c8-lag2 -q
breadcrumbs report $R/eval-c8.jsonl --out $D/report-c8 -q
breadcrumbs report $R/eval-mixed.jsonl --out $D/report-mixed -q
# the RL goal: the teacher (full cache) of the warm start and of each finished arm on test problems of the RL
# difficulty (numbers 1..30)
breadcrumbs report $R/eval-rl-mixed.jsonl $R/eval-rl-rl-s0.jsonl $R/eval-rl-joint-s0.jsonl $R/eval-rl-distill-s0.jsonl \
    $R/eval-rl-sft-s0.jsonl $R/eval-rl-rl-s1.jsonl $R/eval-rl-joint-s1.jsonl $R/eval-rl-distill-s1.jsonl $R/eval-rl-sft-s1.jsonl \
    --out $D/report-rl -q
# every recorded student on test problems drawn from seed 1 instead of 0
breadcrumbs report $R/eval-joint-s0-seed1.jsonl $R/eval-mixed-seed1.jsonl $R/eval-c8-seed1.jsonl \
    $R/eval-c8-lag2-seed1.jsonl $R/eval-window-seed1.jsonl --out $D/report-seed1 -q
