"""Training: supervised warm start on solver traces, then joint RL + beacon distillation (see docs/training.md).

>>> from breadcrumbs.training import load_config, train
>>> config = load_config("configs/countdown-tiny.yaml", ["rl.steps=10"])
>>> checkpoint = train(config, "runs/countdown-tiny")  # an HF checkpoint dir with the <beacon> token
"""

from breadcrumbs.training.config import TrainConfig, config_from_dict, dump_config, load_config
from breadcrumbs.training.trainer import Trainer, evaluate, train

__all__ = ["TrainConfig", "Trainer", "config_from_dict", "dump_config", "evaluate", "load_config", "train"]
