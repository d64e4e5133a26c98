"""Diagrams for chapter 1 (sequences and recurrence), drawn with matplotlib.

- ``rolled_and_unrolled``: one RNN drawn twice, as a loop (the network as it is stored: one set of
  weights, with the shapes of each matrix) and unrolled over a few steps (the network as it runs:
  the same weights at every step), in the lecture's or WildML's symbols.
- ``taxonomy``: the input/output patterns of sequence models side by side (one-to-one,
  many-to-one, one-to-many, many-to-many aligned, and the encoder-decoder), as listed in
  ``PATTERNS``.
- ``stacked_rnn``: a stacked, optionally bidirectional, recurrent layer unrolled over a few steps.

Every box and arrow carries a ``gid`` ("input", "state", "output"; "U", "W", "V"), so tests and
curious readers can find them in the returned ``Figure``. Each function draws in the book's style
(``plot.BOOK_STYLE``, applied only while drawing); nothing changes matplotlib's global settings.
Used in chapters/01_recurrence.md and chapters/03_stacked_bidirectional.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path

from course_lib import plot
from course_lib.figures import shapes as draw  # "shapes" is also a parameter here

__all__ = ["Notation", "NOTATIONS", "Pattern", "PATTERNS", "rolled_and_unrolled", "taxonomy", "stacked_rnn"]

# The fills of figures.bptt, so that a state looks the same in chapters 1 and 2.
_FILL = {"input": "#E8F1F8", "state": "#FCEFD9", "output": "#E3F3EC"}
_EDGE = draw.INK
_W, _H = 0.72, 0.5  # box width and height, in data units
_ROWS = {"input": 0.0, "state": 1.25, "output": 2.5}
_DX = 1.45  # distance between time steps
_MAX_STEPS = 8  # more boxes than this stop being readable at book width
_INCH = 0.85  # inches per data unit: figures size themselves to their content
_DX_PANEL, _INCH_PANEL = 1.05, 0.5  # the taxonomy packs five panels into one book-wide figure


@dataclass(frozen=True)
class Notation:
    """The symbols of one text, as matplotlib mathtext (without the ``$``).

    ``state``/``output`` take a subscript; ``U``/``W``/``V`` name the input-to-state,
    state-to-state and state-to-output matrices.
    """

    input: str
    state: str
    output: str
    U: str
    W: str
    V: str


NOTATIONS: dict[str, Notation] = {
    # WildML (Britz 2015) and course_lib.numpy_rnn: s_t = f(U x_t + W s_{t-1}), o_t = softmax(V s_t).
    "wildml": Notation(input="x", state="s", output="o", U="U", W="W", V="V"),
    # MIT 6.S191: h_t = tanh(W_hh h_{t-1} + W_xh x_t), y_t = W_hy h_t.
    "lecture": Notation(input="x", state="h", output=r"\hat{y}", U="W_{xh}", W="W_{hh}", V="W_{hy}"),
}


@dataclass(frozen=True)
class Pattern:
    """An input/output pattern: ``steps`` time steps, the steps that read an input, the steps that
    emit an output, and a one-line example task (plain text)."""

    title: str
    steps: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    example: str

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= _MAX_STEPS:
            raise ValueError(f"Pattern.steps must be in [1, {_MAX_STEPS}], got {self.steps}")
        for name in ("inputs", "outputs"):
            where = getattr(self, name)
            if not where or any(not 0 <= t < self.steps for t in where) or len(set(where)) != len(where):
                raise ValueError(
                    f"Pattern.{name} must be distinct steps in [0, {self.steps}), at least one, got {where}"
                )


PATTERNS: dict[str, Pattern] = {
    "one-to-one": Pattern("one-to-one", 1, (0,), (0,), "a fixed-size input\n\u2192 one label"),
    "many-to-one": Pattern("many-to-one", 3, (0, 1, 2), (2,), "a review\n\u2192 its sentiment"),
    "one-to-many": Pattern("one-to-many", 3, (0,), (0, 1, 2), "a first character\n\u2192 a text"),
    "many-to-many": Pattern(
        "many-to-many", 3, (0, 1, 2), (0, 1, 2), "a stream of numbers\n\u2192 its running sums"
    ),
    "encoder-decoder": Pattern(
        "many-to-many\n(encoder-decoder)", 4, (0, 1), (2, 3), "a sentence\n\u2192 its translation"
    ),
}


def _notation(name: str) -> Notation:
    if name not in NOTATIONS:
        raise ValueError(f"notation must be one of {sorted(NOTATIONS)}, got {name!r}")
    return NOTATIONS[name]


def _box(ax: Axes, x: float, row: str, label: str | None, *, dashed: bool = False) -> FancyBboxPatch:
    fill = "white" if dashed else _FILL[row]
    return draw.box(ax, (x, _ROWS[row]), (_W, _H), label, fill=fill, dashed=dashed,
                      gid="initial" if dashed else row)  # fmt: skip


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], gid: str) -> None:
    draw.arrow(ax, start, end, gid=gid)


def _up(ax: Axes, x: float, lower: str, upper: str, gid: str, label: str | None) -> None:
    """A vertical arrow from the box in row ``lower`` to the box above it, labelled on its left."""
    _arrow(ax, (x, _ROWS[lower] + _H / 2), (x, _ROWS[upper] - _H / 2), gid)
    if label is not None:
        y = (_ROWS[lower] + _ROWS[upper]) / 2
        ax.text(x - 0.08, y, f"${label}$", ha="right", va="center", fontsize=10)


def _across(ax: Axes, x_from: float, x_to: float, label: str | None = None) -> None:
    """A horizontal state-to-state arrow (the recurrence), labelled above."""
    y = _ROWS["state"]
    _arrow(ax, (x_from + _W / 2, y), (x_to - _W / 2, y), "W")
    if label is not None:
        ax.text((x_from + x_to) / 2, y + 0.08, f"${label}$", ha="center", va="bottom", fontsize=10)


def _draw_folded(ax: Axes, x: float, sym: Notation, shapes: bool) -> None:
    """The RNN as stored: one input, one state with a loop through W, one output."""
    _box(ax, x, "input", f"${sym.input}_t$")
    _box(ax, x, "state", f"${sym.state}_t$")
    _box(ax, x, "output", f"${sym.output}_t$")
    u, v, w = sym.U, sym.V, sym.W
    if shapes:  # the shapes WildML's readers asked for: D inputs, H state units, K outputs
        u, v, w = rf"{u}\ (H \times D)", rf"{v}\ (K \times H)", rf"{w}\ (H \times H)"
    _up(ax, x, "input", "state", "U", u)
    _up(ax, x, "state", "output", "V", v)
    # The recurrence: a loop that leaves the state on the right and comes back into it.
    y, edge = _ROWS["state"], x + _W / 2
    loop = Path(
        [(edge, y + 0.1), (edge + 0.7, y + 0.55), (edge + 0.7, y - 0.55), (edge, y - 0.1)],
        [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4],
    )
    ax.add_patch(
        FancyArrowPatch(path=loop, arrowstyle="-|>", mutation_scale=11, color=_EDGE, lw=1.3, gid="W")
    )
    ax.text(edge + 0.6, y, f"${w}$", ha="left", va="center", fontsize=10)


def rolled_and_unrolled(
    steps: int = 4, *, notation: str = "wildml", shapes: bool = True, folded: bool = True
) -> Figure:
    """An RNN as a loop (left) and unrolled over ``steps`` steps (right), t = 0 .. steps-1.

    The unrolled part starts from the initial state (dashed, index -1, zeros in the code) and
    labels every arrow with its matrix, so the reader sees the same ``U``, ``W``, ``V`` at every
    step. ``notation``: a key of ``NOTATIONS`` ("wildml": x, s, o, U, W, V; "lecture": x, h,
    y-hat, W_xh, W_hh, W_hy). ``shapes`` writes each matrix's shape on the loop; ``folded=False``
    draws only the unrolled chain. Returns the Figure. Used in chapters/01_recurrence.md.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= _MAX_STEPS:
        raise ValueError(f"steps must be an int in [1, {_MAX_STEPS}], got {steps!r}")
    sym = _notation(notation)
    left = 3.4 if folded else 0.0  # where the unrolled chain starts
    xlim, ylim = (-0.7, left + _DX * steps + 0.6), (-0.45, _ROWS["output"] + 0.45)
    with plot.book_style():
        fig, ax = plt.subplots(figsize=(_INCH * (xlim[1] - xlim[0]), _INCH * (ylim[1] - ylim[0])))
        if folded:
            _draw_folded(ax, 0.0, sym, shapes)
            ax.text(2.45, _ROWS["state"], "unroll\n$\\Longrightarrow$", ha="center", va="center", fontsize=11)
        _box(ax, left, "state", f"${sym.state}_{{-1}}$", dashed=True)
        for t in range(steps):
            x = left + _DX * (t + 1)
            _box(ax, x, "input", f"${sym.input}_{{{t}}}$")
            _box(ax, x, "state", f"${sym.state}_{{{t}}}$")
            _box(ax, x, "output", f"${sym.output}_{{{t}}}$")
            _up(ax, x, "input", "state", "U", sym.U)
            _up(ax, x, "state", "output", "V", sym.V)
            _across(ax, x - _DX, x, sym.W)
        draw.frame(ax, xlim, ylim)
        fig.tight_layout()
    return fig


