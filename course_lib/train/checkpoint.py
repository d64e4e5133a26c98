"""Checkpoints that survive a kill, and resuming a ``fit`` run exactly where it stopped.

``RunState`` is everything a run changes as it trains, so everything a checkpoint holds;
``save_run`` writes it and ``load_run`` puts it back (``fit`` owns one ``RunState`` and calls
these two). Data order must come from random states a checkpoint saves: ``install_data_generator``
gives a shuffling ``DataLoader`` a ``torch.Generator`` seeded with ``TrainConfig.seed`` and lists
every generator that decides the order. ``check_compatible`` refuses to resume under settings that
would make it a different run.

The file format: checkpoints are written atomically, verified when read, RNG states included.

A checkpoint file is a short header (a magic line and the sha256 of the payload) followed by a
``torch.save`` payload of plain data: tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)`` and runs no pickled code. It is written to a temporary file in the
same folder, flushed to disk and moved over the old one with ``os.replace``, so a crash at any
moment leaves either the old checkpoint or the new one, never half of one. ``train.fit`` keeps one
file, ``<checkpoint_dir>/checkpoint.pt``; resuming from it repeats the uninterrupted run bit for bit
on the CPU (tests/test_checkpoint.py checks it, including a process killed with SIGKILL).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import RandomSampler

from ..data.batching import map_tensors, to_device
from .config import TrainConfig
from .distributed import DistContext, gather_objects
from .history import EarlyStopping, History

__all__ = [
    "CHECKPOINT_FILE",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "capture_rng",
    "restore_rng",
    "RunState",
    "save_run",
    "load_run",
    "install_data_generator",
    "check_compatible",
    "MUST_MATCH",
]

CHECKPOINT_FILE = "checkpoint.pt"
_MAGIC = b"course_lib checkpoint v1\n"
_DIGEST_LEN = 64  # hex characters of a sha256


class CheckpointError(ValueError):
    """A checkpoint file that cannot be trusted: wrong format, truncated or corrupted."""


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temporary file, fsync, ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest().encode("ascii")
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(_MAGIC + digest + b"\n")
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the new name points at them
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); silently skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and verify a checkpoint written by ``save_checkpoint``.

    Raises ``FileNotFoundError`` if there is none and ``CheckpointError`` (naming the file) if it is
    not a course_lib checkpoint or its contents do not match the recorded sha256.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    raw = path.read_bytes()
    if not raw.startswith(_MAGIC):
        raise CheckpointError(f"{path} is not a course_lib checkpoint (its header is missing)")
    start = len(_MAGIC) + _DIGEST_LEN + 1
    digest, data = raw[len(_MAGIC) : start - 1], raw[start:]
    if hashlib.sha256(data).hexdigest().encode("ascii") != digest:
        raise CheckpointError(
            f"{path} is corrupt: its contents do not match the sha256 recorded in it (truncated or "
            "overwritten?). Delete it to start afresh."
        )
    try:
        payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as err:  # the digest matched, so this is a format problem, not corruption
        raise CheckpointError(f"{path} could not be read by torch.load: {err}") from err
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} does not hold a checkpoint dict (got {type(payload).__name__})")
    return payload


def capture_rng(generators: Sequence[torch.Generator] = ()) -> dict[str, Any]:
    """Every random state a training step can draw from: Python, NumPy, torch CPU and current GPU.

    ``generators``: extra ``torch.Generator`` objects (e.g. the one that shuffles the data).
    NumPy's state is stored as a tensor so the checkpoint holds plain data only.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]  # noqa: NPY002
    cuda_ok = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        # the current GPU only: touching every GPU would open a context on each from every process
        "cuda": torch.cuda.get_rng_state() if cuda_ok else None,
        "generators": [g.get_state() for g in generators],
    }


def restore_rng(state: dict[str, Any], generators: Sequence[torch.Generator] = ()) -> None:
    """Put back the states ``capture_rng`` recorded (``generators`` in the same order)."""
    if len(state["generators"]) != len(generators):
        raise ValueError(
            f"the saved random state has {len(state['generators'])} data generator(s) but "
            f"{len(generators)} were given: is this the same data pipeline?"
        )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None:
        torch.cuda.set_rng_state(state["cuda"])
    for g, s in zip(generators, state["generators"], strict=True):
        g.set_state(s)


# --- a fit run ----------------------------------------------------------------------------------
# Settings that change what a step computes: a resumed run must use the ones it was started with.
MUST_MATCH = (
    "lr", "optimizer", "weight_decay", "momentum", "schedule", "warmup_steps", "clip_norm", "seed", "amp",
    "monitor", "monitor_mode",
)  # fmt: skip


