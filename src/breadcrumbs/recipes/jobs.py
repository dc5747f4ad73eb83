"""Job processes for the experiment driver: each job is a `breadcrumbs` command line run in its own process, forked
from a server that imported torch, transformers and the training and evaluation code once (multiprocessing's
`forkserver`), so a job does not pay the ~5 s of imports a fresh `python -m breadcrumbs` does. A job process is as
separate as a subprocess: its own memory, its output appended to its log file, its own thread count, its exit code
the command's (1 for an `error:` line, 130 for Ctrl-C). Each job runs in a session of its own, so a Ctrl-C at the
terminal reaches the driver only, and the driver stops its jobs with exactly one interrupt each (`stop_jobs`): a
second one would make a training run exit before its checkpoint is saved."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

from breadcrumbs import interrupts

# what the server imports once: the command line and what `train`, `eval` and `sweep` run
PRELOAD = ["breadcrumbs.cli", "breadcrumbs.training.trainer", "breadcrumbs.evaluation", "breadcrumbs.evaluation.sweep",
           "breadcrumbs.models"]


def start_job(arguments: list[str], log: Path, threads: int) -> multiprocessing.Process:
    """Start `breadcrumbs ARGUMENTS` with `threads` CPU threads, stdout and stderr appended to `log`; returns the
    running process (`exitcode` is None until it ends, then the command's exit code; `terminate()` stops it).
    The first start waits for the server's imports; call it inside `interrupts.deferred()` with the code that
    notes the process, so that a Ctrl-C meanwhile still finds the job and stops it."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    ready = context.Event()
    process = context.Process(target=_run, args=(list(arguments), str(log), threads, ready), daemon=False)
    process.start()
    # a fresh child ignores SIGINT (the server's setting) until `_run` installs the handler: a stop sent earlier
    # would be lost, so return once it is installed (milliseconds: the server did the imports before forking)
    while not ready.wait(timeout=1.0) and process.is_alive():
        pass
    return process


def stop_jobs(processes: list[multiprocessing.Process], grace_s: float = 60.0) -> None:
    """Stop running jobs as Ctrl-C stops a command (a training run saves its checkpoint and exits 130); a job still
    running `grace_s` seconds later is terminated."""
    for process in processes:
        if process.exitcode is None:
            try:
                os.kill(process.pid, signal.SIGINT)
            except ProcessLookupError:  # it ended in between
                pass
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.exitcode is None:
            process.terminate()
            process.join()


def _run(arguments: list[str], log: str, threads: int, ready) -> None:
    """The job process: a session of its own, output to `log`, the Ctrl-C handler (then `ready` is set),
    `threads` threads, then the console script's main with `arguments`."""
    os.setsid()
    handle = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    for stream in (1, 2):
        os.dup2(handle, stream)
    os.close(handle)
    interrupts.install(at_once=True)  # a stop before the command starts: the one line, exit 130
    ready.set()
    os.environ.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    import torch

    torch.set_num_threads(threads)
    sys.argv = ["breadcrumbs", *arguments]
    from breadcrumbs.console import main

    main()
