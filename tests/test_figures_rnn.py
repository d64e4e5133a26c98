"""Tests for course_lib.figures.rnn: the diagrams draw what they claim, and bad input fails early.

The boxes and arrows carry gids ("input", "state", "output", "initial"; "U", "W", "V"), so the
tests count them and check where they sit: one input box per step that reads an input, arrows that
start and end on box edges, the same weight letter on every step.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from course_lib.figures import rnn


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def _patches(ax: matplotlib.axes.Axes, gid: str) -> list:
    return [p for p in ax.patches if p.get_gid() == gid]


def _centres_x(boxes: list[FancyBboxPatch]) -> list[float]:
    return sorted(round(b.get_x() + b.get_width() / 2, 6) for b in boxes)


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


# --------------------------------------------------------------------------- rolled_and_unrolled
@pytest.mark.parametrize("steps", [1, 3, 8])
def test_unrolled_has_one_box_and_one_arrow_of_each_kind_per_step(steps: int) -> None:
    fig = rnn.rolled_and_unrolled(steps)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    # The loop on the left adds one input, state and output box, and one arrow per matrix.
    for gid in ("input", "state", "output", "U", "V"):
        assert len(_patches(ax, gid)) == steps + 1, gid
    assert len(_patches(ax, "W")) == steps + 1  # steps arrows across (from s_-1 on) + the loop
    assert len(_patches(ax, "initial")) == 1
    # Every step of the unrolled chain sits in one column: input, state and output share an x.
    xs = {gid: _centres_x(_patches(ax, gid)) for gid in ("input", "state", "output")}
    assert xs["input"] == xs["state"] == xs["output"]


def test_unrolled_without_the_loop_draws_only_the_chain() -> None:
    (ax,) = rnn.rolled_and_unrolled(4, folded=False).axes
    assert len(_patches(ax, "state")) == 4
    assert len(_patches(ax, "W")) == 4  # no loop: s_-1 -> s_0 -> ... -> s_3
    loops = [a for a in _patches(ax, "W") if a.get_path().codes is not None and 4 in a.get_path().codes]
    assert not loops


def test_arrows_run_from_box_edge_to_box_edge() -> None:
    (ax,) = rnn.rolled_and_unrolled(3, folded=False).axes
    top = {round(b.get_x() + b.get_width() / 2, 6): b.get_y() + b.get_height() for b in _patches(ax, "input")}
    bottom = {round(b.get_x() + b.get_width() / 2, 6): b.get_y() for b in _patches(ax, "state")}
    for arrow in _patches(ax, "U"):
        (x0, y0), (x1, y1) = arrow._posA_posB  # the endpoints given to FancyArrowPatch
        assert x0 == pytest.approx(x1)  # vertical
        assert y0 == pytest.approx(top[round(x0, 6)], abs=0.05)  # leaves the input box ...
        assert y1 == pytest.approx(bottom[round(x1, 6)], abs=0.05)  # ... and enters its state box
    for arrow in _patches(ax, "W"):
        (x0, y0), (x1, y1) = arrow._posA_posB
        assert y0 == pytest.approx(y1) and x1 > x0  # horizontal, forward in time


@pytest.mark.parametrize(
    ("notation", "expected"),
    [("wildml", ["$s_{-1}$", "$x_{0}$", "$s_{2}$", "$o_{2}$", "$U$", "$W$", "$V$"]),
     ("lecture", ["$h_{-1}$", "$x_{0}$", "$h_{2}$", "$\\hat{y}_{2}$", "$W_{xh}$", "$W_{hh}$", "$W_{hy}$"])],
)  # fmt: skip
def test_unrolled_labels_use_the_chosen_notation(notation: str, expected: list[str]) -> None:
    texts = _texts(rnn.rolled_and_unrolled(3, notation=notation, folded=False))
    for label in expected:
        assert label in texts, label
    # The same matrix labels every step: that is parameter sharing.
    sym = rnn.NOTATIONS[notation]
    assert [texts.count(f"${m}$") for m in (sym.U, sym.W, sym.V)] == [3, 3, 3]


def test_shapes_appear_on_the_loop_only_when_asked() -> None:
    with_shapes = " ".join(_texts(rnn.rolled_and_unrolled(2, shapes=True)))
    without = " ".join(_texts(rnn.rolled_and_unrolled(2, shapes=False)))
    for shape in (r"H \times D", r"H \times H", r"K \times H"):
        assert shape in with_shapes and shape not in without


@pytest.mark.parametrize("steps", [0, 9, -1, True, 2.0, "3"])
def test_unrolled_rejects_bad_steps(steps: object) -> None:
    with pytest.raises(ValueError, match=r"steps must be an int in \[1, 8\]"):
        rnn.rolled_and_unrolled(steps)  # type: ignore[arg-type]


def test_unrolled_rejects_unknown_notation() -> None:
    with pytest.raises(ValueError, match="notation must be one of"):
        rnn.rolled_and_unrolled(3, notation="colah")


# --------------------------------------------------------------------------- taxonomy
def test_taxonomy_draws_every_pattern_where_it_reads_and_emits() -> None:
    fig = rnn.taxonomy()
    assert [ax.get_title() for ax in fig.axes] == [p.title for p in rnn.PATTERNS.values()]
    for ax, pattern in zip(fig.axes, rnn.PATTERNS.values(), strict=True):
        states = _centres_x(_patches(ax, "state"))
        assert len(states) == pattern.steps
        step_x = dict(enumerate(states))  # step t -> x of its state box
        assert _centres_x(_patches(ax, "input")) == sorted(step_x[t] for t in pattern.inputs)
        assert _centres_x(_patches(ax, "output")) == sorted(step_x[t] for t in pattern.outputs)
        assert len(_patches(ax, "U")) == len(pattern.inputs)
        assert len(_patches(ax, "V")) == len(pattern.outputs)
        assert len(_patches(ax, "W")) == pattern.steps - 1
        assert pattern.example in [t.get_text() for t in ax.texts]


def test_taxonomy_panels_share_one_scale() -> None:
    # Equal aspect with widths proportional to content: a box is equally wide in every panel.
    fig = rnn.taxonomy(["one-to-one", "encoder-decoder"])
    fig.canvas.draw()
    widths = []
    for ax in fig.axes:
        box = _patches(ax, "state")[0]
        (x0, _), (x1, _) = ax.transData.transform([(box.get_x(), 0), (box.get_x() + box.get_width(), 0)])
        widths.append(x1 - x0)
    assert widths[0] == pytest.approx(widths[1], rel=0.02)


def test_the_patterns_differ_in_what_they_read_and_emit() -> None:
    p = rnn.PATTERNS
    assert len(p["many-to-one"].outputs) == 1 < len(p["many-to-one"].inputs)
    assert len(p["one-to-many"].inputs) == 1 < len(p["one-to-many"].outputs)
    assert p["many-to-many"].inputs == p["many-to-many"].outputs
    assert max(p["encoder-decoder"].inputs) < min(p["encoder-decoder"].outputs)  # reads all, then writes


@pytest.mark.parametrize("patterns", [[], "one-to-one", ["one-to-one", "two-to-two"]])
def test_taxonomy_rejects_bad_pattern_lists(patterns: object) -> None:
    with pytest.raises(ValueError, match="pattern"):
        rnn.taxonomy(patterns)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("steps", "inputs", "outputs"),
    [(0, (0,), (0,)), (9, (0,), (0,)), (3, (), (0,)), (3, (0, 3), (0,)), (3, (0,), (1, 1))],
)
def test_pattern_rejects_inconsistent_steps(steps: int, inputs: tuple, outputs: tuple) -> None:
    with pytest.raises(ValueError, match="Pattern"):
        rnn.Pattern("bad", steps, inputs, outputs, "")


# --------------------------------------------------------------------------- global state
def test_importing_and_drawing_leave_matplotlib_settings_alone() -> None:
    code = (
        "import matplotlib as mpl; mpl.use('Agg'); before = dict(mpl.rcParams); "
        "from course_lib.figures import rnn; assert dict(mpl.rcParams) == before, 'import'; "
        "rnn.rolled_and_unrolled(); rnn.taxonomy(); assert dict(mpl.rcParams) == before, 'drawing'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_figures_are_opaque_for_dark_mode() -> None:
    for fig in (rnn.rolled_and_unrolled(2), rnn.taxonomy(["many-to-one"])):
        assert matplotlib.colors.to_hex(fig.get_facecolor()) == "#ffffff"
        assert all(isinstance(p, (FancyBboxPatch, FancyArrowPatch)) for ax in fig.axes for p in ax.patches)


@pytest.mark.parametrize(
    ("num_layers", "steps", "bidirectional"), [(1, 3, False), (2, 4, False), (3, 2, True)]
)
def test_stacked_rnn_counts_states_and_arrows(num_layers: int, steps: int, bidirectional: bool) -> None:
    fig = rnn.stacked_rnn(num_layers, steps, bidirectional=bidirectional)
    ax = fig.axes[0]
    directions = 2 if bidirectional else 1
    states = [p for p in ax.patches if p.get_gid() == "state"]
    assert len(states) == num_layers * directions * steps
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    forward = sum(a.get_gid() == "time:fwd" for a in arrows)
    backward = sum(a.get_gid() == "time:bwd" for a in arrows)
    assert forward == num_layers * (steps - 1)
    assert backward == (num_layers * (steps - 1) if bidirectional else 0)
    # h_n's entries are labelled once each, in torch's order: k = layer * D + direction
    labels = sorted(t.get_text() for t in ax.texts if t.get_text().startswith("h_n["))
    assert labels == sorted(f"h_n[{k}]" for k in range(num_layers * directions))
    fig.canvas.draw()


def test_backward_final_state_is_labelled_at_the_first_step() -> None:
    ax = rnn.stacked_rnn(1, 3, bidirectional=True).axes[0]
    where = {t.get_text(): t.get_position()[0] for t in ax.texts if t.get_text().startswith("h_n[")}
    assert where["h_n[1]"] < 0 < 2 * rnn._STACK_DX < where["h_n[0]"]  # backward at t=0, forward at t=2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: rnn.stacked_rnn(0), "num_layers must be an int in"),
        (lambda: rnn.stacked_rnn(2, 7), "steps must be an int in"),
        (lambda: rnn.stacked_rnn(True), "num_layers must be an int in"),
        (lambda: rnn.stacked_rnn(2, 3, bidirectional="yes"), "bidirectional must be True or False"),
    ],
)
def test_stacked_rnn_rejects_bad_arguments(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
