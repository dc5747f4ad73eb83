"""Ctrl-C as a trusted tool handles it: the first one stops the command cleanly (exit 130, one line saying what
was saved and how to resume), a second one exits at once.

Commands register what an interruption leaves behind with `on_interrupt` (a string, or a function evaluated at
interrupt time, e.g. to name the last checkpoint); the CLI prints `interrupted_message()`. No heavy imports here:
the console entry point installs the handler before torch is imported.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

EXIT_INTERRUPTED = 130

_hint: Callable[[], str] | None = None
_interrupts = 0
_at_once = False


def on_interrupt(hint: str | Callable[[], str] | None) -> None:
    """Say what an interruption of the running command saves and how to resume (None: nothing was saved)."""
    global _hint
    _hint = hint if callable(hint) or hint is None else (lambda: hint)


def interrupted_message() -> str:
    """The one line printed after an interruption."""
    try:
        hint = _hint() if _hint is not None else "nothing was saved"
    except Exception as err:  # the hint must never turn an interrupt into a traceback
        hint = f"could not tell what was saved ({type(err).__name__})"
    return f"error: interrupted; {hint}"


def _handler(signum: int, frame: object) -> None:
    global _interrupts
    _interrupts += 1
    if _at_once:
        os.write(2, (interrupted_message() + "\n").encode())
        os._exit(EXIT_INTERRUPTED)
    if _interrupts > 1:
        os.write(2, b"\nerror: interrupted again; exiting now\n")
        os._exit(EXIT_INTERRUPTED)
    raise KeyboardInterrupt


def install(at_once: bool = False) -> None:
    """Route SIGINT to `_handler` (a no-op outside the main thread, where signals cannot be set).

    `at_once`: the first Ctrl-C prints the line and exits 130 without raising, for start-up, before a command
    has anything to save. Raising there is unsafe: torch runs Python from C++ while it imports, and a
    KeyboardInterrupt raised in those frames aborts the process (pybind11 `terminate`) or makes CPython end
    itself by SIGINT whatever `sys.exit` said."""
    global _interrupts, _at_once
    _interrupts = 0
    _at_once = at_once
    try:
        signal.signal(signal.SIGINT, _handler)
    except ValueError:
        pass


@contextmanager
def handling_interrupts() -> Iterator[None]:
    """Install the handler for the duration of one command, then restore whatever was there (tests, notebooks)."""
    global _at_once
    was_at_once = _at_once
    try:
        previous = signal.getsignal(signal.SIGINT)
    except ValueError:
        previous = None
    install()
    try:
        yield
    finally:
        on_interrupt(None)
        _at_once = was_at_once
        if previous is not None:
            try:
                signal.signal(signal.SIGINT, previous)
            except ValueError:
                pass


@contextmanager
def deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, so that a step that must not be cut in half (start a job process
    and note it) completes; an interrupt that came meanwhile is then replayed to the handler that was installed.
    A no-op outside the main thread, where signals cannot be set."""
    held: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        if previous is None:  # a handler not set from Python cannot be put back: the default stands in for it
            previous = signal.SIG_DFL
        signal.signal(signal.SIGINT, previous)
        if held:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                raise KeyboardInterrupt


def exit_interrupted() -> None:
    """Print the interruption line and exit 130."""
    print(interrupted_message(), file=sys.stderr)
    sys.exit(EXIT_INTERRUPTED)


def exit_process(code: int) -> None:
    """End the process with exactly `code`, after the atexit handlers and a flush of stdout and stderr.

    CPython 3.11 remembers a KeyboardInterrupt that was raised inside code run through the C API (pybind11's
    `exec` while torch imports) as unhandled, even once it is caught, and then kills itself by SIGINT at exit
    whatever `sys.exit` said; `os._exit` keeps the status the CLI promises."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
