"""The catalogue of common mistakes in recurrent cells and layers, and the diagnosis that picks one.

The diagnosis re-runs the reference maths with each mistake of the catalogue put in, in order, and
names the first that reproduces the student's numbers. Internal to ``course_lib.grading``.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

from course_lib.grading.case import GATES, Setup, same
from course_lib.grading.reference import Mistake, reference_outputs

_GATE_NAMES = {
    "i": "input",
    "f": "forget",
    "g": "candidate",
    "o": "output",
    "r": "reset",
    "z": "update",
    "n": "new",
}
_BIAS_WORDS = {
    (0, 0): "no bias is added at all: add bias_ih and bias_hh.",
    (0, 1): "bias_ih is never added.",
    (1, 0): "bias_hh is never added.",
    (2, 1): "bias_ih is added twice.",
    (1, 2): "bias_hh is added twice.",
    (2, 2): "both biases are added twice (for example once by an nn.Linear and once by hand).",
}


def _gate_order_mistakes(kind: str) -> list[Mistake]:
    gates, ms = GATES[kind], []
    for perm in itertools.permutations(gates):
        if "".join(perm) != gates:
            ms.append(
                Mistake(
                    f"gate_order:{''.join(perm)}",
                    f"the gate blocks of the weights and biases are read in the order "
                    f"({', '.join(perm)}), but "
                    f"torch.nn stacks them as ({', '.join(gates)}) = "
                    f"({', '.join(_GATE_NAMES[g] for g in gates)}); split with `{', '.join(gates)} = "
                    f"gates.chunk({len(gates)}, dim=1)`.",
                    order="".join(perm),
                )
            )
    return ms


def _weight_and_bias_mistakes() -> list[Mistake]:
    ms = [
        Mistake(
            f"transposed:weight_{which}",
            f"weight_{which} is used transposed ({'x' if which == 'ih' else 'h'} @ weight_{which} "
            f"instead of @ weight_{which}.T); torch.nn stores weights as (out_features, in_features).",
            transpose=which,
        )
        for which in ("ih", "hh")
    ]
    return ms + [Mistake(f"bias:{a}{b}", words, bias_scale=(a, b)) for (a, b), words in _BIAS_WORDS.items()]


def _activation_mistakes(kind: str, nonlinearity: str) -> list[Mistake]:
    if kind == "rnn":
        return [
            Mistake(
                f"nonlinearity:{act}",
                f"the cell applies {act} where nonlinearity='{nonlinearity}' asks for {nonlinearity}.",
                cand_act=act,
            )
            for act in sorted({"tanh", "relu", "sigmoid"} - {nonlinearity})
        ]
    cand = "g" if kind == "lstm" else "n"
    return [
        Mistake("act:gates_tanh", "sigmoid and tanh are swapped: the gates need sigmoid.", gate_act="tanh"),
        Mistake(
            "act:candidate_sigmoid",
            f"sigmoid and tanh are swapped: the candidate {cand} needs tanh.",
            cand_act="sigmoid",
        ),
        Mistake(
            "act:swapped",
            "sigmoid and tanh are swapped everywhere: the gates need sigmoid and "
            f"the candidate {cand} needs tanh.",
            gate_act="tanh",
            cand_act="sigmoid",
        ),
    ]


_LSTM_MISTAKES = [
    Mistake(
        "lstm:no_tanh_c",
        "h = o * c: the tanh on the cell state is missing (h = o * tanh(c)).",
        out_act="identity",
    ),
    Mistake("lstm:sigmoid_c", "h = o * sigmoid(c), but torch uses h = o * tanh(c).", out_act="sigmoid"),
]
_GRU_MISTAKES = [
    Mistake(
        "gru:flip_z",
        "z and 1 - z are swapped in the update: torch uses h' = (1 - z) * n + z * h (z keeps the old state).",
        flip_z=True,
    ),
    Mistake(
        "gru:reset_before",
        "the reset gate is applied before the hidden matmul, W_hn (r * h), as "
        "in Cho et al. (2014) and d2l; torch applies it after: r * (W_hn h + b_hn).",
        reset_before=True,
    ),
    Mistake(
        "gru:bhn_outside",
        "b_hn is added outside the reset gate; torch computes n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).",
        bhn_outside=True,
    ),
]
_IGNORES_STATE = Mistake(
    "ignores_state", "the state passed in is ignored and zeros are used instead.", ignore_hx=True
)


def cell_mistakes(kind: str, nonlinearity: str) -> list[Mistake]:
    """The mistakes a cell of ``kind`` ("rnn", "lstm", "gru") can make, in the order they are tried."""
    ms = _gate_order_mistakes(kind) if kind != "rnn" else []
    ms += _weight_and_bias_mistakes() + _activation_mistakes(kind, nonlinearity)
    ms += {"lstm": _LSTM_MISTAKES, "gru": _GRU_MISTAKES}.get(kind, [])
    return [*ms, _IGNORES_STATE]


def lstm_cell_extra() -> list[Mistake]:
    """Mistakes only an LSTM cell can make (a layer's twin of this one is a ``layout``)."""
    return [
        Mistake(
            "returns_c",
            "it returns (c, h): c where h is expected. torch.nn.LSTMCell returns (h, c).",
            swap_hc=True,
        )
    ]


def _layout_words(batch_first: bool) -> str:
    if batch_first:
        return (
            "with batch_first=True the input is (N, T, input_size), but the layer reads it as time-major "
            "(T, N, input_size): transpose it before looping over time, and transpose the output back."
        )
    return (
        "with batch_first=False the input is time-major (T, N, input_size), but the layer reads it "
        "as batch-first (N, T, input_size)."
    )


_STATE_MISTAKES = [
    Mistake(
        "layout:state_batch_first",
        "h_n is returned as (N, num_layers, hidden_size); torch keeps the "
        "state (num_layers, N, hidden_size) whatever batch_first is.",
        layout="state_batch_first",
    ),
    Mistake(
        "layout:last_layer_only",
        "h_n holds only the last layer's final state; torch stacks every "
        "layer's: (num_layers, N, hidden_size).",
        layout="last_layer_only",
    ),
    Mistake(
        "layout:output_first_layer",
        "output holds the first layer's h_t; it must hold the last layer's.",
        layout="output_first_layer",
    ),
]
_LSTM_LAYER_MISTAKES = [
    Mistake(
        "returns_c",
        "output holds the cell states c_t where the hidden states h_t are expected.",
        layout="output_c",
    ),
    Mistake(
        "swap_states",
        "it returns (output, (c_n, h_n)); torch returns (output, (h_n, c_n)).",
        layout="swap_states",
    ),
]


def layer_mistakes(kind: str, nonlinearity: str, batch_first: bool) -> list[Mistake]:
    """A layer's own mistakes (layout, states) first, then every mistake its cell can make."""
    key = "layout:" + ("time_major" if batch_first else "batch_major")
    ms = [Mistake(key, _layout_words(batch_first), layout="wrong_layout"), *_STATE_MISTAKES]
    ms += _LSTM_LAYER_MISTAKES if kind == "lstm" else []
    return ms + cell_mistakes(kind, nonlinearity)


def diagnose(setup: Setup, got, x, hx, ws, mistakes, bad: int) -> tuple[Mistake | None, bool]:
    """The first mistake that reproduces every output; failing that, one that reproduces output ``bad``.

    The flag says the mistake is partial: it explains output ``bad`` only.
    """
    partial = None
    with torch.no_grad():
        for m in mistakes:
            try:
                ref: list[Tensor] = reference_outputs(setup, m, x, hx, ws)
            except RuntimeError:  # this mistake cannot even run with these shapes
                continue
            if same(got, ref):
                return m, False
            if partial is None and len(ref) > bad and same(got[bad : bad + 1], ref[bad : bad + 1]):
                partial = m
    return partial, partial is not None
