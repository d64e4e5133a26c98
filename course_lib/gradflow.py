"""Gradient flow through time: how much of a loss's gradient reaches each earlier hidden state.

Backpropagation through time multiplies one Jacobian per step, ``dh_t/dh_{t-1} = diag(f'(a_t)) W``
for a vanilla RNN, so the gradient that reaches a state ``k`` steps before the loss is a product of
``k`` such factors: it shrinks or grows roughly geometrically in ``k``. This module measures that:

- ``state_gradient_norms``: ``||dL/dh_t||`` for every step of a real run of any ``torch.nn``-style
  recurrent layer (``torch.nn.RNN/LSTM/GRU`` or the course's twins), also through an LSTM's cell
  state ``c_t``. Chapter 2 plots it against the distance and the spectral radius of ``W_hh``;
  chapter 3 uses it to compare the LSTM's cell state with a vanilla RNN over 100+ steps.
- ``jacobian_product_norms``: the spectral norm of the product of Jacobians itself (chapter 2's
  derivation), from the weights and the states of one run.
- ``spectral_radius`` and ``with_spectral_radius``: read and set the largest ``|eigenvalue|`` of a
  recurrent matrix, the knob that decides between vanishing and exploding (chapter 2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["state_gradient_norms", "jacobian_product_norms", "spectral_radius", "with_spectral_radius"]

LossSpec = Literal["last", "all"] | Callable[[Tensor], Tensor]
State = Tensor | tuple[Tensor, Tensor]

# f'(a) written as a function of f(a): the states are what a run keeps, the pre-activations are not.
_DERIVATIVE_FROM_OUTPUT: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": lambda h: 1 - h**2,
    "relu": lambda h: (h > 0).to(h.dtype),
    "linear": torch.ones_like,
}


def _check_layer_and_input(layer: nn.Module, x: Tensor) -> tuple[bool, int]:
    """Validate ``layer`` and ``x``; return (batch_first, T)."""
    if not isinstance(layer, nn.Module):
        raise TypeError(f"layer must be a torch.nn.Module recurrent layer, got {type(layer).__name__}")
    if getattr(layer, "bidirectional", False):
        raise ValueError(
            "state gradients per step are defined for a unidirectional layer; this layer is bidirectional "
            "(its backward direction reads the sequence from the end)"
        )
    if not isinstance(x, Tensor) or x.dim() != 3 or not x.is_floating_point():
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"x must be a 3-D float tensor, (N, T, F) or (T, N, F) as the layer expects; got {got}"
        )
    batch_first = bool(getattr(layer, "batch_first", False))
    steps = x.shape[1] if batch_first else x.shape[0]
    size = getattr(layer, "input_size", None)
    if isinstance(size, int) and x.shape[-1] != size:
        raise ValueError(f"expected input of size {size} in the last dimension of x, got {x.shape[-1]}")
    if steps < 1 or x.shape[0 if batch_first else 1] < 1:
        raise ValueError(f"x needs at least one step and one sequence, got shape {tuple(x.shape)}")
    return batch_first, steps


def _run_stepwise(layer: nn.Module, x: Tensor, h0: State | None, batch_first: bool) -> list[State]:
    """Feed ``x`` one step at a time, carrying the state: the list of states after each step.

    Stepping the layer itself (rather than rebuilding cells from its weights) works for any layer
    with the torch.nn interface, and every state is a separate graph node whose gradient we can ask for.
    """
    state, states = h0, []
    for t in range(x.shape[1] if batch_first else x.shape[0]):
        x_t = x[:, t : t + 1] if batch_first else x[t : t + 1]  # (N, 1, F) or (1, N, F)
        _, state = layer(x_t, state)
        states.append(state)
    return states


def _loss_value(loss: LossSpec, outputs: Tensor, seed: int) -> Tensor:
    """The scalar loss from the top layer's states ``outputs`` (N, T, H_out)."""
    if callable(loss):
        value = loss(outputs)
        if not isinstance(value, Tensor) or value.dim() != 0:
            raise ValueError("a loss callable must map outputs (N, T, H_out) to a 0-d tensor")
        return value
    if loss not in ("last", "all"):
        raise ValueError(f"loss must be 'last', 'all' or a callable, got {loss!r}")
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(outputs.shape[-1], generator=g, dtype=torch.float64)
    p = (p / p.norm()).to(device=outputs.device, dtype=outputs.dtype)  # (H_out,), unit length
    picked = outputs[:, -1] if loss == "last" else outputs  # (N, H_out) or (N, T, H_out)
    return (picked @ p).sum()  # a sum over the batch: each sequence's gradient stays unscaled


