"""Property/fuzz suite over the CLI entry points and the config loader (issue 15).

Whatever the input: the exit code is 0, 1 (one `error:` line) or 2 (usage), nothing prints a traceback, and nothing
is left half-written (no temporaries; a results file holds only whole records; a report is whole or absent).
Examples are derandomized so CI is reproducible; valid draws are kept small (micro model, <= 2 problems, <= 4
tokens) so the suite stays well under two minutes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breadcrumbs.cli import main
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.training.config import TrainConfig, load_config

FUZZ = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Values a user might type for a number: edge cases, junk, and a few small valid ones.
NASTY = st.one_of(
    st.sampled_from(["0", "-1", "1", "2", "0.5", "1.5", "-0.0", "nan", "inf", "-inf", "1e309", "1e-320", "",
                     "abc", "99999999999999999999", "0x10", "1_000", " 3", "é", "🙂", "1,2", "[1]", "{}", "null"]),
    st.integers(-(10**25), 10**25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)
SMALL = st.sampled_from(["1", "2"])


def run_cli(capsys, args: list[str]) -> tuple[int, str]:
    code = 0
    try:
        main(args)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    return code, err


def check_outcome(code: int, err: str) -> None:
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err, err
    if code:
        assert err.strip().splitlines()[-1].startswith("error: "), err


def nothing_half_written(folder: Path) -> None:
    leftovers = [p for p in folder.rglob("*") if ".tmp" in p.name or p.name.startswith(".write-probe")]
    assert not leftovers, leftovers
    assert not list(folder.rglob("*.lock")), "a lock outlived its writer"
    for results in folder.rglob("*.jsonl"):
        text = results.read_text()
        assert not text or text.endswith("\n")
        for line in text.splitlines():
            json.loads(line)


@st.composite
def eval_args(draw) -> list[str]:
    options = {"--n": SMALL, "--max-new-tokens": st.sampled_from(["1", "4"]), "--batch-size": SMALL,
               "-t": st.sampled_from(["0", "0.7"]), "--seed": st.sampled_from(["0", "3"]),
               "--methods": st.sampled_from(["full", "beacon:2", "beacon:100000000000", "tova:@beacon:2"]),
               "--difficulty": st.sampled_from(["k=3", "max_number=10"])}
    fuzzed = draw(st.sampled_from(sorted(options)))
    args = ["eval", "--task", draw(st.sampled_from(["countdown", "linsys", "nope"])), "-m", "micro", "-q"]
    for name, good in options.items():
        value = draw(NASTY | st.sampled_from(["beacon:0", "x:1", "k=99", "k", "=3"])) if name == fuzzed else draw(good)
        args += [name, value]
    return args


@st.composite
def generate_args(draw) -> list[str]:
    options = {"--max-new-tokens": st.sampled_from(["1", "3"]), "-t": st.sampled_from(["0", "1"]),
               "--top-p": st.sampled_from(["1", "0.9"]), "--seed": st.sampled_from(["0", "5"]),
               "--policy": st.sampled_from(["full", "beacon:2", "h2o:2", "beacon:100000000000"]),
               "--device": st.sampled_from(["cpu", "auto"])}
    fuzzed = draw(st.sampled_from(sorted(options)))
    prompt = draw(st.text(max_size=12) | st.sampled_from(["1 2", "tab\there", "crlf\r\n", "é🙂\x07"]))
    args = ["generate", "-m", "micro", "-q", "-p", prompt]
    for name, good in options.items():
        args += [name, draw(NASTY) if name == fuzzed else draw(good)]
    return args


@st.composite
def tasks_args(draw) -> list[str]:
    fuzzed = draw(st.sampled_from(["--n", "--seed", "--difficulty", "--trace"]))
    args = ["tasks", "sample", "-t", draw(st.sampled_from(["countdown", "linsys", "stargraph", ""]))]
    for name, good in {"--n": SMALL, "--seed": SMALL, "--difficulty": st.sampled_from(["k=3", "d=2"]),
                       "--trace": st.sampled_from(["none", "search"])}.items():
        args += [name, draw(NASTY) if name == fuzzed else draw(good)]
    return args + draw(st.sampled_from([[], ["--stats"]]))


@FUZZ
@given(args=st.one_of(eval_args(), generate_args(), tasks_args()))
def test_cli_any_input_exits_cleanly(capsys, tmp_path_factory, args):
    folder = tmp_path_factory.mktemp("fuzz")
    if args[0] == "eval":
        args += ["--out", str(folder / "r.jsonl")]
    check_outcome(*run_cli(capsys, args))
    nothing_half_written(folder)


@FUZZ
@given(
    key=st.sampled_from(["sft.lr", "sft.steps", "sft.batch_size", "rl.temperature", "rl.top_p", "optim.beta1",
                         "optim.eps", "distill.weight", "seed", "device", "beacon.ratios", "task.difficulty",
                         "model.name", "checkpoint.every", "sft", "nokey", "sft.lr.x"]),
    value=NASTY,
)
def test_train_any_override_exits_cleanly(capsys, tmp_path_factory, key, value):
    folder = tmp_path_factory.mktemp("train")
    config = folder / "c.yaml"
    config.write_text("model: {name: micro}\ntask: {name: countdown, eval_problems: 0}\n"
                      "sft: {steps: 1, batch_size: 2}\n")
    code, err = run_cli(capsys, ["train", "-c", str(config), "--set", f"{key}={value}", "-o", str(folder / "run"),
                                 "-q", "--set", "sft.steps=1" if key != "sft.steps" else "seed=0"])
    check_outcome(code, err)
    nothing_half_written(folder)
    if code:
        assert not (folder / "run" / "checkpoints").exists()


@FUZZ
@given(lines=st.lists(st.one_of(
    st.text(max_size=40),
    st.fixed_dictionaries({
        "task": st.sampled_from(["countdown", 3]), "method": st.sampled_from(["full", "beacon:4", None]),
        "family": st.just("full"), "problem_id": st.text(max_size=3), "correct": st.booleans(),
        "prompt_tokens": st.integers(-2, 10), "generated_tokens": st.integers(0, 10),
        "peak_kv_entries": st.integers(-5, 30), "mean_kv_entries": st.floats(allow_nan=True, allow_infinity=True),
        "peak_kv_bytes": st.integers(0, 10**6), "mean_kv_bytes": st.floats(-1, 1e6), "time_s": st.floats(),
    }).map(json.dumps),
), max_size=6))
def test_report_any_results_file_exits_cleanly(capsys, tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("report")
    results = folder / "r.jsonl"
    results.write_text("\n".join(lines))
    code, err = run_cli(capsys, ["report", str(results), "-o", str(folder / "rep"), "--no-plot", "-q"])
    check_outcome(code, err)
    if (folder / "rep").exists():
        nothing_half_written(folder / "rep")
    if code == 0:
        summary = json.loads((folder / "rep" / "summary.json").read_text())
        for method in summary["methods"]:
            assert all(value is None or not isinstance(value, float) or math.isfinite(value)
                       for value in method.values())


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(), st.text(max_size=10))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=6), inner, max_size=3), max_leaves=8)
SECTIONS = {name: sorted(f.name for f in dataclasses.fields(kind))
            for name, kind in typing.get_type_hints(TrainConfig).items() if dataclasses.is_dataclass(kind)}


@st.composite
def config_documents(draw) -> dict:
    document = {}
    for section in draw(st.lists(st.sampled_from(sorted(SECTIONS)), max_size=4, unique=True)):
        keys = st.sampled_from(SECTIONS[section]) | st.text(max_size=5)
        document[section] = draw(st.dictionaries(keys, VALUES, max_size=4))
    for key in draw(st.lists(st.sampled_from(["seed", "device", "log_every", "mixed_precision", "bogus"]), max_size=2)):
        document[key] = draw(VALUES)
    return document


def assert_loads_or_refuses(path: Path, overrides: list[str] = ()) -> None:
    try:
        config = load_config(path, list(overrides))
    except BreadcrumbsError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert isinstance(config, TrainConfig)


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=config_documents())
def test_config_loader_any_document(tmp_path, document):
    path = tmp_path / "c.yaml"
    try:
        path.write_text(yaml.safe_dump(document, allow_unicode=True))
    except yaml.YAMLError:
        return
    assert_loads_or_refuses(path)


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode), overrides=st.lists(
    st.text(max_size=20) | st.builds("{}={}".format, st.sampled_from(["sft.lr", "rl.steps", "task.name", "a.b"]),
                                     st.text(max_size=10)), max_size=3))
def test_config_loader_any_bytes_and_overrides(tmp_path, data, overrides):
    path = tmp_path / "c.yaml"
    path.write_bytes(data)
    assert_loads_or_refuses(path, overrides)


@pytest.mark.parametrize("text", ["a: &x {b: 1}\nc: *x\n", "? [1, 2]\n: 3\n", "!!python/object:os.system {}\n",
                                  "a: 1\na: 2\n", "- 1\n- 2\n", "a: !!binary aGVsbG8=\n"])
def test_config_loader_yaml_corners(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert_loads_or_refuses(path)
