"""TriAttention (Mao et al., 2026, arXiv 2604.04921; reference code github.com/WeianMao/triattention, read, not
copied): score keys by a trigonometric series built from pre-RoPE query statistics.

The method rests on *Q/K concentration*: before RoPE, a head's queries cluster around a fixed non-zero centre that
stays put across positions. Write RoPE per frequency band f as the complex pair z_f = x_f + i·x_(f+D/2) rotated by
ω_f·position (D = head_dim, ω_f = inv_freq). The logit of a query at position t and a key at position p is then

    q·k = s² Σ_f |q_f| |k_f| cos((t − p)·ω_f + arg q_f − arg k_f)          (s: the RoPE attention scaling)

so with the query replaced by its centre q̄ (the mean pre-RoPE query) it is a *distance preference*: a
trigonometric series in t − p fixed by q̄ and the key. Each held key is scored by

    S(k) = mean_d s² Σ_f |q̄_f| |k_f| cos((t + d − p)·ω_f + arg q̄_f − arg k_f)
           + s² Σ_f (E|q_f| − |q̄_f|) |k_f|

with d over the geometric future distances 1, 2, 4, ..., `max_offset` (as in the reference) and t the position of
the next query: the series averaged over queries still to come, plus the norm signal weighted by how little the
queries concentrate (E|q_f| − |q̄_f| is 0 when every query equals its centre). As in the reference's default
("per-head" pruning), each query head's scores are z-normalised over the held generated keys, the query heads of a
KV group are combined by their max and the layers by their mean, and each KV head evicts its lowest-scoring entries,
the same entries in every layer.

**What it needs from the model.** Rotary position embeddings over the whole head (`head_dim / 2` frequencies,
rotate-half pairing: the Llama / Qwen / Mistral / Phi-3 / Gemma layout of transformers), read off the model's rotary
module at the start of each batch (and checked at `check`): `inv_freq` (rope_theta^(−2f/head_dim), any rope scaling
applied) and `attention_scaling` (s). A model without one, with partial rotary, or with several rotary modules of
different frequencies is refused with one error. **Pre-RoPE vectors**: each recorded query (`QueryRecorder`: after
any query norm and RoPE, fed at position τ) is inverse-rotated, q_f = q̃_f·e^(−iτω_f) / s. The cached keys need no
inverse rotation: a cached key is k̃_f = s·k_f·e^(ipω_f), so |k_f| = |k̃_f| / s and the series term equals s·Re(q̄_f
· conj(k̃_f) · e^(i(t+d)ω_f)); the key's own position cancels. `tests/test_policies_triattention.py` recomputes the
score the long way (each key inverse-rotated at its known position, the series summed term by term).

**Simplified, deliberately.**
- *Calibration.* The paper estimates q̄ and E|q| offline, once per model, from one forward pass over a plain-text
  corpus. Here they are running means over the queries the row has fed so far (one per decoding step, per layer and
  query head), so nothing is calibrated or shipped with a checkpoint. The paper's finding that the centres are
  stable across positions and domains is what makes an online estimate reasonable; early in a generation it rests
  on few queries (the first eviction comes after `budget` of them).
- *Eviction interval.* The reference prunes every 128 generated tokens back to the budget (the cache overshoots by
  up to 128); here eviction runs at every step, so the cache never exceeds its budget and matched budgets stay exact
  (as for R-KV). The prompt is never evicted. Ties go to the older entry (the reference adds tiny noise).
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.policies.base import SessionView
from breadcrumbs.policies.registry import MethodFamily, PlotStyle, register
from breadcrumbs.policies.scored import BudgetMatch, ScoredEvictionPolicy, budget_argument


def rope_of(model: PreTrainedModel) -> tuple[torch.Tensor, float]:
    """`(inv_freq [head_dim / 2], attention_scaling)` of a model whose rotary embedding covers the whole head."""
    rotaries = [module for module in model.modules() if isinstance(getattr(module, "inv_freq", None), torch.Tensor)]
    config = model.config
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    if not rotaries:
        raise BreadcrumbsError(f"triattention needs rotary position embeddings; {type(model).__name__} has none")
    inv_freq = rotaries[0].inv_freq.detach().double().cpu()
    if any(not torch.equal(module.inv_freq.detach().double().cpu(), inv_freq) for module in rotaries[1:]):
        raise BreadcrumbsError(
            f"triattention: {type(model).__name__} uses several rotary embeddings (per layer type); it needs one"
        )
    if 2 * inv_freq.numel() != head_dim:
        raise BreadcrumbsError(
            f"triattention needs RoPE over the whole head ({head_dim} dims); {type(model).__name__} rotates "
            f"{2 * inv_freq.numel()} (partial rotary is not supported)"
        )
    return inv_freq, float(getattr(rotaries[0], "attention_scaling", 1.0) or 1.0)


def complex_pairs(vectors: torch.Tensor) -> torch.Tensor:
    """`[..., D]` real (rotate-half layout) -> `[..., D / 2]` complex: z_f = x_f + i x_(f + D/2), in float32."""
    half = vectors.shape[-1] // 2
    return torch.complex(vectors[..., :half].float(), vectors[..., half:].float())


def future_offsets(max_offset: int) -> torch.Tensor:
    """The geometric future distances 1, 2, 4, ... up to `max_offset`."""
    return torch.tensor([2.0**e for e in range(max_offset.bit_length()) if 2**e <= max_offset], dtype=torch.float64)


class TriAttentionPolicy(ScoredEvictionPolicy):
    """Score = the pre-RoPE trigonometric series + norm term, z-normalised per query head, max over a KV group,
    mean over layers; evicted per KV head, the same in every layer (module docstring)."""

    name = "triattention"
    per_head = True
    needs_queries = True

    def __init__(self, budget: int | BudgetMatch | None, recent: int = 0, max_offset: int = 65536):
        if isinstance(max_offset, bool) or not isinstance(max_offset, int) or max_offset < 1:
            raise BreadcrumbsError(f"triattention: max_offset must be a whole number >= 1, got {max_offset!r}")
        super().__init__(budget, recent=recent)
        self.max_offset = max_offset

    def check(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        super().check(model, tokenizer)
        rope_of(model)

    def reset(self, session: SessionView) -> None:
        super().reset(session)
        self._inv_freq, self._scaling = rope_of(session.model)
        self._query_sum: list[torch.Tensor] = []  # per layer [B, H_q, D/2] complex: sum of pre-RoPE queries
        self._query_abs_sum: list[torch.Tensor] = []  # per layer [B, H_q, D/2]: sum of their moduli
        self._queries_seen = 0
        self._scores_at: int | None = None  # tokens_fed of the cached per-step scores

    def select_rows(self, rows: torch.LongTensor) -> None:
        super().select_rows(rows)
        self._query_sum = [state[rows.to(state.device)] for state in self._query_sum]
        self._query_abs_sum = [state[rows.to(state.device)] for state in self._query_abs_sum]

    def side_state(self) -> list[torch.Tensor]:
        return super().side_state() + self._query_sum + self._query_abs_sum

    def _rotation(self, positions: torch.Tensor, device: torch.device) -> torch.Tensor:
        """`[B, D/2]` complex e^(i·position·ω_f), the angle computed in float64."""
        angle = positions.to(device).double()[:, None] * self._inv_freq.to(device)[None, :]
        return torch.polar(torch.ones_like(angle), angle).to(device, torch.complex64)

    def observe(self, session: SessionView) -> None:
        record = session.last_queries
        layers = range(len(session.cache.layers))
        device = record.queries[0].device
        unrotate = self._rotation(session.next_position - 1, device).conj()[:, None] / self._scaling
        pre_rope = [complex_pairs(record.queries[layer]) * unrotate for layer in layers]  # [B, H_q, D/2]
        if not self._query_sum:
            self._query_sum = [torch.zeros_like(q) for q in pre_rope]
            self._query_abs_sum = [torch.zeros(q.shape, device=device) for q in pre_rope]
        self._query_sum = [total + q for total, q in zip(self._query_sum, pre_rope)]
        self._query_abs_sum = [total + q.abs() for total, q in zip(self._query_abs_sum, pre_rope)]
        self._queries_seen += 1

    def score(self, session: SessionView, layer: int) -> torch.Tensor:
        if self._scores_at != session.tokens_fed:
            self._scores = self._scores_all_layers(session)
            self._scores_at = session.tokens_fed
        return self._scores

    def _scores_all_layers(self, session: SessionView) -> torch.Tensor:
        """`[B, H_kv, n]`: every layer's z-normalised head scores, max over each KV group, mean over layers."""
        device = session.cache.layers[0].keys.device
        offsets = future_offsets(self.max_offset)
        # mean over d of e^(i(t + d)ω_f), times s: what turns the query centre into the averaged future query
        angle = offsets[:, None] * self._inv_freq[None, :]
        mean_future = torch.polar(torch.ones_like(angle), angle).mean(dim=0)
        future = self._rotation(session.next_position, device) * mean_future.to(device, torch.complex64)
        per_layer = []
        for layer in range(len(session.cache.layers)):
            keys = complex_pairs(self.generated_keys(session, layer))  # [B, H_kv, n, D/2], post-RoPE
            batch, kv_heads = keys.shape[:2]
            centre = self._query_sum[layer] / self._queries_seen  # [B, H_q, D/2], pre-RoPE
            spread = self._query_abs_sum[layer] / self._queries_seen - centre.abs()
            centre = centre.reshape(batch, kv_heads, -1, centre.shape[-1])
            spread = spread.reshape(batch, kv_heads, -1, spread.shape[-1])
            series = torch.einsum("bkgf,bknf->bkgn", centre * future[:, None, None] * self._scaling, keys.conj()).real
            norm = torch.einsum("bkgf,bknf->bkgn", spread, keys.abs()) * self._scaling
            scores = series + norm
            mean = scores.mean(dim=-1, keepdim=True)
            std = scores.std(dim=-1, unbiased=False, keepdim=True).clamp_min(1e-6)
            per_layer.append(((scores - mean) / std).amax(dim=2))
        return torch.stack(per_layer).mean(dim=0)


register(MethodFamily(
    "triattention", TriAttentionPolicy, budget_argument, "TriAttention", PlotStyle("#393b79", "p"),
    grid=lambda b: [{}] + [{"recent": r} for r in (1, 2, 4) if r < b] + [{"max_offset": 256}],
))
