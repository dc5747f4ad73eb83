"""Run methods (cache policies) over a task's problems and record one JSON line per problem x method.

Methods are policy specs (`full`, `beacon:8`, `tova:64`, `tova:@beacon:8`, `h2o:@beacon:4@mean`). A matched spec
takes its budget per problem from the reference method's measured KV entries on that problem, so references run
first (and are added to the run if not listed): with `@beacon:8` (peak) the budget is the generated entries of
beacon:8's peak (`peak_kv_entries - prompt_tokens`), so the baseline never holds more than the beacon did at its
peak; with `@beacon:8@mean` it is the budget whose mean entries over the reference's generation length come
closest to the reference's mean.

Resumable: with `out`, records already in the file are reused when everything that defines them agrees (task,
difficulty, problem, method, model, sampling settings, seed; see `results.record_key`), each new record is appended
as one flushed line, and a truncated last line left by a kill is dropped and rerun.

With `agreement=True` (`breadcrumbs eval --prompts`) the full cache runs first (added when not listed) and every
record also holds its completion's token ids and its agreement with the full cache's completion of the same prompt
(`evaluation.agreement`). A task with nothing to score (`task.scores` false: prompts without a reward) records
`correct` and `reward` as null; it is never scored.
"""

from __future__ import annotations

import json
import warnings as warnings_module
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from breadcrumbs.errors import BreadcrumbsError, BreadcrumbsWarning
from breadcrumbs.evaluation.agreement import REFERENCE, agreement as agreement_with
from breadcrumbs.evaluation.results import problems_split
from breadcrumbs.generators import DEFAULT as DEFAULT_GENERATOR, Generator, get_generator
from breadcrumbs.policies import BeaconPolicy, CachePolicy, ScoredEvictionPolicy, policy_from_spec
from breadcrumbs.policies.scored import BudgetMatch
from breadcrumbs.provenance import provenance
from breadcrumbs.trained import policy_warnings, problem_warnings, trained_for

# Config fields that must agree for a results file to be resumed (`scored`, `agreement`: checked when recorded).
RUN_FIELDS = ("model", "max_new_tokens", "temperature", "top_p", "scored", "agreement")


@dataclass
class Method:
    """A parsed method: its canonical spec (`label`), family, and policy (budget unresolved when matched)."""

    label: str
    family: str
    policy: CachePolicy

    @property
    def match(self) -> BudgetMatch | None:
        return getattr(self.policy, "match", None)


def parse_methods(methods: str | Sequence[str]) -> list[Method]:
    """Parse comma-separated (or listed) specs; references of matched specs are added before them. Bad specs
    raise BreadcrumbsError before anything runs."""
    specs = methods.split(",") if isinstance(methods, str) else list(methods)
    specs = [spec.strip() for spec in specs if spec.strip()]
    if not specs:
        raise BreadcrumbsError("no methods given; e.g. --methods full,beacon:4,tova:@beacon:4")
    parsed: dict[str, Method] = {}
    matched: list[Method] = []
    for spec in specs:
        policy = policy_from_spec(spec)
        method = Method(policy.label, policy.family, policy)
        if method.match is None:
            parsed.setdefault(method.label, method)
        else:
            matched.append(method)
    for method in matched:
        reference = policy_from_spec(method.match.reference)
        if getattr(reference, "match", None) is not None:
            raise BreadcrumbsError(f"method {method.label}: the matched method must have its own budget")
        method.policy.match = BudgetMatch(reference.label, method.match.statistic)
        method.label = method.policy.label
        parsed.setdefault(reference.label, Method(reference.label, reference.family, reference))
    for method in matched:
        parsed.setdefault(method.label, method)
    return list(parsed.values())


def agreement_methods(methods: str | Sequence[str]) -> tuple[list[Method], bool]:
    """The parsed methods with the full cache first, and whether it had to be added (it was not listed)."""
    parsed = parse_methods(methods)
    reference = [method for method in parsed if method.label == REFERENCE]
    added = not reference
    if added:
        reference = parse_methods(REFERENCE)
    return reference + [method for method in parsed if method.label != REFERENCE], added


