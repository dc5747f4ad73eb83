"""breadcrumbs: teach a causal LM to fold its reasoning into learned beacon tokens, and serve it with the
compressed KV cache.

    >>> from breadcrumbs import load_model, generate, BeaconPolicy
    >>> model, tokenizer = load_model("tiny")
    >>> out = generate(model, tokenizer, ["12+7="], policy=BeaconPolicy(ratio=4), max_new_tokens=32)
    >>> out.stats[0].peak_kv_entries
"""

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.generation import GenerationOutput, SequenceStats, generate
from breadcrumbs.models import add_beacon, build_char_tokenizer, build_preset_model, load_model
from breadcrumbs.policies import BeaconPolicy, CachePolicy, FullCache, policy_from_spec

__version__ = "0.1.0"

__all__ = [
    "BeaconPolicy",
    "BreadcrumbsError",
    "CachePolicy",
    "FullCache",
    "GenerationOutput",
    "SequenceStats",
    "add_beacon",
    "build_char_tokenizer",
    "build_preset_model",
    "generate",
    "load_model",
    "policy_from_spec",
]
