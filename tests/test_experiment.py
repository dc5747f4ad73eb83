"""The long-reasoning experiment's path at micro size: every job runs as a subprocess, resumes, and writes the
ablation table and curves, the models table and the Pareto report (issue 12)."""

from __future__ import annotations

import json

import pytest

from breadcrumbs.recipes.experiment import ARMS, Settings, fingerprints, plan, run_experiment
from breadcrumbs.training import config_from_dict


def test_the_teacher_fingerprint_is_unchanged():
    """The recorded long run in experiments/countdown resumes from its teacher: its settings must not move."""
    assert fingerprints(plan(Settings()), Settings())["teacher"] == "58466af11ca312c9"


def test_every_recorded_job_is_this_plans():
    """What `--from-recorded` adopts: a change to the plan that moved a recorded job's fingerprint would make a new
    machine redo it (`git show` the record's commit for the plan that made it)."""
    import json
    from pathlib import Path

    recorded = Path(__file__).parent.parent / "docs" / "experiments" / "countdown" / "models"
    prints = fingerprints(plan(Settings()), Settings())
    records = [json.loads(path.read_text()) for path in recorded.glob("*/RECORD.json")]
    assert {"teacher", "mixed", "c8", "c8-lag2", "window", "joint-s0"} <= {r["job"] for r in records}
    assert {r["job"]: r["fingerprint"] for r in records} == {r["job"]: prints[r["job"]] for r in records}


def test_plan_configs_are_valid_and_arms_differ_only_in_their_signal():
    waves = plan(Settings())
    names = [job.name for wave in waves for job in wave]
    assert names[:3] == ["teacher", "mixed", "c8-lag2"] and len(names) == len(set(names))
    for job in (job for wave in waves for job in wave if job.config):
        config = dict(job.config, model={"name": "tiny"})  # '@run' names resolve to checkpoints at run time
        config_from_dict(config)
    arms = {job.name: job.config for job in waves[2]}
    assert {arms[f"{arm}-s0"]["time_budget_s"] for arm in ARMS} == {60 * Settings().arm_minutes}
    assert arms["joint-s0"]["distill"]["mode"] == "joint" and arms["rl-s0"]["distill"]["mode"] == "off"
    assert arms["distill-s0"]["rl"]["steps"] == 0 and arms["distill-s0"]["distill"]["mode"] == "two_stage"
    assert arms["sft-s0"]["sft"]["student_weight"] == 1.0 and "rl" not in arms["sft-s0"]
    assert arms["joint-s0"]["seed"] != arms["joint-s1"]["seed"]
    assert {job.config["device"] for job in plan(Settings.gpu())[0]} == {"cuda"}
    mixed = next(job for job in waves[1] if job.name == "mixed").config
    assert mixed["beacon"] == {"ratios": [2, 32], "sampling": "range"}
    window = next(job for wave in waves for job in wave if job.name == "window-joint-s0").config
    assert window["beacon"] == {"windows": list(Settings().window_sizes), "layout": "window", "sampling": "choice"}
    assert window["eval"]["windows"] == [Settings().window_sizes[-1]] and "ratios" not in window["eval"]
    assert window["distill"] == arms["joint-s0"]["distill"]
    assert window["model"]["name"] == "@window" and window["time_budget_s"] == arms["joint-s0"]["time_budget_s"]
    sweep = next(job for job in waves[-1] if job.sweep)
    assert sweep.model_of == "joint-s0"
    lagged = next(job for job in waves[1] if job.name == "c8-lag2").config
    assert lagged["beacon"] == {"ratios": [8], "sampling": "choice", "lag": 2} and lagged["model"]["name"] == "@teacher"
    assert lagged["sft"] == next(job for job in waves[1] if job.name == "c8").config["sft"]
    # the raw-tail student distilled on the RL rollouts: the joint arm's settings from its cross-entropy warm start
    tail = arms["joint-lag2-s0"]
    assert tail["model"]["name"] == "@c8-lag2" and tail["beacon"] == lagged["beacon"]
    assert tail["rl"] == arms["joint-s0"]["rl"] and tail["distill"] == {"mode": "joint"}
    assert arms["joint-s0"]["rl"]["algorithm"] == Settings().rl_update["algorithm"]
    assert "eval-joint-lag2-s0" in {job.name for job in waves[-1]}
    # the RL goal's measurement: every arm's teacher and the warm start on test problems of the RL difficulty
    from breadcrumbs.recipes.experiment import _evaluation_options

    s = Settings()
    on_rl = {job.name: job for job in waves[-1] if job.on_rl_difficulty}
    assert set(on_rl) == {"eval-rl-mixed", *(f"eval-rl-{arm}-s{seed}" for arm in ARMS for seed in s.seeds)}
    options = _evaluation_options(on_rl["eval-rl-joint-s1"], s)
    assert options[options.index("--max-new-tokens") + 1] == str(s.rl_eval_max_new_tokens)
    assert "max_number=30" in options and "max_number=20" not in options and "echo=1" in options
    # every recorded student again on test problems of another seed; seed 0 is eval's default and is not passed
    other = {job.name: job for job in waves[-1] if job.problem_seed}
    assert set(other) == {f"eval-{name}-seed1" for name in ("joint-s0", "mixed", "c8", "c8-lag2", "window")}
    assert other["eval-c8-lag2-seed1"].methods == ("full", "beacon:8:lag=2")
    options = _evaluation_options(other["eval-window-seed1"], s)
    assert options[options.index("--seed") + 1] == "1" and "max_number=20" in options
    assert all("--seed" not in _evaluation_options(job, s) for job in waves[-1] if not job.problem_seed)
    plain = _evaluation_options(next(job for job in waves[-1] if job.name == "eval-c8"), s)
    assert "max_number=20" in plain and plain[plain.index("--max-new-tokens") + 1] == str(s.max_new_tokens)
    assert arms["rl-s0"]["eval"]["max_new_tokens"] == s.rl_eval_max_new_tokens


