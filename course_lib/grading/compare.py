"""Comparing the student's outputs and gradients with the torch.nn twin's, in float64.

A difference in the outputs is reported with the diagnosed mistake (``mistakes.diagnose``); a
difference in the gradients alone means something in forward bypasses autograd. Internal to
``course_lib.grading``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_lib.grading.case import ATOL, RTOL, Setup, flatten, output_spec, same, zero_state
from course_lib.grading.mistakes import diagnose
from course_lib.grading.reference import Mistake
from course_lib.grading.report import CheckFailed
from course_lib.grading.student import call, crashed, describe_call, shape_str


def compare_outputs(
    setup: Setup, student: nn.Module, twin: nn.Module, x: Tensor, hx, mistakes: list[Mistake]
) -> float:
    """The largest difference of the outputs for input ``x`` and state ``hx`` (None: zeros), if all match."""
    got = [t.detach() for t in call(setup, student, x, hx)]
    with torch.no_grad():
        want = flatten(twin(x) if hx is None else twin(x, hx), output_spec(setup))
    worst = 0.0
    for i, (name, a, b) in enumerate(zip(setup.out_names(), got, want, strict=True)):
        if a.shape == b.shape and (a.dtype != b.dtype or a.device != b.device):
            raise _failed(
                setup,
                describe_call(setup, x, hx),
                f"{name} is {a.dtype} on {a.device}, but the inputs and weights are {b.dtype} on {b.device}.",
                "a new tensor with a fixed dtype or device: create it like the input instead "
                "(x.new_zeros(...), or dtype=x.dtype, device=x.device).",
                "dtype_or_device",
            )
        if a.shape != b.shape:
            problem = f"{name} has shape {shape_str(a)}; expected {setup.shape_words(name)}."
        elif not torch.allclose(a, b, rtol=RTOL, atol=ATOL):
            problem = f"{name} differs from {setup.ref}'s by up to {(a - b).abs().max().item():.3g}."
        else:
            worst = max(worst, (a - b).abs().max().item())
            continue
        m, partial = diagnose(setup, got, x, hx, setup.weights(twin), mistakes, i)
        if m is None and hx is None:  # perhaps only the default state is wrong
            if same([t.detach() for t in call(setup, student, x, zero_state(setup, x))], want):
                m = Mistake(
                    "default_state",
                    f"without a state the code does not start from zeros, as {setup.ref} does.",
                )
        raise _mismatch(setup, describe_call(setup, x, hx), problem, m, partial, name)
    return worst


def _failed(setup: Setup, doing: str, problem: str, likely: str, key: str | None) -> CheckFailed:
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


def _grads(setup: Setup, module: nn.Module, x: Tensor, hx, weights: list[Tensor], student: bool) -> dict:
    """Gradients of sum(output * weight) with respect to x, the state and every parameter."""
    xs = x.clone().requires_grad_()
    states = [s.clone().requires_grad_() for s in (hx if setup.kind == "lstm" else (hx,))]
    h = tuple(states) if setup.kind == "lstm" else states[0]
    module.zero_grad(set_to_none=True)
    out = call(setup, module, xs, h) if student else flatten(module(xs, h), output_spec(setup))
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
        raise crashed(
            setup,
            "backward through the outputs of " + describe_call(setup, x, hx),
            err,
            "\nAn error in backward usually comes from an in-place edit (+=, x[...] = ...) of a "
            "tensor autograd still needs.",
        ) from None
    grads = dict(zip(["x", "h0", "c0"], [xs.grad, *[s.grad for s in states]], strict=False))
    return grads | {k: p.grad for k, p in module.named_parameters()}


def compare_grads(setup: Setup, student: nn.Module, twin: nn.Module, x: Tensor, hx, g) -> float:
    """The largest gradient difference for input ``x`` and state ``hx``, if every gradient matches.

    The loss weighs each output with fixed random weights drawn from generator ``g``.
    """
    with torch.no_grad():
        shapes = [o.shape for o in flatten(twin(x, hx), output_spec(setup))]
    weights = [torch.randn(s, generator=g, dtype=torch.float64).to(x.device) for s in shapes]
    want = _grads(setup, twin, x, hx, weights, student=False)
    got = _grads(setup, student, x, hx, weights, student=True)
    doing = "gradients of sum(outputs * fixed random weights), " + describe_call(setup, x, hx)
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
