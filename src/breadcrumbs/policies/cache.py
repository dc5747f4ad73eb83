"""An evicting KV cache: one preallocated slot buffer for all layers that entries can be physically removed from.

The keys and values of every layer live in one `[2, layers, B, H_kv, capacity, D]` tensor (each layer's buffers are
views of it) with a fill length shared by all layers and rows. Removing entries moves the surviving tail entries
into the holes and shortens the length, so eviction touches only the entries that move (one entry per beacon),
never the whole cache, and one gather + one scatter evicts from every layer at once. Attention is order-free over
keys (each key already carries its rotary position), so this compaction changes no result.

**Static mode** (`static=True`): the buffer holds exactly `capacity` slots (never regrown) and every forward sees
all of them, so each decode step has the same tensor shapes and can be captured in a CUDA graph. A forward writes
its entries at the slots `reserve` named (a device tensor updated in place, as transformers' `StaticLayer` does)
and returns the whole buffer (with a `bucket`, the slots up to `length` rounded up to a multiple of it); the caller
masks the slots beyond `length` and calls `commit` after the forward.
`length` and the `keys`/`values` views are the occupied slots in both modes, so accounting reads the same.
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
    """One layer of a `SlotCache`: `keys`/`values` are views of its filled slots in the shared buffer."""

    is_sliding = False

    def __init__(self, cache: SlotCache, index: int):
        super().__init__()
        self.cache = cache
        self.index = index
        self.length = 0
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None

    @property
    def capacity(self) -> int:
        return self.cache.capacity

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.cache.allocate(key_states, value_states)
        self.device = key_states.device
        self.is_initialized = True

    def _bind(self) -> None:
        """Point this layer's buffers at its part of the shared storage (after it is (re)allocated)."""
        self._key_buffer, self._value_buffer = self.cache.storage[0, self.index], self.cache.storage[1, self.index]
        self._refresh_views()

    def _refresh_views(self) -> None:
        self.keys = self._key_buffer[:, :, : self.length]
        self.values = self._value_buffer[:, :, : self.length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        """Write the new entries; return views of the held entries (static mode: the whole buffer)."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        if self.cache.static:
            slots = self.cache.write_slots
            self._key_buffer.index_copy_(2, slots, key_states)
            self._value_buffer.index_copy_(2, slots, value_states)
            visible = self.cache.visible
            return self._key_buffer[:, :, :visible], self._value_buffer[:, :, :visible]
        end = self.length + key_states.shape[-2]
        if end > self.capacity:
            self.cache.grow(end)
        self._key_buffer[:, :, self.length : end] = key_states
        self._value_buffer[:, :, self.length : end] = value_states
        self.length = end
        self._refresh_views()
        return self.keys, self.values

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return (self.cache.visible if self.cache.static else self.length + query_length), 0

    def get_seq_length(self) -> int:
        return self.length

    def get_max_length(self) -> int:
        return self.capacity if self.cache.static else -1

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
    """A transformers `Cache` of `SlotLayer`s that all hold the same number of entries (module docstring).

    Passed to a Hugging Face model as `cache=`; the generation loop and the cache policies evict from it.
    """

    def __init__(self, num_layers: int, capacity: int, static: bool = False, bucket: int = 0):
        super().__init__(layers=[SlotLayer(self, index) for index in range(num_layers)])
        self.capacity = capacity
        self.static = static
        self.bucket = bucket  # static mode: a forward sees the slots up to a multiple of this (0: all of them)
        self.visible = capacity  # static mode: the slots the next forward attends over
        self.storage: torch.Tensor | None = None  # [2, layers, B, H_kv, capacity, D]: keys, values
        self.write_slots: torch.LongTensor | None = None  # static mode: the slots the next forward writes

    @property
    def is_compileable(self) -> bool:
        return self.static

    def allocate(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        """Allocate the shared storage from the first layer's new entries (zeros: masked slots stay finite)."""
        if self.storage is not None:
            return
        if key_states.shape[-1] != value_states.shape[-1]:
            raise ValueError("SlotCache needs keys and values of the same head size")
        batch, heads, _, dim = key_states.shape
        self.storage = key_states.new_zeros(2, len(self.layers), batch, heads, self.capacity, dim)
        self._mark_static(self.storage)
        for layer in self.layers:
            layer._bind()

    def _mark_static(self, tensor: torch.Tensor) -> None:
        """Static mode: tell torch.compile the tensor keeps its address (CUDA graphs then read it in place)."""
        if self.static:
            torch._dynamo.mark_static_address(tensor)

    def grow(self, needed: int) -> None:
        """Fallback of the dynamic mode when a caller underestimated capacity: reallocate (amortised by doubling)."""
        if self.static:
            raise RuntimeError(f"static SlotCache of {self.capacity} slots cannot hold {needed} entries")
        old = self.storage
        self.capacity = max(needed, 2 * self.capacity)
        self.storage = old.new_zeros(*old.shape[:4], self.capacity, old.shape[-1])
        self.storage[..., : old.shape[4], :] = old
        for layer in self.layers:
            layer._bind()

    @property
    def length(self) -> int:
        """Entries held per row (padding slots included)."""
        return self.layers[0].length

    @property
    def keys(self) -> torch.Tensor:
        """Keys of the held entries of every layer, `[layers, B, H_kv, length, D]`."""
        return self.storage[0, :, :, :, : self.length]

    def reserve(self, count: int, device: torch.device) -> None:
        """Static mode, before a forward of `count` tokens: it writes slots `length .. length + count - 1`.

        A one-token step reuses one device tensor filled in place (a fixed address for CUDA graphs). With a `bucket`,
        the forward attends over the slots up to `length + count` rounded up to a multiple of it, not the whole
        capacity: a bounded number of shapes, and on a CPU no attention over the unoccupied end of the buffer."""
        if self.bucket:
            self.visible = min(self.capacity, -(-(self.length + count) // self.bucket) * self.bucket)
        if count == 1 and self.write_slots is not None and self.write_slots.numel() == 1:
            self.write_slots.fill_(self.length)
            return
        self.write_slots = torch.arange(self.length, self.length + count, device=device)
        if count == 1:
            self._mark_static(self.write_slots)

    def commit(self, count: int) -> None:
        """Static mode, after a forward: its `count` entries are held."""
        if self.length + count > self.capacity:
            raise RuntimeError(f"static SlotCache of {self.capacity} slots cannot hold {self.length + count} entries")
        self._set_length(self.length + count)

    def _set_length(self, length: int) -> None:
        for layer in self.layers:
            layer.length = length
            layer._refresh_views()

    def drop_span(self, start: int, stop: int) -> None:
        """Remove slots `[start, stop)` from every layer and row; later entries move down."""
        tail = self.length - stop
        self.storage[..., start : start + tail, :] = self.storage[..., stop : self.length, :].clone()
        self._set_length(self.length - (stop - start))

    def drop_slots(self, slots: torch.LongTensor) -> None:
        """Remove `k` slots per row: `[B, k]` or `[B, H_kv, k]` in every layer, or `[layers, B, H_kv, k]` per layer;
        holes are filled from the tail with one gather and one scatter over all layers."""
        _, layers, batch, heads, _, dim = self.storage.shape
        if slots.dim() == 2:
            slots = slots[:, None, :]
        slots = slots.expand(layers, batch, heads, slots.shape[-1])
        sources, destinations = _compaction_moves(slots, self.length)
        source = sources[None, ..., None].expand(2, -1, -1, -1, -1, dim)
        self.storage.scatter_(4, destinations[None, ..., None].expand_as(source), self.storage.gather(4, source))
        self._set_length(self.length - slots.shape[-1])

    def select_rows(self, rows: torch.LongTensor) -> None:
        """Keep only the given batch rows in every layer."""
        self.storage = self.storage[:, :, rows]
        self._mark_static(self.storage)
        for layer in self.layers:
            layer._bind()

    def slot_bytes(self) -> int:
        """Bytes one KV entry (one slot of one row, all layers, keys and values) occupies, read off the tensors."""
        return sum(layer.slot_bytes() for layer in self.layers)

    def held_bytes(self) -> int:
        """Bytes of all entries held, all rows and layers."""
        return sum(layer.held_bytes() for layer in self.layers)

    def allocated_bytes(self) -> int:
        """Bytes of all preallocated buffers."""
        return 0 if self.storage is None else self.storage.nbytes
