"""Tests for nucleus (top-p) sampling in decode.sample."""

from __future__ import annotations

import pytest
import torch

from course_lib import decode
from course_lib.models import tasks


@pytest.fixture()
def model() -> tasks.LanguageModel:
    torch.manual_seed(0)
    lm = tasks.LanguageModel.build(12, kind="gru", embed_size=8, hidden_size=16)
    with torch.no_grad():
        lm.head.weight.mul_(8)  # sharper next-token distributions: the nucleus is then a real subset
    return lm.eval()


def test_nucleus_keeps_the_smallest_set_reaching_p() -> None:
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    kept = lambda p: torch.isfinite(decode._nucleus(logits, p))[0].tolist()  # noqa: E731
    assert kept(0.5) == [True, False, False, False]
    assert kept(0.8) == [True, True, False, False]
    assert kept(0.81) == [True, True, True, False]
    shuffled = logits[:, [2, 0, 3, 1]]  # order in the vocabulary does not matter
    assert torch.isfinite(decode._nucleus(shuffled, 0.8))[0].tolist() == [False, True, False, True]


def test_first_token_follows_the_renormalised_nucleus(model: tasks.LanguageModel) -> None:
    prompt = torch.tensor([[3, 5, 7]]).expand(4000, 3)
    with torch.no_grad():
        probs = model(prompt[:1])[0][0, -1].softmax(-1)  # (V,)
    nucleus = torch.isfinite(decode._nucleus(probs.log()[None], 0.7))[0]
    assert 1 < int(nucleus.sum()) < 12
    first = decode.sample(model, prompt, 1, top_p=0.7, generator=torch.Generator().manual_seed(0))[:, 0]
    assert nucleus[first].all()  # never a token outside the nucleus
    freq = torch.bincount(first, minlength=12).double() / len(first)
    expected = torch.where(nucleus, probs.double(), 0) / probs[nucleus].sum()
    assert torch.allclose(freq, expected, atol=0.03)


def test_top_p_one_is_plain_sampling_and_tiny_p_is_greedy(model: tasks.LanguageModel) -> None:
    def run(**kw) -> torch.Tensor:
        return decode.sample(model, [1, 2], 30, generator=torch.Generator().manual_seed(1), **kw)

    assert torch.equal(run(top_p=1.0), run())
    assert torch.equal(run(top_p=1e-9), decode.greedy(model, [1, 2], 30))


def test_top_k_and_top_p_combine(model: tasks.LanguageModel) -> None:
    out = decode.sample(model, torch.tensor([[4]]).expand(500, 1), 1, top_k=2, top_p=0.999,
                        generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        top2 = set(model(torch.tensor([[4]]))[0][0, -1].topk(2).indices.tolist())
    assert set(out[:, 0].tolist()) <= top2


@pytest.mark.parametrize("top_p", [0, 0.0, -0.1, 1.01, 2, "0.5"])
def test_top_p_outside_0_1_is_rejected(model: tasks.LanguageModel, top_p: object) -> None:
    with pytest.raises(ValueError, match=r"top_p must be None or a number in \(0, 1\]"):
        decode.sample(model, [1], 5, top_p=top_p)  # type: ignore[arg-type]
