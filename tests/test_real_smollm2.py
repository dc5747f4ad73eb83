"""The beacon invariant and the user paths on a real pretrained model: SmolLM2-135M-Instruct (Llama architecture,
30 layers, tied embeddings, BPE tokenizer with a chat template), its GGUF file de-quantised to float32 once per
machine (`converted_fixture`: `convert_gguf`, which reads the GGUF with `load_gguf`; the README test below converts
it again through the CLI and checks both agree exactly).

The fixture comes from `scripts/fetch_fixtures.py`; without it these tests skip with that command as the reason.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch

from breadcrumbs import BeaconPolicy, FullCache, generate
from breadcrumbs.chat import encode_prompt, uses_chat
from breadcrumbs.gguf import convert_gguf, load_gguf
from breadcrumbs.models import BEACON_TOKEN, beacon_token_id, load_model
from breadcrumbs.cli import main
from fixture_files import SMOLLM2, converted_fixture, fetch_fixtures, require_fixture
from test_equivalence import incremental_logits, parallel_logits
from test_generation import student_argmax

VOCAB = 49_152
PROMPTS = ["What is the capital of France?", "Using 3, 5 and 7, make 22. Think step by step."]
COMPLETIONS = [
    "The capital of France is Paris.",
    "First, 3 + 5 = 8. Then 8 + 7 = 15, too small. Try 3 * 5 = 15, then 15 + 7 = 22.\nAnswer: 3*5+7",
]
REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SMALLER = {  # appended to the README's commands: the same commands at test size (a later option wins)
    "convert": ["-q"],
    "generate": ["-n", "8", "-q"],
    "train": [f"--set={key}" for key in (
        "sft.steps=2", "sft.batch_size=2", "rl.steps=1", "rl.batch_size=2", "rl.group_size=2", "rl.max_new_tokens=8",
        "eval.max_new_tokens=8", "task.eval_problems=2", "device=cpu",
    )] + ["-q"],
    "eval": ["--n", "2", "--max-new-tokens", "8", "--device", "cpu", "-q"],
}
# Float32 through 30 layers: the parallel forward and the evicting decode add the same terms in different orders.
TOLERANCE = 5e-4  # measured: 5.9e-5 (c=2), 7.8e-5 (c=4), 1.1e-4 (c=16)


@pytest.fixture(scope="module")
def smollm2():
    return load_model(str(converted_fixture(SMOLLM2)), dtype=torch.float32)


@pytest.fixture(scope="module")
def batch(smollm2):
    _, tokenizer = smollm2
    prompts = [encode_prompt(tokenizer, text) for text in PROMPTS]
    completions = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in COMPLETIONS]
    return prompts, completions


def test_gguf_loads_as_a_beacon_ready_chat_model(smollm2):
    model, tokenizer = smollm2
    config = model.config
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == ("llama", 30, 576)
    assert model.dtype == torch.float32 and config.tie_word_embeddings
    assert beacon_token_id(tokenizer) == VOCAB and model.get_input_embeddings().num_embeddings == VOCAB + 1
    weight = model.get_input_embeddings().weight
    assert model.get_output_embeddings().weight is weight
    torch.testing.assert_close(weight[VOCAB], weight[:VOCAB].mean(dim=0))
    assert uses_chat(tokenizer)
    prompt = tokenizer.decode(encode_prompt(tokenizer, "hi"))
    assert prompt.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.parametrize("ratio", [2, 4, 16])
def test_parallel_student_forward_equals_evicting_decode(smollm2, batch, ratio):
    model, tokenizer = smollm2
    prompts, completions = batch
    incremental, _ = incremental_logits(model, tokenizer, prompts, completions, ratio)
    worst = 0.0
    for padding_side in ("left", "right"):
        parallel = parallel_logits(model, tokenizer, prompts, completions, ratio, padding_side)
        worst = max(worst, *((p - i).abs().max().item() for p, i in zip(parallel, incremental)))
    plain = parallel_logits(model, tokenizer, prompts, completions, None, "left")
    changed = max((p - i).abs().max().item() for p, i in zip(plain, incremental))
    print(f"SmolLM2 c={ratio}: max |diff| = {worst:.2e} (beacons vs full cache: {changed:.1f})")
    assert worst <= TOLERANCE
    assert changed > 1.0  # the beacon layout really changes a pretrained model's logits


@pytest.mark.parametrize("ratio", [2, 4])
def test_greedy_beacon_generation_equals_step_by_step_decode(smollm2, batch, ratio):
    """Every token the evicting loop chose greedily is the argmax of one parallel forward over the student layout
    (which recomputes every position from scratch, with no cache)."""
    model, tokenizer = smollm2
    prompts, _ = batch
    out = generate(model, tokenizer, prompts, policy=BeaconPolicy(ratio), max_new_tokens=20)
    assert student_argmax(model, tokenizer, prompts, out.completion_ids, ratio) == out.completion_ids


def test_ratio_beyond_the_generation_equals_hf_generate(smollm2, batch):
    model, tokenizer = smollm2
    prompts, _ = batch
    ours = generate(model, tokenizer, prompts, policy=BeaconPolicy(64), max_new_tokens=24)
    for prompt, completion in zip(prompts, ours.completion_ids):
        reference = model.generate(
            torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long), do_sample=False,
            max_new_tokens=24, pad_token_id=tokenizer.pad_token_id,
        )
        assert reference[0, len(prompt) :].tolist() == completion


def test_chat_answer_is_sensible_under_beacons(smollm2):
    """An untrained beacon still leaves the instruct model answering in its chat format (not an empty text)."""
    model, tokenizer = smollm2
    for policy in (FullCache(), BeaconPolicy(4)):
        out = generate(model, tokenizer, [PROMPTS[0]], policy=policy, max_new_tokens=16)
        assert "Paris" in out.texts[0], (policy.label, out.texts[0])
        assert BEACON_TOKEN not in out.texts[0]


def readme_commands() -> list[list[str]]:
    """The commands of README.md's "Bring your own model" block, as argument lists (comments dropped)."""
    section = README.read_text().split("## Bring your own model", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def run_cli(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as exit_:
        assert exit_.code in (0, None), f"breadcrumbs {' '.join(args)} exited {exit_.code}"


@pytest.mark.slow
def test_readme_commands_run_as_written(smollm2, tmp_path, monkeypatch, capsys):
    """Fetch, convert, generate, train, eval and report exactly as the README says (fewer steps and problems,
    appended as later options), in a scratch directory; the CLI's conversion equals the fixture's `convert_gguf`."""
    model, tokenizer = smollm2
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(REPO / "configs")
    commands = readme_commands()
    assert [c[1] for c in commands] == ["scripts/fetch_fixtures.py", "convert", "generate", "train", "eval", "report"]
    for args in commands:
        args = [arg.replace("~/.cache/breadcrumbs/fixtures", str(fetch_fixtures.fixtures_dir())) for arg in args]
        if args[0] == "python":
            assert fetch_fixtures.main(["--check"]) == 0  # present; the script fetches nothing more
            continue
        capsys.readouterr()
        run_cli(args[1:] + SMALLER.get(args[1], []))
        if args[1] == "convert":
            assert "de-quantizing" not in capsys.readouterr().err  # -q: transformers' own tqdm bar silenced too
            assert "quantization_config" not in json.loads(Path("models/smollm2/config.json").read_text())
            converted, converted_tokenizer = load_model("models/smollm2")
            for key, value in converted.state_dict().items():
                torch.testing.assert_close(value, model.state_dict()[key], rtol=0, atol=0)
            for text in PROMPTS + COMPLETIONS:
                assert encode_prompt(converted_tokenizer, text) == encode_prompt(tokenizer, text)
    records = [json.loads(line) for line in Path("runs/smollm2-countdown/results.jsonl").read_text().splitlines()]
    assert len(records) == 6 and {"full", "beacon:4"} < {r["method"] for r in records}
    assert Path("runs/smollm2-countdown/report/report.md").is_file()


def test_gguf_file_errors_are_one_clear_line(tmp_path):
    from breadcrumbs.errors import BreadcrumbsError

    vocab_only = require_fixture("vocab/ggml-vocab-phi-3.gguf")
    with pytest.raises(BreadcrumbsError, match="holds no weights"):
        load_gguf(vocab_only)
    gguf = pytest.importorskip("gguf")
    unknown = tmp_path / "unknown.gguf"
    writer = gguf.GGUFWriter(str(unknown), "notanarch")
    writer.add_tensor("x", torch.zeros(4, 4).numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(BreadcrumbsError, match="architecture notanarch is not supported.*Convert the model"):
        load_gguf(unknown)
    (tmp_path / "bad.gguf").write_text("not gguf")
    with pytest.raises(BreadcrumbsError, match="not a readable GGUF file"):
        load_model(str(tmp_path / "bad.gguf"))
    with pytest.raises(BreadcrumbsError, match="already exists"):
        convert_gguf(vocab_only, tmp_path)
