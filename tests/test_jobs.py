"""The experiment's job processes (recipes/jobs.py): a `breadcrumbs` command forked from a preloaded server behaves
like the console script run as a subprocess: its output in its log, its exit code the command's."""

from __future__ import annotations

import importlib

from breadcrumbs.recipes.jobs import PRELOAD, start_job


def test_every_preloaded_module_imports():
    """A misspelt name would be skipped by the server silently and every job would pay its import again."""
    for name in PRELOAD:
        importlib.import_module(name)


def test_a_job_writes_its_output_to_its_log_and_exits_with_the_commands_code(tmp_path):
    log = tmp_path / "job.log"
    log.write_text("an earlier invocation's line\n")
    listing = start_job(["tasks", "list"], log, threads=1)
    listing.join(timeout=120)
    assert listing.exitcode == 0
    text = log.read_text()
    assert text.startswith("an earlier invocation's line\n") and "countdown: k=" in text  # appended, not replaced

    failing = tmp_path / "failing.log"
    bad = start_job(["tasks", "sample", "--task", "no-such-task"], failing, threads=1)
    bad.join(timeout=120)
    assert bad.exitcode == 1
    lines = failing.read_text().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "no-such-task" in lines[0]


def test_stopping_a_job_interrupts_it_once_as_ctrl_c_does(tmp_path):
    """The driver stops its jobs on Ctrl-C or a failed job: each gets one interrupt and ends with its one line."""
    import time

    from breadcrumbs.recipes.jobs import stop_jobs

    log = tmp_path / "eval.log"
    job = start_job(["eval", "--model", "micro", "--task", "countdown", "--n", "100000", "--methods", "full",
                     "--max-new-tokens", "40", "--out", str(tmp_path / "results.jsonl")], log, threads=1)
    time.sleep(8)  # running by now: the server imported what `eval` needs
    assert job.exitcode is None
    stop_jobs([job], grace_s=60)
    assert job.exitcode == 130
    assert log.read_text().strip().splitlines()[-1].startswith("error: interrupted")


def test_a_ctrl_c_while_a_job_starts_arrives_after_it_is_noted_and_still_stops_it(tmp_path):
    """The driver starts a job and notes it inside `interrupts.deferred()`: a SIGINT meanwhile (the first start
    waits for the server's imports) is held until the job is noted, then raised, and the stop that follows reaches
    the job, which ends with its one line."""
    import os
    import signal

    import pytest

    from breadcrumbs import interrupts
    from breadcrumbs.recipes.jobs import stop_jobs

    noted = []
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGINT)  # held: nothing is raised inside the block
                job = start_job(["eval", "--model", "micro", "--task", "countdown", "--n", "100000", "--methods",
                                 "full", "--max-new-tokens", "40", "--out", str(tmp_path / "results.jsonl")],
                                tmp_path / "eval.log", threads=1)
                noted.append(job)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert noted and noted[0].exitcode is None  # raised after the block, with the job noted and running
    stop_jobs(noted, grace_s=60)
    assert noted[0].exitcode == 130
    assert (tmp_path / "eval.log").read_text().strip().splitlines()[-1].startswith("error: interrupted")
