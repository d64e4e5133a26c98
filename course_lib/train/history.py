"""``History``: what happened during ``train.fit``, step by step, as plain lists.

Per optimizer step: the training loss, the gradient norm before clipping and the learning rate.
Per validation: every metric the loss function reports (``loss``, ``accuracy``, ``ppl``, ...).
It converts to plain dicts and JSON (for checkpoints and for saving results next to a figure)
and plots itself. Returned by ``fit`` in every chapter that trains a model.

Two things watch the run as it goes. ``EarlyStopping`` tracks a validation metric and says when it
has stopped improving (keeping the best weights if asked); its state goes into checkpoints.
Callbacks are functions ``fit`` calls after every optimizer step with a ``StepEvent``: they can
record things (weights, samples, timings) and end the run early by raising ``StopTraining``.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor, nn

__all__ = ["History", "EarlyStopping", "StepEvent", "StopTraining", "Callback"]

_TRAIN_SERIES = ("loss", "grad_norm", "lr")


@dataclass
class History:
    """Training and validation records of one run (``fit`` fills it; chapters read and plot it).

    ``step[i]`` is the optimizer step (1-based) at which ``loss[i]`` (mean training loss of that
    step's batch), ``grad_norm[i]`` (global L2 norm of the gradients before clipping) and ``lr[i]``
    (learning rate used by that step) were recorded. ``val_step[j]`` is the step after which the
    validation metrics ``val[name][j]`` were computed. ``stop_reason`` says why training ended
    ("steps", "epochs", "early_stopping", "callback") and ``best_step`` which validation was best.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    val: dict[str, list[float]] = field(default_factory=dict)
    stop_reason: str | None = None
    best_step: int | None = None

    def log_train(
        self, steps: Sequence[int], losses: Sequence[float], grad_norms: Sequence[float], lrs: Sequence[float]
    ) -> None:
        """Append the records of consecutive steps (``fit`` reads them from the device in bulk)."""
        if not len(steps) == len(losses) == len(grad_norms) == len(lrs):
            raise ValueError(
                f"log_train needs equally long sequences, got {len(steps)}, {len(losses)}, "
                f"{len(grad_norms)}, {len(lrs)}"
            )
        if steps and self.step and steps[0] <= self.step[-1]:
            raise ValueError(f"steps must increase: got step {steps[0]} after step {self.step[-1]}")
        self.step.extend(int(s) for s in steps)
        self.loss.extend(float(v) for v in losses)
        self.grad_norm.extend(float(v) for v in grad_norms)
        self.lr.extend(float(v) for v in lrs)

    def log_val(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record one validation: the same metric names every time."""
        if self.val and set(metrics) != set(self.val):
            raise KeyError(f"validation metrics changed from {sorted(self.val)} to {sorted(metrics)}")
        self.val_step.append(int(step))
        for name, value in metrics.items():
            self.val.setdefault(name, []).append(float(value))

    def last_val(self) -> dict[str, float]:
        """The most recent validation metrics ({} before the first validation)."""
        return {name: values[-1] for name, values in self.val.items()}

    def best(self, metric: str = "loss", mode: str = "min") -> tuple[int, float]:
        """(step, value) of the best validation ``metric`` (``mode`` 'min' or 'max')."""
        if metric not in self.val:
            raise KeyError(f"no validation metric {metric!r}; recorded: {sorted(self.val)}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        values = self.val[metric]
        pick = min if mode == "min" else max
        j = pick(range(len(values)), key=lambda i: values[i])
        return self.val_step[j], values[j]

    def __len__(self) -> int:
        return len(self.step)

    # --- plain data ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers only (JSON-ready; ``History.from_dict`` inverts it)."""
        return {
            "step": list(self.step),
            "loss": list(self.loss),
            "grad_norm": list(self.grad_norm),
            "lr": list(self.lr),
            "val_step": list(self.val_step),
            "val": {k: list(v) for k, v in self.val.items()},
            "stop_reason": self.stop_reason,
            "best_step": self.best_step,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        expected = set(cls().to_dict())
        if set(data) != expected:
            raise KeyError(f"a History dict has the keys {sorted(expected)}, got {sorted(data)}")
        return cls(**{k: (dict(v) if k == "val" else v) for k, v in data.items()})

    def to_json(self, path: str | Path | None = None) -> str:
        """The JSON text (NaN and inf written as JSON's ``NaN``/``Infinity``); also saved to ``path``."""
        text = json.dumps(self.to_dict())
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> History:
        is_path = isinstance(text_or_path, Path) or not str(text_or_path).lstrip().startswith("{")
        text = Path(text_or_path).read_text() if is_path else str(text_or_path)
        return cls.from_dict(json.loads(text))

    # --- plotting -------------------------------------------------------------------------------
    def plot(self, ax: Any = None, metric: str = "loss", smooth: int = 1, log_y: bool = False) -> Any:
        """Plot ``metric`` against the step and return the matplotlib Axes.

        ``metric="loss"`` draws the per-step training loss (a running mean over ``smooth`` steps)
        and the validation loss; ``"grad_norm"`` and ``"lr"`` draw those training series; any other
        name draws that validation metric. ``ax=None`` makes a new pyplot figure.
        """
        if ax is None:
            import matplotlib.pyplot as plt  # only when asked to plot: importing pyplot is slow

            _, ax = plt.subplots(figsize=(6, 3.5))
        if metric in _TRAIN_SERIES:
            values = getattr(self, metric)
            label = "train" if metric == "loss" else metric
            ax.plot(self.step, _running_mean(values, smooth), label=label, lw=1, alpha=0.85)
        if metric in self.val:
            ax.plot(self.val_step, self.val[metric], "o-", label="validation", ms=3)
        elif metric not in _TRAIN_SERIES:
            raise KeyError(f"cannot plot {metric!r}: use one of {_TRAIN_SERIES} or {sorted(self.val)}")
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        if log_y:
            ax.set_yscale("log")
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        return ax


def _running_mean(values: Sequence[float], window: int) -> list[float]:
    """Mean of the last ``window`` values at each position (fewer at the start; NaNs skipped)."""
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"smooth must be an int >= 1, got {window!r}")
    if window == 1 or not values:
        return list(values)
    padded = np.concatenate([np.full(window - 1, np.nan), np.asarray(values, dtype=float)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)  # (len(values), window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN window gives NaN, as it should
        return np.nanmean(windows, axis=1).tolist()


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
