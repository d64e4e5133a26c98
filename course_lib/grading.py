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
"""

from __future__ import annotations

import contextlib
import itertools
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

__all__ = [
    "CheckFailed",
    "CheckReport",
    "check_rnn_cell",
    "check_lstm_cell",
    "check_gru_cell",
    "check_rnn_layer",
    "check_lstm_layer",
    "check_gru_layer",
]

INPUT_SIZE, HIDDEN_SIZE = 3, 5  # different, so a transposed input weight cannot go unnoticed
CELL_BATCH, LAYER_BATCH, SEQ_LEN = 2, 3, 4  # N != T and N != num_layers: swapped axes show in shapes
ATOL, RTOL = 1e-9, 1e-7  # float64 on both sides: only summation order may differ
_GATES = {"rnn": "h", "lstm": "ifgo", "gru": "rzn"}
_TORCH = {
    ("rnn", False): nn.RNNCell,
    ("lstm", False): nn.LSTMCell,
    ("gru", False): nn.GRUCell,
    ("rnn", True): nn.RNN,
    ("lstm", True): nn.LSTM,
    ("gru", True): nn.GRU,
}


class CheckFailed(AssertionError):
    """A check found a difference from torch.nn. ``mistake`` is the key of the diagnosed mistake
    (e.g. ``"gate_order:ifog"``) or None when none of the known ones reproduces the output."""

    def __init__(self, message: str, mistake: str | None = None):
        super().__init__(message)
        self.mistake = mistake


@dataclass(repr=False)
class CheckReport:
    """What passed. Its text (and its green HTML in a notebook) is the success message."""

    student: str
    reference: str
    checks: list[str] = field(default_factory=list)
    max_error: float = 0.0

    def __repr__(self) -> str:
        return (
            f"✓ {self.student} matches {self.reference}: {', '.join(self.checks)} "
            f"(largest difference {self.max_error:.1e})"
        )

    def _repr_html_(self) -> str:
        return f'<p style="color:#1a7f37;font-weight:bold">{self!r}</p>'


@dataclass(frozen=True)
class Mistake:
    """One common mistake, as switches on the reference maths. ``words`` is what the learner reads."""

    key: str
    words: str
    order: str | None = None  # the gate each weight block is read as, e.g. "ifog"
    transpose: str = ""  # "ih" or "hh": that weight used as x @ W instead of x @ W.T
    bias_scale: tuple[int, int] = (1, 1)  # how many times bias_ih, bias_hh are added
    gate_act: str = "sigmoid"
    cand_act: str | None = None  # None: tanh (LSTM, GRU) or the RNN's nonlinearity
    out_act: str = "tanh"  # LSTM: h = o * out_act(c)
    flip_z: bool = False
    reset_before: bool = False
    bhn_outside: bool = False
    ignore_hx: bool = False
    swap_hc: bool = False
    layout: str = ""  # layer-level mistakes, see _layer_mistakes


_NO_MISTAKE = Mistake("none", "no mistake")
_ACT: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "identity": lambda t: t,
}


# ---------------------------------------------------------------- reference maths, mistakes included
def _linear(x: Tensor, w: Tensor, b: Tensor | None, transposed: bool, times: int) -> Tensor:
    y = x @ (w if transposed else w.T)  # transposed only fits square weights; otherwise it raises
    return y if b is None else y + times * b


def _step(kind: str, m: Mistake, x: Tensor, state, w: list, nonlinearity: str):
    """One step of torch.nn's cell maths with mistake ``m`` put in. x (N, I); state h or (h, c)."""
    w_ih, w_hh, b_ih, b_hh = w
    gi = _linear(x, w_ih, b_ih, m.transpose == "ih", m.bias_scale[0])  # (N, G*H)
    h = state[0] if kind == "lstm" else state
    gh = _linear(h, w_hh, b_hh, m.transpose == "hh", m.bias_scale[1])  # (N, G*H)
    sig, cand = _ACT[m.gate_act], _ACT[m.cand_act or (nonlinearity if kind == "rnn" else "tanh")]
    if kind == "rnn":
        return cand(gi + gh)
    order = m.order or _GATES[kind]
    if kind == "lstm":
        g = dict(zip(order, (gi + gh).chunk(4, dim=1), strict=True))
        c = sig(g["f"]) * state[1] + sig(g["i"]) * cand(g["g"])
        return sig(g["o"]) * _ACT[m.out_act](c), c
    gi, gh = dict(zip(order, gi.chunk(3, 1), strict=True)), dict(zip(order, gh.chunk(3, 1), strict=True))
    r, z = sig(gi["r"] + gh["r"]), sig(gi["z"] + gh["z"])
    if m.reset_before:  # Cho et al. / d2l: W_hn (r * h) + b_hn
        rh = _linear(r * h, w_hh, b_hh, m.transpose == "hh", m.bias_scale[1])
        n = cand(gi["n"] + dict(zip(order, rh.chunk(3, 1), strict=True))["n"])
    elif m.bhn_outside:  # r * (W_hn h) + b_hn
        bare = dict(zip(order, _linear(h, w_hh, None, m.transpose == "hh", 0).chunk(3, 1), strict=True))
        b_hn = dict(zip(order, b_hh.chunk(3), strict=True))["n"] * m.bias_scale[1]
        n = cand(gi["n"] + r * bare["n"] + b_hn)
    else:
        n = cand(gi["n"] + r * gh["n"])
    return z * n + (1 - z) * h if m.flip_z else (1 - z) * n + z * h


