"""How a batch of sequences enters a recurrent layer, and how the output leaves it.

torch's layers accept a padded tensor (time- or batch-major), an unbatched (L, H_in) tensor or a
``PackedSequence``. The time loop in layers.py always sees a time-major padded tensor (T, N, H_in);
this module converts in and out. A packed batch stays in its packed (sorted by length) order
inside the loop, with a per-step mask so that a finished sequence keeps its state: padding never
leaks into the final states, and the reverse direction starts at each sequence's own last element.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence


@dataclass(frozen=True)
class SequenceLayout:
    """How the input arrived, so that outputs and states can leave the same way."""

    batched: bool
    batch_first: bool
    packed: PackedSequence | None = None  # the input, for batch_sizes and sorted/unsorted indices
    lengths: Tensor | None = None  # (N,) int64 on CPU, in packed order; None unless packed


def to_time_major(x: Tensor | PackedSequence, batch_first: bool) -> tuple[Tensor, SequenceLayout]:
    """The input as a padded time-major tensor (T, N, H_in), and its layout."""
    if isinstance(x, PackedSequence):
        # Without the indices, pad_packed_sequence keeps the packed (longest first) order.
        padded, lengths = pad_packed_sequence(PackedSequence(x.data, x.batch_sizes))  # (T, N, H_in)
        return padded, SequenceLayout(True, batch_first, x, lengths)
    if x.dim() == 2:  # unbatched (L, H_in): torch ignores batch_first here
        return x.unsqueeze(1), SequenceLayout(False, batch_first)  # (L, 1, H_in)
    return (x.transpose(0, 1) if batch_first else x), SequenceLayout(True, batch_first)  # (T, N, H_in)


def from_time_major(out: Tensor, layout: SequenceLayout) -> Tensor | PackedSequence:
    """Undo ``to_time_major`` on the layer output (T, N, D*H)."""
    if layout.packed is not None:
        data = pack_padded_sequence(out, layout.lengths).data  # (sum of lengths, D*H)
        p = layout.packed
        return PackedSequence(data, p.batch_sizes, p.sorted_indices, p.unsorted_indices)
    if not layout.batched:
        return out.squeeze(1)  # (L, D*H)
    return out.transpose(0, 1) if layout.batch_first else out


def step_mask(layout: SequenceLayout, steps: int, device: torch.device) -> Tensor | None:
    """(T, N, 1) bool, True where step t is inside sequence n; None for unpacked input."""
    if layout.lengths is None:
        return None
    t = torch.arange(steps, device=device)
    return (t[:, None] < layout.lengths.to(device)[None, :]).unsqueeze(-1)  # (T, N, 1)


def to_packed_order(state: Tensor, layout: SequenceLayout) -> Tensor:
    """A user's state (L*D, N, H), given in batch order, reordered like the packed data."""
    p = layout.packed
    return state if p is None or p.sorted_indices is None else state.index_select(1, p.sorted_indices)


def from_packed_order(state: Tensor, layout: SequenceLayout) -> Tensor:
    """A final state (L*D, N, H) back in the user's batch order."""
    p = layout.packed
    return state if p is None or p.unsorted_indices is None else state.index_select(1, p.unsorted_indices)
