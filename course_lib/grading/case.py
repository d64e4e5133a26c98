"""One check's case: the sizes and tolerances, the torch.nn twin, and the ``Setup`` every step reads.

Internal to ``course_lib.grading``: the labs use only what the package's ``__init__`` exports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

INPUT_SIZE, HIDDEN_SIZE = 3, 5  # different, so a transposed input weight cannot go unnoticed
CELL_BATCH, LAYER_BATCH, SEQ_LEN = 2, 3, 4  # N != T and N != num_layers: swapped axes show in shapes
ATOL, RTOL = 1e-9, 1e-7  # float64 on both sides: only summation order may differ
GATES = {"rnn": "h", "lstm": "ifgo", "gru": "rzn"}  # torch.nn's order of the stacked gate blocks
TWINS = {
    ("rnn", False): nn.RNNCell,
    ("lstm", False): nn.LSTMCell,
    ("gru", False): nn.GRUCell,
    ("rnn", True): nn.RNN,
    ("lstm", True): nn.LSTM,
    ("gru", True): nn.GRU,
}


@dataclass(frozen=True)
class Setup:
    """What is checked: a ``kind`` ("rnn", "lstm" or "gru") of cell, or of layer when ``layer``."""

    kind: str  # "rnn", "lstm" or "gru"
    layer: bool
    cls: Callable
    device: torch.device
    nonlinearity: str = "tanh"
    num_layers: int = 1
    batch_first: bool = False

    @property
    def ref(self) -> str:
        return f"torch.nn.{TWINS[self.kind, self.layer].__name__}"

    @property
    def name(self) -> str:
        return getattr(self.cls, "__name__", type(self.cls).__name__)

    def ctor_kwargs(self) -> dict:
        kw: dict = {"input_size": INPUT_SIZE, "hidden_size": HIDDEN_SIZE}
        if self.nonlinearity != "tanh":
            kw["nonlinearity"] = self.nonlinearity
        if self.layer:
            kw |= {"num_layers": self.num_layers, "batch_first": self.batch_first}
        return kw

    def out_names(self) -> list[str]:
        names = ["output", "h_n", "c_n"] if self.layer else ["h", "c"]
        return names if self.kind == "lstm" else names[:2] if self.layer else names[:1]

    def form(self) -> str:
        if self.layer:
            return "(output, (h_n, c_n))" if self.kind == "lstm" else "(output, h_n)"
        return "(h, c)" if self.kind == "lstm" else "h"

    def shape_words(self, name: str) -> str:
        H, N = f"hidden_size={HIDDEN_SIZE}", f"N={LAYER_BATCH if self.layer else CELL_BATCH}"
        if not self.layer:
            return f"({N}, {H})"
        if name == "output":
            return f"({N}, T={SEQ_LEN}, {H})" if self.batch_first else f"(T={SEQ_LEN}, {N}, {H})"
        return f"(num_layers={self.num_layers}, {N}, {H})"

    def weights(self, twin: nn.Module) -> list[list]:
        sd = {k: v.detach() for k, v in twin.state_dict().items()}
        suffixes = [f"_l{k}" for k in range(self.num_layers)] if self.layer else [""]
        return [[sd[f"{p}{s}"] for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")] for s in suffixes]


def zero_state(setup: Setup, x: Tensor):
    """torch.nn's default state for input ``x``: zeros (N, H), or (num_layers, N, H) for a layer."""
    if setup.layer:
        z = x.new_zeros(setup.num_layers, x.shape[0 if setup.batch_first else 1], HIDDEN_SIZE)
    else:
        z = x.new_zeros(x.shape[0], HIDDEN_SIZE)
    return (z, z.clone()) if setup.kind == "lstm" else z


def output_spec(setup: Setup):
    """The nesting of what forward returns, for ``flatten``: None stands for one tensor."""
    inner = (None, None) if setup.kind == "lstm" else None
    return (None, inner) if setup.layer else inner


def flatten(obj, spec) -> list[Tensor] | None:
    """Tensors of ``obj`` in order if it has the nesting ``spec`` (None = a tensor), else None."""
    if spec is None:
        return [obj] if isinstance(obj, Tensor) else None
    if not isinstance(obj, (tuple, list)) or len(obj) != len(spec):
        return None
    parts = [flatten(o, s) for o, s in zip(obj, spec, strict=True)]
    return None if any(p is None for p in parts) else [t for p in parts for t in p]


def same(a: list[Tensor], b: list[Tensor]) -> bool:
    """Whether two lists of outputs agree in shape and, within the check's tolerances, in value."""
    return len(a) == len(b) and all(
        u.shape == v.shape and torch.allclose(u, v, rtol=RTOL, atol=ATOL) for u, v in zip(a, b, strict=True)
    )