def _cell_outputs(kind: str, m: Mistake, x: Tensor, state, w: list, nonlinearity: str) -> list[Tensor]:
    if m.ignore_hx:
        state = tuple(torch.zeros_like(s) for s in state) if kind == "lstm" else torch.zeros_like(state)
    out = _step(kind, m, x, state, w, nonlinearity)
    if kind != "lstm":
        return [out]
    return [out[1], out[0]] if m.swap_hc else list(out)


def _layer_outputs(kind: str, m: Mistake, x: Tensor, hx, ws: list[list], bf: bool, nl: str) -> list[Tensor]:
    """torch.nn.RNN/LSTM/GRU maths with mistake ``m``; ws[k] holds layer k's four tensors."""
    reads_bf = bf != (m.layout == "wrong_layout")
    seq = x.transpose(0, 1) if reads_bf else x  # (T, N, I)
    L, N, H = len(ws), seq.shape[1], ws[0][1].shape[1]
    zeros = seq.new_zeros(L, N, H)
    if hx is None or m.ignore_hx:
        hx = (zeros, zeros) if kind == "lstm" else zeros
    finals, first_out = [], None
    for k in range(L):
        state = (hx[0][k], hx[1][k]) if kind == "lstm" else hx[k]
        outs = []
        for t in range(seq.shape[0]):
            state = _step(kind, m, seq[t], state, ws[k], nl)
            h = state if kind != "lstm" else state[1 if m.layout == "output_c" else 0]
            outs.append(h)
        seq = torch.stack(outs)  # (T, N, H): the next layer's input
        first_out = seq if first_out is None else first_out
        finals.append(state)
    output = first_out if m.layout == "output_first_layer" else seq
    output = output.transpose(0, 1) if reads_bf else output
    states = (
        [torch.stack([s[i] for s in finals]) for i in (0, 1)] if kind == "lstm" else [torch.stack(finals)]
    )
    if m.layout == "state_batch_first":
        states = [s.transpose(0, 1) for s in states]
    elif m.layout == "last_layer_only":
        states = [s[-1:] for s in states]
    elif m.layout == "swap_states":
        states = states[::-1]
    return [output, *states]