@pytest.mark.slow
def test_micro_experiment_runs_end_to_end_and_resumes(tmp_path):
    (tmp_path / "elapsed").mkdir()
    (tmp_path / "elapsed" / "teacher").write_text("1000.0\n")  # an interrupted invocation spent 1,000 s on it
    out = run_experiment("countdown", tmp_path, scale="micro", log=lambda message: None)
    assert out == tmp_path
    for name in ("ablation.md", "ablation_curves.png", "models.md", "report/report.md", "report/pareto.png"):
        assert (out / name).stat().st_size > 0, name
    table = (out / "ablation.md").read_text()
    assert all(f"| {arm} | 1 |" in table for arm in ARMS)
    assert "RL difficulty" in table and table.count("% [") >= len(ARMS) + 1  # each arm's test CI and the start's
    record = json.loads((out / "experiment.json").read_text())
    assert {"teacher", "mixed", "c8", "window", "window-joint-s0", "joint-s0", "sweep"} <= set(record["wall_s"])
    assert 1000 < record["wall_s"]["teacher"] < 1000 + record["wall_s"]["this_invocation"]
    assert record["wall_s"]["mixed"] < record["wall_s"]["this_invocation"]
    report = (out / "report" / "report.md").read_text()
    assert "beacon:32" in report and "tova:@beacon:8" in report and "tova:@beacon:8@mean" in report
    assert "window:8" in report and "repeated" not in report
    assert (out / "results" / "sweep" / "tuning.json").exists() and "rkv:8" in report
    assert "| window control (after joint RL) | window:8 |" in (out / "models.md").read_text()
    assert "tova:@beacon:8:lag=1@mean" in (out / "report-c8-lag1" / "report.md").read_text()
    assert "beacon:8:lag=1" in report and "tova:@beacon:8:lag=1" not in report
    assert "| c8, eviction lag 1 (warm start) | beacon:8:lag=1 |" in (out / "models.md").read_text()
    # a rerun finds every job done and only rewrites the report
    (out / "report" / "report.md").unlink()
    run_experiment("countdown", tmp_path, scale="micro", log=lambda message: None)
    assert (out / "report" / "report.md").exists()
    assert json.loads((out / "experiment.json").read_text())["wall_s"]["teacher"] == record["wall_s"]["teacher"]


def test_countdown_long_config_is_the_experiments_main_line():
    from pathlib import Path

    from breadcrumbs.training import load_config

    config = load_config(Path(__file__).parent.parent / "configs" / "countdown-long.yaml")
    s = Settings()
    assert config.task.difficulty == s.difficulty and config.rl.difficulty == s.rl_difficulty
    assert config.model.name == s.model and config.beacon.ratios == [2, 32] and config.beacon.sampling == "range"
    assert config.sft.student_start == s.teacher_steps and config.sft.steps == s.teacher_steps + s.student_steps
    assert (config.sft.lr, config.sft.batch_size, config.rl.lr) == (s.sft_lr, s.sft_batch, s.rl_lr)
    assert (config.rl.batch_size, config.rl.group_size, config.rl.max_new_tokens) == (
        s.rl_batch, s.group_size, s.rl_max_new_tokens)
    assert {key: getattr(config.rl, key) for key in s.rl_update} == s.rl_update


