#!/bin/bash
# Prompt and trace lengths (tokens = characters) of the probes' settings, 1000 problems, seed 1 (from the repo root):
#   bash docs/experiments/linsys-probes/lengths.sh > docs/experiments/linsys-probes/lengths.txt
for d in "unknowns=2 max_coef=2 max_value=5 local=1" "unknowns=2 max_coef=2 max_value=5 local=2" "unknowns=2 max_coef=2 max_value=5 local=0" \
         "unknowns=2 max_coef=3 max_value=5 local=1" "unknowns=3 max_coef=2 max_value=3 local=1"; do
  args=""; for kv in $d; do args="$args --difficulty $kv"; done
  breadcrumbs tasks sample --task linsys --n 1000 --seed 1 $args --stats
  # the test split, as the final evaluation draws it (its first 150 problems)
  python - $d <<'PY'
import sys
from breadcrumbs.tasks import get_task
task = get_task("linsys")
difficulty = {k: int(v) for k, v in (kv.split("=") for kv in sys.argv[1:])}
problems = task.generate(150, seed=0, split="test", **difficulty)
prompt = sum(len(task.prompt(p)) for p in problems) / len(problems)
for style in ("search", "direct"):
    trace = sum(len(task.solve(p, style)) for p in problems) / len(problems)
    print(f"  test split, first 150 (seed 0): prompt {prompt:.1f}, {style} {trace:.1f}, ratio {trace / prompt:.2f}")
PY
done
