"""Diagnoses for hidden tests: what a wrong value most likely means, computed by the grader.

``cell_probe(cls, kind)`` runs in the sandbox (a hidden test records its result): it builds the
student's cell like the ``check_*_cell`` functions do, loads a ``torch.nn`` twin's random weights
and returns the outputs on a fixed input and state. ``explain(diagnose, got, want)`` runs in the
grader's own process: for ``"lstm_cell"``/``"gru_cell"``/``"rnn_cell"`` it rebuilds the same case
and asks the mistake catalogue (``mistakes.diagnose``) which common mistake reproduces ``got``;
for any array it names a wrong shape, a transpose, a flipped sign or a constant factor.
``cell_reference`` gives torch.nn's own values for the same case. Used by ``assignments`` and the
hidden tests of labs 1 to 5.
"""

from __future__ import annotations

import numpy as np
import torch

from course_lib.grading.case import CELL_BATCH, HIDDEN_SIZE, INPUT_SIZE, TWINS, Setup
from course_lib.grading.mistakes import cell_mistakes, diagnose, lstm_cell_extra

__all__ = ["cell_probe", "cell_reference", "explain"]


def _case(kind: str, seed: int):
    g = torch.Generator().manual_seed(seed)
    twin = TWINS[kind, False](input_size=INPUT_SIZE, hidden_size=HIDDEN_SIZE)
    with torch.no_grad():
        for p in twin.parameters():  # wider than torch's init, so every mistake changes the numbers
            p.copy_(torch.rand(p.shape, generator=g) * 1.6 - 0.8)
    twin = twin.double()
    x = torch.randn(CELL_BATCH, INPUT_SIZE, generator=g, dtype=torch.float64)  # (N, I)
    h = torch.randn(CELL_BATCH, HIDDEN_SIZE, generator=g, dtype=torch.float64)  # (N, H)
    hx = (h, torch.randn(CELL_BATCH, HIDDEN_SIZE, generator=g, dtype=torch.float64)) if kind == "lstm" else h
    return twin, x, hx


def cell_probe(cls, kind: str, seed: int = 0, state: bool = True, grads: bool = False) -> list[np.ndarray]:
    """The outputs of the student's cell ``cls`` (built like torch.nn.{RNN,LSTM,GRU}Cell) on the
    grader's case: with the case's state (``state``) or the default one; with ``grads``, the
    gradients of the outputs' sum for weight_ih, weight_hh, bias_ih, bias_hh instead."""
    twin, x, hx = _case(kind, seed)
    cell = cls(input_size=INPUT_SIZE, hidden_size=HIDDEN_SIZE).double()
    cell.load_state_dict(twin.state_dict())
    with torch.set_grad_enabled(grads):
        out = cell(x, hx) if state else cell(x)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        if not grads:
            return [o.detach().numpy() for o in outs]
        sum(o.sum() for o in outs).backward()
    params = dict(cell.named_parameters())
    return [params[n].grad.numpy() for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def cell_reference(kind: str, seed: int = 0, state: bool = True, grads: bool = False) -> list[np.ndarray]:
    """What ``cell_probe`` gives for torch.nn's own cell: the expected values of a hidden test."""
    return cell_probe(TWINS[kind, False], kind, seed, state, grads)


def _cell_words(kind: str, got, seed: int = 0) -> str:
    twin, x, hx = _case(kind, seed)
    setup = Setup(kind, False, type(twin), torch.device("cpu"))
    try:
        got_t = [torch.as_tensor(np.asarray(g, dtype=np.float64)) for g in got]
    except (TypeError, ValueError):
        return ""
    ws = [[p.detach() for p in (twin.weight_ih, twin.weight_hh, twin.bias_ih, twin.bias_hh)]]
    mistakes = cell_mistakes(kind, "tanh") + (lstm_cell_extra() if kind == "lstm" else [])
    try:
        m, partial = diagnose(setup, got_t, x, hx, ws, mistakes, 0)
    except (RuntimeError, ValueError, IndexError):
        return ""
    if m is None:
        return ""
    return ("probably " if partial else "likely mistake: ") + m.words


def _array_words(got, want) -> str:
    if not isinstance(want, np.ndarray) or want.dtype.kind != "f":
        return ""
    if not isinstance(got, np.ndarray):
        return f"expected an array of shape {want.shape}, got {type(got).__name__}"
    if got.shape != want.shape:
        if got.shape == want.T.shape and want.ndim == 2:
            return f"shape {got.shape} is the transpose of the expected {want.shape}"
        return f"shape {got.shape}, expected {want.shape}"
    if not np.all(np.isfinite(got)):
        return "contains NaN or inf"
    if want.ndim == 2 and want.shape[0] == want.shape[1] and np.allclose(got, want.T, rtol=1e-6, atol=1e-9):
        return "it is the transpose of the expected matrix"
    if np.allclose(got, -want, rtol=1e-6, atol=1e-9):
        return "the sign is flipped"
    scale = np.vdot(got, want) / max(np.vdot(want, want), 1e-300)
    if abs(scale) > 1e-12 and np.allclose(got, scale * want, rtol=1e-6, atol=1e-9):
        return f"off by a constant factor of {scale:.3g}"
    return ""


def explain(diagnose: str | None, got, want) -> str:
    """Words on why ``got`` differs from ``want`` (both decoded), or "" when nothing specific is known.

    ``diagnose`` comes from the hidden test's config: ``"lstm_cell:SEED"`` (or gru_cell, rnn_cell)
    when ``got`` is ``cell_probe(cls, kind, SEED)``; a key of ``lab_cases.MISTAKES`` (``"sgns_loss:7"``)
    names the mistake of labs 4 and 5 that reproduces ``got``; otherwise arrays get generic words.
    """
    kind, _, seed = (diagnose or "").partition(":")
    if kind in ("lstm_cell", "gru_cell", "rnn_cell"):
        if isinstance(got, tuple) and all(isinstance(g, np.ndarray) for g in got):
            words = _cell_words(kind.split("_")[0], got, int(seed or 0))
            return words or "no known mistake reproduces these outputs"
        return "the cell should return " + ("(h, c)" if kind == "lstm_cell" else "h")
    if kind:  # labs 4 and 5: the mistake catalogue of lab_cases
        from course_lib.grading.lab_cases import MISTAKES

        if kind in MISTAKES:
            try:
                words = MISTAKES[kind](got, int(seed or 0))
            except (TypeError, ValueError, IndexError, RuntimeError):
                words = ""
            if words:
                return words
    return _array_words(got, want)
