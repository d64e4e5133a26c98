"""Walking the nested structures that batches and recurrent states are made of.

A batch may be a tensor, a tuple or list, a NamedTuple (such as ``data.PaddedBatch``), a dict or a
dataclass, nested in any way; a recurrent state is a tensor or a tuple of them (``(h, c)``).
``fit`` uses these helpers to move a batch to the device, to cut the carried state out of the
autograd graph between BPTT windows, and to give each data-parallel process its rows of a batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = ["map_tensors", "to_device", "detach_state", "shard_rows", "count_rows"]

# pack_padded_sequence needs its lengths on the CPU, so fields with these names never move.
_CPU_FIELDS = ("lengths",)


def _is_cpu_field(name: str | None) -> bool:
    return name is not None and (name in _CPU_FIELDS or name.endswith("_lengths"))


def map_tensors(fn: Callable[[Tensor, str | None], Any], obj: Any, name: str | None = None) -> Any:
    """Rebuild ``obj`` with ``fn(tensor, field_name)`` applied to every tensor inside it.

    ``field_name`` is the NamedTuple/dataclass field or dict key that holds the tensor (``None``
    inside plain tuples and lists). Anything that is not a tensor or a container is returned as is.
    """
    if isinstance(obj, Tensor):
        return fn(obj, name)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # NamedTuple, e.g. PaddedBatch
        return type(obj)(*(map_tensors(fn, v, f) for f, v in zip(obj._fields, obj, strict=True)))
    if isinstance(obj, (tuple, list)):
        return type(obj)(map_tensors(fn, v) for v in obj)
    if isinstance(obj, Mapping):
        return type(obj)({k: map_tensors(fn, v, str(k)) for k, v in obj.items()})
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {
            f.name: map_tensors(fn, getattr(obj, f.name), f.name) for f in dataclasses.fields(obj) if f.init
        }
        return dataclasses.replace(obj, **changes)
    return obj


def to_device(batch: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """``batch`` with every tensor on ``device``, except fields named ``lengths`` / ``*_lengths``.

    Those stay on the CPU because ``torch.nn.utils.rnn.pack_padded_sequence`` requires it.
    """

    def move(t: Tensor, name: str | None) -> Tensor:
        if _is_cpu_field(name):
            return t
        return t.to(device, non_blocking=non_blocking)

    return map_tensors(move, batch)


def detach_state(state: Any) -> Any:
    """The carried recurrent state cut out of the autograd graph (truncated BPTT).

    Values are kept; only the history behind them is dropped, so the next window's backward pass
    stops here instead of running back through every earlier window.
    """
    return map_tensors(lambda t, _: t.detach(), state)


def count_rows(batch: Any) -> int:
    """Size of the leading (batch) dimension: the first dimension of the first tensor of rank >= 1."""
    found: list[int] = []

    def look(t: Tensor, _: str | None) -> Tensor:
        if not found and t.dim() >= 1:
            found.append(t.shape[0])
        return t

    map_tensors(look, batch)
    if not found:
        raise TypeError(f"a batch must contain at least one tensor with a batch dimension, got {type(batch)}")
    return found[0]


def shard_rows(batch: Any, rank: int, world_size: int) -> Any:
    """The rows ``rank, rank + world_size, ...`` of every tensor in ``batch`` (dimension 0).

    Data parallelism by striding: each of ``world_size`` processes takes every ``world_size``-th
    row of the same global batch, so together they see exactly that batch. Striding (rather than
    cutting contiguous blocks) keeps each BPTT sub-stream on the same process from window to window,
    so its carried state stays valid. 0-d tensors are shared, not split.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
    rows = count_rows(batch)
    if rows < world_size:
        raise ValueError(
            f"a batch of {rows} rows cannot be split over {world_size} processes: use a batch size of "
            f"at least {world_size} (the batch size is the global batch, shared by all processes)"
        )

    def take(t: Tensor, _: str | None) -> Tensor:
        if t.dim() == 0:
            return t
        if t.shape[0] != rows:
            raise ValueError(
                f"cannot shard a batch whose tensors disagree on the batch dimension: {rows} vs "
                f"{t.shape[0]} (shape {tuple(t.shape)})"
            )
        return t[rank::world_size]

    return map_tensors(take, batch)