def install_data_generator(data: Any, seed: int) -> tuple[list[torch.Generator], Callable[[], None]]:
    """Every ``torch.Generator`` that decides ``data``'s order, and a function that undoes our change.

    A ``RandomSampler`` without a generator (``DataLoader(shuffle=True)``) would draw its order from
    torch's global RNG, which dropout also draws from and which differs between data-parallel
    ranks; it gets a generator seeded with ``seed`` until the returned function is called.
    """
    batch_sampler = getattr(data, "batch_sampler", None)
    holders = [data, getattr(data, "sampler", None), batch_sampler, getattr(batch_sampler, "sampler", None)]
    generators: list[torch.Generator] = []
    installed: list[RandomSampler] = []
    for holder in holders:
        if isinstance(holder, RandomSampler) and holder.generator is None:
            holder.generator = torch.Generator().manual_seed(seed)
            installed.append(holder)
        g = getattr(holder, "generator", None)
        if isinstance(g, torch.Generator) and all(g is not other for other in generators):
            generators.append(g)

    def uninstall() -> None:
        for sampler in installed:
            sampler.generator = None

    return generators, uninstall


def check_compatible(saved: Mapping[str, Any], config: TrainConfig, path: Path, world_size: int) -> None:
    """Raise ``ValueError`` if the checkpoint at ``path`` was written under a different run setup."""
    now = config.to_dict()
    saved_config = saved["config"]
    diffs = [
        f"{k}={saved_config.get(k)!r} there, {now[k]!r} now"
        for k in MUST_MATCH
        if saved_config.get(k) != now[k]
    ]
    if diffs:
        raise ValueError(
            f"cannot resume from {path}: TrainConfig differs from the run that wrote it "
            f"({'; '.join(diffs)}). "
            "Use the same values, or another checkpoint_dir to start a new run."
        )
    if saved["world_size"] != world_size:
        raise ValueError(
            f"cannot resume from {path}: it was written by {saved['world_size']} process(es), this run has "
            f"{world_size}"
        )
    length_changed = (saved_config["steps"], saved_config["epochs"]) != (config.steps, config.epochs)
    if length_changed and config.schedule != "constant":
        warnings.warn(
            f"resuming with a different length than the checkpoint's run: the {config.schedule!r} schedule "
            "is recomputed for the new length from here on",
            stacklevel=3,
        )


@dataclass
class RunState:
    """Everything a ``fit`` run changes as it trains, and so everything a checkpoint holds.

    Saved through their ``state_dict``: ``model`` (the module being trained, never its
    ``DistributedDataParallel`` wrapper), ``optimizer``, ``scheduler`` and ``stopper`` (early
    stopping). Saved as plain values: ``step`` (optimizer steps done), ``epoch`` (epochs completed),
    ``batch_in_epoch`` (batches of the current epoch trained on) and ``history``; and, one per
    process, ``carried`` (the recurrent state the next batch starts from, e.g. a language model's
    across BPTT windows) and ``epoch_rng`` (the random states at the start of the current epoch, from
    which its data order is replayed). ``resume_rng`` is set by ``load_run`` only: the random states
    of the moment of the checkpoint, which ``fit`` restores once it has replayed the epoch's first
    ``batch_in_epoch`` batches, and then sets back to None.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    stopper: EarlyStopping
    history: History = field(default_factory=History)
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    carried: Any = None
    epoch_rng: dict[str, Any] | None = None
    resume_rng: dict[str, Any] | None = None


def save_run(
    path: Path, run: RunState, config: TrainConfig, ctx: DistContext, generators: Sequence[torch.Generator]
) -> None:
    """Checkpoint ``run`` to ``path``: rank 0 writes; every rank contributes its random and carried state."""
    mine = {
        "rng": capture_rng(generators),
        "epoch_rng": run.epoch_rng,
        "state": map_tensors(lambda t, _: t.detach().cpu(), run.carried),
    }
    ranks = gather_objects(mine, ctx)
    if not ctx.is_main:
        return
    payload = {
        "format": 1,
        "config": config.to_dict(),
        "world_size": ctx.world_size,
        "position": {"step": run.step, "epoch": run.epoch, "batch_in_epoch": run.batch_in_epoch},
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "history": run.history.to_dict(),
        "early_stopping": run.stopper.state_dict(),
        "ranks": ranks,
    }
    save_checkpoint(path, payload)


def load_run(path: Path, run: RunState, config: TrainConfig, ctx: DistContext, device: torch.device) -> None:
    """Restore ``run`` in place from ``path``; its random states come back when its epoch is replayed."""
    ckpt = load_checkpoint(path, map_location="cpu")
    check_compatible(ckpt, config, path, ctx.world_size)
    run.model.load_state_dict(ckpt["model"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    run.scheduler.load_state_dict(ckpt["scheduler"])
    run.history = History.from_dict(ckpt["history"])
    run.stopper.load_state_dict(ckpt["early_stopping"])
    if run.stopper.best_weights is not None:
        run.stopper.best_weights = to_device(run.stopper.best_weights, device)
    position = ckpt["position"]
    run.step, run.epoch, run.batch_in_epoch = position["step"], position["epoch"], position["batch_in_epoch"]
    mine = ckpt["ranks"][ctx.rank]
    run.epoch_rng, run.resume_rng = mine["epoch_rng"], mine["rng"]
    run.carried = to_device(mine["state"], device)
