"""Where does a student go wrong under teacher forcing? Per-token argmax errors by token class of the trace.

Usage: python docs/experiments/countdown/student_errors.py CHECKPOINT VIEW [VIEW ...]
VIEW: `full` (the teacher layout), `cN` (beacons at ratio N) or `wN` (the trained sliding window of N tokens).
32 dev-split problems of the experiment's task; prints one markdown table (errors per class and view).
"""
import sys, collections, torch
from breadcrumbs.models import load_model
from breadcrumbs.tasks import get_task
from breadcrumbs.training.data import encode_traces
from breadcrumbs.beacon import build_student_batch, attention_mask_for
from breadcrumbs.beacon.layout import SlidingWindow
torch.set_num_threads(1)
ckpt, views = sys.argv[1], sys.argv[2:] or ["full", "c8"]
def view_of(name):
    return None if name == "full" else SlidingWindow(int(name[1:])) if name[0] == "w" else int(name[1:])
model, tok = load_model(ckpt, device="cpu")
task = get_task("countdown")
probs = task.generate(32, seed=5, split="dev", k=3, max_number=20, max_target=100, backtracks=1, order=1, echo=1)
prompts, comps = encode_traces(tok, task, probs, "search")
beacon_id = tok.convert_tokens_to_ids("<beacon>")
def classify(text, i):
    line_start = text.rfind("\n", 0, i) + 1
    line_end = text.find("\n", i); line_end = len(text) if line_end < 0 else line_end
    line = text[line_start:line_end]; col = i - line_start
    ch = text[i] if i < len(text) else "<eos>"
    if line.startswith("back"): return "back line"
    if line.startswith("Answer"): return "answer line"
    if col == 0: return "line start (1st operand / back / Answer)"
    eq = line.find("=")
    if eq >= 0 and col < eq:
        return "move: op/2nd operand"
    if eq >= 0 and col > eq and (line.find("(") < 0 or col < line.find("(")): return "result after ="
    if "(" in line and line.find("(") <= col <= line.find(")"): return "echoed target"
    if "[" in line and col >= line.find("["): return "board after"
    if line.endswith("no") and col >= len(line) - 3: return "' no' / hit decision"
    return "other"
stats = {}
with torch.no_grad():
    for name in views:
        r = view_of(name)
        batch = build_student_batch(prompts, comps, r, beacon_id, tok.pad_token_id or 0, "left")
        mask = attention_mask_for(model, batch)
        out = model(input_ids=batch.input_ids, position_ids=batch.position_ids, attention_mask=mask)
        logits = out.logits.gather(1, batch.predict_index.unsqueeze(-1).expand(-1, -1, out.logits.shape[-1]))
        pred = logits.argmax(-1)
        c = collections.Counter(); e = collections.Counter()
        for row in range(len(probs)):
            text = tok.decode(comps[row][:-1])
            n = int(batch.completion_mask[row].sum())
            for j in range(n):
                cls = classify(text, j) if j < len(text) else "<eos>"
                c[cls] += 1; e[cls] += int(pred[row, j] != batch.completion_ids[row, j])
        stats[name] = (c, e)
names = list(stats)
print("| token class | tokens | " + " | ".join(f"errors, {n}" for n in names) + " |")
print("|---|---:|" + "---:|" * len(names))
for cls in sorted(stats[names[0]][0], key=lambda k: -stats[names[-1]][1][k]):
    print(f"| {cls} | {stats[names[0]][0][cls]} | " + " | ".join(f"{stats[n][1][cls]} ({100*stats[n][1][cls]/max(1,stats[n][0][cls]):.1f}%)" for n in names) + " |")
