"""Tests for course_lib.gradflow: state-gradient norms against brute-force autograd, exact scaling on a
linear RNN, Jacobian products against torch.autograd.functional.jacobian, spectral radius."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from course_lib import gradflow, models

DT = torch.float64


class LinearRNN(nn.Module):
    """h_t = W_ih x_t + W_hh h_{t-1}, with the torch.nn.RNN interface (one layer, no bias)."""

    def __init__(self, input_size: int, hidden_size: int, batch_first: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.batch_first = input_size, hidden_size, batch_first
        self.weight_ih_l0 = nn.Parameter(torch.randn(hidden_size, input_size, dtype=DT))
        self.weight_hh_l0 = nn.Parameter(torch.randn(hidden_size, hidden_size, dtype=DT))

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = x if self.batch_first else x.transpose(0, 1)  # (N, T, F)
        h = torch.zeros(x.shape[0], self.hidden_size, dtype=x.dtype) if h0 is None else h0[0]
        outs = []
        for x_t in x.unbind(1):
            h = x_t @ self.weight_ih_l0.T + h @ self.weight_hh_l0.T  # (N, H)
            outs.append(h)
        out = torch.stack(outs, dim=1)  # (N, T, H)
        return (out if self.batch_first else out.transpose(0, 1)), h.unsqueeze(0)


def _cells_of(layer: nn.Module) -> list[nn.Module]:
    """torch.nn cells that share the weights of each layer of a torch.nn.RNN/LSTM/GRU."""
    kind = type(layer).__name__
    cells = []
    for k in range(layer.num_layers):
        size = layer.input_size if k == 0 else layer.hidden_size
        if kind == "RNN":
            cell = nn.RNNCell(size, layer.hidden_size, nonlinearity=layer.nonlinearity)
        else:
            cell = getattr(nn, kind + "Cell")(size, layer.hidden_size)
        cell = cell.to(DT)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(layer, f"{name}_l{k}").data)
        cells.append(cell)
    return cells


def _brute_force(layer: nn.Module, x: Tensor, p: Tensor, wrt: str) -> Tensor:
    """Unroll with cells and take autograd.grad of p . h_{T-1} (top layer) with respect to the state
    *carried* into the next step: a clone of each state that only the next step (and, for the top
    layer's h, the loss) reads, while the layer above reads the original within the step."""
    cells = _cells_of(layer)
    xs = x if layer.batch_first else x.transpose(0, 1)  # (N, T, F)
    n, is_lstm = xs.shape[0], isinstance(layer, nn.LSTM)
    zero = torch.zeros(n, layer.hidden_size, dtype=DT)
    carried = [(zero, zero) if is_lstm else (zero,) for _ in range(layer.num_layers)]
    kept = []  # per step: the measured carried tensor of every layer
    for x_t in xs.unbind(1):
        inp = x_t
        for k, cell in enumerate(cells):
            new = cell(inp, carried[k]) if is_lstm else (cell(inp, carried[k][0]),)
            inp = new[0]  # the layer above reads the state within the step
            carried[k] = tuple(s.clone() for s in new)  # ... the next step reads these nodes
        kept.append([c[1] if wrt == "c" else c[0] for c in carried])
    loss = (carried[-1][0] @ p).sum()
    flat = [t for step in kept for t in step]
    grads = torch.autograd.grad(loss, flat, allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for t, g in zip(flat, grads, strict=True)]
    L = layer.num_layers
    per_step = [torch.cat(grads[i : i + L], dim=1) for i in range(0, len(grads), L)]  # each (N, L*H)
    return torch.stack([g.norm(dim=1).mean() for g in per_step])  # (T,)


def _unit_projection(size: int, seed: int = 0) -> Tensor:
    p = torch.randn(size, generator=torch.Generator().manual_seed(seed), dtype=DT)
    return p / p.norm()


@pytest.mark.parametrize(
    "kind, kwargs, wrt",
    [
        ("RNN", {"nonlinearity": "tanh"}, "h"),
        ("RNN", {"nonlinearity": "relu"}, "h"),
        ("GRU", {}, "h"),
        ("LSTM", {}, "h"),
        ("LSTM", {}, "c"),
        ("LSTM", {"num_layers": 2}, "h"),
        ("LSTM", {"num_layers": 2}, "c"),
    ],
)
@pytest.mark.parametrize("batch_first", [True, False])
def test_matches_brute_force_autograd(kind: str, kwargs: dict, wrt: str, batch_first: bool) -> None:
    torch.manual_seed(1)
    layer = getattr(nn, kind)(3, 5, batch_first=batch_first, **kwargs).to(DT)
    x = torch.randn(4, 9, 3, dtype=DT)  # (N, T, F)
    x_in = x if batch_first else x.transpose(0, 1)
    got = gradflow.state_gradient_norms(layer, x_in, wrt=wrt)
    want = _brute_force(layer, x_in, _unit_projection(5), wrt)
    assert got.shape == (9,)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert all(p.grad is None for p in layer.parameters())  # measuring must not write .grad


@pytest.mark.parametrize("a", [0.5, 1.0, 1.3])
def test_linear_rnn_with_scaled_orthogonal_matrix_scales_as_a_power(a: float) -> None:
    torch.manual_seed(0)
    layer = LinearRNN(2, 6)
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=DT))
    with torch.no_grad():
        layer.weight_hh_l0.copy_(a * q)
    steps = 20
    norms = gradflow.state_gradient_norms(layer, torch.randn(3, steps, 2, dtype=DT))
    # dL/dh_t = (W^T)^(T-1-t) p, and an orthogonal matrix keeps the norm of the unit vector p.
    expected = torch.tensor([a ** (steps - 1 - t) for t in range(steps)], dtype=DT)
    torch.testing.assert_close(norms, expected, rtol=1e-10, atol=0)


