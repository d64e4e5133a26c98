"""The shapes the course's diagrams are made of (a rounded box with a label, an arrow) and their frame.

``figures.rnn``, ``figures.bptt`` and ``figures.lstm`` draw with these, so a box or an arrow looks
the same in every chapter and a change of style is made once. Both are matplotlib patches added to
the given Axes, with an optional ``gid`` by which tests find them in the returned Figure.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = ["INK", "DASHES", "box", "arrow", "polyline", "frame"]

INK = "#444444"  # default edge and arrow colour
DASHES = (0, (4, 2))  # the dash pattern of dashed boxes and arrows


def box(ax: Axes, xy: tuple[float, float], size: tuple[float, float], label: str | None = None, *,
        fill: str, edge: str = INK, lw: float = 1.2, rounding: float = 0.12, dashed: bool = False,
        gid: str | None = None, fontsize: float = 11, zorder: float | None = None) -> FancyBboxPatch:
    """A rounded box of ``size`` (width, height) centred on ``xy``, with ``label`` in its middle."""
    (x, y), (w, h) = xy, size
    patch = FancyBboxPatch(
        (x - w / 2, y - h / 2), w, h, boxstyle=f"round,pad=0.02,rounding_size={rounding}", facecolor=fill,
        edgecolor=edge, linewidth=lw, linestyle=DASHES if dashed else "-", gid=gid,
    )  # fmt: skip
    if zorder is not None:
        patch.set_zorder(zorder)
    ax.add_patch(patch)
    if label is not None:
        text = ax.text(x, y, label, ha="center", va="center", fontsize=fontsize)
        if zorder is not None:
            text.set_zorder(zorder + 1)
    return patch


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], *, colour: str = INK,
          lw: float = 1.3, dashed: bool = False, head: bool = True, gid: str | None = None,
          mutation_scale: float = 11, zorder: float | None = None) -> FancyArrowPatch:
    """A straight arrow from ``start`` to ``end`` (a plain line with ``head=False``)."""
    patch = FancyArrowPatch(
        start, end, arrowstyle="-|>" if head else "-", mutation_scale=mutation_scale, color=colour, lw=lw,
        linestyle=DASHES if dashed else "-", shrinkA=0, shrinkB=0, gid=gid,
    )  # fmt: skip
    if zorder is not None:
        patch.set_zorder(zorder)
    ax.add_patch(patch)
    return patch


def polyline(ax: Axes, points: Sequence[tuple[float, float]], *, colour: str = INK, lw: float = 1.3,
             dashed: bool = False, head: bool = True, gid: str | None = None, zorder: float = 1) -> None:
    """A path through ``points`` whose last segment is an ``arrow`` (its head sized to ``lw``)."""
    if len(points) > 2:
        xs, ys = zip(*points[:-1], strict=True)
        ax.add_line(Line2D(xs, ys, color=colour, lw=lw, linestyle=DASHES if dashed else "-", gid=gid,
                           solid_capstyle="butt", zorder=zorder))  # fmt: skip
    arrow(ax, points[-2], points[-1], colour=colour, lw=lw, dashed=dashed, head=head, gid=gid,
          mutation_scale=11 + 2 * lw, zorder=zorder)


def frame(ax: Axes, xlim: tuple[float, float], ylim: tuple[float, float], title: str | None = None) -> None:
    """Show exactly ``xlim`` x ``ylim`` at equal scale on both axes, with no axis lines or ticks."""
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
