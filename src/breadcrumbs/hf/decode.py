"""The beacon decoding loop that transformers' `model.generate` runs (see `breadcrumbs.hf`).

The loop is `breadcrumbs.generate`'s: one `DecodeSession` with a `BeaconPolicy` prefills the left-padded prompts,
feeds the beacon after every c generated tokens (holding the sampled token), evicts, and drops finished rows, so
the layout rule, the positions and the evicting `SlotCache` are the package's own. What this module adds is
transformers' side of each step: the beacon's logit masked, then the logits processors the generation config asks
for (temperature, top-k, top-p, repetition penalty, ...), greedy or multinomial choice from torch's global
generator as `model.generate` does, finished rows padded, the stopping criteria (`max_new_tokens`, `eos_token_id`,
the caller's own), the streamer, and transformers' return types.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessorList, PreTrainedModel, StoppingCriteriaList
from transformers.generation import GenerateDecoderOnlyOutput, StopStringCriteria
from transformers.generation.streamers import BaseStreamer

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.generation import DecodeSession, check_request
from breadcrumbs.models import check_attention_support
from breadcrumbs.policies.beacon import BeaconPolicy

# The model inputs transformers prepares for every decoder-only loop; the session builds its own positions and cache.
_PREPARED_INPUTS = frozenset({"attention_mask", "position_ids", "cache", "use_cache", "logits_to_keep"})


def beacon_policy(
    model: PreTrainedModel, beacon_ratio: int | None = None, beacon_lag: int | None = None, tokenizer: Any = None
) -> BeaconPolicy:
    """The `BeaconPolicy` a `model.generate` call asks for.

    The ratio defaults to the first ratio and the lag to the lag the checkpoint records (`model.config.breadcrumbs`,
    keys `ratios` and `lag`); the beacon's id is read from `tokenizer` (the `tokenizer=` argument of `generate`),
    else from the metadata's `beacon_token_id`.
    """
    metadata = getattr(model.config, "breadcrumbs", None) or {}
    if beacon_ratio is None:
        if metadata.get("layout", "beacon") != "beacon":
            raise BreadcrumbsError(
                f"this checkpoint was trained with layout {metadata['layout']!r}, not beacons, so it records no beacon "
                "ratio; serve it with breadcrumbs.generate and its own policy, or pass beacon_ratio=C"
            )
        if not metadata.get("ratios"):
            raise BreadcrumbsError(
                "this model records no beacon ratio (model.config.breadcrumbs has no 'ratios'); pass beacon_ratio=C "
                "to model.generate, the ratio it was trained for"
            )
        beacon_ratio = metadata["ratios"][0]
    policy = BeaconPolicy(beacon_ratio, metadata.get("lag", 0) if beacon_lag is None else beacon_lag)
    if tokenizer is not None:
        policy.check(model, tokenizer)
    elif metadata.get("beacon_token_id") is not None:
        policy.beacon_id = int(metadata["beacon_token_id"])
    else:
        raise BreadcrumbsError(
            "model.generate with beacons needs the id of the <beacon> token and this model does not record it "
            "(model.config.breadcrumbs has no 'beacon_token_id'); pass tokenizer=tokenizer, the model's own"
        )
    return policy


def _check_call(
    model: PreTrainedModel, generation_config: GenerationConfig, synced_gpus: bool, model_kwargs: dict
) -> None:
    """Refuse what the beacon loop does not serve (one clear error each)."""
    check_attention_support(model)
    refused = {
        "num_beams > 1 (beam search)": generation_config.num_beams > 1,
        "output_attentions": generation_config.output_attentions,
        "output_hidden_states": generation_config.output_hidden_states,
        "synced_gpus": synced_gpus,
    }
    for name, asked in refused.items():
        if asked:
            raise BreadcrumbsError(f"model.generate with beacons does not support {name}; drop that setting")
    unknown = sorted(set(model_kwargs) - _PREPARED_INPUTS)
    if unknown:
        raise BreadcrumbsError(
            f"model.generate with beacons passes no extra inputs to the model, got {', '.join(unknown)}; drop them"
        )
    cache = model_kwargs.get("cache")
    if cache is not None and cache.get_seq_length() > 0:
        raise BreadcrumbsError(
            "model.generate with beacons starts from an empty cache; drop past_key_values/cache (it builds its own)"
        )


def _prompt_mask(input_ids: torch.LongTensor, attention_mask: torch.Tensor | None) -> torch.BoolTensor:
    """The prompts' key mask; a right-padded batch is refused (the session expects left padding)."""
    if attention_mask is None:
        return torch.ones_like(input_ids, dtype=torch.bool)
    mask = attention_mask.bool()
    if bool((mask[:, :-1] & ~mask[:, 1:]).any()):
        raise BreadcrumbsError(
            "model.generate with beacons needs left-padded prompts; set tokenizer.padding_side = 'left' and "
            "tokenize again"
        )
    return mask


