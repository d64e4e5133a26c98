"""``History``: what happened during ``train.fit``, step by step, as plain lists.

Per optimizer step: the training loss, the gradient norm before clipping and the learning rate.
Per validation: every metric the loss function reports (``loss``, ``accuracy``, ``ppl``, ...).
It converts to plain dicts and JSON (for checkpoints and for saving results next to a figure)
and plots itself. Returned by ``fit`` in every chapter that trains a model.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["History"]

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
