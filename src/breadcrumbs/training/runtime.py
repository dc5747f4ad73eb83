"""What one training process holds: the (wrapped) model, its tokenizer, the accelerator, and metric reduction."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from breadcrumbs.models import beacon_token_id


@dataclass
class Runtime:
    """`model` is what forward/backward go through (possibly DDP/FSDP-wrapped); `base` is the plain model used
    for masks, generation and saving."""

    model: torch.nn.Module
    base: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    accelerator: object | None = None
    beacon_id: int = field(init=False)
    pad_id: int = field(init=False)

    def __post_init__(self):
        self.beacon_id = beacon_token_id(self.tokenizer)
        self.pad_id = self.tokenizer.pad_token_id

    @property
    def device(self) -> torch.device:
        return self.base.device

    @property
    def rank(self) -> int:
        return self.accelerator.process_index if self.accelerator is not None else 0

    @property
    def world(self) -> int:
        return self.accelerator.num_processes if self.accelerator is not None else 1

    def autocast(self):
        return self.accelerator.autocast() if self.accelerator is not None else contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        if self.accelerator is not None:
            self.accelerator.backward(loss)
        else:
            loss.backward()

    def global_sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of `values` over all processes (one collective)."""
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world > 1:
            tensor = self.accelerator.reduce(tensor, reduction="sum")
        return tensor.tolist()


class Sums:
    """Named (sum, count) pairs; `means` reduces them over processes into global means."""

    def __init__(self):
        self.values: dict[str, list[float]] = {}

    def add(self, name: str, total: float | torch.Tensor, count: float | torch.Tensor) -> None:
        total = float(total.detach()) if isinstance(total, torch.Tensor) else float(total)
        count = float(count.detach()) if isinstance(count, torch.Tensor) else float(count)
        entry = self.values.setdefault(name, [0.0, 0.0])
        entry[0] += total
        entry[1] += count

    def means(self, runtime: Runtime) -> dict[str, float]:
        names = sorted(self.values)
        flat = runtime.global_sum([x for name in names for x in self.values[name]])
        return {name: flat[2 * i] / max(flat[2 * i + 1], 1e-12) for i, name in enumerate(names)}
