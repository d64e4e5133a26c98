"""The from-scratch layers equal torch.nn.RNN / LSTM / GRU, and the comparison catches wrong ones.

For random sizes: outputs, final states, gradients wrt the input and the initial state, and every
parameter's gradient by name (float64 atol 1e-10), for both batch_first settings, several layers,
bidirectional, with and without an initial state, and packed variable-length input.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from course_lib import models

F64 = torch.float64
KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
TWINS = {  # kind -> (our class, torch's class, constructor keywords)
    "rnn_tanh": (models.RNN, nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (models.RNN, nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (models.LSTM, nn.LSTM, {}),
    "gru": (models.GRU, nn.GRU, {}),
}


def make_pair(kind: str, *args, dtype=F64, **kwargs):
    """Our layer and its torch twin, with the twin's weights loaded into ours."""
    ours_cls, twin_cls, extra = TWINS[kind]
    theirs = twin_cls(*args, dtype=dtype, **extra, **kwargs)
    ours = ours_cls(*args, dtype=dtype, **extra, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def random_hx(kind: str, shape: tuple[int, ...], g: torch.Generator, dtype=F64):
    parts = tuple(torch.randn(shape, generator=g, dtype=dtype) for _ in range(2 if kind == "lstm" else 1))
    return parts if kind == "lstm" else parts[0]


def forward_backward(
    layer: nn.Module, x: Tensor, hx=None, lengths: Tensor | None = None, enforce_sorted=True
):  # noqa: E501
    """Run the layer (packing x first when lengths are given), backpropagate a fixed random
    projection of every output, and collect outputs and gradients by name."""
    x = x.detach().clone().requires_grad_()
    parts = () if hx is None else hx if isinstance(hx, tuple) else (hx,)
    leaves = [h.detach().clone().requires_grad_() for h in parts]
    hx_in = None if hx is None else (tuple(leaves) if isinstance(hx, tuple) else leaves[0])
    inp = x
    if lengths is not None:
        inp = pack_padded_sequence(x, lengths, batch_first=layer.batch_first, enforce_sorted=enforce_sorted)
    layer.zero_grad(set_to_none=True)
    out, h_n = layer(inp, hx_in)
    res = {}
    if isinstance(out, PackedSequence):
        res["batch_sizes"], res["sorted_indices"] = out.batch_sizes, out.sorted_indices
        out = out.data
    outs = [out, *(h_n if isinstance(h_n, tuple) else (h_n,))]
    g = torch.Generator().manual_seed(99)
    sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype).to(o.device)).sum() for o in outs).backward()
    res.update({f"output {i}": o.detach() for i, o in enumerate(outs)})
    res["grad input"] = x.grad
    res.update({f"grad hx {i}": leaf.grad for i, leaf in enumerate(leaves)})
    res.update({f"grad {name}": p.grad for name, p in layer.named_parameters()})
    return res


def max_errors(a: dict, b: dict) -> dict[str, float]:
    assert a.keys() == b.keys()
    errors = {}
    for k in a:
        if a[k] is None or b[k] is None:  # e.g. no sorted_indices when enforce_sorted
            assert a[k] is None and b[k] is None, k
            continue
        assert a[k].shape == b[k].shape, (k, a[k].shape, b[k].shape)
        errors[k] = (a[k].double() - b[k].double()).abs().max().item()
    return errors


def random_sizes(seed: int) -> tuple[torch.Generator, int, int, int, int]:
    g = torch.Generator().manual_seed(seed)
    t, n, i, h = (int(v) for v in torch.randint(1, 6, (4,), generator=g) + 1)  # each in 2..6
    return g, t, n, i, h


CONFIGS = [  # (num_layers, batch_first, bidirectional, with hx, bias)
    (1, False, False, False, True),
    (2, True, True, True, True),
    (3, False, True, True, False),
    (2, True, False, False, True),
]


@pytest.mark.parametrize("config", range(len(CONFIGS)))
@pytest.mark.parametrize("kind", KINDS)
def test_layer_matches_torch_float64(kind: str, config: int) -> None:
    num_layers, batch_first, bidirectional, with_hx, bias = CONFIGS[config]
    g, t, n, i, h = random_sizes(10 * config + KINDS.index(kind))
    torch.manual_seed(config)
    kwargs = {"bias": bias, "batch_first": batch_first, "bidirectional": bidirectional}
    ours, theirs = make_pair(kind, i, h, num_layers, **kwargs)
    x = torch.randn((n, t, i) if batch_first else (t, n, i), generator=g, dtype=F64)
    hx = random_hx(kind, (num_layers * (2 if bidirectional else 1), n, h), g) if with_hx else None
    errors = max_errors(forward_backward(ours, x, hx), forward_backward(theirs, x, hx))
    assert max(errors.values()) < 1e-10, errors


