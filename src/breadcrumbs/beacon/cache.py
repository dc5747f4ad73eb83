"""An evicting KV cache: preallocated per-layer slot buffers that entries can be physically removed from.

Each layer holds `[B, H_kv, capacity, D]` key and value buffers and a fill length shared by all rows. Removing
entries moves the surviving tail entries into the holes and shortens the length, so eviction touches only the
entries that move (one entry per beacon), never the whole cache. Attention is order-free over keys (each key
already carries its rotary position), so this compaction changes no result.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, CacheLayerMixin


def _compaction_moves(slots: torch.LongTensor, length: int) -> tuple[torch.LongTensor, torch.LongTensor]:
    """Source and destination slots that fill the holes left by dropping `slots` (`[..., k]`, distinct per row)
    with the kept entries beyond the new length. Unneeded moves are no-ops on slot `length - 1`."""
    k = slots.shape[-1]
    new_length = length - k
    dropped = torch.zeros(*slots.shape[:-1], length, dtype=torch.bool, device=slots.device)
    dropped.scatter_(-1, slots, True)
    index = torch.arange(length, device=slots.device).expand_as(dropped)
    holes = torch.where(dropped[..., :new_length], index[..., :new_length], length).sort(dim=-1).values[..., :k]
    movers = torch.where(~dropped[..., new_length:], index[..., new_length:], length).sort(dim=-1).values
    unused = holes == length
    holes = holes.masked_fill(unused, length - 1)
    movers = movers.masked_fill(unused, length - 1)
    return movers, holes


class SlotLayer(CacheLayerMixin):
    """One layer's keys and values in preallocated buffers; `keys`/`values` are views of the filled slots."""

    is_sliding = False

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity
        self.length = 0
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        batch, heads, _, _ = key_states.shape
        self.device = key_states.device
        self._key_buffer = key_states.new_empty(batch, heads, self.capacity, key_states.shape[-1])
        self._value_buffer = value_states.new_empty(batch, heads, self.capacity, value_states.shape[-1])
        self.is_initialized = True

    def _refresh_views(self) -> None:
        self.keys = self._key_buffer[:, :, : self.length]
        self.values = self._value_buffer[:, :, : self.length]

    def _grow(self, needed: int) -> None:
        """Fallback when a caller underestimated capacity: reallocate (amortised by doubling)."""
        self.capacity = max(needed, 2 * self.capacity)
        for name in ("_key_buffer", "_value_buffer"):
            old = getattr(self, name)
            new = old.new_empty(*old.shape[:2], self.capacity, old.shape[-1])
            new[:, :, : self.length] = old[:, :, : self.length]
            setattr(self, name, new)

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        """Append the new entries and return views of all held entries."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self.capacity:
            self._grow(end)
        self._key_buffer[:, :, self.length : end] = key_states
        self._value_buffer[:, :, self.length : end] = value_states
        self.length = end
        self._refresh_views()
        return self.keys, self.values

    def drop_span(self, start: int, stop: int) -> None:
        """Remove slots `[start, stop)` in every row and head; later entries move down."""
        tail = self.length - stop
        for buffer in (self._key_buffer, self._value_buffer):
            buffer[:, :, start : start + tail] = buffer[:, :, stop : self.length].clone()
        self.length -= stop - start
        self._refresh_views()

    def drop_slots(self, slots: torch.LongTensor) -> None:
        """Remove `k` slots per row (`[B, k]`) or per row and head (`[B, H_kv, k]`), filling holes from the tail."""
        if slots.dim() == 2:
            slots = slots[:, None, :].expand(-1, self._key_buffer.shape[1], -1)
        sources, destinations = _compaction_moves(slots, self.length)
        for buffer in (self._key_buffer, self._value_buffer):
            source = sources[..., None].expand(-1, -1, -1, buffer.shape[-1])
            destination = destinations[..., None].expand_as(source)
            buffer.scatter_(2, destination, buffer.gather(2, source))
        self.length -= slots.shape[-1]
        self._refresh_views()

    def select_rows(self, rows: torch.LongTensor) -> None:
        """Keep only the given batch rows."""
        self._key_buffer = self._key_buffer[rows]
        self._value_buffer = self._value_buffer[rows]
        self._refresh_views()

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.length + query_length, 0

    def get_seq_length(self) -> int:
        return self.length

    def get_max_length(self) -> int:
        return -1

    def slot_bytes(self) -> int:
        """Bytes of one slot of one row (keys and values), from the buffers' shape and dtype."""
        if self._key_buffer is None:
            return 0
        return sum(buffer.shape[1] * buffer.shape[3] * buffer.element_size() for buffer in (self._key_buffer, self._value_buffer))

    def held_bytes(self) -> int:
        """Bytes of the entries held (keys and values of the filled slots, all rows)."""
        return 0 if self.keys is None else self.keys.nbytes + self.values.nbytes

    def allocated_bytes(self) -> int:
        """Bytes of the preallocated buffers."""
        return 0 if self._key_buffer is None else self._key_buffer.nbytes + self._value_buffer.nbytes


class SlotCache(Cache):
    """A transformers `Cache` of `SlotLayer`s that all hold the same number of entries.

    Passed to a Hugging Face model as `cache=`; the generation loop and the cache policies evict from it.
    """

    def __init__(self, num_layers: int, capacity: int):
        super().__init__(layers=[SlotLayer(capacity) for _ in range(num_layers)])

    @property
    def length(self) -> int:
        """Entries held per row (padding slots included)."""
        return self.layers[0].length

    def drop_span(self, start: int, stop: int) -> None:
        """Remove slots `[start, stop)` from every layer."""
        for layer in self.layers:
            layer.drop_span(start, stop)

    def drop_slots(self, slots: torch.LongTensor | list[torch.LongTensor]) -> None:
        """Remove slots from every layer: one `[B, k]`/`[B, H_kv, k]` tensor for all layers, or one per layer."""
        per_layer = slots if isinstance(slots, list) else [slots] * len(self.layers)
        for layer, layer_slots in zip(self.layers, per_layer):
            layer.drop_slots(layer_slots)

    def select_rows(self, rows: torch.LongTensor) -> None:
        """Keep only the given batch rows in every layer."""
        for layer in self.layers:
            layer.select_rows(rows)

    def slot_bytes(self) -> int:
        """Bytes one KV entry (one slot of one row, all layers, keys and values) occupies, read off the tensors."""
        return sum(layer.slot_bytes() for layer in self.layers)

    def held_bytes(self) -> int:
        """Bytes of all entries held, all rows and layers."""
        return sum(layer.held_bytes() for layer in self.layers)

    def allocated_bytes(self) -> int:
        """Bytes of all preallocated buffers."""
        return sum(layer.allocated_bytes() for layer in self.layers)
