"""The training loop: the stages (`training/stages.py`: sft, rl, two-stage distill) on `accelerate`, with exact resume.

Runs the same under `python`, `accelerate launch` and `torchrun`: the global batch of every step is a pure
function of (seed, stage, step); each process takes its contiguous shard, losses are divided by global token (or
sequence) counts, and gradients are averaged by data parallelism — so N processes train on the same global batch
as one. Only the main process writes files.
"""

from __future__ import annotations

import json
import logging
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
from breadcrumbs.generators import get_generator
from breadcrumbs.models import beacon_token_id, load_model
from breadcrumbs.policies import FullCache, student_policy
from breadcrumbs.training import adapters
from breadcrumbs.training.checkpoint import latest_checkpoint, load_state, rng_state, save_checkpoint, set_rng_state
from breadcrumbs.training.config import TrainConfig, build_task, config_from_dict, dump_config
from breadcrumbs.training.data import ProblemSource, derive_seed
from breadcrumbs.training.losses import TokenScorer
from breadcrumbs.training.runtime import Runtime, make_accelerator
from breadcrumbs.training.schedule import check_resume, schedule_warnings, training_record
from breadcrumbs.training.stages import Stage, StepContext, build_stages, lr_lambda
from breadcrumbs.validation import load_yaml, read_text_file, resolve_device

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
LOGGER = "breadcrumbs.training"


def evaluate(rt: Runtime, task, problems, ratios, max_new_tokens: int, batch_size: int) -> dict:
    """Greedy accuracy (`Task.score`'s correct) with the full cache and with each student view (beacon ratio or sliding
    window), and peak KV."""
    was_training = rt.base.training
    rt.base.eval()
    prompts = [task.prompt(problem) for problem in problems]
    result = {}
    for label, policy in [("full", FullCache())] + [(view_name(r), student_policy(r)) for r in ratios]:
        out = rt.generator(rt.base, rt.tokenizer, prompts, policy=policy, max_new_tokens=max_new_tokens, batch_size=batch_size)
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
        # an adapter run resumes from its base weights plus the saved adapters (exact), not from merged weights
        name = str(self.resume_from) if self.resume_from and not cfg.lora_rank else cfg.name
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
        if cfg.lora_rank:
            adapters.inject_lora(model, cfg.lora_rank, cfg.lora_alpha, cfg.lora_targets, beacon_token_id(tokenizer))
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        model.train()
        return model, tokenizer

    def _optimizer(self, model):
        """The run's one AdamW (prepared with the model once; each stage sets its learning rate and resets it)."""
        o = self.config.optim
        trained = [p for p in model.parameters() if p.requires_grad]
        groups = [{"params": trained}]
        if self.config.model.lora_rank:  # the embedding trains only its beacon row: no decay of the frozen rows
            embedding = model.get_input_embeddings().weight
            groups = [{"params": [p for p in trained if p is not embedding]},
                      {"params": [embedding], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=0.0, betas=(o.beta1, o.beta2), eps=o.eps, weight_decay=o.weight_decay)

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
        rt = self.runtime = Runtime(
            wrapped, model, tokenizer, acc, chunk_tokens=cfg.model.logit_chunk_tokens,
            generator=get_generator(cfg.generator),
        )
        if cfg.model.lora_rank and rt.sharded:
            raise BreadcrumbsError("model.lora_rank > 0 is not supported under FSDP; use DDP, or train all weights")
        state = load_state(self.resume_from) if self.resume_from else None
        global_step = resumed_step = state["global_step"] if state else 0
        self.train_time_s = state.get("train_time_s", 0.0) if state else 0.0
        if self._out_of_time():
            self.log(f"the run's time budget ({cfg.time_budget_s:g} s) is spent; final checkpoint {self.resume_from}")
            return self.resume_from
        if state and "adapter" in state:
            adapters.load_adapter_state(model, state["adapter"], rt.beacon_id)
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
        for stage in build_stages(cfg):
            steps = stage.steps
            stage_end = stage_start + steps
            if global_step >= stage_end:
                stage_start = stage_end
                continue
            first = global_step - stage_start
            section = stage.section
            scheduler = self._start_stage(adamw, section.lr, lr_lambda(section.scheduler, section.warmup_steps, steps))
            if state and state["stage"] == stage.name and first > 0:
                rt.load_optimizer_state(optimizer, state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
                if acc.process_index == 0:
                    set_rng_state(state["rng"])
            reference = self._reference(rt, first) if stage.needs_reference else None
            context = StepContext(rt, optimizer, self.task, self.source, cfg, reference)
            resumed_here = self.resume_from is not None and global_step == resumed_step
            starts_run = cfg.eval.every and global_step == 0  # periodic evaluation: record the starting point
            if (stage.evaluated_before or starts_run) and first == 0 and last_eval_step != global_step and not resumed_here:
                self._evaluate(rt, eval_problems, eval_ratios, eval_tokens, global_step, stage.name, "before")
            for step in range(first, steps):
                torch.manual_seed(derive_seed(cfg.seed, "torch", global_step, acc.process_index))
                started = time.perf_counter()
                metrics = stage.step(context, step)
                scheduler.step()
                global_step += 1
                metrics.update(kind="train", stage=stage.name, step=global_step, lr=scheduler.get_last_lr()[0],
                               step_time_s=time.perf_counter() - started)
                if "tokens" in metrics:
                    metrics["train_tokens_per_s"] = metrics.pop("tokens") / metrics["step_time_s"]
                self._write_metrics(metrics)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{metrics[k]:.3g}" for k in ("loss", "reward", "distill_kl") if k in metrics})
                if global_step % cfg.log_every == 0:
                    shown = {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}
                    self.log(f"step {global_step} [{stage.name}] " + " ".join(f"{k}={v}" for k, v in shown.items()))
                self.train_time_s += metrics["step_time_s"]
                out_of_time = self._out_of_time()
                stage_done = step + 1 == steps or out_of_time
                if cfg.eval.every and global_step % cfg.eval.every == 0 or stage_done:
                    self._evaluate(rt, eval_problems, eval_ratios, eval_tokens, global_step, stage.name,
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

    def _save(self, model, tokenizer, optimizer, scheduler, stage: Stage, stage_step: int, global_step: int) -> Path:
        cfg = self.config
        state = {
            "global_step": global_step, "stage": stage.name, "stage_step": stage_step,
            "optimizer": self.runtime.optimizer_state(optimizer), "scheduler": scheduler.state_dict(), "rng": rng_state(),
            "cursor": self.source.cursor(stage.name, stage_step, stage.problems_per_step), "config": cfg.to_dict(),
            "train_time_s": self.train_time_s,
        }
        if adapters.injected(model):
            state["adapter"] = adapters.adapter_state(model, self.runtime.beacon_id)
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
    `terminate called without an active exception`); a no-op for one process. After a normal end every process
    first meets the others, so none tears the group down under another's last collective."""
    try:
        final = trainer.run()
        trainer.accelerator.wait_for_everyone()
        return final
    finally:
        trainer.accelerator.end_training()
