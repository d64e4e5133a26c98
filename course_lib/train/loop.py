"""``fit``: the one training loop of the course.

One step is the textbook one: move the batch to the device, ``loss_fn`` (under bfloat16 autocast
on CUDA when ``amp``), ``backward``, measure the gradient norm and clip it, ``optimizer.step()``,
``scheduler.step()``, and detach the carried state (truncated BPTT). Around it ``fit`` adds what a
real run needs, each switched on from ``TrainConfig``: validation, early stopping, checkpoints,
exact resume, progress, a live plot and data parallelism (see ``distributed``). Everything the
run changes as it goes lives in one ``checkpoint.RunState``, which checkpoints save and restore.

Reproducibility. ``fit`` seeds Python, NumPy and torch with ``config.seed`` (plus the rank; it
leaves deterministic-kernel settings to ``env.seed_everything``, which the caller may use) and
shuffles a ``DataLoader(shuffle=True)`` with its own ``torch.Generator`` seeded with
``config.seed``, installed in the loader's sampler for the duration of the call (a generator the
sampler already has is used as it is). At the start of each epoch it records every random state;
a resumed run restores them, replays the epoch's order, skips the batches already trained on,
then restores the states of the moment of the checkpoint. So on the CPU a run that is killed and
resumed ends with the same parameters and losses, bit for bit, as one that never stopped.

Speed. Per-step losses and norms stay on the device and are read back every ``log_every`` steps,
so the loop does not wait for the GPU at every step; ``benchmarks/train_overhead.py`` measures
the cost against a bare loop.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..data.batching import map_tensors, to_device
from ..env import get_device, seed_everything
from . import distributed as ddp
from .checkpoint import (
    CHECKPOINT_FILE,
    RunState,
    capture_rng,
    install_data_generator,
    load_run,
    restore_rng,
    save_run,
)
from .config import TrainConfig, build_optimizer, build_scheduler
from .history import Callback, EarlyStopping, History, StepEvent, StopTraining
from .live import LivePlot, progress_bar, want_live_plot, want_progress
from .losses import LossFn, StepResult, as_step_result, evaluate

__all__ = ["fit"]


def fit(
    model: nn.Module,
    train_data: Iterable[Any],
    config: TrainConfig,
    *,
    loss_fn: LossFn,
    val_data: Iterable[Any] | None = None,
    val_fn: LossFn | None = None,
    callbacks: Iterable[Callback] | None = None,
) -> History:
    """Train ``model`` in place on ``train_data`` as ``config`` says, and return its ``History``.

    ``train_data``: any re-iterable of batches, iterated once per epoch (a ``DataLoader``,
    ``data.BPTTBatches``, a list). ``loss_fn(model, batch, state) -> StepResult`` turns a batch
    into a mean loss (built-ins in ``train.losses``). ``val_data`` is evaluated with ``val_fn``
    (default ``loss_fn``) every ``config.eval_every`` steps and at the end; the reported numbers
    are means over every held-out token or item. ``callbacks`` are called with a ``StepEvent``
    after every step; one may raise ``StopTraining``. Interrupting the kernel stops training and
    returns the history so far. Run under ``torchrun`` for data parallelism (``train.distributed``).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"fit trains a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"fit needs a train.TrainConfig, got {type(config).__name__}")
    if not callable(loss_fn) or (val_fn is not None and not callable(val_fn)):
        raise TypeError("loss_fn (and val_fn) must be callables (model, batch, state) -> StepResult")
    config.check_data(has_val_data=val_data is not None, steps_per_epoch=_len_or_none(train_data))
    return _Run(model, train_data, config, loss_fn, val_data, val_fn, list(callbacks or ())).train()


def _len_or_none(data: Any) -> int | None:
    try:
        return len(data)
    except TypeError:
        return None


def _resolve_device(setting: str) -> torch.device:
    device = get_device(None if setting == "auto" else setting)
    local_rank = os.environ.get("LOCAL_RANK")
    if device.type == "cuda" and device.index is None and local_rank is not None:
        device = torch.device("cuda", int(local_rank))  # one GPU per process under torchrun
    return device