def budget_from_reference(record: dict, statistic: str) -> int:
    """The generated-entry budget that matches a reference record's measured peak or mean entries."""
    if statistic == "peak":
        return max(1, int(record["peak_kv_entries"]) - int(record["prompt_tokens"]))
    target = float(record["mean_kv_entries"]) - int(record["prompt_tokens"])
    forwards = max(1, int(record["generated_tokens"]))  # the prefill plus one forward per fed token
    fed = forwards - 1
    best, best_gap = 1, float("inf")
    for budget in range(1, max(fed, 1) + 1):
        mean = (sum(min(step, budget) for step in range(1, fed + 1))) / forwards
        if abs(mean - target) < best_gap - 1e-12:
            best, best_gap = budget, abs(mean - target)
    return best


@dataclass
class EvalResult:
    """Every record of the requested (problem, method) pairs — read back from `out` or newly run — in run order."""

    records: list[dict]
    new: int
    skipped: int
    warnings: list[str] = field(default_factory=list)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def evaluate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task,
    problems: Sequence,
    methods: str | Sequence[str],
    *,
    max_new_tokens: int = 256,
    batch_size: int = 16,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    out: str | Path | None = None,
    model_id: str | None = None,
    progress: bool = False,
    on_record: Callable[[dict], None] | None = None,
    agreement: bool = False,
    split: str | None = None,
    generator: str | Generator = DEFAULT_GENERATOR,
) -> EvalResult:
    """Evaluate every method on every problem (greedy by default) and return the records.

    `task` is a `Task` or its name. With `out`, results are appended to that JSONL file and the run resumes
    from it. Records: task, method, family, ratio/budget/match, problem_id, correct, reward, tokens, peak and mean
    KV entries and bytes, stop_reason, time_s, model, seed and the decoding settings, and what a report states
    about the run: `split` (the held-out split the problems came from, `none` for no split; when not given,
    read from the problem ids, null where they do not name it), the model's `dtype`, its training record
    (`trained_for`: `config.breadcrumbs`, null when it has none) and the package `version`, `commit` and `date`;
    with `agreement`, also completion_ids, exact_match, first_divergence and token_agreement against the full
    cache (run first, added when not listed). `generator` is the decoding backend (`breadcrumbs.generators`: a
    name, a factory reference or a Generator); records name it when it is given by name.
    """
    from breadcrumbs.tasks import get_task

    task = get_task(task) if isinstance(task, str) else task
    parsed = agreement_methods(methods)[0] if agreement else parse_methods(methods)
    if batch_size < 1:
        raise BreadcrumbsError(f"batch size must be >= 1, got {batch_size}")
    problems = list(problems)
    if len({p.id for p in problems}) != len(problems):
        raise BreadcrumbsError("problem ids must be unique")
    model_id = model_id or str(getattr(model.config, "name_or_path", "") or model.config.model_type)
    run = {"model": model_id, "max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
           "scored": task.scores, "agreement": agreement}
    trained = trained_for(model)
    decode = get_generator(generator)
    described = {"split": split if split is not None else problems_split(task.name, problems),
                 "generator": generator if isinstance(generator, str) else type(generator).__name__,
                 "dtype": str(model.dtype).removeprefix("torch."),
                 "trained_for": None if trained is None else trained.to_dict(), **provenance()}

    done: dict[tuple[str, str], dict] = {}
    notes = [*problem_warnings(model, task.name, problems), *policy_warnings(model, [m.policy for m in parsed])]
    writer = None
    if out is not None:
        from breadcrumbs.evaluation.results import ResultWriter, read_results, record_key

        out = Path(out)
        writer = ResultWriter(out)  # takes the file's lock first: one writer per results file
        notes += writer.notes
        try:
            existing, read_warnings = read_results(out) if out.exists() else ([], [])
            notes += read_warnings
            _check_same_settings(existing, task.name, run, problems, out)
        except BaseException:
            writer.close()
            raise
        # A record is reused only if everything that defines it (difficulty, sampling, seed, ...) agrees.
        wanted = {
            record_key({"task": task.name, "difficulty": p.difficulty, "problem_id": p.id, "method": m.label,
                        "seed": seed, **run}): (p.id, m.label)
            for m in parsed for p in problems
        }
        for record in existing:
            slot = wanted.get(record_key(record))
            if slot is not None:
                done.setdefault(slot, record)
    for note in notes:
        warnings_module.warn(note, BreadcrumbsWarning, stacklevel=2)

    pending = [(m, p) for m in parsed for p in problems if (p.id, m.label) not in done]
    skipped = len(parsed) * len(problems) - len(pending)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(pending), unit="problem", desc="eval", dynamic_ncols=True)
    new = 0
    try:
        for method in parsed:
            todo = [p for p in problems if (p.id, method.label) not in done]
            if not todo:
                continue
            if bar is not None:
                bar.set_description(f"eval {method.label}")
            for policy, batch in _batches(method, todo, done, batch_size):
                prompts = [task.prompt(problem) for problem in batch]
                output = decode(
                    model, tokenizer, prompts, policy=policy, max_new_tokens=max_new_tokens,
                    temperature=temperature, top_p=top_p, seed=seed, progress=False,
                )
                share = output.wall_time_s / len(batch)
                if task.scores:
                    rewards, correct = task.score(batch, output.texts)  # one call per batch: once per rollout
                else:
                    rewards = correct = [None] * len(batch)
                rows = zip(batch, output.texts, output.completion_ids, output.stats, rewards, correct)
                for problem, text, ids, stats, reward, right in rows:
                    record = {
                        "task": task.name,
                        "method": method.label,
                        "family": method.family,
                        "ratio": policy.ratio if isinstance(policy, BeaconPolicy) else None,
                        "budget": policy.budget if isinstance(policy, ScoredEvictionPolicy) else None,
                        "match": None if method.match is None else method.match.label[1:],
                        "settings": getattr(policy, "settings", {}),
                        "problem_id": problem.id,
                        "difficulty": problem.difficulty,
                        "correct": None if right is None else bool(right),
                        "reward": None if reward is None else float(reward),
                        **stats.to_dict(),
                        "time_s": share,
                        "seed": seed,
                        **run,
                        **described,
                        "completion": text,
                    }
                    if agreement:
                        full = ids if method.label == REFERENCE else done[(problem.id, REFERENCE)]["completion_ids"]
                        record |= {"completion_ids": ids, **agreement_with(ids, full)}
                    done[(problem.id, method.label)] = record
                    if writer is not None:
                        writer.write(record)
                    if on_record is not None:
                        on_record(record)
                    new += 1
                if bar is not None:
                    bar.update(len(batch))
    finally:
        if writer is not None:
            writer.close()
        if bar is not None:
            bar.close()
    records = [done[(p.id, m.label)] for m in parsed for p in problems]
    return EvalResult(records, new, skipped, notes)


