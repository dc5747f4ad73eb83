"""Checkpoints: HF `save_pretrained` directories (model + tokenizer with `<beacon>`) plus the trainer state.

Layout of a run directory:

    checkpoints/step-N/        config.json, model.safetensors, tokenizer files, trainer_state.pt
    checkpoints/latest         symlink -> step-N (replaced atomically)

`config.json` carries `breadcrumbs`: what the model was trained for (`breadcrumbs.trained.TrainedFor`: task,
difficulty, ratios, lag, layout, sampling, student steps), which `eval`, `sweep` and `generate` default to.

A checkpoint is written into a temporary directory and moved into place with `os.replace`; `latest` is a new
symlink moved over the old one with `os.replace`. A run killed at any moment leaves `latest` pointing at a
complete checkpoint (or absent). Files get the modes the umask gives (`files.follow_umask`).
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.files import follow_umask

STATE_FILE = "trainer_state.pt"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _replace_symlink(link: Path, target: str) -> None:
    """Point `link` at `target` atomically (a temporary link renamed over it; a stale one from a kill is swept by
    `files.remove_stale_temporaries` when the next run starts)."""
    temp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    if temp.is_symlink() or temp.exists():
        temp.unlink()
    os.symlink(target, temp)
    os.replace(temp, link)


def save_checkpoint(
    run_dir: Path, step: int, model, tokenizer, state: dict, keep: int = 0, weights: dict | None = None,
    metadata: dict | None = None,
) -> Path:
    """Write `checkpoints/step-{step}` atomically, point `latest` at it, and prune to the newest `keep`.
    `weights`: the model's full state dict where the model itself holds shards (FSDP); None = its own.
    `metadata`: what the model was trained for, set as `model.config.breadcrumbs` (saved in config.json)."""
    if metadata is not None:
        model.config.breadcrumbs = metadata
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step}"
    temp = root / f".tmp-step-{step}"
    if temp.exists():
        shutil.rmtree(temp)
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(temp, state_dict=weights)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    tokenizer.save_pretrained(temp)
    torch.save(state, temp / STATE_FILE)
    follow_umask(temp)  # transformers writes the weights through a 0600 temporary
    if final.exists():
        shutil.rmtree(final)
    os.replace(temp, final)
    _replace_symlink(root / "latest", final.name)
    if keep:
        steps = sorted((int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)))
        for _, path in steps[:-keep]:
            if path != final:
                shutil.rmtree(path, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint `latest` points at, if it is complete."""
    link = Path(run_dir) / "checkpoints" / "latest"
    if not link.exists():
        return None
    path = link.resolve()
    return path if (path / STATE_FILE).is_file() and (path / "config.json").is_file() else None


def load_state(checkpoint: Path) -> dict:
    """The trainer state of a checkpoint; a damaged file is one error saying how to resume from an earlier one."""
    path = Path(checkpoint) / STATE_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # truncated zip, pickle errors, ...: torch raises many types
        raise BreadcrumbsError(
            f"{path} is damaged ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'unreadable'}); "
            f"delete {Path(checkpoint).name} and point checkpoints/latest at an earlier step-N (or start afresh)"
        ) from None
    needed = ("global_step", "stage", "stage_step", "optimizer", "scheduler", "rng")
    missing = [key for key in needed if key not in state] if isinstance(state, dict) else list(needed)
    if missing:
        raise BreadcrumbsError(f"{path} is not a breadcrumbs trainer state (missing {', '.join(missing)})")
    return state
