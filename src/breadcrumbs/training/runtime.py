"""What one training process holds: the (wrapped) model, its tokenizer, the accelerator, and metric reduction;
and the accelerator itself, set up for DDP, FSDP2 or DeepSpeed as `accelerate launch` asks (CPU included)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.generation import banned_token_ids, eos_token_ids
from breadcrumbs.generators import Generator, LoopGenerator
from breadcrumbs.models import beacon_token_id
from breadcrumbs.training import adapters
from breadcrumbs.training.config import DistillConfig
from breadcrumbs.training.losses import HeadOptions, TokenScorer


def make_accelerator(cpu: bool, mixed_precision: str, grad_clip: float):
    """An `accelerate.Accelerator` for this process.

    DDP needs nothing special. FSDP: accelerate ignores `--use_fsdp` on CPU, so the launcher's FSDP settings
    (`ACCELERATE_USE_FSDP` and the `FSDP_*` variables) are applied here too, which lets gloo runs test it; only
    FSDP2 (`fsdp_version: 2`) is supported, since rollouts and checkpoints gather full weights with its
    `unshard`. DeepSpeed: the loop feeds no dataloader, so the per-process micro-batch is declared (one optimizer
    step per `accelerator.backward` with gradient sync) and `optim.grad_clip` becomes DeepSpeed's clipping; on CPU
    (DeepSpeed's CPU accelerator) the process group is gloo, named so that accelerate counts its processes.
    """
    from accelerate import Accelerator, FullyShardedDataParallelPlugin, PartialState
    from accelerate.utils import DistributedType, InitProcessGroupKwargs

    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
    # cpu=True would drop DeepSpeed; without a backend accelerate would see 1 process per rank on CPU
    handlers = [InitProcessGroupKwargs(backend="gloo")] if cpu and deepspeed else []
    accelerator = Accelerator(cpu=cpu and not deepspeed, mixed_precision=mixed_precision, kwargs_handlers=handlers)
    state = accelerator.state
    fsdp = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    if fsdp and state.distributed_type == DistributedType.MULTI_CPU:
        PartialState().distributed_type = state.distributed_type = DistributedType.FSDP  # AcceleratorState re-reads it
        state.fsdp_plugin = FullyShardedDataParallelPlugin()
    if state.distributed_type == DistributedType.FSDP and state.fsdp_plugin.fsdp_version != 2:
        raise BreadcrumbsError(
            "FSDP version 1 is not supported; set fsdp_version: 2 in the accelerate config (or FSDP_VERSION=2)"
        )
    if state.distributed_type == DistributedType.DEEPSPEED:
        ds = state.deepspeed_plugin.deepspeed_config
        ds["train_micro_batch_size_per_gpu"] = 1
        ds["gradient_accumulation_steps"] = 1
        ds["train_batch_size"] = state.num_processes  # micro-batch 1 x accumulation 1 x processes
        ds["gradient_clipping"] = grad_clip
    return accelerator


@dataclass
class Runtime:
    """`model` is what forward/backward go through: a `TokenScorer` around `base`, possibly DDP/FSDP/DeepSpeed-
    wrapped (given `base` itself, the scorer is built here); `base` is the plain model used for masks, generation
    and saving. `chunk_tokens` bounds the positions projected onto the vocabulary at once (0: all). `generator`
    decodes the rollouts and the training-time evaluations (config key `generator`)."""

    model: torch.nn.Module
    base: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    accelerator: object | None = None
    chunk_tokens: int = 0
    generator: Generator = field(default_factory=LoopGenerator)
    beacon_id: int = field(init=False)
    pad_id: int = field(init=False)
    banned_ids: tuple[int, ...] = field(init=False)

    def __post_init__(self):
        if self.model is self.base:
            self.model = TokenScorer(self.base)
        self.beacon_id = beacon_token_id(self.tokenizer)
        self.pad_id = self.tokenizer.pad_token_id
        self.banned_ids = tuple(banned_token_ids(self.tokenizer, eos_token_ids(self.base, self.tokenizer)))

    def head_options(
        self, sampling_temperature: float | None = None, distill: DistillConfig | None = None
    ) -> HeadOptions:
        """Options for `TokenScorer`: log-probs of the rollout sampler's distribution (its temperature, special
        tokens banned as `generate` bans them) when `sampling_temperature` is given, else of the model itself."""
        sampled = {} if sampling_temperature is None else {
            "temperature": sampling_temperature, "banned_ids": self.banned_ids
        }
        kl = {} if distill is None else {"direction": distill.direction, "teacher_grad": distill.teacher_grad}
        return HeadOptions(chunk_tokens=self.chunk_tokens, **sampled, **kl)

    @property
    def sharded(self) -> bool:
        """Whether this process holds only shards of the weights and optimizer state (FSDP2)."""
        from torch.distributed.fsdp import FSDPModule

        return isinstance(self.model, FSDPModule)

    def full_state_dict(self) -> dict | None:
        """The state dict a checkpoint saves of `base`: on the main process the full one where the weights are
        sharded (FSDP; a collective that every process must call), the adapters merged in where LoRA adapters train
        (`training/adapters.py`), else None (the model's own `state_dict` is complete)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        if adapters.injected(self.base):  # the trainer refuses adapters under FSDP
            return adapters.merged_state_dict(self.base)
        if not self.sharded:
            return None
        gathered = get_model_state_dict(self.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return {name.removeprefix("lm."): value for name, value in gathered.items()}

    def optimizer_state(self, optimizer) -> dict:
        """The optimizer state to checkpoint: under FSDP the full (unsharded) state, keyed by parameter name and
        complete on the main process (a collective that every process must call); else the optimizer's own."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        if not self.sharded:
            return optimizer.state_dict()
        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return get_optimizer_state_dict(self.model, getattr(optimizer, "optimizer", optimizer), options=options)

    def load_optimizer_state(self, optimizer, state: dict) -> None:
        """Restore what `optimizer_state` wrote (under FSDP every process keeps its own shard of the full state)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        if not self.sharded:
            optimizer.load_state_dict(state)
            return
        set_optimizer_state_dict(self.model, getattr(optimizer, "optimizer", optimizer), state,
                                 options=StateDictOptions(full_state_dict=True))

    @contextlib.contextmanager
    def full_weights(self):
        """Every process runs `base` with full weights inside this block (FSDP2: all-gathered once and kept, so
        generation on any subset of processes runs no collective); a no-op otherwise. Every process must enter it."""
        from torch.distributed.fsdp import FSDPModule

        if not self.sharded:
            yield
            return
        self.model._get_fsdp_state()._lazy_init()  # the root must be known before a submodule runs forward alone
        sharded = [module for module in self.model.modules() if isinstance(module, FSDPModule)]
        self.model.set_reshard_after_forward(False)
        for module in sharded:
            module.unshard()
        try:
            yield
        finally:
            for module in sharded:
                module.reshard()
            self.model.set_reshard_after_forward(True)
            self.model.set_reshard_after_forward(False, recurse=False)  # FSDP2's default for the root

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

    def backward(self, loss: torch.Tensor, sync: bool = True) -> None:
        """Accumulate the gradient of `loss`; `sync` False for every micro-batch but the last of an optimizer step
        (no gradient communication, and DeepSpeed does not step)."""
        if self.accelerator is None:
            loss.backward()
            return
        acc = self.accelerator
        acc.sync_gradients = sync
        try:
            with contextlib.nullcontext() if sync else acc.no_sync(self.model):
                acc.backward(loss)
        finally:
            acc.sync_gradients = True

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

    def merge(self, other: Sums) -> None:
        for name, (total, count) in other.values.items():
            self.add(name, total, count)

    def means(self, runtime: Runtime) -> dict[str, float]:
        names = sorted(self.values)
        flat = runtime.global_sum([x for name in names for x in self.values[name]])
        return {name: flat[2 * i] / max(flat[2 * i + 1], 1e-12) for i, name in enumerate(names)}
