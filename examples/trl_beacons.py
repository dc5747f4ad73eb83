"""Train beacons with TRL's GRPOTrainer on your own JSONL and reward function.

    python examples/trl_beacons.py --data data.jsonl --reward reward.py:exact --output_dir runs/trl

`--data`: a JSONL file with a `prompt` column (every other column, e.g. `answer`, reaches the reward by name);
`--reward`: `path/to/file.py:function` or `package.module:function` with TRL's signature,
`f(prompts, completions, **columns) -> list[float]` (several: comma-separated); `--model`: a preset (`micro`,
`tiny`, ...), a local checkpoint directory or a `.gguf` file. Every `GRPOConfig` flag works (`--use_vllm true` on a
GPU, `--learning_rate`, `--max_steps`, ...), plus the beacon flags of `BeaconGRPOConfig` (`--beacon_ratios 4 8`,
`--beacon_lag`, `--distill_weight`, `--distill_direction`). Runs under `accelerate launch` as it is. The model is
saved to `--output_dir`, ready for `breadcrumbs eval --model DIR`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset
from trl import TrlParser

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.integrations.trl import BeaconGRPOConfig, BeaconGRPOTrainer
from breadcrumbs.tasks.rewards import load_function, split_refs

CPU_DEFAULTS = {  # small, CPU-friendly defaults; every one can be overridden on the command line
    "max_steps": 20, "per_device_train_batch_size": 8, "num_generations": 4, "max_completion_length": 16,
    "learning_rate": 3e-3, "logging_steps": 1, "save_strategy": "no", "report_to": "none", "bf16": False,
    "beacon_ratios": [4],
}


@dataclass
class ScriptArguments:
    data: str = field(metadata={"help": "JSONL file with a prompt column (other columns reach the reward)."})
    reward: str = field(metadata={"help": "Reward function(s): path/to/file.py:function, comma-separated."})
    model: str = field(default="micro", metadata={"help": "Preset name, checkpoint directory or .gguf file."})


def read_jsonl(path: str) -> Dataset:
    """A `datasets.Dataset` of the file's rows; one error naming the file and line when a row is not an object
    with a string `prompt`."""
    rows = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise BreadcrumbsError(f"cannot read {path}: {err.strerror}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            raise BreadcrumbsError(f"{path}:{number}: not JSON ({err})") from None
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
            raise BreadcrumbsError(f"{path}:{number}: each row needs a string 'prompt'")
        rows.append(row)
    if not rows:
        raise BreadcrumbsError(f"{path} has no rows")
    return Dataset.from_list(rows)


def main(argv: list[str] | None = None) -> BeaconGRPOTrainer:
    parser = TrlParser((ScriptArguments, BeaconGRPOConfig))
    parser.set_defaults(**CPU_DEFAULTS)
    script, config = parser.parse_args_and_config(argv)
    rewards = [load_function(ref) for ref in split_refs(script.reward)]
    trainer = BeaconGRPOTrainer(script.model, rewards, config, train_dataset=read_jsonl(script.data))
    trainer.train()
    trainer.save_model(config.output_dir)
    if trainer.accelerator.is_main_process:
        print(f"saved {config.output_dir} (breadcrumbs eval --model {config.output_dir})")
    return trainer


if __name__ == "__main__":
    try:
        main()
    except BreadcrumbsError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
