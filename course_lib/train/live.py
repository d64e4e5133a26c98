"""What a reader sees while ``train.fit`` runs: a tqdm progress bar and a live loss plot.

The progress bar is ``tqdm.auto`` (a widget in notebooks with ipywidgets, text elsewhere). The live
plot is one PNG shown through an IPython display handle and replaced in place, at most every
``min_interval`` seconds (longer if drawing is slow), so a notebook keeps a single, final figure
and never a stream of them. With ``"auto"`` both decide from the environment: nothing is drawn
outside a Jupyter kernel, and nothing under a non-interactive matplotlib backend such as
``MPLBACKEND=Agg``, which is how the book build runs (``make book``).
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from .history import History

__all__ = [
    "in_notebook",
    "interactive_display",
    "want_progress",
    "want_live_plot",
    "progress_bar",
    "LivePlot",
]

_HEADLESS_BACKENDS = {"agg", "pdf", "ps", "svg", "cairo", "template", "pgf"}


def in_notebook() -> bool:
    """True inside a Jupyter kernel (notebook, JupyterLab, VS Code, Colab), False in a terminal."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def interactive_display() -> bool:
    """False when ``MPLBACKEND`` names a file-only backend (``Agg``...): a build, not a reader."""
    backend = os.environ.get("MPLBACKEND", "").strip().lower()
    return backend not in _HEADLESS_BACKENDS


def want_progress(setting: bool | str) -> bool:
    """Resolve ``TrainConfig.progress``: 'auto' means a notebook with a display, or a terminal."""
    if setting != "auto":
        return bool(setting)
    if in_notebook():
        return interactive_display()
    return sys.stderr is not None and sys.stderr.isatty()


def want_live_plot(setting: bool | str) -> bool:
    """Resolve ``TrainConfig.live_plot``: 'auto' means a notebook with a display (True: any kernel)."""
    if setting is False:
        return False
    return in_notebook() and (setting is True or interactive_display())


def progress_bar(total: int | None, initial: int, enabled: bool) -> Any:
    """A ``tqdm.auto`` bar over optimizer steps (disabled bars cost nothing per update)."""
    if enabled:  # tqdm.auto picks the notebook or terminal flavour when first imported
        from tqdm.auto import tqdm
    else:  # (and warns in a notebook without ipywidgets, which a disabled bar need not)
        from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, disable=not enabled, desc="train", unit="step", dynamic_ncols=True
    )


class LivePlot:
    """A loss plot redrawn in place in a notebook while training runs.

    ``update(history)`` redraws if at least ``min_interval`` seconds have passed since the last
    draw, and at least 20 times the time the last draw took, which bounds the cost of plotting to
    about 5% of the run. The first draw creates one output with ``display(..., display_id=True)``;
    later draws replace it through the handle. ``close(history)`` draws the final state. ``display``
    and the throttling ``clock`` can be replaced (tests do).
    """

    def __init__(
        self,
        metric: str = "loss",
        min_interval: float = 1.5,
        *,
        display: Callable[..., Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from matplotlib.figure import Figure  # a bare Figure: pyplot would show it again at cell end

        self.metric, self.min_interval, self._clock = metric, min_interval, clock
        self._display = display
        self._figure = Figure(figsize=(6, 3.2), dpi=80, layout="tight")
        self._handle: Any = None
        self._last_draw = -float("inf")
        self._draw_cost = 0.0
        self.draws = 0

    def update(self, history: History, *, force: bool = False) -> bool:
        """Redraw if enough time has passed (or ``force``); True if it drew."""
        now = self._clock()
        wait = max(self.min_interval, 20 * self._draw_cost)
        if not force and now - self._last_draw < wait:
            return False
        if not history.step and not history.val_step:
            return False
        started = time.perf_counter()
        image = self._render(history)
        if self._handle is None:
            self._handle = self._show(image)
        else:
            self._handle.update(image)
        self._draw_cost = time.perf_counter() - started
        self._last_draw = now
        self.draws += 1
        return True

    def close(self, history: History) -> None:
        """Draw the final state (once) and release the figure."""
        if history.step or history.val_step:
            self.update(history, force=True)
        self._figure.clear()

    def _render(self, history: History) -> Any:
        from IPython.display import Image

        self._figure.clear()
        ax = self._figure.add_subplot()
        history.plot(ax=ax, metric=self.metric, smooth=max(1, len(history.step) // 50))
        buffer = io.BytesIO()
        self._figure.savefig(buffer, format="png")
        return Image(data=buffer.getvalue(), format="png")

    def _show(self, image: Any) -> Any:
        if self._display is None:
            from IPython.display import display

            self._display = display
        return self._display(image, display_id=True)
