"""Tests for course_lib.figures.bptt: the diagrams draw what they say, leave matplotlib's settings
alone, and reject bad arguments with clear errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # tests never need a display

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from course_lib.figures import bptt


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def _arrows(fig: Figure, colour: str) -> int:
    """Number of arrows drawn in ``colour``."""
    arrows = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]
    return sum(matplotlib.colors.to_hex(p.get_edgecolor()) == colour.lower() for p in arrows)


def test_unrolled_rnn_draws_every_node_and_weight() -> None:
    fig = bptt.unrolled_rnn(3)
    assert isinstance(fig, Figure)
    labels = _texts(fig)
    for t in range(3):
        for symbol in "xsoL":
            assert f"${symbol}_{{{t}}}$" in labels
    assert "$s_{-1}$" in labels
    assert labels.count("$W$") == 3 and labels.count("$U$") == 3 and labels.count("$V$") == 3
    assert _arrows(fig, bptt._BACKWARD) == 0  # forward pass only


def test_backward_pass_arrows_count() -> None:
    steps = 4
    everything = bptt.unrolled_rnn(steps, backward=True)
    # two arrows down from each loss, and one hop back per state (into s_{-1} too)
    assert _arrows(everything, bptt._BACKWARD) == 2 * steps + steps
    one_loss = bptt.unrolled_rnn(steps, backward=True, loss_step=2)
    assert _arrows(one_loss, bptt._BACKWARD) == 2 + 3


@pytest.mark.parametrize("truncate", [0, 1, 2])
def test_truncation_stops_after_k_hops_and_marks_the_cut(truncate: int) -> None:
    fig = bptt.unrolled_rnn(6, backward=True, loss_step=5, truncate=truncate)
    assert _arrows(fig, bptt._BACKWARD) == 2 + truncate
    assert _arrows(fig, bptt._CUT) == 1
    assert any(f"reaches {truncate + 1} states" in s for s in _texts(fig))


def test_truncation_longer_than_the_sequence_is_full_bptt() -> None:
    fig = bptt.unrolled_rnn(3, backward=True, loss_step=-1, truncate=10)
    assert _arrows(fig, bptt._BACKWARD) == 2 + 3
    assert _arrows(fig, bptt._CUT) == 0


def test_gradient_path_labels_and_norms() -> None:
    fig = bptt.gradient_path(4, norms=[1e-3, 1e-2, 1e-1, 1.0])
    labels = _texts(fig)
    assert [f"$s_{{{t}}}$" in labels for t in range(4)] == [True] * 4
    assert "1.0e-03" in labels and "1.0e+00" in labels
    formula = next(s for s in labels if "partial L" in s)
    assert "J_{1}^\\top J_{2}^\\top J_{3}^\\top" in formula and "J_{4}" not in formula
    # Larger norms are drawn darker: the fill gets less bright from s_0 to s_3.
    boxes = [p for p in fig.axes[0].patches][:4]
    brightness = [sum(p.get_facecolor()[:3]) for p in boxes]
    assert brightness == sorted(brightness, reverse=True) and brightness[0] > brightness[-1]


def test_figures_leave_rcparams_alone() -> None:
    before = dict(matplotlib.rcParams)
    bptt.unrolled_rnn(2, backward=True)
    bptt.gradient_path(3)
    after = dict(matplotlib.rcParams)
    assert {k for k in before if before[k] != after[k]} == set()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        bptt.unrolled_rnn(0)
    with pytest.raises(ValueError, match="backward=True"):
        bptt.unrolled_rnn(3, loss_step=1)
    with pytest.raises(ValueError, match="loss_step must index"):
        bptt.unrolled_rnn(3, backward=True, loss_step=3)
    with pytest.raises(ValueError, match="truncate needs a loss_step"):
        bptt.unrolled_rnn(3, backward=True, truncate=1)
    with pytest.raises(ValueError, match="truncate must be an int >= 0"):
        bptt.unrolled_rnn(3, backward=True, loss_step=2, truncate=-1)
    with pytest.raises(ValueError, match="steps must be an int >= 2"):
        bptt.gradient_path(1)
    with pytest.raises(ValueError, match="norms must be 3 finite"):
        bptt.gradient_path(3, norms=[1.0, 2.0])
    with pytest.raises(ValueError, match="norms must be 3 finite"):
        bptt.gradient_path(3, norms=[1.0, float("nan"), 2.0])
