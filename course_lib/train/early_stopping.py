"""``EarlyStopping``: stop when a validation metric has not improved for ``patience`` validations.

It remembers the best value, the step it was reached at and, if asked, a copy of the weights
then, so ``fit`` can put them back at the end. Its state goes into checkpoints. Used by
``train.fit`` in the chapters and labs that train models (chapters 2-6).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Track ``monitor`` over validations; ``should_stop`` after ``patience`` without improvement.

    An improvement is a value below ``best - min_delta`` (``mode="min"``) or above
    ``best + min_delta`` (``mode="max"``); NaN never improves. ``patience=None`` only tracks the
    best (for ``History.best_step`` and ``keep_best``). ``keep_best`` keeps a copy of the model's
    ``state_dict`` at the best validation in ``best_weights``.
    """

    def __init__(
        self, monitor: str = "loss", mode: str = "min", patience: int | None = None, min_delta: float = 0.0,
        keep_best: bool = False,
    ) -> None:  # fmt: skip
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.keep_best = keep_best
        self.best: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self.best_weights: dict[str, Tensor] | None = None

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_evals >= self.patience

    def _improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, step: int, metrics: Mapping[str, float], model: nn.Module) -> bool:
        """Record one validation; True if it is the best so far."""
        if self.monitor not in metrics:
            raise KeyError(
                f"TrainConfig.monitor={self.monitor!r} is not a validation metric: {sorted(metrics)}"
            )
        value = float(metrics[self.monitor])
        if not self._improves(value):
            self.bad_evals += 1
            return False
        self.best, self.best_step, self.bad_evals = value, step, 0
        if self.keep_best:
            self.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return True

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_step": self.best_step,
            "bad_evals": self.bad_evals,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self.best_step = state["best"], state["best_step"]
        self.bad_evals, self.best_weights = state["bad_evals"], state["best_weights"]
