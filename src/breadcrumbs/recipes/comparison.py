"""The demo's full comparison (`breadcrumbs demo --full-comparison`): after the demo, every training-free baseline
as a curve of fixed budgets with settings tuned on a dev split (`evaluation/sweep.py`), and the **trained
sliding-window control** (the demo's recipe with `beacon.layout: window`) at the same budgets, in one report next to
the full cache and the beacons.

Artefacts under the demo's output directory (all resumable): `sweep/` (dev.jsonl, results.jsonl, tuning.json),
`window/train/` (the control's training run), `window/results.jsonl`, and `comparison/`: `matched.jsonl` (full,
beacons, and every baseline at each beacon ratio's per-problem peak and mean, default settings) and report.md,
pareto.png/.svg, summary.json over the matched, swept and control results together, and comparison.json
(settings and wall time per phase: sweep, control training, control evaluation, matched evaluation).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.policies.registry import baseline_names

SWEEP_FAMILIES = baseline_names("comparison")  # the baselines whose registry records join the full comparison
# Generated entries kept: around the 9-12 the beacons hold at their peak on the demo task, and below and above.
BUDGETS = (4, 6, 9, 12, 16)


def run_comparison(
    task: str = "stargraph",
    out_dir: str | Path = "demo_out",
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    micro: bool = False,
    families: tuple[str, ...] = SWEEP_FAMILIES,
    budgets: tuple[int, ...] = BUDGETS,
) -> dict:
    """Sweep the baselines on the demo's checkpoint, train and evaluate the window control, write `comparison/`.
    Needs a finished demo in `out_dir`. Returns the report and wall times."""
    from breadcrumbs.evaluation import evaluate, write_report
    from breadcrumbs.evaluation.results import read_results
    from breadcrumbs.files import atomic_write
    from breadcrumbs.evaluation.sweep import sweep
    from breadcrumbs.models import load_model
    from breadcrumbs.recipes.demo import RATIOS, demo_config, demo_settings, heldout_problems
    from breadcrumbs.tasks import get_task
    from breadcrumbs.training import train
    from breadcrumbs.training.checkpoint import latest_checkpoint

    out_dir = Path(out_dir)
    settings = demo_settings(task, micro)
    checkpoint = latest_checkpoint(out_dir / "train")
    demo_results = out_dir / "results.jsonl"
    if checkpoint is None or not demo_results.exists():
        raise BreadcrumbsError(f"no finished demo in {out_dir}; run `breadcrumbs demo --out {out_dir}` first")
    task_object = get_task(task)
    demo_ids = {record["problem_id"] for record in read_results(demo_results)[0]}
    # The demo draws its held-out problems from the test split (ids name it); older demo runs drew from no split.
    test = heldout_problems(task_object, settings, seed, "test" if any("-test-" in i for i in demo_ids) else None)
    if demo_ids != {problem.id for problem in test}:
        raise BreadcrumbsError(f"{demo_results} holds other problems than the demo's test split; rerun the demo")
    dev = heldout_problems(task_object, settings, seed, "dev")
    decoding = dict(max_new_tokens=settings["max_new_tokens"], batch_size=64, seed=seed, progress=progress)
    timings = {}

    started = time.perf_counter()
    model, tokenizer = load_model(str(checkpoint), device=device)
    swept = sweep(model, tokenizer, task_object, dev, test, list(families), list(budgets), out_dir / "sweep",
                  model_id=f"demo-{task}", **decoding)
    timings["sweep_s"] = time.perf_counter() - started

    started = time.perf_counter()
    control_run = out_dir / "window" / "train"
    control = train(demo_config(task, seed, micro, layout="window"), control_run,
                    resume=latest_checkpoint(control_run) is not None, progress=progress, device=device)
    timings["control_train_s"] = time.perf_counter() - started
    started = time.perf_counter()
    control_model, control_tokenizer = load_model(str(control), device=device)
    control_results = out_dir / "window" / "results.jsonl"
    evaluate(control_model, control_tokenizer, task_object, test, [f"window:{budget}" for budget in budgets],
             out=control_results, model_id=f"demo-{task}-window", **decoding)
    timings["control_eval_s"] = time.perf_counter() - started

    # Every baseline (R-KV included) at each beacon ratio's per-problem peak and at its mean, next to the beacons.
    matched = out_dir / "comparison" / "matched.jsonl"
    methods = ["full", *(f"beacon:{ratio}" for ratio in RATIOS)] + [
        f"{family}:@beacon:{ratio}{statistic}" for family in families for ratio in RATIOS for statistic in ("", "@mean")
    ]
    started = time.perf_counter()
    evaluate(model, tokenizer, task_object, test, methods, out=matched, model_id=f"demo-{task}", **decoding)
    timings["matched_eval_s"] = time.perf_counter() - started
    report = write_report([matched, swept.results, control_results], out_dir / "comparison")
    atomic_write(out_dir / "comparison" / "comparison.json", json.dumps(
        {"task": task, "seed": seed, "device": device, "micro": micro, "families": list(families),
         "budgets": list(budgets), "control_checkpoint": str(control), "timings_s": timings}, indent=2) + "\n")
    return {"report": report, "timings_s": timings, "tuning": swept.tuning}
