"""Diagrams for chapter 3 (LSTM and GRU), drawn with matplotlib.

- ``lstm_cell``: one LSTM step in torch's symbols (gates ``i, f, g, o``, cell state ``c``, hidden
  state ``h``), with the cell state drawn as a straight belt along the top; any of the lecture's
  four steps ("forget", "store", "update", "output") can be highlighted, and the variants of
  ``models.LSTM_VARIANTS`` (peephole, coupled, no forget gate) drawn.
- ``lstm_walkthrough``: the four steps side by side, one highlighted per panel.
- ``gru_cell``: one GRU step in torch's symbols (``r, z, n``; reset applied after the matmul).

Every drawn part carries a ``gid`` ("gate:f", "op:forget", "belt", ...), so tests and curious
readers can find it in the returned ``Figure``. Each function draws in the book's style
(``plot.BOOK_STYLE``, applied only while drawing); nothing changes matplotlib's global settings.
Used in chapters/03_lstm_gru.md and chapters/03_variants.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from course_lib import plot
from course_lib.figures import shapes
from course_lib.models.steps import LSTM_VARIANTS

__all__ = [
    "LSTM_STEPS",
    "GRU_PARTS",
    "lstm_cell",
    "lstm_walkthrough",
    "gru_cell",
]

LSTM_STEPS: tuple[str, ...] = ("forget", "store", "update", "output")  # the lecture's four steps
GRU_PARTS: tuple[str, ...] = ("reset", "update", "candidate")

_INK, _FADED_INK, _FADED_FILL = "#333333", "#C4C4C4", "#F5F5F5"
_SIGMOID_FILL, _TANH_FILL = "#FCEFD9", "#E3F3EC"  # the state and output fills of figures.rnn
_BELT = plot.PALETTE[0]
_ACCENT = plot.PALETTE[5]  # the edge of highlighted parts
_R = 0.27  # radius of a pointwise-operation node
_GATE_W, _GATE_H = 1.0, 0.78


def _choice(name: str, value: object, allowed: Sequence[str], none_ok: bool = False) -> None:
    if (value is None and none_ok) or (isinstance(value, str) and value in allowed):
        return
    extra = " or None" if none_ok else ""
    raise ValueError(f"{name} must be one of {list(allowed)}{extra}, got {value!r}")


class _Painter:
    """Draws boxes, nodes and arrows on ``ax``; a part is faded unless it belongs to ``highlight``."""

    def __init__(self, ax: Axes, highlight: str | None) -> None:
        self.ax, self.highlight = ax, highlight

    def _on(self, parts: Sequence[str]) -> bool:
        return self.highlight is None or self.highlight in parts

    def line_colour(self, parts: Sequence[str], colour: str = _INK) -> str:
        return colour if self._on(parts) else _FADED_INK

    def box(self, xy: tuple[float, float], text: str, gid: str, parts: Sequence[str], *, fill: str,
            size: tuple[float, float] = (_GATE_W, _GATE_H), note: str | None = None) -> None:
        """A rounded box centred on ``xy`` with ``text`` (and a small ``note`` under it)."""
        on = self._on(parts)
        x, y = xy
        edge = _ACCENT if on and self.highlight is not None else (_INK if on else _FADED_INK)
        shapes.box(self.ax, xy, size, fill=fill if on else _FADED_FILL, edge=edge, rounding=0.1,
                   lw=2.0 if edge == _ACCENT else 1.2, gid=gid)  # fmt: skip
        colour = "black" if on else _FADED_INK
        dy = 0.12 if note else 0.0
        self.ax.text(x, y + dy, text, ha="center", va="center", fontsize=11, color=colour, gid=f"{gid}:text")
        if note:
            self.ax.text(x, y - 0.2, note, ha="center", va="center", fontsize=7, color=colour)

    def node(self, xy: tuple[float, float], symbol: str, gid: str, parts: Sequence[str]) -> None:
        """A pointwise operation: a small circle holding ``symbol`` (x, +, 1-)."""
        on = self._on(parts)
        edge = _ACCENT if on and self.highlight is not None else (_INK if on else _FADED_INK)
        self.ax.add_patch(Circle(xy, _R, facecolor="white", edgecolor=edge, linewidth=1.6, zorder=3, gid=gid))
        self.ax.text(*xy, symbol, ha="center", va="center", fontsize=10 if len(symbol) < 4 else 8,
                     color="black" if on else _FADED_INK, zorder=4)  # fmt: skip

    def arrow(self, points: Sequence[tuple[float, float]], gid: str, parts: Sequence[str], *,
              colour: str = _INK, width: float = 1.3, dashed: bool = False, head: bool = True) -> None:
        """A polyline through ``points`` with an arrow head on its last segment."""
        shapes.polyline(self.ax, points, colour=self.line_colour(parts, colour), lw=width, dashed=dashed,
                        head=head, gid=gid)  # fmt: skip

    def label(self, xy: tuple[float, float], text: str, parts: Sequence[str] = (), **kw: object) -> None:
        """Text at ``xy``, greyed out with ``parts`` when another step is highlighted."""
        colour = kw.pop("color", "black")
        if parts and not self._on(parts):
            colour = _FADED_INK
        self.ax.text(*xy, text, fontsize=kw.pop("fontsize", 10), color=colour, **kw)  # type: ignore[arg-type]


# --- the LSTM cell ------------------------------------------------------------------------------
_BELT_Y, _BUS_Y, _GATE_Y, _MIX_Y, _OUT_Y = 5.0, 0.8, 2.0, 3.7, 2.9
_XF, _XI, _XG, _XADD, _XO, _XTANH, _XEND = 2.6, 4.2, 5.6, 4.9, 7.2, 8.6, 10.2


def _lstm_belt(p: _Painter, variant: str, compact: bool) -> None:
    """The cell state: c_{t-1} -> (x f) -> (+ i*g) -> c_t, a thick line along the top."""
    on_belt = ("update", "forget")
    kw = {"colour": _BELT, "width": 3.5}
    if variant == "no_forget":  # nothing multiplies the old cell: it only accumulates
        p.arrow([(0.2, _BELT_Y), (_XADD - _R, _BELT_Y)], "belt", on_belt, head=False, **kw)
    else:
        p.arrow([(0.2, _BELT_Y), (_XF - _R, _BELT_Y)], "belt", on_belt, head=False, **kw)
        p.arrow([(_XF + _R, _BELT_Y), (_XADD - _R, _BELT_Y)], "belt", ("update",), head=False, **kw)
        p.node((_XF, _BELT_Y), r"$\times$", "op:forget", ("forget", "update"))
    p.arrow([(_XADD + _R, _BELT_Y), (_XEND, _BELT_Y)], "belt", ("update", "output"), **kw)
    p.node((_XADD, _BELT_Y), "$+$", "op:add", ("update",))
    p.label((0.2, _BELT_Y + 0.3), "$c_{t-1}$", ("update", "forget"), ha="left", va="bottom")
    p.label((_XEND, _BELT_Y + 0.3), "$c_t$", ("update", "output"), ha="right", va="bottom")
    if not compact:
        p.label((7.2, _BELT_Y + 0.3), "cell state: the conveyor belt", ha="center", va="bottom", fontsize=8,
                color=_BELT)  # fmt: skip


def _lstm_gates(p: _Painter, variant: str) -> None:
    """The gate layers along the middle and the arrows that carry their outputs upwards."""
    if variant != "no_forget":
        p.box((_XF, _GATE_Y), r"$\sigma$", "gate:f", ("forget",), fill=_SIGMOID_FILL, note="forget")
        p.arrow([(_XF, _GATE_Y + _GATE_H / 2), (_XF, _BELT_Y - _R)], "arrow:f", ("forget",))
        p.label((_XF + 0.1, 3.4), "$f_t$", ("forget",), ha="left", va="center")
    if variant == "coupled":  # no input gate of its own: it writes 1 - f
        p.node((_XI, _GATE_Y), "$1-$", "op:one_minus", ("store",))
        p.arrow([(_XF + _GATE_W / 2, _GATE_Y), (_XI - _R, _GATE_Y)], "arrow:f_to_i", ("store",))
        p.label((_XI - 0.1, 3.0), "$1-f_t$", ("store",), ha="right", va="center", fontsize=9)
        i_top = _GATE_Y + _R
    else:
        p.box((_XI, _GATE_Y), r"$\sigma$", "gate:i", ("store",), fill=_SIGMOID_FILL, note="input")
        p.label((_XI - 0.1, 3.0), "$i_t$", ("store",), ha="right", va="center")
        i_top = _GATE_Y + _GATE_H / 2
    p.box((_XG, _GATE_Y), r"$\tanh$", "gate:g", ("store",), fill=_TANH_FILL, note="candidate")
    p.label((_XG + 0.1, 3.0), "$g_t$", ("store",), ha="left", va="center")
    p.arrow([(_XI, i_top), (_XI, _MIX_Y), (_XADD - _R, _MIX_Y)], "arrow:i", ("store",))
    p.arrow([(_XG, _GATE_Y + _GATE_H / 2), (_XG, _MIX_Y), (_XADD + _R, _MIX_Y)], "arrow:g", ("store",))
    p.node((_XADD, _MIX_Y), r"$\times$", "op:store", ("store", "update"))
    p.arrow([(_XADD, _MIX_Y + _R), (_XADD, _BELT_Y - _R)], "arrow:store", ("update",))
    p.box((_XO, _GATE_Y), r"$\sigma$", "gate:o", ("output",), fill=_SIGMOID_FILL, note="output")
    p.arrow([(_XO, _GATE_Y + _GATE_H / 2), (_XO, _OUT_Y), (_XTANH - _R, _OUT_Y)], "arrow:o", ("output",))
    p.label((_XO + 0.5, _OUT_Y + 0.08), "$o_t$", ("output",), ha="center", va="bottom")


def _lstm_input_and_output(p: _Painter, variant: str, compact: bool) -> None:
    """[h_{t-1}, x_t] along the bottom, feeding every gate; tanh(c_t) * o_t leaving as h_t."""
    p.arrow([(0.2, _BUS_Y), (_XO, _BUS_Y)], "bus", LSTM_STEPS, head=False)
    p.arrow([(1.2, -0.25), (1.2, _BUS_Y)], "bus", LSTM_STEPS, head=False)
    p.label((0.2, _BUS_Y + 0.12), "$h_{t-1}$", ha="left", va="bottom")
    p.label((1.3, -0.3), "$x_t$", ha="left", va="bottom")
    feeds = [("f", _XF, "forget"), ("i", _XI, "store"), ("g", _XG, "store"), ("o", _XO, "output")]
    for gate, x, step in feeds:
        if (variant == "no_forget" and gate == "f") or (variant == "coupled" and gate == "i"):
            continue  # no such gate layer: nothing to feed
        p.arrow([(x, _BUS_Y), (x, _GATE_Y - _GATE_H / 2)], "arrow:bus", (step,))
    if not compact:
        formula = (r"each gate: $\sigma$ or $\tanh$ of "
                   r"$W_{i\ast} x_t + b_{i\ast} + W_{h\ast} h_{t-1} + b_{h\ast}$")  # fmt: skip
        p.label((4.4, 0.35), formula, ha="center", va="center", fontsize=8)
    p.arrow([(_XTANH, _BELT_Y), (_XTANH, 4.05 + 0.25)], "arrow:c_out", ("output",))
    p.box((_XTANH, 4.05), r"$\tanh$", "op:tanh_c", ("output",), fill="white", size=(0.8, 0.5))
    p.arrow([(_XTANH, 4.05 - 0.25), (_XTANH, _OUT_Y + _R)], "arrow:c_out", ("output",))
    p.node((_XTANH, _OUT_Y), r"$\times$", "op:output", ("output",))
    p.arrow([(_XTANH + _R, _OUT_Y), (_XEND, _OUT_Y)], "h_out", ("output",))
    p.label((_XEND, _OUT_Y + 0.1), "$h_t$", ("output",), ha="right", va="bottom")


def _lstm_peepholes(p: _Painter) -> None:
    """Gers & Schmidhuber's peepholes: f and i look at c_{t-1}, o at c_t (dashed)."""
    kw = {"colour": plot.PALETTE[3], "dashed": True, "width": 1.1}
    p.arrow([(1.6, _BELT_Y), (1.6, _GATE_Y), (_XF - _GATE_W / 2, _GATE_Y)], "peephole:f", ("forget",), **kw)
    p.arrow([(1.6, 2.75), (3.75, 2.75), (3.75, _GATE_Y + _GATE_H / 2)], "peephole:i", ("store",), **kw)
    p.arrow([(9.5, _BELT_Y), (9.5, 1.45), (_XO, 1.45), (_XO + 0.25, _GATE_Y - _GATE_H / 2)], "peephole:o",
            ("output",), **kw)  # fmt: skip
    p.label((1.5, 4.1), "peepholes", ha="right", va="center", fontsize=8, color=plot.PALETTE[3])


