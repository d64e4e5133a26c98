"""The recurrent weight's gradient as one matmul after the time loop, instead of T small ones.

Backpropagation through time gives ``dL/dW_hh = sum_t delta_t^T h_{t-1}`` with
``delta_t = dL/d(gates_t)``: (G*H, N) @ (N, H) per step. Left to itself, autograd computes these
T products one by one and adds up T (G*H, H) gradients, 4 MB each for an LSTM with H=512.
When ``gates_t = xp_t + h_{t-1} @ W_hh.T`` (RNN and every LSTM variant, with b_hh folded into
xp), ``d(gates_t) = d(xp_t)``: the gradient that reaches xp *is* delta. So the layer runs its
loop with a detached W_hh, records each h_{t-1}, and passes xp through
``defer_hidden_weight_grad``, an identity whose backward turns delta into dL/dW_hh with one
(G*H, T*N) @ (T*N, H) matmul. benchmarks/RESULTS.md gives what this buys (5-20% of a training
step, measured side by side).

Double backward (``create_graph=True``: gradient penalties, Hessian-vector products) needs the
graph of the gradient to see W_hh wherever the plain loop would have used it. Each step's input
therefore also passes through ``second_order_bridge``: an identity that does nothing in a plain
backward, and in a backward that builds a graph supplies what the detached weight left out:
that step's ``delta_t^T h_{t-1}`` and a term ``delta_t @ (W_hh - W_hh.detach())``, zero in value,
whose graph carries W_hh into dL/dh_{t-1}. The deferred matmul then steps aside.
"""

from __future__ import annotations

import torch
from torch import Tensor


class _DeferredHiddenWeightGrad(torch.autograd.Function):
    """Identity on xp (T, N, G*H); a plain backward also returns dL/dW_hh = delta^T @ h_prev."""

    @staticmethod
    def forward(ctx, xp: Tensor, weight_hh: Tensor, h_prev: Tensor) -> Tensor:  # type: ignore[override]
        # h_prev is filled in by the time loop *after* this call, so it cannot go through
        # save_for_backward (whose version check would rightly object): keep a plain reference.
        ctx.h_prev = h_prev
        return xp.view_as(xp)

    @staticmethod
    def backward(ctx, delta: Tensor) -> tuple[Tensor, Tensor | None, None]:  # type: ignore[override]
        grad_w = None
        # With create_graph each step's bridge has already given its share of dL/dW_hh.
        if ctx.needs_input_grad[1] and not torch.is_grad_enabled():
            grad_w = delta.flatten(0, 1).T @ ctx.h_prev.flatten(0, 1)  # (G*H, T*N) @ (T*N, H)
        return delta, grad_w, None


class _SecondOrderBridge(torch.autograd.Function):
    """Identity on one step's xp_t (N, G*H); see the module docstring for its backward."""

    @staticmethod
    def forward(ctx, xp_t: Tensor, h: Tensor, weight_hh: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(h, weight_hh)
        return xp_t.view_as(xp_t)

    @staticmethod
    def backward(ctx, delta: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:  # type: ignore[override]
        if not torch.is_grad_enabled():  # a plain backward: the deferred matmul does the work
            return delta, None, None
        h, weight_hh = ctx.saved_tensors
        grad_h = delta @ (weight_hh - weight_hh.detach())  # (N, H), zero: only its graph matters
        return delta, grad_h, delta.T @ h  # (G*H, N) @ (N, H)


def defer_hidden_weight_grad(xp: Tensor, weight_hh: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Prepare a time loop whose W_hh gradient comes in one matmul.

    xp: (T, N, G*H), the projected inputs, b_hh included. Returns (xp, detached W_hh, h_prev):
    the loop must read xp as returned, pass each step's slice through ``second_order_bridge``, use
    the detached weight, and store the state h it starts step t from in ``h_prev[t]`` (T, N, H),
    detached.
    """
    h_prev = xp.new_empty(xp.shape[0], xp.shape[1], weight_hh.shape[1])  # (T, N, H)
    return _DeferredHiddenWeightGrad.apply(xp, weight_hh, h_prev), weight_hh.detach(), h_prev


def second_order_bridge(xp_t: Tensor, h: Tensor, weight_hh: Tensor) -> Tensor:
    """xp_t (N, G*H) unchanged; keeps double backward exact through a loop on a detached W_hh.

    h: (N, H), the state step t starts from (not detached); weight_hh: the undetached weight.
    """
    return _SecondOrderBridge.apply(xp_t, h, weight_hh)
