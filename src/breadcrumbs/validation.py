"""One validation layer for what a user hands the tool: numbers, device names, YAML text and output paths.

Every check raises one `BreadcrumbsError` whose message names the input, the allowed range and (where there is
one) the fix, so the CLI, the config loader and the library all refuse bad input the same way:

    >>> check_range("--top-p", 1.5, Range(0, 1, low_open=True))
    Traceback (most recent call last):
    BreadcrumbsError: --top-p must be in (0, 1], got 1.5

Nothing here imports torch at module level, so the CLI can validate before the heavy imports.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from breadcrumbs.errors import BreadcrumbsError

SEED_MAX = 2**32 - 1  # numpy's seed range, the narrowest of the generators a seed reaches
MAX_PROBLEMS = 1_000_000  # the most problems one command generates (`tasks sample --n`, `eval --n`)
MAX_NEW_TOKENS = 1_048_576  # the most tokens one sequence may generate (2**20; a model's context is the tighter bound,
# checked once the model is known)


@dataclass(frozen=True)
class Range:
    """An interval of allowed values; `None` ends are unbounded. `integer` refuses floats (and bools)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def contains(self, value: float) -> bool:
        if self.low is not None and (value < self.low or self.low_open and value == self.low):
            return False
        return self.high is None or not (value > self.high or self.high_open and value == self.high)

    def __str__(self) -> str:
        low, high = _number_text(self.low), _number_text(self.high)
        if self.high is None and self.low is not None:
            return f"{'>' if self.low_open else '>='} {low}"
        if self.low is None and self.high is not None:
            return f"{'<' if self.high_open else '<='} {high}"
        if self.low is None:
            return "a number"
        return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"


def _number_text(value: float | None) -> str:
    """Whole bounds in full (`4294967295`, not `4.29497e+09`), others short (`0.5`, `1e-08`)."""
    if value is not None and float(value).is_integer() and abs(value) < 1e16:
        return str(int(value))
    return f"{value:g}" if value is not None else ""


POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
PROBABILITY = Range(0, 1)
POSITIVE_INT = Range(1, integer=True)
NON_NEGATIVE_INT = Range(0, integer=True)
SEED = Range(0, SEED_MAX, integer=True)
TEMPERATURE = Range(0, 100)


def check_range(name: str, value: Any, allowed: Range) -> Any:
    """`value` if it is a finite number in `allowed` (an integer where `allowed.integer`); else one error."""
    kind = "an integer" if allowed.integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or allowed.integer and isinstance(value, float):
        raise BreadcrumbsError(f"{name} must be {kind} {allowed}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise BreadcrumbsError(f"{name} must be a finite number {allowed}, got {value!r}")
    if not allowed.contains(value):
        raise BreadcrumbsError(f"{name} must be {allowed}, got {value!r}")
    return value


_DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


def check_device_name(name: str, device: Any) -> str:
    """The spelling of a device (auto, cpu, cuda, cuda:N), without looking at the hardware."""
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise BreadcrumbsError(f"{name} {device!r} is not one of cpu, cuda, cuda:N, auto")
    return device


def resolve_device(device: str, name: str = "--device") -> str:
    """`auto` -> cuda when available else cpu; a CUDA device on a machine without one (or out of range) is an
    error, never a silent CPU run."""
    import torch

    check_device_name(name, device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BreadcrumbsError(f"{name} {device}: CUDA is not available on this machine; use --device cpu")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise BreadcrumbsError(
                f"{name} {device}: this machine has {torch.cuda.device_count()} CUDA device(s); use cuda:0"
                + (f"..cuda:{torch.cuda.device_count() - 1}" if torch.cuda.device_count() > 1 else "")
            )
    return device


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML safely, refusing duplicate keys (YAML would silently keep the last one)."""
    import yaml

    class _UniqueKeyLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
        loader.flatten_mapping(node)
        seen: dict = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                raise BreadcrumbsError(
                    f"{source} line {key_node.start_mark.line + 1}: duplicate key {key!r} "
                    f"(first on line {seen[key]}); keep one"
                )
            seen[key] = key_node.start_mark.line + 1
        return loader.construct_mapping(node, deep=deep)

    _UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise BreadcrumbsError(f"{source} is not valid YAML: {str(err).splitlines()[0]}") from None
    except (TypeError, ValueError) as err:  # e.g. an unhashable (list) mapping key
        raise BreadcrumbsError(f"{source} is not valid YAML: {err}") from None


def read_text_file(path: str | Path, name: str) -> str:
    """The UTF-8 text of a file the user named; missing, a folder, unreadable or binary is one error."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "not found"
        raise BreadcrumbsError(f"{name} {str(path)!r}: {what}; pass an existing file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BreadcrumbsError(f"{name} {str(path)!r} is not a text file (not UTF-8); pass the right file") from None
    except OSError as err:
        raise BreadcrumbsError(f"{name} {str(path)!r} cannot be read ({err.strerror})") from None


def _probe_writable(folder: Path, name: str, path: Path) -> None:
    """Create and remove a file in `folder`: the only honest test that later writes will work."""
    try:
        descriptor, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe-")
        os.close(descriptor)
        os.unlink(probe)
    except OSError as err:
        raise BreadcrumbsError(f"{name} {str(path)!r}: cannot write to {str(folder)!r} ({err.strerror}); "
                               "choose another path") from None


def _creatable_folder(folder: Path, name: str, path: Path) -> None:
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise BreadcrumbsError(f"{name} {str(path)!r}: {str(existing)!r} is a file, not a folder; choose another path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BreadcrumbsError(f"{name} {str(path)!r}: cannot create {str(folder)!r} ({err.strerror}); "
                               "choose another path") from None


def check_output_file(path: str | Path, name: str = "--out") -> Path:
    """A file the command will write (or append to): not a folder, its folder created and writable."""
    path = Path(path)
    if path.is_dir():
        raise BreadcrumbsError(f"{name} {str(path)!r} is a folder; give a file path")
    if path.exists() and not os.access(path, os.W_OK):
        raise BreadcrumbsError(f"{name} {str(path)!r} is not writable; choose another path")
    folder = path.parent
    _creatable_folder(folder, name, path)
    _probe_writable(folder, name, path)
    return path


def check_output_dir(path: str | Path, name: str = "--out") -> Path:
    """A folder the command will write into: created if missing, and writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BreadcrumbsError(f"{name} {str(path)!r} is a file; give a folder path")
    _creatable_folder(path, name, path)
    _probe_writable(path, name, path)
    return path


def check_sampling(temperature: Any, top_p: Any, names: tuple[str, str] = ("temperature", "top_p")) -> None:
    """Decoding settings: temperature in [0, 100] (0 = greedy; far above 100 the scaled logits underflow to a
    uniform draw, or to NaN once the temperature overflows float32), top-p in (0, 1]."""
    check_range(names[0], temperature, TEMPERATURE)
    check_range(names[1], top_p, Range(0, 1, low_open=True))


def available_memory(device: Any) -> int | None:
    """Bytes free on `device` now: CUDA's free memory, or the host's MemAvailable for the CPU; None if unknown."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(needed: int, device: Any, what: str, fix: str) -> None:
    """Refuse up front an allocation that cannot fit (instead of a multi-terabyte attempt or an OOM mid-run)."""
    available = available_memory(device)
    if available is not None and needed > available:
        raise BreadcrumbsError(
            f"{what} needs {needed / 2**30:,.1f} GiB but {device} has {available / 2**30:,.1f} GiB free; {fix}"
        )
