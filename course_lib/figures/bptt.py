"""Diagrams for chapter 2 (backpropagation through time), drawn with matplotlib.

- ``unrolled_rnn``: the vanilla RNN unrolled over a few steps, in the symbols of
  ``course_lib.numpy_rnn`` (inputs ``x_t``, states ``s_t``, outputs ``o_t``, losses ``L_t``, shared
  weights ``U``, ``W``, ``V``), optionally with the backward pass of one loss and its truncation.
- ``gradient_path``: the chain of Jacobians that carries ``dL/ds_t`` back from the last state to
  the first, optionally shaded by measured gradient norms.

Each function returns a new ``Figure`` drawn in the book's style (``plot.BOOK_STYLE``, applied
only while drawing); nothing changes matplotlib's global settings. Used in chapters/02_bptt.md
and chapters/02_vanishing_exploding.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from course_lib import plot
from course_lib.figures import shapes

__all__ = ["unrolled_rnn", "gradient_path"]

_FORWARD = shapes.INK
_BACKWARD = plot.PALETTE[5]  # vermillion: the gradient
_CUT = "#BBBBBB"
_FILL = {"x": "#E8F1F8", "s": "#FCEFD9", "o": "#E3F3EC", "L": "#F6E6EF"}
_NODE_W, _NODE_H = 0.72, 0.5


def _positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _node(ax: Axes, x: float, y: float, label: str, fill: str, edge: str = _FORWARD, lw: float = 1.2) -> None:
    shapes.box(ax, (x, y), (_NODE_W, _NODE_H), label, fill=fill, edge=edge, lw=lw)


def _arrow(
    ax: Axes, start: tuple[float, float], end: tuple[float, float], colour: str, *, dashed: bool = False
) -> None:
    shapes.arrow(ax, start, end, colour=colour, lw=1.4, dashed=dashed, mutation_scale=12)


def _check_backward(steps: int, backward: bool, loss_step: int | None, truncate: int | None) -> int | None:
    if loss_step is not None:
        if isinstance(loss_step, bool) or not isinstance(loss_step, int) or not -steps <= loss_step < steps:
            raise ValueError(f"loss_step must index one of the {steps} steps, got {loss_step!r}")
        loss_step %= steps
    if truncate is not None:
        _positive_int("truncate", truncate, minimum=0)
    if not backward and (loss_step is not None or truncate is not None):
        raise ValueError("loss_step and truncate describe the backward pass: pass backward=True too")
    return loss_step


def unrolled_rnn(
    steps: int = 4, *, backward: bool = False, loss_step: int | None = None, truncate: int | None = None
) -> Figure:
    """The vanilla RNN unrolled over ``steps`` time steps (t = 0 .. steps-1) after its initial state.

    Forward arrows are grey and carry the shared weights: ``U`` (input to state), ``W`` (state to
    state), ``V`` (state to output). ``backward=True`` adds the backward pass in dashed vermillion:
    from every loss (``loss_step=None``) or from the loss of one step only. ``truncate=k`` (with a
    ``loss_step``) stops that loss's gradient after k hops back through ``W``, as
    ``numpy_rnn.backward(truncate=k)`` does; the first dropped hop is drawn pale and crossed out.
    Returns the Figure (about 1.5 inches per step wide). Used in chapters/02_bptt.md.
    """
    _positive_int("steps", steps)
    loss_step = _check_backward(steps, backward, loss_step, truncate)
    if truncate is not None and loss_step is None:
        raise ValueError("truncate needs a loss_step: it shows how far one loss's gradient travels")
    dx, rows = 1.55, {"x": 0.0, "s": 1.25, "o": 2.5, "L": 3.75}
    with plot.book_style():
        fig, ax = plt.subplots(figsize=(1.5 * (steps + 1) + 0.4, 3.9))
        _node(ax, 0.0, rows["s"], "$s_{-1}$", "white")
        for t in range(steps):
            cx = dx * (t + 1)
            for row, symbol in (("x", "x"), ("s", "s"), ("o", "o"), ("L", "L")):
                _node(ax, cx, rows[row], f"${symbol}_{{{t}}}$", _FILL[row])
            half = _NODE_H / 2
            _arrow(ax, (cx, rows["x"] + half), (cx, rows["s"] - half), _FORWARD)
            _arrow(ax, (cx, rows["s"] + half), (cx, rows["o"] - half), _FORWARD)
            _arrow(ax, (cx, rows["o"] + half), (cx, rows["L"] - half), _FORWARD)
            _arrow(ax, (cx - dx + _NODE_W / 2, rows["s"]), (cx - _NODE_W / 2, rows["s"]), _FORWARD)
            ax.text(cx - 0.1, (rows["x"] + rows["s"]) / 2, "$U$", ha="right", va="center", fontsize=10)
            ax.text(cx - 0.1, (rows["s"] + rows["o"]) / 2, "$V$", ha="right", va="center", fontsize=10)
            ax.text(cx - dx / 2, rows["s"] + 0.1, "$W$", ha="center", va="bottom", fontsize=10)
        if backward:
            _draw_backward(ax, steps, dx, rows, loss_step, truncate)
        shapes.frame(ax, (-0.6, dx * steps + 0.6), (-0.45, rows["L"] + 0.45))
        fig.tight_layout()
    return fig


def _draw_backward(
    ax: Axes, steps: int, dx: float, rows: dict[str, float], loss_step: int | None, truncate: int | None
) -> None:
    """Dashed arrows for the gradient: down from each loss, then back along the states."""
    half, off = _NODE_H / 2, 0.17
    sources = range(steps) if loss_step is None else [loss_step]
    for t in sources:
        cx = dx * (t + 1) + off
        _arrow(ax, (cx, rows["L"] - half), (cx, rows["o"] + half), _BACKWARD, dashed=True)
        _arrow(ax, (cx, rows["o"] - half), (cx, rows["s"] + half), _BACKWARD, dashed=True)
    last = steps - 1 if loss_step is None else loss_step
    hops = last + 1 if truncate is None else min(truncate, last + 1)
    y = rows["s"] - off
    for j in range(last, last - hops, -1):  # hop from s_j back to s_{j-1}
        start, end = dx * (j + 1) - _NODE_W / 2, dx * j + _NODE_W / 2
        _arrow(ax, (start, y), (end, y), _BACKWARD, dashed=True)
    cut = last - hops
    if truncate is not None and cut >= 0:  # s_{-1} has no earlier state to cut off
        start, end = dx * (cut + 1) - _NODE_W / 2, dx * cut + _NODE_W / 2
        _arrow(ax, (start, y), (end, y), _CUT, dashed=True)
        ax.text((start + end) / 2, y, "\u00d7", ha="center", va="center", fontsize=16, color=_BACKWARD)
        ax.text(
            (start + end) / 2, y - 0.22, "cut", ha="center", va="top", fontsize=9, color=_BACKWARD
        )
        reached = [dx * (j + 1) for j in range(last, last - hops - 1, -1) if j >= 0]
        ax.text(
            sum(reached) / len(reached),
            rows["x"] - 0.42,
            f"loss $L_{{{last}}}$ reaches {len(reached)} states ({truncate} hops)",
            ha="center",
            va="top",
            fontsize=9,
            color=_BACKWARD,
        )


def gradient_path(steps: int = 5, norms: Sequence[float] | None = None) -> Figure:
    """The backward chain ``dL/ds_{T-1} -> ... -> dL/ds_0`` of a loss read at the last state.

    Each hop multiplies by one transposed Jacobian ``J_t^T = W^T diag(f'(a_t))``, so the gradient
    at ``s_0`` is a product of ``steps - 1`` such factors (written under the chain). ``norms``: an
    optional sequence of ``steps`` gradient norms (e.g. from ``gradflow.state_gradient_norms``) printed
    under the states, which are then shaded from pale (small) to dark (large) on a log scale.
    Returns the Figure. Used in chapters/02_bptt.md and chapters/02_vanishing_exploding.md.
    """
    _positive_int("steps", steps, minimum=2)
    values = None
    if norms is not None:
        values = np.asarray(list(norms), dtype=float)
        if values.shape != (steps,) or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"norms must be {steps} finite numbers >= 0 (one per state), got {norms!r}")
    dx, y = 1.7, 1.0
    with plot.book_style():
        fig, ax = plt.subplots(figsize=(1.55 * (steps + 1) + 0.6, 2.6))
        fills = _shades(values) if values is not None else [_FILL["s"]] * steps
        for t in range(steps):
            _node(ax, dx * t, y, f"$s_{{{t}}}$", fills[t])
            if values is not None:
                ax.text(dx * t, y - 0.42, f"{values[t]:.1e}", ha="center", va="top", fontsize=9)
        _node(ax, dx * steps, y, "$L$", _FILL["L"])
        for t in range(steps):
            a, b = dx * t + _NODE_W / 2, dx * (t + 1) - _NODE_W / 2
            _arrow(ax, (a, y + 0.12), (b, y + 0.12), _FORWARD)
            _arrow(ax, (b, y - 0.12), (a, y - 0.12), _BACKWARD, dashed=True)
            label = "$V^\\top$" if t == steps - 1 else f"$J_{{{t + 1}}}^\\top$"
            ax.text((a + b) / 2, y + 0.2, label, ha="center", va="bottom", fontsize=10, color=_BACKWARD)
        factors = " ".join(f"J_{{{t}}}^\\top" for t in range(1, steps))
        ax.text(
            dx * steps / 2,
            y - 0.95,
            f"$\\partial L/\\partial s_0 = {factors}\\, \\partial L/\\partial s_{{{steps - 1}}}$,"
            "   $J_t = \\mathrm{diag}(f'(a_t))\\, W$",
            ha="center",
            va="top",
            fontsize=11,
        )
        shapes.frame(ax, (-0.6, dx * steps + 0.6), (-0.35, y + 0.65))
        fig.tight_layout()
    return fig


def _shades(values: np.ndarray) -> list[str]:
    """A fill colour per value: pale for small norms, dark orange for large, on a log10 scale."""
    logs = np.log10(np.maximum(values, 1e-300))
    low, high = float(logs.min()), float(logs.max())
    span = high - low if high > low else 1.0
    cmap = plt.get_cmap("Oranges")
    # Stay below the darkest shades so the black label on the node remains readable.
    return [_hex(cmap(0.12 + 0.55 * (v - low) / span)) for v in logs]


def _hex(rgba: tuple[float, float, float, float]) -> str:
    return "#" + "".join(f"{min(255, max(0, math.floor(c * 255 + 0.5))):02X}" for c in rgba[:3])
