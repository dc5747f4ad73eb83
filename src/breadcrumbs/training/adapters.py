"""LoRA adapters for the student (`model.lora_rank > 0`): PEFT's LoRA layers injected in place, so the model keeps its
class and module paths (the losses project through `lm.base_model` as before), and only the adapters plus the
`<beacon>` row of the input embedding train.

- `inject_lora` wraps the target linear layers (`model.lora_targets`) with `peft` LoRA layers of rank `r`, freezes
  every other weight, and keeps the embedding trainable with a gradient hook that zeroes every row but the beacon's
  (give it weight decay 0: decoupled decay would move the frozen rows);
- `merged_state_dict` is what a checkpoint and the frozen reference save: the base weights with `B @ A x scaling`
  added, under the plain module names, so every checkpoint loads as an ordinary model (no PEFT needed to serve it);
- `adapter_state` / `load_adapter_state` carry the adapters and the beacon row in the training state, and a resumed
  run re-injects them into the *original* base weights, so resuming is exact (the merged weights are not unmerged).
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from breadcrumbs.errors import BreadcrumbsError

ADAPTER = "default"


def _lora_layer_class():
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:
        raise BreadcrumbsError("model.lora_rank > 0 needs peft: pip install 'peft>=0.13'") from None
    return LoraLayer


def inject_lora(model: PreTrainedModel, rank: int, alpha: float, targets: list[str], beacon_id: int) -> None:
    """Inject LoRA adapters of `rank` into the `targets` linear layers and freeze the rest but the beacon's row."""
    _lora_layer_class()
    from peft import LoraConfig, inject_adapter_in_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [target for target in targets if target not in present]
    if missing:
        raise BreadcrumbsError(
            f"config key 'model.lora_targets': this model has no module named {missing[0]!r}; its linear layers are "
            f"named {', '.join(sorted(n for n in present if n.endswith('_proj')))}"
        )
    inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(targets), lora_dropout=0.0),
                            model, adapter_name=ADAPTER)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_("lora_" in name)
    embedding = model.get_input_embeddings().weight
    embedding.requires_grad_(True)
    keep = torch.zeros(embedding.shape[0], 1, dtype=embedding.dtype, device=embedding.device)
    keep[beacon_id] = 1.0
    embedding.register_hook(lambda grad: grad * keep)


def injected(model: PreTrainedModel) -> bool:
    """Whether `inject_lora` put adapters into `model`."""
    return any("lora_" in name for name, _ in model.named_parameters())


def merged_state_dict(model: PreTrainedModel) -> dict[str, torch.Tensor]:
    """The weights with each adapter's update merged in, under the model's plain parameter names."""
    lora_layer = _lora_layer_class()
    deltas = {name: module.get_delta_weight(ADAPTER) for name, module in model.named_modules()
              if isinstance(module, lora_layer)}
    merged = {}
    for key, value in model.state_dict().items():
        if "lora_" in key:
            continue
        owner, _, leaf = key.rpartition(".base_layer.")
        if owner in deltas and leaf == "weight":
            value = value + deltas[owner].to(value.dtype)
        merged[key.replace(".base_layer.", ".")] = value.detach().clone()
    return merged


def adapter_state(model: PreTrainedModel, beacon_id: int) -> dict[str, torch.Tensor]:
    """The trained part of an adapter run: every LoRA weight and the beacon's embedding row."""
    state = {name: parameter.detach().cpu().clone() for name, parameter in model.named_parameters() if "lora_" in name}
    state["beacon_embedding"] = model.get_input_embeddings().weight[beacon_id].detach().cpu().clone()
    return state


def load_adapter_state(model: PreTrainedModel, state: dict[str, torch.Tensor], beacon_id: int) -> None:
    """Put what `adapter_state` saved back into a model with freshly injected adapters."""
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            if name == "beacon_embedding":
                model.get_input_embeddings().weight[beacon_id].copy_(value)
            else:
                parameters[name].copy_(value)
