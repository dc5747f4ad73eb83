"""Safe file writes: whole files replaced atomically, one writer per output, stale temporaries swept on start.

- `atomic_write`: write to a temporary file in the same folder, fsync, then `os.replace`: readers (and a rerun
  after a kill) see the old file or the new one, never a mix.
- `exclusive_lock`: an advisory `flock` on `<path>.lock`, held for the life of the writer and removed after. A
  second process gets one clear error instead of duplicating the work; the lock dies with its process, so a kill
  leaves at most an unlocked `.lock` file, which the next writer takes over.
- `remove_stale_temporaries`: temporaries have names that start with "." and carry `.tmp` (`.metrics.jsonl.ab12.tmp`,
  `.latest.tmp-123`, `.tmp-step-40`); those a killed process left are removed when the next run starts, under the
  lock, so no live writer's temporary is touched.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from breadcrumbs.errors import BreadcrumbsError

_TEMPORARY = re.compile(r"^\..*\.tmp(-\d+)?$|^\.tmp-|^\.reference-tmp$|^\.write-probe-")


def current_umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def follow_umask(root: str | Path) -> None:
    """Give `root` and everything under it the modes a plain `mkdir` / `open` would (0777 / 0666 less the umask).

    Temporaries made with `tempfile.mkdtemp` / `mkstemp` (ours, and transformers' safetensors writer) are 0700 /
    0600; a directory moved into place from one must be readable to whoever the umask lets read it."""
    umask = current_umask()
    root = Path(root)
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write a whole file atomically (temporary file in the same folder, then `os.replace`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def exclusive_lock(path: str | Path, what: str) -> Iterator[None]:
    """Hold `<path>.lock` (created next to `path`) or fail at once with one line naming the holder's pid.

    `what` completes the error ("another process is writing {what}"). Where `fcntl` is missing (Windows) the
    lock is skipped: one writer per file is then the user's job.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    lock_path = Path(path).with_name(Path(path).name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open(lock_path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise BreadcrumbsError(
                f"another process (pid {holder}) is writing {what}; wait for it to finish or use another --out"
            ) from None
        try:
            if os.stat(lock_path).st_ino == os.fstat(handle.fileno()).st_ino:
                break  # still the file at `lock_path` (not one a finishing holder just unlinked)
        except FileNotFoundError:
            pass
        handle.close()
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        lock_path.unlink(missing_ok=True)  # unlinked while held, so no process can lock a stale copy
        handle.close()


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporaries (files, folders, links) a killed writer left directly in `folder`; returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        if not _TEMPORARY.search(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


@contextmanager
def undone_on_error(folder: str | Path, keep: tuple[str, ...] = ()) -> Iterator[None]:
    """Leave nothing behind when the command fails on its inputs (a `BreadcrumbsError`): remove `folder` (and the
    parents it needed) if this invocation created it, else only the entries it added to it. Nothing is removed once
    the folder holds one of `keep` (a checkpoint, metrics: the work of a run) or when it already held anything of
    a run before (a resumed run is never touched); other exceptions (an interrupt, a bug) leave everything as is."""
    folder = Path(folder)
    top = folder
    while not top.parent.exists() and top.parent != top:
        top = top.parent  # the outermost folder that does not exist yet
    before = set(os.listdir(folder)) if folder.is_dir() else None
    try:
        yield
    except BreadcrumbsError:
        if not (before and any(name in before for name in keep)):
            kept = [name for name in keep if (folder / name).exists() and _holds_something(folder / name)]
            if not kept:
                if before is None and top.exists():
                    shutil.rmtree(top, ignore_errors=True)
                elif before is not None and folder.is_dir():
                    for name in set(os.listdir(folder)) - before:
                        entry = folder / name
                        if entry.is_dir() and not entry.is_symlink():
                            shutil.rmtree(entry, ignore_errors=True)
                        else:
                            entry.unlink(missing_ok=True)
        raise


def _holds_something(path: Path) -> bool:
    """A non-empty file, or a folder with any entry."""
    return any(path.iterdir()) if path.is_dir() else path.stat().st_size > 0
