"""The `Generator` seam: evaluation, RL rollouts and training-time evaluation decode through the backend a config,
the CLI or the caller names; the built-in backends agree; bad names fail before work."""

from __future__ import annotations

import json
import sys

import pytest

from breadcrumbs import generators
from breadcrumbs.cli import main
from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.evaluation import evaluate
from breadcrumbs.generators import LoopGenerator, generator_names, get_generator, register_generator
from breadcrumbs.models import load_model
from breadcrumbs.policies import BeaconPolicy, FullCache
from breadcrumbs.tasks import get_task
from breadcrumbs.training import config_from_dict, train

# A user's backend: the loop, counting the calls and the policies it was handed.
BACKEND = '''
from breadcrumbs.generators import LoopGenerator

CALLS = []


def make():
    loop = LoopGenerator()

    def generate(model, tokenizer, prompts, policy=None, **settings):
        CALLS.append((type(policy).__name__, len(prompts), settings.get("temperature")))
        return loop(model, tokenizer, prompts, policy, **settings)

    return generate
'''


@pytest.fixture
def backend(tmp_path, monkeypatch):
    """The module `countingbackend` on sys.path, fresh for each test; yields its list of calls."""
    (tmp_path / "countingbackend.py").write_text(BACKEND)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "countingbackend", raising=False)
    import countingbackend

    yield countingbackend.CALLS


def test_loop_and_static_backends_agree_token_for_token():
    model, tokenizer = load_model("micro")
    prompts = ["12+7=", "a longer prompt here"]
    for policy in (FullCache(), BeaconPolicy(4)):
        dynamic = get_generator("loop")(model, tokenizer, prompts, policy, max_new_tokens=24)
        static = get_generator("static")(model, tokenizer, prompts, policy, max_new_tokens=24)
        assert static.completion_ids == dynamic.completion_ids
        assert [s.peak_kv_entries for s in static.stats] == [s.peak_kv_entries for s in dynamic.stats]


def test_evaluate_decodes_through_the_named_backend(backend):
    model, tokenizer = load_model("micro")
    task = get_task("countdown")
    problems = task.generate(3, seed=0)
    result = evaluate(model, tokenizer, task, problems, "full,beacon:4", max_new_tokens=12, batch_size=2,
                      generator="countingbackend:make")
    assert [call[0] for call in backend] == ["FullCache", "FullCache", "BeaconPolicy", "BeaconPolicy"]
    assert sum(call[1] for call in backend) == 6
    assert {r["generator"] for r in result.records} == {"countingbackend:make"}
    plain = evaluate(model, tokenizer, task, problems, "full,beacon:4", max_new_tokens=12, batch_size=2)
    assert [r["correct"] for r in plain.records] == [r["correct"] for r in result.records]
    assert {r["generator"] for r in plain.records} == {"loop"}


def test_training_rollouts_and_evaluations_use_the_config_backend(backend, tmp_path):
    config = config_from_dict({
        "model": {"name": "micro"}, "generator": "countingbackend:make",
        "task": {"name": "countdown", "difficulty": {"k": 3, "max_number": 6, "max_target": 20}, "style": "direct",
                 "eval_problems": 2},
        "beacon": {"ratios": [4]}, "sft": {"steps": 0},
        "rl": {"steps": 1, "batch_size": 4, "group_size": 2, "max_new_tokens": 8, "temperature": 1.0},
        "eval": {"max_new_tokens": 8}, "checkpoint": {"every": 100},
    })
    train(config, tmp_path / "run", progress=False)
    sampled = [call for call in backend if call[2] == 1.0]
    greedy = [call for call in backend if call[2] is None]
    assert sampled == [("FullCache", 4, 1.0)]  # the one RL step's rollouts
    assert {call[0] for call in greedy} == {"FullCache", "BeaconPolicy"}  # the end-of-stage evaluation


def test_register_generator_adds_a_name(monkeypatch):
    monkeypatch.setattr(generators, "_GENERATORS", dict(generators._GENERATORS))  # leave the table as it was
    register_generator("loop-for-test", LoopGenerator)
    assert "loop-for-test" in generator_names()
    assert isinstance(get_generator("loop-for-test"), LoopGenerator)
    with pytest.raises(BreadcrumbsError, match="built in"):
        register_generator("loop", LoopGenerator)


@pytest.mark.parametrize("spec, message", [
    ("vllm", "unknown generator 'vllm'; use one of loop, static"),
    ("nosuchmodule_xyz:make", "cannot import nosuchmodule_xyz"),
    ("countingbackend:CALLS", "has no function 'CALLS'"),
])
def test_bad_backends_are_one_clear_error(spec, message, backend):
    with pytest.raises(BreadcrumbsError, match=message):
        get_generator(spec)
    with pytest.raises(BreadcrumbsError, match="config key 'generator'"):
        config_from_dict({"task": {"name": "countdown"}, "generator": spec})


def test_cli_refuses_an_unknown_backend_before_loading(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "--task", "countdown", "--model", "no/such/model", "--generator", "vllm",
              "--out", str(tmp_path / "r.jsonl")])
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: unknown generator 'vllm'; use one of loop, static, or path/to/file.py:factory"]
    assert not (tmp_path / "r.jsonl").exists()


def test_cli_eval_records_the_backend(tmp_path):
    out = tmp_path / "r.jsonl"
    main(["eval", "--task", "countdown", "--model", "micro", "--n", "2", "--methods", "full",
          "--max-new-tokens", "8", "--generator", "static", "--out", str(out), "-q"])
    assert {json.loads(line)["generator"] for line in out.read_text().splitlines()} == {"static"}
