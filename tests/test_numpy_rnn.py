"""The NumPy reference RNN of chapter 2: hand-written BPTT against centred differences and autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import numpy_rnn as nr

# (V_in, H, K, T, dense): token ids of a few vocabularies, and dense float inputs.
SIZES = [(4, 3, 5, 6, False), (7, 5, 4, 9, False), (3, 4, 2, 5, True)]


def make_problem(V_in, H, K, T, dense, seed=0):
    """Random params with non-zero biases, inputs, targets and a non-zero initial state."""
    rng = np.random.default_rng(seed)
    params = nr.init(V_in, H, K, seed=seed)
    params.W *= 2.0  # a larger recurrence makes the truncated and full gradients clearly differ
    params.b = rng.normal(0, 0.5, H)
    params.c = rng.normal(0, 0.5, K)
    xs = rng.normal(size=(T, V_in)) if dense else rng.integers(0, V_in, T)
    targets = rng.integers(0, K, T)
    s0 = rng.normal(0, 0.5, H)
    return params, xs, targets, s0


def torch_loss(params, xs, targets, s0, truncate=None):
    """The same model in torch; with ``truncate=k`` each step's loss restarts from a detached state."""
    t = {name: torch.tensor(p, requires_grad=True) for name, p in params.items()}
    x = torch.tensor(xs)
    Ux = t["U"][:, x].T if x.ndim == 1 else x @ t["U"].T  # (T, H)
    states, s = [], torch.tensor(s0)
    for step in range(len(targets)):
        s = torch.tanh(Ux[step] + t["W"] @ s + t["b"])
        states.append(s)
    if truncate is None:
        hidden = torch.stack(states)  # (T, H)
    else:
        rows = []
        for step in range(len(targets)):
            start = max(step - truncate, 0)
            s = (states[start - 1] if start > 0 else torch.tensor(s0)).detach()
            for j in range(start, step + 1):
                s = torch.tanh(Ux[j] + t["W"] @ s + t["b"])
            rows.append(s)
        hidden = torch.stack(rows)
    logits = hidden @ t["V"].T + t["c"]  # (T, K)
    loss = F.cross_entropy(logits, torch.tensor(targets), reduction="sum")
    loss.backward()
    return loss.item(), {name: p.grad.numpy() for name, p in t.items()}, states


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("truncate", [None, 0, 2])
def test_gradient_check_every_parameter(size, truncate):
    params, xs, targets, s0 = make_problem(*size)
    _, cache = nr.forward(params, xs, targets, s0)
    analytic = nr.backward(params, cache, truncate=truncate)
    numeric = nr.numerical_gradient(params, xs, targets, s0=s0, truncate=truncate)
    for name, a in analytic.items():
        n = getattr(numeric, name)
        assert np.abs(a).max() > 1e-3, f"{name}: gradient is suspiciously zero"
        assert nr.relative_error(a, n) < 1e-7, name


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("truncate", [None, 0, 1, 3])
def test_matches_torch_autograd(size, truncate):
    params, xs, targets, s0 = make_problem(*size, seed=1)
    loss, cache = nr.forward(params, xs, targets, s0)
    grads = nr.backward(params, cache, truncate=truncate)
    ref_loss, ref_grads, states = torch_loss(params, xs, targets, s0, truncate)
    assert loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(cache.s, torch.stack(states).detach().numpy(), atol=1e-12, rtol=0)
    for name, g in grads.items():
        np.testing.assert_allclose(g, ref_grads[name], atol=1e-12, rtol=1e-10, err_msg=name)


def test_truncation_long_enough_equals_full_bptt():
    params, xs, targets, s0 = make_problem(5, 4, 3, 7, False, seed=2)
    _, cache = nr.forward(params, xs, targets, s0)
    full = nr.backward(params, cache)
    for k in (6, 7, 50):  # T - 1 hops already reach the first step
        truncated = nr.backward(params, cache, truncate=k)
        for name, g in full.items():
            np.testing.assert_allclose(getattr(truncated, name), g, atol=1e-13, rtol=0)
    short = nr.backward(params, cache, truncate=1)
    assert np.abs(short.W - full.W).max() > 1e-4, "truncate=1 must drop the long-range part of dW"
    np.testing.assert_allclose(short.V, full.V, atol=1e-14)  # V and c never flow through time


