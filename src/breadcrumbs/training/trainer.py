"""The training loop: stages (sft, rl, two-stage distill) on `accelerate`, with exact resume.

Runs the same under `python`, `accelerate launch` and `torchrun`: the global batch of every step is a pure
function of (seed, stage, step); each process takes its contiguous shard, losses are divided by global token (or
sequence) counts, and gradients are averaged by data parallelism — so N processes train on the same global batch
as one. Only the main process writes files.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
import warnings
from pathlib import Path

import torch

from breadcrumbs.beacon.spelling import view_name
from breadcrumbs.chat import CHAT_MODES
from breadcrumbs.errors import BreadcrumbsError, BreadcrumbsWarning
from breadcrumbs.files import atomic_write, exclusive_lock, remove_stale_temporaries
from breadcrumbs.generation import generate
from breadcrumbs.models import beacon_token_id, load_model
from breadcrumbs.policies import FullCache, student_policy
from breadcrumbs.training.checkpoint import latest_checkpoint, load_state, rng_state, save_checkpoint, set_rng_state
from breadcrumbs.training.config import TrainConfig, build_task, config_from_dict, dump_config
from breadcrumbs.training.data import ProblemSource, derive_seed, encode_traces, sample_ratios, shard
from breadcrumbs.training.rl import collect_rollouts, rl_loss, rollout_sums, sequence_logprobs
from breadcrumbs.training.losses import TokenScorer
from breadcrumbs.training.runtime import Runtime, Sums, make_accelerator
from breadcrumbs.training.schedule import check_resume, schedule_warnings, training_record
from breadcrumbs.training.sft import sft_loss
from breadcrumbs.validation import load_yaml, read_text_file, resolve_device

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
LOGGER = "breadcrumbs.training"


def micro_batches(rows: int, micro_batch_size: int, world: int) -> list[list[int]]:
    """This process's `rows` split into micro-batches of `micro_batch_size / world` rows (0: one micro-batch)."""
    size = micro_batch_size // world if micro_batch_size else rows
    return [list(range(start, min(start + size, rows))) for start in range(0, rows, max(size, 1))]


def lr_lambda(kind: str, warmup: int, total: int):
    """Multiplier of the base learning rate at a stage step: linear warmup, then constant / linear / cosine."""

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if kind == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def distill_weight_at(config: TrainConfig, stage: str, step: int) -> float:
    """The distillation coefficient at a stage step (0 when this stage does no distillation)."""
    mode = config.distill.mode
    if mode == "off" or (stage == "rl" and mode == "two_stage"):
        return 0.0
    weight = config.distill.weight
    if config.distill.schedule == "linear_warmup" and config.distill.warmup_steps:
        weight *= min(1.0, (step + 1) / config.distill.warmup_steps)
    return weight


def evaluate(rt: Runtime, task, problems, ratios, max_new_tokens: int, batch_size: int) -> dict:
    """Greedy accuracy (`Task.score`'s correct) with the full cache and with each student view (beacon ratio or sliding
    window), and peak KV."""
    was_training = rt.base.training
    rt.base.eval()
    prompts = [task.prompt(problem) for problem in problems]
    result = {}
    for label, policy in [("full", FullCache())] + [(view_name(r), student_policy(r)) for r in ratios]:
        out = generate(rt.base, rt.tokenizer, prompts, policy=policy, max_new_tokens=max_new_tokens, batch_size=batch_size)
        correct = task.score(problems, out.texts)[1]
        result[f"acc_{label}"] = sum(correct) / max(1, len(correct))
        result[f"kv_peak_{label}"] = sum(s.peak_kv_entries for s in out.stats) / max(1, len(out.stats))
    rt.base.train(was_training)
    return result


def _saved_config(path: Path) -> TrainConfig:
    """The config a run directory saved (`config.yaml`)."""
    return config_from_dict(load_yaml(read_text_file(path, "saved config"), f"saved config {str(path)!r}"))


class TrainingInterrupted(RuntimeError):
    """Raised by the `stop_after` test hook: the process 'dies' right after a step, as a kill would leave it."""


