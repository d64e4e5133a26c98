"""Figures for the book's pages: a house style and token-grid diagrams.

The figures have to read well on the website in light *and* dark mode, so they are drawn on an
opaque white background (the theme frames output images) with mid-tone, colour-blind-safe
colours. Nothing here touches matplotlib's global state on import: a page opts in with
``plt.style.use(plot.BOOK_STYLE)`` or ``with plot.book_style(): ...``.

Used by chapters/01_sequences_as_data.md (padding masks, BPTT windows) and later chapters.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

__all__ = ["PALETTE", "BOOK_STYLE", "book_style", "visible", "plot_token_grid"]

# Okabe & Ito's colour-blind-safe palette, without its black and its pale yellow (too faint on white).
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999")

# A matplotlib style dict: pass it to plt.style.use or matplotlib.rc_context.
BOOK_STYLE: dict[str, Any] = {
    "figure.facecolor": "white",  # opaque: transparent figures lose their black text in dark mode
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "figure.figsize": (7.0, 3.2),
    "figure.dpi": 100,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "cividis",  # perceptually uniform and readable by colour-blind readers
}

# How whitespace is drawn inside a cell: an invisible token would look like an empty box.
_VISIBLE = {" ": "\u2423", "\n": "\u21b5", "\t": "\u21e5"}


def book_style() -> AbstractContextManager[None]:
    """A context in which matplotlib uses ``BOOK_STYLE``; the previous settings come back after."""
    return mpl.rc_context(BOOK_STYLE)


def visible(token: str) -> str:
    """``token`` with space, newline and tab replaced by visible symbols (``" "`` -> ``"␣"``)."""
    if not isinstance(token, str):
        raise TypeError(f"visible expects a str token, got {type(token).__name__}")
    return "".join(_VISIBLE.get(ch, ch) for ch in token)


def _as_grid(name: str, values: Any, shape: tuple[int, int]) -> np.ndarray:
    """``values`` (a tensor, array or nested list) as a NumPy array of ``shape``, or a ValueError."""
    if hasattr(values, "detach"):  # a torch tensor, possibly on a GPU
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (one entry per token cell), got {arr.shape}")
    return arr


def plot_token_grid(
    tokens: Sequence[Sequence[str]],
    groups: Any = None,
    mask: Any = None,
    *,
    ax: Axes | None = None,
    row_labels: Sequence[str] | None = None,
    group_name: str = "group",
    title: str | None = None,
) -> Axes:
    """Draw tokens as a grid of labelled cells: rows are sequences, columns are time steps.

    tokens: B rows of T strings each, i.e. a (B, T) grid (``visible`` shows whitespace).
    groups: optional (B, T) non-negative ints; cells of one group share a colour and a legend entry
    (e.g. the BPTT window a character falls in). mask: optional (B, T) bools; False cells (padding)
    are drawn hatched and grey, whatever their group. Returns the Axes drawn on.
    Used in chapters/01_sequences_as_data.md for the padding mask and the BPTT windows.
    """
    if isinstance(tokens, str) or not isinstance(tokens, Sequence) or len(tokens) == 0:
        raise ValueError("tokens must be a non-empty list of rows, each a list of token strings")
    n_rows, n_cols = len(tokens), len(tokens[0])
    if n_cols == 0 or any(isinstance(r, str) or len(r) != n_cols for r in tokens):
        lengths = sorted({len(r) for r in tokens})
        raise ValueError(f"tokens must be a rectangular (B, T) grid with T >= 1, got row lengths {lengths}")
    shape = (n_rows, n_cols)
    grp = np.zeros(shape, dtype=int) if groups is None else _as_grid("groups", groups, shape)
    if not np.issubdtype(grp.dtype, np.integer) or grp.min() < 0:
        raise ValueError(f"groups must hold non-negative integers, got dtype {grp.dtype}")
    keep = np.ones(shape, dtype=bool) if mask is None else _as_grid("mask", mask, shape)
    if keep.dtype != np.bool_:
        raise ValueError(f"mask must be boolean (True = real token, False = padding), got dtype {keep.dtype}")
    if row_labels is not None and len(row_labels) != n_rows:
        raise ValueError(f"row_labels needs {n_rows} labels (one per row), got {len(row_labels)}")

    if ax is None:
        # Cells widen with the longest label (words), stay square for single characters.
        widest = max(len(visible(str(tok))) for row in tokens for tok in row)
        cell_w = max(0.42, 0.085 * widest + 0.12)  # inches
        legend_w = 1.3 if groups is not None else 0.0
        _, ax = plt.subplots(figsize=(cell_w * n_cols + 1.2 + legend_w, 0.45 * n_rows + 0.9))
    seen: dict[int, Rectangle] = {}
    for b, row in enumerate(tokens):
        for t, tok in enumerate(row):
            colour = PALETTE[grp[b, t] % len(PALETTE)] if keep[b, t] else "#DDDDDD"
            cell = Rectangle(
                (t, b),
                1,
                1,
                facecolor=colour,
                edgecolor="white",
                linewidth=1.5,
                alpha=0.6,  # light fills keep black labels readable
                hatch=None if keep[b, t] else "//",
            )
            ax.add_patch(cell)
            if keep[b, t]:
                seen.setdefault(int(grp[b, t]), cell)
            ax.text(
                t + 0.5,
                b + 0.5,
                visible(str(tok)),
                ha="center",
                va="center",
                fontsize=9,
                color="black" if keep[b, t] else "#666666",
            )
    ax.set_xlim(0, n_cols)
    ax.set_ylim(n_rows, 0)  # row 0 on top, like a printed matrix
    ax.set_xticks(np.arange(n_cols) + 0.5, [str(t) for t in range(n_cols)], fontsize=8)
    ax.set_yticks(np.arange(n_rows) + 0.5, list(row_labels) if row_labels is not None else range(n_rows))
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if groups is not None and len(seen) > 1:
        handles = [seen[g] for g in sorted(seen)]
        ax.legend(
            handles,
            [f"{group_name} {g}" for g in sorted(seen)],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            fontsize=8,
        )
    if title is not None:
        ax.set_title(title)
    return ax
