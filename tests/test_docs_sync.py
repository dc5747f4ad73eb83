"""Docs that cannot drift (issue 26 item 5): every training config key is in docs/training.md's key table, every
built-in task knob in docs/tasks.md's knob tables (with its range and default), and every command of a ```bash
block in README.md and docs/*.md either runs in CI or is marked.

A command is one line of a block (`\\` continuations joined; comment-only lines are prose). It is accounted for
when it is
- marked: its trailing comment starts with a `MARKERS` word — `# long` (minutes to hours), `# needs a local model`
  (a checkpoint or files only the user has), `# gpu` (CUDA or several processes on GPUs), e.g.
  `breadcrumbs demo   # long: the main job, ~11 min`;
- covered: listed in `COVERED` with the existing test that runs it as written; or
- run here: listed in `RUN` with the options appended to shrink it (later options win), run in order with the
  other commands of its block in one scratch directory.
The shape-only presets (`breadcrumbs.shapes`) are checked against their models' published parameter counts.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from pathlib import Path

import pytest

from breadcrumbs.cli import main
from breadcrumbs.training.config import TrainConfig, load_config
from breadcrumbs.training.plan import make_plan, model_shape

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKERS = ("long", "needs a local model", "gpu")

# Commands an existing test runs as written (shrunk by later options): command -> "file::test".
COVERED = {
    "python scripts/fetch_fixtures.py": "tests/test_real_smollm2.py::test_readme_commands_run_as_written",
    "breadcrumbs convert ~/.cache/breadcrumbs/fixtures/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf models/smollm2":
        "tests/test_real_smollm2.py::test_readme_commands_run_as_written",
    'breadcrumbs generate --model models/smollm2 --policy beacon:4 -n 32 -p "What is the capital of France?"':
        "tests/test_real_smollm2.py::test_readme_commands_run_as_written",
    "breadcrumbs train --config configs/smollm2-countdown.yaml --out runs/smollm2-countdown":
        "tests/test_real_smollm2.py::test_readme_commands_run_as_written",
    "breadcrumbs eval --model runs/smollm2-countdown/checkpoints/latest --task countdown --n 16 --difficulty k=3 "
    "--difficulty max_number=10 --difficulty max_target=30 --max-new-tokens 64 --methods full,beacon:4,tova:@beacon:4 "
    "--out runs/smollm2-countdown/results.jsonl": "tests/test_real_smollm2.py::test_readme_commands_run_as_written",
    "breadcrumbs report runs/smollm2-countdown/results.jsonl --out runs/smollm2-countdown/report":
        "tests/test_real_smollm2.py::test_readme_commands_run_as_written",
    "python make_data.py": "tests/test_dataset_task.py::test_readme_bring_your_own_task_runs_as_written",
    "breadcrumbs tasks sample --task dataset --task-path data.jsonl --n 2 --trace direct":
        "tests/test_dataset_task.py::test_readme_bring_your_own_task_runs_as_written",
    "breadcrumbs train --config byot.yaml --out runs/byot":
        "tests/test_dataset_task.py::test_readme_bring_your_own_task_runs_as_written",
    "breadcrumbs eval --model runs/byot/checkpoints/latest --task dataset --task-path data.jsonl --reward "
    "reward.py:exact --methods full,beacon:4 --max-new-tokens 16 --out byot.jsonl":
        "tests/test_dataset_task.py::test_readme_bring_your_own_task_runs_as_written",
    "breadcrumbs report byot.jsonl --out byot-report":
        "tests/test_dataset_task.py::test_readme_bring_your_own_task_runs_as_written",
    "python $BREADCRUMBS/examples/trl_beacons.py --data data.jsonl --reward reward.py:exact --beacon_ratios 4 "
    "--output_dir runs/byot-trl": "tests/test_trl_integration.py::test_readme_trl_commands_run_as_written",
    "breadcrumbs eval --model runs/byot-trl --task dataset --task-path data.jsonl --reward reward.py:exact --methods "
    "full,beacon:4 --max-new-tokens 16 --out byot-trl.jsonl":
        "tests/test_trl_integration.py::test_readme_trl_commands_run_as_written",
    "torchrun --nproc_per_node 2 --no-python breadcrumbs train --config configs/countdown-tiny.yaml --device cpu "
    "--out runs/ddp": "tests/test_train_ddp.py::test_two_processes_match_one",
    "python docs/real-models/compare_curves.py docs/real-models/student/metrics.jsonl "
    "docs/real-models/student-lora/metrics.jsonl --names all-weights,lora-r16 --bin 150":
        "tests/test_records.py::test_the_lora_comparison_table_is_what_its_command_prints",
}

TINY_TRAIN = ["--set", "sft.steps=2", "--set", "sft.student_start=0", "--set", "rl.steps=0", "--set",
              "task.eval_problems=2", "--set", "eval.max_new_tokens=8", "--set", "checkpoint.every=1", "--quiet"]
TINY_RL = ["--set", "rl.batch_size=4", "--set", "rl.group_size=2", "--set", "rl.max_new_tokens=8"]
# Commands this file runs, shrunk: command -> options appended.
RUN = {
    "breadcrumbs tasks sample --task countdown --n 3 --trace search": [],
    "breadcrumbs experiment countdown --plan": [],
    "breadcrumbs train --config configs/stargraph-tiny.yaml --out runs/sg": TINY_TRAIN,
    "breadcrumbs eval --model runs/sg/checkpoints/latest --task stargraph --n 200 --methods "
    "full,beacon:4,beacon:8,tova:@beacon:4,h2o:@beacon:8 --out results.jsonl": ["--n", "2", "--max-new-tokens", "8",
                                                                                  "--quiet"],
    "breadcrumbs report results.jsonl --out report/": ["--no-plot", "--quiet"],
    'breadcrumbs generate --model runs/sg/checkpoints/latest --policy beacon:4 -p "..." --json': ["-n", "4"],
    "breadcrumbs eval --model runs/byot/checkpoints/latest --prompts prompts.jsonl --methods beacon:4,tova:@beacon:4 "
    "--max-new-tokens 64 --out drift.jsonl": ["--model", "micro", "--max-new-tokens", "4", "--quiet"],
    "breadcrumbs report drift.jsonl --out drift-report": ["--no-plot", "--quiet"],
    "breadcrumbs train --config configs/qwen2.5-1.5b-countdown.yaml --plan --processes 8": [],
    "breadcrumbs train --config configs/qwen2.5-1.5b-countdown.yaml --plan --processes 8 --set "
    "model.name=/models/Qwen2.5-1.5B-Instruct": [],
    "breadcrumbs train --config configs/countdown-tiny.yaml --out runs/countdown-tiny": TINY_TRAIN,
    "breadcrumbs train --config configs/countdown-tiny.yaml --set rl.steps=50 --set beacon.ratios=[2,4,8]":
        [*TINY_TRAIN, "--set", "rl.steps=1", *TINY_RL, "--out", "runs/ratios"],
    "breadcrumbs train --out runs/countdown-tiny --resume": ["--quiet"],
    "breadcrumbs train --out runs/countdown-tiny --resume --set rl.steps=80": ["--set", "rl.steps=1", *TINY_RL,
                                                                               "--quiet"],
}
# Files a run-here command reads that its section shows only in prose.
SCRATCH_FILES = {"prompts.jsonl": "".join(json.dumps({"prompt": p}) + "\n" for p in ("2+2=", "Say hi."))}


def commands(path: Path) -> list[tuple[str, str]]:
    """(command, trailing comment) of every command line of the ```bash blocks of `path`."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            command, _, comment = line.partition(" #")
            found.append((" ".join(command.split()), comment.strip()))
    return found


def marked(comment: str) -> bool:
    return any(re.match(rf"{re.escape(marker)}\b", comment) for marker in MARKERS)


def all_commands() -> list[tuple[Path, str, str]]:
    return [(path, command, comment) for path in DOCS for command, comment in commands(path)]


def test_every_documented_command_runs_in_ci_or_is_marked():
    unaccounted = [f"{path.name}: {command}" for path, command, comment in all_commands()
                   if not marked(comment) and command not in COVERED and command not in RUN]
    assert not unaccounted, "mark these (# long / # needs a local model / # gpu), cover or run them:\n" + "\n".join(
        unaccounted)


def test_covering_tests_exist():
    for path, command, comment in all_commands():
        if command in COVERED and not marked(comment):
            file, _, name = COVERED[command].partition("::")
            assert re.search(rf"^def {name}\(", (ROOT / file).read_text(), re.M), f"{COVERED[command]} is gone"


def test_documented_commands_run_shrunk(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    for name, text in SCRATCH_FILES.items():
        (tmp_path / name).write_text(text)
    ran = []
    for _, command, comment in all_commands():
        if command not in RUN or marked(comment):
            continue
        args = shlex.split(command)[1:] + RUN[command]
        try:
            main(args)
        except SystemExit as done:
            assert done.code in (0, None), f"{command} exited {done.code}: {capsys.readouterr().err}"
        ran.append(command)
    assert set(ran) == set(RUN), f"listed in RUN but in no doc: {set(RUN) - set(ran)}"
    out = capsys.readouterr().out
    assert "planning with the shipped shape of Qwen2.5-1.5B-Instruct" in out  # --plan without the checkpoint
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    # the README chain evaluates at the trained difficulty without a flag, and the report says so
    assert summary["settings"]["stargraph"]["difficulty"]["d"] == 2
    assert (tmp_path / "drift-report" / "report.md").is_file()


def config_keys(kind: type = TrainConfig, prefix: str = "") -> list[str]:
    """Every dotted key of the training schema (nested dataclasses)."""
    keys = []
    for item in dataclasses.fields(kind):
        default = item.default_factory() if item.default_factory is not dataclasses.MISSING else item.default
        if dataclasses.is_dataclass(default):
            keys += config_keys(type(default), f"{prefix}{item.name}.")
        else:
            keys.append(prefix + item.name)
    return keys


def test_every_config_key_is_in_the_training_docs():
    rows = [line for line in (ROOT / "docs" / "training.md").read_text().splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([a-z0-9_.]+)`", row.split("|")[1])}
    missing = [key for key in config_keys() if key not in documented]
    assert not missing, f"docs/training.md's key table lacks {missing}"
    assert len(config_keys()) > 60  # the walk reached the nested sections