def test_loss_all_and_callable_agree() -> None:
    torch.manual_seed(2)
    layer = nn.GRU(3, 4, batch_first=True).to(DT)
    x = torch.randn(2, 7, 3, dtype=DT)
    p = _unit_projection(4)
    by_name = gradflow.state_gradient_norms(layer, x, loss="all")
    by_callable = gradflow.state_gradient_norms(layer, x, loss=lambda out: (out @ p).sum())
    torch.testing.assert_close(by_name, by_callable, rtol=1e-12, atol=0)
    last = gradflow.state_gradient_norms(layer, x, loss="last")
    # A loss on every step also reaches each state from the outputs near it: a different curve.
    assert not torch.allclose(by_name, last)
    torch.testing.assert_close(last[-1], torch.tensor(1.0, dtype=DT))  # ||p|| = 1 at the last step


def test_initial_state_changes_the_result_and_is_used() -> None:
    torch.manual_seed(3)
    layer = nn.RNN(2, 4, batch_first=True).to(DT)
    x = torch.randn(3, 6, 2, dtype=DT)
    zero = gradflow.state_gradient_norms(layer, x)
    also_zero = gradflow.state_gradient_norms(layer, x, h0=torch.zeros(1, 3, 4, dtype=DT))
    big = gradflow.state_gradient_norms(layer, x, h0=torch.full((1, 3, 4), 3.0, dtype=DT))
    torch.testing.assert_close(zero, also_zero)
    assert not torch.allclose(zero, big)


