"""Users' reward and verifier functions, named by reference: `path/to/file.py:function` or `package.module:function`.

A function has TRL's reward signature, `f(prompts, completions, **columns) -> list[float]`, called by keyword with
one list entry per completion (every other dataset column passed by its name). `ScoreFunction` loads one and checks
each call: an exception, a wrong length or a value that is not a finite number is one `BreadcrumbsError` naming the
function and the row.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from breadcrumbs.errors import BreadcrumbsError

REF_FORMS = "path/to/file.py:function or package.module:function"


def split_refs(text: str) -> list[str]:
    """`a.py:f,b.py:g` -> ["a.py:f", "b.py:g"] (blank parts dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _module_from_file(path: Path, ref: str):
    """Import a .py file once per process under a name derived from its absolute path; its folder is on sys.path
    while it runs, so it may import modules next to it."""
    path = path.resolve()
    name = "breadcrumbs_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    if name in sys.modules:
        return sys.modules[name]
    if not path.is_file():
        raise BreadcrumbsError(f"{ref}: no file {str(path)!r}")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise BreadcrumbsError(f"{ref}: importing {path.name} raised {type(err).__name__}: {err}") from None
    finally:
        sys.path.remove(str(path.parent))
    sys.modules[name] = module
    return module


def load_function(ref: str, kind: str = "reward") -> Callable:
    """The callable that `ref` names (see module docstring; `kind` names it in errors); one clear error if it does
    not resolve."""
    where, sep, attribute = ref.rpartition(":")
    if not sep or not where or not attribute.isidentifier():
        raise BreadcrumbsError(f"{kind} reference {ref!r} must be {REF_FORMS}")
    if where.endswith(".py") or "/" in where or "\\" in where:
        module = _module_from_file(Path(where), ref)
    else:
        try:
            module = importlib.import_module(where)
        except Exception as err:
            raise BreadcrumbsError(f"{ref}: cannot import {where} ({type(err).__name__}: {err})") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise BreadcrumbsError(f"{ref}: {where} has no function {attribute!r}")
    return function


@dataclass(frozen=True)
class ScoreFunction:
    """One loaded reward (or verifier) function and the reference it came from."""

    ref: str
    function: Callable
    kind: str = "reward"

    @classmethod
    def load(cls, ref: str, kind: str = "reward") -> ScoreFunction:
        return cls(ref, load_function(ref, kind), kind)

    def _call(self, prompts: Sequence[str], completions: Sequence[str], columns: Mapping[str, list], rows: slice):
        return self.function(
            prompts=list(prompts[rows]), completions=list(completions[rows]),
            **{name: values[rows] for name, values in columns.items()},
        )

    def __call__(
        self, prompts: Sequence[str], completions: Sequence[str], columns: Mapping[str, list], where: Sequence[str]
    ) -> list[float]:
        """The function's values for a batch (one call), checked; `where[i]` names row i in errors."""
        everything = slice(None)
        try:
            values = self._call(prompts, completions, columns, everything)
        except Exception as err:
            raise BreadcrumbsError(
                f"{self.kind} {self.ref} raised {type(err).__name__}: {err} {self._culprit(prompts, completions, columns, where)}"
            ) from None
        try:
            values = list(values)
        except TypeError:
            raise BreadcrumbsError(
                f"{self.kind} {self.ref} returned {type(values).__name__}; it must return a list of floats, one per "
                "completion"
            ) from None
        if len(values) != len(prompts):
            raise BreadcrumbsError(
                f"{self.kind} {self.ref} returned {len(values)} values for {len(prompts)} completions "
                f"({where[0]} to {where[-1]}); it must return one per completion"
            )
        checked = []
        for value, row in zip(values, where):
            try:
                number = math.nan if isinstance(value, (str, bytes)) else float(value)
            except (TypeError, ValueError):
                number = math.nan
            if not math.isfinite(number):
                raise BreadcrumbsError(
                    f"{self.kind} {self.ref} returned {value!r} for {row}; every value must be a finite number"
                )
            checked.append(number)
        return checked

    def _culprit(self, prompts, completions, columns, where) -> str:
        """`on <row>` for the first row that raises alone, else the batch's rows (found only after a failure)."""
        for index, row in enumerate(where):
            try:
                self._call(prompts, completions, columns, slice(index, index + 1))
            except Exception:
                return f"on {row}"
        return f"on the batch {where[0]} to {where[-1]} (no single row raises alone)"