def test_changed_settings_make_a_job_and_everything_built_on_it_stale(tmp_path):
    from breadcrumbs.errors import BreadcrumbsError
    from breadcrumbs.recipes.experiment import fingerprints, stale_jobs

    before = fingerprints(plan(Settings.micro()), Settings.micro())
    changed = Settings.micro()
    changed.student_steps += 1  # the second wave: every model built on it and every evaluation of those
    after = fingerprints(plan(changed), changed)
    assert before["teacher"] == after["teacher"] and before["mixed"] != after["mixed"]
    assert before["joint-s0"] != after["joint-s0"] and before["sweep"] != after["sweep"]
    assert fingerprints(plan(changed), changed) == after  # stable across calls
    for name, fingerprint in after.items():  # a run of the changed plan; the micro plan is `before`
        (tmp_path / "started").mkdir(exist_ok=True)
        (tmp_path / "started" / name).write_text(fingerprint + "\n")
    (tmp_path / "runs" / "mixed").mkdir(parents=True)
    (tmp_path / "runs" / "mixed" / "metrics.jsonl").write_text("{}\n")
    stale = stale_jobs(tmp_path, before)
    assert "teacher" not in stale and {"mixed", "joint-s0", "eval-joint-s0", "sweep"} <= set(stale)
    with pytest.raises(BreadcrumbsError, match="--restart-changed") as error:
        run_experiment("countdown", tmp_path, scale="micro", log=lambda message: None)
    assert "mixed" in str(error.value) and (tmp_path / "runs" / "mixed" / "metrics.jsonl").exists()
    from breadcrumbs.recipes.experiment import set_aside

    (tmp_path / "results" / "sweep").mkdir(parents=True)
    folder = set_aside(tmp_path, ["mixed", "sweep"], log=lambda message: None)
    assert (folder / "runs" / "mixed" / "metrics.jsonl").exists() and (folder / "started" / "mixed").exists()
    assert (folder / "results" / "sweep").is_dir() and not (tmp_path / "results" / "sweep").exists()
    assert not (tmp_path / "runs" / "mixed").exists() and (tmp_path / "started" / "teacher").exists()
    assert set_aside(tmp_path, ["mixed"], log=lambda message: None) != folder  # never into an earlier folder


def test_jobs_finished_before_fingerprints_are_adopted_once(tmp_path):
    from breadcrumbs.recipes.experiment import adopt_finished, fingerprints, stale_jobs

    expected = fingerprints(plan(Settings.micro()), Settings.micro())
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "teacher").write_text("12.0\n")  # an older driver's marker: the wall time alone
    adopted = []
    adopt_finished(tmp_path, expected, adopted.append)
    assert (tmp_path / "started" / "teacher").read_text().strip() == expected["teacher"] and len(adopted) == 1
    assert not (tmp_path / "started" / "mixed").exists() and stale_jobs(tmp_path, expected) == []


def test_plan_listing_names_every_job_with_its_state_and_estimate(tmp_path):
    from breadcrumbs.recipes.experiment import show_plan

    waves = plan(Settings())
    text = show_plan("countdown", tmp_path, "cpu", parallel=2)
    for job in (job for wave in waves for job in wave):
        assert f"  {job.name} " in text, job.name
    assert text.splitlines()[0].startswith(f"{sum(len(w) for w in waves)} jobs in {len(waves)} waves")
    teacher = next(line for line in text.splitlines() if line.strip().startswith("teacher "))
    assert "SFT 3000 steps" in teacher and "to run" in teacher and "~62 min" in teacher
    before = float(text.splitlines()[-1].split("~")[1].split()[0])
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "teacher").write_text("3000.0\n")
    after_text = show_plan("countdown", tmp_path, "cpu", parallel=2)
    assert "done in 50.0 min" in after_text
    after = float(after_text.splitlines()[-1].split("~")[1].split()[0])
    assert after == pytest.approx(before - 62.5 / 60, abs=0.06)
    assert show_plan("countdown", tmp_path, "micro").endswith("remaining: unknown at this scale")


def test_only_runs_the_named_jobs_and_the_runs_they_start_from(tmp_path):
    from breadcrumbs.errors import BreadcrumbsError

    with pytest.raises(BreadcrumbsError, match="unknown experiment job 'nope'"):
        run_experiment("countdown", tmp_path / "refused", scale="micro", only=["nope"], log=lambda message: None)
    assert not (tmp_path / "refused").exists()  # refused before anything is written
    out = run_experiment("countdown", tmp_path / "out", scale="micro", only=["eval-c8"], log=lambda message: None)
    assert sorted(path.name for path in (out / "done").iterdir()) == ["c8", "eval-c8", "teacher"]
    assert (out / "results" / "eval-c8.jsonl").stat().st_size > 0 and not (out / "report").exists()
