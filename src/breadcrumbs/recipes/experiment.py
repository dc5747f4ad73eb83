"""The long-reasoning experiment: Countdown search traces several times longer than their prompt, one mixed-ratio
beacon model against a dedicated c=8 model, an RL ablation at equal wall time, and the Pareto comparison.

`run_experiment` is a fixed plan of jobs, each a `breadcrumbs train` or `breadcrumbs eval` process (`jobs.py`) with
one CPU thread, run up to `parallel` at a time (two one-thread processes use two cores better than one two-thread process
for models this small), each as soon as the run it starts from or evaluates has finished: evaluations first, so a
finished model's results can be recorded before the next long job, then training runs in plan order. Every job is resumable and marked done only when it finished, so rerunning the command after
an interruption continues where it stopped. Layout of the output directory:

    configs/NAME.yaml        the exact training config of every run
    runs/NAME/               training runs (checkpoints, metrics.jsonl, curves, log)
    results/NAME.jsonl       evaluation records on the test split;  report/  the Pareto report (AUAC included)
    report-c8-lagL/          a raw-tail model against every baseline at its own peak and mean KV
    ablation.md, ablation_curves.png, experiment.json   the RL ablation table and curves, settings and wall times
    started/NAME, done/NAME  a job's fingerprint (its settings and its upstream run's) and, once finished, its wall
                             time; a rerun stops at a job whose fingerprint changed (`--restart-changed` moves its
                             outputs to obsolete/<UTC time>/ and runs it again)

The plan (`plan`):
1. `teacher`: supervised warm start on solver traces, teacher layout only.
2. `mixed`, `c8`, `c8-lagL` and `window` (from `teacher`): teacher + student SFT, ratios drawn per sequence
   log-uniformly from 2..32 (`mixed`), fixed at 8 (`c8`, what mixing costs), fixed at 8 with an eviction lag of L
   windows (`c8-lagL`: beacons plus a raw tail of the last L closed windows, for each L in `lags`), or the trained
   sliding-window control (`window`: the same recipe with a student that sees the prompt and the last B generated
   tokens, B drawn from `window_sizes`).
3. RL ablation from `mixed`, each arm for the same training wall time, per seed: `joint` (GRPO + distillation),
   `rl` (GRPO only), `distill` (distillation on the teacher's rollouts only), `sft` (the warm start continued); and
   `window-joint` (the joint arm of the window control, so both students get the same recipe).
4. Evaluation on test-split problems: every ratio of the joint model, the c8 model, the warm start, every
   training-free baseline at the joint model's per-problem peak KV, every baseline as a fixed-budget curve with its
   settings tuned per budget on dev-split problems (`sweep`, `breadcrumbs sweep`), and the window control at the same
   budgets.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from breadcrumbs import interrupts
from breadcrumbs.beacon.layout import LaggedBeacons
from breadcrumbs.beacon.spelling import lagged, view_name, view_spec
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.files import atomic_write
from breadcrumbs.policies.registry import baseline_names
from breadcrumbs.recipes.experiment_plan import describe, remaining_s
from breadcrumbs.recipes.experiment_recorded import RECORDED_DIR, adopt_recorded, record_jobs, recorded_jobs
from breadcrumbs.recipes.jobs import start_job, stop_jobs

EXPERIMENTS = ("countdown",)
ARMS = ("joint", "rl", "distill", "sft")
SCALES = ("cpu", "gpu", "micro")
EVAL_RATIOS = (2, 3, 4, 5, 6, 8, 12, 16, 24, 32)
BASELINES = baseline_names("experiment")  # the baselines whose registry records join the experiment


@dataclass
class Settings:
    """Every size and count of the experiment: the defaults are the recorded CPU run (`cpu`); `gpu` is a larger
    model and schedule for one GPU with every arm side by side; `micro` shrinks everything to seconds (CI)."""

    difficulty: dict = field(default_factory=lambda: {"k": 3, "max_number": 20, "max_target": 100,
                                                      "backtracks": 1, "order": 1, "echo": 1})
    # the RL difficulty: numbers up to 30, where the recorded teacher scores 31.2% (backtracks 2 is too easy: 82.8%)
    rl_difficulty: dict = field(default_factory=lambda: {"max_number": 30})
    model: str = "tiny"
    teacher_steps: int = 3000
    student_steps: int = 1000
    sft_batch: int = 16
    sft_lr: float = 2e-3
    rl_batch: int = 64
    group_size: int = 8
    rl_lr: float = 5e-5
    # the RL update of every arm (docs/training.md, "RL updates"): GRPO on the forks (tokens off the greedy path),
    # their mean (`counted`), with a solver-trace anchor at the warm start's difficulty; the probe that chose it:
    # docs/experiments/countdown-probes/rl-anchor-forks/ (docs/experiments/countdown.md, "RL")
    rl_update: dict = field(default_factory=lambda: {"algorithm": "grpo", "loss_norm": "counted", "tokens": "forks",
                                                     "anchor_weight": 1.0, "anchor_batch": 16, "temperature": 1.0})
    rl_max_new_tokens: int = 800  # rollouts on the RL difficulty (the teacher's greedy traces there: ~520 tokens)
    rl_eval_max_new_tokens: int = 900  # held-out evaluations on the RL difficulty
    sft_more_lr: float = 5e-4  # the `sft` arm: the warm start continued at a constant rate
    arm_minutes: float = 40.0  # each RL arm's training wall time (the RL goal's budget)
    max_new_tokens: int = 600
    dev_problems: int = 64
    arm_dev_problems: int = 32  # held-out problems of each ablation arm's curve points (full cache and c = 8)
    eval_every: int = 4
    test_problems: int = 150
    eval_batch: int = 64
    seeds: tuple = (0, 1)
    budgets: tuple = (16, 48, 80)  # generated entries kept: the baselines' tuned curves and the window control's
    window_sizes: tuple = (16, 48, 80)  # the window control's training windows (evaluated at `budgets`)
    sweep_dev_problems: int = 32  # dev-split problems each candidate setting is tuned on
    matched_ratios: tuple = (8,)  # baselines at the joint model's per-problem peak KV at these ratios
    lags: tuple = (2,)  # eviction lags of the c = 8 students with a raw tail (`c8-lagL`)
    other_seed: int = 1  # the seed of the second draw of test problems every recorded student is evaluated on
    device: str = "cpu"

    @classmethod
    def scale(cls, name: str) -> Settings:
        """The settings of a scale: cpu (default), gpu or micro."""
        if name not in SCALES:
            raise BreadcrumbsError(f"unknown experiment scale {name!r}; choose one of {', '.join(SCALES)}")
        return getattr(cls, name)()

    @classmethod
    def cpu(cls) -> Settings:
        """About 2 h 45 min on 2 CPU cores (from the recorded job times), two one-thread jobs at a time."""
        return cls()

    @classmethod
    def gpu(cls) -> Settings:
        """The `small` preset (4.7M parameters) and a longer warm start on one GPU; every arm of every seed runs at
        once (`--parallel 8`), so each gets about the same share of the card."""
        return cls(model="small", teacher_steps=2000, student_steps=500, sft_batch=32, rl_batch=64, arm_minutes=2.5,
                   eval_every=4, arm_dev_problems=64, test_problems=192, eval_batch=192, budgets=(16, 32, 48, 80), window_sizes=(16, 32, 48, 80), sweep_dev_problems=64,
                   matched_ratios=(8, 32),
                   device="cuda")

    @classmethod
    def micro(cls) -> Settings:
        """Seconds instead of an hour: the same code path for CI."""
        return cls(model="micro", teacher_steps=2, student_steps=2, sft_batch=4, rl_batch=4, group_size=2,
                   arm_minutes=0.01, max_new_tokens=24, rl_max_new_tokens=24,
                   rl_eval_max_new_tokens=24, dev_problems=2, arm_dev_problems=2, eval_every=1, test_problems=3, seeds=(0,),
                   budgets=(8,), window_sizes=(8,), sweep_dev_problems=2, lags=(1,))


@dataclass
class Job:
    """One subprocess: a training run (`config`), an evaluation (`methods` of the model of run `model_of`), or a
    tuned fixed-budget sweep of the baselines on that model (`sweep`)."""

    name: str
    config: dict | None = None
    model_of: str | None = None
    methods: tuple = ()
    sweep: bool = False
    on_rl_difficulty: bool = False  # an evaluation on the RL difficulty (the RL goal's), not the training one
    problem_seed: int = 0  # an evaluation's problems: the test split drawn from this seed (`eval --seed`)


def _train_config(s: Settings, seed: int, **sections) -> dict:
    """A training config of this experiment: the shared task, model and evaluation settings plus `sections`."""
    config = {
        "seed": seed,
        "device": s.device,
        "log_every": 10,
        "model": {"name": s.model},
        "task": {"name": "countdown", "difficulty": s.difficulty, "style": "search", "eval_problems": s.dev_problems},
        "beacon": {"ratios": [2, 32], "sampling": "range"},
        "eval": {"max_new_tokens": s.max_new_tokens, "ratios": [8, 32], "batch_size": 64},
        "checkpoint": {"every": 100, "keep": 1},
    }
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


def _sft(s: Settings, steps: int, student_weight: float, **extra) -> dict:
    return {"steps": steps, "batch_size": s.sft_batch, "lr": s.sft_lr, "warmup_steps": min(50, steps),
            "student_weight": student_weight, **extra}


def _windowed(config: dict, s: Settings, windows: list[int]) -> dict:
    """`config` as the trained window control's: a student that keeps the last B tokens, B per sequence from
    `window_sizes`, evaluated at `windows` (its sections replaced, so no beacon ratio is left to mean a window)."""
    config["beacon"] = {"windows": list(s.window_sizes), "layout": "window", "sampling": "choice"}
    config["eval"] = {**{key: value for key, value in config["eval"].items() if key != "ratios"}, "windows": windows}
    return config


def _tail(lag: int) -> LaggedBeacons:
    """The view of a c = 8 student with a raw tail of `lag` closed windows (run `c8-lagL`, spec `beacon:8:lag=L`)."""
    return LaggedBeacons(8, lag)


def _lagged_layout(lag: int) -> dict:
    """The `beacon` section of a c = 8 student with a raw tail of `lag` closed windows."""
    return {"ratios": [8], "sampling": "choice", "lag": lag}


def _arm(s: Settings, arm: str, seed: int, start: str = "mixed", beacon: dict | None = None) -> dict:
    """The config of one ablation arm: the same start (`start`, its students' `beacon` section when it is not the
    mixed model's), the same wall time, one training signal each."""
    rl = {"steps": 100_000, "batch_size": s.rl_batch, "group_size": s.group_size,
          "max_new_tokens": s.rl_max_new_tokens, "lr": s.rl_lr, "difficulty": s.rl_difficulty, **s.rl_update}
    budget = {"time_budget_s": 60 * s.arm_minutes, "model": {"name": f"@{start}"}}
    # held-out curve points: the student at c = 8 (the window control at its largest window, `_windowed`)
    eval_every = {"eval": {"every": s.eval_every, "difficulty": s.rl_difficulty, "ratios": [8],
                           "max_new_tokens": s.rl_eval_max_new_tokens},
                  "task": {"eval_problems": s.arm_dev_problems}}
    if arm == "sft":
        sft = _sft(s, 100_000, 1.0, lr=s.sft_more_lr, scheduler="constant", warmup_steps=0,
                   difficulty=s.rl_difficulty)
        return _train_config(s, seed, sft=sft, **budget, **eval_every)
    distill = {"joint": {"mode": "joint"}, "rl": {"mode": "off"}, "distill": {"mode": "two_stage", "steps": 100_000}}
    rl_section = dict(rl, steps=0) if arm == "distill" else rl
    layout = {"beacon": beacon} if beacon else {}
    config = _train_config(s, seed, rl=rl_section, distill=distill[arm], **budget, **eval_every, **layout)
    return _windowed(config, s, [s.window_sizes[-1]]) if start == "window" else config


def plan(s: Settings) -> list[list[Job]]:
    """The experiment as waves of jobs: the jobs of a wave are independent; a job runs once the run it uses is done."""
    seed = s.seeds[0]
    waves = [
        [Job("teacher", _train_config(s, seed, sft=_sft(s, s.teacher_steps, 0.0),
                                           beacon={"ratios": [8], "sampling": "choice"}))],
        # the RL arms' warm starts first (`mixed`, `c8-lagL`), so that a session that runs two jobs can record them
        [Job("mixed", _train_config(s, seed, model={"name": "@teacher"}, sft=_sft(s, s.student_steps, 1.0)))] + [
            Job(view_name(_tail(lag)), _train_config(s, seed, model={"name": "@teacher"},
                                                     sft=_sft(s, s.student_steps, 1.0), beacon=_lagged_layout(lag),
                                                     eval={"ratios": [8]}))
            for lag in s.lags
        ] + [
            Job("c8", _train_config(s, seed, model={"name": "@teacher"}, sft=_sft(s, s.student_steps, 1.0),
                                    beacon={"ratios": [8], "sampling": "choice"}, eval={"ratios": [8]})),
            Job("window", _windowed(_train_config(s, seed, model={"name": "@teacher"},
                                                  sft=_sft(s, s.student_steps, 1.0)), s, list(s.window_sizes))),
        ],
        [Job(f"{arm}-s{seed_}", _arm(s, arm, seed_)) for seed_ in s.seeds for arm in ARMS]
        + [Job(f"window-joint-s{seed}", _arm(s, "joint", seed, start="window"))]
        # the raw-tail students distilled on the RL rollouts (against their cross-entropy warm start, `c8-lagL`)
        + [Job(f"{lagged('joint', lag)}-s{seed}",
               _arm(s, "joint", seed, start=view_name(_tail(lag)), beacon=_lagged_layout(lag)))
           for lag in s.lags],
    ]
    final = f"joint-s{seed}"
    # every baseline at the beacons' per-problem peak KV and at their per-problem mean KV
    matched = [f"{name}:@beacon:{c}{statistic}" for name in BASELINES for c in s.matched_ratios
               for statistic in ("", "@mean")]
    waves.append([
        Job(f"eval-{final}", model_of=final, methods=("full", *(f"beacon:{c}" for c in EVAL_RATIOS), *matched)),
        Job("sweep", model_of=final, sweep=True),
        Job("eval-window", model_of=f"window-joint-s{seed}", methods=tuple(f"window:{b}" for b in s.budgets)),
        # the control's own full cache in its own file: the report compares one model's `full` with every method
        Job("eval-window-full", model_of=f"window-joint-s{seed}", methods=("full",)),
        Job("eval-c8", model_of="c8", methods=("full", "beacon:8")),
        Job("eval-mixed", model_of="mixed", methods=("full", "beacon:8", "beacon:32")),
        # the RL goal: every arm's teacher and their warm start on test problems of the RL difficulty
        Job("eval-rl-mixed", model_of="mixed", methods=("full",), on_rl_difficulty=True),
        *(Job(f"eval-rl-{arm}-s{seed_}", model_of=f"{arm}-s{seed_}", methods=("full",), on_rl_difficulty=True)
          for seed_ in s.seeds for arm in ARMS),
    ] + [
        # every recorded student on test problems drawn from another seed: does it hold up beyond the record's?
        Job(_other_seed_job(s, name), model_of=name, methods=methods, problem_seed=s.other_seed)
        for name, methods in _students(s).items()
    ] + [
        # a raw-tail model: its beacons for the main report, and its own report with its full cache and every
        # baseline at its per-problem peak and mean KV (`report-c8-lagL/`: the cross-entropy warm start;
        # `report-joint-lagL/`: the same student after joint RL, distilled on the teacher's rollouts)
        job for lag in s.lags for job in (
            Job(f"eval-{view_name(_tail(lag))}", model_of=view_name(_tail(lag)), methods=(view_spec(_tail(lag)),)),
            Job(f"eval-{view_name(_tail(lag))}-matched", model_of=view_name(_tail(lag)),
                methods=_matched_at(view_spec(_tail(lag)))),
            Job(f"eval-{lagged('joint', lag)}-s{seed}", model_of=f"{lagged('joint', lag)}-s{seed}",
                methods=_matched_at(view_spec(_tail(lag)))),
        )
    ])
    return waves


def _students(s: Settings) -> dict[str, tuple[str, ...]]:
    """The recorded students with the methods that show them: their full cache and their own compressed views."""
    tails = {view_name(_tail(lag)): ("full", view_spec(_tail(lag))) for lag in s.lags}
    return {f"joint-s{s.seeds[0]}": ("full", "beacon:8", "beacon:32"), "mixed": ("full", "beacon:8", "beacon:32"),
            "c8": ("full", "beacon:8"), **tails, "window": ("full", *(f"window:{b}" for b in s.budgets))}


def _other_seed_job(s: Settings, name: str) -> str:
    return f"eval-{name}-seed{s.other_seed}"


def _matched_at(beacon: str) -> tuple[str, ...]:
    """The full cache, `beacon` and every baseline at its per-problem peak and mean KV."""
    return ("full", beacon, *(f"{name}:@{beacon}{statistic}" for name in BASELINES for statistic in ("", "@mean")))


# The results files of the final report: the joint model (beacons, matched baselines), the tuned baseline curves, and
# the trained window control (`results/NAME.jsonl`; the sweep writes `results/sweep/results.jsonl`).
def report_inputs(out: Path, s: Settings) -> list[Path]:
    """The results files the experiment's Pareto report is drawn from."""
    return [out / "results" / f"eval-joint-s{s.seeds[0]}.jsonl", out / "results" / "sweep" / "results.jsonl",
            out / "results" / "eval-window.jsonl",
            *(out / "results" / f"eval-{view_name(_tail(lag))}.jsonl" for lag in s.lags)]


def _upstream(job: Job) -> str | None:
    """The run whose checkpoint this job starts from or evaluates (None for the first one)."""
    if job.config is not None:
        name = job.config["model"]["name"]
        return name[1:] if name.startswith("@") else None
    return job.model_of


def _evaluation_options(job: Job, s: Settings) -> list[str] | None:
    """The command-line options besides its methods and paths that decide an evaluation's or a sweep's records
    (None for training): what `_command` passes and what the job's fingerprint hashes."""
    if job.config is not None:
        return None
    difficulty = {**s.difficulty, **s.rl_difficulty} if job.on_rl_difficulty else s.difficulty
    tokens = s.rl_eval_max_new_tokens if job.on_rl_difficulty else s.max_new_tokens
    options = ["--task", "countdown", "--n", str(s.test_problems), "--max-new-tokens", str(tokens),
               "--batch-size", str(s.eval_batch), "--device", s.device,
               *(arg for key, value in difficulty.items() for arg in ("--difficulty", f"{key}={value}"))]
    if job.problem_seed:  # (seed 0 is eval's default: the jobs that use it keep their recorded fingerprints)
        options += ["--seed", str(job.problem_seed)]
    if job.sweep:
        options += ["--families", ",".join(BASELINES), "--budgets", ",".join(str(b) for b in s.budgets), "--extra", "",
                    "--n-dev", str(s.sweep_dev_problems)]
    return options


def fingerprints(waves: list[list[Job]], s: Settings) -> dict[str, str]:
    """A hash per job of everything that decides its outputs: its config (or its methods and evaluation settings)
    and its upstream run's fingerprint, so that changing the warm start makes every job built on it stale too."""
    found: dict[str, str] = {}
    for job in (job for wave in waves for job in wave):
        upstream = _upstream(job)
        spec = {"config": job.config, "methods": job.methods, "evaluation": _evaluation_options(job, s),
                "upstream": found.get(upstream, upstream)}
        found[job.name] = hashlib.sha256(json.dumps(spec, sort_keys=True, default=list).encode()).hexdigest()[:16]
    return found


def _outputs(out: Path, name: str) -> list[Path]:
    """Every file or folder a job writes."""
    results = out / "results"
    return [_run_dir(out, name), results / f"{name}.jsonl", results / f"{name}.jsonl.lock", results / name,
            out / "configs" / f"{name}.yaml", out / "logs" / f"{name}.log", out / "done" / name, out / "started" / name]


def adopt_finished(out: Path, expected: dict[str, str], log) -> None:
    """Give a job finished by a driver that recorded no fingerprint this plan's fingerprint (and say so)."""
    for name, fingerprint in expected.items():
        if (out / "done" / name).exists() and not (out / "started" / name).exists():
            atomic_write(out / "started" / name, fingerprint + "\n")
            log(f"adopted {name}: finished before fingerprints were recorded, taken as this plan's")


def stale_jobs(out: Path, expected: dict[str, str]) -> list[str]:
    """Started or finished jobs whose recorded fingerprint (`started/NAME`) differs from this plan's."""
    return [name for name, fingerprint in expected.items()
            if (out / "started" / name).exists() and (out / "started" / name).read_text().strip() != fingerprint]


def set_aside(out: Path, names: list[str], log) -> Path:
    """Move the outputs of `names` to `obsolete/<UTC time>/`, keeping their layout."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder, count = out / "obsolete" / stamp, 1
    while folder.exists():  # a second restart within the same second
        folder, count = out / "obsolete" / f"{stamp}-{count}", count + 1
    for name in names:
        for path in _outputs(out, name):
            if path.exists():
                target = folder / path.relative_to(out)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(path), str(target))
    log(f"moved the outputs of {len(names)} changed jobs to {folder}")
    return folder


def _results(out: Path, job: Job) -> Path | None:
    """Where an evaluation writes its records (a folder for a sweep); None for a training run."""
    if job.config is not None:
        return None
    return out / "results" / (job.name if job.sweep else f"{job.name}.jsonl")


def _jobs(s: Settings) -> dict[str, Job]:
    return {job.name: job for wave in plan(s) for job in wave}


def _with_upstream(jobs: dict[str, Job], names: list[str]) -> set[str]:
    """`names` and every run they start from, transitively (an unknown name is an error naming the jobs)."""
    unknown = [name for name in names if name not in jobs]
    if unknown:
        raise BreadcrumbsError(f"unknown experiment job {', '.join(map(repr, unknown))}; the jobs are "
                               f"{', '.join(jobs)} (`--plan` lists them with their estimates)")
    selected: set[str] = set()
    for name in names:
        while name is not None and name not in selected:
            selected.add(name)
            name = _upstream(jobs[name])
    return selected


def _run_dir(out: Path, name: str) -> Path:
    return out / "runs" / name


def _checkpoint(out: Path, name: str) -> Path:
    from breadcrumbs.training.checkpoint import latest_checkpoint

    found = latest_checkpoint(_run_dir(out, name))
    recorded = _run_dir(out, name) / RECORDED_DIR
    if found is None and (recorded / "config.json").is_file():
        found = recorded
    if found is None:
        raise BreadcrumbsError(f"experiment run {name!r} has no checkpoint in {_run_dir(out, name)}; rerun to resume")
    return found


def _command(job: Job, out: Path, s: Settings) -> list[str]:
    """The `breadcrumbs` arguments of a job (configs written first; `@run` model names resolved)."""
    if job.config is not None:
        config = json.loads(json.dumps(job.config))
        if config["model"]["name"].startswith("@"):
            # relative to the working directory (the jobs run there): a config that travels names no machine path
            config["model"]["name"] = os.path.relpath(_checkpoint(out, config["model"]["name"][1:]).resolve())
        path = out / "configs" / f"{job.name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        run = _run_dir(out, job.name)
        resume = ["--resume"] if (run / "config.yaml").exists() else []
        return ["train", "--config", str(path), "--out", str(run), "--quiet", *resume]
    # relative, like the configs' model names: the records name the model without a machine path
    shared = ["--model", os.path.relpath(_checkpoint(out, job.model_of).resolve()), *_evaluation_options(job, s),
              "--quiet"]
    if job.sweep:
        return ["sweep", *shared, "--out", str(_results(out, job))]
    return ["eval", *shared, "--split", "test", "--methods", ",".join(job.methods),
            "--out", str(_results(out, job))]


def _earlier_wall(out: Path, job: Job) -> float:
    """Seconds earlier, interrupted invocations spent on `job` (0 for none)."""
    path = out / "elapsed" / job.name
    return float(path.read_text().strip() or 0) if path.exists() else 0.0


def _ready(job: Job, out: Path) -> bool:
    """Whether the run `job` starts from or evaluates has finished (always, for the first one)."""
    upstream = _upstream(job)
    return upstream is None or (out / "done" / upstream).exists()


def _next_job(pending: list[Job], out: Path) -> Job | None:
    """The job to start next: the first ready evaluation or sweep (short, and it makes a finished model's results
    recordable), else the first ready training run, in plan order; None while every pending job waits."""
    ready = [job for job in pending if _ready(job, out)]
    return next((job for job in ready if job.config is None), ready[0] if ready else None)


def _run_jobs(jobs: list[Job], out: Path, s: Settings, parallel: int, log, prints: dict[str, str],
              progress=lambda: "", finished=lambda name, wall: None) -> None:
    """Run the unfinished `jobs`, `parallel` at a time, each as soon as the run it uses has finished (`_next_job`);
    calls `finished(name, wall)` with each job's wall time, counting the time an interrupted earlier invocation
    spent on it (kept in OUT/elapsed/JOB while it runs). `progress()` says where the whole run stands (job k of N,
    ETA) when a job starts."""
    pending = [job for job in jobs if not (out / "done" / job.name).exists()]
    running: list[tuple[Job, multiprocessing.Process, float]] = []  # job, process, start (minus earlier invocations)
    for folder in ("logs", "results", "elapsed", "done"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    last_note = time.perf_counter()

    def done(job: Job, started: float) -> None:
        wall = time.perf_counter() - started
        (out / "done" / job.name).write_text(f"{wall:.1f}\n")
        log(f"done {job.name} in {wall / 60:.1f} min")
        finished(job.name, wall)

    try:
        while pending or running:
            while len(running) < parallel and (job := _next_job(pending, out)) is not None:
                pending.remove(job)
                ready = sum(_ready(other, out) for other in pending) + 1
                threads = max(1, (parallel - len(running)) // ready)  # a job alone gets every free core
                log(f"start {job.name} ({progress()})")
                atomic_write(out / "started" / job.name, prints[job.name] + "\n")
                with interrupts.deferred():  # a Ctrl-C during the start still finds the job in `running`
                    process = start_job(_command(job, out, s), out / "logs" / f"{job.name}.log", threads)
                    running.append((job, process, time.perf_counter() - _earlier_wall(out, job)))
            if not running:
                raise BreadcrumbsError(f"experiment jobs {', '.join(job.name for job in pending)} start from runs "
                                       "that are not in the plan")
            time.sleep(0.5)
            if time.perf_counter() - last_note > 30:  # what an interruption would otherwise lose
                for job, _, started in running:
                    atomic_write(out / "elapsed" / job.name, f"{time.perf_counter() - started:.1f}\n")
                last_note = time.perf_counter()
            for item in list(running):
                job, process, started = item
                if process.exitcode is None:
                    continue
                running.remove(item)
                if process.exitcode:
                    tail = (out / "logs" / f"{job.name}.log").read_text().strip().splitlines()[-1:]
                    raise BreadcrumbsError(
                        f"experiment job {job.name} failed (exit {process.exitcode}): {' '.join(tail)}; see "
                        f"{out / 'logs' / (job.name + '.log')}, fix it and rerun to resume"
                    )
                done(job, started)
    except BaseException:  # a failed job, Ctrl-C: the running jobs stop as Ctrl-C stops them, then resume later
        for job, _, started in running:
            atomic_write(out / "elapsed" / job.name, f"{time.perf_counter() - started:.1f}\n")
        stop_jobs([process for _, process, _ in running])
        for job, process, started in running:
            if process.exitcode == 0:  # it had finished its work when the stop came
                done(job, started)
        raise


def run_experiment(
    name: str = "countdown", out_dir: str | Path = "experiments/countdown", scale: str = "cpu", parallel: int = 2,
    log=print, restart_changed: bool = False, recorded: str | Path | None = None, only: list[str] | None = None,
) -> Path:
    """Run (or resume) the experiment; returns the output directory. See the module docstring for the plan.

    A finished job is reused only if its settings (and its upstream run's) are this plan's; otherwise the run stops
    with the list of changed jobs, or, with `restart_changed`, moves their outputs to `obsolete/` and reruns them.
    `recorded` (a folder of recorded models, `record`) first adopts every recorded model made by this plan.
    `only` (job names) runs just those jobs and the unfinished runs they start from, and writes no report.
    """
    _check_name(name)
    from breadcrumbs.evaluation import write_report
    from breadcrumbs.recipes.experiment_report import write_ablation, write_models

    s = Settings.scale(scale)
    waves = plan(s)
    selected = _with_upstream(_jobs(s), only) if only else None  # checked before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prints = fingerprints(waves, s)
    adopt_finished(out, prints, log)
    if recorded is not None:
        jobs = _jobs(s)
        adopt_recorded(out, Path(recorded), prints, lambda name: _results(out, jobs[name]), log)
    stale = stale_jobs(out, prints)
    if stale and not restart_changed:
        raise BreadcrumbsError(
            f"{len(stale)} started or finished jobs in {out} ran with other settings than this plan's "
            f"({', '.join(stale)}); rerun with --restart-changed to set their outputs aside in {out / 'obsolete'} "
            "and run them again, or choose a new --out"
        )
    if stale:
        set_aside(out, stale, log)
    record_path = out / "experiment.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {"wall_s": {}}
    started = time.perf_counter()
    count = sum(len(wave) for wave in waves)

    def progress() -> str:
        finished = sum((out / "done" / job.name).exists() for wave in waves for job in wave)
        left = remaining_s(out, waves, s, scale, parallel)
        return f"job {finished + 1}/{count}" + ("" if left is None else f", ETA ~{left / 3600:.1f} h")

    def finished(job: str, wall: float) -> None:
        record["wall_s"][job] = wall
        _write_json(record_path, dict(record, settings=vars(s), scale=scale, parallel=parallel))

    _run_jobs([job for wave in waves for job in wave if selected is None or job.name in selected], out, s, parallel,
              log, prints, progress, finished)
    if selected is not None:
        log(f"ran {', '.join(only)}; the reports are written by a run without --only")
        return out
    # the final model against every baseline: one model, one report
    write_report(report_inputs(out, s), out / "report")
    for lag in s.lags:
        tail, joint = view_name(_tail(lag)), lagged("joint", lag)
        write_report([out / "results" / f"eval-{tail}-matched.jsonl"], out / f"report-{tail}")
        write_report([out / "results" / f"eval-{joint}-s{s.seeds[0]}.jsonl"], out / f"report-{joint}")
    write_ablation(out, s.seeds, ARMS, start="mixed")
    write_models(out, {"joint (mixed 2..32, after RL)": f"eval-joint-s{s.seeds[0]}",
                       "mixed (warm start, before RL)": "eval-mixed", "c8 only (warm start)": "eval-c8",
                       "window control (after joint RL)": ("eval-window-full", "eval-window"),
                       **{f"c8, eviction lag {lag} (warm start)": f"eval-{view_name(_tail(lag))}-matched"
                          for lag in s.lags},
                       **{f"c8, eviction lag {lag} (after joint RL)": f"eval-{lagged('joint', lag)}-s{s.seeds[0]}"
                          for lag in s.lags},
                       **{f"{name}, test problems of seed {s.other_seed}": _other_seed_job(s, name)
                          for name in _students(s)}})
    record["wall_s"]["this_invocation"] = time.perf_counter() - started
    _write_json(record_path, dict(record, settings=vars(s), scale=scale, parallel=parallel))
    return out


def show_plan(name: str, out_dir: str | Path, scale: str = "cpu", parallel: int = 2,
              recorded: str | Path | None = None) -> str:
    """The jobs of the experiment, wave by wave, with what is done in `out_dir` (or would be adopted from the
    recorded jobs in `recorded`) and estimated minutes."""
    _check_name(name)
    s = Settings.scale(scale)
    waves = plan(s)
    adoptable = recorded_jobs(Path(recorded), fingerprints(waves, s)) if recorded is not None else {}
    return describe(Path(out_dir), waves, s, scale, parallel, adoptable)


def record(
    name: str, out_dir: str | Path, names: list[str], dest: str | Path, scale: str = "cpu", weights: bool = True,
    log=print,
) -> list[Path]:
    """Copy the finished jobs `names` of the experiment in `out_dir` to `dest` (models, or metrics only where
    `weights` is False, and evaluations' results; see `breadcrumbs.recipes.experiment_recorded`), for a later
    `run_experiment(..., recorded=dest)` on any machine."""
    _check_name(name)
    s = Settings.scale(scale)
    out = Path(out_dir)
    jobs = _jobs(s)
    command = f"breadcrumbs experiment {name} --scale {scale} --out {out_dir}"

    def users(job: str) -> list[str]:
        return [other.name for other in jobs.values() if _upstream(other) == job]

    return record_jobs(out, names, Path(dest), fingerprints(plan(s), s), lambda job: _checkpoint(out, job),
                       lambda job: _results(out, jobs[job]) if job in jobs else None, users, command, weights, log)


def _check_name(name: str) -> None:
    if name not in EXPERIMENTS:
        raise BreadcrumbsError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")


def _write_json(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data, indent=2, default=list) + "\n")