def _draw_lstm(ax: Axes, variant: str, highlight: str | None, title: str | None, compact: bool) -> None:
    p = _Painter(ax, highlight)
    _lstm_belt(p, variant, compact)
    _lstm_gates(p, variant)
    _lstm_input_and_output(p, variant, compact)
    if variant == "peephole":
        _lstm_peepholes(p)
    shapes.frame(ax, (-0.3, 10.5), (-0.45, 5.75), title)


def lstm_cell(variant: str = "vanilla", *, highlight: str | None = None, ax: Axes | None = None,
              title: str | None = None, compact: bool = False) -> Figure:
    """One LSTM step: ``c_t = f_t * c_{t-1} + i_t * g_t``, ``h_t = o_t * tanh(c_t)``.

    ``variant``: one of ``models.LSTM_VARIANTS``: "peephole" adds dashed
    connections from the cell to the gates, "coupled" replaces the input gate by ``1 - f_t``,
    "no_forget" removes the forget gate. ``highlight``: one of ``LSTM_STEPS``, or None to draw every
    part in colour; the other parts are greyed out. ``ax``: draw there (its figure is returned);
    None makes a new figure. ``compact`` leaves out the two captions, for small panels.
    Used in chapters/03_lstm_gru.md and chapters/03_variants.md.
    """
    _choice("variant", variant, tuple(LSTM_VARIANTS))
    _choice("highlight", highlight, LSTM_STEPS, none_ok=True)
    if variant == "no_forget" and highlight == "forget":
        raise ValueError("variant 'no_forget' has no forget gate to highlight")
    with plot.book_style():
        if ax is None:
            _, ax = plt.subplots(figsize=(6.8, 3.9))
        _draw_lstm(ax, variant, highlight, title, compact)
        ax.figure.tight_layout()
    return ax.figure  # type: ignore[return-value]


