"""``TrainConfig``: every knob of ``train.fit`` in one dataclass, checked when it is built, and
the optimisers and learning-rate schedules it names.

Chapters build one, print it, and pass it to ``fit``; a bad value fails here with a message that
names the field and what it accepts, not deep inside torch. ``lr_factor`` is the schedule as a plain
function, so a chapter can plot it; ``build_scheduler`` wraps it in ``LambdaLR`` so that it is
saved and restored with checkpoints. Used from chapter 1 onwards.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

__all__ = ["TrainConfig", "OPTIMIZERS", "SCHEDULES", "build_optimizer", "build_scheduler", "lr_factor"]

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "cosine", "linear")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class TrainConfig:
    """How ``train.fit`` trains: length, optimiser, schedule, clipping, validation, checkpoints.

    Length: exactly one of ``steps`` (optimizer steps) or ``epochs`` (passes over the data).
    Optimiser: ``optimizer`` in ``OPTIMIZERS`` with ``lr``, ``weight_decay`` and ``momentum``
    (SGD and RMSprop only). Schedule: ``schedule`` in ``SCHEDULES`` after ``warmup_steps`` of linear
    warm-up (see ``train.lr_factor``). ``clip_norm``: clip the global gradient norm (the pre-clip
    norm is recorded either way). Validation every ``eval_every`` steps (and always at the end when
    there is validation data); early stopping (needs ``eval_every``) after ``patience`` validations
    without an improvement of ``monitor`` by more than ``min_delta`` in direction ``monitor_mode``;
    ``restore_best`` loads the best weights back at the end. Checkpoints every ``checkpoint_every``
    steps (and at the end) in ``checkpoint_dir``; ``resume=True`` continues from the checkpoint
    there if there is one.
    ``seed`` seeds everything ``fit`` draws (dropout, data order). ``device``: ``"auto"`` (CUDA, then
    MPS, then CPU, via ``course_lib.env.get_device``) or a torch device string. ``amp``: bfloat16
    autocast on CUDA (no effect elsewhere). ``progress`` / ``live_plot``: ``"auto"`` shows a tqdm bar
    in terminals and notebooks and a live loss plot in notebooks only, and nothing under a
    non-interactive build (``MPLBACKEND=Agg``). ``log_every``: every how many steps the per-step
    losses and norms are read back from the device (besides validation and checkpoints, the only
    time ``fit`` waits for a GPU).
    """

    steps: int | None = None
    epochs: int | None = None
    lr: float = 1e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    momentum: float = 0.0
    schedule: str = "constant"
    warmup_steps: int = 0
    clip_norm: float | None = None
    eval_every: int | None = None
    patience: int | None = None
    monitor: str = "loss"
    monitor_mode: Literal["min", "max"] = "min"
    min_delta: float = 0.0
    restore_best: bool = False
    checkpoint_every: int | None = None
    checkpoint_dir: str | Path | None = None
    resume: bool = False
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    progress: bool | Literal["auto"] = "auto"
    live_plot: bool | Literal["auto"] = "auto"
    log_every: int = 10

    def __post_init__(self) -> None:
        self._check_length()
        self._check_optimisation()
        self._check_periodic()
        self._check_switches()

    def _check_length(self) -> None:
        if (self.steps is None) == (self.epochs is None):
            raise ValueError(
                "TrainConfig needs exactly one of steps (optimizer steps) or epochs (passes over the "
                f"data), got steps={self.steps!r}, epochs={self.epochs!r}"
            )
        for name in ("steps", "epochs"):
            _positive_int_or_none(self, name)
        if not _is_int(self.warmup_steps) or self.warmup_steps < 0:
            raise ValueError(f"TrainConfig.warmup_steps must be an int >= 0, got {self.warmup_steps!r}")
        if self.steps is not None and self.warmup_steps >= self.steps and self.warmup_steps > 0:
            raise ValueError(
                f"TrainConfig.warmup_steps ({self.warmup_steps}) must be smaller than steps ({self.steps})"
            )

    def _check_optimisation(self) -> None:
        if not _is_number(self.lr) or self.lr <= 0:
            raise ValueError(f"TrainConfig.lr must be a finite number > 0, got {self.lr!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"TrainConfig.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not _is_number(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(f"TrainConfig.weight_decay must be a number >= 0, got {self.weight_decay!r}")
        if not _is_number(self.momentum) or not 0 <= self.momentum < 1:
            raise ValueError(f"TrainConfig.momentum must be a number in [0, 1), got {self.momentum!r}")
        if self.momentum and self.optimizer not in ("sgd", "rmsprop"):
            raise ValueError(
                f"TrainConfig.momentum applies to optimizer 'sgd' or 'rmsprop', not {self.optimizer!r}"
            )
        if self.clip_norm is not None and (not _is_number(self.clip_norm) or self.clip_norm <= 0):
            raise ValueError(f"TrainConfig.clip_norm must be None or a number > 0, got {self.clip_norm!r}")

    def _check_periodic(self) -> None:
        for name in ("eval_every", "patience", "checkpoint_every"):
            _positive_int_or_none(self, name)
        if not _is_int(self.log_every) or self.log_every < 1:
            raise ValueError(f"TrainConfig.log_every must be an int >= 1, got {self.log_every!r}")
        if not isinstance(self.monitor, str) or not self.monitor:
            raise ValueError(f"TrainConfig.monitor must name a validation metric, got {self.monitor!r}")
        if self.monitor_mode not in ("min", "max"):
            raise ValueError(f"TrainConfig.monitor_mode must be 'min' or 'max', got {self.monitor_mode!r}")
        if not _is_number(self.min_delta) or self.min_delta < 0:
            raise ValueError(f"TrainConfig.min_delta must be a number >= 0, got {self.min_delta!r}")
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, (str, Path)):
            raise ValueError(
                f"TrainConfig.checkpoint_dir must be None, a str or a Path, got {self.checkpoint_dir!r}"
            )
        if self.patience is not None and self.eval_every is None:
            raise ValueError("TrainConfig.patience counts validations: set TrainConfig.eval_every too")
        for name in ("checkpoint_every", "resume"):
            if getattr(self, name) and self.checkpoint_dir is None:
                raise ValueError(f"TrainConfig.{name} needs TrainConfig.checkpoint_dir (a folder)")

    def _check_switches(self) -> None:
        for name in ("restore_best", "resume", "amp"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"TrainConfig.{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("progress", "live_plot"):
            value = getattr(self, name)
            if not (value is True or value is False or (isinstance(value, str) and value == "auto")):
                raise ValueError(f"TrainConfig.{name} must be True, False or 'auto', got {value!r}")
        if not _is_int(self.seed) or not 0 <= self.seed < 2**32:
            raise ValueError(f"TrainConfig.seed must be an int in [0, 2**32), got {self.seed!r}")
        if not isinstance(self.device, str):
            raise ValueError(f"TrainConfig.device must be 'auto' or a device string, got {self.device!r}")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except RuntimeError as err:
                raise ValueError(
                    f"TrainConfig.device must be 'auto' or a torch device such as 'cpu', 'cuda', "
                    f"'cuda:1', 'mps', got {self.device!r}"
                ) from err

    def check_data(self, *, has_val_data: bool, steps_per_epoch: int | None) -> None:
        """The checks that need to know the data: called by ``fit`` before it starts."""
        wanted = [f"TrainConfig.{n}" for n in ("eval_every", "patience", "restore_best") if getattr(self, n)]
        if wanted and not has_val_data:
            raise ValueError(f"{', '.join(wanted)} set, so fit needs val_data (held-out batches)")
        if self.schedule != "constant" and self.total_steps(steps_per_epoch) is None:
            raise ValueError(
                f"TrainConfig.schedule={self.schedule!r} needs a known number of steps: set steps, or "
                "give training data with a len()"
            )

    def total_steps(self, steps_per_epoch: int | None) -> int | None:
        """Optimizer steps in the whole run, or None when counted in epochs of unknown length."""
        if self.steps is not None:
            return self.steps
        if steps_per_epoch is None:
            return None
        return self.epochs * steps_per_epoch  # type: ignore[operator]

    def to_dict(self) -> dict[str, Any]:
        """Plain values (paths as strings), for checkpoints and JSON."""
        out = dataclasses.asdict(self)
        if out["checkpoint_dir"] is not None:
            out["checkpoint_dir"] = str(out["checkpoint_dir"])
        return out


def _positive_int_or_none(config: TrainConfig, name: str) -> None:
    value = getattr(config, name)
    if value is not None and (not _is_int(value) or value < 1):
        raise ValueError(f"TrainConfig.{name} must be None or an int >= 1, got {value!r}")


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