class Trainer:
    """Owns one run directory. `run()` trains every remaining stage and returns the final checkpoint path."""

    def __init__(
        self, config: TrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True,
        device: str | None = None, echo: bool | None = None,
    ):
        self.run_dir = Path(out_dir)
        self.stop_after: int | None = None  # test hook: abort after this global step (simulates a kill)
        self.progress = progress
        self.echo = progress if echo is None else echo
        self.resume_from = None
        if resume:
            self.resume_from = latest_checkpoint(self.run_dir)
            if self.resume_from is None and not (self.run_dir / "config.yaml").exists():
                raise BreadcrumbsError(
                    f"--resume: no run at {str(self.run_dir)!r} (no checkpoints/latest); drop --resume to start it"
                )
        elif latest_checkpoint(self.run_dir) is not None:
            raise BreadcrumbsError(
                f"{str(self.run_dir)!r} already holds a run; pass --resume to continue it or choose another --out"
            )
        saved = self.run_dir / "config.yaml"
        if config is None:
            if not saved.is_file():
                raise BreadcrumbsError(f"no config given and none saved in {str(self.run_dir)!r}; pass --config FILE")
            config = _saved_config(saved)
        elif self.resume_from is not None and saved.is_file():  # a changed config must fit the checkpoint's state
            check_resume(_saved_config(saved), config, int(self.resume_from.name.removeprefix("step-")))
        self.config = config
        device = resolve_device(device or config.device, "--device" if device else "config key 'device'")
        self.accelerator = make_accelerator(device == "cpu", config.mixed_precision, config.optim.grad_clip)
        self.main = self.accelerator.is_main_process
        self.task = build_task(config.task)
        self.source = ProblemSource(
            self.task, config.task, config.seed,
            {"sft": config.sft.difficulty, "rl": config.rl.difficulty, "distill": config.rl.difficulty,
             "eval": config.eval.difficulty, "anchor": config.sft.difficulty},
        )
        self.task.check_scoring(self.source.batch("sft", 0, 4), config.rl.format_reward, config.rl.trace_penalty)
        self.logger = logging.getLogger(f"{LOGGER}.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(self.run_dir / "train.log")
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            self.logger.addHandler(handler)
            for line in schedule_warnings(config):
                self.logger.info(f"warning: {line}")
                warnings.warn(line, BreadcrumbsWarning, stacklevel=3)
            dump_config(config, self.run_dir / "config.yaml")
            if self.task.summary() is not None:
                self.log(self.task.summary())
        self.accelerator.wait_for_everyone()

    # ----- setup ------------------------------------------------------------------------------------------
    def _load_model(self):
        cfg = self.config.model
        dtype = DTYPES[cfg.dtype]
        name = str(self.resume_from) if self.resume_from else cfg.name
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        if not self.progress:
            hf_logging.disable_progress_bar()
        try:
            model, tokenizer = load_model(
                name, arch=cfg.arch, device=str(self.accelerator.device), dtype=dtype,
                attn_implementation=cfg.attn_implementation, seed=self.config.seed, chat=CHAT_MODES[cfg.chat],
            )
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        model.train()
        return model, tokenizer

    def _optimizer(self, model):
        """The run's one AdamW (prepared with the model once; each stage sets its learning rate and resets it)."""
        o = self.config.optim
        return torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=0.0, betas=(o.beta1, o.beta2), eps=o.eps,
            weight_decay=o.weight_decay,
        )

    @staticmethod
    def _start_stage(optimizer, lr: float, schedule):
        """Fresh AdamW moments and this stage's learning rate and schedule, on the optimizer prepared once."""
        optimizer.state.clear()
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] = lr
        return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    def log(self, message: str) -> None:
        if self.main:
            self.logger.info(message)
            if self.echo:
                from tqdm.auto import tqdm

                tqdm.write(message)

    def _write_metrics(self, record: dict) -> None:
        if self.main:
            with open(self.run_dir / "metrics.jsonl", "a") as handle:
                handle.write(json.dumps(record) + "\n")

    def _truncate_metrics(self, step: int) -> None:
        """On resume, drop records written after the checkpoint we resume from (they will be written again)."""
        path = self.run_dir / "metrics.jsonl"
        if not self.main or not path.exists():
            return
        kept = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except (json.JSONDecodeError, AttributeError):
                pass
        atomic_write(path, "".join(line + "\n" for line in kept))  # a kill mid-rewrite keeps the old file

    # ----- the loop ---------------------------------------------------------------------------------------
    def run(self) -> Path:
        cfg = self.config
        acc = self.accelerator
        model, tokenizer = self._load_model()
        self.model = model
        adamw = self._optimizer(model)
        wrapped, optimizer = acc.prepare(TokenScorer(model), adamw)
        rt = self.runtime = Runtime(wrapped, model, tokenizer, acc, chunk_tokens=cfg.model.logit_chunk_tokens)
        state = load_state(self.resume_from) if self.resume_from else None
        global_step = resumed_step = state["global_step"] if state else 0
        self.train_time_s = state.get("train_time_s", 0.0) if state else 0.0
        if self._out_of_time():
            self.log(f"the run's time budget ({cfg.time_budget_s:g} s) is spent; final checkpoint {self.resume_from}")
            return self.resume_from
        if state:
            self._truncate_metrics(global_step)
            self.log(f"resuming from {self.resume_from} at step {global_step} ({state['stage']} step {state['stage_step']})")
        elif self.main and (self.run_dir / "metrics.jsonl").exists():
            (self.run_dir / "metrics.jsonl").unlink()
        total = cfg.total_steps
        bar = None
        if self.progress and self.main:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=global_step, desc="train", unit="step", dynamic_ncols=True)
        eval_problems = self.source.eval_problems()
        eval_ratios = cfg.eval_views()
        eval_tokens = cfg.eval.max_new_tokens or cfg.rl.max_new_tokens
        final = self.resume_from
        stage_start = 0
        last_eval_step = -1
        for stage, steps in cfg.stages():
            stage_end = stage_start + steps
            if global_step >= stage_end:
                stage_start = stage_end
                continue
            first = global_step - stage_start
            lr = cfg.sft.lr if stage == "sft" else cfg.rl.lr
            stage_cfg = cfg.sft if stage == "sft" else cfg.rl
            scheduler = self._start_stage(adamw, lr, lr_lambda(stage_cfg.scheduler, stage_cfg.warmup_steps, steps))
            if state and state["stage"] == stage and first > 0:
                rt.load_optimizer_state(optimizer, state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
                if acc.process_index == 0:
                    set_rng_state(state["rng"])
            frozen = stage == "distill" and cfg.distill.teacher == "frozen"
            reference = self._reference(rt, first) if stage == "rl" and cfg.rl.kl_coef > 0 or frozen else None
            resumed_here = self.resume_from is not None and global_step == resumed_step
            starts_run = cfg.eval.every and global_step == 0  # periodic evaluation: record the starting point
            if (stage == "rl" or starts_run) and first == 0 and last_eval_step != global_step and not resumed_here:
                self._evaluate(rt, eval_problems, eval_ratios, eval_tokens, global_step, stage, "before")
            for step in range(first, steps):
                torch.manual_seed(derive_seed(cfg.seed, "torch", global_step, acc.process_index))
                started = time.perf_counter()
                if stage == "sft":
                    metrics = self._sft_step(rt, optimizer, step)
                else:
                    metrics = self._rl_step(rt, optimizer, stage, step, reference)
                scheduler.step()
                global_step += 1
                metrics.update(kind="train", stage=stage, step=global_step, lr=scheduler.get_last_lr()[0],
                               step_time_s=time.perf_counter() - started)
                if "tokens" in metrics:
                    metrics["train_tokens_per_s"] = metrics.pop("tokens") / metrics["step_time_s"]
                self._write_metrics(metrics)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{metrics[k]:.3g}" for k in ("loss", "reward", "distill_kl") if k in metrics})
                if global_step % cfg.log_every == 0:
                    shown = {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}
                    self.log(f"step {global_step} [{stage}] " + " ".join(f"{k}={v}" for k, v in shown.items()))
                self.train_time_s += metrics["step_time_s"]
                out_of_time = self._out_of_time()
                stage_done = step + 1 == steps or out_of_time
                if cfg.eval.every and global_step % cfg.eval.every == 0 or stage_done:
                    self._evaluate(rt, eval_problems, eval_ratios, eval_tokens, global_step, stage,
                                   "end" if stage_done else "periodic")
                    last_eval_step = global_step
                if global_step % cfg.checkpoint.every == 0 or stage_done:
                    final = self._save(model, tokenizer, optimizer, scheduler, stage, step + 1, global_step)
                if self.stop_after is not None and global_step >= self.stop_after:
                    raise TrainingInterrupted(f"stopped after step {global_step} (stop_after)")
                if out_of_time:
                    self.log(f"time budget of {cfg.time_budget_s:g} s reached after step {global_step}; stopping")
                    break
            if self._out_of_time():
                break
            stage_start = stage_end
            state = None
        if bar is not None:
            bar.close()
        acc.wait_for_everyone()
        if self.main:
            from breadcrumbs.training.plots import plot_metrics

            if (self.run_dir / "metrics.jsonl").exists():
                plot_metrics(self.run_dir / "metrics.jsonl", self.run_dir / "training_curves.png")
        final = latest_checkpoint(self.run_dir) or final
        self.log(f"done: final checkpoint {final}")
        acc.wait_for_everyone()
        return final

    def _reference(self, rt: Runtime, first: int) -> TokenScorer:
        """The frozen model at the start of this stage (RL: the reference of the KL penalty; distillation with
        `distill.teacher: frozen`: the teacher), saved once in `reference/` with the tokenizer (a checkpoint that
        `breadcrumbs eval --model RUN/reference` evaluates) and loaded from there (also on resume)."""
        path = self.run_dir / "reference"
        model = rt.base
        if first == 0 or not (path / "config.json").is_file():
            weights = rt.full_state_dict()
            if self.main:
                temp = self.run_dir / ".reference-tmp"
                shutil.rmtree(temp, ignore_errors=True)
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                model.save_pretrained(temp, state_dict=weights)
                rt.tokenizer.save_pretrained(temp)
                hf_logging.enable_progress_bar()
                shutil.rmtree(path, ignore_errors=True)
                temp.replace(path)
            self.accelerator.wait_for_everyone()
        from transformers import AutoModelForCausalLM

        reference = AutoModelForCausalLM.from_pretrained(
            path, dtype=model.dtype, attn_implementation=model.config._attn_implementation
        ).to(self.accelerator.device)
        return TokenScorer(reference.eval().requires_grad_(False))

    def _out_of_time(self) -> bool:
        """Whether the run's training time budget (`time_budget_s`) is spent (every process decides alike)."""
        budget = self.config.time_budget_s
        if not budget:
            return False
        spent = torch.tensor([self.train_time_s], device=self.accelerator.device)
        return bool(self.accelerator.reduce(spent, reduction="mean").item() >= budget)

    def _save(self, model, tokenizer, optimizer, scheduler, stage, stage_step, global_step) -> Path:
        cfg = self.config
        size = cfg.sft.batch_size if stage == "sft" else cfg.rl.batch_size // cfg.rl.group_size
        state = {
            "global_step": global_step, "stage": stage, "stage_step": stage_step,
            "optimizer": self.runtime.optimizer_state(optimizer), "scheduler": scheduler.state_dict(), "rng": rng_state(),
            "cursor": self.source.cursor(stage, stage_step, size), "config": cfg.to_dict(),
            "train_time_s": self.train_time_s,
        }
        path = self.run_dir / "checkpoints" / f"step-{global_step}"
        weights = self.runtime.full_state_dict()
        if self.main:
            record = training_record(cfg, self.task, global_step, beacon_token_id(tokenizer)).to_dict()
            path = save_checkpoint(
                self.run_dir, global_step, model, tokenizer, state, cfg.checkpoint.keep, weights, record
            )
        self.accelerator.wait_for_everyone()
        return path

    def _evaluate(self, rt, problems, ratios, max_new_tokens, step, stage, when) -> None:
        if not problems:
            return
        with rt.full_weights():
            self._evaluate_main(rt, problems, ratios, max_new_tokens, step, stage, when)
            self.accelerator.wait_for_everyone()

    def _evaluate_main(self, rt, problems, ratios, max_new_tokens, step, stage, when) -> None:
        if self.main:
            started = time.perf_counter()
            result = evaluate(rt, self.task, problems, ratios, max_new_tokens, self.config.eval.batch_size)
            record = {"kind": "eval", "stage": stage, "when": when, "step": step, "train_time_s": self.train_time_s,
                      **result,
                      "eval_time_s": time.perf_counter() - started}
            self._write_metrics(record)
            self.log(f"eval step {step} [{stage} {when}] " + " ".join(
                f"{k}={v:.3f}" for k, v in result.items() if k.startswith("acc_")))

    def _clip_and_step(self, rt, optimizer) -> float:
        """Clip (grad_clip 0: measure only) and step; returns the global grad norm before clipping."""
        clip = self.config.optim.grad_clip or math.inf
        norm = float(self.accelerator.clip_grad_norm_(rt.model.parameters(), clip))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return norm

    # ----- steps ------------------------------------------------------------------------------------------
    def _sft_step(self, rt: Runtime, optimizer, step: int) -> dict:
        cfg = self.config
        problems = self.source.batch("sft", step, cfg.sft.batch_size)
        if cfg.sft.batch_size % rt.world:
            raise BreadcrumbsError(
                f"sft.batch_size {cfg.sft.batch_size} does not split over {rt.world} processes; use a multiple"
            )
        choices, weights = cfg.beacon.choices()
        ratios = sample_ratios(
            cfg.beacon.views(choices), len(problems),
            derive_seed(cfg.seed, "sft-ratio", step), weights,
        )
        student_weight = cfg.sft.student_weight if step >= cfg.sft.student_start else 0.0
        sums, global_tokens = self._backward_traces(rt, problems, ratios, student_weight, 1.0, sync=True)
        norm = self._clip_and_step(rt, optimizer)
        metrics = sums.means(rt)
        metrics.update(grad_norm=norm, tokens=float(global_tokens))
        return metrics

    def _backward_traces(
        self, rt: Runtime, problems: list, ratios: list, student_weight: float, weight: float, sync: bool
    ) -> tuple[Sums, int]:
        """Accumulate `weight` x the supervised loss on the solver traces of the global batch `problems` (this
        process's shard, in micro-batches of `sft.micro_batch_size`); `sync` lets the last micro-batch communicate.
        Returns the metric sums and the global number of trace tokens."""
        cfg = self.config
        prompts, completions = encode_traces(rt.tokenizer, self.task, problems, cfg.task.style)
        global_tokens = sum(len(c) for c in completions)
        prompts, completions, ratios = (shard(items, rt.rank, rt.world) for items in (prompts, completions, ratios))
        micro = micro_batches(len(prompts), cfg.sft.micro_batch_size, rt.world)
        sums = Sums()
        for i, rows in enumerate(micro):
            pick = lambda items: [items[r] for r in rows]  # noqa: E731
            loss, part = sft_loss(
                rt, pick(prompts), pick(completions), pick(ratios), student_weight, global_tokens, cfg.sft.fused_forward
            )
            rt.backward(weight * loss, sync=sync and i + 1 == len(micro))
            sums.merge(part)
        return sums, global_tokens

    def _rl_step(self, rt: Runtime, optimizer, stage: str, step: int, reference) -> dict:
        cfg = self.config
        rl = cfg.rl
        prompts_per_step = rl.batch_size // rl.group_size
        if prompts_per_step % rt.world:
            raise BreadcrumbsError(
                f"rl.batch_size / rl.group_size = {prompts_per_step} prompts do not split over {rt.world} processes; "
                f"make rl.batch_size a multiple of {rl.group_size * rt.world}"
            )
        if rl.anchor_weight > 0 and rl.anchor_batch % rt.world:
            raise BreadcrumbsError(
                f"rl.anchor_batch {rl.anchor_batch} does not split over {rt.world} processes; use a multiple"
            )
        problems = shard(self.source.batch(stage, step, prompts_per_step), rt.rank, rt.world)
        choices, weights = cfg.beacon.choices()
        all_ratios = sample_ratios(
            cfg.beacon.views(choices), rl.batch_size,
            derive_seed(cfg.seed, stage, "ratio", step), weights,
        )
        ratios = shard(all_ratios, rt.rank, rt.world)
        teacher = reference if stage == "distill" else None  # distill.teacher: frozen
        with rt.full_weights():
            rollouts = collect_rollouts(
                rt, self.task, problems, rl, ratios, derive_seed(cfg.seed, stage, "sample", step, rt.rank),
                model=None if teacher is None else teacher.lm,
            )
        rl_weight = 1.0 if stage == "rl" else 0.0
        distill_weight = distill_weight_at(cfg, stage, step)
        per_update = (rl.minibatch_size or rl.batch_size) // rt.world
        # minibatches (one optimizer update each) of micro-batches (one forward/backward each)
        parts = [
            [rollouts.rows([start + r for r in rows]) for rows in micro_batches(
                min(per_update, len(rollouts) - start), rl.micro_batch_size, rt.world)]
            for start in range(0, len(rollouts), per_update)
        ]
        reuse = rl.updates_per_batch > 1 or len(parts) > 1
        scored = lambda model: [[sequence_logprobs(rt, model, m, rl) for m in part] for part in parts]  # noqa: E731
        old = scored(rt.model) if reuse and rl_weight else [[None] * len(part) for part in parts]
        ref = scored(reference) if reference is not None and rl_weight else [[None] * len(part) for part in parts]
        counts = rt.global_sum([
            float(sum(len(c) for m in part for c in m.completions)) if rl.loss_norm != "sequence"
            else float(sum(len(m) for m in part))
            for part in parts
        ])
        sums = rollout_sums(rollouts, rl.group_size)
        norms = []
        anchor = rl.anchor_weight > 0 and stage == "rl"
        for update in range(rl.updates_per_batch):
            for index, (part, old_lp, ref_lp, denominator) in enumerate(zip(parts, old, ref, counts)):
                if anchor:  # the warm start's data: fresh solver traces at its difficulty in every update
                    batch = self.source.batch("anchor", (step * rl.updates_per_batch + update) * len(parts) + index,
                                              rl.anchor_batch)
                    traces, _ = self._backward_traces(rt, batch, [None] * len(batch), 0.0, rl.anchor_weight, sync=False)
                    sums.add("anchor_ce", *traces.values["ce_teacher"])
                for i, micro in enumerate(part):
                    loss, micro_sums = rl_loss(
                        rt, micro, rl, cfg.distill, rl_weight, distill_weight, denominator, old_lp[i], ref_lp[i],
                        teacher,
                    )
                    rt.backward(loss, sync=i + 1 == len(part))
                    sums.merge(micro_sums)
                norms.append(self._clip_and_step(rt, optimizer))
        metrics = sums.means(rt)
        metrics.update(grad_norm=sum(norms) / len(norms), distill_weight=distill_weight,
                       generation_s=rollouts.generation_s,
                       tokens=float(rt.global_sum([sum(len(c) for c in rollouts.completions)])[0]))
        return metrics


def train(
    config: TrainConfig | None,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    device: str | None = None,
    echo: bool | None = None,
) -> Path:
    """Train per `config` into `out_dir` (resuming from its latest checkpoint when `resume`); returns the final
    checkpoint directory (an HF `save_pretrained` dir with the beacon token, loadable by `load_model`)."""
    run_dir = Path(out_dir)
    if os.environ.get("RANK", "0") != "0":  # under a launcher, rank 0 holds the lock and sweeps
        return _run_and_release(Trainer(config, run_dir, resume=resume, progress=progress, device=device, echo=echo))
    with exclusive_lock(run_dir / "train", f"the run in {str(run_dir)!r}"):
        for folder in (run_dir, run_dir / "checkpoints"):
            remove_stale_temporaries(folder)  # left by a kill; under the lock no live writer owns them
        return _run_and_release(Trainer(config, run_dir, resume=resume, progress=progress, device=device, echo=echo))


def _run_and_release(trainer: Trainer) -> Path:
    """Run, then release the distributed process group (a process that exits holding a gloo group can abort with
    `terminate called without an active exception`); a no-op for one process."""
    try:
        return trainer.run()
    finally:
        trainer.accelerator.end_training()
