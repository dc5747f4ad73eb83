"""Bad input to the core gives one clear error: a BreadcrumbsError in Python, one `error:` line and a non-zero
exit code (no traceback) on the command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from breadcrumbs import BeaconPolicy, BreadcrumbsError, FullCache, generate, policy_from_spec
from breadcrumbs.beacon import build_student_batch
from conftest import tiny_model


@pytest.mark.parametrize("ratio", [0, -3, 2.5, "4", True])
def test_bad_ratio(ratio):
    with pytest.raises(BreadcrumbsError, match="ratio must be an integer >= 1"):
        BeaconPolicy(ratio)
    with pytest.raises(BreadcrumbsError, match="ratio"):
        build_student_batch([[1, 2]], [[3, 4]], ratio, beacon_id=3, pad_id=0)


@pytest.mark.parametrize(
    "spec, message",
    [("tova2", "unknown policy"), ("beacon", "needs a number"), ("beacon:x", "not a whole number"),
     ("full:3", "takes no argument"), ("beacon:0", "ratio must be")],
)
def test_bad_policy_spec(spec, message):
    with pytest.raises(BreadcrumbsError, match=message):
        policy_from_spec(spec)


def test_attention_without_mask_path_is_refused(qwen2_tiny):
    model, tokenizer = tiny_model("qwen2")
    model.config._attn_implementation = "flash_attention_2"
    with pytest.raises(BreadcrumbsError, match="cannot take a custom attention mask"):
        generate(model, tokenizer, ["x"], policy=FullCache(), max_new_tokens=2)


def test_sliding_window_layers_are_refused():
    model, tokenizer = tiny_model("qwen2")
    model.config.layer_types = ["sliding_attention", "full_attention"]
    with pytest.raises(BreadcrumbsError, match="non-full-attention layers"):
        generate(model, tokenizer, ["x"], policy=BeaconPolicy(2), max_new_tokens=2)


def test_prompt_longer_than_context(qwen2_tiny):
    model, tokenizer = qwen2_tiny
    with pytest.raises(BreadcrumbsError, match="context is 512"):
        generate(model, tokenizer, ["x" * 600], max_new_tokens=4)
    # Beacons take positions too: 400 + 100 fits a full cache but not with a beacon every token.
    generate(model, tokenizer, ["x" * 399], policy=FullCache(), max_new_tokens=100)
    with pytest.raises(BreadcrumbsError, match="needs 598 positions"):
        generate(model, tokenizer, ["x" * 399], policy=BeaconPolicy(1), max_new_tokens=100)


def test_max_new_tokens_must_be_positive(qwen2_tiny):
    model, tokenizer = qwen2_tiny
    with pytest.raises(BreadcrumbsError, match="max_new_tokens must be >= 1"):
        generate(model, tokenizer, ["x"], max_new_tokens=0)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "breadcrumbs", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "-p", "x", "--policy", "beacon:0"], "ratio must be an integer >= 1"),
        (["generate", "-p", "x", "--policy", "nope:3"], "unknown policy 'nope'"),
        (["generate", "-p", "x", "--model", "/no/such/dir"], "no model at '/no/such/dir'"),
        (["generate", "-p", "x" * 5000, "-m", "micro"], "shorten the prompt"),
        (["generate", "-p", "x", "--device", "tpu"], "--device 'tpu'"),
        (["generate", "-p", "x", "--no-such-flag"], "No such option"),
        (["generate"], "Missing option"),
    ],
)
def test_cli_bad_input_is_one_line(args, message):
    result = run_cli(*args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_generate_prints_text_and_kv_figures():
    result = run_cli("generate", "-m", "micro", "-p", "12 7 -> 5", "--policy", "beacon:4", "-n", "12", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "[beacon:4] prompt 10 + generated 12 tokens" in result.stdout
    assert "KV entries peak 16" in result.stdout  # 10 + floor(10/4)=2 beacons + window of 4
