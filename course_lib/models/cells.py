"""Recurrent cells from scratch: ``RNNCell``, ``LSTMCell``, ``GRUCell``, twins of ``torch.nn``'s.

Same constructor arguments, parameter names and shapes, gate order and initialisation as torch,
so ``ours.load_state_dict(torch_cell.state_dict())`` works unchanged and the two compute the
same numbers. The maths of a step lives in steps.py, shared with the layers (layers.py).
Used in chapters/03_lstm_gru.md and chapters/03_variants.md.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_lib.models import steps
from course_lib.models._checks import (
    check_input,
    check_sizes,
    check_state,
    reset_uniform,
    split_state,
    zeros_state,
)

__all__ = ["RNNCell", "LSTMCell", "GRUCell"]

_CELL_LAYOUTS = {1: "(H_in,)", 2: "(N, H_in)"}
_STATE_NAMES = ("h", "c")


class _CellBase(nn.Module):
    """Parameters, initialisation and input checks shared by the cells (torch's ``RNNCellBase``).

    Subclasses add any extra parameter and then call ``reset_parameters()``, so that a seeded
    construction draws the same numbers, in the same order, as the torch twin.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_gates: int,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
    ) -> None:
        super().__init__()
        check_sizes(type(self).__name__, input_size, hidden_size)
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = nn.Parameter(torch.empty(num_gates * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(num_gates * hidden_size, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(num_gates * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(num_gates * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def reset_parameters(self) -> None:
        """torch's default: every parameter uniform in (-1/sqrt(H), 1/sqrt(H))."""
        reset_uniform(self, self.hidden_size)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        if getattr(self, "variant", "vanilla") != "vanilla":
            s += f", variant={self.variant}"
        return s

    def _prepare(self, x: Tensor, hx: object, arity: int) -> tuple[Tensor, tuple[Tensor, ...], bool]:
        """Check x and hx; return x as (N, H_in), the state as ``arity`` tensors (N, H), and batched."""
        who = type(self).__name__
        batched = check_input(who, x, self.weight_ih, self.input_size, _CELL_LAYOUTS)
        x = x if batched else x.unsqueeze(0)  # (N, H_in)
        if hx is None:
            state = tuple(zeros_state(self.weight_ih, (x.shape[0], self.hidden_size)) for _ in range(arity))
            return x, state, batched
        expected = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        parts = zip(_STATE_NAMES[:arity], split_state(who, hx, arity), strict=True)
        state = tuple(check_state(who, name, part, self.weight_ih, expected) for name, part in parts)
        return x, state if batched else tuple(s.unsqueeze(0) for s in state), batched


class RNNCell(_CellBase):
    """One Elman step with the parameters and maths of ``torch.nn.RNNCell``.

    ``h' = tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)`` (or ReLU with ``nonlinearity="relu"``).
    x: (N, input_size) or unbatched (input_size,); hx: (N, H) / (H,) or None for zeros.
    Returns h' shaped like hx. Used in chapters/03_lstm_gru.md.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; choose 'tanh' or 'relu'")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity
        self.reset_parameters()

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), batched = self._prepare(input, hx, arity=1)
        step = steps.rnn_tanh_step if self.nonlinearity == "tanh" else steps.rnn_relu_step
        xp = steps.input_projection(x, self.weight_ih, self.bias_ih)  # (N, H)
        h = step(xp, h, self.weight_hh, self.bias_hh)  # (N, H)
        return h if batched else h.squeeze(0)


class LSTMCell(_CellBase):
    """One LSTM step with the parameters and maths of ``torch.nn.LSTMCell`` (gates i, f, g, o).

    x: (N, input_size) or unbatched (input_size,); hx: ((N, H), (N, H)) or None for zeros.
    Returns (h', c'). ``variant`` picks the step (see ``steps.LSTM_VARIANTS``): "vanilla" (torch's
    LSTM, loads its state_dict), "peephole" (adds ``weight_peephole``: (3, H)), "coupled"
    (i = 1 - f, gates f, g, o) or "no_forget" (the 1997 cell, gates i, g, o).
    Used in chapters/03_lstm_gru.md and chapters/03_variants.md.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        variant: str = "vanilla",
    ) -> None:
        spec = steps.lstm_variant("LSTMCell", variant)
        super().__init__(input_size, hidden_size, bias, spec.num_gates, device, dtype)
        self.variant = variant
        self._spec = spec
        if spec.peephole:
            self.weight_peephole = nn.Parameter(torch.empty(3, hidden_size, device=device, dtype=dtype))
        self.reset_parameters()

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        x, (h, c), batched = self._prepare(input, hx, arity=2)
        extra = (self.weight_peephole,) if self._spec.peephole else ()
        xp = steps.input_projection(x, self.weight_ih, self.bias_ih)  # (N, G*H)
        h, c = self._spec.step(xp, h, c, self.weight_hh, self.bias_hh, *extra)  # (N, H) each
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(_CellBase):
    """One GRU step with the parameters and maths of ``torch.nn.GRUCell`` (gates r, z, n).

    The reset gate multiplies ``h @ W_hn.T + b_hn`` after the matmul, as torch and cuDNN do.
    x: (N, input_size) or unbatched (input_size,); hx: (N, H) / (H,) or None for zeros.
    Returns h'. Used in chapters/03_lstm_gru.md.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)
        self.reset_parameters()

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), batched = self._prepare(input, hx, arity=1)
        xp = steps.input_projection(x, self.weight_ih, self.bias_ih)  # (N, 3H)
        h = steps.gru_step(xp, h, self.weight_hh, self.bias_hh)  # (N, H)
        return h if batched else h.squeeze(0)
