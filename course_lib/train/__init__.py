"""Training: ``TrainConfig``, ``fit``, ``History``, checkpoints and multi-process data parallel.

A chapter trains a model in three lines::

    from course_lib import train
    config = train.TrainConfig(steps=500, lr=3e-3, clip_norm=1.0, eval_every=100)
    history = train.fit(model, train_batches, config, loss_fn=train.LanguageModelLoss(), val_data=val_batches)
    history.plot()

``fit`` handles the device, the optimiser and schedule, gradient clipping (recording the norm
before clipping), stateful truncated BPTT, validation over every held-out token, early stopping, a
progress bar, a live plot in notebooks, bfloat16 autocast on CUDA, atomic checkpoints with exact
resume, and ``DistributedDataParallel`` under ``torchrun`` (see ``train.distributed`` for how to run
on several GPUs or machines). Modules: ``config`` (``TrainConfig``, optimisers, schedules),
``loop`` (``fit``), ``losses`` (loss functions, ``evaluate``), ``history`` (``History``, early
stopping, callbacks), ``checkpoint`` (checkpoint files, ``RunState``, resuming), ``live``
(progress bar, live plot), ``distributed``. Nothing runs at import time.
"""

from __future__ import annotations

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import OPTIMIZERS, SCHEDULES, TrainConfig, build_optimizer, build_scheduler, lr_factor
from .ctc import CTCLoss
from .history import Callback, EarlyStopping, History, StepEvent, StopTraining
from .live import LivePlot
from .loop import fit
from .losses import (
    ClassificationLoss,
    LanguageModelLoss,
    LossFn,
    RegressionLoss,
    Seq2SeqLoss,
    StepResult,
    TaggingLoss,
    evaluate,
)

__all__ = [
    "TrainConfig",
    "OPTIMIZERS",
    "SCHEDULES",
    "fit",
    "evaluate",
    "History",
    "StepEvent",
    "StopTraining",
    "Callback",
    "StepResult",
    "LossFn",
    "LanguageModelLoss",
    "ClassificationLoss",
    "RegressionLoss",
    "TaggingLoss",
    "Seq2SeqLoss",
    "CTCLoss",
    "EarlyStopping",
    "LivePlot",
    "lr_factor",
    "build_optimizer",
    "build_scheduler",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
]
