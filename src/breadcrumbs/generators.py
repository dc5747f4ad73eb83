"""Decoding backends behind one interface: evaluation, RL rollouts and training-time evaluation all call a
`Generator`, so a second decoder plugs in without touching them.

A `Generator` is any callable with `breadcrumbs.generate`'s signature from `prompts` on, returning a
`GenerationOutput` (texts, completion ids, per-sequence `SequenceStats` with the KV figures read off the cache).
Backends are named in configs (`generator: loop`) and on the command line (`eval --generator static`):

- `loop`: the package's batched decode loop (`breadcrumbs.generate`), dynamic shapes;
- `static`: the same loop over a preallocated cache with fixed shapes (equal outputs, tests/test_static_decode.py);
- a reference `path/to/file.py:make` or `package.module:make` to a factory that takes no arguments and returns a
  Generator (a user's own backend, e.g. one that serves the full-cache rollouts of RL from vLLM);
- a name added in this process with `register_generator(name, factory)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.generation import GenerationOutput, generate
from breadcrumbs.policies.base import CachePolicy
from breadcrumbs.tasks.rewards import load_function

DEFAULT = "loop"


class Generator(Protocol):
    """Completions of `prompts` under a cache policy; the other settings (`max_new_tokens`, `temperature`, `top_p`,
    `seed`, `batch_size`, `progress`) are `breadcrumbs.generate`'s keyword arguments."""

    def __call__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 prompts: Sequence[str] | Sequence[Sequence[int]], policy: CachePolicy | None = None,
                 **settings) -> GenerationOutput: ...


@dataclass(frozen=True)
class LoopGenerator:
    """`breadcrumbs.generate`, with dynamic shapes or (`static`) over the preallocated, fixed-shape cache."""

    static: bool = False

    def __call__(self, model, tokenizer, prompts, policy=None, **settings) -> GenerationOutput:
        return generate(model, tokenizer, prompts, policy=policy, static=self.static, **settings)


_GENERATORS: dict[str, Callable[[], Generator]] = {
    "loop": LoopGenerator,
    "static": lambda: LoopGenerator(static=True),
}
BUILT_IN = tuple(_GENERATORS)


def register_generator(name: str, factory: Callable[[], Generator]) -> None:
    """Add a backend under `name` (a factory taking no arguments); a built-in name may not be replaced."""
    if not name or ":" in name:
        raise BreadcrumbsError(f"generator name {name!r} must be non-empty and have no ':' (that marks a reference)")
    if name in BUILT_IN:
        raise BreadcrumbsError(f"generator {name!r} is built in; register yours under another name")
    _GENERATORS[name] = factory


def generator_names() -> list[str]:
    """The registered backend names, built-in first."""
    return list(_GENERATORS)


def get_generator(spec: str | Generator = DEFAULT) -> Generator:
    """The backend `spec` names (a registered name or a factory reference; a Generator is returned as it is)."""
    if callable(spec):
        return spec
    if spec in _GENERATORS:
        return _GENERATORS[spec]()
    if ":" not in spec:
        raise BreadcrumbsError(
            f"unknown generator {spec!r}; use one of {', '.join(_GENERATORS)}, or path/to/file.py:factory"
        )
    try:
        generator = load_function(spec, kind="generator")()
    except BreadcrumbsError:
        raise
    except Exception as err:
        raise BreadcrumbsError(f"generator {spec}: its factory raised {type(err).__name__}: {err}") from None
    if not callable(generator):
        raise BreadcrumbsError(f"generator {spec}: its factory returned {type(generator).__name__}, not a callable")
    return generator
