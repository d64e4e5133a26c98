"""The public checks, one per torch.nn recurrent cell and layer, and the run they share.

Each builds the student's class and a torch.nn twin with the same weights, then compares outputs
(with a given state, then from the default zero state) and gradients in float64.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from course_lib.grading.case import CELL_BATCH, INPUT_SIZE, LAYER_BATCH, SEQ_LEN, TWINS, Setup, zero_state
from course_lib.grading.compare import compare_grads, compare_outputs
from course_lib.grading.mistakes import cell_mistakes, layer_mistakes, lstm_cell_extra
from course_lib.grading.reference import Mistake
from course_lib.grading.report import CheckReport
from course_lib.grading.student import instantiate, load


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Tiny tensors: extra CPU threads only cost synchronisation, badly so on a busy machine (10x)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run(setup: Setup, seed: int, mistakes: list[Mistake]) -> CheckReport:
    # fork_rng: building the student's class and the twin must not move the notebook's random stream.
    with torch.random.fork_rng(devices=[]), torch.enable_grad(), one_thread():
        g = torch.Generator().manual_seed(seed)
        twin = TWINS[setup.kind, setup.layer](**setup.ctor_kwargs())
        with torch.no_grad():
            for p in twin.parameters():  # wider than torch's init, so every mistake changes the numbers
                p.copy_(torch.rand(p.shape, generator=g) * 1.6 - 0.8)
        twin = twin.to(device=setup.device, dtype=torch.float64)
        student = instantiate(setup)
        load(setup, student, twin)
        if setup.layer:
            shape = (LAYER_BATCH, SEQ_LEN) if setup.batch_first else (SEQ_LEN, LAYER_BATCH)
            x = torch.randn(*shape, INPUT_SIZE, generator=g, dtype=torch.float64)  # (N, T, I) or (T, N, I)
        else:
            x = torch.randn(CELL_BATCH, INPUT_SIZE, generator=g, dtype=torch.float64)  # (N, I)
        x = x.to(setup.device)
        zero = zero_state(setup, x)
        hx = tuple(
            torch.randn(z.shape, generator=g, dtype=z.dtype).to(x.device)
            for z in (zero if setup.kind == "lstm" else (zero,))
        )
        hx = hx if setup.kind == "lstm" else hx[0]
        cases = [(hx, "outputs with a given state"), (None, "outputs from the default zero state")]
        report = CheckReport(setup.name, setup.ref, ["parameter names and shapes"])
        # A layer that reads the wrong layout often crashes on a given state; without one it runs and
        # its output can be diagnosed, so layers try the zero state first.
        for state, label in cases[::-1] if setup.layer else cases:
            error = compare_outputs(setup, student, twin, x, state, mistakes)
            report.max_error = max(report.max_error, error)
            report.checks.append(label)
        report.max_error = max(report.max_error, compare_grads(setup, student, twin, x, hx, g))
        report.checks.append("gradients of input, state and parameters")
    return report


def _setup(cls, kind: str, layer: bool, device, nonlinearity: str = "tanh", **kw) -> Setup:
    fn = f"check_{kind}_{'layer' if layer else 'cell'}"
    if isinstance(cls, nn.Module):
        raise TypeError(f"{fn} expects the class itself, e.g. {fn}(MyClass), not an instance of it")
    if not callable(cls):
        raise TypeError(f"{fn} expects a class (or a factory taking torch.nn's arguments), got {cls!r}")
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', as in torch.nn, got {nonlinearity!r}")
    device = torch.device(device)
    if device.type == "mps" or (device.type == "cuda" and not torch.cuda.is_available()):
        raise ValueError(f"the checks run in float64 on 'cpu' or an available CUDA device, got {device}")
    return Setup(kind, layer, cls, device, nonlinearity, **kw)


def _check_cell(kind: str, cls, nonlinearity: str, device, seed: int) -> CheckReport:
    setup = _setup(cls, kind, False, device, nonlinearity)
    extra = lstm_cell_extra() if kind == "lstm" else []
    return _run(setup, seed, cell_mistakes(kind, nonlinearity) + extra)


def _check_layer(
    kind: str, cls, nonlinearity: str, num_layers: int, batch_first, device, seed
) -> CheckReport:
    if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
        raise ValueError(f"num_layers must be an int >= 1, got {num_layers!r}")
    if batch_first not in (None, True, False):
        raise ValueError(f"batch_first must be True, False or None (both), got {batch_first!r}")
    layouts = (True, False) if batch_first is None else (batch_first,)
    reports = []
    for bf in layouts:
        setup = _setup(cls, kind, True, device, nonlinearity, num_layers=num_layers, batch_first=bf)
        reports.append(_run(setup, seed, layer_mistakes(kind, nonlinearity, bf)))
    first = reports[0]
    first.checks.append(f"num_layers={num_layers}, batch_first={' and '.join(map(str, layouts))}")
    first.max_error = max(r.max_error for r in reports)
    return first


def check_rnn_cell(
    cls, nonlinearity: str = "tanh", *, device: str | torch.device = "cpu", seed: int = 0
) -> CheckReport:
    """Check ``cls`` against ``torch.nn.RNNCell``: h' = nonlinearity(x W_ih^T + b_ih + h W_hh^T + b_hh).

    ``cls(input_size, hidden_size[, nonlinearity=...])``; forward(x (N, I), h (N, H) or None) -> (N, H).
    Used by the labs of chapters 1 and 2.
    """
    return _check_cell("rnn", cls, nonlinearity, device, seed)


def check_lstm_cell(cls, *, device: str | torch.device = "cpu", seed: int = 0) -> CheckReport:
    """Check ``cls`` against ``torch.nn.LSTMCell`` (gates i, f, g, o).

    forward(x (N, I), (h, c) each (N, H) or None) -> (h, c). Used by the labs of chapter 3.
    """
    return _check_cell("lstm", cls, "tanh", device, seed)


def check_gru_cell(cls, *, device: str | torch.device = "cpu", seed: int = 0) -> CheckReport:
    """Check ``cls`` against ``torch.nn.GRUCell`` (gates r, z, n; reset applied after the hidden matmul).

    forward(x (N, I), h (N, H) or None) -> h (N, H). Used by the labs of chapter 3.
    """
    return _check_cell("gru", cls, "tanh", device, seed)


def check_rnn_layer(
    cls,
    nonlinearity: str = "tanh",
    *,
    num_layers: int = 2,
    batch_first: bool | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> CheckReport:
    """Check a multi-layer ``cls`` against ``torch.nn.RNN``, for both ``batch_first`` unless one is given.

    forward(x (N, T, I) or (T, N, I), h0 (num_layers, N, H) or None) -> (output, h_n).
    Used by the labs of chapters 1 and 2.
    """
    return _check_layer("rnn", cls, nonlinearity, num_layers, batch_first, device, seed)


def check_lstm_layer(
    cls,
    *,
    num_layers: int = 2,
    batch_first: bool | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> CheckReport:
    """Check ``cls`` against ``torch.nn.LSTM``: forward(x, (h0, c0) or None) -> (output, (h_n, c_n)).

    States are (num_layers, N, H) whatever ``batch_first`` is. Used by the labs of chapter 3.
    """
    return _check_layer("lstm", cls, "tanh", num_layers, batch_first, device, seed)


def check_gru_layer(
    cls,
    *,
    num_layers: int = 2,
    batch_first: bool | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> CheckReport:
    """Check ``cls`` against ``torch.nn.GRU``: forward(x, h0 or None) -> (output, h_n).

    States are (num_layers, N, H) whatever ``batch_first`` is. Used by the labs of chapter 3.
    """
    return _check_layer("gru", cls, "tanh", num_layers, batch_first, device, seed)
