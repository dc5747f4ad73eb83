"""Greedy decoding under NVIDIA kvpress presses; runs inside kvpress's own virtual environment (its pinned
transformers), never imports breadcrumbs. Called by `kvpress_crosscheck.py`:

    ../kvpress-venv/bin/python benchmarks/kvpress_worker.py JOB.json OUT.json

JOB: {"model": dir, "max_new_tokens": n, "suppress": [ids never sampled], "runs": [{"press": "tova"|"streaming"|
"knorm", "temporal": bool, "budget": B, "prompt": [ids], "key": str}, ...]}. Each run decodes one prompt (batch 1) with
`DecodingPress(compression_interval=1, target_size=P + B - 1)`: after every decoding forward the cache is cut back
to P + B - 1 entries, so a forward sees at most P + B, exactly our budget semantics. The prompt is never evicted
(our convention): StreamingLLM pins it as its sinks (`n_sink = P`); TOVA and K-norm are wrapped so that prompt
entries score above every generated one. With `temporal`, the press is wrapped in `Temporal` (cache kept in
temporal order, ties evicting the older entry). OUT: {"versions": {...}, "completions": {key: [ids]}}.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from dataclasses import dataclass, field

import torch


def main(job_path: str, out_path: str) -> None:
    import transformers
    from kvpress import DecodingPress, KnormPress, ScorerPress, StreamingLLMPress, TOVAPress
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    @dataclass
    class KeepPrompt(ScorerPress):
        """A kvpress scorer whose first `prompt_length` entries always outrank the rest (never evicted)."""

        base: ScorerPress = field(default_factory=TOVAPress)
        prompt_length: int = 0

        def score(self, module, hidden_states, keys, values, attentions, kwargs):
            self.base.compression_ratio = self.compression_ratio
            scores = self.base.score(module, hidden_states, keys, values, attentions, kwargs).clone()
            scores[..., : self.prompt_length] = scores.max() + 1
            return scores

    @dataclass
    class Temporal(ScorerPress):
        """A kvpress scorer whose compression keeps the cache in temporal order and breaks score ties toward
        evicting the older entry (our convention). kvpress's `ScorerPress.compress` gathers the `topk` indices,
        which reorders the cache and breaks ties arbitrarily; StreamingLLM scores by cache *position*, so under
        `DecodingPress` its later compressions no longer evict the oldest entry."""

        base: ScorerPress = field(default_factory=TOVAPress)

        def score(self, module, hidden_states, keys, values, attentions, kwargs):
            self.base.compression_ratio = self.compression_ratio
            return self.base.score(module, hidden_states, keys, values, attentions, kwargs)

        def compress(self, module, hidden_states, keys, values, attentions, kwargs):
            if self.compression_ratio == 0:
                return keys, values
            scores = self.score(module, hidden_states, keys, values, attentions, kwargs)
            n_kept = int(keys.shape[2] * (1 - self.compression_ratio))
            evict_first = scores.argsort(dim=-1, stable=True)  # ascending; equal scores: the older slot first
            kept = evict_first[..., keys.shape[2] - n_kept :].sort(dim=-1).values
            kept = kept.unsqueeze(-1).expand(-1, -1, -1, module.head_dim)
            return keys.gather(2, kept).contiguous(), values.gather(2, kept).contiguous()

    torch.manual_seed(0)
    torch.set_num_threads(1)
    job = json.loads(open(job_path).read())
    model = AutoModelForCausalLM.from_pretrained(job["model"], dtype=torch.float32, attn_implementation="sdpa").eval()
    completions = {}
    for run in job["runs"]:
        prompt_length, budget = len(run["prompt"]), run["budget"]
        if run["press"] == "streaming":
            scorer = StreamingLLMPress(n_sink=prompt_length)
        else:
            base = TOVAPress() if run["press"] == "tova" else KnormPress()
            scorer = KeepPrompt(base=base, prompt_length=prompt_length)
        if run.get("temporal"):
            scorer = Temporal(base=scorer)
        press = DecodingPress(
            base_press=scorer, compression_interval=1, target_size=prompt_length + budget - 1,
            hidden_states_buffer_size=1,
        )
        ids = torch.tensor([run["prompt"]])
        with torch.no_grad(), press(model):
            output = model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=job["max_new_tokens"], do_sample=False,
                suppress_tokens=job["suppress"] or None, eos_token_id=job["eos"], pad_token_id=job["pad"],
            )
        completions[run["key"]] = output[0, prompt_length:].tolist()
    versions = {"kvpress": importlib.metadata.version("kvpress"),
                "transformers": transformers.__version__, "torch": torch.__version__}
    with open(out_path, "w") as handle:
        json.dump({"versions": versions, "completions": completions}, handle)


if __name__ == "__main__":
    main(*sys.argv[1:3])
