"""``evaluate``: the mean loss and metrics over *every* held-out token or item.

Each batch's ``StepResult`` gives a mean and the count it is over; the sums ``mean * count`` and
the counts are added up over the whole data set (and over all processes in data-parallel runs),
and only then divided. A mean of batch means would weight a short final batch like a full one, and
perplexity and accuracy would be slightly wrong. Used by ``train.fit`` for validation and by the
chapters for test-set numbers (chapter 2 onwards).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from .batches import shard_rows, to_device
from .distributed import DistContext, all_reduce_sum, is_presharded
from .losses import LossFn, StepResult, as_step_result

__all__ = ["evaluate"]


def _row(result: StepResult, names: list[str], dtype: torch.dtype, device: torch.device) -> Tensor:
    """[loss * count, count, metric sums...] of one batch, kept on the device (no sync)."""
    metrics = dict(result.metrics or {})
    if sorted(metrics) != names:
        raise KeyError(f"the loss function's metrics changed between batches: {names} vs {sorted(metrics)}")
    count = torch.as_tensor(result.count, device=device).to(dtype)
    loss = result.loss.detach().to(dtype)
    return torch.stack([loss * count, count, *(metrics[n].detach().to(dtype) for n in names)])


def evaluate(
    model: nn.Module,
    data: Iterable[Any],
    loss_fn: LossFn,
    *,
    device: torch.device | None = None,
    ctx: DistContext | None = None,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> dict[str, float]:
    """Mean ``loss`` and metrics of ``model`` over all of ``data``, in eval mode without gradients.

    ``loss_fn(model, batch, state) -> StepResult`` as for ``fit``; a carried state starts at None and
    flows from batch to batch (a language model reads a held-out stream window after window). If
    ``loss_fn`` has a ``derived(means)`` method (``LanguageModelLoss`` adds ``ppl``), its results are
    added. ``device`` defaults to the model's; ``ctx`` shares the work across data-parallel ranks.
    The model's train/eval mode is restored afterwards.
    """
    device = device if device is not None else next(model.parameters()).device
    ctx = ctx if ctx is not None else DistContext()
    shard = ctx.enabled and not is_presharded(data)
    dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    was_training = model.training
    model.eval()
    total: Tensor | None = None
    names: list[str] = []
    state = None
    try:
        with torch.no_grad():
            for batch in data:
                batch = to_device(batch, device)
                if shard:
                    batch = shard_rows(batch, ctx.rank, ctx.world_size)
                with autocast():
                    result = as_step_result(loss_fn(model, batch, state), "loss_fn")
                state = result.state
                if total is None:
                    names = sorted(result.metrics or {})
                row = _row(result, names, dtype, device)  # (2 + len(names),)
                total = row if total is None else total + row
    finally:
        model.train(was_training)
    if total is None:
        raise ValueError("the validation data yielded no batches")
    sums = all_reduce_sum(total, ctx).tolist()
    count = sums[1]
    means = {"loss": sums[0] / count if count else math.nan}
    means.update({n: s / count if count else math.nan for n, s in zip(names, sums[2:], strict=True)})
    derived = getattr(loss_fn, "derived", None)
    if callable(derived):
        means.update(derived(means))
    return means