def test_vanishing_and_exploding_directions() -> None:
    """A tanh RNN with a small radius loses gradient geometrically; a ReLU RNN with a large one grows."""
    torch.manual_seed(4)
    x = torch.randn(8, 30, 2, dtype=DT) * 0.1
    small = nn.RNN(2, 16, batch_first=True).to(DT)
    big = nn.RNN(2, 16, batch_first=True, nonlinearity="relu").to(DT)
    with torch.no_grad():
        small.weight_hh_l0.copy_(gradflow.with_spectral_radius(small.weight_hh_l0, 0.5))
        big.weight_hh_l0.copy_(torch.eye(16, dtype=DT) * 1.5)
        big.bias_ih_l0.fill_(1.0)  # positive states: every ReLU unit active, the map is 1.5 * I
    vanish = gradflow.state_gradient_norms(small, x)
    explode = gradflow.state_gradient_norms(big, x)
    assert vanish[0] < 1e-6 * vanish[-1]  # 0.5**29 ~ 2e-9, tanh' <= 1 can only shrink it further
    torch.testing.assert_close(explode[0], torch.tensor(1.5**29, dtype=DT), rtol=1e-9, atol=0)


def test_bad_inputs_raise_clear_errors() -> None:
    rnn = nn.RNN(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    with pytest.raises(ValueError, match="bidirectional"):
        gradflow.state_gradient_norms(nn.GRU(3, 4, bidirectional=True), x)
    with pytest.raises(ValueError, match="wrt='c'"):
        gradflow.state_gradient_norms(rnn, x, wrt="c")
    with pytest.raises(ValueError, match="wrt must be"):
        gradflow.state_gradient_norms(rnn, x, wrt="s")
    with pytest.raises(ValueError, match="3-D float"):
        gradflow.state_gradient_norms(rnn, torch.randn(5, 3))
    with pytest.raises(ValueError, match="3-D float"):
        gradflow.state_gradient_norms(rnn, torch.ones(2, 5, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="size 3 in the last dimension of x, got 6"):
        gradflow.state_gradient_norms(rnn, torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match="at least one step"):
        gradflow.state_gradient_norms(rnn, torch.randn(2, 0, 3))
    with pytest.raises(ValueError, match="loss must be"):
        gradflow.state_gradient_norms(rnn, x, loss="first")
    with pytest.raises(ValueError, match="0-d tensor"):
        gradflow.state_gradient_norms(rnn, x, loss=lambda out: out.sum(dim=1))
    with pytest.raises(TypeError, match="h0 must be"):
        gradflow.state_gradient_norms(rnn, x, h0=[torch.zeros(1, 2, 4)])
    with pytest.raises(TypeError, match="torch.nn.Module"):
        gradflow.state_gradient_norms(lambda x, h: (x, h), x)


def test_works_under_no_grad_and_with_frozen_weights() -> None:
    layer = nn.LSTM(2, 3, batch_first=True).to(DT).requires_grad_(False)
    x = torch.randn(2, 4, 2, dtype=DT)
    with torch.no_grad():
        norms = gradflow.state_gradient_norms(layer, x)
    assert norms.shape == (4,) and torch.all(norms > 0)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu", "linear"])
def test_jacobian_product_norms_match_autograd_jacobian(nonlinearity: str) -> None:
    torch.manual_seed(5)
    H, T = 5, 7
    W, U, b = torch.randn(H, H, dtype=DT) * 0.6, torch.randn(H, 2, dtype=DT), torch.randn(H, dtype=DT) * 0.3
    xs = torch.randn(T, 2, dtype=DT)
    f = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda a: a}[nonlinearity]

    def roll(h: Tensor, start: int) -> Tensor:
        for t in range(start, T):
            h = f(U @ xs[t] + W @ h + b)
        return h

    states, h = [], torch.zeros(H, dtype=DT)
    for t in range(T):
        h = f(U @ xs[t] + W @ h + b)
        states.append(h)
    got = gradflow.jacobian_product_norms(W, torch.stack(states), nonlinearity)
    jac = torch.autograd.functional.jacobian
    jacobians = [jac(lambda s, t=t: roll(s, t + 1), states[t]) for t in range(T)]  # each (H, H)
    want = torch.stack([torch.linalg.matrix_norm(J, 2) for J in jacobians])
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    batched = gradflow.jacobian_product_norms(W, torch.stack(states).expand(3, T, H), nonlinearity)
    assert batched.shape == (3, T)
    torch.testing.assert_close(batched[2], got)


def test_jacobian_product_norms_errors() -> None:
    with pytest.raises(ValueError, match="nonlinearity"):
        gradflow.jacobian_product_norms(torch.eye(3), torch.zeros(4, 3), "sigmoid")
    with pytest.raises(ValueError, match="square"):
        gradflow.jacobian_product_norms(torch.zeros(3, 4), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="H=3"):
        gradflow.jacobian_product_norms(torch.eye(3), torch.zeros(4, 5))


def test_spectral_radius_is_set_exactly() -> None:
    W = torch.randn(12, 12, generator=torch.Generator().manual_seed(6))
    for rho in (0.5, 1.0, 1.5):
        scaled = gradflow.with_spectral_radius(W, rho)
        assert scaled.dtype == W.dtype and scaled.shape == W.shape
        assert gradflow.spectral_radius(scaled) == pytest.approx(rho, rel=1e-5)
    # Only the scale changes, not the direction: the ratio is one number.
    ratio = gradflow.with_spectral_radius(W, 2.0) / W
    torch.testing.assert_close(ratio, torch.full_like(W, ratio[0, 0].item()))
    with pytest.raises(ValueError, match="rho"):
        gradflow.with_spectral_radius(W, -1.0)
    with pytest.raises(ValueError, match="radius 0"):
        gradflow.with_spectral_radius(torch.zeros(3, 3), 1.0)
    with pytest.raises(ValueError, match="square"):
        gradflow.spectral_radius(torch.zeros(2, 3))


def test_our_layers_give_the_same_norms_as_torch() -> None:
    torch.manual_seed(7)
    theirs = nn.LSTM(3, 4, num_layers=2, batch_first=True).to(DT)
    ours = models.LSTM(3, 4, num_layers=2, batch_first=True).to(DT)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 6, 3, dtype=DT)
    for wrt in ("h", "c"):
        torch.testing.assert_close(
            gradflow.state_gradient_norms(ours, x, wrt=wrt), gradflow.state_gradient_norms(theirs, x, wrt=wrt)
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda() -> None:
    layer = nn.LSTM(3, 4, batch_first=True).cuda()
    norms = gradflow.state_gradient_norms(layer, torch.randn(2, 5, 3, device="cuda"), wrt="c")
    assert norms.device.type == "cuda" and norms.shape == (5,)


def test_lstm_cell_state_gradient_is_carried_undiminished_by_an_open_forget_gate() -> None:
    """With f = 1, i = 0 and o = 1 the cell state is a conveyor belt (c_t = c_0): the gradient along it
    is the same at every step before the last, and zero at the last (the loss reads h_{T-1} only)."""
    torch.manual_seed(8)
    layer = nn.LSTM(2, 4, batch_first=True).to(DT)
    with torch.no_grad():
        for w in (layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_hh_l0):
            w.zero_()
        b = layer.bias_ih_l0.view(4, 4)  # gate order i, f, g, o
        b[0], b[1], b[2], b[3] = -30.0, 30.0, 0.0, 30.0
    n, steps = 3, 12
    c0 = torch.randn(1, n, 4, dtype=DT)
    norms = gradflow.state_gradient_norms(
        layer, torch.randn(n, steps, 2, dtype=DT), h0=(torch.zeros(1, n, 4, dtype=DT), c0), wrt="c"
    )
    # h_{T-1} = tanh(c_0): dL/dc = p * tanh'(c_0), passed back unchanged by f = 1.
    want = (_unit_projection(4) * (1 - torch.tanh(c0[0]) ** 2)).norm(dim=1).mean()
    assert norms[-1] == 0
    torch.testing.assert_close(norms[:-1], want.expand(steps - 1), rtol=1e-9, atol=0)
