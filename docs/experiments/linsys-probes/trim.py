"""Trim a run's metrics.jsonl to what the records read: every eval line, the first and the last training line.

    python docs/experiments/linsys-probes/trim.py RUN/metrics.jsonl > docs/experiments/linsys-probes/NAME/metrics.jsonl
"""

import json
import sys

lines = [json.loads(line) for line in open(sys.argv[1])]
train = [i for i, record in enumerate(lines) if record.get("kind") == "train"]
keep = {i for i, record in enumerate(lines) if record.get("kind") != "train"} | ({train[0], train[-1]} if train else set())
for i in sorted(keep):
    print(json.dumps(lines[i]))
