"""breadcrumbs: teach a causal LM to fold its reasoning into learned beacon tokens, and serve it with the
compressed KV cache.

    >>> from breadcrumbs import load_model, generate, BeaconPolicy
    >>> model, tokenizer = load_model("tiny")
    >>> out = generate(model, tokenizer, ["12+7="], policy=BeaconPolicy(ratio=4), max_new_tokens=32)
    >>> out.stats[0].peak_kv_entries

The public names are imported on first use, so `import breadcrumbs.cli` (the console script) starts without
torch and can handle Ctrl-C from its first moment.
"""

from importlib import import_module

from breadcrumbs.errors import BreadcrumbsError

__version__ = "0.1.0"

_EXPORTS = {
    "GenerationOutput": "breadcrumbs.generation",
    "SequenceStats": "breadcrumbs.generation",
    "generate": "breadcrumbs.generation",
    "add_beacon": "breadcrumbs.models",
    "build_char_tokenizer": "breadcrumbs.models",
    "build_preset_model": "breadcrumbs.models",
    "load_model": "breadcrumbs.models",
    "BeaconPolicy": "breadcrumbs.policies",
    "CachePolicy": "breadcrumbs.policies",
    "FullCache": "breadcrumbs.policies",
    "policy_from_spec": "breadcrumbs.policies",
}

__all__ = sorted(["BreadcrumbsError", *_EXPORTS])


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'breadcrumbs' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
