"""First line where each wrong greedy completion leaves the solver's trace (from the repo root):

    python docs/experiments/linsys-probes/errors.py RESULTS.jsonl STYLE KNOB=V ... > errors.txt

RESULTS.jsonl is `breadcrumbs eval --methods full` output; the problems are rebuilt from their split and seed 0.
"""

import json
import sys
from collections import Counter

from breadcrumbs.tasks import get_task

path, style, knobs = sys.argv[1], sys.argv[2], dict(kv.split("=") for kv in sys.argv[3:])
task = get_task("linsys")
records = [json.loads(line) for line in open(path) if '"method": "full"' in line]
split = records[0]["split"]
problems = {p.id: p for p in task.generate(len(records), seed=0, split=split, **{k: int(v) for k, v in knobs.items()})}
kinds: Counter = Counter()
wrong = [r for r in records if not r["correct"]]
for record in wrong:
    reference = task.solve(problems[record["problem_id"]], style).splitlines()
    got = record["completion"].splitlines()
    index = next((i for i, (a, b) in enumerate(zip(reference, got)) if a != b), min(len(reference), len(got)))
    ref_line, got_line = (reference + [""])[index], (got + [""])[index]
    kind = ("header" if "=" in ref_line.split(":")[0] else "scale" if ref_line[:1] in "-0123456789"
            else "sum" if " -> " in ref_line and " + " in ref_line else "divide" if " -> " in ref_line
            else "check" if ref_line.startswith("check") else "answer" if ref_line.startswith("Answer")
            else "substitute")
    kinds[kind] += 1
    print(f"{record['problem_id']} [{kind}]\n  want: {ref_line}\n  got:  {got_line}")
print(f"\n{len(wrong)} wrong of {len(records)}; first wrong line by kind: {dict(kinds.most_common())}")