def lstm_walkthrough() -> Figure:
    """The lecture's four steps (forget, store, update, output) in a 2 x 2 grid, one highlighted per
    panel. Used in chapters/03_lstm_gru.md."""
    titles = {
        "forget": "1. forget: $f_t$ scales $c_{t-1}$",
        "store": "2. store: $i_t$ gates the candidate $g_t$",
        "update": r"3. update: $c_t = f_t \odot c_{t-1} + i_t \odot g_t$",
        "output": r"4. output: $h_t = o_t \odot \tanh(c_t)$",
    }
    with plot.book_style():
        fig, axes = plt.subplots(2, 2, figsize=(9.6, 5.6))
        for ax, step in zip(axes.flat, LSTM_STEPS, strict=True):
            _draw_lstm(ax, "vanilla", step, titles[step], compact=True)
        fig.tight_layout()
    return fig


# --- the GRU cell -------------------------------------------------------------------------------
_XZ, _XR, _XONE, _XRESET, _XN, _XH_END = 2.2, 3.5, 4.3, 4.9, 6.4, 9.0


def _draw_gru(ax: Axes, highlight: str | None, title: str | None) -> None:
    p = _Painter(ax, highlight)
    belt = {"colour": _BELT, "width": 3.5}
    p.arrow([(0.2, _BELT_Y), (_XZ - _R, _BELT_Y)], "belt", ("update",), head=False, **belt)
    p.arrow([(_XZ + _R, _BELT_Y), (_XN - _R, _BELT_Y)], "belt", ("update",), head=False, **belt)
    p.arrow([(_XN + _R, _BELT_Y), (_XH_END, _BELT_Y)], "belt", ("update",), **belt)
    p.node((_XZ, _BELT_Y), r"$\times$", "op:keep", ("update",))
    p.node((_XN, _BELT_Y), "$+$", "op:add", ("update", "candidate"))
    p.label((0.2, _BELT_Y + 0.3), "$h_{t-1}$", ha="left", va="bottom")
    p.label((_XH_END, _BELT_Y + 0.3), "$h_t$", ha="right", va="bottom")
    p.label((4.3, _BELT_Y + 0.3), "hidden state: the GRU's only state", ha="center", va="bottom", fontsize=8,
            color=_BELT)  # fmt: skip
    # h_{t-1} is copied down to the bottom, where it meets x_t and feeds the three layers.
    p.arrow([(0.7, _BELT_Y), (0.7, _BUS_Y), (_XN, _BUS_Y)], "bus", GRU_PARTS, head=False)
    p.arrow([(1.3, -0.25), (1.3, _BUS_Y)], "bus", GRU_PARTS, head=False)
    p.label((1.4, -0.3), "$x_t$", ha="left", va="bottom")
    # update gate: keep z of the old state, write 1 - z of the candidate
    p.box((_XZ, _GATE_Y), r"$\sigma$", "gate:z", ("update",), fill=_SIGMOID_FILL, note="update")
    p.arrow([(_XZ, _BUS_Y), (_XZ, _GATE_Y - _GATE_H / 2)], "arrow:bus", ("update",))
    p.arrow([(_XZ, _GATE_Y + _GATE_H / 2), (_XZ, _BELT_Y - _R)], "arrow:z", ("update",))
    p.label((_XZ - 0.1, 3.2), "$z_t$", ("update",), ha="right", va="center")
    p.arrow([(_XZ, _MIX_Y), (_XONE - _R, _MIX_Y)], "arrow:z", ("update",))
    p.node((_XONE, _MIX_Y), "$1-$", "op:one_minus", ("update",))
    p.arrow([(_XONE + _R, _MIX_Y), (_XN - _R, _MIX_Y)], "arrow:z", ("update",))
    p.label(((_XONE + _XN) / 2, _MIX_Y + 0.08), "$1-z_t$", ("update",), ha="center", va="bottom", fontsize=9)
    # reset gate: scales the recurrent part of the candidate, after its matmul
    p.box((_XR, _GATE_Y), r"$\sigma$", "gate:r", ("reset",), fill=_SIGMOID_FILL, note="reset")
    p.arrow([(_XR, _BUS_Y), (_XR, _GATE_Y - _GATE_H / 2)], "arrow:bus", ("reset",))
    p.arrow([(_XR + _GATE_W / 2, _GATE_Y), (_XRESET - _R, _GATE_Y)], "arrow:r", ("reset",))
    p.label((_XR + 0.55, _GATE_Y + 0.12), "$r_t$", ("reset",), ha="left", va="bottom", fontsize=9)
    p.node((_XRESET, _GATE_Y), r"$\times$", "op:reset", ("reset", "candidate"))
    p.arrow([(_XRESET, _BUS_Y), (_XRESET, _GATE_Y - _R)], "arrow:bus", ("reset",))
    p.label((_XRESET + 0.08, 1.25), "$W_{hn} h_{t-1} + b_{hn}$", ("reset",), ha="left", va="center",
            fontsize=7)  # fmt: skip
    # candidate state
    n_left = _XN - _GATE_W / 2
    p.box((_XN, _GATE_Y), r"$\tanh$", "gate:n", ("candidate",), fill=_TANH_FILL, note="candidate")
    p.arrow([(_XRESET + _R, _GATE_Y), (n_left, _GATE_Y)], "arrow:r", ("candidate",))
    p.arrow([(_XN + 0.3, _BUS_Y), (_XN + 0.3, _GATE_Y - _GATE_H / 2)], "arrow:bus", ("candidate",))
    p.label((_XN + 0.4, 1.2), "$W_{in} x_t + b_{in}$", ("candidate",), ha="left", va="center", fontsize=7)
    p.arrow([(_XN, _GATE_Y + _GATE_H / 2), (_XN, _MIX_Y - _R)], "arrow:n", ("candidate",))
    p.label((_XN + 0.1, 3.05), "$n_t$", ("candidate",), ha="left", va="center")
    p.node((_XN, _MIX_Y), r"$\times$", "op:write", ("update", "candidate"))
    p.arrow([(_XN, _MIX_Y + _R), (_XN, _BELT_Y - _R)], "arrow:write", ("update", "candidate"))
    shapes.frame(ax, (-0.3, 9.4), (-0.45, 5.75), title)


def gru_cell(*, highlight: str | None = None, ax: Axes | None = None, title: str | None = None) -> Figure:
    """One GRU step as ``torch.nn.GRU`` computes it: ``h_t = (1 - z_t) * n_t + z_t * h_{t-1}`` with
    ``n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))``.

    ``highlight``: one of ``GRU_PARTS`` ("reset", "update", "candidate") or None for all in colour.
    ``ax``: draw there (its figure is returned); None makes a new figure.
    Used in chapters/03_lstm_gru.md.
    """
    _choice("highlight", highlight, GRU_PARTS, none_ok=True)
    with plot.book_style():
        if ax is None:
            _, ax = plt.subplots(figsize=(6.2, 3.9))
        _draw_gru(ax, highlight, title)
        ax.figure.tight_layout()
    return ax.figure  # type: ignore[return-value]