def _draw_pattern(ax: Axes, pattern: Pattern) -> None:
    """One panel of ``taxonomy``: boxes only where the pattern reads or emits, states everywhere."""
    for t in range(pattern.steps):
        x = _DX_PANEL * t
        _box(ax, x, "state", None)
        if t in pattern.inputs:
            _box(ax, x, "input", None)
            _up(ax, x, "input", "state", "U", None)
        if t in pattern.outputs:
            _box(ax, x, "output", None)
            _up(ax, x, "state", "output", "V", None)
        if t > 0:
            _across(ax, x - _DX_PANEL, x)
    ax.set_title(pattern.title, fontsize=9)
    middle = _DX_PANEL * (pattern.steps - 1) / 2
    ax.text(middle, -0.45, pattern.example, ha="center", va="top", fontsize=8, color="#333333")
    half = _panel_width(pattern) / 2
    draw.frame(ax, (middle - half, middle + half), (-1.35, _ROWS["output"] + 0.4))


def _panel_width(pattern: Pattern) -> float:
    """Data units a panel needs: its chain of boxes, or the example text under it if wider."""
    return max(_DX_PANEL * (pattern.steps - 1) + _W + 0.4, 2.7)


def taxonomy(patterns: Sequence[str] | None = None) -> Figure:
    """The input/output patterns named in ``patterns`` (keys of ``PATTERNS``; None for all five),
    one panel each: inputs (blue, bottom), states (orange, middle), outputs (green, top), with a
    legend and an example task under each panel. Returns the Figure. Used in chapters/01_recurrence.md.
    """
    names = list(PATTERNS) if patterns is None else list(patterns)
    if isinstance(patterns, str) or not names:
        raise ValueError(f"patterns must be a non-empty list of names in {list(PATTERNS)}, got {patterns!r}")
    unknown = [n for n in names if n not in PATTERNS]
    if unknown:
        raise ValueError(f"unknown patterns {unknown}; choose from {list(PATTERNS)}")
    with plot.book_style():
        # Panel widths in proportion to their data widths keep one scale across panels (equal aspect).
        widths = [_panel_width(PATTERNS[n]) for n in names]
        fig, axes = plt.subplots(
            1, len(names), figsize=(_INCH_PANEL * sum(widths), _INCH_PANEL * 4.3 + 0.7), squeeze=False,
            gridspec_kw={"width_ratios": widths},
        )  # fmt: skip
        for ax, name in zip(axes[0], names, strict=True):
            _draw_pattern(ax, PATTERNS[name])
        handles = [
            FancyBboxPatch((0, 0), 1, 1, facecolor=_FILL[row], edgecolor=_EDGE, label=label)
            for row, label in (("input", "input"), ("state", "hidden state"), ("output", "output"))
        ]
        fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, fontsize=8)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


