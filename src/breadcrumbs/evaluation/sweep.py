"""Fixed-budget sweeps with per-budget hyperparameters tuned on a dev split disjoint from the test split.

For every method family and budget `B`, each candidate setting of the family's grid (`MethodFamily.grid` in the
registry, `breadcrumbs/policies/registry.py`; the default setting first) runs on the **dev** problems; the setting
with the highest dev accuracy wins (ties: the earlier candidate, so the default unless something beats it), and only
that setting runs on the **test** problems. Outputs, all resumable (rerunning skips finished records): `dev.jsonl`
(every candidate), `results.jsonl` (the chosen settings on test; each record carries its `settings`) and
`tuning.json` (per family and budget: every candidate's dev accuracy and the choice). `breadcrumbs report
results.jsonl` then draws one accuracy-vs-KV curve per family.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.evaluation.runner import evaluate
from breadcrumbs.files import atomic_write
from breadcrumbs.policies import policy_from_spec, registry

# A family's grid maps a budget to candidate settings (keyword arguments of the policy class), the default first.
# Pinned counts are kept below the budget; the grids span what each paper tunes (sinks, recent share, observation
# window, pooling). Candidates that build the same policy label are run once.


def spec_for(family: str, budget: int, setting: dict) -> str:
    """The canonical spec (the policy's label) of a family at a budget with a setting."""
    options = "".join(f":{name}={value}" for name, value in setting.items())
    return policy_from_spec(f"{family}:{budget}{options}").label


@dataclass
class SweepResult:
    """Where the sweep wrote its files, and the chosen spec per (family, budget)."""

    dev: Path
    results: Path
    tuning: Path
    chosen: dict[str, dict[int, str]]


def sweep(
    model,
    tokenizer,
    task,
    dev_problems: Sequence,
    test_problems: Sequence,
    families: Sequence[str],
    budgets: Sequence[int],
    out_dir: str | Path,
    *,
    extra_methods: Sequence[str] = (),
    progress: bool = False,
    **decoding,
) -> SweepResult:
    """Tune every family at every budget on `dev_problems`, then run the chosen settings (plus `extra_methods`, e.g.
    `full` and `beacon:4`) on `test_problems`. `decoding` goes to `evaluate` (max_new_tokens, batch_size, ...)."""
    sweepable = [family.name for family in registry.families(swept=True)]
    unknown = [family for family in families if family not in sweepable]
    if unknown:
        raise BreadcrumbsError(f"cannot sweep {unknown[0]!r}; choose from {', '.join(sweepable)}")
    if not budgets or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in budgets):
        raise BreadcrumbsError(f"sweep budgets must be whole numbers >= 1, got {list(budgets)!r}")
    dev_ids = {problem.id for problem in dev_problems}
    if dev_ids & {problem.id for problem in test_problems}:
        raise BreadcrumbsError("the dev and test problems overlap; draw them from different splits")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dev_path, results_path = out_dir / "dev.jsonl", out_dir / "results.jsonl"

    candidates = {(family, budget): _unique_specs(family, budget) for family in families for budget in budgets}
    all_candidates = [spec for specs in candidates.values() for spec in specs if len(specs) > 1]
    dev_records = (
        evaluate(model, tokenizer, task, dev_problems, all_candidates, out=dev_path, progress=progress, **decoding).records
        if all_candidates else []
    )
    accuracy: dict[str, float] = {}
    for spec in all_candidates:
        rows = [record for record in dev_records if record["method"] == spec]
        accuracy[spec] = sum(record["correct"] for record in rows) / len(rows)
    chosen: dict[str, dict[int, str]] = {}
    tuning = []
    for (family, budget), specs in candidates.items():
        best = choose(specs, accuracy)
        chosen.setdefault(family, {})[budget] = best
        tuning.append({
            "family": family, "budget": budget, "chosen": best, "settings": policy_from_spec(best).settings,
            "dev_accuracy": {spec: accuracy.get(spec) for spec in specs}, "dev_problems": len(dev_problems),
        })
    methods = list(extra_methods) + [spec for per_budget in chosen.values() for spec in per_budget.values()]
    evaluate(model, tokenizer, task, test_problems, methods, out=results_path, progress=progress, **decoding)
    tuning_path = atomic_write(out_dir / "tuning.json", json.dumps(tuning, indent=2) + "\n")
    return SweepResult(dev_path, results_path, tuning_path, chosen)


def choose(specs: list[str], accuracy: dict[str, float]) -> str:
    """The candidate with the highest dev accuracy; ties go to the earlier candidate (the default comes first)."""
    return max(specs, key=lambda spec: (accuracy.get(spec, 0.0), -specs.index(spec)))


def _unique_specs(family: str, budget: int) -> list[str]:
    specs = []
    for setting in registry.get_family(family).grid(budget):
        spec = spec_for(family, budget, setting)
        if spec not in specs:
            specs.append(spec)
    return specs
