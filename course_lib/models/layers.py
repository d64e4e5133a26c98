"""Recurrent layers from scratch: ``RNN``, ``LSTM``, ``GRU``, twins of ``torch.nn``'s.

Same constructor arguments, parameter names (``weight_ih_l{k}``, ``..._reverse``), return values
and state shapes (num_layers * D, N, H) as torch, so ``ours.load_state_dict(theirs.state_dict())``
works unchanged and a model can take either layer. Each direction of each layer projects all its
inputs in one matmul and then loops over time with the step functions of steps.py, the same ones
the cells (cells.py) use. Used in chapters/01_recurrence.md, chapters/02_bptt.md and the chapter 3
pages (chapters/03_lstm_gru.md, chapters/03_variants.md, chapters/03_stacked_bidirectional.md).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from course_lib.models import steps
from course_lib.models._bptt import defer_hidden_weight_grad, second_order_bridge
from course_lib.models._checks import (
    check_dropout,
    check_input,
    check_sizes,
    check_state,
    reset_uniform,
    split_state,
    zeros_state,
)
from course_lib.models._packing import (
    SequenceLayout,
    from_packed_order,
    from_time_major,
    step_mask,
    to_packed_order,
    to_time_major,
)

__all__ = ["RNN", "LSTM", "GRU"]

State = tuple[Tensor, ...]  # (h,) or (h, c), each (N, H) inside the loop


class _RecurrentLayer(nn.Module):
    """What RNN, LSTM and GRU share (torch's ``RNNBase``); a subclass supplies ``_step``."""

    _state_names: tuple[str, ...] = ("h_0",)
    _fold_hidden_bias = True  # b_hh can join the hoisted projection unless a gate scales it (GRU)

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bias: bool,
        batch_first: bool,
        dropout: float,
        bidirectional: bool,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
        num_gates: int,
        peephole: bool = False,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        check_sizes(who, input_size, hidden_size, num_layers)
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout = check_dropout(who, dropout)
        self.proj_size = 0
        if self.dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{who}: dropout acts between recurrent layers, so dropout={dropout} does nothing "
                "with num_layers=1",
                stacklevel=3,
            )
        factory = {"device": device, "dtype": dtype}
        gh = num_gates * hidden_size
        # Per (layer, direction), in torch's order: base name ("weight_ih") -> full name ("weight_ih_l0").
        self._names: list[dict[str, str]] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self._num_directions
            for suffix in ("", "_reverse")[: self._num_directions]:
                shapes = {"weight_ih": (gh, layer_input), "weight_hh": (gh, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gh,), bias_hh=(gh,))
                if peephole:
                    shapes["weight_peephole"] = (3, hidden_size)
                names = {base: f"{base}_l{layer}{suffix}" for base in shapes}
                for base, shape in shapes.items():
                    self.register_parameter(names[base], nn.Parameter(torch.empty(shape, **factory)))
                self._names.append(names)
        self.reset_parameters()

    @property
    def _num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """Parameters grouped per (layer, direction), as ``torch.nn.RNNBase.all_weights``."""
        return [[getattr(self, name) for name in names.values()] for names in self._names]

    def _direction_params(self, k: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None, State]:
        """(w_ih, w_hh, b_ih, b_hh, extra) of direction k = layer * D + direction."""
        p = {base: getattr(self, name) for base, name in self._names[k].items()}
        extra = (p["weight_peephole"],) if "weight_peephole" in p else ()
        return p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh"), extra

    def reset_parameters(self) -> None:
        """torch's default: every parameter uniform in (-1/sqrt(H), 1/sqrt(H))."""
        reset_uniform(self, self.hidden_size)

    def flatten_parameters(self) -> None:
        """A no-op: torch needs it for cuDNN's flat weight buffer; this layer has none."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    def _step(self, xp: Tensor, state: State, w_hh: Tensor, b_hh: Tensor | None, extra: State) -> State:
        """One time step of one direction; each of RNN, LSTM and GRU supplies its own (abstract here)."""
        raise NotImplementedError(f"{type(self).__name__} must define _step")

    def _initial_state(self, hx: object, batch: int, layout: SequenceLayout, ref: Tensor) -> State:
        """Each part of the state as (num_layers * D, N, H), zeros when hx is None."""
        size = self.num_layers * self._num_directions
        if hx is None:
            return tuple(zeros_state(ref, (size, batch, self.hidden_size)) for _ in self._state_names)
        who = type(self).__name__
        expected = (size, batch, self.hidden_size) if layout.batched else (size, self.hidden_size)
        parts = zip(self._state_names, split_state(who, hx, len(self._state_names)), strict=True)
        checked = [check_state(who, name, part, ref, expected) for name, part in parts]
        return tuple(to_packed_order(s if layout.batched else s.unsqueeze(1), layout) for s in checked)

    def _run_direction(
        self, x: Tensor, state: State, k: int, reverse: bool, mask: Tensor | None
    ) -> tuple[Tensor, State]:
        """Direction k of one layer: x (T, N, H_in) -> outputs (T, N, H) and the final state."""
        w_ih, w_hh, b_ih, b_hh, extra = self._direction_params(k)
        if self._fold_hidden_bias and b_hh is not None:
            b_ih, b_hh = b_ih + b_hh, None  # one bias add for all T steps instead of one per step
        xp = steps.input_projection(x, w_ih, b_ih)  # (T, N, G*H), hoisted out of the loop
        h_prev, w_full = None, w_hh
        if self._fold_hidden_bias and torch.is_grad_enabled() and w_hh.requires_grad:
            xp, w_hh, h_prev = defer_hidden_weight_grad(xp, w_hh)  # see _bptt.py
        # Iterate with unbind: indexing xp[t] instead makes each step's backward allocate a zero
        # (T, N, G*H) gradient and sum T of them, O(T^2).
        inputs = xp.unbind(0)  # T x (N, G*H)
        outputs = []
        for t in range(len(inputs) - 1, -1, -1) if reverse else range(len(inputs)):
            x_t = inputs[t]
            if h_prev is not None:
                h_prev[t] = state[0].detach()
                x_t = second_order_bridge(x_t, state[0], w_full)
            new = self._step(x_t, state, w_hh, b_hh, extra)
            if mask is not None:  # a finished (or, read backwards, not yet begun) sequence keeps its state
                new = tuple(torch.where(mask[t], n, s) for n, s in zip(new, state, strict=True))
            state = new
            outputs.append(state[0])
        if reverse:
            outputs.reverse()  # back to time order
        return torch.stack(outputs), state  # (T, N, H)

    def forward(
        self, input: Tensor | PackedSequence, hx: Tensor | tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        who, ref = type(self).__name__, self.weight_ih_l0
        if isinstance(input, PackedSequence):
            check_input(who, input.data, ref, self.input_size, {2: "(sum of lengths, H_in)"})
        else:
            layout_name = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
            check_input(who, input, ref, self.input_size, {2: "(L, H_in)", 3: layout_name})
        x, layout = to_time_major(input, self.batch_first)  # (T, N, H_in)
        if x.shape[0] == 0:
            raise ValueError(f"{who}: expected a sequence of at least one step, got length 0")
        state = self._initial_state(hx, x.shape[1], layout, ref)  # parts (L*D, N, H)
        mask = step_mask(layout, x.shape[0], x.device)
        finals: list[State] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self._num_directions):
                k = layer * self._num_directions + direction
                out, final = self._run_direction(x, tuple(s[k] for s in state), k, direction == 1, mask)
                outputs.append(out)
                finals.append(final)
            x = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]  # (T, N, D*H)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)  # between layers, never after the last
        # finals holds one (h,) or (h, c) per direction; regroup into h_n (and c_n), each (L*D, N, H).
        final_state = [from_packed_order(torch.stack(part), layout) for part in zip(*finals, strict=True)]
        if not layout.batched:
            final_state = [s.squeeze(1) for s in final_state]  # (L*D, H)
        h_n = final_state[0] if len(final_state) == 1 else tuple(final_state)
        return from_time_major(x, layout), h_n


class RNN(_RecurrentLayer):
    """Elman RNN layer with the arguments, parameters and outputs of ``torch.nn.RNN``.

    input: (L, N, H_in), (N, L, H_in) with ``batch_first``, (L, H_in) unbatched, or a PackedSequence;
    hx: (num_layers * D, N, H) or None. Returns (output (L, N, D*H) or packed, h_n (num_layers * D, N, H)).
    Used in chapters/01_recurrence.md and chapters/02_bptt.md.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; choose 'tanh' or 'relu'")
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        args = (input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        super().__init__(mode, *args, device, dtype, num_gates=1)
        self.nonlinearity = nonlinearity

    def _step(self, xp: Tensor, state: State, w_hh: Tensor, b_hh: Tensor | None, extra: State) -> State:
        step = steps.rnn_tanh_step if self.nonlinearity == "tanh" else steps.rnn_relu_step
        return (step(xp, state[0], w_hh, b_hh),)


class LSTM(_RecurrentLayer):
    """LSTM layer with the arguments, parameters and outputs of ``torch.nn.LSTM`` (gates i, f, g, o).

    input as ``RNN``; hx: (h_0, c_0), each (num_layers * D, N, H), or None.
    Returns (output, (h_n, c_n)). ``variant`` ("vanilla", "peephole", "coupled", "no_forget") picks
    the cell as in ``LSTMCell``; only "vanilla" loads torch's state_dict. ``proj_size`` exists for
    signature compatibility and must stay 0.
    Used in chapters/03_lstm_gru.md, chapters/03_variants.md and chapters/03_stacked_bidirectional.md.
    """

    _state_names = ("h_0", "c_0")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        variant: str = "vanilla",
    ) -> None:
        if proj_size != 0:
            raise ValueError(f"LSTM: proj_size={proj_size} is not supported here; use torch.nn.LSTM")
        spec = steps.lstm_variant("LSTM", variant)
        args = (input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        super().__init__("LSTM", *args, device, dtype, num_gates=spec.num_gates, peephole=spec.peephole)
        self.variant = variant
        self._spec = spec

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", variant={self.variant}" if self.variant != "vanilla" else "")

    def _step(self, xp: Tensor, state: State, w_hh: Tensor, b_hh: Tensor | None, extra: State) -> State:
        return self._spec.step(xp, state[0], state[1], w_hh, b_hh, *extra)


class GRU(_RecurrentLayer):
    """GRU layer with the arguments, parameters and outputs of ``torch.nn.GRU`` (gates r, z, n).

    input and hx as ``RNN``. Returns (output, h_n). Used in chapters/03_lstm_gru.md.
    """

    _fold_hidden_bias = False  # the reset gate scales W_hn h + b_hn, so b_hh stays in the step

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        args = (input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        super().__init__("GRU", *args, device, dtype, num_gates=3)

    def _step(self, xp: Tensor, state: State, w_hh: Tensor, b_hh: Tensor | None, extra: State) -> State:
        return (steps.gru_step(xp, state[0], w_hh, b_hh),)
