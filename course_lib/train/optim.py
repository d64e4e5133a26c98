"""Optimisers and learning-rate schedules named in ``TrainConfig``.

``lr_factor`` is the schedule as a plain function, so a chapter can plot it; ``build_scheduler``
wraps it in ``torch.optim.lr_scheduler.LambdaLR`` so it is saved and restored with checkpoints.
Used by ``train.fit`` (chapter 2 onwards).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from .config import OPTIMIZERS, SCHEDULES, TrainConfig

__all__ = ["build_optimizer", "build_scheduler", "lr_factor"]


def build_optimizer(params: Iterable[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimiser that ``config.optimizer`` names, with its lr and weight decay."""
    params = list(params)
    name, lr, wd = config.optimizer, config.lr, config.weight_decay
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def lr_factor(step: int, schedule: str, warmup_steps: int = 0, total_steps: int | None = None) -> float:
    """Multiplier of the base lr for optimizer step ``step`` (0-based).

    Warm-up: ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps, so the first step
    already moves. Then, with ``p = (step - warmup) / (total - warmup)`` running from 0 towards 1:
    ``constant`` 1, ``linear`` ``1 - p``, ``cosine`` ``(1 + cos(pi p)) / 2``. The last step keeps a
    small positive lr.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if total_steps is None or total_steps <= warmup_steps:
        raise ValueError(
            f"schedule {schedule!r} needs total_steps > warmup_steps ({warmup_steps}), got {total_steps}"
        )
    p = min((step - warmup_steps) / (total_steps - warmup_steps), 1.0)
    if schedule == "linear":
        return 1.0 - p
    return 0.5 * (1.0 + math.cos(math.pi * p))


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int | None
) -> torch.optim.lr_scheduler.LRScheduler:
    """A ``LambdaLR`` following ``lr_factor`` for ``config``; call ``.step()`` after every optimizer step."""
    schedule, warmup = config.schedule, config.warmup_steps

    # A plain function (not an object) so LambdaLR's state_dict keeps only the step count: a resumed
    # run then follows its own config's schedule rather than one pickled in the checkpoint.
    def rule(step: int) -> float:
        return lr_factor(step, schedule, warmup, total_steps)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, rule)
