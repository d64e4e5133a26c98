"""Checks the labs run on a student's recurrent cells and layers, with a diagnosis when they fail.

``check_lstm_cell(MyLSTMCell)`` builds the student's class with ``torch.nn.LSTMCell``'s constructor
arguments, loads a ``torch.nn`` twin's weights into it by ``state_dict`` and compares outputs,
states and gradients in float64 on random inputs. On success it returns a ``CheckReport`` (shown
green in a notebook); on failure it raises ``CheckFailed`` (an ``AssertionError``) that says what
differs and names the likely mistake, found by re-running a reference implementation with each
common mistake put in (gate order, transposed weight, bias missing or doubled, sigmoid/tanh
swapped, GRU reset or update variants, ignored state, time-major input, c returned for h) and
reporting the one that reproduces the student's numbers. Used by the labs of chapters 1 to 3.

The checks run on the CPU by default: in float64 at these tiny sizes that is exact and fast. Pass
``device="cuda"`` to also run the student's code on a GPU (it catches tensors created on the CPU).

In a lab, the last cell of an exercise passes the class itself, not an instance::

    from course_lib import grading
    grading.check_lstm_cell(MyLSTMCell)               # a cell: forward(x, (h, c)) -> (h, c)
    grading.check_gru_layer(MyGRU, batch_first=True)  # a layer; batch_first=None checks both

Because ``CheckFailed`` is an ``AssertionError``, a failing check stops the notebook (and nbval) at
that cell; its ``mistake`` attribute holds the key of the diagnosis (e.g. ``"gate_order:ifog"``).

Only the names below are public. The modules behind them, by concept: ``report`` (what a check
returns or raises), ``case`` (sizes, tolerances, the torch.nn twin), ``reference`` (torch.nn's maths
with switches for mistakes), ``mistakes`` (the catalogue and the diagnosis), ``student`` (building,
loading and calling the student's class), ``compare`` (outputs and gradients against the twin) and
``checks`` (the six checks).

Labs are also graded assignments: ``record`` is what their hidden tests call (module ``hidden``),
``assignments`` builds the student and autograder versions and grades submissions, ``sandbox``
runs each submission in its own limited process, and ``diagnoses`` explains wrong values. The
command line is ``python -m course_lib.grading build|grade`` (module ``__main__``).
"""

from course_lib.grading.checks import (
    check_gru_cell,
    check_gru_layer,
    check_lstm_cell,
    check_lstm_layer,
    check_rnn_cell,
    check_rnn_layer,
)
from course_lib.grading.hidden import record
from course_lib.grading.report import CheckFailed, CheckReport

__all__ = [
    "CheckFailed",
    "CheckReport",
    "check_rnn_cell",
    "check_lstm_cell",
    "check_gru_cell",
    "check_rnn_layer",
    "check_lstm_layer",
    "check_gru_layer",
    "record",
]
