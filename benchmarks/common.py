"""Shared helpers for the benchmarks: command-line options, the benchmark model, timing, and result files.

Every benchmark writes `benchmarks/results/<name>.json` (all figures) and `<name>.md` (tables), both headed by the
command that made them, the machine, the library versions and the load on the machine while it ran.
Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PROMPT_TOKENS = 32  # every benchmark prompt: BOS + 31 characters, the same length in a batch (no padding)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every benchmark takes."""
    parser.add_argument("--quick", action="store_true", help="a reduced grid that runs in under 2 minutes")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES), help="model and cache dtype")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch CPU threads (default 1: on a shared 2-core machine two OpenMP threads stall badly under load)",
    )
    parser.add_argument("--preset", default="tiny", help="model size from breadcrumbs.models.PRESETS (default tiny)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats per case (median is kept)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")


def configure(args: argparse.Namespace) -> tuple[torch.device, torch.dtype]:
    """Apply the thread count; return the device and dtype, refusing a CUDA request without CUDA."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available here")
    return device, DTYPES[args.dtype]


def bench_model(preset: str, device: torch.device, dtype: torch.dtype, max_positions: int = 8192, seed: int = 0):
    """A freshly initialised Qwen2 model of a preset's width with the char tokenizer and `<beacon>`, addressing at
    least `max_positions` positions (4k generated tokens plus beacons at c = 2 need ~6.2k). Untrained weights are
    fine for speed and memory: every figure here depends on shapes, not values.

    EOS is unset (tokenizer and generation config), so every row generates exactly the requested number of tokens
    in our loop, as `min_new_tokens` makes HF `generate` do; an untrained model otherwise samples EOS at random."""
    from breadcrumbs.models import PRESETS, build_preset_model

    original = PRESETS[preset]
    PRESETS[preset] = dataclasses.replace(
        original, max_position_embeddings=max(original.max_position_embeddings, max_positions)
    )
    try:
        model, tokenizer = build_preset_model(preset, "qwen2", seed=seed)
    finally:
        PRESETS[preset] = original
    tokenizer.eos_token = None
    model.config.eos_token_id = None
    model.generation_config.eos_token_id = None
    return model.to(device=device, dtype=dtype).eval(), tokenizer


def make_prompts(tokenizer, batch: int, length: int = PROMPT_TOKENS) -> list[list[int]]:
    """`batch` different prompts of `length` token ids each (BOS + digits and operators), all the same length."""
    alphabet = "0123456789+-*/=() "
    ids = [tokenizer(ch, add_special_tokens=False)["input_ids"][0] for ch in alphabet]  # byte-level spellings
    return [
        [tokenizer.bos_token_id] + [ids[(row * 7 + 3 * i + i * i) % len(ids)] for i in range(length - 1)]
        for row in range(batch)
    ]


def worker_setup(spec: str):
    """Start of a benchmark subprocess: the job dict from `spec` (JSON), the model, tokenizer, prompts and device."""
    job = json.loads(spec)
    torch.set_num_threads(job["threads"])
    device = torch.device(job["device"])
    model, tokenizer = bench_model(job["preset"], device, DTYPES[job["dtype"]])
    return job, model, tokenizer, make_prompts(tokenizer, job["batch"]), device


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> tuple[float, object]:
    """Wall seconds of `fn()` (device work included) and its result."""
    synchronize(device)
    started = time.perf_counter()
    result = fn()
    synchronize(device)
    return time.perf_counter() - started, result


def interleaved(cases: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Run every case once per repeat, rotating the order each repeat, so that load changes on a shared machine
    hit all cases alike. Each case returns its own measurement; returns them per case."""
    names = list(cases)
    results: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(cases[name]())
    return results


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def _git(*arguments: str) -> str:
    try:
        return subprocess.run(
            ["git", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment(device: torch.device, threads: int) -> dict:
    """Machine, versions and source revision, for the head of every result file."""
    import transformers

    import breadcrumbs

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "breadcrumbs": breadcrumbs.__version__,
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "memory_gib": _memory_gib(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def command_line() -> str:
    return " ".join(shlex.quote(part) for part in ["python", *sys.argv])


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


class Run:
    """One benchmark run: records the environment and the load at start, and writes the result files."""

    def __init__(self, name: str, args: argparse.Namespace, device: torch.device):
        self.name, self.args, self.device = name, args, device
        self.started = time.time()
        self.load_start = load_average()
        self.environment = environment(device, args.threads)

    def write(self, data: dict, markdown: str, title: str) -> Path:
        """Write `<name>.json` (environment + data) and `<name>.md` (header + the given markdown body)."""
        out: Path = self.args.out
        out.mkdir(parents=True, exist_ok=True)
        elapsed = time.time() - self.started
        load_end = load_average()
        header = {
            "benchmark": self.name,
            "command": command_line(),
            "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.started)),
            "elapsed_s": round(elapsed, 1),
            "load_average_start": self.load_start,
            "load_average_end": load_end,
            "environment": self.environment,
        }
        (out / f"{self.name}.json").write_text(json.dumps({**header, **data}, indent=2) + "\n")
        env = self.environment
        lines = [
            f"# {title}",
            "",
            f"Command: `{header['command']}`  ",
            f"Date (UTC): {header['date_utc']}, took {elapsed:.0f} s  ",
            f"Machine: {env['cpu']}, {env['cpu_count']} CPUs, {env['memory_gib']} GiB, device `{env['device']}`"
            + (f" ({env['gpu']})" if "gpu" in env else "")
            + f", torch threads {env['torch_threads']}  ",
            f"Versions: Python {env['python']}, torch {env['torch']}, transformers {env['transformers']}, "
            f"breadcrumbs {env['breadcrumbs']} (git {env['git_commit']})  ",
            f"Load average (1/5/15 min) at start {self.load_start}, at end {load_end} — the machine is shared with "
            "other engineers' test runs, so absolute times are noisy; compare ratios (cases interleaved, medians).",
            "",
            markdown.rstrip(),
            "",
        ]
        (out / f"{self.name}.md").write_text("\n".join(lines))
        print(f"wrote {out / (self.name + '.json')} and {out / (self.name + '.md')}")
        return out / f"{self.name}.md"


def learning_curve_rows(results: Sequence[dict]) -> list[list[object]]:
    """One row per evaluated step: the step, then each arm's held-out accuracy and teacher CE at that step (arms'
    `accuracy` and `ce_teacher` are lists of (step, value))."""
    steps = [step for step, _ in results[0]["accuracy"]]
    return [
        [step, *(cell for r in results for cell in (f"{dict(r['accuracy'])[step]:.0%}", dict(r["ce_teacher"]).get(step, "")))]
        for step in steps
    ]
