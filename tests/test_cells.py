"""The from-scratch cells equal their torch.nn twins, and the comparison catches wrong cells.

Parity: outputs, input and state gradients and every parameter gradient, float64 atol 1e-10,
after ``load_state_dict`` from the torch twin. Plus gradcheck on every cell and variant, and
the LSTM variants' maths checked against vanilla LSTMs built to behave like them.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call

from course_lib import models
from course_lib.models import steps

F64 = torch.float64
KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


TWINS = {  # kind -> (our class, torch's class, constructor keywords)
    "rnn_tanh": (models.RNNCell, nn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (models.RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (models.LSTMCell, nn.LSTMCell, {}),
    "gru": (models.GRUCell, nn.GRUCell, {}),
}


def make_pair(kind: str, input_size: int, hidden_size: int, bias: bool = True, dtype=F64):
    """Our cell and its torch twin, with the twin's weights loaded into ours."""
    ours_cls, twin_cls, kwargs = TWINS[kind]
    ours = ours_cls(input_size, hidden_size, bias, dtype=dtype, **kwargs)
    theirs = twin_cls(input_size, hidden_size, bias, dtype=dtype, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def random_state(kind: str, shape: tuple[int, ...], g: torch.Generator, dtype=F64):
    parts = [torch.randn(shape, generator=g, dtype=dtype) for _ in range(2 if kind == "lstm" else 1)]
    return tuple(parts) if kind == "lstm" else parts[0]


def forward_backward(cell: nn.Module, x: Tensor, hx) -> dict[str, Tensor]:
    """Run ``cell(x, hx)``, backpropagate a fixed random projection, collect values and grads."""
    x = x.detach().clone().requires_grad_()
    parts = () if hx is None else hx if isinstance(hx, tuple) else (hx,)
    leaves = [h.detach().clone().requires_grad_() for h in parts]
    hx_in = None if hx is None else (tuple(leaves) if isinstance(hx, tuple) else leaves[0])
    cell.zero_grad(set_to_none=True)
    out = cell(x, hx_in)
    outs = list(out) if isinstance(out, tuple) else [out]
    g = torch.Generator().manual_seed(123)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() for o in outs)
    loss.backward()
    res = {f"output {i}": o.detach() for i, o in enumerate(outs)}
    res["grad input"] = x.grad
    res.update({f"grad hx {i}": leaf.grad for i, leaf in enumerate(leaves)})
    res.update({f"grad {name}": p.grad for name, p in cell.named_parameters()})
    return res


def max_errors(a: dict[str, Tensor], b: dict[str, Tensor]) -> dict[str, float]:
    assert a.keys() == b.keys()
    assert all(a[k].shape == b[k].shape for k in a), {k: (a[k].shape, b[k].shape) for k in a}
    return {k: (a[k] - b[k]).abs().max().item() for k in a}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", KINDS)
def test_cell_matches_torch_float64(kind: str, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    n, i, h = (int(v) for v in torch.randint(1, 8, (3,), generator=g))
    torch.manual_seed(seed)
    ours, theirs = make_pair(kind, i, h, bias=seed != 3)
    for batched in (True, False):
        shape = (n, h) if batched else (h,)
        x = torch.randn((n, i) if batched else (i,), generator=g, dtype=F64)
        for hx in (None, random_state(kind, shape, g)):
            errors = max_errors(forward_backward(ours, x, hx), forward_backward(theirs, x, hx))
            assert max(errors.values()) < 1e-10, (batched, hx is None, errors)


@pytest.mark.parametrize("kind", KINDS)
def test_cell_matches_torch_float32(kind: str) -> None:
    g = torch.Generator().manual_seed(7)
    ours, theirs = make_pair(kind, 6, 9, dtype=torch.float32)
    x = torch.randn(4, 6, generator=g)
    hx = random_state(kind, (4, 9), g, dtype=torch.float32)
    a, b = forward_backward(ours, x, hx), forward_backward(theirs, x, hx)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)


