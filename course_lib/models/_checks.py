"""Argument and input checks shared by the recurrent cells and layers, and their initialisation.

Each check raises a ``ValueError`` or ``TypeError`` that names what was expected (shape, size,
dtype, device) before any torch kernel sees the bad value, so a learner reads "expected input of
size 5 in the last dimension, got 6" instead of a matmul error from deep inside the time loop.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn


def check_sizes(who: str, input_size: object, hidden_size: object, num_layers: object = 1) -> None:
    """Sizes must be positive ints (bools are rejected: ``True`` is not a size)."""
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{who}: {name} must be an int, got {type(value).__name__} {value!r}")
        if value <= 0:
            raise ValueError(f"{who}: {name} must be greater than zero, got {value}")


def check_dropout(who: str, dropout: object) -> float:
    if not isinstance(dropout, numbers.Real) or isinstance(dropout, bool):
        raise TypeError(f"{who}: dropout must be a number in [0, 1], got {type(dropout).__name__}")
    if not 0.0 <= float(dropout) <= 1.0:
        raise ValueError(f"{who}: dropout must be a probability in [0, 1], got {dropout}")
    return float(dropout)


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def check_tensor_like(who: str, name: str, t: object, reference: Tensor) -> Tensor:
    """``t`` must be a floating tensor with the dtype and device of ``reference`` (a parameter)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{who}: expected {name} to be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        hint = " (token ids need an embedding layer first)" if name == "input" else ""
        raise TypeError(f"{who}: expected a floating-point {name}, got dtype {t.dtype}{hint}")
    if t.dtype != reference.dtype:
        raise TypeError(
            f"{who}: {name} has dtype {t.dtype} but the parameters have dtype {reference.dtype}; "
            f"convert one of them (e.g. module.to({t.dtype}) or {name}.to({reference.dtype}))"
        )
    if t.device != reference.device:
        raise ValueError(
            f"{who}: {name} is on device {t.device} but the parameters are on {reference.device}; "
            f"move one of them (module.to(device) or {name}.to(device))"
        )
    return t


def check_input(who: str, x: object, reference: Tensor, input_size: int, layouts: dict[int, str]) -> bool:
    """Check an input's type, rank and feature size; return True when it is batched.

    ``layouts`` maps each accepted rank to its layout for the message, e.g.
    ``{2: "(L, H_in)", 3: "(L, N, H_in)"}``; the highest rank is the batched one.
    """
    x = check_tensor_like(who, "input", x, reference)
    if x.dim() not in layouts:
        accepted = " or ".join(f"{rank}-D {layout}" for rank, layout in sorted(layouts.items()))
        raise ValueError(f"{who}: expected a {accepted} input, got a {x.dim()}-D tensor of shape {_shape(x)}")
    if x.shape[-1] != input_size:
        raise ValueError(
            f"{who}: expected input of size {input_size} in the last dimension, "
            f"got {x.shape[-1]} (input shape {_shape(x)})"
        )
    return x.dim() == max(layouts)


def check_state(who: str, name: str, t: object, reference: Tensor, expected: tuple[int, ...]) -> Tensor:
    """A hidden or cell state must match ``expected`` exactly (and the parameters' dtype/device)."""
    t = check_tensor_like(who, name, t, reference)
    if _shape(t) != expected:
        raise ValueError(f"{who}: expected {name} of shape {expected}, got {_shape(t)}")
    return t


def split_state(who: str, hx: object, arity: int) -> tuple[object, ...]:
    """``hx`` as a tuple of ``arity`` parts: a lone tensor for RNN/GRU, a pair (h, c) for LSTM."""
    if arity == 1:
        if isinstance(hx, (tuple, list)):
            raise TypeError(f"{who}: expected hx to be a single tensor h, got a {type(hx).__name__}")
        return (hx,)
    if not isinstance(hx, (tuple, list)) or len(hx) != arity:
        got = f"a {type(hx).__name__}" + (f" of length {len(hx)}" if isinstance(hx, (tuple, list)) else "")
        raise TypeError(f"{who}: expected hx to be a tuple (h, c) of two tensors, got {got}")
    return tuple(hx)


def zeros_state(reference: Tensor, shape: tuple[int, ...]) -> Tensor:
    """A zero state with the parameters' dtype and device."""
    return torch.zeros(shape, dtype=reference.dtype, device=reference.device)


def reset_uniform(module: nn.Module, hidden_size: int) -> None:
    """torch's default for recurrent cells and layers: every parameter uniform in (-1/sqrt(H), 1/sqrt(H)).

    Parameters are drawn in registration order, as torch does, so a seeded construction gives the
    same numbers as the torch twin.
    """
    bound = 1.0 / math.sqrt(hidden_size)
    for weight in module.parameters():
        nn.init.uniform_(weight, -bound, bound)
