"""Metrics: masked losses ignore padding exactly, known values of perplexity, error rates and BLEU."""

from __future__ import annotations

import functools
import math
import random

import pytest
import torch

from course_lib import metrics


def _padded(logits: torch.Tensor, targets: torch.Tensor, extra: int, pad_id: int = 0):
    """Append ``extra`` padded steps holding garbage logits (huge, even) and pad targets."""
    B, T, V = logits.shape
    garbage = torch.randn(B, extra, V, dtype=logits.dtype) * 1e6
    targets_p = torch.cat([targets, torch.full((B, extra), pad_id)], 1)
    mask = torch.arange(T + extra) < T
    return torch.cat([logits, garbage], 1), targets_p, mask.expand(B, -1)


def test_cross_entropy_matches_torch_and_padding_changes_nothing():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 7, dtype=torch.float64)
    targets = torch.randint(1, 7, (3, 5))
    plain = metrics.cross_entropy(logits, targets)
    reference = torch.nn.functional.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1))
    torch.testing.assert_close(plain, reference, rtol=0, atol=1e-12)
    logits_p, targets_p, mask = _padded(logits, targets, extra=4)
    torch.testing.assert_close(metrics.cross_entropy(logits_p, targets_p, mask), plain, rtol=0, atol=1e-12)
    ignored = metrics.cross_entropy(logits_p, targets_p, ignore_index=0)
    torch.testing.assert_close(ignored, plain, rtol=0, atol=1e-12)
    logits_p.requires_grad_(True)
    metrics.cross_entropy(logits_p, targets_p, mask).backward()
    assert (logits_p.grad[:, 5:] == 0).all() and logits_p.grad[:, :5].abs().sum() > 0


def test_cross_entropy_averages_over_real_positions_not_rows():
    logits = torch.zeros(2, 3, 4, dtype=torch.float64)
    logits[0, 0, 1] = 5.0  # one confident right answer in a row with a single real step
    targets = torch.tensor([[1, 0, 0], [2, 3, 1]])
    mask = torch.tensor([[True, False, False], [True, True, True]])
    per_step = [math.log(math.exp(5) + 3) - 5] + [math.log(4)] * 3
    assert metrics.cross_entropy(logits, targets, mask).item() == pytest.approx(sum(per_step) / 4, abs=1e-12)


def test_cross_entropy_errors():
    logits, targets = torch.randn(2, 3, 4), torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="not both"):
        metrics.cross_entropy(logits, targets, torch.ones(2, 3, dtype=torch.bool), ignore_index=0)
    with pytest.raises(ValueError, match="must agree"):
        metrics.cross_entropy(logits, targets[:, :2])
    with pytest.raises(ValueError, match="bool"):
        metrics.cross_entropy(logits, targets, torch.ones(2, 3))
    with pytest.raises(ValueError, match="no real positions"):
        metrics.cross_entropy(logits, targets, ignore_index=0)


def test_perplexity_and_bits_per_char_of_a_uniform_model():
    V = 65
    nats = metrics.cross_entropy(torch.zeros(2, 9, V), torch.randint(0, V, (2, 9)))
    assert metrics.perplexity(nats) == pytest.approx(V, rel=1e-6)  # a uniform guess among V tokens
    assert metrics.bits_per_char(nats) == pytest.approx(math.log2(V), rel=1e-6)
    assert metrics.bits_per_char(math.log(2)) == pytest.approx(1.0)
    assert metrics.perplexity(0.0) == 1.0
    with pytest.raises(ValueError, match="nats"):
        metrics.perplexity(-0.1)
    with pytest.raises(ValueError, match="nats"):
        metrics.bits_per_char(float("nan"))


def test_accuracy_from_logits_or_predictions_with_padding():
    targets = torch.tensor([[1, 2, 0], [3, 3, 3]])
    preds = torch.tensor([[1, 0, 2], [3, 1, 3]])
    assert metrics.accuracy(preds, targets) == pytest.approx(3 / 6)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    assert metrics.accuracy(preds, targets, mask) == pytest.approx(3 / 5)
    logits = torch.nn.functional.one_hot(preds, 4).float()
    assert metrics.accuracy(logits, targets, mask) == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="expected logits"):
        metrics.accuracy(torch.zeros(2, 4), targets)


@functools.cache
def _reference_distance(a: str, b: str) -> int:
    """Levenshtein by its recursive definition: an independent check of the dynamic programme."""
    if not a or not b:
        return len(a) + len(b)
    return min(
        _reference_distance(a[1:], b) + 1,
        _reference_distance(a, b[1:]) + 1,
        _reference_distance(a[1:], b[1:]) + (a[0] != b[0]),
    )


def test_edit_distance_known_values_and_reference():
    assert metrics.edit_distance("kitten", "sitting") == 3
    assert metrics.edit_distance("flaw", "lawn") == 2
    assert metrics.edit_distance("", "abc") == 3 and metrics.edit_distance("abc", "") == 3
    assert metrics.edit_distance("same", "same") == 0
    assert metrics.edit_distance(["HH", "AH0", "L", "OW1"], ["HH", "EH0", "L", "OW1", "Z"]) == 2
    rng = random.Random(0)
    for _ in range(200):
        a = "".join(rng.choices("abc", k=rng.randint(0, 7)))
        b = "".join(rng.choices("abc", k=rng.randint(0, 7)))
        assert metrics.edit_distance(a, b) == _reference_distance(a, b) == metrics.edit_distance(b, a)


def test_error_rates():
    assert metrics.error_rate(["kitten", "abc"], ["sitting", "abc"], unit="char") == pytest.approx(3 / 9)
    refs, hyps = ["the cat sat on the mat", "hello world"], ["the cat sat on mat", "hello big world"]
    assert metrics.error_rate(refs, hyps, unit="word") == pytest.approx(2 / 8)
    per = metrics.error_rate([["K", "AE1", "T"]], [["K", "AA1", "T", "S"]], unit="token")
    assert per == pytest.approx(2 / 3)
    assert metrics.error_rate(["a"], ["bbb"]) == pytest.approx(3.0)  # insertions can push it past 1
    with pytest.raises(ValueError, match="references but"):
        metrics.error_rate(["a", "b"], ["a"])
    with pytest.raises(TypeError, match="unit='token'"):
        metrics.error_rate([["K"]], [["K"]], unit="word")
    with pytest.raises(ValueError, match="unit"):
        metrics.error_rate(["a"], ["a"], unit="phone")
    with pytest.raises(ValueError, match="empty"):
        metrics.error_rate([""], ["a"])


def test_bleu_known_values():
    assert metrics.bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    # n-gram precisions 4/5, 3/4, 2/3, 1/2 and no brevity penalty: BLEU = (1/5) ** (1/4).
    value = metrics.bleu(["a b c d e"], ["a b c d f"], tokenize="none")
    assert value == pytest.approx(100 * 0.2**0.25, abs=1e-6)
    assert metrics.bleu(["x y z w"], ["a b c d"]) == pytest.approx(0.0)
    multi = [["a completely different one here", "the cat sat on the mat"]]
    assert metrics.bleu(["the cat sat on the mat"], multi) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="same number of references"):
        metrics.bleu(["a", "b"], [["a"], ["b", "c"]])
    with pytest.raises(ValueError, match="one entry of refs"):
        metrics.bleu(["a", "b"], ["a"])