@pytest.mark.parametrize("kind", KINDS)
def test_same_parameters_and_initialisation_as_torch(kind: str) -> None:
    ours_cls, twin_cls, kwargs = TWINS[kind]
    torch.manual_seed(3)
    a = ours_cls(5, 6, **kwargs)
    torch.manual_seed(3)
    b = twin_cls(5, 6, **kwargs)
    assert [(k, v.shape) for k, v in a.named_parameters()] == [(k, v.shape) for k, v in b.named_parameters()]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert repr(a) == repr(b)
    b.load_state_dict(a.state_dict())  # and the other way round
    bound = 1 / 6**0.5
    assert all(p.abs().max() <= bound for p in a.parameters())
    no_bias = ours_cls(5, 6, bias=False, **kwargs)
    assert no_bias.bias_ih is None and no_bias.bias_hh is None
    assert [k for k, _ in no_bias.named_parameters()] == ["weight_ih", "weight_hh"]


CELLS = {
    "rnn_tanh": lambda: models.RNNCell(3, 4, dtype=F64),
    "rnn_relu": lambda: models.RNNCell(3, 4, nonlinearity="relu", dtype=F64),
    "gru": lambda: models.GRUCell(3, 4, dtype=F64),
    **{f"lstm_{v}": (lambda v=v: models.LSTMCell(3, 4, dtype=F64, variant=v)) for v in models.LSTM_VARIANTS},
}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_gradcheck_every_cell(name: str) -> None:
    torch.manual_seed(0)
    cell = CELLS[name]()
    names = [k for k, _ in cell.named_parameters()]
    arity = 2 if name.startswith("lstm") else 1

    def f(x: Tensor, *rest: Tensor):
        state, params = rest[:arity], dict(zip(names, rest[arity:], strict=True))
        return functional_call(cell, params, (x, state if arity == 2 else state[0]))

    inputs = [torch.randn(2, 3, dtype=F64)] + [torch.randn(2, 4, dtype=F64) for _ in range(arity)]
    params = [p.detach().clone() for p in cell.parameters()]
    assert torch.autograd.gradcheck(f, tuple(t.requires_grad_() for t in inputs + params))


# --- the LSTM variants, each checked against a vanilla LSTM built to behave like it ---


def vanilla_from_chunks(chunks: dict[str, tuple[Tensor, Tensor, Tensor, Tensor]]) -> models.LSTMCell:
    """A vanilla LSTMCell whose i, f, g, o rows are given as (w_ih, w_hh, b_ih, b_hh) per gate."""
    w_ih, w_hh, b_ih, b_hh = (torch.cat([chunks[gate][k] for gate in "ifgo"]) for k in range(4))
    cell = models.LSTMCell(w_ih.shape[1], w_hh.shape[1], dtype=F64)
    cell.load_state_dict({"weight_ih": w_ih, "weight_hh": w_hh, "bias_ih": b_ih, "bias_hh": b_hh})
    return cell


def gate_chunks(cell: models.LSTMCell) -> dict[str, tuple[Tensor, ...]]:
    params = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    per_param = [p.detach().chunk(len(cell._spec.gates)) for p in params]
    return {gate: tuple(p[k] for p in per_param) for k, gate in enumerate(cell._spec.gates)}