def state_gradient_norms(
    layer: nn.Module,
    x: Tensor,
    *,
    h0: State | None = None,
    loss: LossSpec = "last",
    wrt: Literal["h", "c"] = "h",
    seed: int = 0,
) -> Tensor:
    """``||dL/dh_t||`` (or ``||dL/dc_t||``) for every step t, averaged over the batch: shape (T,).

    layer: a unidirectional ``torch.nn.RNN/LSTM/GRU``-style layer (ours or torch's, any
        ``num_layers``); it is stepped one time step at a time and left unchanged (no ``.grad`` is
        written to its parameters). Put it in ``eval()`` mode if it has dropout between layers.
    x: (N, T, F) if ``layer.batch_first`` else (T, N, F). h0: the layer's initial state or None.
    loss: ``"last"`` (default) is ``p . h_{T-1}`` summed over the batch, with ``p`` a fixed random unit
        vector drawn from ``seed``; ``"all"`` is ``sum_t p . h_t``; or a callable mapping the top
        layer's states (N, T, H_out) to a 0-d tensor. The loss reads the states themselves (for a
        one-layer RNN they equal the outputs), so every path from step t to the loss runs through
        the state ``h_t`` that is measured.
    wrt: ``"h"`` (the hidden state) or ``"c"`` (an LSTM's cell state).
    Entry t is the mean over the N sequences of the norm of the gradient with respect to the state
    *carried* from step t to step t+1 (all layers together for a stacked layer): what backpropagation
    passes back across that step boundary. This is the only state gradient a fused layer such as
    ``torch.nn.LSTM`` exposes, and it is defined for any layer with the torch.nn interface. For a
    one-layer RNN or GRU it is the textbook ``dL/dh_t``. For an LSTM, ``wrt="c"`` measures the
    gradient along the cell state alone, ``dL/dc_t`` with ``h_t`` held fixed (``= f_{t+1} * dL/dc_{t+1}``
    in the usual recursion), so its entry T-1 is 0 when the loss reads ``h_{T-1}`` only. With
    ``loss="last"`` and one layer, entry T-1 for ``wrt="h"`` is exactly 1, so entry t reads as "how
    much survives T-1-t steps back".
    Used in chapters/02_vanishing_exploding.md and chapters/03 (LSTM versus vanilla RNN).
    """
    if wrt not in ("h", "c"):
        raise ValueError(f"wrt must be 'h' (hidden state) or 'c' (LSTM cell state), got {wrt!r}")
    if h0 is not None and not (
        isinstance(h0, Tensor) or (isinstance(h0, tuple) and all(isinstance(s, Tensor) for s in h0))
    ):
        raise TypeError(f"h0 must be None, a tensor, or an (h, c) tuple of tensors, got {type(h0).__name__}")
    batch_first, _ = _check_layer_and_input(layer, x)
    with torch.enable_grad():
        # An input that requires grad guarantees a graph even if the layer's weights are frozen.
        x = x.detach().requires_grad_(True)
        states = _run_stepwise(layer, x, h0, batch_first)
        is_pair = isinstance(states[0], tuple)
        if wrt == "c" and not is_pair:
            raise ValueError("wrt='c' needs a layer whose state is (h, c), such as an LSTM")
        hs = [s[0] if is_pair else s for s in states]  # each (L, N, H_out)
        outputs = torch.stack([h[-1] for h in hs], dim=1)  # (N, T, H_out): the top layer
        value = _loss_value(loss, outputs, seed)
        targets = [s[1] for s in states] if wrt == "c" else hs
        # autograd.grad, not backward(): the layer's .grad fields stay untouched.
        grads = torch.autograd.grad(value, targets, allow_unused=True)
    norms = []
    for target, g in zip(targets, grads, strict=True):
        g = torch.zeros_like(target) if g is None else g  # a state the loss never reads: zero gradient
        per_seq = g.detach().transpose(0, 1).reshape(g.shape[1], -1).norm(dim=1)  # (N,)
        norms.append(per_seq.mean())
    return torch.stack(norms)  # (T,)