def _autocast(amp: bool, device: torch.device) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    if not amp:
        return contextlib.nullcontext
    if device.type != "cuda" or not torch.cuda.is_bf16_supported():
        warnings.warn(
            f"TrainConfig.amp=True needs a CUDA GPU with bfloat16; training on {device} in float32",
            stacklevel=3,
        )
        return contextlib.nullcontext
    return functools.partial(torch.autocast, device_type="cuda", dtype=torch.bfloat16)


class _Run:
    """One ``fit`` call: its set-up (config, data, device...) and its ``RunState``; its methods are the
    pieces of the loop. ``model`` is the module being trained; ``wrapped`` is what the loss function
    calls, the ``DistributedDataParallel`` wrapper around it in a data-parallel run, else ``model``."""

    def __init__(
        self,
        model: nn.Module,
        train_data: Iterable[Any],
        config: TrainConfig,
        loss_fn: LossFn,
        val_data: Iterable[Any] | None,
        val_fn: LossFn | None,
        callbacks: list[Callback],
    ) -> None:
        self.cfg, self.data, self.loss_fn = config, train_data, loss_fn
        self.val_data, self.val_fn, self.callbacks = val_data, val_fn or loss_fn, callbacks
        self.model = ddp.unwrap_model(model)
        self.wrapped = model  # wrapped for data parallelism in _setup, unless the caller already did
        self.ctx = ddp.DistContext()
        self._uninstall: Callable[[], None] = lambda: None
        self.bar: Any = None
        self.plot: LivePlot | None = None
        self.run: RunState | None = None

    def _setup(self) -> None:
        cfg = self.cfg
        self.device = _resolve_device(cfg.device)
        self.ctx = ddp.init_distributed(self.device.type)
        # Ranks differ in dropout, not in data order (that has its own generator). Deterministic
        # kernels are the caller's choice (env.seed_everything): switching them on costs seconds.
        seed_everything((cfg.seed + self.ctx.rank) % 2**32, deterministic=False)
        self.model.to(self.device)
        self.wrapped = ddp.wrap_model(self.wrapped, self.ctx, self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError("the model has no parameters with requires_grad=True: nothing to train")
        optimizer = build_optimizer(self.params, cfg)
        self.total = cfg.total_steps(_len_or_none(self.data))
        stopper = EarlyStopping(cfg.monitor, cfg.monitor_mode, cfg.patience, cfg.min_delta, cfg.restore_best)
        self.run = RunState(self.model, optimizer, build_scheduler(optimizer, cfg, self.total), stopper)
        self.shard = self.ctx.enabled and not ddp.is_presharded(self.data)
        self.generators, self._uninstall = install_data_generator(self.data, cfg.seed)
        self.autocast = _autocast(cfg.amp, self.device)
        self.sum_dtype = torch.float32 if self.device.type == "mps" else torch.float64  # MPS lacks float64
        self.stop_reason: str | None = None
        self.pending: list[tuple[Tensor, Tensor, float]] = []  # (loss, grad norm, lr) not read back yet
        self.ckpt = Path(cfg.checkpoint_dir) / CHECKPOINT_FILE if cfg.checkpoint_dir else None
        if cfg.resume and self.ckpt is not None:
            self._resume()

    def _resume(self) -> None:
        """Load the checkpoint if there is one (every rank must see the same answer)."""
        found = ddp.gather_objects(self.ckpt.is_file(), self.ctx)  # type: ignore[union-attr]
        if len(set(found)) > 1:  # some ranks would resume and others start afresh: DDP would hang
            raise RuntimeError(
                f"{self.ckpt} exists for ranks {[r for r, f in enumerate(found) if f]} only: put "
                "TrainConfig.checkpoint_dir on a file system that every machine sees"
            )
        if found[0]:
            load_run(self.ckpt, self.run, self.cfg, self.ctx, self.device)  # type: ignore[arg-type]
            if self.run.stopper.should_stop:  # type: ignore[union-attr]
                self.stop_reason = "early_stopping"

    def _save(self) -> None:
        self._flush()  # the History in the file must hold every step up to now
        save_run(self.ckpt, self.run, self.cfg, self.ctx, self.generators)  # type: ignore[arg-type]

    @property
    def history(self) -> History:
        return self.run.history if self.run is not None else History()

    # --- the loop -------------------------------------------------------------------------------
    def train(self) -> History:
        try:
            self._setup()
            run, main = self.run, self.ctx.is_main
            self.bar = progress_bar(self.total, run.step, enabled=main and want_progress(self.cfg.progress))
            self.plot = LivePlot() if main and want_live_plot(self.cfg.live_plot) else None
            self.wrapped.train()
            run.optimizer.zero_grad(set_to_none=True)  # gradients left over from earlier cells
            while not self._finished():
                self._run_epoch()
            self._finish()
        except KeyboardInterrupt:
            if self.ctx.enabled or self.bar is None:
                raise
            self._flush()
            self.history.stop_reason = "interrupted"
            warnings.warn(
                f"training interrupted after step {self.run.step}; returning the history so far", stacklevel=3
            )
        finally:
            self._uninstall()
            if self.bar is not None:
                self.bar.close()
            if self.plot is not None:
                self.plot.close(self.history)
        return self.history

    def _finished(self) -> bool:
        if self.stop_reason is not None:
            return True
        if self.total is not None:
            return self.run.step >= self.total
        return self.run.epoch >= self.cfg.epochs  # type: ignore[operator]

    def _run_epoch(self) -> None:
        run = self.run
        for batch in self._epoch_batches():
            self._train_step(batch)
            if self._finished():
                return
        if run.batch_in_epoch == 0:
            raise ValueError("train_data yielded no batches: is it empty, or a one-shot iterator?")
        run.epoch += 1
        run.batch_in_epoch = 0

    def _epoch_batches(self) -> Iterator[Any]:
        run = self.run
        ddp.set_epoch(self.data, run.epoch)
        if run.resume_rng is None:  # a fresh epoch: remember how its order was drawn
            run.epoch_rng = capture_rng(self.generators)
            run.batch_in_epoch, run.carried = 0, None
            return iter(self.data)
        restore_rng(run.epoch_rng, self.generators)  # type: ignore[arg-type]
        batches = iter(self.data)
        for i in range(run.batch_in_epoch):  # replay the part of the epoch trained before the stop
            if next(batches, None) is None:
                raise ValueError(f"resuming: train_data has fewer than {i + 1} batches per epoch now")
        restore_rng(run.resume_rng, self.generators)
        run.resume_rng = None
        return batches

    def _train_step(self, batch: Any) -> None:
        run = self.run
        batch = to_device(batch, self.device, non_blocking=self.device.type == "cuda")
        if self.shard:
            batch = ddp.shard_rows(batch, self.ctx.rank, self.ctx.world_size)
        with self.autocast():
            result = as_step_result(self.loss_fn(self.wrapped, batch, run.carried), "loss_fn")
        loss, share = self._weighted_loss(result)
        loss.backward()
        norm = self._clip()
        lr = run.optimizer.param_groups[0]["lr"]
        run.optimizer.step()
        run.optimizer.zero_grad(set_to_none=True)
        run.scheduler.step()
        # Truncated BPTT: the next window starts from these values, but its backward stops here.
        run.carried = map_tensors(lambda t, _: t.detach(), result.state)
        run.step += 1
        run.batch_in_epoch += 1
        self.pending.append((share.detach(), norm, lr))
        self.bar.update(1)
        if run.step % self.cfg.log_every == 0:
            self._flush()
        val = self._validate() if self._due(self.cfg.eval_every) else None
        if self._due(self.cfg.checkpoint_every):
            self._save()
        if self.callbacks:
            self._call_back(result.loss.detach(), val)

    def _due(self, every: int | None) -> bool:
        return every is not None and self.run.step % every == 0

    def _weighted_loss(self, result: StepResult) -> tuple[Tensor, Tensor]:
        """(loss to differentiate, this rank's part of the step's mean loss over the global batch)."""
        loss = result.loss
        if not isinstance(loss, Tensor) or loss.dim() != 0:
            raise ValueError(f"loss_fn must return a 0-d loss tensor, got {loss!r:.80}")
        if not loss.requires_grad:
            raise ValueError("the loss does not depend on any trainable parameter (requires_grad=False)")
        if not self.ctx.enabled:
            return loss, loss
        # DDP averages gradients over ranks; scaling by count * N / total makes that average the
        # gradient of the mean over all tokens of the global batch, however they are split.
        count = torch.as_tensor(result.count, device=self.device).to(self.sum_dtype)
        share = count / ddp.all_reduce_sum(count.clone(), self.ctx)
        return loss * (share * self.ctx.world_size), loss * share

    def _clip(self) -> Tensor:
        grads = [p.grad for p in self.params if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads)  # pre-clip global L2 norm, stays on the device
        if self.cfg.clip_norm is not None:
            torch.nn.utils.clip_grads_with_norm_(self.params, self.cfg.clip_norm, norm)
        return norm

    def _call_back(self, loss: Tensor, val: dict[str, float] | None) -> None:
        event = StepEvent(self.run.step, self.run.epoch, loss, self.model, self.history, val)
        for callback in self.callbacks:
            try:
                callback(event)
            except StopTraining:
                self.stop_reason = self.stop_reason or "callback"

    # --- reading back, validating, stopping ------------------------------------------------------
    def _flush(self) -> None:
        """Read the pending per-step losses and norms back from the device in one go."""
        if not self.pending:
            return
        dtype, step = self.sum_dtype, self.run.step
        losses = torch.stack([p[0].to(dtype) for p in self.pending])  # (k,)
        norms = torch.stack([p[1].to(dtype) for p in self.pending])  # (k,)
        if self.ctx.enabled:  # the ranks' shares add up to the mean over the global batch
            losses = ddp.all_reduce_sum(losses, self.ctx)
        loss_list, norm_list = torch.stack([losses, norms]).tolist()
        first = step - len(self.pending) + 1
        self.history.log_train(range(first, step + 1), loss_list, norm_list, [p[2] for p in self.pending])
        self.pending.clear()
        self.bar.set_postfix(loss=f"{loss_list[-1]:.4g}", refresh=False)
        if self.plot is not None:
            self.plot.update(self.history)

    def _validate(self) -> dict[str, float] | None:
        if self.val_data is None:
            return None
        metrics = evaluate(
            self.model, self.val_data, self.val_fn, device=self.device, ctx=self.ctx, autocast=self.autocast
        )
        self.history.log_val(self.run.step, metrics)
        self._early_stopping(metrics)
        return metrics

    def _early_stopping(self, metrics: dict[str, float]) -> None:
        if self.cfg.monitor not in metrics and self.cfg.patience is None and not self.cfg.restore_best:
            return  # nothing depends on the monitored metric
        stopper = self.run.stopper
        if stopper.update(self.run.step, metrics, self.model):
            self.history.best_step = self.run.step
        if stopper.should_stop and self.stop_reason is None:
            self.stop_reason = "early_stopping"

    def _finish(self) -> None:
        self._flush()
        if self.stop_reason is None:
            self.stop_reason = "steps" if self.cfg.steps is not None else "epochs"
        if self.val_data is not None and (
            not self.history.val_step or self.history.val_step[-1] != self.run.step
        ):
            self._validate()
        self.history.stop_reason = self.stop_reason
        if self.ckpt is not None:
            self._save()
        best = self.run.stopper.best_weights
        if self.cfg.restore_best and best is not None:
            self.model.load_state_dict(best)
