"""The maths of one recurrent step, written once and shared by the cells and the layers.

Every step function takes the input *already projected*, ``xp = x @ W_ih.T + b_ih`` of shape
(N, G*H) for G gates, plus the previous state and the recurrent weights. Only ``h @ W_hh.T``
truly depends on the previous step, so a layer (layers.py) projects all T inputs in one matmul
and loops over these functions; a cell (cells.py) projects its single input and calls the same
function once. Gate order and formulas follow ``torch.nn``: LSTM chunks are i, f, g, o; GRU chunks
are r, z, n, with the reset gate applied *after* the hidden matmul.

The LSTM variants that chapters/03_variants.md compares are listed in ``LSTM_VARIANTS``.
chapters/01_recurrence.md and chapters/03_lstm_gru.md show its source; the cells and layers built
on it run in chapters 1-3, and ``decode``'s stepper steps language models with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "input_projection",
    "recurrent_preactivation",
    "rnn_tanh_step",
    "rnn_relu_step",
    "gru_step",
    "lstm_step",
    "lstm_peephole_step",
    "lstm_coupled_step",
    "lstm_no_forget_step",
    "LSTMVariant",
    "LSTM_VARIANTS",
    "lstm_variant",
]


def input_projection(x: Tensor, weight_ih: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ W_ih.T + bias`` for any leading shape: (..., I) -> (..., G*H)."""
    return F.linear(x, weight_ih, bias)


def recurrent_preactivation(
    xp: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None = None
) -> Tensor:
    """``xp + h @ W_hh.T (+ b_hh)``: every gate's pre-activation, (N, G*H).

    ``addmm`` adds ``xp`` inside the matmul, saving one pass over the (N, G*H) result; a layer
    that has already folded ``b_hh`` into ``xp`` passes ``bias_hh=None``.
    """
    gates = torch.addmm(xp, h, weight_hh.T)  # (N, G*H)
    return gates if bias_hh is None else gates + bias_hh


def rnn_tanh_step(xp: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None = None) -> Tensor:
    """Elman step ``h' = tanh(xp + h @ W_hh.T + b_hh)``; xp: (N, H), h: (N, H) -> (N, H)."""
    return torch.tanh(recurrent_preactivation(xp, h, weight_hh, bias_hh))


def rnn_relu_step(xp: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None = None) -> Tensor:
    """Elman step with ReLU, ``h' = relu(xp + h @ W_hh.T + b_hh)``; shapes as ``rnn_tanh_step``."""
    return torch.relu(recurrent_preactivation(xp, h, weight_hh, bias_hh))


def gru_step(xp: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None = None) -> Tensor:
    """GRU step; xp: (N, 3H) in chunks r, z, n; h: (N, H) -> (N, H).

    ``b_hh`` cannot be folded into ``xp`` here: the reset gate scales ``W_hn h + b_hn`` as a whole.
    """
    hp = F.linear(h, weight_hh, bias_hh)  # (N, 3H)
    x_r, x_z, x_n = xp.chunk(3, dim=1)
    h_r, h_z, h_n = hp.chunk(3, dim=1)
    r = torch.sigmoid(x_r + h_r)  # how much of the past the candidate may see
    z = torch.sigmoid(x_z + h_z)  # how much of the past to keep
    n = torch.tanh(x_n + r * h_n)  # candidate state
    return (1 - z) * n + z * h  # keep z of the past, write 1 - z of the candidate


def lstm_step(
    xp: Tensor, h: Tensor, c: Tensor, weight_hh: Tensor, bias_hh: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """LSTM step as ``torch.nn.LSTM``; xp: (N, 4H) in chunks i, f, g, o; h, c: (N, H) -> (h', c')."""
    i, f, g, o = recurrent_preactivation(xp, h, weight_hh, bias_hh).chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # forget, then write
    h = torch.sigmoid(o) * torch.tanh(c)  # expose a filtered cell
    return h, c


def lstm_peephole_step(
    xp: Tensor,
    h: Tensor,
    c: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    weight_peephole: Tensor,
) -> tuple[Tensor, Tensor]:
    """LSTM with peephole connections (Gers & Schmidhuber 2000); xp: (N, 4H) as ``lstm_step``.

    weight_peephole: (3, H), the diagonal weights p_i, p_f, p_o. The input and forget gates look at
    the old cell, the output gate at the new one:
    ``i = sigmoid(a_i + p_i*c)``, ``f = sigmoid(a_f + p_f*c)``, ``o = sigmoid(a_o + p_o*c')``.
    """
    p_i, p_f, p_o = weight_peephole.unbind(0)  # each (H,)
    a_i, a_f, g, a_o = recurrent_preactivation(xp, h, weight_hh, bias_hh).chunk(4, dim=1)
    c = torch.sigmoid(a_f + p_f * c) * c + torch.sigmoid(a_i + p_i * c) * torch.tanh(g)
    h = torch.sigmoid(a_o + p_o * c) * torch.tanh(c)
    return h, c


def lstm_coupled_step(
    xp: Tensor, h: Tensor, c: Tensor, weight_hh: Tensor, bias_hh: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """LSTM with coupled input and forget gates, ``i = 1 - f``; xp: (N, 3H) in chunks f, g, o.

    One gate fewer: the cell writes exactly as much as it forgets (Greff et al. 2017, "CIFG").
    """
    a_f, g, o = recurrent_preactivation(xp, h, weight_hh, bias_hh).chunk(3, dim=1)
    f = torch.sigmoid(a_f)
    c = f * c + (1 - f) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def lstm_no_forget_step(
    xp: Tensor, h: Tensor, c: Tensor, weight_hh: Tensor, bias_hh: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The 1997 LSTM without a forget gate, ``c' = c + i*g``; xp: (N, 3H) in chunks i, g, o.

    The cell can only accumulate: on long streams it grows without bound, which is why
    Gers et al. (2000) added the forget gate.
    """
    i, g, o = recurrent_preactivation(xp, h, weight_hh, bias_hh).chunk(3, dim=1)
    c = c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


@dataclass(frozen=True)
class LSTMVariant:
    """What distinguishes one LSTM variant: its step, its gates (chunk order) and extra weights."""

    name: str
    step: Callable[..., tuple[Tensor, Tensor]]
    gates: tuple[str, ...]
    peephole: bool = False  # True: the step takes a (3, H) ``weight_peephole`` after ``bias_hh``

    @property
    def num_gates(self) -> int:
        return len(self.gates)


LSTM_VARIANTS: dict[str, LSTMVariant] = {
    "vanilla": LSTMVariant("vanilla", lstm_step, ("i", "f", "g", "o")),
    "peephole": LSTMVariant("peephole", lstm_peephole_step, ("i", "f", "g", "o"), peephole=True),
    "coupled": LSTMVariant("coupled", lstm_coupled_step, ("f", "g", "o")),
    "no_forget": LSTMVariant("no_forget", lstm_no_forget_step, ("i", "g", "o")),
}


def lstm_variant(who: str, variant: object) -> LSTMVariant:
    """The ``LSTM_VARIANTS`` entry named ``variant``; ``who`` (the caller) and the names go in the error."""
    if variant not in LSTM_VARIANTS:
        raise ValueError(f"{who}: unknown variant {variant!r}; choose one of {sorted(LSTM_VARIANTS)}")
    return LSTM_VARIANTS[variant]  # type: ignore[index]