def decode_with_beacons(
    model: PreTrainedModel,
    input_ids: torch.LongTensor,
    logits_processor: LogitsProcessorList,
    stopping_criteria: StoppingCriteriaList,
    generation_config: GenerationConfig,
    synced_gpus: bool = False,
    streamer: BaseStreamer | None = None,
    *,
    policy: BeaconPolicy,
    **model_kwargs,
) -> GenerateDecoderOnlyOutput | torch.LongTensor:
    """A decoding loop for `model.generate(custom_generate=<callable>)`: prompts + generated ids, `[B, P + n]`
    (a `GenerateDecoderOnlyOutput` with scores/logits when `return_dict_in_generate`). `policy` has its beacon id."""
    _check_call(model, generation_config, bool(synced_gpus), model_kwargs)
    prompt_mask = _prompt_mask(input_ids, model_kwargs.get("attention_mask"))
    max_new_tokens = generation_config.max_length - input_ids.shape[1]
    check_request(model, prompt_mask.sum(dim=1).tolist(), max_new_tokens, policy)
    session = DecodeSession(model, policy, input_ids, prompt_mask, max_new_tokens)
    batch, device = input_ids.shape[0], input_ids.device
    pad_finished = any(hasattr(criteria, "eos_token_id") for criteria in stopping_criteria)
    pad = generation_config._pad_token_tensor
    unfinished = torch.ones(batch, dtype=torch.bool, device=device)
    keep_scores = generation_config.return_dict_in_generate and generation_config.output_scores
    keep_logits = generation_config.return_dict_in_generate and generation_config.output_logits
    scores_seen, logits_seen = [], []
    if streamer is not None:
        streamer.put(input_ids.cpu())
    logits = session.prefill()
    rows = session.rows.to(device)
    while True:
        if session.batch_size < batch:  # finished rows have left the session; they are padded below
            scores = logits.new_zeros(batch, logits.shape[-1]).index_copy_(0, rows, logits.to(device))
        else:
            scores = logits.to(device, copy=True)
        if keep_logits:
            logits_seen.append(scores.clone())
        scores[:, policy.beacon_id] = float("-inf")  # never emitted: only the cache places the beacon
        scores = logits_processor(input_ids, scores)
        if keep_scores:
            scores_seen.append(scores)
        if generation_config.do_sample:
            tokens = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)
        else:
            tokens = scores.argmax(dim=-1)
        if pad_finished:
            tokens = torch.where(unfinished, tokens, pad)
        input_ids = torch.cat([input_ids, tokens[:, None]], dim=-1)
        if streamer is not None:
            streamer.put(tokens.cpu())
        unfinished &= ~stopping_criteria(input_ids, scores)
        active = int(unfinished.sum())  # the step's one wait for the device
        if active == 0:
            break
        if active < session.batch_size:
            session.keep_rows(unfinished[rows])
            rows = session.rows.to(device)
        logits = session.feed(tokens if active == batch else tokens[rows])
    if streamer is not None:
        streamer.end()
    if generation_config.return_dict_in_generate:
        return GenerateDecoderOnlyOutput(
            sequences=input_ids,
            scores=tuple(scores_seen) if keep_scores else None,
            logits=tuple(logits_seen) if keep_logits else None,
        )
    return input_ids


def generate(
    model: PreTrainedModel,
    *args,
    beacon_ratio: int | None = None,
    beacon_lag: int | None = None,
    streamer: BaseStreamer | None = None,
    stopping_criteria: StoppingCriteriaList | None = None,
    stop_strings: str | list[str] | None = None,
    **kwargs,
) -> GenerateDecoderOnlyOutput | torch.LongTensor:
    """The custom generation method of `CUSTOM_GENERATE`: transformers hands it every argument of `model.generate`.

    It resolves the `BeaconPolicy` (`beacon_ratio`, `beacon_lag`, defaults from the checkpoint), turns
    `stop_strings` into a stopping criterion (transformers drops the tokenizer a callable loop would need), and calls
    `model.generate` again with `decode_with_beacons` as the callable decoding loop, the streamer bound to it.
    Called directly (`breadcrumbs.hf.generate(model, **inputs, ...)`) it needs no `trust_remote_code`.
    """
    if kwargs.get("assistant_model") is not None:
        raise BreadcrumbsError("model.generate with beacons does not support assistant_model; drop it")
    tokenizer = kwargs.get("tokenizer")
    policy = beacon_policy(model, beacon_ratio, beacon_lag, tokenizer)
    if stop_strings is not None:
        if tokenizer is None:
            raise BreadcrumbsError("stop_strings needs the tokenizer; pass tokenizer=tokenizer to model.generate")
        stop = StopStringCriteria(tokenizer, stop_strings)
        stopping_criteria = StoppingCriteriaList([*(stopping_criteria or []), stop])
    # a callable loop is handed neither the streamer nor synced_gpus by transformers: bind them
    decode = functools.partial(
        decode_with_beacons, policy=policy, streamer=streamer, synced_gpus=bool(kwargs.pop("synced_gpus", None))
    )
    return model.generate(*args, stopping_criteria=stopping_criteria, custom_generate=decode, **kwargs)