def test_every_task_knob_is_in_the_task_docs():
    from breadcrumbs.tasks import get_task
    from breadcrumbs.tasks.dataset import DatasetTask
    from breadcrumbs.tasks.registry import list_tasks, task_origin

    built_in = [name for name in list_tasks() if "built-in" in task_origin(name)]
    assert set(built_in) == {"countdown", "dataset", "linsys", "stargraph"}
    assert DatasetTask.knobs == ()  # nothing to document for the dataset task
    text = (ROOT / "docs" / "tasks.md").read_text()
    for name in ("countdown", "linsys", "stargraph"):
        section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        for knob in get_task(name).knobs:
            row = f"| `{knob.name}` | {knob.low}..{knob.high} | {knob.default} |"
            assert row in section, f"docs/tasks.md, {name}: no row starting {row!r}"


@pytest.mark.parametrize("config, params", [("qwen2.5-1.5b-countdown.yaml", 1_543_714_304),
                                            ("phi-4-mini-countdown.yaml", 3_836_021_760)])
def test_paper_configs_plan_from_their_shape_without_weights(config, params):
    loaded = load_config(ROOT / "configs" / config)
    assert not Path(loaded.model.name).exists()
    shape = model_shape(loaded)
    assert shape.params == params  # the published parameter count: the shape is the model's
    assert shape.note and "shipped shape" in shape.note
    plan = make_plan(loaded, processes=8)
    assert plan.text().splitlines()[0] == shape.note
