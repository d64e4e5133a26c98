"""A vanilla RNN in plain NumPy, with backpropagation through time written out by hand.

This is the code chapter 2 (backpropagation through time) reads line by line. One sequence of
length ``T`` goes through the equations

    s_t = tanh(U x_t + W s_{t-1} + b)        hidden state,  (H,)
    o_t = softmax(V s_t + c)                 output distribution over K classes,  (K,)
    L   = - sum_t log o_t[y_t]               cross-entropy summed over the sequence

Shapes, with ``V_in`` inputs, ``H`` hidden units and ``K`` output classes:

    U (H, V_in)   input -> hidden          W (H, H)   hidden -> hidden       b (H,)
    V (K, H)      hidden -> output          c (K,)     output bias

Inputs are token ids ``xs`` of shape ``(T,)`` (a one-hot ``x_t`` is implied, so ``U x_t`` is the
column ``U[:, xs[t]]``) or dense float vectors of shape ``(T, V_in)``. Code indices run from 0:
``s[t]`` is the state after reading ``xs[t]`` and ``s_prev[t]`` the state before it (``s0`` for
``t = 0``). The torch twin of the loss is ``F.cross_entropy(logits, targets, reduction="sum")``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

__all__ = [
    "RNNParams",
    "Cache",
    "init",
    "forward",
    "backward",
    "logit_grads",
    "hidden_grad_norms",
    "numerical_gradient",
    "relative_error",
]


@dataclass
class RNNParams:
    """The five arrays of the RNN (or their gradients, which have the same names and shapes).

    U (H, V_in), W (H, H), b (H,), V (K, H), c (K,).
    """

    U: np.ndarray
    W: np.ndarray
    b: np.ndarray
    V: np.ndarray
    c: np.ndarray

    def items(self) -> list[tuple[str, np.ndarray]]:
        """``[("U", U), ("W", W), ...]``, handy for looping over every parameter."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


@dataclass
class Cache:
    """What ``forward`` keeps for ``backward``: inputs, targets, states and output probabilities.

    xs (T,) ids or (T, V_in) floats; targets (T,); s_prev (T, H); s (T, H); p (T, K).
    """

    xs: np.ndarray
    targets: np.ndarray
    s_prev: np.ndarray
    s: np.ndarray
    p: np.ndarray


