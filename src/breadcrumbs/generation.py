"""One batched generation loop over any cache policy, with KV accounting read off the cache tensors.

`DecodeSession` owns the cache and feeds tokens; `generate` drives it with a sampler. The same loop serves RL
rollouts, evaluation and `breadcrumbs generate`.

KV accounting. After every forward pass (prefill, each generated token, each beacon) the entries each row holds are
read from the cache: the filled slots of its buffers minus that row's left-padding slots. A row's peak is the
largest such reading and its mean the average over the forwards it took part in; bytes are entries times the
bytes of one entry as stored (all layers, keys and values, in the cache's dtype). All active rows hold the same
number of slots, so each forward records one Python int and the per-row figures are settled only when rows leave
or the figures are read: no tensor work and no device sync per step.

Static decoding (`static=True`). The cache is preallocated at the policy's `capacity` (for beacons
`P + ceil(n/c) + (L+1)c`, known before decoding starts) and every forward attends over all of its slots, the
unoccupied ones masked by one key-mask buffer updated in place; evictions overwrite slots in place (`SlotCache`),
so a decode step has the same shapes every time (uncompiled, a step attends only over the slots up to a multiple
of `STATIC_BUCKET`, by default exactly the held ones, with no mask where no visible slot needs hiding: the same
outputs, shapes that change like the dynamic path's). `compile=True` (static only) runs
the one-token steps through `torch.compile(mode="reduce-overhead")`, which captures them as CUDA graphs on a GPU. Outputs equal the dynamic
path's to float tolerance (tests/test_static_decode.py). Accounting still counts occupied slots (`cache.length`);
the preallocated buffer is `peak_allocated_kv_bytes`. A row leaving the batch changes the batch shape, so a
compiled session captures a new graph then (rows leave at EOS only).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from breadcrumbs.chat import encode_prompt
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.models import BEACON_TOKEN, check_attention_support, context_length
from breadcrumbs.policies.attention import QueryRecorder
from breadcrumbs.policies.base import CachePolicy, FullCache
from breadcrumbs.policies.cache import SlotCache
from breadcrumbs.validation import check_memory, check_sampling


# Uncompiled static decoding attends over the slots up to a multiple of this, not the whole preallocated buffer (a
# compiled step keeps the one full-capacity shape: one captured graph). 1: exactly the held slots, so an unpadded
# batch needs no key mask (a masked attention is slower on a CPU: docs/performance.md section 5), and an uncompiled
# step gains nothing from a fixed shape.
STATIC_BUCKET = 1


@dataclass
class SequenceStats:
    """What one sequence cost: tokens, KV entries and bytes measured from the cache, and why it stopped."""

    prompt_tokens: int
    generated_tokens: int
    peak_kv_entries: int
    mean_kv_entries: float
    peak_kv_bytes: int
    mean_kv_bytes: float
    stop_reason: str  # "eos" or "length"
    peak_state_bytes: int = 0  # the policy's side state per row (scores, recorded queries, ...), at its largest
    mean_state_bytes: float = 0.0  # ... and averaged over the forwards (the prefill holds none)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GenerationOutput:
    """Texts and completion token ids (EOS included when sampled) per prompt, their stats, and batch timings."""

    texts: list[str]
    completion_ids: list[list[int]]
    stats: list[SequenceStats]
    wall_time_s: float
    peak_allocated_kv_bytes: int

    @property
    def tokens_per_s(self) -> float:
        """Generated tokens per second over the whole call."""
        return sum(s.generated_tokens for s in self.stats) / max(self.wall_time_s, 1e-9)


class DecodeSession:
    """Incremental decoding of a left-padded batch into a `SlotCache`, with a policy managing the entries.

    All active rows have fed the same number of generated tokens (`tokens_fed`), so a policy acting on a schedule
    (beacons) acts on every row at once; finished rows leave the batch through `keep_rows`.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        policy: CachePolicy,
        prompt_ids: torch.LongTensor,
        prompt_mask: torch.BoolTensor,
        max_new_tokens: int,
        static: bool = False,
        compile: bool = False,
    ):
        if compile and not static:
            raise BreadcrumbsError("compile=True needs static=True (only fixed shapes can be captured)")
        if compile and getattr(policy, "needs_queries", False):
            raise BreadcrumbsError(
                f"{policy.label} records attention queries at every step, which torch.compile cannot capture; "
                "run it with compile=False"
            )
        self.model = model
        self.policy = policy
        self.static = static
        self._step = torch.compile(model, mode="reduce-overhead", dynamic=False) if compile else model
        self.compiled = compile
        self.prompt_mask = prompt_mask.to(model.device, torch.bool)
        self.prompt_ids = prompt_ids.to(model.device)
        batch, prompt_width = prompt_ids.shape
        self.cache = SlotCache(
            model.config.num_hidden_layers, policy.capacity(prompt_width, max_new_tokens), static=static,
            bucket=0 if compile else STATIC_BUCKET,
        )
        self.rows = torch.arange(batch, device=model.device)  # original index of each active row
        self.padding = (~self.prompt_mask).sum(dim=1)  # padding slots of each active row
        self.next_position = self.prompt_mask.sum(dim=1)
        self.tokens_fed = 0
        self.last_output = None
        self.last_queries = None  # per-layer newest queries, recorded only for policies with `needs_queries`
        self.padded = not bool(self.prompt_mask.all())
        self._key_masks: dict[str, torch.Tensor] = {}  # preallocated key masks for padded batches, see below
        self._visible_end = 0  # static mode: the key masks show slots up to here
        self._peak_entries = torch.zeros(batch, dtype=torch.long)
        self._entry_sum = torch.zeros(batch, dtype=torch.float64)
        self._forwards = torch.zeros(batch, dtype=torch.long)
        self._peak_allocated_bytes = 0
        self._pending_lengths: list[int] = []  # cache length after each forward not yet settled into the above
        self._peak_state = torch.zeros(batch, dtype=torch.long)  # policy side-state bytes per row (state_bytes)
        self._state_sum = torch.zeros(batch, dtype=torch.float64)
        self._pending_state: list[int] = []  # per-row side-state bytes after each fed token, not yet settled
        policy.reset(self)

    @property
    def batch_size(self) -> int:
        return int(self.rows.numel())

    def _attention_mask(self, query_length: int) -> torch.Tensor | None:
        """The key mask of a padded batch: the prompt's padding mask followed by ones (no policy evicts the prompt).

        It is a view of a buffer built once per batch composition, not a new tensor per step. A single-token step
        gets it as the 4D mask the model would build from it (`[B, 1, 1, L]`: bool for sdpa, additive for eager),
        which skips the model's per-step mask construction; prefill and flex attention get the 2D key mask.
        """
        if self.static:
            return self._static_attention_mask(query_length)
        if not self.padded:
            return None  # no padding: the implementation's own causal path is exact and fastest
        width = self.cache.length + query_length
        implementation = getattr(self.model.config, "_attn_implementation", None)
        kind = implementation if query_length == 1 and implementation in ("sdpa", "eager") else "2d"
        if "2d" not in self._key_masks or self._key_masks["2d"].shape[1] < width:
            keys = torch.ones(
                self.batch_size, max(width, self.cache.layers[0].capacity), dtype=torch.bool, device=self.model.device
            )
            keys[:, : self.prompt_mask.shape[1]] = self.prompt_mask
            self._key_masks = {"2d": keys}
        if kind not in self._key_masks:
            keys = self._key_masks["2d"][:, None, None, :]
            if kind == "eager":
                dtype = self.model.dtype
                additive = torch.zeros(keys.shape, dtype=dtype, device=keys.device)
                keys = additive.masked_fill_(~keys, torch.finfo(dtype).min)
            self._key_masks[kind] = keys
        return self._key_masks[kind][..., :width]

    def _static_attention_mask(self, query_length: int) -> torch.Tensor:
        """Static mode: the key mask over all `capacity` slots (a row's prompt without its padding, then the slots
        held or written by this forward), one buffer per batch composition updated in place at the slots that
        changed. A single-token step gets it as the model's 4D mask (bool for sdpa, additive for eager), prefill
        and flex attention the 2D mask."""
        end = self.cache.length + query_length
        if not (self.padded or self.compiled) and self.cache.visible == end:
            return None  # every visible slot is held: no mask (as the dynamic path), the buffers catch up later
        implementation = getattr(self.model.config, "_attn_implementation", None)
        kind = implementation if query_length == 1 and implementation in ("sdpa", "eager") else "2d"
        if not self._key_masks:
            keys = torch.zeros(self.batch_size, self.cache.capacity, dtype=torch.bool, device=self.model.device)
            keys[:, : self.prompt_mask.shape[1]] = self.prompt_mask
            keys[:, self.prompt_mask.shape[1] : end] = True
            additive = torch.zeros(keys.shape, dtype=self.model.dtype, device=keys.device)
            additive.masked_fill_(~keys, torch.finfo(self.model.dtype).min)
            self._key_masks = {"2d": keys, "sdpa": keys[:, None, None, :], "eager": additive[:, None, None, :]}
            if self.compiled:
                for mask in self._key_masks.values():
                    torch._dynamo.mark_static_address(mask)
        elif end != self._visible_end:
            low, high = sorted((end, self._visible_end))
            shown = end > self._visible_end
            self._key_masks["2d"][:, low:high] = shown
            self._key_masks["eager"][..., low:high] = 0.0 if shown else torch.finfo(self.model.dtype).min
        self._visible_end = end
        return self._key_masks[kind][..., : self.cache.visible]

    def _forward(self, input_ids: torch.LongTensor, position_ids: torch.LongTensor, logits_to_keep: int):
        if self.static:
            self.cache.reserve(input_ids.shape[1], self.model.device)  # first: it sets the slots the mask covers
        mask = self._attention_mask(input_ids.shape[1])
        recorder = QueryRecorder(self.model) if getattr(self.policy, "needs_queries", False) else nullcontext()
        step = self._step if input_ids.shape[1] == 1 else self.model
        if self.compiled:
            torch.compiler.cudagraph_mark_step_begin()  # the previous step's outputs are no longer read
        with torch.no_grad(), recorder as queries:
            output = step(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=position_ids,
                cache=self.cache,
                use_cache=True,
                logits_to_keep=logits_to_keep,
            )
        if self.static:
            self.cache.commit(input_ids.shape[1])
        self.last_output = output
        self.last_queries = queries
        self._account()
        logits = output.logits[:, -1].float()
        return logits.clone() if self.compiled else logits  # a captured graph overwrites its outputs next step

    def _account(self) -> None:
        self._pending_lengths.append(self.cache.length)

    def _settle(self) -> None:
        """Fold the recorded cache lengths into the per-row figures of the active rows (entries = length - padding).

        Buffers only grow inside a forward and only shrink in `keep_rows`, which settles first, so reading the
        allocated bytes here sees their peak."""
        if not self._pending_lengths:
            return
        lengths = torch.tensor(self._pending_lengths, dtype=torch.long)
        rows, padding = self.rows.cpu(), self.padding.cpu()
        self._peak_entries[rows] = torch.maximum(self._peak_entries[rows], lengths.max() - padding)
        self._entry_sum[rows] += (lengths.sum() - lengths.numel() * padding).double()
        self._forwards[rows] += lengths.numel()
        if self._pending_state:
            state = torch.tensor(self._pending_state, dtype=torch.long)
            self._peak_state[rows] = torch.maximum(self._peak_state[rows], state.max())
            self._state_sum[rows] += float(state.sum())
            self._pending_state = []
        self._peak_allocated_bytes = max(self._peak_allocated_bytes, self.cache.allocated_bytes())
        self._pending_lengths = []

    @property
    def peak_entries(self) -> torch.LongTensor:
        """Per original row: the most entries it held after any forward (padding excluded)."""
        self._settle()
        return self._peak_entries

    @property
    def entry_sum(self) -> torch.Tensor:
        """Per original row: entries held summed over the forwards it took part in (float64)."""
        self._settle()
        return self._entry_sum

    @property
    def forwards(self) -> torch.LongTensor:
        """Per original row: the forwards it took part in."""
        self._settle()
        return self._forwards

    @property
    def peak_allocated_bytes(self) -> int:
        """Largest size of the preallocated cache buffers (all rows) seen so far."""
        self._settle()
        return self._peak_allocated_bytes

    def prefill(self) -> torch.Tensor:
        """Feed the prompts; returns the logits for the first generated token, `[B, V]`."""
        positions = (self.prompt_mask.long().cumsum(dim=1) - 1).clamp(min=0)
        return self._forward(self.prompt_ids, positions, logits_to_keep=1)

    def forward_uniform(self, token_id: int) -> torch.Tensor:
        """Feed the same token (e.g. the beacon) to every active row; it takes the next position, is not counted
        as generated, and its logits are returned for inspection only."""
        tokens = torch.full((self.batch_size, 1), token_id, dtype=torch.long, device=self.model.device)
        logits = self._forward(tokens, self.next_position[:, None], logits_to_keep=1)
        self.next_position = self.next_position + 1
        return logits

    def feed(self, tokens: torch.LongTensor) -> torch.Tensor:
        """Feed one generated token per active row (`[B]`), letting the policy act around it; returns `[B, V]`."""
        self.policy.before_token(self)
        logits = self._forward(tokens[:, None].to(self.model.device), self.next_position[:, None], logits_to_keep=1)
        self.next_position = self.next_position + 1
        self.tokens_fed += 1
        self.policy.after_token(self)
        self._pending_state.append(self.policy.state_bytes() // self.batch_size)
        return logits

    def keep_rows(self, keep: torch.BoolTensor) -> None:
        """Drop finished rows (`keep` is a mask over the active rows) from the batch and the cache."""
        if bool(keep.all()):
            return
        index = keep.nonzero().squeeze(1).to(self.model.device)
        self._settle()
        self.cache.select_rows(index)
        self.policy.select_rows(index)
        self.rows = self.rows[index]
        self.padding = self.padding[index]
        self.next_position = self.next_position[index]
        self.prompt_mask = self.prompt_mask[index]
        self.padded = not bool(self.prompt_mask.all())
        self._key_masks = {}

    def row_stats(self, slot_bytes: int) -> list[tuple[int, float, int, float, int, float]]:
        """Per original row: peak entries, mean entries, peak bytes, mean bytes, peak and mean side-state bytes."""
        forwards = self.forwards.clamp(min=1)
        means = self.entry_sum / forwards
        state_means = self._state_sum / forwards
        return [
            (int(peak), float(mean), int(peak) * slot_bytes, float(mean) * slot_bytes, int(state), float(state_mean))
            for peak, mean, state, state_mean in zip(self.peak_entries, means, self._peak_state, state_means)
        ]


def sample_next(
    logits: torch.Tensor,
    temperature: float,
    top_p: float,
    generator: torch.Generator | None,
    banned_ids: Sequence[int] = (),
) -> torch.LongTensor:
    """Greedy (temperature 0) or temperature + nucleus (top-p) sampling of one token per row; banned ids (the
    beacon, padding) are never chosen."""
    logits = logits.clone()
    if banned_ids:
        logits[:, list(banned_ids)] = float("-inf")
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        outside = sorted_probs.cumsum(dim=-1) - sorted_probs >= top_p
        sorted_probs = sorted_probs.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def _tokenize(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str] | Sequence[Sequence[int]]
) -> list[list[int]]:
    """Token ids of every prompt; a prompt holding the beacon token (only the cache may place it) is refused."""
    if all(isinstance(prompt, str) for prompt in prompts):
        rows = [_encode(tokenizer, prompt, index) for index, prompt in enumerate(prompts)]
    else:
        rows = [list(prompt) for prompt in prompts]
    beacon = tokenizer.get_vocab().get(BEACON_TOKEN)
    for index, row in enumerate(rows):
        if beacon is not None and beacon in row:
            raise BreadcrumbsError(
                f"prompt {index + 1} contains the reserved token {BEACON_TOKEN} (id {beacon}), which only the "
                f"compressing cache may place; remove it from the prompt"
            )
    return rows


