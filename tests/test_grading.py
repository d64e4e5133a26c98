"""course_lib.grading: torch.nn passes, each hand-broken class fails with the right diagnosis.

The broken classes are written here by hand, independently of grading's own reference maths, so a
diagnosis is only reported when grading really reproduces the mistake.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from course_lib import grading
from course_lib.grading.case import Setup, flatten, output_spec
from course_lib.grading.checks import one_thread
from course_lib.grading.reference import NO_MISTAKE, reference_outputs
from course_lib.models import cells, layers


# ---------------------------------------------------------------- hand-written cells, correct by default
class HandRNNCell(nn.RNNCell):
    transpose_hh = False

    def forward(self, x, h=None):
        h = x.new_zeros(x.shape[0], self.hidden_size) if h is None else h
        w_hh = self.weight_hh if self.transpose_hh else self.weight_hh.T
        a = x @ self.weight_ih.T + self.bias_ih + h @ w_hh + self.bias_hh
        return torch.relu(a) if self.nonlinearity == "relu" else torch.tanh(a)


class HandLSTMCell(nn.LSTMCell):
    order = "ifgo"

    def pre(self, x, h):
        return x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh

    def forward(self, x, hx=None):
        if hx is None:
            hx = (x.new_zeros(x.shape[0], self.hidden_size), x.new_zeros(x.shape[0], self.hidden_size))
        h, c = hx
        gate = dict(zip(self.order, self.pre(x, h).chunk(4, dim=1), strict=True))
        c = torch.sigmoid(gate["f"]) * c + torch.sigmoid(gate["i"]) * self.cand(gate["g"])
        h = torch.sigmoid(gate["o"]) * self.squash(c)
        return self.pack(h, c)

    cand = staticmethod(torch.tanh)
    squash = staticmethod(torch.tanh)

    def pack(self, h, c):
        return h, c


class HandGRUCell(nn.GRUCell):
    order = "rzn"

    def forward(self, x, h=None):
        h = x.new_zeros(x.shape[0], self.hidden_size) if h is None else h
        gi = dict(zip(self.order, (x @ self.weight_ih.T + self.bias_ih).chunk(3, 1), strict=True))
        gh = dict(zip(self.order, (h @ self.weight_hh.T + self.bias_hh).chunk(3, 1), strict=True))
        r = torch.sigmoid(gi["r"] + gh["r"])
        z = torch.sigmoid(gi["z"] + gh["z"])
        n = torch.tanh(gi["n"] + self.hidden_n(r, h, gh))
        return self.mix(z, n, h)

    def hidden_n(self, r, h, gh):
        return r * gh["n"]

    def mix(self, z, n, h):
        return (1 - z) * n + z * h


# ---------------------------------------------------------------- one mistake each
class RNNTransposedHH(HandRNNCell):
    transpose_hh = True


class RNNAlwaysTanh(HandRNNCell):
    def forward(self, x, h=None):
        h = x.new_zeros(x.shape[0], self.hidden_size) if h is None else h
        return torch.tanh(x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh)


class RNNNoBiasHH(HandRNNCell):
    def forward(self, x, h=None):
        h = x.new_zeros(x.shape[0], self.hidden_size) if h is None else h
        return torch.tanh(x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T)


class RNNIgnoresState(HandRNNCell):
    def forward(self, x, h=None):
        return super().forward(x, None)


class RNNOnesDefault(HandRNNCell):
    def forward(self, x, h=None):
        return super().forward(x, x.new_ones(x.shape[0], self.hidden_size) if h is None else h)


class LSTMBiasTwice(HandLSTMCell):
    def pre(self, x, h):
        return super().pre(x, h) + self.bias_ih + self.bias_hh


class LSTMSigmoidCandidate(HandLSTMCell):
    cand = staticmethod(torch.sigmoid)


class LSTMNoTanhOnC(HandLSTMCell):
    squash = staticmethod(lambda c: c)


class LSTMReturnsC(HandLSTMCell):
    def pack(self, h, c):
        return c, h


class LSTMReturnsOnlyH(HandLSTMCell):
    def pack(self, h, c):
        return h


class LSTMTransposedStorage(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.weight_ih = nn.Parameter(torch.randn(input_size, 4 * hidden_size))
        self.weight_hh = nn.Parameter(torch.randn(hidden_size, 4 * hidden_size))
        self.bias_ih = nn.Parameter(torch.zeros(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.zeros(4 * hidden_size))


class LSTMOwnNames(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.W = nn.Linear(input_size, 4 * hidden_size)
        self.U = nn.Linear(hidden_size, 4 * hidden_size)


class LSTMWrongSignature(HandLSTMCell):
    def __init__(self, n_in, n_hidden):
        super().__init__(n_in, n_hidden)


class LSTMFloat32Default(HandLSTMCell):
    def forward(self, x, hx=None):
        if hx is None:
            hx = (torch.zeros(x.shape[0], self.hidden_size), torch.zeros(x.shape[0], self.hidden_size))
        return super().forward(x, hx)


class LSTMUsesData(HandLSTMCell):
    def pre(self, x, h):
        return x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.data.T + self.bias_hh


class GRUWeightAsBuffer(HandGRUCell):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, bias)
        w = self.weight_hh.detach().clone()
        del self.weight_hh
        self.register_buffer("weight_hh", w)  # loads fine, but would never be trained


class LSTMCrashes(HandLSTMCell):
    def pre(self, x, h):
        return x @ self.weight_ih + h @ self.weight_hh.T  # weight_ih is (4H, I): x @ it cannot work


class GRUFlipZ(HandGRUCell):
    def mix(self, z, n, h):
        return z * n + (1 - z) * h


class GRUResetBefore(HandGRUCell):
    def hidden_n(self, r, h, gh):
        w_hn, b_hn = self.weight_hh.chunk(3)[2], self.bias_hh.chunk(3)[2]
        return (r * h) @ w_hn.T + b_hn


class GRUBiasOutside(HandGRUCell):
    def hidden_n(self, r, h, gh):
        w_hn, b_hn = self.weight_hh.chunk(3)[2], self.bias_hh.chunk(3)[2]
        return r * (h @ w_hn.T) + b_hn


# ---------------------------------------------------------------- hand-written layers
def _hand_layer(base: type[nn.Module], step):
    """A subclass of ``base`` (nn.RNN/LSTM/GRU) whose forward loops over time with ``step``."""

    class Layer(base):
        def run(self, x, hx):  # x (T, N, I) -> output (T, N, H), per-layer final states
            L, N, H = self.num_layers, x.shape[1], self.hidden_size
            lstm = isinstance(self, nn.LSTM)
            if hx is None:
                hx = (x.new_zeros(L, N, H), x.new_zeros(L, N, H)) if lstm else x.new_zeros(L, N, H)
            finals = []
            for k in range(L):
                w = [getattr(self, f"{p}_l{k}") for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                state = (hx[0][k], hx[1][k]) if lstm else hx[k]
                outs = []
                for t in range(x.shape[0]):
                    state = step(x[t], state, *w)
                    outs.append(state[0] if lstm else state)
                x = torch.stack(outs)
                finals.append(state)
            if lstm:
                return x, (torch.stack([s[0] for s in finals]), torch.stack([s[1] for s in finals]))
            return x, torch.stack(finals)

        def forward(self, x, hx=None):
            x = x.transpose(0, 1) if self.batch_first else x
            out, states = self.run(x, hx)
            return (out.transpose(0, 1) if self.batch_first else out), states

    return Layer


def lstm_step(x, state, w_ih, w_hh, b_ih, b_hh):
    h, c = state
    i, f, g, o = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    ir, iz, in_ = (x @ w_ih.T + b_ih).chunk(3, 1)
    hr, hz, hn = (h @ w_hh.T + b_hh).chunk(3, 1)
    r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
    return (1 - z) * torch.tanh(in_ + r * hn) + z * h


def rnn_step(x, h, w_ih, w_hh, b_ih, b_hh):
    return torch.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)


HandLSTM = _hand_layer(nn.LSTM, lstm_step)
HandGRU = _hand_layer(nn.GRU, gru_step)
HandRNN = _hand_layer(nn.RNN, rnn_step)


class LSTMIgnoresBatchFirst(HandLSTM):
    def forward(self, x, hx=None):
        return self.run(x, hx)


class LSTMStateBatchFirst(HandLSTM):
    def forward(self, x, hx=None):
        out, (h, c) = super().forward(x, hx)
        return out, ((h.transpose(0, 1), c.transpose(0, 1)) if self.batch_first else (h, c))


class LSTMSwapsStates(HandLSTM):
    def forward(self, x, hx=None):
        out, (h, c) = super().forward(x, hx)
        return out, (c, h)


class GRULastLayerOnly(HandGRU):
    def forward(self, x, hx=None):
        out, h = super().forward(x, hx)
        return out, h[-1:]


def gru_step_reset_before(x, h, w_ih, w_hh, b_ih, b_hh):
    ir, iz, in_ = (x @ w_ih.T + b_ih).chunk(3, 1)
    hr, hz, _ = (h @ w_hh.T + b_hh).chunk(3, 1)
    r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
    n = torch.tanh(in_ + (r * h) @ w_hh.chunk(3)[2].T + b_hh.chunk(3)[2])  # d2l / Cho et al.
    return (1 - z) * n + z * h


GRULayerResetBefore = _hand_layer(nn.GRU, gru_step_reset_before)


def lstm_step_ifog(x, state, w_ih, w_hh, b_ih, b_hh):
    h, c = state
    i, f, o, g = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, 1)  # o and g swapped
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


LSTMLayerIFOG = _hand_layer(nn.LSTM, lstm_step_ifog)
RNNLayerNoBias = _hand_layer(nn.RNN, lambda x, h, w_ih, w_hh, b_ih, b_hh: torch.tanh(x @ w_ih.T + h @ w_hh.T))


class GRUIgnoresH0(HandGRU):
    def forward(self, x, hx=None):
        return super().forward(x, None)


class RNNDetachesState(HandRNN):
    def run(self, x, hx):
        outs, finals = [], []
        h0 = x.new_zeros(self.num_layers, x.shape[1], self.hidden_size) if hx is None else hx
        for k in range(self.num_layers):
            w = [getattr(self, f"{p}_l{k}") for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h, outs = h0[k], []
            for t in range(x.shape[0]):
                h = rnn_step(x[t], h.detach(), *w)  # truncates the graph: outputs right, gradients wrong
                outs.append(h)
            x = torch.stack(outs)
            finals.append(h)
        return x, torch.stack(finals)


# ---------------------------------------------------------------- tests
CHECKS = {
    "rnn_cell": grading.check_rnn_cell,
    "lstm_cell": grading.check_lstm_cell,
    "gru_cell": grading.check_gru_cell,
    "rnn_layer": grading.check_rnn_layer,
    "lstm_layer": grading.check_lstm_layer,
    "gru_layer": grading.check_gru_layer,
}


@pytest.mark.parametrize(
    ("check", "cls"),
    [
        ("rnn_cell", nn.RNNCell),
        ("lstm_cell", nn.LSTMCell),
        ("gru_cell", nn.GRUCell),
        ("rnn_layer", nn.RNN),
        ("lstm_layer", nn.LSTM),
        ("gru_layer", nn.GRU),
        ("rnn_cell", HandRNNCell),
        ("lstm_cell", HandLSTMCell),
        ("gru_cell", HandGRUCell),
        ("rnn_layer", HandRNN),
        ("lstm_layer", HandLSTM),
        ("gru_layer", HandGRU),
    ],
)
def test_correct_classes_pass(check, cls):
    report = CHECKS[check](cls)
    assert isinstance(report, grading.CheckReport)
    assert report.max_error < 1e-12
    assert "gradients" in repr(report) and repr(report).startswith("✓")
    assert "color:#1a7f37" in report._repr_html_()


def test_relu_rnn_passes_and_tanh_cell_is_caught():
    assert grading.check_rnn_cell(nn.RNNCell, "relu").max_error < 1e-12
    assert grading.check_rnn_layer(nn.RNN, "relu", batch_first=True).max_error < 1e-12
    assert grading.check_lstm_layer(HandLSTM, num_layers=1, batch_first=False).max_error < 1e-12
    with pytest.raises(grading.CheckFailed, match="applies tanh where nonlinearity='relu'") as info:
        grading.check_rnn_cell(RNNAlwaysTanh, "relu")
    assert info.value.mistake == "nonlinearity:tanh"


@pytest.mark.parametrize("order", ["".join(p) for p in itertools.permutations("ifgo")][1:])
def test_every_lstm_gate_order_is_named(order):
    cls = type(f"LSTM_{order}", (HandLSTMCell,), {"order": order})
    with pytest.raises(grading.CheckFailed) as info:
        grading.check_lstm_cell(cls)
    assert info.value.mistake == f"gate_order:{order}"
    assert f"order ({', '.join(order)})" in str(info.value)


@pytest.mark.parametrize("order", ["".join(p) for p in itertools.permutations("rzn")][1:])
def test_every_gru_gate_order_is_named(order):
    cls = type(f"GRU_{order}", (HandGRUCell,), {"order": order})
    with pytest.raises(grading.CheckFailed) as info:
        grading.check_gru_cell(cls)
    assert info.value.mistake == f"gate_order:{order}"


@pytest.mark.parametrize(
    ("check", "cls", "mistake", "words"),
    [
        ("rnn_cell", RNNTransposedHH, "transposed:weight_hh", "h @ weight_hh instead of @ weight_hh.T"),
        ("rnn_cell", RNNNoBiasHH, "bias:10", "bias_hh is never added"),
        ("rnn_cell", RNNIgnoresState, "ignores_state", "state passed in is ignored"),
        ("rnn_cell", RNNOnesDefault, "default_state", "does not start from zeros"),
        ("lstm_cell", LSTMBiasTwice, "bias:22", "both biases are added twice"),
        ("lstm_cell", LSTMSigmoidCandidate, "act:candidate_sigmoid", "candidate g needs tanh"),
        ("lstm_cell", LSTMNoTanhOnC, "lstm:no_tanh_c", "h = o * c"),
        ("lstm_cell", LSTMReturnsC, "returns_c", "returns (c, h)"),
        ("lstm_cell", LSTMTransposedStorage, "transposed_storage", "stored transposed"),
        ("lstm_cell", LSTMOwnNames, "parameter_names", "Missing: bias_hh, bias_ih, weight_hh, weight_ih"),
        ("lstm_cell", LSTMReturnsOnlyH, "return_structure", r"should return (h, c)"),
        ("lstm_cell", LSTMFloat32Default, "crash", "x.new_zeros"),
        ("lstm_cell", LSTMUsesData, "no_gradient", "weight_hh gets no gradient"),
        ("gru_cell", GRUFlipZ, "gru:flip_z", "z and 1 - z are swapped"),
        ("gru_cell", GRUResetBefore, "gru:reset_before", "before the hidden matmul"),
        ("gru_cell", GRUBiasOutside, "gru:bhn_outside", "b_hn is added outside"),
        ("gru_cell", GRUWeightAsBuffer, "not_a_parameter", "weight_hh is not an nn.Parameter"),
        ("lstm_layer", LSTMIgnoresBatchFirst, "layout:time_major", "reads it as time-major"),
        ("lstm_layer", LSTMStateBatchFirst, "layout:state_batch_first", "(N, num_layers, hidden_size)"),
        ("lstm_layer", LSTMSwapsStates, "swap_states", "(c_n, h_n)"),
        ("gru_layer", GRULastLayerOnly, "layout:last_layer_only", "only the last layer"),
        ("gru_layer", GRULayerResetBefore, "gru:reset_before", "before the hidden matmul"),
        ("lstm_layer", LSTMLayerIFOG, "gate_order:ifog", "order (i, f, o, g)"),
        ("rnn_layer", RNNLayerNoBias, "bias:00", "no bias is added at all"),
        ("gru_layer", GRUIgnoresH0, "ignores_state", "state passed in is ignored"),
        ("rnn_layer", RNNDetachesState, "gradient", "the gradient for x differs"),
    ],
)
def test_broken_class_fails_with_the_right_diagnosis(check, cls, mistake, words):
    with pytest.raises(grading.CheckFailed) as info:
        CHECKS[check](cls)
    assert info.value.mistake == mistake, str(info.value)
    assert words in str(info.value)
    assert isinstance(info.value, AssertionError)


def test_time_major_mistake_is_caught_with_batch_first_false_too():
    class ReadsBatchFirst(HandLSTM):
        def forward(self, x, hx=None):
            out, states = self.run(x.transpose(0, 1), hx)
            return out.transpose(0, 1), states

    grading.check_lstm_layer(ReadsBatchFirst, batch_first=True)  # right by accident when batch_first=True
    with pytest.raises(grading.CheckFailed, match="reads it as batch-first") as info:
        grading.check_lstm_layer(ReadsBatchFirst, batch_first=False)
    assert info.value.mistake == "layout:batch_major"


def test_crash_message_names_the_call_shapes_and_line():
    with pytest.raises(grading.CheckFailed) as info:
        grading.check_lstm_cell(LSTMCrashes)
    msg = str(info.value)
    assert "LSTMCrashes crashed" in msg
    assert "cell(x, (h0, c0)) with x (2, 3), h0 (2, 5), c0 (2, 5)" in msg
    assert "test_grading.py" in msg and "x @ self.weight_ih + h @ self.weight_hh.T" in msg
    assert "without .T" in msg
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_crash_in_backward_names_no_line_of_grading_itself():
    class EditsOutputInPlace(HandRNNCell):
        def forward(self, x, h=None):
            return super().forward(x, h).mul_(1.0)  # tanh's backward needs its output: autograd refuses

    with pytest.raises(grading.CheckFailed) as info:
        grading.check_rnn_cell(EditsOutputInPlace)
    msg = str(info.value)
    assert info.value.mistake == "crash" and "backward through the outputs of cell(x, h0)" in msg
    assert "in-place edit" in msg
    assert ".py, line" not in msg  # only grading's and torch's frames: no line of the student's to show


def test_constructor_and_argument_errors():
    with pytest.raises(grading.CheckFailed, match=r"LSTMWrongSignature\(input_size=3, hidden_size=5\)"):
        grading.check_lstm_cell(LSTMWrongSignature)
    with pytest.raises(TypeError, match="the class itself"):
        grading.check_lstm_cell(nn.LSTMCell(3, 5))
    with pytest.raises(grading.CheckFailed, match="not a torch.nn.Module"):
        grading.check_gru_cell(lambda input_size, hidden_size: "a string")
    with pytest.raises(ValueError, match="nonlinearity"):
        grading.check_rnn_cell(nn.RNNCell, "sigmoid")
    with pytest.raises(ValueError, match="num_layers"):
        grading.check_gru_layer(nn.GRU, num_layers=0)


def test_no_default_state_gets_a_clear_message():
    class NeedsState(HandRNNCell):
        def forward(self, x, h):
            return super().forward(x, h)

    with pytest.raises(grading.CheckFailed, match="give it a default of None"):
        grading.check_rnn_cell(NeedsState)


def test_unknown_mistake_is_reported_without_a_guess():
    class Doubled(HandGRUCell):
        def forward(self, x, h=None):
            return 2 * super().forward(x, h)

    with pytest.raises(grading.CheckFailed, match="none of the common mistakes") as info:
        grading.check_gru_cell(Doubled)
    assert info.value.mistake is None
    assert "h differs from torch.nn.GRUCell's by up to" in str(info.value)


def test_checks_leave_the_global_random_stream_alone():
    before = torch.get_rng_state()
    grading.check_lstm_layer(nn.LSTM, batch_first=True)
    assert torch.equal(before, torch.get_rng_state())


def test_reference_maths_equals_torch_on_a_deeper_layer():
    """The diagnosis is only as good as the reference it perturbs: with no mistake it must be torch."""
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    with one_thread():  # tiny tensors: threads only add waiting on a busy CI machine
        _compare_reference_with_torch(x)


def _compare_reference_with_torch(x):
    for kind, layer in [("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)]:
        twin = layer(3, 5, num_layers=3, batch_first=True).double()
        setup = Setup(kind, True, layer, torch.device("cpu"), num_layers=3, batch_first=True)
        ours = reference_outputs(setup, NO_MISTAKE, x, None, setup.weights(twin))
        theirs = flatten(twin(x), output_spec(setup))
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("check", "cls"),
    [
        ("rnn_cell", cells.RNNCell),
        ("lstm_cell", cells.LSTMCell),
        ("gru_cell", cells.GRUCell),
        ("rnn_layer", layers.RNN),
        ("lstm_layer", layers.LSTM),
        ("gru_layer", layers.GRU),
    ],
)
def test_course_lib_models_pass(check, cls):
    report = CHECKS[check](cls)
    assert report.max_error < 1e-12
    if check.startswith("rnn"):
        assert CHECKS[check](cls, "relu").max_error < 1e-12


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_checks_run_on_cuda():
    assert grading.check_lstm_cell(HandLSTMCell, device="cuda").max_error < 1e-10
    assert grading.check_gru_layer(nn.GRU, device="cuda").max_error < 1e-10
    with pytest.raises(grading.CheckFailed, match="before the hidden matmul"):
        grading.check_gru_cell(GRUResetBefore, device="cuda")