# --- stacked and bidirectional layers -----------------------------------------------------------
_STACK_DX, _BOX_W, _BOX_H = 1.7, 0.8, 0.46  # step spacing and state boxes of stacked_rnn
_FWD, _BWD = plot.PALETTE[1], plot.PALETTE[3]
_STATE_FILL = _FILL["state"]


def _state_box(ax: Axes, xy: tuple[float, float], label: str, edge: str, gid: str) -> None:
    fill = "white" if gid == "io" else _STATE_FILL
    draw.box(ax, xy, (_BOX_W, _BOX_H), label, fill=fill, edge=edge, lw=1.4, rounding=0.1, gid=gid,
               fontsize=9, zorder=2)  # fmt: skip


def stacked_rnn(num_layers: int = 2, steps: int = 4, *, bidirectional: bool = False) -> Figure:
    """A ``num_layers``-deep recurrent layer unrolled over ``steps`` steps (t = 0 .. steps-1).

    Each layer carries its own state through time (arrows to the right; with ``bidirectional``, a
    second row per layer runs right to left) and feeds its outputs, both directions concatenated,
    to the layer above. The boxes whose states ``torch.nn`` returns in ``h_n`` are labelled with
    their index ``h_n[k]``, k = layer * D + direction. Used in chapters/03_stacked_bidirectional.md.
    """
    for name, value, top in (("num_layers", num_layers, 4), ("steps", steps, 6)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise ValueError(f"{name} must be an int in [1, {top}], got {value!r}")
    if not isinstance(bidirectional, bool):
        raise ValueError(f"bidirectional must be True or False, got {bidirectional!r}")
    row_dy, layer_dy = 0.85, (2.15 if bidirectional else 1.3)
    top = 1.3 + layer_dy * num_layers
    xlim, ylim = (-0.95, _STACK_DX * (steps - 1) + 1.05), (-0.45, top + 0.75)
    with plot.book_style():
        fig, ax = plt.subplots(figsize=(0.8 * (xlim[1] - xlim[0]) + 0.3, 0.8 * (ylim[1] - ylim[0])))
        for t in range(steps):
            _draw_stacked_column(ax, t, num_layers, steps, bidirectional, row_dy, layer_dy, top)
        ax.text(_STACK_DX * (steps - 1) / 2, top + 0.4, "output[:, t]: the top layer at every step",
                ha="center", va="bottom", fontsize=8)  # fmt: skip
        draw.frame(ax, xlim, ylim)
        fig.tight_layout()
    return fig


def _draw_stacked_column(ax: Axes, t: int, num_layers: int, steps: int, bidirectional: bool, row_dy: float,
                 layer_dy: float, top: float) -> None:
    """Time step ``t`` of ``stacked_rnn``: the input, every layer's state(s), the output."""
    x = _STACK_DX * t
    n_dir = 2 if bidirectional else 1
    _state_box(ax, (x, 0.0), f"$x_{{{t}}}$", _EDGE, "io")
    below = _BOX_H / 2  # where the arrow into the next layer starts
    for layer in range(num_layers):
        y = 1.3 + layer_dy * layer
        draw.polyline(ax, [(x, below), (x, y - _BOX_H / 2)], gid="depth")
        rows = [(y, _FWD, r"\overrightarrow{h}" if bidirectional else "h")]
        if bidirectional:
            rows.append((y + row_dy, _BWD, r"\overleftarrow{h}"))
            gap = y + row_dy / 2  # between the two rows of this layer
            # The layer's input also reaches the backward row (round the left, in from below) ...
            left = [(x - 0.1, below + 0.12), (x - 0.6, below + 0.35), (x - 0.6, gap), (x - 0.2, gap)]
            draw.polyline(ax, [*left, (x - 0.2, y + row_dy - _BOX_H / 2)], gid="depth")
            # ... and the forward row's output joins the backward row's on the way up (round the right).
            draw.polyline(ax, [(x + 0.2, y + _BOX_H / 2), (x + 0.2, gap), (x + 0.6, gap),
                                 (x + 0.6, y + row_dy + 0.5), (x + 0.05, y + row_dy + 0.62)], gid="depth",
                            head=False)  # fmt: skip
        for d, (yy, colour, sym) in enumerate(rows):
            _state_box(ax, (x, yy), f"${sym}^{{({layer + 1})}}_{{{t}}}$", colour, "state")
            if t == (steps - 1 if d == 0 else 0):  # the state torch returns in h_n
                ax.text(x + (0.45 if d == 0 else -0.45), yy + 0.3, f"h_n[{layer * n_dir + d}]",
                        ha="left" if d == 0 else "right", fontsize=7, color=colour)  # fmt: skip
            if t > 0:
                ends = [(x - _STACK_DX + _BOX_W / 2, yy), (x - _BOX_W / 2, yy)]
                draw.polyline(ax, ends if d == 0 else ends[::-1], gid="time:fwd" if d == 0 else "time:bwd",
                                colour=colour, lw=1.6)  # fmt: skip
        below = rows[-1][0] + _BOX_H / 2
    if bidirectional:
        top_sym = rf"[\overrightarrow{{h}}_{{{t}}}; \overleftarrow{{h}}_{{{t}}}]"
    else:
        top_sym = f"h^{{({num_layers})}}_{{{t}}}"
    draw.polyline(ax, [(x, below), (x, top - _BOX_H / 2)], gid="depth")
    _state_box(ax, (x, top), f"${top_sym}$", _EDGE, "io")