def jacobian_product_norms(W_hh: Tensor, h_seq: Tensor, nonlinearity: str = "tanh") -> Tensor:
    """Spectral norms ``||dh_{T-1}/dh_t||_2`` of the products of step Jacobians of a vanilla RNN.

    For ``h_t = f(W_ih x_t + W_hh h_{t-1} + b)`` the Jacobian of one step is
    ``J_t = dh_t/dh_{t-1} = diag(f'(a_t)) W_hh``, and ``dh_{T-1}/dh_t = J_{T-1} ... J_{t+1}``.
    W_hh: (H, H); h_seq: (T, H) the states ``h_0 .. h_{T-1}`` of one run (after ``f``), or (N, T, H)
    for a batch; nonlinearity: ``"tanh"``, ``"relu"`` or ``"linear"`` (f' is read from ``h_t``).
    Returns (T,) or (N, T); entry T-1 is 1 (the empty product). Used in chapters/02_bptt.md.
    """
    if nonlinearity not in _DERIVATIVE_FROM_OUTPUT:
        known = sorted(_DERIVATIVE_FROM_OUTPUT)
        raise ValueError(f"nonlinearity must be one of {known}, got {nonlinearity!r}")
    if not isinstance(W_hh, Tensor) or W_hh.dim() != 2 or W_hh.shape[0] != W_hh.shape[1]:
        got = tuple(W_hh.shape) if isinstance(W_hh, Tensor) else type(W_hh).__name__
        raise ValueError(f"W_hh must be a square (H, H) tensor, got {got}")
    if not isinstance(h_seq, Tensor) or h_seq.dim() not in (2, 3) or h_seq.shape[-1] != W_hh.shape[0]:
        got = tuple(h_seq.shape) if isinstance(h_seq, Tensor) else type(h_seq).__name__
        raise ValueError(f"h_seq must be (T, H) or (N, T, H) with H={W_hh.shape[0]}, got {got}")
    single = h_seq.dim() == 2
    h = h_seq.unsqueeze(0) if single else h_seq  # (N, T, H)
    h = h.detach().to(W_hh.dtype)
    d = _DERIVATIVE_FROM_OUTPUT[nonlinearity](h)  # (N, T, H): f'(a_t) for every step
    steps = h.shape[1]
    product = torch.eye(W_hh.shape[0], dtype=W_hh.dtype, device=W_hh.device).expand(h.shape[0], -1, -1)
    norms = [torch.ones(h.shape[0], dtype=W_hh.dtype, device=W_hh.device)]
    for t in range(steps - 1, 0, -1):
        # Right-multiply by J_t = diag(d_t) W: scaling the product's columns by d_t, then W.
        product = (product * d[:, t, None, :]) @ W_hh.detach()  # (N, H, H)
        norms.append(torch.linalg.matrix_norm(product, ord=2))
    out = torch.stack(norms[::-1], dim=1)  # (N, T)
    return out[0] if single else out


def spectral_radius(W: Tensor) -> float:
    """The largest ``|eigenvalue|`` of a square matrix W (H, H). Used in chapter 2."""
    if not isinstance(W, Tensor) or W.dim() != 2 or W.shape[0] != W.shape[1]:
        got = tuple(W.shape) if isinstance(W, Tensor) else type(W).__name__
        raise ValueError(f"W must be a square (H, H) tensor, got {got}")
    # float64 on the CPU: eigenvalues of a non-symmetric matrix are sensitive to rounding.
    return float(torch.linalg.eigvals(W.detach().to("cpu", torch.float64)).abs().max())


def with_spectral_radius(W: Tensor, rho: float) -> Tensor:
    """``W`` rescaled so that its spectral radius is exactly ``rho``: ``W * rho / spectral_radius(W)``.

    W: (H, H); returns a new tensor of the same shape, dtype and device. Chapter 2 uses it to set
    a recurrent matrix ``W_hh`` to radius 0.5, 0.9, 1.0, 1.1, 1.5 while keeping its directions.
    """
    if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not math.isfinite(rho) or rho < 0:
        raise ValueError(f"rho must be a finite number >= 0, got {rho!r}")
    current = spectral_radius(W)
    if current == 0:
        raise ValueError("W has spectral radius 0 (all eigenvalues zero): it cannot be rescaled to a radius")
    return W.detach() * (rho / current)