@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_packed_sequences_match_torch(kind: str, enforce_sorted: bool) -> None:
    g, t, n, i, h = random_sizes(50 + KINDS.index(kind))
    n = 4
    lengths = torch.tensor([t, t, 2, 1]) if enforce_sorted else torch.tensor([2, t, 1, t - 1])
    for batch_first in (False, True):
        torch.manual_seed(5)
        ours, theirs = make_pair(kind, i, h, 2, batch_first=batch_first, bidirectional=True)
        x = torch.randn((n, t, i) if batch_first else (t, n, i), generator=g, dtype=F64)
        for hx in (None, random_hx(kind, (4, n, h), g)):
            a = forward_backward(ours, x, hx, lengths, enforce_sorted)
            b = forward_backward(theirs, x, hx, lengths, enforce_sorted)
            errors = max_errors(a, b)
            assert max(errors.values()) < 1e-10, errors


@pytest.mark.parametrize("kind", KINDS)
def test_padding_never_leaks_into_final_states(kind: str) -> None:
    """Each sequence's final states (both directions) equal those of running it alone, unpadded."""
    torch.manual_seed(8)
    ours = TWINS[kind][0](3, 4, 2, bidirectional=True, dtype=F64, **TWINS[kind][2])
    lengths = torch.tensor([2, 5, 1])
    x = torch.randn(5, 3, 3, dtype=F64)
    x_garbage = x.clone()
    for n, length in enumerate(lengths):
        x_garbage[length:, n] = 1e3  # huge padding would show up anywhere it leaked
    _, h_n = ours(pack_padded_sequence(x_garbage, lengths, enforce_sorted=False))
    for n, length in enumerate(lengths):
        _, alone = ours(x[:length, n])  # unbatched: (L, H_in)
        pairs = zip(*((s if isinstance(s, tuple) else (s,)) for s in (h_n, alone)), strict=True)
        assert all((a[:, n] - b).abs().max() < 1e-12 for a, b in pairs)


@pytest.mark.parametrize("kind", KINDS)
def test_unbatched_input_matches_torch(kind: str) -> None:
    g, t, _, i, h = random_sizes(70)
    torch.manual_seed(0)
    ours, theirs = make_pair(kind, i, h, 2, bidirectional=True, batch_first=True)
    x = torch.randn(t, i, generator=g, dtype=F64)
    for hx in (None, random_hx(kind, (4, h), g)):
        errors = max_errors(forward_backward(ours, x, hx), forward_backward(theirs, x, hx))
        assert max(errors.values()) < 1e-10, errors


@pytest.mark.parametrize("kind", KINDS)
def test_float32_matches_torch(kind: str) -> None:
    """In float32 torch takes its fast paths (oneDNN for LSTM); we agree to rtol 1e-5."""
    g = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    ours, theirs = make_pair(kind, 5, 8, 2, dtype=torch.float32, bidirectional=True)
    x = torch.randn(6, 3, 5, generator=g)
    hx = random_hx(kind, (4, 3, 8), g, dtype=torch.float32)
    a, b = forward_backward(ours, x, hx), forward_backward(theirs, x, hx)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-5, msg=key)


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_between_layers_only_in_training(kind: str) -> None:
    g, t, n, i, h = random_sizes(90)
    torch.manual_seed(1)
    ours, theirs = make_pair(kind, i, h, 3, dropout=1.0)  # p=1: the next layer sees zeros, deterministically
    x = torch.randn(t, n, i, generator=g, dtype=F64)
    for training in (True, False):
        ours.train(training)
        theirs.train(training)
        errors = max_errors(forward_backward(ours, x), forward_backward(theirs, x))
        assert max(errors.values()) < 1e-10, (training, errors)
    ours.train()
    assert (ours(x)[0] != 0).any()  # p=1 after the last layer would zero every output
    ours.dropout = 0.5
    torch.manual_seed(0)
    first = ours(x)[0]
    torch.manual_seed(0)
    assert torch.equal(first, ours(x)[0])
    assert not torch.equal(first, ours(x)[0])  # a fresh mask on each call
    assert not torch.equal(first, ours.eval()(x)[0])


