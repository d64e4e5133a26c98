"""``record``: what a lab's hidden test calls, and how its values travel to the grader.

A hidden test in a lab master computes something with the student's code and hands it over::

    from course_lib.grading import record
    record("states on a 4-step sequence", rnn_forward(xs, p)[1], numpy_rnn.forward(xs, p).s)

Run in the master (by nbval, or by a reader), ``record(label, got, expected)`` compares ``got``
with ``expected`` and raises ``AssertionError`` when they differ: the master proves its own
solution on the hidden inputs. Run by the grader, inside the sandbox, the call only stores ``got``
as plain data (``encode``); the grader's parent process compares it, with numpy of its own, to the
``got`` of the reference solution recorded the same way. Nothing computed in the student's process
(``expected`` included, which the student could have tampered with) decides a grade.

Used by the hidden tests of every lab in ``labs/``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["record", "encode", "decode", "same"]

RTOL, ATOL = 1e-6, 1e-9  # float64 labs: only summation order may differ from the reference
_SINK: list[Callable[[str, Any, Any], None]] = []  # set by the sandbox's child process; empty elsewhere


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-able plain data: arrays and tensors become ``{"array": ..., "shape", "dtype"}``."""
    if depth > 20:
        raise ValueError("record: value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
        return value.item() if isinstance(value, np.generic) else value
    if type(value).__module__.startswith("torch"):
        value = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    if isinstance(value, np.ndarray):
        arr = np.asarray(value)
        kind = "bool" if arr.dtype == bool else "int" if arr.dtype.kind in "iu" else "float"
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"record: arrays of dtype {arr.dtype} are not supported")
        return {"array": arr.astype(float if kind == "float" else arr.dtype).ravel().tolist(),
                "shape": list(arr.shape), "kind": kind}  # fmt: skip
    if isinstance(value, (list, tuple)):
        return {"seq": [encode(v, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"map": {str(k): encode(v, depth + 1) for k, v in value.items()}}
    return {"repr": type(value).__name__}  # an object the grader cannot compare: never equal


def decode(data: Any) -> Any:
    """The inverse of ``encode`` (arrays come back as numpy arrays). Run by the grader's parent."""
    if isinstance(data, dict):
        if "array" in data:
            dtype = {"bool": bool, "int": np.int64, "float": np.float64}[data["kind"]]
            return np.asarray(data["array"], dtype=dtype).reshape([int(s) for s in data["shape"]])
        if "seq" in data:
            return tuple(decode(v) for v in data["seq"])
        if "map" in data:
            return {k: decode(v) for k, v in data["map"].items()}
        return ("<unrecordable>", data.get("repr"))
    return data


def same(got: Any, want: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Whether two decoded values agree: same structure, same shapes, numbers within tolerance."""
    if isinstance(want, np.ndarray):
        if not isinstance(got, np.ndarray) or got.shape != want.shape:
            return False
        if want.dtype.kind == "f":
            return bool(np.allclose(got.astype(np.float64), want, rtol=rtol, atol=atol, equal_nan=True))
        return bool(np.array_equal(got, want))
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    if isinstance(want, float) or (isinstance(want, int) and isinstance(got, float)):
        return isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=rtol, abs_tol=atol)
    if isinstance(want, (tuple, list)):
        return (
            isinstance(got, (tuple, list))
            and len(got) == len(want)
            and all(same(g, w, rtol, atol) for g, w in zip(got, want, strict=True))
        )
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(same(got[k], want[k], rtol, atol) for k in want)
        )
    return type(got) is type(want) and got == want


def record(label: str, got: Any, expected: Any = None, *, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Hand ``got`` to the grader; outside the grader, assert that it equals ``expected``.

    ``label`` says what was computed, for the message a student reads. ``expected`` is optional: a
    hidden test without it only records (the grader compares with the reference solution anyway).
    """
    if not isinstance(label, str) or not label:
        raise TypeError(f"record: label must be a non-empty str, got {label!r}")
    if _SINK:
        _SINK[0](label, got, expected)
        return
    data = encode(got)  # a value the grader could not carry is a bug in the lab: fail here, not there
    if expected is not None and not same(decode(data), decode(encode(expected)), rtol, atol):
        raise AssertionError(f"hidden test {label!r}: the value differs from the expected one")
