"""How a batch becomes a loss: the ``loss_fn`` protocol of ``train.fit`` and its built-ins.

A loss function is any callable ``loss_fn(model, batch, state) -> StepResult``. ``state`` is what
the previous call returned (``None`` at the start of each epoch and of each validation pass), which
is how a language model carries its hidden state across BPTT windows. ``fit`` detaches it between
windows. Built-ins, one per task model of ``course_lib.models``:

- ``LanguageModelLoss``: ``(x, y)`` windows (B, T) from ``data.BPTTBatches`` (stateful truncated
  BPTT) or a ``data.PaddedBatch`` of whole sequences; mean cross-entropy per real token.
- ``ClassificationLoss``: ``PaddedBatch`` (or ``(x, y)``) -> ``model(tokens, lengths)`` (B, C).
- ``RegressionLoss``: many-to-one regression (the adding problem), MSE.
- ``TaggingLoss``: many-to-many, ``model(x, lengths)`` (B, T, out), masked cross-entropy or MSE.
- ``Seq2SeqLoss``: teacher forcing, ``model(src, src_lengths, tgt_in)`` (B, T, V).

Chapters 1-6 and the labs use these through ``fit``.

``evaluate`` gives the mean loss and metrics over *every* held-out token or item: each batch's
``StepResult`` gives a mean and the count it is over; the sums ``mean * count`` and the counts are
added up over the whole data set (and over all processes in data-parallel runs), and only then
divided. A mean of batch means would weight a short final batch like a full one. ``fit`` uses it
for validation, the chapters for test-set numbers.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.batching import to_device
from .distributed import DistContext, all_reduce_sum, is_presharded, shard_rows

__all__ = [
    "StepResult",
    "LossFn",
    "as_step_result",
    "LanguageModelLoss",
    "ClassificationLoss",
    "RegressionLoss",
    "TaggingLoss",
    "Seq2SeqLoss",
    "evaluate",
]

_IGNORE = -100  # torch's default ignore_index: a value no token id takes


class StepResult(NamedTuple):
    """What a loss function returns for one batch.

    loss: 0-d tensor, the mean over ``count`` tokens or items (``fit`` calls ``backward`` on it).
    count: how many tokens/items the mean is over (int or 0-d tensor); validation weights by it,
        so its reported loss is the mean over every held-out token, not a mean of batch means.
    state: the recurrent state to carry into the next batch, or None.
    metrics: extra metrics as *sums* over the same counted items (e.g. ``{"accuracy": n_correct}``);
        validation reports each as total sum / total count. Compute them only when
        ``not model.training`` to keep training steps cheap.
    """

    loss: Tensor
    count: int | Tensor
    state: Any = None
    metrics: Mapping[str, Tensor] | None = None


class LossFn(Protocol):
    def __call__(self, model: nn.Module, batch: Any, state: Any) -> StepResult: ...


def as_step_result(result: Any, who: str = "loss_fn") -> StepResult:
    """``result`` as a ``StepResult`` (a plain tuple ``(loss, count[, state[, metrics]])`` is accepted)."""
    if isinstance(result, StepResult):
        return result
    if isinstance(result, tuple) and 2 <= len(result) <= 4:
        return StepResult(*result)
    raise TypeError(
        f"{who} must return a StepResult(loss, count, state, metrics), got {type(result).__name__}"
    )


def _fields(batch: Any, names: tuple[str, ...]) -> tuple[Any, ...] | None:
    """``batch.<name>`` for each name if ``batch`` has them all (PaddedBatch and the like)."""
    if all(hasattr(batch, n) for n in names):
        return tuple(getattr(batch, n) for n in names)
    return None


def _pair(batch: Any, who: str) -> tuple[Tensor, Tensor]:
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(t, Tensor) for t in batch):
        return batch[0], batch[1]
    raise TypeError(
        f"{who} expects a batch (inputs, targets) of two tensors or a PaddedBatch, got {_kind(batch)}"
    )


def _kind(batch: Any) -> str:
    if isinstance(batch, (tuple, list)):
        return f"{type(batch).__name__} of {len(batch)} ({', '.join(type(b).__name__ for b in batch)})"
    return type(batch).__name__


def _inputs_targets(batch: Any, who: str) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor]:
    """(inputs, lengths, mask, targets) of a PaddedBatch, ``(x, lengths, y)`` or ``(x, y)``."""
    got = _fields(batch, ("tokens", "lengths", "mask", "targets"))
    if got is not None:
        if got[3] is None:
            raise ValueError(f"{who} needs PaddedBatch.targets, but the batch has targets=None")
        return got  # type: ignore[return-value]
    if isinstance(batch, (tuple, list)) and len(batch) == 3 and all(isinstance(t, Tensor) for t in batch):
        return batch[0], batch[1], None, batch[2]
    x, y = _pair(batch, who)
    return x, None, None, y


def _check_long(t: Tensor, name: str, who: str, dims: int) -> None:
    if t.dtype != torch.long or t.dim() != dims:
        raise TypeError(
            f"{who}: {name} must be an int64 (long) tensor with {dims} dims, got {t.dtype} {tuple(t.shape)}"
        )


def _masked_ce(logits: Tensor, targets: Tensor, mask: Tensor | None, eval_metrics: bool) -> StepResult:
    """Mean cross-entropy over the positions where ``mask`` is True (all when None)."""
    flat_logits = logits.reshape(-1, logits.shape[-1])  # (N, V)
    flat_targets = targets.reshape(-1)  # (N,)
    if mask is not None:
        flat_targets = flat_targets.masked_fill(~mask.reshape(-1), _IGNORE)
        count: int | Tensor = mask.sum()
    else:
        count = flat_targets.numel()
    loss = F.cross_entropy(flat_logits, flat_targets, ignore_index=_IGNORE)
    metrics = None
    if eval_metrics:
        hit = (flat_logits.argmax(-1) == flat_targets) & (flat_targets != _IGNORE)
        metrics = {"accuracy": hit.sum()}
    return StepResult(loss, count, None, metrics)


class LanguageModelLoss:
    """Next-token cross-entropy for ``models.LanguageModel``: ``model(x, state) -> (logits, state)``.

    Batches: ``(x, y)`` LongTensors (B, T) from ``data.BPTTBatches`` (the state is carried from one
    window to the next: stateful truncated BPTT), or a ``data.PaddedBatch`` of whole sequences, in
    which case ``x = tokens[:, :-1]``, ``y = tokens[:, 1:]``, padding is masked and no state is
    carried. ``ignore_index`` masks a target id in ``(x, y)`` batches (e.g. the pad id).
    Validation adds ``ppl`` (perplexity, ``exp`` of the mean loss) and ``accuracy``.
    """

    def __init__(self, ignore_index: int | None = None) -> None:
        self.ignore_index = ignore_index

    def __call__(self, model: nn.Module, batch: Any, state: Any) -> StepResult:
        padded = _fields(batch, ("tokens", "mask"))
        if padded is not None:
            tokens, mask = padded
            _check_long(tokens, "PaddedBatch.tokens", "LanguageModelLoss", 2)
            x, y, mask, state = tokens[:, :-1], tokens[:, 1:], mask[:, 1:], None  # (B, T-1) each
        else:
            x, y = _pair(batch, "LanguageModelLoss")
            _check_long(x, "x", "LanguageModelLoss", 2)
            if y.shape != x.shape:
                raise ValueError(
                    f"LanguageModelLoss: y must have the shape of x {tuple(x.shape)}, got {tuple(y.shape)}"
                )
            mask = None if self.ignore_index is None else y != self.ignore_index
        logits, new_state = model(x, state)  # (B, T, V)
        if logits.shape[:2] != x.shape:
            raise ValueError(
                f"LanguageModelLoss: the model returned logits {tuple(logits.shape)}; expected (B, T, V) "
                f"for x {tuple(x.shape)}"
            )
        result = _masked_ce(logits, y, mask, eval_metrics=not model.training)
        return result._replace(state=None if padded is not None else new_state)

    @staticmethod
    def derived(means: Mapping[str, float]) -> dict[str, float]:
        """Metrics computed from the validation means: perplexity = exp(mean cross-entropy)."""
        return {"ppl": math.exp(means["loss"]) if means["loss"] < 700 else math.inf}


class ClassificationLoss:
    """Cross-entropy for many-to-one classifiers (``models.SequenceClassifier``).

    Batches: a ``data.PaddedBatch`` with ``targets`` (B,) or ``(x, lengths, y)`` ->
    ``model(x, lengths)``; ``(x, y)`` -> ``model(x)``. The model returns logits (B, C).
    Validation adds ``accuracy``.
    """

    def __call__(self, model: nn.Module, batch: Any, state: Any) -> StepResult:
        x, lengths, _, y = _inputs_targets(batch, "ClassificationLoss")
        logits = model(x) if lengths is None else model(x, lengths.cpu())  # (B, C)
        if logits.dim() != 2 or y.shape != logits.shape[:1]:
            raise ValueError(
                "ClassificationLoss: logits must be (B, C) and targets (B,), got "
                f"{tuple(logits.shape)} and {tuple(y.shape)}"
            )
        _check_long(y, "targets", "ClassificationLoss", 1)
        return _masked_ce(logits, y, None, eval_metrics=not model.training)


class RegressionLoss:
    """Mean squared error for many-to-one regression (e.g. the adding problem, chapter 2).

    Batches as for ``ClassificationLoss``; the model returns (B,) or (B, out) and targets match it
    ((B, 1) outputs are compared with (B,) targets). ``count`` is the number of sequences.
    """

    def __call__(self, model: nn.Module, batch: Any, state: Any) -> StepResult:
        x, lengths, _, y = _inputs_targets(batch, "RegressionLoss")
        pred = model(x) if lengths is None else model(x, lengths.cpu())  # (B,) or (B, out)
        if pred.dim() == 2 and pred.shape[1] == 1 and y.dim() == 1:
            pred = pred.squeeze(1)  # (B,)
        if pred.shape != y.shape:
            raise ValueError(
                f"RegressionLoss: predictions {tuple(pred.shape)} and targets {tuple(y.shape)} must match"
            )
        loss = F.mse_loss(pred, y.to(pred.dtype))
        return StepResult(loss, y.shape[0], None, None)


class TaggingLoss:
    """Many-to-many loss for ``models.SequenceTagger``: one prediction per time step.

    ``kind="ce"``: targets (B, T) long, masked cross-entropy over real positions (validation adds
    ``accuracy``). ``kind="mse"``: targets (B, T) or (B, T, out) float (forecasting), masked mean
    squared error over real positions and outputs. Batches: a ``data.PaddedBatch`` (its ``mask``
    marks real positions) -> ``model(tokens, lengths)``, or ``(x, y)`` with no padding -> ``model(x)``.
    (``(x, lengths, y)`` passes the lengths but masks nothing: use a PaddedBatch for padded targets.)
    """

    def __init__(self, kind: str = "ce") -> None:
        if kind not in ("ce", "mse"):
            raise ValueError(f"TaggingLoss kind must be 'ce' or 'mse', got {kind!r}")
        self.kind = kind

    def __call__(self, model: nn.Module, batch: Any, state: Any) -> StepResult:
        x, lengths, mask, y = _inputs_targets(batch, "TaggingLoss")
        out = model(x) if lengths is None else model(x, lengths.cpu())  # (B, T, out)
        if out.dim() != 3 or out.shape[:2] != y.shape[:2]:
            raise ValueError(
                "TaggingLoss: outputs must be (B, T, out) matching targets (B, T, ...), got "
                f"{tuple(out.shape)} and {tuple(y.shape)}"
            )
        if self.kind == "ce":
            _check_long(y, "targets", "TaggingLoss(kind='ce')", 2)
            return _masked_ce(out, y, mask, eval_metrics=not model.training)
        return self._mse(out, y, mask)

    @staticmethod
    def _mse(out: Tensor, y: Tensor, mask: Tensor | None) -> StepResult:
        if y.dim() == 2:
            y = y.unsqueeze(-1)  # (B, T, 1)
        if out.shape != y.shape:
            raise ValueError(
                f"TaggingLoss(kind='mse'): outputs {tuple(out.shape)} and targets {tuple(y.shape)} must match"
            )
        sq = (out - y.to(out.dtype)) ** 2  # (B, T, out)
        if mask is None:
            return StepResult(sq.mean(), sq.numel(), None, None)
        weight = mask.unsqueeze(-1).to(sq.dtype)  # (B, T, 1)
        count = weight.sum() * sq.shape[-1]
        return StepResult((sq * weight).sum() / count.clamp_min(1), count, None, None)


class Seq2SeqLoss:
    """Teacher-forced cross-entropy for ``models.Seq2Seq``: ``model(src, src_lengths, tgt_in)``.

    Batches: ``(src, tgt)`` two ``data.PaddedBatch`` whose target rows are ``BOS ... EOS`` (then
    ``tgt_in = tgt.tokens[:, :-1]``, ``tgt_out = tgt.tokens[:, 1:]``, masked by ``tgt.mask``), or a
    4-tuple ``(src, src_lengths, tgt_in, tgt_out)`` with padding ``pad_id`` in ``tgt_out``. The model
    returns ``(logits (B, T, V), attention or None)``. Validation adds token ``accuracy``.
    """

    def __init__(self, pad_id: int | None = None) -> None:
        self.pad_id = pad_id

    def __call__(self, model: nn.Module, batch: Any, state: Any) -> StepResult:
        src, src_lengths, tgt_in, tgt_out, mask = self._unpack(batch)
        logits, _ = model(src, src_lengths.cpu(), tgt_in)  # (B, T, V)
        if logits.shape[:2] != tgt_out.shape:
            raise ValueError(
                f"Seq2SeqLoss: logits {tuple(logits.shape)} do not match targets {tuple(tgt_out.shape)}"
            )
        return _masked_ce(logits, tgt_out, mask, eval_metrics=not model.training)

    def _unpack(self, batch: Any) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
        if isinstance(batch, (tuple, list)) and len(batch) == 2:
            src, tgt = (_fields(b, ("tokens", "lengths", "mask")) for b in batch)
            if src is not None and tgt is not None:
                return src[0], src[1], tgt[0][:, :-1], tgt[0][:, 1:], tgt[2][:, 1:]
        if isinstance(batch, (tuple, list)) and len(batch) == 4 and all(isinstance(t, Tensor) for t in batch):
            src, src_lengths, tgt_in, tgt_out = batch
            mask = None if self.pad_id is None else tgt_out != self.pad_id
            return src, src_lengths, tgt_in, tgt_out, mask
        raise TypeError(
            "Seq2SeqLoss expects (src, tgt) PaddedBatches or (src, src_lengths, tgt_in, tgt_out) tensors, "
            f"got {_kind(batch)}"
        )


# --- over a whole data set ---------------------------------------------------------------------------
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