def sample(n=5, i=3, h=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, h0, c0 = (torch.randn(n, size, generator=g, dtype=F64) for size in (i, h, h))
    return x, (h0, c0)


def test_no_forget_equals_vanilla_with_forget_gate_stuck_open() -> None:
    torch.manual_seed(1)
    cell = models.LSTMCell(3, 4, dtype=F64, variant="no_forget")
    chunks = gate_chunks(cell)
    zero = tuple(torch.zeros_like(t) for t in chunks["i"])
    chunks["f"] = (zero[0], zero[1], torch.full_like(zero[2], 1e3), zero[3])  # sigmoid(1000) is 1.0 exactly
    x, hx = sample()
    for a, b in zip(cell(x, hx), vanilla_from_chunks(chunks)(x, hx), strict=True):
        assert (a - b).abs().max() < 1e-12
    assert cell.weight_ih.shape == (3 * 4, 3)


def test_coupled_input_gate_is_one_minus_forget() -> None:
    torch.manual_seed(2)
    cell = models.LSTMCell(3, 4, dtype=F64, variant="coupled")
    chunks = gate_chunks(cell)
    chunks["i"] = tuple(-t for t in chunks["f"])  # sigmoid(-a) = 1 - sigmoid(a)
    x, hx = sample()
    for a, b in zip(cell(x, hx), vanilla_from_chunks(chunks)(x, hx), strict=True):
        assert (a - b).abs().max() < 1e-12


def test_peephole_step_follows_gers_and_schmidhuber() -> None:
    torch.manual_seed(3)
    cell = models.LSTMCell(3, 4, dtype=F64, variant="peephole")
    x, (h, c) = sample()
    pre = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    a_i, a_f, a_g, a_o = pre.chunk(4, 1)
    p_i, p_f, p_o = cell.weight_peephole
    c_new = torch.sigmoid(a_f + p_f * c) * c + torch.sigmoid(a_i + p_i * c) * torch.tanh(a_g)
    h_new = torch.sigmoid(a_o + p_o * c_new) * torch.tanh(c_new)  # the output gate sees the new cell
    h_out, c_out = cell(x, (h, c))
    assert (h_out - h_new).abs().max() < 1e-12 and (c_out - c_new).abs().max() < 1e-12
    # With zero peepholes it is the vanilla cell; with the trained ones it is not.
    vanilla = vanilla_from_chunks(gate_chunks(cell))
    assert (vanilla(x, (h, c))[0] - h_out).abs().max() > 1e-4
    with torch.no_grad():
        cell.weight_peephole.zero_()
    assert (vanilla(x, (h, c))[0] - cell(x, (h, c))[0]).abs().max() < 1e-12


def test_variant_names_are_checked() -> None:
    with pytest.raises(ValueError, match="coupled"):
        models.LSTMCell(3, 4, variant="gru")
    assert "variant=coupled" in repr(models.LSTMCell(3, 4, variant="coupled"))


# --- negative tests: the same comparison catches known-wrong cells ---


def test_swapped_input_and_forget_gates_are_caught() -> None:
    torch.manual_seed(4)
    ours, theirs = make_pair("lstm", 3, 5)
    state = theirs.state_dict()
    swapped = {k: torch.cat([v.chunk(4)[j] for j in (1, 0, 2, 3)]) for k, v in state.items()}  # f, i, g, o
    ours.load_state_dict(swapped)
    x, hx = sample(h=5)
    errors = max_errors(forward_backward(ours, x, hx), forward_backward(theirs, x, hx))
    assert max(errors.values()) > 1e-3


def flipped_gru_step(xp, h, weight_hh, bias_hh=None):
    """A common slip: z and 1 - z exchanged, so z gates the candidate instead of the past."""
    hp = nn.functional.linear(h, weight_hh, bias_hh)
    x_r, x_z, x_n = xp.chunk(3, 1)
    h_r, h_z, h_n = hp.chunk(3, 1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return z * n + (1 - z) * h


def reset_before_matmul_gru_step(xp, h, weight_hh, bias_hh=None):
    """Cho et al.'s original GRU, r applied to h before the matmul: not what torch computes."""
    w_r, w_z, w_n = weight_hh.chunk(3)
    b_r, b_z, b_n = bias_hh.chunk(3)
    x_r, x_z, x_n = xp.chunk(3, 1)
    r = torch.sigmoid(x_r + h @ w_r.T + b_r)
    z = torch.sigmoid(x_z + h @ w_z.T + b_z)
    n = torch.tanh(x_n + (r * h) @ w_n.T + b_n)
    return (1 - z) * n + z * h


@pytest.mark.parametrize("wrong_step", [flipped_gru_step, reset_before_matmul_gru_step])
def test_wrong_gru_steps_are_caught(monkeypatch: pytest.MonkeyPatch, wrong_step) -> None:
    torch.manual_seed(5)
    ours, theirs = make_pair("gru", 3, 4)
    x, (hx, _) = sample()
    assert max(max_errors(forward_backward(ours, x, hx), forward_backward(theirs, x, hx)).values()) < 1e-10
    monkeypatch.setattr(steps, "gru_step", wrong_step)
    errors = max_errors(forward_backward(ours, x, hx), forward_backward(theirs, x, hx))
    assert max(errors.values()) > 1e-3
