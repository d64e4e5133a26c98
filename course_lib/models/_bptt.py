"""The recurrent weight's gradient as one matmul after the time loop, instead of T small ones.

Backpropagation through time gives ``dL/dW_hh = sum_t delta_t^T h_{t-1}`` with
``delta_t = dL/d(gates_t)``: (G*H, N) @ (N, H) per step. Left to itself, autograd computes these
T products one by one and adds up T (G*H, H) gradients, 4 MB each for an LSTM with H=512.
When ``gates_t = xp_t + h_{t-1} @ W_hh.T`` (RNN and every LSTM variant, with b_hh folded into
xp), ``d(gates_t) = d(xp_t)``: the gradient that reaches xp *is* delta. So the layer runs its
loop with a detached W_hh, records each h_{t-1}, and passes xp through
``defer_hidden_weight_grad``, an identity whose backward turns delta into dL/dW_hh with one
(G*H, T*N) @ (T*N, H) matmul. benchmarks/RESULTS.md gives what this buys. Double backward
through it is refused with an error rather than computed wrong (W_hh is detached in the loop).
"""

from __future__ import annotations

import torch
from torch import Tensor


class _DeferredHiddenWeightGrad(torch.autograd.Function):
    """Identity on xp (T, N, G*H); backward also returns dL/dW_hh = delta^T @ h_prev."""

    @staticmethod
    def forward(ctx, xp: Tensor, weight_hh: Tensor, h_prev: Tensor) -> Tensor:  # type: ignore[override]
        # h_prev is filled in by the time loop *after* this call, so it cannot go through
        # save_for_backward (whose version check would rightly object): keep a plain reference.
        ctx.h_prev = h_prev
        return xp.view_as(xp)

    @staticmethod
    def backward(ctx, delta: Tensor) -> tuple[Tensor, Tensor | None, None]:  # type: ignore[override]
        if torch.is_grad_enabled():
            raise RuntimeError(
                "course_lib.models' RNN/LSTM layers do not support double backward (create_graph=True) "
                "while training; use the cells, or torch.nn's layers"
            )
        grad_w = None
        if ctx.needs_input_grad[1]:
            h_prev = ctx.h_prev
            grad_w = delta.flatten(0, 1).T @ h_prev.flatten(0, 1)  # (G*H, T*N) @ (T*N, H)
        return delta, grad_w, None


def defer_hidden_weight_grad(xp: Tensor, weight_hh: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Prepare a time loop whose W_hh gradient comes in one matmul.

    xp: (T, N, G*H), the projected inputs, b_hh included. Returns (xp, detached W_hh, h_prev):
    the loop must read xp as returned, use the detached weight, and store the state h it starts
    step t from in ``h_prev[t]`` (T, N, H), detached.
    """
    h_prev = xp.new_empty(xp.shape[0], xp.shape[1], weight_hh.shape[1])  # (T, N, H)
    return _DeferredHiddenWeightGrad.apply(xp, weight_hh, h_prev), weight_hh.detach(), h_prev