def init(
    input_size: int, hidden_size: int, output_size: int, seed: int = 0, dtype: DTypeLike = np.float64
) -> RNNParams:
    """Random parameters, uniform in ``±1/sqrt(fan_in)`` as in torch.nn.RNN; biases start at zero.

    ``input_size`` is V_in (the vocabulary size for token ids), ``output_size`` is K.
    """
    for name, n in [("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size)]:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{name} must be a positive int, got {n!r}")
    rng = np.random.default_rng(seed)
    bound_in, bound_h = 1 / np.sqrt(input_size), 1 / np.sqrt(hidden_size)
    return RNNParams(
        U=rng.uniform(-bound_in, bound_in, (hidden_size, input_size)).astype(dtype),
        W=rng.uniform(-bound_h, bound_h, (hidden_size, hidden_size)).astype(dtype),
        b=np.zeros(hidden_size, dtype=dtype),
        V=rng.uniform(-bound_h, bound_h, (output_size, hidden_size)).astype(dtype),
        c=np.zeros(output_size, dtype=dtype),
    )


def _check_params(params: RNNParams) -> tuple[int, int, int]:
    H, V_in = np.shape(params.U) if np.ndim(params.U) == 2 else (-1, -1)
    K = np.shape(params.V)[0] if np.ndim(params.V) == 2 else -1
    expected = {"U": (H, V_in), "W": (H, H), "b": (H,), "V": (K, H), "c": (K,)}
    for name, value in params.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            raise TypeError(f"params.{name} must be a float NumPy array, got {type(value).__name__}")
        if H < 0 or K < 0 or value.shape != expected[name]:
            raise ValueError(
                f"params.{name} has shape {value.shape}; expected U (H, V_in), W (H, H), b (H,), "
                f"V (K, H), c (K,) with H={H}, V_in={V_in}, K={K} read from U and V"
            )
    return V_in, H, K


def _check_inputs(
    params: RNNParams, xs: ArrayLike, targets: ArrayLike, s0: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    V_in, H, K = _check_params(params)
    xs, targets = np.asarray(xs), np.asarray(targets)
    if xs.ndim in (1, 2) and xs.shape[0] == 0:
        raise ValueError("xs is empty: the sequence needs at least one step")
    if xs.ndim == 1 and xs.dtype.kind in "iu":
        if xs.size and (xs.min() < 0 or xs.max() >= V_in):
            raise ValueError(
                f"token ids in xs must lie in [0, V_in={V_in}), got min {xs.min()}, max {xs.max()}"
            )
    elif xs.ndim == 2 and xs.dtype.kind == "f":
        if xs.shape[1] != V_in:
            raise ValueError(f"dense xs must have shape (T, V_in={V_in}), got {xs.shape}")
    else:
        raise ValueError(
            f"xs must be integer token ids of shape (T,) or floats of shape (T, V_in={V_in}), "
            f"got dtype {xs.dtype} and shape {xs.shape}"
        )
    T = xs.shape[0]
    if targets.shape != (T,) or targets.dtype.kind not in "iu":
        raise ValueError(
            f"targets must be integer class ids of shape (T={T},), got {targets.dtype} {targets.shape}"
        )
    if targets.min() < 0 or targets.max() >= K:
        raise ValueError(f"targets must lie in [0, K={K}), got min {targets.min()}, max {targets.max()}")
    s0 = np.zeros(H, dtype=params.W.dtype) if s0 is None else np.asarray(s0, dtype=params.W.dtype)
    if s0.shape != (H,):
        raise ValueError(f"s0 must have shape (H={H},), got {s0.shape}")
    return xs, targets, s0


def _input_term(U: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """``U x_t`` for every step, (T, H): a column lookup for ids, a matmul for dense inputs."""
    return U[:, xs].T if xs.ndim == 1 else xs @ U.T


def forward(
    params: RNNParams, xs: ArrayLike, targets: ArrayLike, s0: ArrayLike | None = None
) -> tuple[float, Cache]:
    """Run the RNN over one sequence and return the summed cross-entropy and a ``Cache``.

    xs: (T,) int ids in [0, V_in) or (T, V_in) floats; targets: (T,) ints in [0, K);
    s0: (H,) initial state, zeros when None.
    """
    xs, targets, s0 = _check_inputs(params, xs, targets, s0)
    T, H = xs.shape[0], params.W.shape[0]
    Ux = _input_term(params.U, xs)  # (T, H)
    s_prev, s = np.empty((T, H), dtype=params.W.dtype), np.empty((T, H), dtype=params.W.dtype)
    prev = s0
    for t in range(T):
        s_prev[t] = prev
        s[t] = np.tanh(Ux[t] + params.W @ prev + params.b)
        prev = s[t]
    logits = s @ params.V.T + params.c  # (T, K)
    log_p = logits - logits.max(axis=1, keepdims=True)  # shift: exp cannot overflow
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(T), targets].sum()
    return float(loss), Cache(xs=xs, targets=targets, s_prev=s_prev, s=s, p=np.exp(log_p))


def _check_cache(params: RNNParams, cache: Cache) -> None:
    _, H, K = _check_params(params)
    if cache.s.shape[1:] != (H,) or cache.p.shape[1:] != (K,):
        raise ValueError(
            f"cache holds states (T, {cache.s.shape[1]}) and outputs (T, {cache.p.shape[1]}); "
            f"params expect (T, H={H}) and (T, K={K}): was it made by forward with these params?"
        )


def logit_grads(cache: Cache) -> np.ndarray:
    """dL/d(V s_t + c) for every step, (T, K): softmax minus one-hot, the classic shortcut.

    L is the summed cross-entropy of ``forward``'s cache. Used by ``backward`` and in
    chapters/02_bptt.md (each step's own loss, before it flows back in time).
    """
    d = cache.p.copy()
    d[np.arange(len(cache.targets)), cache.targets] -= 1
    return d


def _state_grads(params: RNNParams, cache: Cache, dlogits: np.ndarray) -> np.ndarray:
    """dL/ds_t for every step, (T, H), walking back once from the last step."""
    ds = dlogits @ params.V  # (T, H): the direct path from each output
    for t in range(len(ds) - 1, 0, -1):
        da = ds[t] * (1 - cache.s[t] ** 2)  # through tanh to the pre-activation
        ds[t - 1] += params.W.T @ da  # ... and back through W into the previous state
    return ds


def _accumulate(grads: RNNParams, cache: Cache, t: int, da: np.ndarray) -> None:
    """Add step ``t``'s share of dU, dW, db, given da = dL/d(pre-activation at step t), (H,)."""
    grads.W += np.outer(da, cache.s_prev[t])
    grads.b += da
    if cache.xs.ndim == 1:
        grads.U[:, cache.xs[t]] += da  # only the column the one-hot input picked
    else:
        grads.U += np.outer(da, cache.xs[t])


def backward(params: RNNParams, cache: Cache, truncate: int | None = None) -> RNNParams:
    """Gradients of the loss with respect to U, W, b, V, c, as an ``RNNParams`` of arrays.

    ``truncate=None`` is full BPTT. ``truncate=k`` (WildML's ``bptt_truncate``) lets the loss at
    step t reach the pre-activations of steps t, t-1, ..., max(t-k, 0) only: k hops back through
    W, with the state before the oldest of those steps held constant. ``k=0`` keeps only the
    current step, and any ``k >= T-1`` equals full BPTT. Autograd gives the same result when the
    loss at step t is computed from ``s_{t-k-1}.detach()`` rolled forward k+1 steps.
    """
    if truncate is not None and (not isinstance(truncate, int) or truncate < 0):
        raise ValueError(f"truncate must be None or an int >= 0, got {truncate!r}")
    _check_cache(params, cache)
    dlogits = logit_grads(cache)  # (T, K)
    grads = RNNParams(*(np.zeros_like(p) for _, p in params.items()))
    grads.V, grads.c = dlogits.T @ cache.s, dlogits.sum(axis=0)
    if truncate is None:
        da = _state_grads(params, cache, dlogits) * (1 - cache.s**2)  # (T, H)
        for t in range(len(da)):
            _accumulate(grads, cache, t, da[t])
        return grads
    for t in range(len(dlogits)):
        ds = params.V.T @ dlogits[t]  # (H,): the loss at step t, before it flows back
        for j in range(t, max(t - truncate, 0) - 1, -1):
            da = ds * (1 - cache.s[j] ** 2)
            _accumulate(grads, cache, j, da)
            ds = params.W.T @ da  # one hop back in time
    return grads


def hidden_grad_norms(params: RNNParams, cache: Cache, loss_step: int | None = None) -> np.ndarray:
    """‖dL/ds_t‖ for every step t, shape (T,): the curve chapter 2 plots to show vanishing gradients.

    ``loss_step=None`` differentiates the whole loss. ``loss_step=t`` keeps only the loss at that
    step, so entry j (j <= t) measures how much of its gradient survives t - j steps back.
    """
    _check_cache(params, cache)
    dlogits = logit_grads(cache)
    if loss_step is not None:
        T = len(dlogits)
        if not -T <= loss_step < T:
            raise ValueError(f"loss_step must index a step in a sequence of length T={T}, got {loss_step}")
        keep = np.zeros(T, dtype=bool)
        keep[loss_step] = True
        dlogits[~keep] = 0
    return np.linalg.norm(_state_grads(params, cache, dlogits), axis=1)


def _truncated_surrogate(
    params: RNNParams, xs: np.ndarray, targets: np.ndarray, frozen: Cache, k: int
) -> float:
    """The loss whose exact gradient is truncated BPTT: each step's loss re-runs only its last k+1
    steps, starting from the state ``frozen`` recorded (which therefore does not move)."""
    Ux = _input_term(params.U, xs)
    loss = 0.0
    for t in range(len(targets)):
        start = max(t - k, 0)
        s = frozen.s_prev[start]
        for j in range(start, t + 1):
            s = np.tanh(Ux[j] + params.W @ s + params.b)
        logits = params.V @ s + params.c
        m = logits.max()
        loss += m + np.log(np.exp(logits - m).sum()) - logits[targets[t]]
    return float(loss)


def numerical_gradient(
    params: RNNParams,
    xs: ArrayLike,
    targets: ArrayLike,
    eps: float = 1e-5,
    s0: ArrayLike | None = None,
    truncate: int | None = None,
) -> RNNParams:
    """Centred differences (L(θ+eps) - L(θ-eps)) / 2eps for every entry of every parameter.

    With ``truncate=k`` it differentiates the surrogate loss that truncated BPTT differentiates
    exactly (older states frozen at their forward values), so both kinds of ``backward`` can be
    checked. Slow on purpose (two forward passes per entry): use tiny sizes, in float64.
    """
    _, frozen = forward(params, xs, targets, s0)

    def loss_fn() -> float:
        if truncate is None:
            return forward(params, xs, targets, s0)[0]
        return _truncated_surrogate(params, frozen.xs, frozen.targets, frozen, truncate)

    grads = RNNParams(*(np.zeros_like(p) for _, p in params.items()))
    for name, p in params.items():
        g = getattr(grads, name)
        for idx in np.ndindex(p.shape):
            saved = p[idx]
            p[idx] = saved + eps
            plus = loss_fn()
            p[idx] = saved - eps
            minus = loss_fn()
            p[idx] = saved  # restore exactly: the caller's params must not drift
            g[idx] = (plus - minus) / (2 * eps)
    return grads


def relative_error(a: ArrayLike, n: ArrayLike) -> float:
    """``max|a - n| / max(1e-8, max(|a| + |n|))`` between analytic ``a`` and numerical ``n``.

    The maxima run over all entries, so tiny entries cannot blow the ratio up; 1e-8 guards
    against two all-zero arrays. Below 1e-7 in float64 means the backward pass is right.
    """
    a, n = np.asarray(a, dtype=np.float64), np.asarray(n, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"a and n must have the same shape, got {a.shape} and {n.shape}")
    return float(np.max(np.abs(a - n)) / max(1e-8, np.max(np.abs(a) + np.abs(n))))
