"""Batching for sequence models, built on ``torch.utils.data``.

Two shapes of data, two tools:
- one long token stream (a novel, a corpus) for language models -> ``BPTTBatches`` yields
  ``(x, y)`` windows of shape (B, T) that continue each other, for truncated backpropagation
  through time with the hidden state carried across windows (chapters 1-2, labs 1-2);
- many short sequences of different lengths (surnames, reviews) -> ``SequenceDataset`` +
  ``padded_loader`` yield ``PaddedBatch`` es: padded tokens, true lengths and a mask, ready for
  ``nn.utils.rnn.pack_padded_sequence`` (chapter 3 and the classification labs).

A batch may be a tensor, a tuple or list, a NamedTuple (such as ``PaddedBatch``), a dict or a
dataclass, nested in any way: ``map_tensors`` walks it, and ``to_device`` moves it (``train.fit``
moves every batch with it).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

__all__ = [
    "BPTTBatches",
    "PaddedBatch",
    "pad_batch",
    "SequenceDataset",
    "collate_padded",
    "padded_loader",
    "map_tensors",
    "to_device",
]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class BPTTBatches(Dataset[tuple[Tensor, Tensor]]):
    """Language-model windows over one token stream, for stateful truncated BPTT (chapters 1-2).

    ``ids`` (N,) is trimmed to ``L = N // batch_size`` tokens per row and laid out as ``batch_size``
    contiguous sub-streams, ``data`` (B, L): row ``b`` is ``ids[b*L : (b+1)*L]``. Window ``k`` is
    ``x = data[:, k*T : k*T + T]`` and ``y = data[:, k*T + 1 : k*T + T + 1]`` (the next tokens), both
    (B, T), T = ``seq_len``; the last window may be shorter. Row ``b`` of window ``k + 1`` starts
    exactly where row ``b`` of window ``k`` stopped, so the final hidden state of one window is the
    right initial state for the next (detach it to truncate the gradient). Every position
    ``0 .. L-2`` of every row is an input exactly once, in order.

    Windows live on the device of ``ids``: pass ``ids.to(device)`` to batch on the GPU.
    Iterate directly (``for x, y in batches``), index (``batches[k]``), or wrap in
    ``DataLoader(batches, batch_size=None)`` -- never shuffle: that breaks the carried state.
    """

    def __init__(self, ids: Tensor | Sequence[int], batch_size: int, seq_len: int) -> None:
        ids = torch.as_tensor(ids) if not isinstance(ids, Tensor) else ids
        if ids.dim() != 1 or ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
            raise ValueError(
                f"ids must be a 1-D integer tensor of token ids, "
                f"got shape {tuple(ids.shape)} dtype {ids.dtype}"
            )
        self.batch_size = _positive_int("batch_size", batch_size)
        self.seq_len = _positive_int("seq_len", seq_len)
        row_len = ids.numel() // batch_size
        if row_len < 2:
            raise ValueError(
                f"a stream of {ids.numel()} tokens is too short for batch_size={batch_size}: "
                "each of the sub-streams needs at least 2 tokens (an input and its next token)"
            )
        self.data = ids[: row_len * batch_size].long().reshape(batch_size, row_len)  # (B, L)

    def __len__(self) -> int:
        return math.ceil((self.data.shape[1] - 1) / self.seq_len)  # L - 1 positions have a next token

    def __getitem__(self, k: int) -> tuple[Tensor, Tensor]:
        """Window ``k``: ``(x, y)``, each (B, T_k) int64 with T_k = seq_len except maybe the last."""
        n = len(self)
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"window index must be an int, got {type(k).__name__}")
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"window {k} out of range for {n} windows")
        start = k * self.seq_len
        stop = min(start + self.seq_len, self.data.shape[1] - 1)
        return self.data[:, start:stop], self.data[:, start + 1 : stop + 1]  # (B, T_k), (B, T_k)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for k in range(len(self)):
            yield self[k]

    def __repr__(self) -> str:
        b, length = self.data.shape
        return f"BPTTBatches(batch_size={b}, seq_len={self.seq_len}, row_len={length}, windows={len(self)})"


class PaddedBatch(NamedTuple):
    """A batch of variable-length sequences, batch-first (chapter 3, classification labs).

    tokens: (B, T, ...) padded with ``pad_id`` after each sequence; T is the longest length.
    lengths: (B,) int64 on the CPU, as ``pack_padded_sequence`` requires.
    mask: (B, T) bool, True on real positions (``mask[b, :lengths[b]]``), False on padding.
    targets: (B, ...) stacked targets, or None.
    """

    tokens: Tensor
    lengths: Tensor
    mask: Tensor
    targets: Tensor | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> PaddedBatch:
        """Move tokens, mask and targets to ``device``; ``lengths`` stays on the CPU on purpose."""
        move = partial(Tensor.to, device=device, non_blocking=non_blocking)
        targets = move(self.targets) if self.targets is not None else None
        return PaddedBatch(move(self.tokens), self.lengths, move(self.mask), targets)


def _as_sequence_tensor(seq: Tensor | Sequence[Any], where: str) -> Tensor:
    t = seq if isinstance(seq, Tensor) else torch.as_tensor(seq)
    if t.dim() == 0 or t.shape[0] == 0:
        raise ValueError(f"{where} must be a non-empty sequence (length >= 1), got shape {tuple(t.shape)}")
    return t


def _stack_targets(targets: Tensor | Sequence[Any], batch: int) -> Tensor:
    if isinstance(targets, Tensor):
        out = targets
    else:
        items = [t if isinstance(t, Tensor) else torch.as_tensor(t) for t in targets]
        shapes = {tuple(t.shape) for t in items}
        if len(shapes) > 1:
            raise ValueError(
                f"targets must all have one shape to be stacked, got shapes {sorted(shapes)}; "
                "pad variable-length targets with their own pad_batch call"
            )
        out = torch.stack(items) if items else torch.empty(0)
    if out.dim() == 0 or out.shape[0] != batch:
        raise ValueError(f"targets must have {batch} entries, one per sequence, got shape {tuple(out.shape)}")
    return out


def pad_batch(
    seqs: Sequence[Tensor | Sequence[Any]],
    pad_id: int | float = 0,
    targets: Tensor | Sequence[Any] | None = None,
) -> PaddedBatch:
    """Pad ``seqs`` (each (L_b,) token ids or (L_b, F) features, L_b >= 1) into a ``PaddedBatch``.

    Sequences keep their order (``pack_padded_sequence(..., enforce_sorted=False)`` sorts
    internally). ``targets``, one per sequence (class ids, values or equal-shape tensors), are
    stacked into ``targets`` (B, ...).
    """
    if isinstance(seqs, Tensor) or not isinstance(seqs, Sequence) or len(seqs) == 0:
        raise ValueError("pad_batch expects a non-empty list of sequences (1-D tensors or lists of ids)")
    tensors = [_as_sequence_tensor(s, f"sequence {i}") for i, s in enumerate(seqs)]
    if len({t.shape[1:] for t in tensors}) > 1 or len({t.dtype for t in tensors}) > 1:
        found = sorted({(tuple(t.shape[1:]), str(t.dtype)) for t in tensors})
        raise ValueError(f"all sequences need the same trailing shape and dtype, got {found}")
    tokens = pad_sequence(tensors, batch_first=True, padding_value=pad_id)  # (B, T, ...)
    lengths = torch.tensor([t.shape[0] for t in tensors], dtype=torch.int64)  # (B,) on CPU
    mask = torch.arange(tokens.shape[1]) < lengths[:, None]  # (B, T)
    stacked = _stack_targets(targets, len(tensors)) if targets is not None else None
    return PaddedBatch(tokens, lengths, mask.to(tokens.device), stacked)


class SequenceDataset(Dataset[tuple[Tensor, Any]]):
    """Variable-length sequences with optional per-sequence targets (chapter 3, labs).

    ``sequences[i]`` (a list of ids or a tensor of shape (L_i,) or (L_i, F), L_i >= 1) becomes a
    tensor; item ``i`` is ``(sequence_i, target_i)``, with ``target_i = None`` when ``targets`` is
    None. Batch it with ``padded_loader``.
    """

    def __init__(
        self, sequences: Sequence[Tensor | Sequence[Any]], targets: Sequence[Any] | Tensor | None = None
    ) -> None:
        if isinstance(sequences, (str, Tensor)) or not isinstance(sequences, Sequence):
            raise TypeError(f"sequences must be a list of sequences, got {type(sequences).__name__}")
        if targets is not None and len(targets) != len(sequences):
            raise ValueError(f"got {len(sequences)} sequences but {len(targets)} targets")
        self.sequences = [_as_sequence_tensor(s, f"sequence {i}") for i, s in enumerate(sequences)]
        self.targets = targets

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> tuple[Tensor, Any]:
        return self.sequences[i], (self.targets[i] if self.targets is not None else None)


def collate_padded(items: Sequence[Any], pad_id: int | float = 0) -> PaddedBatch:
    """``collate_fn`` turning ``(sequence, target)`` pairs (or bare sequences) into a ``PaddedBatch``."""
    if items and isinstance(items[0], tuple) and len(items[0]) == 2:
        seqs = [s for s, _ in items]
        targets = [t for _, t in items]
        if all(t is None for t in targets):
            return pad_batch(seqs, pad_id)
        if any(t is None for t in targets):
            raise ValueError("some items have a target and some do not")
        return pad_batch(seqs, pad_id, targets)
    return pad_batch(list(items), pad_id)


def padded_loader(
    dataset: Dataset[Any],
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    pad_id: int | float = 0,
    *,
    drop_last: bool = False,
    num_workers: int = 0,
) -> DataLoader[Any]:
    """A ``DataLoader`` over ``(sequence, target)`` items that yields ``PaddedBatch`` es.

    ``shuffle=True`` draws the order from a generator seeded with ``seed``, so two loaders built
    alike give the same batches. Pass ``pad_id=vocab.pad_id``.
    """
    _positive_int("batch_size", batch_size)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=partial(collate_padded, pad_id=pad_id),  # a partial pickles, so workers work
        drop_last=drop_last,
        num_workers=num_workers,
    )


# --- walking nested batches ----------------------------------------------------------------------
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
