"""Callbacks: a function ``fit`` calls after every optimizer step with a ``StepEvent``.

A callback can record things (weights, samples of generated text, timings), and can end the run
early by raising ``StopTraining``. Used by ``train.fit`` in the chapters that train models
(chapters 2-6), and by tests/test_checkpoint.py to kill a run mid-way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from .history import History

__all__ = ["StepEvent", "StopTraining", "Callback"]


@dataclass
class StepEvent:
    """What a callback sees after each optimizer step (after that step's validation and checkpoint).

    ``loss`` is this step's training loss as a device tensor (``.item()`` waits for the device);
    ``history`` holds the steps read back so far (every ``log_every``) and all validations;
    ``val_metrics`` is this step's validation, or None.
    """

    step: int
    epoch: int
    loss: Tensor
    model: nn.Module
    history: History
    val_metrics: dict[str, float] | None


class StopTraining(Exception):
    """Raise in a callback to end training after the current step (the run ends normally)."""


Callback = Callable[[StepEvent], None]