def _check_same_settings(existing: list[dict], task: str, run: dict, problems: Sequence, out: Path) -> None:
    """One results file holds one setting per task (a report averages over it): refuse to mix in another."""
    difficulties = {json.dumps(p.difficulty, sort_keys=True) for p in problems}
    for record in existing:
        if record["task"] != task:
            continue
        for name in RUN_FIELDS:
            # a record without completion ids cannot be the reference of an agreement run
            recorded = record.get(name, False if name == "agreement" and "completion_ids" not in record else None)
            if recorded is not None and recorded != run[name]:
                raise BreadcrumbsError(
                    f"{out} holds results with {name}={recorded!r}, this run has {run[name]!r}; "
                    "use another --out file (or the same settings) to resume"
                )
        if "difficulty" in record and json.dumps(record["difficulty"], sort_keys=True) not in difficulties:
            raise BreadcrumbsError(
                f"{out} holds {task} results at difficulty {record['difficulty']}, this run has "
                f"{', '.join(sorted(difficulties))}; use another --out file (or the same difficulty) to resume"
            )


def _batches(method: Method, problems: list, done: dict, batch_size: int):
    """(policy, problems) batches; a matched method gets one policy per distinct budget."""
    if method.match is None:
        for batch in _chunks(problems, batch_size):
            yield method.policy, batch
        return
    by_budget: dict[int, list] = {}
    for problem in problems:
        reference = done.get((problem.id, method.match.reference))
        if reference is None:
            raise BreadcrumbsError(f"method {method.label}: no {method.match.reference} result for {problem.id}")
        by_budget.setdefault(budget_from_reference(reference, method.match.statistic), []).append(problem)
    for budget, group in by_budget.items():
        for batch in _chunks(group, batch_size):
            yield method.policy.with_budget(budget), batch
