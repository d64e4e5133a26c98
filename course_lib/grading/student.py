"""Building, loading and calling the student's class, with a clear ``CheckFailed`` when any of it fails.

A crash is reported with the call being checked, the student's line that raised and a hint for the
usual causes (a weight without ``.T``, a float32 or CPU tensor made by hand). Internal to
``course_lib.grading``.
"""

from __future__ import annotations

import os
import traceback

import torch
from torch import Tensor, nn

from course_lib.grading.case import GATES, Setup, flatten, output_spec
from course_lib.grading.report import CheckFailed


def _where(err: BaseException) -> str:
    """The deepest line of the traceback outside torch and this package: most likely the student's."""
    torch_dir = os.path.dirname(torch.__file__)
    own_dir = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frames = [f for f in traceback.extract_tb(err.__traceback__) if not f.filename.startswith(torch_dir)]
    frames = [f for f in frames if not os.path.abspath(f.filename).startswith(own_dir)]
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


def crashed(
    setup: Setup, doing: str, err: BaseException, advice: str = "", key: str = "crash"
) -> CheckFailed:
    """The failure for student code that raised ``err`` while the check was ``doing`` something."""
    msg = (
        f"{setup.name} crashed while checking it against {setup.ref}.\nChecking: {doing}\n"
        f"It raised {type(err).__name__}: {err}{_where(err)}{_hint(err)}{advice}"
    )
    failure = CheckFailed(msg, key)
    failure.__cause__ = None  # the student's traceback stays out of the way; the message has its line
    return failure


def shape_str(t: Tensor) -> str:
    return str(tuple(t.shape))


def _describe(obj) -> str:
    if isinstance(obj, Tensor):
        return f"a tensor of shape {shape_str(obj)}"
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of {len(obj)}: ({', '.join(_describe(o) for o in obj)})"
    return f"a {type(obj).__name__}"


def describe_call(setup: Setup, x: Tensor, hx) -> str:
    """The call being checked, in words, e.g. ``cell(x, h0) with x (2, 3), h0 (2, 5), float64``."""
    what, xs = "cell", f"x {shape_str(x)}"
    if setup.layer:
        layout = "(N, T, input_size)" if setup.batch_first else "(T, N, input_size)"
        what, xs = "layer", f"x {shape_str(x)} = {layout} as batch_first={setup.batch_first}"
    if hx is None:
        return f"{what}(x) with {xs}, float64, no state (torch.nn starts from zeros)"
    if setup.kind == "lstm":
        return f"{what}(x, (h0, c0)) with {xs}, h0 {shape_str(hx[0])}, c0 {shape_str(hx[1])}, float64"
    return f"{what}(x, h0) with {xs}, h0 {shape_str(hx)}, float64"


def call(setup: Setup, module: nn.Module, x: Tensor, hx) -> list[Tensor]:
    """The student's ``module(x[, hx])``, flattened like the twin's outputs (see ``case.flatten``)."""
    doing = describe_call(setup, x, hx)
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
        raise crashed(setup, doing, err, advice) from None
    flat = flatten(out, output_spec(setup))
    if flat is None:
        raise CheckFailed(
            f"{doing} should return {setup.form()} like {setup.ref}, got {_describe(out)}.",
            "return_structure",
        )
    return flat


def instantiate(setup: Setup) -> nn.Module:
    """The student's class built with the twin's constructor arguments, in float64 on the device."""
    kw = setup.ctor_kwargs()
    ctor = f"{setup.name}({', '.join(f'{k}={v!r}' for k, v in kw.items())})"
    try:
        student = setup.cls(**kw)
    except Exception as err:
        advice = f"\nYour class must accept the constructor arguments of {setup.ref}, by the same names."
        raise crashed(setup, ctor, err, advice, key="constructor") from None
    if not isinstance(student, nn.Module):
        raise CheckFailed(
            f"{ctor} returned {_describe(student)}, not a torch.nn.Module: subclass nn.Module.",
            "not_a_module",
        )
    return student.to(device=setup.device, dtype=torch.float64)


def _shape_meaning(setup: Setup, key: str) -> str:
    gates = len(GATES[setup.kind])
    rows = f"{gates}*hidden_size" if gates > 1 else "hidden_size"
    if key.startswith("bias"):
        return f"({rows},)"
    return f"({rows}, {'input_size' if key in ('weight_ih', 'weight_ih_l0') else 'hidden_size'})"


def load(setup: Setup, student: nn.Module, twin: nn.Module) -> None:
    """Load the twin's weights into the student's module, after checking its parameter names and shapes."""
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
        raise crashed(setup, f"{setup.name}.load_state_dict({setup.ref}'s state_dict)", err) from None
