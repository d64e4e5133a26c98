"""Tests for course_lib.figures.lstm: every diagram draws the parts its equations have (and no
others), highlights exactly the parts of the step it is asked for, renders, leaves matplotlib's
settings alone, and rejects bad arguments with clear errors."""

from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")  # tests never need a display

import matplotlib.pyplot as plt
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch

from course_lib import models
from course_lib.figures import lstm

ACCENT = to_hex(lstm._ACCENT)
FADED = to_hex(lstm._FADED_INK)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _gids(ax: Axes) -> set[str]:
    return {a.get_gid() for a in ax.findobj() if a.get_gid()}


def _patch(ax: Axes, gid: str) -> FancyBboxPatch | Circle:
    found = [p for p in ax.patches if p.get_gid() == gid and isinstance(p, (FancyBboxPatch, Circle))]
    assert len(found) == 1, f"expected one patch {gid!r}, found {len(found)}"
    return found[0]


def _accented(ax: Axes) -> set[str]:
    """gids of the boxes and nodes drawn with the highlight edge."""
    return {
        p.get_gid()
        for p in ax.patches
        if isinstance(p, (FancyBboxPatch, Circle)) and to_hex(p.get_edgecolor()) == ACCENT
    }


def _gates(ax: Axes) -> set[str]:
    return {g.split(":")[1] for g in _gids(ax) if g.startswith("gate:")}


@pytest.mark.parametrize("variant", list(models.LSTM_VARIANTS))
def test_lstm_cell_draws_exactly_the_gates_of_its_variant(variant: str) -> None:
    fig = lstm.lstm_cell(variant)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    gids = _gids(ax)
    # The gate boxes are the gate layers of models.LSTM_VARIANTS, nothing more, nothing less.
    assert _gates(ax) == set(models.LSTM_VARIANTS[variant].gates)
    assert {"belt", "op:add", "op:store", "op:output", "op:tanh_c", "h_out"} <= gids
    assert ("op:forget" in gids) == (variant != "no_forget")  # only the 1997 cell lacks f * c
    assert ("op:one_minus" in gids) == (variant == "coupled")
    peepholes = {g for g in gids if g.startswith("peephole:")}
    assert peepholes == ({"peephole:f", "peephole:i", "peephole:o"} if variant == "peephole" else set())
    fig.canvas.draw()  # mathtext errors only show up when the text is rendered


def test_lstm_cell_labels_use_torch_symbols() -> None:
    ax = lstm.lstm_cell().axes[0]
    texts = {t.get_text() for t in ax.texts}
    for symbol in ("$f_t$", "$i_t$", "$g_t$", "$o_t$", "$c_t$", "$c_{t-1}$", "$h_t$", "$h_{t-1}$", "$x_t$"):
        assert symbol in texts


@pytest.mark.parametrize(
    ("step", "lit"),
    [
        ("forget", {"gate:f", "op:forget"}),
        ("store", {"gate:i", "gate:g", "op:store"}),
        ("update", {"op:forget", "op:store", "op:add"}),
        ("output", {"gate:o", "op:tanh_c", "op:output"}),
    ],
)
def test_highlight_lights_exactly_the_parts_of_one_step(step: str, lit: set[str]) -> None:
    ax = lstm.lstm_cell(highlight=step).axes[0]
    assert _accented(ax) == lit
    for gate in {"gate:i", "gate:f", "gate:g", "gate:o"} - lit:  # the other gates are greyed out
        assert to_hex(_patch(ax, gate).get_edgecolor()) == FADED


def test_highlight_fades_the_labels_of_the_other_steps() -> None:
    ax = lstm.lstm_cell(highlight="output").axes[0]
    colour = {t.get_text(): to_hex(t.get_color()) for t in ax.texts}
    assert colour["$f_t$"] == colour["$i_t$"] == FADED  # gates of other steps
    assert colour["$o_t$"] != FADED and colour["$h_t$"] != FADED
    assert colour["cell state: the conveyor belt"] == to_hex(lstm._BELT)  # captions keep their colour


def test_no_highlight_means_nothing_is_accented_or_faded() -> None:
    ax = lstm.lstm_cell("peephole").axes[0]
    assert _accented(ax) == set()
    parts = [p for p in ax.patches if isinstance(p, (FancyBboxPatch, Circle))]
    assert parts and all(to_hex(p.get_edgecolor()) != FADED for p in parts)


def test_walkthrough_has_one_panel_per_step_in_order() -> None:
    fig = lstm.lstm_walkthrough()
    assert len(fig.axes) == len(lstm.LSTM_STEPS) == 4
    lit_gates = [{g for g in _accented(ax) if g.startswith("gate:")} for ax in fig.axes]
    assert lit_gates == [{"gate:f"}, {"gate:i", "gate:g"}, set(), {"gate:o"}]
    for ax, step in zip(fig.axes, lstm.LSTM_STEPS, strict=True):
        assert step in ax.get_title()
    fig.canvas.draw()


def test_lstm_cell_draws_on_a_given_axes() -> None:
    fig, axes = plt.subplots(1, 2)
    returned = lstm.lstm_cell("coupled", ax=axes[1], title="coupled", compact=True)
    assert returned is fig
    assert _gates(axes[1]) == {"f", "g", "o"} and not _gids(axes[0])
    assert axes[1].get_title() == "coupled"


def test_compact_drops_only_the_captions() -> None:
    full, compact = lstm.lstm_cell().axes[0], lstm.lstm_cell(compact=True).axes[0]
    assert _gids(full) == _gids(compact)
    assert len(compact.texts) == len(full.texts) - 2


def test_gru_cell_draws_torchs_gru() -> None:
    ax = lstm.gru_cell().axes[0]
    assert _gates(ax) == {"r", "z", "n"}  # torch's gate order r, z, n
    assert {"op:keep", "op:one_minus", "op:reset", "op:write", "op:add", "belt"} <= _gids(ax)
    assert "c_t" not in " ".join(t.get_text() for t in ax.texts)  # no cell state in a GRU
    ax.figure.canvas.draw()


@pytest.mark.parametrize(
    ("part", "lit_gates"), [("reset", {"gate:r"}), ("update", {"gate:z"}), ("candidate", {"gate:n"})]
)
def test_gru_highlight(part: str, lit_gates: set[str]) -> None:
    ax = lstm.gru_cell(highlight=part).axes[0]
    assert {g for g in _accented(ax) if g.startswith("gate:")} == lit_gates


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: lstm.lstm_cell("gru"), "variant must be one of"),
        (lambda: lstm.lstm_cell(highlight="remember"), "highlight must be one of"),
        (lambda: lstm.lstm_cell("no_forget", highlight="forget"), "no forget gate"),
        (lambda: lstm.gru_cell(highlight="forget"), "highlight must be one of"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_drawing_leaves_global_settings_alone() -> None:
    before = dict(matplotlib.rcParams)
    lstm.lstm_walkthrough()
    lstm.gru_cell()
    after = dict(matplotlib.rcParams)
    assert {k for k in before if before[k] != after[k]} == set()


def test_import_runs_nothing() -> None:
    code = (
        "import matplotlib as mpl; before = dict(mpl.rcParams); "
        "import matplotlib.pyplot as plt; import course_lib.figures.lstm; "
        "assert dict(mpl.rcParams) == before; assert plt.get_fignums() == []"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"MPLBACKEND": "Agg", "PATH": ""})