def test_hidden_grad_norms_match_autograd():
    params, xs, targets, s0 = make_problem(6, 5, 4, 8, False, seed=3)
    _, cache = nr.forward(params, xs, targets, s0)
    t = {name: torch.tensor(p, requires_grad=True) for name, p in params.items()}
    states, s = [], torch.tensor(s0)
    for x in xs:
        s = torch.tanh(t["U"][:, x] + t["W"] @ s + t["b"])  # chained to the previous s: full graph
        s.retain_grad()
        states.append(s)
    logits = torch.stack(states) @ t["V"].T + t["c"]
    per_step = F.cross_entropy(logits, torch.tensor(targets), reduction="none")  # (T,)
    for loss_step, loss in [(None, per_step.sum()), (5, per_step[5])]:
        for s in states:
            s.grad = None
        loss.backward(retain_graph=True)
        expected = np.array([0.0 if s.grad is None else s.grad.norm().item() for s in states])
        got = nr.hidden_grad_norms(params, cache, loss_step=loss_step)
        np.testing.assert_allclose(got, expected, atol=1e-12, rtol=1e-10)
    assert np.all(got[6:] == 0) and np.all(got[:6] > 0)  # later states cannot affect the loss at step 5


def test_logit_grads_match_autograd():
    params, xs, targets, s0 = make_problem(6, 5, 4, 8, False, seed=4)
    _, cache = nr.forward(params, xs, targets, s0)
    logits = torch.tensor(np.log(cache.p), requires_grad=True)  # log-softmax output: same softmax
    F.cross_entropy(logits, torch.tensor(targets), reduction="sum").backward()
    np.testing.assert_allclose(nr.logit_grads(cache), logits.grad.numpy(), atol=1e-12)


def test_numerical_gradient_leaves_params_unchanged():
    params, xs, targets, s0 = make_problem(4, 3, 2, 4, False)
    before = {name: p.copy() for name, p in params.items()}
    nr.numerical_gradient(params, xs, targets, s0=s0)
    for name, p in params.items():
        assert np.array_equal(p, before[name]), name


def test_relative_error_formula():
    a, n = np.array([1.0, -2.0]), np.array([1.0, -2.5])
    assert nr.relative_error(a, n) == pytest.approx(0.5 / 4.5)
    assert nr.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert nr.relative_error(np.zeros(2), np.array([0.0, 1e-9])) == pytest.approx(1e-9 / 1e-8)
    with pytest.raises(ValueError, match="same shape"):
        nr.relative_error(np.zeros(2), np.zeros(3))


def test_init_shapes_seed_and_bounds():
    p = nr.init(10, 6, 4, seed=7)
    assert [(name, v.shape) for name, v in p.items()] == [
        ("U", (6, 10)),
        ("W", (6, 6)),
        ("b", (6,)),
        ("V", (4, 6)),
        ("c", (4,)),
    ]
    assert np.array_equal(p.U, nr.init(10, 6, 4, seed=7).U)
    assert not np.array_equal(p.U, nr.init(10, 6, 4, seed=8).U)
    assert np.abs(p.U).max() <= 1 / np.sqrt(10) and np.abs(p.W).max() <= 1 / np.sqrt(6)
    assert p.U.dtype == np.float64
    with pytest.raises(ValueError, match="hidden_size"):
        nr.init(3, 0, 2)


@pytest.mark.parametrize(
    ("xs", "targets", "s0", "match"),
    [
        ([0, 1, 5], [0, 1, 1], None, r"\[0, V_in=5\)"),
        ([0, -1, 2], [0, 1, 1], None, r"\[0, V_in=5\)"),
        (np.zeros((3, 4)), [0, 1, 1], None, r"\(T, V_in=5\)"),
        (np.zeros(3), [0, 1, 1], None, r"shape \(T,\) or floats of shape \(T, V_in=5\)"),
        ([0, 1, 2], [0, 1], None, r"shape \(T=3,\)"),
        ([0, 1, 2], [0, 1, 3], None, r"\[0, K=3\)"),
        ([0, 1, 2], [0, 1, 1], np.zeros(5), r"s0 must have shape \(H=4,\)"),
        ([], [], None, "at least one step"),
    ],
)
def test_bad_input_raises_value_error(xs, targets, s0, match):
    params = nr.init(5, 4, 3)
    with pytest.raises(ValueError, match=match):
        nr.forward(params, xs, targets, s0)


def test_bad_params_and_truncate_raise():
    params = nr.init(5, 4, 3)
    params.W = np.zeros((4, 5))
    with pytest.raises(ValueError, match=r"W \(H, H\).*H=4"):
        nr.forward(params, [0, 1], [0, 1])
    params = nr.init(5, 4, 3)
    params.b = [0.0] * 4
    with pytest.raises(TypeError, match="params.b must be a float NumPy array"):
        nr.forward(params, [0, 1], [0, 1])
    params = nr.init(5, 4, 3)
    _, cache = nr.forward(params, [0, 1], [0, 1])
    with pytest.raises(ValueError, match="truncate"):
        nr.backward(params, cache, truncate=-1)
    with pytest.raises(ValueError, match="made by forward"):
        nr.backward(nr.init(5, 6, 3), cache)