# ---------------------------------------------------------------- the catalogue of mistakes
def _cell_mistakes(kind: str, nonlinearity: str) -> list[Mistake]:
    gates, ms = _GATES[kind], []
    if kind != "rnn":
        names = {
            "i": "input",
            "f": "forget",
            "g": "candidate",
            "o": "output",
            "r": "reset",
            "z": "update",
            "n": "new",
        }
        for perm in itertools.permutations(gates):
            if "".join(perm) != gates:
                ms.append(
                    Mistake(
                        f"gate_order:{''.join(perm)}",
                        f"the gate blocks of the weights and biases are read in the order "
                        f"({', '.join(perm)}), but "
                        f"torch.nn stacks them as ({', '.join(gates)}) = "
                        f"({', '.join(names[g] for g in gates)}); split with `{', '.join(gates)} = "
                        f"gates.chunk({len(gates)}, dim=1)`.",
                        order="".join(perm),
                    )
                )
    for which in ("ih", "hh"):
        ms.append(
            Mistake(
                f"transposed:weight_{which}",
                f"weight_{which} is used transposed ({'x' if which == 'ih' else 'h'} @ weight_{which} "
                f"instead of @ weight_{which}.T); torch.nn stores weights as (out_features, in_features).",
                transpose=which,
            )
        )
    bias_words = {
        (0, 0): "no bias is added at all: add bias_ih and bias_hh.",
        (0, 1): "bias_ih is never added.",
        (1, 0): "bias_hh is never added.",
        (2, 1): "bias_ih is added twice.",
        (1, 2): "bias_hh is added twice.",
        (2, 2): "both biases are added twice (for example once by an nn.Linear and once by hand).",
    }
    ms += [Mistake(f"bias:{a}{b}", words, bias_scale=(a, b)) for (a, b), words in bias_words.items()]
    if kind == "rnn":
        for act in sorted({"tanh", "relu", "sigmoid"} - {nonlinearity}):
            ms.append(
                Mistake(
                    f"nonlinearity:{act}",
                    f"the cell applies {act} where nonlinearity='{nonlinearity}' asks for {nonlinearity}.",
                    cand_act=act,
                )
            )
    else:
        cand = "g" if kind == "lstm" else "n"
        ms += [
            Mistake(
                "act:gates_tanh", "sigmoid and tanh are swapped: the gates need sigmoid.", gate_act="tanh"
            ),
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
    if kind == "lstm":
        ms += [
            Mistake(
                "lstm:no_tanh_c",
                "h = o * c: the tanh on the cell state is missing (h = o * tanh(c)).",
                out_act="identity",
            ),
            Mistake(
                "lstm:sigmoid_c", "h = o * sigmoid(c), but torch uses h = o * tanh(c).", out_act="sigmoid"
            ),
        ]
    if kind == "gru":
        ms += [
            Mistake(
                "gru:flip_z",
                "z and 1 - z are swapped in the update: torch uses h' = (1 - z) * n + z * h "
                "(z keeps the old state).",
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
                "b_hn is added outside the reset gate; torch computes "
                "n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).",
                bhn_outside=True,
            ),
        ]
    ms.append(
        Mistake("ignores_state", "the state passed in is ignored and zeros are used instead.", ignore_hx=True)
    )
    return ms


def _lstm_cell_extra() -> list[Mistake]:
    return [
        Mistake(
            "returns_c",
            "it returns (c, h): c where h is expected. torch.nn.LSTMCell returns (h, c).",
            swap_hc=True,
        )
    ]


def _layer_mistakes(kind: str, nonlinearity: str, batch_first: bool) -> list[Mistake]:
    if batch_first:
        layout = (
            "with batch_first=True the input is (N, T, input_size), but the layer reads it as time-major "
            "(T, N, input_size): transpose it before looping over time, and transpose the output back."
        )
    else:
        layout = (
            "with batch_first=False the input is time-major (T, N, input_size), but the layer reads it "
            "as batch-first (N, T, input_size)."
        )
    ms = [
        Mistake("layout:" + ("time_major" if batch_first else "batch_major"), layout, layout="wrong_layout")
    ]
    ms += [
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
    if kind == "lstm":
        ms += [
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
    return ms + _cell_mistakes(kind, nonlinearity)


# ---------------------------------------------------------------- running the student's code
@dataclass(frozen=True)
class _Setup:
    kind: str  # "rnn", "lstm" or "gru"
    layer: bool
    cls: Callable
    device: torch.device
    nonlinearity: str = "tanh"
    num_layers: int = 1
    batch_first: bool = False

    @property
    def ref(self) -> str:
        return f"torch.nn.{_TORCH[self.kind, self.layer].__name__}"

    @property
    def name(self) -> str:
        return getattr(self.cls, "__name__", type(self.cls).__name__)

    def ctor_kwargs(self) -> dict:
        kw: dict = {"input_size": INPUT_SIZE, "hidden_size": HIDDEN_SIZE}
        if self.nonlinearity != "tanh":
            kw["nonlinearity"] = self.nonlinearity
        if self.layer:
            kw |= {"num_layers": self.num_layers, "batch_first": self.batch_first}
        return kw

    def out_names(self) -> list[str]:
        names = ["output", "h_n", "c_n"] if self.layer else ["h", "c"]
        return names if self.kind == "lstm" else names[:2] if self.layer else names[:1]

    def form(self) -> str:
        if self.layer:
            return "(output, (h_n, c_n))" if self.kind == "lstm" else "(output, h_n)"
        return "(h, c)" if self.kind == "lstm" else "h"

    def shape_words(self, name: str) -> str:
        H, N = f"hidden_size={HIDDEN_SIZE}", f"N={LAYER_BATCH if self.layer else CELL_BATCH}"
        if not self.layer:
            return f"({N}, {H})"
        if name == "output":
            return f"({N}, T={SEQ_LEN}, {H})" if self.batch_first else f"(T={SEQ_LEN}, {N}, {H})"
        return f"(num_layers={self.num_layers}, {N}, {H})"

    def weights(self, twin: nn.Module) -> list[list]:
        sd = {k: v.detach() for k, v in twin.state_dict().items()}
        suffixes = [f"_l{k}" for k in range(self.num_layers)] if self.layer else [""]
        return [[sd[f"{p}{s}"] for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")] for s in suffixes]


def _where(err: BaseException) -> str:
    """The deepest line of the traceback outside torch and this file: most likely the student's."""
    torch_dir = os.path.dirname(torch.__file__)
    frames = [f for f in traceback.extract_tb(err.__traceback__) if not f.filename.startswith(torch_dir)]
    frames = [f for f in frames if os.path.abspath(f.filename) != os.path.abspath(__file__)]
    if not frames:
        return ""
    f = frames[-1]
    return f" at {os.path.basename(f.filename)}, line {f.lineno}: `{(f.line or '').strip()}`"


def _hint(err: BaseException) -> str:
    text = str(err)
    if "cannot be multiplied" in text or "size of tensor" in text or "shape" in text:
        return (
            "\nHint: a shape error usually means a weight used without .T (torch.nn stores weights as "
            "(out_features, in_features), so compute x @ weight.T) or an input read in the wrong layout."
        )
    if "dtype" in text or "scalar type" in text or "Double" in text:
        return (
            "\nHint: the check runs in float64; create new tensors like the input, e.g. x.new_zeros(...) or "
            "torch.zeros(..., dtype=x.dtype, device=x.device)."
        )
    if "device" in text:
        return "\nHint: create new tensors on the input's device: torch.zeros(..., device=x.device)."
    return ""


def _crashed(
    setup: _Setup, doing: str, err: BaseException, advice: str = "", key: str = "crash"
) -> CheckFailed:
    msg = (
        f"{setup.name} crashed while checking it against {setup.ref}.\nChecking: {doing}\n"
        f"It raised {type(err).__name__}: {err}{_where(err)}{_hint(err)}{advice}"
    )
    failure = CheckFailed(msg, key)
    failure.__cause__ = None  # the student's traceback stays out of the way; the message has its line
    return failure


def _shape(t: Tensor) -> str:
    return str(tuple(t.shape))


def _describe(obj) -> str:
    if isinstance(obj, Tensor):
        return f"a tensor of shape {_shape(obj)}"
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of {len(obj)}: ({', '.join(_describe(o) for o in obj)})"
    return f"a {type(obj).__name__}"


def _flatten(obj, spec) -> list[Tensor] | None:
    """Tensors of ``obj`` in order if it has the nesting ``spec`` (None = a tensor), else None."""
    if spec is None:
        return [obj] if isinstance(obj, Tensor) else None
    if not isinstance(obj, (tuple, list)) or len(obj) != len(spec):
        return None
    parts = [_flatten(o, s) for o, s in zip(obj, spec, strict=True)]
    return None if any(p is None for p in parts) else [t for p in parts for t in p]


def _spec(setup: _Setup):
    inner = (None, None) if setup.kind == "lstm" else None
    return (None, inner) if setup.layer else inner


def _describe_call(setup: _Setup, x: Tensor, hx) -> str:
    what, xs = "cell", f"x {_shape(x)}"
    if setup.layer:
        layout = "(N, T, input_size)" if setup.batch_first else "(T, N, input_size)"
        what, xs = "layer", f"x {_shape(x)} = {layout} as batch_first={setup.batch_first}"
    if hx is None:
        return f"{what}(x) with {xs}, float64, no state (torch.nn starts from zeros)"
    if setup.kind == "lstm":
        return f"{what}(x, (h0, c0)) with {xs}, h0 {_shape(hx[0])}, c0 {_shape(hx[1])}, float64"
    return f"{what}(x, h0) with {xs}, h0 {_shape(hx)}, float64"


def _call(setup: _Setup, module: nn.Module, x: Tensor, hx) -> list[Tensor]:
    doing = _describe_call(setup, x, hx)
    x = x.clone()  # a forward that edits its input in place must not change what the reference sees
    if hx is not None:
        hx = tuple(s.clone() for s in hx) if setup.kind == "lstm" else hx.clone()
    try:
        out = module(x) if hx is None else module(x, hx)
    except Exception as err:
        advice = ""
        if hx is None and isinstance(err, TypeError):
            advice = (
                f"\n{setup.ref} accepts a missing state and starts from zeros: give it a default of None."
            )
        raise _crashed(setup, doing, err, advice) from None
    flat = _flatten(out, _spec(setup))
    if flat is None:
        raise CheckFailed(
            f"{doing} should return {setup.form()} like {setup.ref}, got {_describe(out)}.",
            "return_structure",
        )
    return flat


# ---------------------------------------------------------------- the checks
def _instantiate(setup: _Setup) -> nn.Module:
    kw = setup.ctor_kwargs()
    ctor = f"{setup.name}({', '.join(f'{k}={v!r}' for k, v in kw.items())})"
    try:
        student = setup.cls(**kw)
    except Exception as err:
        advice = f"\nYour class must accept the constructor arguments of {setup.ref}, by the same names."
        raise _crashed(setup, ctor, err, advice, key="constructor") from None
    if not isinstance(student, nn.Module):
        raise CheckFailed(
            f"{ctor} returned {_describe(student)}, not a torch.nn.Module: subclass nn.Module.",
            "not_a_module",
        )
    return student.to(device=setup.device, dtype=torch.float64)


def _shape_meaning(setup: _Setup, key: str) -> str:
    gates = len(_GATES[setup.kind])
    rows = f"{gates}*hidden_size" if gates > 1 else "hidden_size"
    if key.startswith("bias"):
        return f"({rows},)"
    return f"({rows}, {'input_size' if key in ('weight_ih', 'weight_ih_l0') else 'hidden_size'})"


def _zero_state(setup: _Setup, x: Tensor):
    """torch.nn's default state for input ``x``: zeros (N, H), or (num_layers, N, H) for a layer."""
    if setup.layer:
        z = x.new_zeros(setup.num_layers, x.shape[0 if setup.batch_first else 1], HIDDEN_SIZE)
    else:
        z = x.new_zeros(x.shape[0], HIDDEN_SIZE)
    return (z, z.clone()) if setup.kind == "lstm" else z


def _load(setup: _Setup, student: nn.Module, twin: nn.Module) -> None:
    want = {k: tuple(v.shape) for k, v in twin.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in student.state_dict().items()}
    listing = ", ".join(f"{k} {s}" for k, s in want.items())
    if set(want) != set(have):
        found = ", ".join(f"{k} {s}" for k, s in have.items()) or "none (assign weights as nn.Parameter)"
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        raise CheckFailed(
            f"{setup.name} must name its parameters like {setup.ref} so that load_state_dict works.\n"
            f"Expected: {listing}.\nFound: {found}.\nMissing: {', '.join(missing) or '-'}; "
            f"unexpected: {', '.join(extra) or '-'}.",
            "parameter_names",
        )
    for k, shape in want.items():
        if have[k] != shape:
            transposed = have[k] == shape[::-1]
            likely = "stored transposed; " if transposed else ""
            raise CheckFailed(
                f"{setup.name}.{k} has shape {have[k]}, but {setup.ref} stores it as {shape} = "
                f"{_shape_meaning(setup, k)}.\nLikely mistake: {likely}torch.nn keeps weights as "
                "(out_features, in_features) and computes x @ weight.T.",
                "transposed_storage" if transposed else "parameter_shape",
            )
    try:
        student.load_state_dict(twin.state_dict())
    except Exception as err:
        raise _crashed(setup, f"{setup.name}.load_state_dict({setup.ref}'s state_dict)", err) from None


def _reference(setup: _Setup, m: Mistake, x: Tensor, hx, ws: list[list]) -> list[Tensor]:
    if setup.layer:
        return _layer_outputs(setup.kind, m, x, hx, ws, setup.batch_first, setup.nonlinearity)
    return _cell_outputs(
        setup.kind, m, x, _zero_state(setup, x) if hx is None else hx, ws[0], setup.nonlinearity
    )


def _same(a: list[Tensor], b: list[Tensor]) -> bool:
    return len(a) == len(b) and all(
        u.shape == v.shape and torch.allclose(u, v, rtol=RTOL, atol=ATOL) for u, v in zip(a, b, strict=True)
    )


def _diagnose(setup, got, x, hx, ws, mistakes, bad: int) -> tuple[Mistake | None, bool]:
    """The first mistake that reproduces every output; failing that, one that reproduces output ``bad``."""
    partial = None
    with torch.no_grad():
        for m in mistakes:
            try:
                ref = _reference(setup, m, x, hx, ws)
            except RuntimeError:  # this mistake cannot even run with these shapes
                continue
            if _same(got, ref):
                return m, False
            if partial is None and len(ref) > bad and _same(got[bad : bad + 1], ref[bad : bad + 1]):
                partial = m
    return partial, partial is not None


def _compare_outputs(setup, student, twin, x, hx, mistakes) -> float:
    got = [t.detach() for t in _call(setup, student, x, hx)]
    with torch.no_grad():
        want = _flatten(twin(x) if hx is None else twin(x, hx), _spec(setup))
    worst = 0.0
    for i, (name, a, b) in enumerate(zip(setup.out_names(), got, want, strict=True)):
        if a.shape == b.shape and (a.dtype != b.dtype or a.device != b.device):
            raise _failed(
                setup,
                _describe_call(setup, x, hx),
                f"{name} is {a.dtype} on {a.device}, but the inputs and weights are {b.dtype} on {b.device}.",
                "a new tensor with a fixed dtype or device: create it like the input instead "
                "(x.new_zeros(...), or dtype=x.dtype, device=x.device).",
                "dtype_or_device",
            )
        if a.shape != b.shape:
            problem = f"{name} has shape {_shape(a)}; expected {setup.shape_words(name)}."
        elif not torch.allclose(a, b, rtol=RTOL, atol=ATOL):
            problem = f"{name} differs from {setup.ref}'s by up to {(a - b).abs().max().item():.3g}."
        else:
            worst = max(worst, (a - b).abs().max().item())
            continue
        m, partial = _diagnose(setup, got, x, hx, setup.weights(twin), mistakes, i)
        if m is None and hx is None:  # perhaps only the default state is wrong
            if _same([t.detach() for t in _call(setup, student, x, _zero_state(setup, x))], want):
                m = Mistake(
                    "default_state",
                    f"without a state the code does not start from zeros, as {setup.ref} does.",
                )
        raise _mismatch(setup, _describe_call(setup, x, hx), problem, m, partial, name)
    return worst


def _failed(setup: _Setup, doing: str, problem: str, likely: str, key: str | None) -> CheckFailed:
    return CheckFailed(
        f"{setup.name} does not match {setup.ref}.\nChecking: {doing}\nWhat is wrong: {problem}\n"
        f"Likely mistake: {likely}",
        key,
    )


def _mismatch(setup, doing: str, problem: str, m: Mistake | None, partial: bool, name: str) -> CheckFailed:
    if m is None:
        likely = (
            "none of the common mistakes (gate order, transposed weight, missing or doubled bias, "
            "sigmoid/tanh swapped, ignored state, wrong layout) reproduces these numbers; compare forward "
            "with the equations line by line."
        )
    else:
        likely = f"{m.words}" + (f" (this explains {name}; there may be a second mistake)" if partial else "")
    return _failed(setup, doing, problem, likely, None if m is None else m.key)


def _grads(setup: _Setup, module: nn.Module, x: Tensor, hx, weights: list[Tensor], student: bool) -> dict:
    """Gradients of sum(output * weight) with respect to x, the state and every parameter."""
    xs = x.clone().requires_grad_()
    states = [s.clone().requires_grad_() for s in (hx if setup.kind == "lstm" else (hx,))]
    h = tuple(states) if setup.kind == "lstm" else states[0]
    module.zero_grad(set_to_none=True)
    out = _call(setup, module, xs, h) if student else _flatten(module(xs, h), _spec(setup))
    loss = sum((o * w).sum() for o, w in zip(out, weights, strict=True))
    if not loss.requires_grad:
        raise CheckFailed(
            f"{setup.name}'s outputs are cut off from autograd: forward must not use .detach(), "
            ".item(), .numpy(), torch.tensor(...) of a tensor, or torch.no_grad().",
            "no_graph",
        )
    try:
        loss.backward()
    except Exception as err:
        raise _crashed(
            setup,
            "backward through the outputs of " + _describe_call(setup, x, hx),
            err,
            "\nAn error in backward usually comes from an in-place edit (+=, x[...] = ...) of a "
            "tensor autograd still needs.",
        ) from None
    grads = dict(zip(["x", "h0", "c0"], [xs.grad, *[s.grad for s in states]], strict=False))
    return grads | {k: p.grad for k, p in module.named_parameters()}


def _compare_grads(setup: _Setup, student: nn.Module, twin: nn.Module, x: Tensor, hx, g) -> float:
    with torch.no_grad():
        shapes = [o.shape for o in _flatten(twin(x, hx), _spec(setup))]
    weights = [torch.randn(s, generator=g, dtype=torch.float64).to(x.device) for s in shapes]
    want = _grads(setup, twin, x, hx, weights, student=False)
    got = _grads(setup, student, x, hx, weights, student=True)
    doing = "gradients of sum(outputs * fixed random weights), " + _describe_call(setup, x, hx)
    worst = 0.0
    for name, b in want.items():
        a = got.get(name)
        if name not in got:
            problem = (
                f"{name} is not an nn.Parameter of {setup.name}, so it gets no gradient and is not trained."
            )
            raise _failed(
                setup, doing, problem, "a buffer or plain tensor: wrap it in nn.Parameter.", "not_a_parameter"
            )
        if a is None:
            problem = f"{name} gets no gradient from the outputs."
            likely = "it is not used in forward, or only through .data or .detach()."
            raise _failed(setup, doing, problem, likely, "no_gradient")
        if not torch.allclose(a, b, rtol=RTOL, atol=ATOL):
            problem = (
                f"the outputs match, but the gradient for {name} differs by up to {(a - b).abs().max():.3g}."
            )
            likely = (
                "something in forward bypasses autograd: .data, .detach() (for example of the state "
                "between time steps) or an in-place edit."
            )
            raise _failed(setup, doing, problem, likely, "gradient")
        worst = max(worst, (a - b).abs().max().item())
    return worst


@contextlib.contextmanager
def _one_thread():
    """Tiny tensors: extra CPU threads only cost synchronisation, badly so on a busy machine (10x)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run(setup: _Setup, seed: int, mistakes: list[Mistake]) -> CheckReport:
    # fork_rng: building the student's class and the twin must not move the notebook's random stream.
    with torch.random.fork_rng(devices=[]), torch.enable_grad(), _one_thread():
        g = torch.Generator().manual_seed(seed)
        twin = _TORCH[setup.kind, setup.layer](**setup.ctor_kwargs())
        with torch.no_grad():
            for p in twin.parameters():  # wider than torch's init, so every mistake changes the numbers
                p.copy_(torch.rand(p.shape, generator=g) * 1.6 - 0.8)
        twin = twin.to(device=setup.device, dtype=torch.float64)
        student = _instantiate(setup)
        _load(setup, student, twin)
        if setup.layer:
            shape = (LAYER_BATCH, SEQ_LEN) if setup.batch_first else (SEQ_LEN, LAYER_BATCH)
            x = torch.randn(*shape, INPUT_SIZE, generator=g, dtype=torch.float64)  # (N, T, I) or (T, N, I)
        else:
            x = torch.randn(CELL_BATCH, INPUT_SIZE, generator=g, dtype=torch.float64)  # (N, I)
        x = x.to(setup.device)
        zero = _zero_state(setup, x)
        hx = tuple(
            torch.randn(z.shape, generator=g, dtype=z.dtype).to(x.device)
            for z in (zero if setup.kind == "lstm" else (zero,))
        )
        hx = hx if setup.kind == "lstm" else hx[0]
        cases = [(hx, "outputs with a given state"), (None, "outputs from the default zero state")]
        report = CheckReport(setup.name, setup.ref, ["parameter names and shapes"])
        # A layer that reads the wrong layout often crashes on a given state; without one it runs and
        # its output can be diagnosed, so layers try the zero state first.
        for state, label in cases[::-1] if setup.layer else cases:
            report.max_error = max(
                report.max_error, _compare_outputs(setup, student, twin, x, state, mistakes)
            )
            report.checks.append(label)
        report.max_error = max(report.max_error, _compare_grads(setup, student, twin, x, hx, g))
        report.checks.append("gradients of input, state and parameters")
    return report


def _setup(cls, kind: str, layer: bool, device, nonlinearity: str = "tanh", **kw) -> _Setup:
    fn = f"check_{kind}_{'layer' if layer else 'cell'}"
    if isinstance(cls, nn.Module):
        raise TypeError(f"{fn} expects the class itself, e.g. {fn}(MyClass), not an instance of it")
    if not callable(cls):
        raise TypeError(f"{fn} expects a class (or a factory taking torch.nn's arguments), got {cls!r}")
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', as in torch.nn, got {nonlinearity!r}")
    device = torch.device(device)
    if device.type == "mps" or (device.type == "cuda" and not torch.cuda.is_available()):
        raise ValueError(f"the checks run in float64 on 'cpu' or an available CUDA device, got {device}")
    return _Setup(kind, layer, cls, device, nonlinearity, **kw)


def _check_cell(kind: str, cls, nonlinearity: str, device, seed: int) -> CheckReport:
    setup = _setup(cls, kind, False, device, nonlinearity)
    extra = _lstm_cell_extra() if kind == "lstm" else []
    return _run(setup, seed, _cell_mistakes(kind, nonlinearity) + extra)


def _check_layer(
    kind: str, cls, nonlinearity: str, num_layers: int, batch_first, device, seed
) -> CheckReport:
    if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
        raise ValueError(f"num_layers must be an int >= 1, got {num_layers!r}")
    if batch_first not in (None, True, False):
        raise ValueError(f"batch_first must be True, False or None (both), got {batch_first!r}")
    layouts = (True, False) if batch_first is None else (batch_first,)
    reports = []
    for bf in layouts:
        setup = _setup(cls, kind, True, device, nonlinearity, num_layers=num_layers, batch_first=bf)
        reports.append(_run(setup, seed, _layer_mistakes(kind, nonlinearity, bf)))
    first = reports[0]
    first.checks.append(f"num_layers={num_layers}, batch_first={' and '.join(map(str, layouts))}")
    first.max_error = max(r.max_error for r in reports)
    return first


def check_rnn_cell(
    cls, nonlinearity: str = "tanh", *, device: str | torch.device = "cpu", seed: int = 0
) -> CheckReport:
    """Check ``cls`` against ``torch.nn.RNNCell``: h' = nonlinearity(x W_ih^T + b_ih + h W_hh^T + b_hh).

    ``cls(input_size, hidden_size[, nonlinearity=...])``; forward(x (N, I), h (N, H) or None) -> (N, H).
    Used by the labs of chapters 1 and 2.
    """
    return _check_cell("rnn", cls, nonlinearity, device, seed)


def check_lstm_cell(cls, *, device: str | torch.device = "cpu", seed: int = 0) -> CheckReport:
    """Check ``cls`` against ``torch.nn.LSTMCell`` (gates i, f, g, o).

    forward(x (N, I), (h, c) each (N, H) or None) -> (h, c). Used by the labs of chapter 3.
    """
    return _check_cell("lstm", cls, "tanh", device, seed)


def check_gru_cell(cls, *, device: str | torch.device = "cpu", seed: int = 0) -> CheckReport:
    """Check ``cls`` against ``torch.nn.GRUCell`` (gates r, z, n; reset applied after the hidden matmul).

    forward(x (N, I), h (N, H) or None) -> h (N, H). Used by the labs of chapter 3.
    """
    return _check_cell("gru", cls, "tanh", device, seed)


def check_rnn_layer(
    cls,
    nonlinearity: str = "tanh",
    *,
    num_layers: int = 2,
    batch_first: bool | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> CheckReport:
    """Check a multi-layer ``cls`` against ``torch.nn.RNN``, for both ``batch_first`` unless one is given.

    forward(x (N, T, I) or (T, N, I), h0 (num_layers, N, H) or None) -> (output, h_n).
    Used by the labs of chapters 1 and 2.
    """
    return _check_layer("rnn", cls, nonlinearity, num_layers, batch_first, device, seed)


def check_lstm_layer(
    cls,
    *,
    num_layers: int = 2,
    batch_first: bool | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> CheckReport:
    """Check ``cls`` against ``torch.nn.LSTM``: forward(x, (h0, c0) or None) -> (output, (h_n, c_n)).

    States are (num_layers, N, H) whatever ``batch_first`` is. Used by the labs of chapter 3.
    """
    return _check_layer("lstm", cls, "tanh", num_layers, batch_first, device, seed)


def check_gru_layer(
    cls,
    *,
    num_layers: int = 2,
    batch_first: bool | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> CheckReport:
    """Check ``cls`` against ``torch.nn.GRU``: forward(x, h0 or None) -> (output, h_n).

    States are (num_layers, N, H) whatever ``batch_first`` is. Used by the labs of chapter 3.
    """
    return _check_layer("gru", cls, "tanh", num_layers, batch_first, device, seed)
