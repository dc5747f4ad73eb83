"""Training data: problems drawn deterministically from (seed, stage, step), encoded solver traces, sharding.

Data order is a pure function of the run seed and the global step, so a resumed run sees exactly the batches an
uninterrupted run would, and every process can compute the global batch and take its own contiguous shard.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

from breadcrumbs.chat import encode_prompt
from breadcrumbs.tasks import Problem, Task
from breadcrumbs.training.config import TaskConfig

# The dev problems evaluated during training come from derive_seed(seed + EVAL_SEED_OFFSET, "eval"), a seed no
# training step uses (the one definition; the demo's held-out problems use demo.DEMO_HELDOUT_SEED_OFFSET)
EVAL_SEED_OFFSET = 7_919_000_003


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (same on every machine and Python version)."""
    digest = hashlib.sha256(":".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class ProblemSource:
    """The problems of each step. A fixed pool (`train_problems > 0`) is walked in a per-epoch shuffled order;
    otherwise every step draws fresh problems from its own seed.

    Training problems come only from the task's "train" split and held-out problems only from its "dev" split
    (`Task.split_of`, a hash of each problem's canonical key), so no evaluation problem ever occurs in a training
    stream, whatever the seeds, stages or difficulties (`task.split: none` lifts the split: every stage reads the
    whole set). A task with a fixed set (a dataset) is always a pool: its train rows (the first `train_problems`
    when set), and its first `eval_problems` dev rows. `difficulty` maps a stage ("sft", "rl", "distill", "eval")
    to knobs applied on top of the task's difficulty."""

    def __init__(self, task: Task, config: TaskConfig, seed: int, difficulty: dict[str, dict] | None = None):
        self.task = task
        self.config = config
        self.seed = seed
        self.stage_difficulty = difficulty or {}
        self.train_split, self.eval_split = ("train", "dev") if config.split == "hash" else (None, None)
        self.pool: list[Problem] | None = task.fixed_problems(self.train_split)
        self._orders: dict[int, list[int]] = {}
        if self.pool is not None:
            self.pool = self.pool[: config.train_problems or None]
        elif config.train_problems:
            self.pool = task.generate(
                config.train_problems, seed=derive_seed(seed, "pool"), split=self.train_split, **self.difficulty("sft")
            )

    def difficulty(self, stage: str) -> dict:
        """The knobs of `stage`'s problems: the task's difficulty updated with the stage's own."""
        return {**self.config.difficulty, **self.stage_difficulty.get(stage, {})}

    def _pool_order(self, epoch: int) -> list[int]:
        if epoch not in self._orders:
            order = list(range(len(self.pool)))
            random.Random(derive_seed(self.seed, "epoch", epoch)).shuffle(order)
            self._orders = {epoch: order}  # keep one epoch's order (batches walk epochs forward)
        return self._orders[epoch]

    def batch(self, stage: str, step: int, size: int) -> list[Problem]:
        """The `size` problems of `stage` step `step` (0-based within the stage)."""
        if self.pool is None:
            return self.task.generate(
                size, seed=derive_seed(self.seed, stage, step), split=self.train_split, **self.difficulty(stage)
            )
        start = step * size  # the data cursor: position in the endless sequence of shuffled epochs
        out = []
        for index in range(start, start + size):
            epoch, offset = divmod(index, len(self.pool))
            out.append(self.pool[self._pool_order(epoch)[offset]])
        return out

    def cursor(self, stage: str, step: int, size: int) -> dict:
        """Where the data stream stands after `step` steps (saved with checkpoints for transparency)."""
        position = step * size
        if self.pool is None:
            return {"stage": stage, "step": step, "problems_seen": position}
        epoch, offset = divmod(position, len(self.pool))
        return {"stage": stage, "step": step, "problems_seen": position, "epoch": epoch, "offset": offset}

    def eval_problems(self) -> list[Problem]:
        """The held-out problems evaluated during training (dev split; final reports use the test split)."""
        if not self.config.eval_problems:
            return []
        return self.task.generate(
            self.config.eval_problems, seed=derive_seed(self.seed + EVAL_SEED_OFFSET, "eval"), split=self.eval_split,
            **self.difficulty("eval"),
        )


def encode_prompts(tokenizer: PreTrainedTokenizerBase, task: Task, problems: Sequence[Problem]) -> list[list[int]]:
    """Prompt token ids (through the chat template when the model uses one, see `breadcrumbs.chat`)."""
    return [encode_prompt(tokenizer, task.prompt(problem)) for problem in problems]


def encode_completion(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Completion token ids of `text`, followed by EOS."""
    return tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def encode_traces(
    tokenizer: PreTrainedTokenizerBase, task: Task, problems: Sequence[Problem], style: str
) -> tuple[list[list[int]], list[list[int]]]:
    """(prompt ids, solver-trace ids + EOS) per problem: the supervised warm-start data."""
    prompts = encode_prompts(tokenizer, task, problems)
    completions = [encode_completion(tokenizer, task.solve(problem, style=style)) for problem in problems]
    return prompts, completions


def shard(items: Sequence, rank: int, world: int) -> list:
    """This process's contiguous share of a global batch (the global size must divide evenly)."""
    per = len(items) // world
    return list(items[rank * per : (rank + 1) * per])


def sample_ratios(ratios: Sequence, count: int, seed: int, weights: Sequence[float] | None = None) -> list:
    """One compression ratio (student view) per sequence from `ratios`, uniformly or by `weights` (all the same
    when there is one)."""
    if len(ratios) == 1:
        return [ratios[0]] * count
    rng = random.Random(seed)
    if weights is not None:
        return rng.choices(list(ratios), weights=list(weights), k=count)
    return [rng.choice(list(ratios)) for _ in range(count)]
