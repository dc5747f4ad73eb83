"""The dataset task: a user's JSONL / CSV of prompts and answers with a TRL-signature reward, through the task API,
`breadcrumbs tasks sample`, `eval` and `train` — and every bad input as one `error:` line with nothing left on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.tasks import get_task
from breadcrumbs.tasks.dataset import DatasetTask
from breadcrumbs.training import config_from_dict
from cli_runner import run_cli, write_jsonl

REWARD = '''
CALLS = []


def exact(prompts, completions, answer, **columns):
    """1 when the last line is `Answer: <answer>`; records each call (a batch) in CALLS."""
    CALLS.append(len(completions))
    lines = [c.strip().splitlines()[-1] if c.strip() else "" for c in completions]
    return [1.0 if line == f"Answer: {a}" else 0.0 for line, a in zip(lines, answer)]


def length(prompts, completions, **columns):
    return [min(len(c), 10) / 10 for c in completions]


def sees_columns(prompts, completions, answer, trace, level, **columns):
    assert "prompt" not in columns
    return [float(lv) for lv in level]


def boom(prompts, completions, answer, **columns):
    if any(a == "3" for a in answer):
        raise ValueError("bad row")
    return [0.0] * len(completions)


def short(prompts, completions, **columns):
    return [0.0]


def nan(prompts, completions, answer, **columns):
    return [float("nan") if a == "4" else 1.0 for a in answer]


def text(prompts, completions, **columns):
    return ["high"] * len(completions)


def half(prompts, completions, **columns):
    return [0.5] * len(completions)
'''


def rows(count: int = 30) -> list[dict]:
    """Addition rows with distinct prompts, a reference trace and an extra column."""
    out = []
    for i in range(count):
        a, b = i // 6, i % 6
        out.append({"prompt": f"{a}+{b}=?", "answer": str(a + b), "trace": f"{a}+{b}={a + b}\nAnswer: {a + b}",
                    "level": i % 3})
    return out


@pytest.fixture
def files(tmp_path: Path) -> Path:
    write_jsonl(tmp_path / "data.jsonl", rows())
    (tmp_path / "reward.py").write_text(REWARD)
    return tmp_path


def make(files: Path, **options) -> DatasetTask:
    return get_task("dataset", **{"path": str(files / "data.jsonl"), "reward": f"{files}/reward.py:exact", **options})


# ----- the task --------------------------------------------------------------------------------------------------
def test_rows_split_by_prompt_hash_and_traces_are_the_sft_target(files: Path) -> None:
    task = make(files)
    everything = task.fixed_problems()
    assert [p.data["prompt"] for p in everything] == [r["prompt"] for r in rows()]  # file order
    sizes = task.split_sizes()
    assert sum(sizes.values()) == 30 and all(sizes.values())
    for split in ("train", "dev", "test"):
        chosen = task.fixed_problems(split)
        assert len(chosen) == sizes[split]
        assert all(task.split_of(p.data) == split for p in chosen)
        assert [everything.index(p) for p in chosen] == sorted(everything.index(p) for p in chosen)
    assert f"{sizes['train']} train, {sizes['dev']} dev, {sizes['test']} test" in task.summary()
    # generate: the first n rows of the split, whatever the seed (no sampling with replacement)
    assert task.generate(2, seed=5, split="train") == task.fixed_problems("train")[:2]
    assert task.generate(999, seed=0, split="test") == task.fixed_problems("test")
    first = everything[0]
    assert task.prompt(first) == "0+0=?\n"
    assert task.solve(first) == "0+0=0\nAnswer: 0"
    # the same prompt lands in the same split whatever the row's other columns or position
    moved = get_task("dataset", path=str(write_jsonl(files / "moved.jsonl", list(reversed(rows())))))
    assert {p.data["prompt"]: moved.split_of(p.data) for p in moved.fixed_problems()} == {
        p.data["prompt"]: task.split_of(p.data) for p in everything
    }


def test_without_a_trace_column_the_target_is_the_answer_line(files: Path) -> None:
    plain = [{"q": r["prompt"], "a": r["answer"]} for r in rows()]
    task = get_task("dataset", path=str(write_jsonl(files / "plain.jsonl", plain)), prompt="q", answer="a")
    problem = task.fixed_problems()[7]
    assert task.solve(problem) == f"Answer: {plain[7]['a']}"
    assert task.prompt(problem) == plain[7]["q"] + "\n"


def test_csv_reads_like_jsonl(files: Path) -> None:
    lines = ["prompt,answer,level"] + [f"{r['prompt']},{r['answer']},{r['level']}" for r in rows()]
    (files / "data.csv").write_text("\n".join(lines) + "\n")
    task = get_task("dataset", path=str(files / "data.csv"), reward=f"{files}/reward.py:exact")
    assert [p.data["prompt"] for p in task.fixed_problems()] == [r["prompt"] for r in rows()]
    assert task.split_sizes() == make(files).split_sizes()


def test_reward_is_one_call_per_batch_with_every_column(files: Path) -> None:
    task = make(files)
    calls = task.rewards[0].function.__globals__["CALLS"]
    calls.clear()
    problems = task.fixed_problems()[:5]
    completions = [task.solve(p) for p in problems[:3]] + ["Answer: 99", ""]
    rewards, correct = task.score(problems, completions)
    assert rewards == [1.0, 1.0, 1.0, 0.0, 0.0] and correct == [True, True, True, False, False]
    assert calls == [5]  # one call for the batch, not one (or two) per completion
    columns = get_task("dataset", path=str(files / "data.jsonl"), reward=f"{files}/reward.py:sees_columns")
    assert columns.score(problems, completions)[0] == [float(p.data["level"]) for p in problems]


def test_several_rewards_with_weights_threshold_and_verifier(files: Path) -> None:
    ref = f"{files}/reward.py"
    problems = make(files).fixed_problems()[:2]
    completions = [make(files).solve(problems[0]), "Answer: 99 and more"]  # lengths 14 and 18 -> length reward 1.0
    task = make(files, reward=f"{ref}:exact,{ref}:length", reward_weights=[2.0, 0.5])
    rewards, correct = task.score(problems, completions)
    assert rewards == [2.5, 0.5]
    assert correct == [True, False]  # threshold 1.0
    assert make(files, reward=f"{ref}:half", threshold=0.5).score(problems, completions)[1] == [True, True]
    with_verifier = make(files, reward=f"{ref}:half", verifier=f"{ref}:exact")
    assert with_verifier.score(problems, completions) == ([0.5, 0.5], [True, False])
    # a module reference (package.module:function) works as well as a file path
    import sys

    sys.path.insert(0, str(files))
    try:
        assert make(files, reward="reward:exact").score(problems, completions)[0] == [1.0, 0.0]
    finally:
        sys.path.remove(str(files))


# ----- bad input: one clear error each ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        (None, {"prompt": "question"}, r"no prompt column 'question' \(columns: prompt, answer, trace, level\)"),
        (None, {"answer": "solution"}, r"no answer column 'solution'.*--column answer=COLUMN"),
        (None, {"trace": "reasoning"}, r"no trace column 'reasoning'"),
        ("", {}, r"has no rows"),
        ("\n\n", {}, r"has no rows"),
        ('{"prompt": "1+1=?", "answer": "2"}\n{"prompt": "2+2=?", "answer": \n', {}, r"data\.jsonl:2: invalid JSON"),
        ('{"prompt": "1+1=?", "answer": "2"}\n[1, 2]\n', {}, r"data\.jsonl:2: expected a JSON object"),
        ('{"prompt": "1+1=?", "answer": "2"}\n{"prompt": 7, "answer": "2"}\n', {},
         r"row 2 \(data\.jsonl:2\): the prompt \('prompt'\) must be a non-empty string, got 7"),
        ('{"prompt": "1+1=?", "answer": "2"}\n{"prompt": "  ", "answer": "2"}\n', {}, r"row 2 .*non-empty string"),
        ('{"prompt": "1+1=?", "answer": "2"}\n{"prompt": "x"}\n', {}, r"row 2 \(data\.jsonl:2\): no answer"),
        ('{"prompt": "1+1=?", "answer": "2", "trace": 5}\n', {}, r"row 1 .*trace \('trace'\) must be a string"),
        (None, {"reward": "nowhere.py:f"}, r"nowhere\.py:f: no file"),
        (None, {"reward": "{files}/reward.py:missing"}, r"has no function 'missing'"),
        (None, {"reward": "reward.py"}, r"must be path/to/file\.py:function or package\.module:function"),
        (None, {"reward": "no_such_module_xyz:f"}, r"cannot import no_such_module_xyz"),
        (None, {"reward": "{files}/reward.py:exact", "reward_weights": [1.0, 2.0]}, r"2 reward weights for 1"),
        (None, {"threshold": float("nan")}, r"threshold must be a finite number"),
    ],
)
def test_bad_files_and_references(files: Path, content: str | None, options: dict, message: str) -> None:
    if content is not None:
        (files / "data.jsonl").write_text(content)
    options = {key: value.format(files=files) if isinstance(value, str) else value for key, value in options.items()}
    with pytest.raises(BreadcrumbsError, match=message) as info:
        get_task("dataset", path=str(files / "data.jsonl"), **options)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("boom", r"reward .*reward\.py:boom raised ValueError: bad row on row 4 \(data\.jsonl:4\)"),
        ("short", r"reward .*reward\.py:short returned 1 values for 6 completions"),
        ("nan", r"reward .*reward\.py:nan returned nan for row 5 \(data\.jsonl:5\)"),
        ("text", r"reward .*reward\.py:text returned 'high' for row 1"),
    ],
)
def test_bad_rewards_name_the_function_and_row(files: Path, function: str, message: str) -> None:
    task = make(files, reward=f"{files}/reward.py:{function}")
    problems = task.fixed_problems()[:6]
    with pytest.raises(BreadcrumbsError, match=message):
        task.score(problems, [task.solve(p) for p in problems])


def test_missing_file_unknown_format_and_extras(files: Path) -> None:
    with pytest.raises(BreadcrumbsError, match="does not exist"):
        get_task("dataset", path=str(files / "nope.jsonl"))
    (files / "data.txt").write_text("x")
    with pytest.raises(BreadcrumbsError, match=r"unknown format '\.txt'"):
        get_task("dataset", path=str(files / "data.txt"))
    with pytest.raises(BreadcrumbsError, match="needs a file"):
        get_task("dataset")
    with pytest.raises(BreadcrumbsError, match="takes no option|unexpected keyword argument 'path'"):
        get_task("countdown", path="x")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        (files / "data.parquet").write_bytes(b"PAR1")
        with pytest.raises(BreadcrumbsError, match=r"needs pyarrow: pip install 'breadcrumbs\[datasets\]'"):
            get_task("dataset", path=str(files / "data.parquet"))
    try:
        import datasets  # noqa: F401
    except ImportError:
        (files / "hf").mkdir()
        with pytest.raises(BreadcrumbsError, match=r"needs the datasets package"):
            get_task("dataset", path=str(files / "hf"))


def test_a_file_too_small_for_a_split_states_the_sizes(files: Path) -> None:
    write_jsonl(files / "small.jsonl", rows(3))
    task = get_task("dataset", path=str(files / "small.jsonl"))
    empty = next(split for split, count in task.split_sizes().items() if count == 0)
    with pytest.raises(BreadcrumbsError, match=rf"3 rows; .* the {empty} split is empty; .*split: none"):
        task.fixed_problems(empty)
    assert len(task.fixed_problems(None)) == 3  # split none: the whole file


# ----- configs ---------------------------------------------------------------------------------------------------
def micro_config(files: Path, **task) -> dict:
    return {
        "model": {"name": "micro"},
        "task": {"name": "dataset", "path": str(files / "data.jsonl"), "reward": f"{files}/reward.py:exact",
                 "eval_problems": 8, **task},
        "beacon": {"ratios": [4]},
        "sft": {"steps": 2, "batch_size": 4, "lr": 0.01},
        "rl": {"steps": 2, "batch_size": 4, "group_size": 2, "max_new_tokens": 12},
        "eval": {"max_new_tokens": 12}, "checkpoint": {"every": 100},
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task": {"reward": ""}}, r"config key 'task\.reward' is missing"),
        ({"rl": {"format_reward": 0.1}}, r"config key 'rl\.format_reward' applies to built-in tasks"),
        ({"task": {"split": "maybe"}}, r"config key 'task\.split' must be one of hash, none"),
        ({"task": {"prompt": "question"}}, r"no prompt column 'question'"),
        ({"task": {"name": "countdown"}}, r"task countdown: got an unexpected keyword argument"),
        ({"task": {"difficulty": {"k": 3}}}, r"unknown difficulty knob 'k' for task dataset"),
    ],
)
def test_bad_dataset_configs(files: Path, change: dict, message: str) -> None:
    config = micro_config(files)
    for section, values in change.items():
        config[section] = {**config[section], **values}
    with pytest.raises(BreadcrumbsError, match=message):
        config_from_dict(config)


def test_config_refuses_a_file_too_small_unless_split_none(files: Path) -> None:
    write_jsonl(files / "small.jsonl", rows(3))
    config = micro_config(files, path=str(files / "small.jsonl"))
    with pytest.raises(BreadcrumbsError, match=r"small\.jsonl: 3 rows; by a hash of the prompt .* split is empty"):
        config_from_dict(config)
    config_from_dict(micro_config(files, path=str(files / "small.jsonl"), split="none"))


# ----- the command line ------------------------------------------------------------------------------------------
def test_tasks_sample_prints_rows_with_their_reference_trace(files: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run_cli(capsys, "tasks", "sample", "--task", "dataset", "--task-path", str(files / "data.jsonl"),
                         "--n", "3", "--trace", "direct")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["data"]["prompt"] for r in records] == [r["prompt"] for r in rows(3)]
    assert [r["completion"] for r in records] == [r["trace"] for r in rows(3)]
    assert "30 rows" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], r"^error: task dataset has no reward to score with: --reward REF"),
        (["--reward", "{files}/reward.py:exact", "--column", "prompt"], r"^error: --column expects prompt\|answer"),
        (["--reward", "{files}/reward.py:exact", "--reward-weights", "x"], r"^error: --reward-weights expects numbers"),
        (["--reward", "{files}/reward.py:boom"], r"^error: reward .*boom raised ValueError"),
    ],
)
def test_eval_bad_input_is_one_error_line_and_writes_nothing(
    files: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    out = files / "results" / "r.jsonl"
    if any("boom" in arg for arg in args):  # a reward that raises on these rows
        write_jsonl(files / "data.jsonl", [{"prompt": f"{i}?", "answer": "3"} for i in range(10)])
    code, _, err = run_cli(capsys, "eval", "--task", "dataset", "--task-path", str(files / "data.jsonl"),
                       *[a.format(files=files) for a in args], "--model", "micro", "--methods", "full",
                       "--max-new-tokens", "4", "--split", "none", "--out", str(out), "-q")
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and __import__("re").search(message, err.strip()), err
    assert not out.parent.exists()


def test_train_with_a_failing_reward_leaves_no_run_folder(files: Path, capsys: pytest.CaptureFixture) -> None:
    write_jsonl(files / "data.jsonl", [{"prompt": f"{i}?", "answer": "3"} for i in range(40)])
    config = micro_config(files, reward=f"{files}/reward.py:boom")
    (files / "bad.yaml").write_text(yaml.safe_dump(config))
    code, _, err = run_cli(capsys, "train", "--config", str(files / "bad.yaml"), "--out", str(files / "run"), "-q")
    assert code == 1 and err.startswith("error: reward") and "boom raised ValueError" in err, err
    assert not (files / "run").exists()


@pytest.mark.slow
def test_jsonl_and_reward_train_then_eval(files: Path, capsys: pytest.CaptureFixture) -> None:
    """The README's "Bring your own task", shrunk: 2 SFT + 2 RL steps through `breadcrumbs train`, then `eval`."""
    (files / "config.yaml").write_text(yaml.safe_dump(micro_config(files)))
    code, out, err = run_cli(capsys, "train", "--config", str(files / "config.yaml"), "--out", str(files / "run"), "-q")
    assert code == 0, err
    metrics = [json.loads(line) for line in (files / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["stage"] for m in metrics if m["kind"] == "train"] == ["sft", "sft", "rl", "rl"]
    assert all("reward" in m for m in metrics if m["kind"] == "train" and m["stage"] == "rl")
    assert "30 rows; by a hash of the prompt" in (files / "run" / "train.log").read_text()
    task = make(files)
    code, out, err = run_cli(capsys, "eval", "--model", str(files / "run" / "checkpoints" / "latest"),
                         "--task", "dataset", "--task-path", str(files / "data.jsonl"),
                         "--reward", f"{files}/reward.py:exact", "--methods", "full,beacon:4",
                         "--max-new-tokens", "12", "--out", str(files / "results.jsonl"), "-q")
    assert code == 0, err
    test_rows = task.fixed_problems("test")
    assert f"evaluating {len(test_rows)} of the {len(test_rows)} rows of the test split" in out
    records = [json.loads(line) for line in (files / "results.jsonl").read_text().splitlines()]
    assert [r["problem_id"] for r in records if r["method"] == "full"] == [p.id for p in test_rows]  # each once
    assert {r["method"] for r in records} == {"full", "beacon:4"}
    assert "| full |" in out and "| beacon:4 |" in out


@pytest.mark.slow
def test_readme_bring_your_own_task_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    """The README's section, block by block: its files written as shown, its commands run (fewer steps)."""
    import re
    import runpy
    import shlex

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Bring your own task\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\w+\n(.*?)```", section, re.S)
    make_data, reward, config, commands = blocks
    monkeypatch.chdir(tmp_path)
    (tmp_path / "make_data.py").write_text(make_data)
    (tmp_path / "reward.py").write_text(reward)
    (tmp_path / "byot.yaml").write_text(config)
    shrink = ["--set", "sft.steps=2", "--set", "sft.batch_size=4", "--set", "rl.steps=2", "--set", "rl.batch_size=8"]
    for line in commands.strip().splitlines():
        argv = shlex.split(line)
        if argv[0] == "python":
            runpy.run_path(argv[1], run_name="__main__")
            continue
        assert argv[0] == "breadcrumbs"
        argv = argv[1:] + (shrink if argv[1] == "train" else []) + (["-q"] if argv[1] in ("train", "eval") else [])
        code, out, err = run_cli(capsys, *argv)
        assert code == 0, (line, err)
    assert (tmp_path / "byot-report" / "report.md").is_file()
    assert "| beacon:4 |" in (tmp_path / "byot-report" / "report.md").read_text()