def _encode(tokenizer: PreTrainedTokenizerBase, prompt: str, index: int) -> list[int]:
    """Token ids of one prompt; text the tokenizer cannot encode is one error naming the characters."""
    try:
        return encode_prompt(tokenizer, prompt)
    except Exception as err:  # `tokenizers` raises a bare Exception for text outside a vocabulary without <unk>
        bad = []
        for char in dict.fromkeys(prompt):
            try:
                tokenizer(char)
            except Exception:
                bad.append(f"{char!r} (U+{ord(char):04X})")
        if not bad:
            raise BreadcrumbsError(f"prompt {index + 1} cannot be tokenized: {err}") from None
        raise BreadcrumbsError(
            f"prompt {index + 1} has characters this tokenizer cannot encode: {', '.join(bad[:10])}; remove or "
            "replace them (the built-in character tokenizer covers printable ASCII and newline)"
        ) from None


def _left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.LongTensor, torch.BoolTensor]:
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for index, row in enumerate(rows):
        ids[index, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[index, width - len(row) :] = True
    return ids, mask


def eos_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Every id that ends a sequence: the tokenizer's EOS and the model's generation-config EOS ids."""
    candidates = [tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)]
    flat: set[int] = set()
    for value in candidates:
        flat.update(value if isinstance(value, list) else [] if value is None else [value])
    return sorted(flat)


def banned_token_ids(tokenizer: PreTrainedTokenizerBase, eos_ids: Sequence[int]) -> list[int]:
    """Ids never sampled: every special token (the beacon, padding, BOS, ...) except the EOS ids."""
    special = set(tokenizer.all_special_ids)
    beacon = tokenizer.get_vocab().get(BEACON_TOKEN)
    if beacon is not None:
        special.add(beacon)
    return sorted(special - set(eos_ids))


def kv_cache_bytes(model: PreTrainedModel, rows: int, capacity: int) -> int:
    """Bytes of keys and values for `rows` sequences of `capacity` entries in every layer."""
    config = model.config
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    element = torch.finfo(model.dtype).bits // 8
    return 2 * config.num_hidden_layers * rows * heads * capacity * head_dim * element


def check_request(
    model: PreTrainedModel, prompt_lengths: Sequence[int], max_new_tokens: int, policy: CachePolicy
) -> None:
    """Refuse a request that the model cannot address (one clear error)."""
    if max_new_tokens < 1:
        raise BreadcrumbsError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if not prompt_lengths or min(prompt_lengths) < 1:
        raise BreadcrumbsError("every prompt must have at least one token")
    limit = context_length(model)
    needed = max(prompt_lengths) + policy.positions_used(max_new_tokens)
    if needed > limit:
        raise BreadcrumbsError(
            f"prompt of {max(prompt_lengths)} tokens + {max_new_tokens} new tokens ({policy.label}) needs {needed} "
            f"positions but the model's context is {limit}; shorten the prompt or lower max_new_tokens"
        )


def _generate_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt_rows: list[list[int]],
    policy: CachePolicy,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    generator: torch.Generator | None,
    progress=None,
    static: bool = False,
    compile: bool = False,
) -> tuple[list[list[int]], list[SequenceStats], int]:
    pad_id = tokenizer.pad_token_id
    prompt_ids, prompt_mask = _left_pad(prompt_rows, pad_id)
    session = DecodeSession(model, policy, prompt_ids, prompt_mask, max_new_tokens, static, compile)
    eos_ids = eos_token_ids(model, tokenizer)
    eos = torch.tensor(eos_ids, device=model.device)
    banned = banned_token_ids(tokenizer, eos_ids)
    completions: list[list[int]] = [[] for _ in prompt_rows]
    stop_reasons = ["length"] * len(prompt_rows)
    logits = session.prefill()
    while True:
        tokens = sample_next(logits, temperature, top_p, generator, banned)
        for row, token in zip(session.rows.tolist(), tokens.tolist()):
            completions[row].append(token)
        finished = torch.isin(tokens, eos)
        for row in session.rows[finished].tolist():
            stop_reasons[row] = "eos"
        if progress is not None:
            progress.update(session.batch_size)
        if len(completions[session.rows[0].item()]) >= max_new_tokens:
            break
        if bool(finished.all()):
            break
        session.keep_rows(~finished)
        logits = session.feed(tokens[~finished])
    slot_bytes = session.cache.slot_bytes()
    stats = [
        SequenceStats(len(prompt), len(completion), peak, mean, peak_bytes, mean_bytes, reason, state, state_mean)
        for prompt, completion, (peak, mean, peak_bytes, mean_bytes, state, state_mean), reason in zip(
            prompt_rows, completions, session.row_stats(slot_bytes), stop_reasons
        )
    ]
    return completions, stats, session.peak_allocated_bytes


def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str] | Sequence[Sequence[int]],
    policy: CachePolicy | None = None,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    batch_size: int | None = None,
    progress: bool = False,
    static: bool = False,
    compile: bool = False,
) -> GenerationOutput:
    """Generate a completion for every prompt (text or token ids) under a cache policy.

    Greedy when `temperature` is 0; otherwise temperature + top-p sampling from a generator seeded with `seed`.
    Stops a row at EOS or after `max_new_tokens`. Prompts are processed `batch_size` at a time (all at once by
    default). Returns texts (special tokens removed), completion ids, and per-sequence token and KV figures.
    `static=True` decodes with fixed shapes over the preallocated cache (same outputs), `compile=True` (with
    `static`) captures its decode step with torch.compile (CUDA graphs on a GPU); see the module docstring.
    """
    policy = policy or FullCache()
    check_attention_support(model)
    policy.check(model, tokenizer)
    prompt_rows = _tokenize(tokenizer, prompts)
    check_request(model, [len(row) for row in prompt_rows], max_new_tokens, policy)
    check_sampling(temperature, top_p)
    step = batch_size or len(prompt_rows)
    capacity = policy.capacity(max(len(row) for row in prompt_rows), max_new_tokens)
    check_memory(
        kv_cache_bytes(model, min(step, len(prompt_rows)), capacity), model.device,
        f"a KV cache of {capacity:,} entries x {min(step, len(prompt_rows))} rows ({policy.label})",
        "lower the batch size or max_new_tokens",
    )
    generator = torch.Generator(device=model.device).manual_seed(seed)
    completions, stats, peak_allocated = [], [], 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(prompt_rows) * max_new_tokens, unit="tok", desc=f"generate {policy.label}")
    started = time.perf_counter()
    for start in range(0, len(prompt_rows), step):
        ids, batch_stats, allocated = _generate_batch(
            model, tokenizer, prompt_rows[start : start + step], policy, max_new_tokens, temperature, top_p,
            generator, bar, static, compile,
        )
        completions += ids
        stats += batch_stats
        peak_allocated = max(peak_allocated, allocated)
    elapsed = time.perf_counter() - started
    if bar is not None:
        bar.close()
    texts = tokenizer.batch_decode(completions, skip_special_tokens=True)
    return GenerationOutput(texts, completions, stats, elapsed, peak_allocated)
