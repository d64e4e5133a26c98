"""Saving a ``fit`` run and picking it up again exactly where it stopped.

``save_run`` writes everything the next step depends on: model, optimizer, scheduler, position
(step, epoch, batch within the epoch), ``History``, early-stopping state, and per process the
random states now and at the start of the epoch, plus a language model's carried state.
``load_run`` puts it all back. Data order must come from random states a checkpoint saves:
``install_data_generator`` gives a shuffling ``DataLoader`` a ``torch.Generator`` seeded with
``TrainConfig.seed`` and lists every generator that decides the order. ``check_compatible``
refuses to resume under settings that would make it a different run. Used by ``train.fit``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import RandomSampler

from . import distributed as ddp
from .batches import map_tensors, to_device
from .checkpoint import capture_rng, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .history import History

if TYPE_CHECKING:
    from .loop import _Run

__all__ = ["save_run", "load_run", "install_data_generator", "check_compatible", "MUST_MATCH"]

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


def save_run(run: _Run) -> None:
    """Checkpoint ``run``: rank 0 writes the file; every rank contributes its random and carried state."""
    run._flush()  # the History in the file must hold every step up to now
    mine = {
        "rng": capture_rng(run.generators),
        "epoch_rng": run.epoch_rng,
        "state": map_tensors(lambda t, _: t.detach().cpu(), run.state),
    }
    ranks = ddp.gather_objects(mine, run.ctx)
    if not run.ctx.is_main:
        return
    payload = {
        "format": 1,
        "config": run.cfg.to_dict(),
        "world_size": run.ctx.world_size,
        "position": {"step": run.step, "epoch": run.epoch, "batch_in_epoch": run.batch_in_epoch},
        "model": run.module.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "history": run.history.to_dict(),
        "early_stopping": run.stopper.state_dict(),
        "ranks": ranks,
    }
    save_checkpoint(run.ckpt, payload)  # type: ignore[arg-type]


def load_run(run: _Run) -> None:
    """Restore ``run`` from its checkpoint; the random states come back when its epoch is replayed."""
    ckpt = load_checkpoint(run.ckpt, map_location="cpu")  # type: ignore[arg-type]
    check_compatible(ckpt, run.cfg, run.ckpt, run.ctx.world_size)  # type: ignore[arg-type]
    run.module.load_state_dict(ckpt["model"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    run.scheduler.load_state_dict(ckpt["scheduler"])
    run.history = History.from_dict(ckpt["history"])
    run.stopper.load_state_dict(ckpt["early_stopping"])
    if run.stopper.best_weights is not None:
        run.stopper.best_weights = to_device(run.stopper.best_weights, run.device)
    position = ckpt["position"]
    run.step, run.epoch, run.batch_in_epoch = position["step"], position["epoch"], position["batch_in_epoch"]
    mine = ckpt["ranks"][run.ctx.rank]
    run.epoch_rng, run.resume_rng = mine["epoch_rng"], mine["rng"]
    run.state = to_device(mine["state"], run.device)
    if run.stopper.should_stop:
        run.stop_reason = "early_stopping"