@pytest.mark.parametrize("kind", KINDS)
def test_same_parameters_repr_and_initialisation_as_torch(kind: str) -> None:
    ours_cls, twin_cls, extra = TWINS[kind]
    args = (4, 6, 2)
    kwargs = {"bidirectional": True, "batch_first": True, "dropout": 0.25, **extra}
    torch.manual_seed(2)
    a = ours_cls(*args, **kwargs)
    torch.manual_seed(2)
    b = twin_cls(*args, **kwargs)
    assert [(k, v.shape) for k, v in a.named_parameters()] == [(k, v.shape) for k, v in b.named_parameters()]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert repr(a) == repr(b)
    for attr in (
        "input_size",
        "hidden_size",
        "num_layers",
        "bias",
        "batch_first",
        "dropout",
        "bidirectional",
    ):  # noqa: E501
        assert getattr(a, attr) == getattr(b, attr), attr
    assert a.mode == b.mode and a.proj_size == 0
    assert [[p.shape for p in ws] for ws in a.all_weights] == [[p.shape for p in ws] for ws in b.all_weights]
    a.flatten_parameters()  # code written for torch calls it
    b.load_state_dict(a.state_dict())
    no_bias = ours_cls(3, 5, bias=False, **extra)
    assert [k for k, _ in no_bias.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours_cls(3, 5, 2, dropout=0.5, **extra)  # no warning with several layers


@pytest.mark.parametrize("variant", sorted(models.LSTM_VARIANTS))
def test_lstm_variants_layer_equals_stacked_cells(variant: str) -> None:
    """The layer's loop and the cell run the same step: a 2-layer bidirectional layer equals
    cells stepped forwards and backwards by hand, with the layer's weights."""
    torch.manual_seed(4)
    layer = models.LSTM(3, 4, 2, bidirectional=True, dtype=F64, variant=variant)
    x = torch.randn(5, 2, 3, dtype=F64)
    out, (h_n, c_n) = layer(x)
    inp = x
    for k in range(2):
        outs = []
        for d, suffix in enumerate(("", "_reverse")):
            cell = models.LSTMCell(inp.shape[-1], 4, dtype=F64, variant=variant)
            names = [name for name, _ in cell.named_parameters()]
            cell.load_state_dict({name: getattr(layer, f"{name}_l{k}{suffix}") for name in names})
            h = c = torch.zeros(2, 4, dtype=F64)
            seq = []
            for t in range(5)[:: -1 if d else 1]:
                h, c = cell(inp[t], (h, c))
                seq.append(h)
            outs.append(torch.stack(seq[:: -1 if d else 1]))
            assert (h - h_n[2 * k + d]).abs().max() < 1e-12 and (c - c_n[2 * k + d]).abs().max() < 1e-12
        inp = torch.cat(outs, dim=2)
    assert (inp - out).abs().max() < 1e-12
    if variant != "vanilla":  # only vanilla shares torch's parameter shapes
        with pytest.raises(RuntimeError):
            layer.load_state_dict(nn.LSTM(3, 4, 2, bidirectional=True).state_dict())


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_layer_with_packed_input(kind: str) -> None:
    """gradcheck through the whole layer, including the one-matmul W_hh gradient (_bptt.py)."""
    torch.manual_seed(0)
    ours_cls, _, extra = TWINS[kind]
    layer = ours_cls(2, 3, 2, bidirectional=True, dtype=F64, **extra)
    names = [name for name, _ in layer.named_parameters()]
    lengths = torch.tensor([3, 1])

    def f(x: Tensor, *params: Tensor):
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        out, h_n = torch.func.functional_call(layer, dict(zip(names, params, strict=True)), (packed,))
        return out.data, *(h_n if isinstance(h_n, tuple) else (h_n,))

    inputs = [torch.randn(3, 2, 2, dtype=F64)] + [p.detach().clone() for p in layer.parameters()]
    assert torch.autograd.gradcheck(f, tuple(t.requires_grad_() for t in inputs), fast_mode=True)


@pytest.mark.parametrize("kind", KINDS)
def test_frozen_recurrent_weights_and_no_grad_mode(kind: str) -> None:
    """Without a W_hh gradient to defer, the loop runs plainly; results do not change."""
    torch.manual_seed(1)
    ours, theirs = make_pair(kind, 3, 4, 2, bidirectional=True)
    for layer in (ours, theirs):
        layer.weight_hh_l0.requires_grad_(False)
    x = torch.randn(5, 2, 3, dtype=F64)
    errors = max_errors(forward_backward(ours, x), forward_backward(theirs, x))
    assert max(errors.values()) < 1e-10, errors
    with torch.no_grad():
        assert (ours(x)[0] - theirs(x)[0]).abs().max() < 1e-10


def _gradient_penalty_grads(layer: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """d/d(params, x) of ||d(loss)/d(params, x)||^2: a double backward through the whole layer."""
    inputs = [x, *layer.parameters()]
    out, _ = layer(x)
    first = torch.autograd.grad((out**2).sum(), inputs, create_graph=True)
    penalty = sum((g**2).sum() for g in first)
    return list(torch.autograd.grad(penalty, inputs))


@pytest.mark.parametrize("kind", KINDS)
def test_double_backward_matches_torch(kind: str) -> None:
    """create_graph=True through the one-matmul W_hh gradient (_bptt.py) gives torch's numbers."""
    torch.manual_seed(8)
    ours, theirs = make_pair(kind, 3, 4, 2, bidirectional=True)
    x = torch.randn(5, 2, 3, dtype=F64, requires_grad=True)
    expected = _gradient_penalty_grads(theirs, x)
    for got, want in zip(_gradient_penalty_grads(ours, x), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("variant", ["peephole", "coupled"])
def test_double_backward_of_lstm_variants_passes_gradgradcheck(variant: str) -> None:
    torch.manual_seed(9)
    layer = models.LSTM(2, 3, dtype=F64, variant=variant)
    names = [name for name, _ in layer.named_parameters()]

    def run(x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, dict(zip(names, params, strict=True)), (x,))[0]

    x = torch.randn(4, 2, 2, dtype=F64, requires_grad=True)
    assert torch.autograd.gradgradcheck(run, (x, *layer.parameters()))


@pytest.mark.parametrize("kind", KINDS)
def test_layers_train_under_cpu_autocast(kind: str) -> None:
    """Mixed precision mixes dtypes inside a step (bfloat16 matmuls, float32 state): it must run."""
    torch.manual_seed(2)
    ours, theirs = make_pair(kind, 3, 4, 2, dtype=torch.float32, bidirectional=True)
    x = torch.randn(5, 2, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ours(x)[0]
    # The reference runs in float32: torch.nn.LSTM has no CPU autocast kernel on every CPU (oneDNN
    # refuses the mixed-precision primitive on this course's AMD EPYC machine).
    ref = theirs(x)[0]
    out.float().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in ours.parameters())
    assert (out.float() - ref.float()).abs().max() < 0.05  # bfloat16 keeps ~3 significant digits


# --- negative tests: the same comparison catches known mistakes ---


def test_time_major_input_to_batch_first_layer_is_caught() -> None:
    """With T == N the shapes agree, so only the values can reveal the mix-up."""
    torch.manual_seed(6)
    ours, theirs = make_pair("lstm", 3, 4, batch_first=True)
    x = torch.randn(5, 5, 3, dtype=F64)  # meant as (N, T, H_in)
    errors = max_errors(forward_backward(ours, x.transpose(0, 1)), forward_backward(theirs, x))
    assert max(errors.values()) > 1e-3


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_padded_instead_of_packed_is_caught(kind: str) -> None:
    """Feeding the padded tensor, the reverse direction starts on padding: final states differ."""
    torch.manual_seed(7)
    ours, theirs = make_pair(kind, 3, 4, bidirectional=True)
    x = torch.randn(6, 3, 3, dtype=F64)
    lengths = torch.tensor([6, 4, 2])
    _, h_ours = ours(x)
    _, h_theirs = theirs(pack_padded_sequence(x, lengths))
    h_ours, h_theirs = (h[0] if isinstance(h, tuple) else h for h in (h_ours, h_theirs))
    assert (h_ours - h_theirs).abs().max() > 1e-3


def test_swapped_gates_in_a_layer_are_caught() -> None:
    torch.manual_seed(9)
    ours, theirs = make_pair("lstm", 3, 4, 2)
    swapped = {k: torch.cat([v.chunk(4)[j] for j in (0, 1, 3, 2)]) for k, v in theirs.state_dict().items()}
    ours.load_state_dict(swapped)  # i, f, o, g: a layer reading the gates in the wrong order
    x = torch.randn(4, 2, 3, dtype=F64)
    assert max(max_errors(forward_backward(ours, x), forward_backward(theirs, x)).values()) > 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", KINDS)
def test_cuda_matches_cudnn(kind: str) -> None:
    torch.manual_seed(0)
    ours, theirs = make_pair(kind, 5, 8, 2, dtype=torch.float64, bidirectional=True)
    ours, theirs = ours.cuda(), theirs.cuda()
    x = torch.randn(6, 3, 5, dtype=F64, device="cuda")
    errors = max_errors(forward_backward(ours, x), forward_backward(theirs, x))
    assert max(errors.values()) < 1e-8, errors
