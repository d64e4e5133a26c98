"""Tests for course_lib.ngram: the character n-gram model and distinct-n."""

from __future__ import annotations

import math

import pytest

from course_lib.ngram import CharNGram, distinct_n

TEXT = "abracadabra abracadabra cadabra"


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("context", ["", "a", "ab", "zzz", "cad"])
def test_probabilities_sum_to_one_over_the_alphabet_and_the_unknown_slot(order: int, context: str) -> None:
    model = CharNGram(order).fit(TEXT)
    unknown = model.prob(context, "#")  # every unseen character gets the unknown slot's mass
    total = sum(model.prob(context, c) for c in model.alphabet) + unknown
    assert math.isclose(total, 1.0, rel_tol=1e-12)


def test_unigram_matches_the_formula_by_hand() -> None:
    model = CharNGram(1, discount=0.5).fit("aab")
    # N = 3, T = 2 distinct, alphabet {a, b} + unknown slot: uniform 1/3.
    assert math.isclose(model.prob("", "a"), (2 - 0.5) / 3 + 0.5 * 2 / 3 / 3)
    assert math.isclose(model.prob("", "c"), 0.5 * 2 / 3 / 3)


def test_bigram_backs_off_to_the_unigram_on_an_unseen_context() -> None:
    model = CharNGram(2).fit(TEXT)
    assert model.prob("#", "a") == CharNGram(1).fit(TEXT).prob("", "a")


def test_longer_contexts_predict_repetitive_text_better() -> None:
    verse = "the cat sat on the mat. the dog sat on the log. "
    train, held_out = verse * 40, verse * 3
    bpc = [CharNGram(k).fit(train).bits_per_char(held_out) for k in (1, 2, 3, 4)]
    assert bpc == sorted(bpc, reverse=True) and bpc[-1] < 0.5 * bpc[0]


def test_bits_per_char_is_the_mean_of_minus_log2_prob() -> None:
    model = CharNGram(3).fit(TEXT)
    text, context = "cabra", "ab"
    full = context + text
    expected = -sum(math.log2(model.prob(full[max(0, i - 2):i], full[i])) for i in range(2, len(full))) / 5
    assert math.isclose(model.bits_per_char(text, context=context), expected)


def test_distinct_n() -> None:
    assert distinct_n(list("abab"), 1) == 0.5
    assert distinct_n(list("abab"), 2) == 2 / 3
    assert distinct_n("the cat the cat".split(), 2) == 2 / 3
    with pytest.raises(ValueError, match="at least 3 tokens"):
        distinct_n(["a", "b"], 3)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: CharNGram(0), ValueError, "order must"),
        (lambda: CharNGram(3, discount=1.0), ValueError, "discount"),
        (lambda: CharNGram(3).fit(""), ValueError, "non-empty"),
        (lambda: CharNGram(3).prob("ab", "c"), RuntimeError, "call fit"),
        (lambda: CharNGram(3).fit(TEXT).prob("ab", "cd"), ValueError, "one character"),
        (lambda: distinct_n(["a"], 0), ValueError, "n must"),
    ],
)
def test_bad_input(call, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call()
