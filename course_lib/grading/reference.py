"""torch.nn's recurrent maths, written out in float64 with switches that put one common mistake in.

With ``NO_MISTAKE`` it computes exactly what torch.nn.RNNCell/LSTMCell/GRUCell and RNN/LSTM/GRU do
(tests/test_grading.py checks it); with any other ``Mistake`` it computes what a learner who made
that mistake gets, which is how the diagnosis in ``mistakes`` names one. Internal to
``course_lib.grading``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib.grading.case import GATES, Setup, zero_state


@dataclass(frozen=True)
class Mistake:
    """One common mistake, as switches on the reference maths. ``words`` is what the learner reads."""

    key: str
    words: str
    order: str | None = None  # the gate each weight block is read as, e.g. "ifog"
    transpose: str = ""  # "ih" or "hh": that weight used as x @ W instead of x @ W.T
    bias_scale: tuple[int, int] = (1, 1)  # how many times bias_ih, bias_hh are added
    gate_act: str = "sigmoid"
    cand_act: str | None = None  # None: tanh (LSTM, GRU) or the RNN's nonlinearity
    out_act: str = "tanh"  # LSTM: h = o * out_act(c)
    flip_z: bool = False
    reset_before: bool = False
    bhn_outside: bool = False
    ignore_hx: bool = False
    swap_hc: bool = False
    layout: str = ""  # layer-level mistakes, see mistakes.layer_mistakes


NO_MISTAKE = Mistake("none", "no mistake")
_ACT: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "identity": lambda t: t,
}


def _linear(x: Tensor, w: Tensor, b: Tensor | None, transposed: bool, times: int) -> Tensor:
    y = x @ (w if transposed else w.T)  # transposed only fits square weights; otherwise it raises
    return y if b is None else y + times * b


def step(kind: str, m: Mistake, x: Tensor, state, w: list, nonlinearity: str):
    """One step of torch.nn's cell maths with mistake ``m`` put in. x (N, I); state h or (h, c)."""
    w_ih, w_hh, b_ih, b_hh = w
    gi = _linear(x, w_ih, b_ih, m.transpose == "ih", m.bias_scale[0])  # (N, G*H)
    h = state[0] if kind == "lstm" else state
    gh = _linear(h, w_hh, b_hh, m.transpose == "hh", m.bias_scale[1])  # (N, G*H)
    sig, cand = _ACT[m.gate_act], _ACT[m.cand_act or (nonlinearity if kind == "rnn" else "tanh")]
    if kind == "rnn":
        return cand(gi + gh)
    order = m.order or GATES[kind]
    if kind == "lstm":
        g = dict(zip(order, (gi + gh).chunk(4, dim=1), strict=True))
        c = sig(g["f"]) * state[1] + sig(g["i"]) * cand(g["g"])
        return sig(g["o"]) * _ACT[m.out_act](c), c
    gi, gh = dict(zip(order, gi.chunk(3, 1), strict=True)), dict(zip(order, gh.chunk(3, 1), strict=True))
    r, z = sig(gi["r"] + gh["r"]), sig(gi["z"] + gh["z"])
    if m.reset_before:  # Cho et al. / d2l: W_hn (r * h) + b_hn
        rh = _linear(r * h, w_hh, b_hh, m.transpose == "hh", m.bias_scale[1])
        n = cand(gi["n"] + dict(zip(order, rh.chunk(3, 1), strict=True))["n"])
    elif m.bhn_outside:  # r * (W_hn h) + b_hn
        bare = dict(zip(order, _linear(h, w_hh, None, m.transpose == "hh", 0).chunk(3, 1), strict=True))
        b_hn = dict(zip(order, b_hh.chunk(3), strict=True))["n"] * m.bias_scale[1]
        n = cand(gi["n"] + r * bare["n"] + b_hn)
    else:
        n = cand(gi["n"] + r * gh["n"])
    return z * n + (1 - z) * h if m.flip_z else (1 - z) * n + z * h


def cell_outputs(kind: str, m: Mistake, x: Tensor, state, w: list, nonlinearity: str) -> list[Tensor]:
    """A cell's outputs with mistake ``m``: [h] (N, H), or [h, c] for an LSTM; w holds four tensors."""
    if m.ignore_hx:
        state = tuple(torch.zeros_like(s) for s in state) if kind == "lstm" else torch.zeros_like(state)
    out = step(kind, m, x, state, w, nonlinearity)
    if kind != "lstm":
        return [out]
    return [out[1], out[0]] if m.swap_hc else list(out)


def layer_outputs(kind: str, m: Mistake, x: Tensor, hx, ws: list[list], bf: bool, nl: str) -> list[Tensor]:
    """torch.nn.RNN/LSTM/GRU maths with mistake ``m``; ws[k] holds layer k's four tensors."""
    reads_bf = bf != (m.layout == "wrong_layout")
    seq = x.transpose(0, 1) if reads_bf else x  # (T, N, I)
    L, N, H = len(ws), seq.shape[1], ws[0][1].shape[1]
    zeros = seq.new_zeros(L, N, H)
    if hx is None or m.ignore_hx:
        hx = (zeros, zeros) if kind == "lstm" else zeros
    finals, first_out = [], None
    for k in range(L):
        state = (hx[0][k], hx[1][k]) if kind == "lstm" else hx[k]
        outs = []
        for t in range(seq.shape[0]):
            state = step(kind, m, seq[t], state, ws[k], nl)
            h = state if kind != "lstm" else state[1 if m.layout == "output_c" else 0]
            outs.append(h)
        seq = torch.stack(outs)  # (T, N, H): the next layer's input
        first_out = seq if first_out is None else first_out
        finals.append(state)
    output = first_out if m.layout == "output_first_layer" else seq
    output = output.transpose(0, 1) if reads_bf else output
    states = (
        [torch.stack([s[i] for s in finals]) for i in (0, 1)] if kind == "lstm" else [torch.stack(finals)]
    )
    if m.layout == "state_batch_first":
        states = [s.transpose(0, 1) for s in states]
    elif m.layout == "last_layer_only":
        states = [s[-1:] for s in states]
    elif m.layout == "swap_states":
        states = states[::-1]
    return [output, *states]


def reference_outputs(setup: Setup, m: Mistake, x: Tensor, hx, ws: list[list]) -> list[Tensor]:
    """What ``setup``'s torch.nn twin returns, flattened, had it made mistake ``m``; hx None: zeros."""
    if setup.layer:
        return layer_outputs(setup.kind, m, x, hx, ws, setup.batch_first, setup.nonlinearity)
    return cell_outputs(
        setup.kind, m, x, zero_state(setup, x) if hx is None else hx, ws[0], setup.nonlinearity
    )
