"""course_lib.metrics' own edit distance and error rates against well-kept libraries (rapidfuzz, jiwer)."""

from __future__ import annotations

import random

import pytest

from course_lib import metrics

rapidfuzz = pytest.importorskip("rapidfuzz")
jiwer = pytest.importorskip("jiwer")


def _random_tokens(rng: random.Random, alphabet, max_len: int) -> list[str]:
    return [rng.choice(alphabet) for _ in range(rng.randint(0, max_len))]


def test_edit_distance_equals_rapidfuzz_levenshtein_on_random_sequences():
    rng = random.Random(0)
    for _ in range(500):
        # A small alphabet makes many near-matches, where off-by-one bugs show.
        a, b = _random_tokens(rng, "abc", 12), _random_tokens(rng, "abcd", 12)
        expected = rapidfuzz.distance.Levenshtein.distance(a, b)
        assert metrics.edit_distance(a, b) == expected, (a, b)
        assert metrics.edit_distance("".join(a), "".join(b)) == expected


def test_a_wrong_edit_distance_is_caught_by_the_comparison():
    # A known-wrong variant, Hamming distance padded to the longer length, disagrees on random cases.
    rng = random.Random(1)
    disagreements = 0
    for _ in range(200):
        a, b = _random_tokens(rng, "ab", 8), _random_tokens(rng, "ab", 8)
        hamming = sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))
        disagreements += hamming != rapidfuzz.distance.Levenshtein.distance(a, b)
    assert disagreements > 20


def test_word_error_rate_equals_jiwer_on_random_corpora():
    rng = random.Random(2)
    words = ["K", "AE", "T", "D", "AO", "G", "IY"]
    for _ in range(50):
        refs = [" ".join(_random_tokens(rng, words, 9) or ["K"]) for _ in range(rng.randint(1, 6))]
        hyps = [" ".join(_random_tokens(rng, words, 9)) for _ in refs]
        assert metrics.error_rate(refs, hyps, unit="word") == pytest.approx(jiwer.wer(refs, hyps), abs=1e-12)
        assert metrics.error_rate(refs, hyps, unit="char") == pytest.approx(jiwer.cer(refs, hyps), abs=1e-12)
        token_lists = [r.split() for r in refs], [h.split() for h in hyps]
        per = metrics.error_rate(*token_lists, unit="token")
        assert per == pytest.approx(jiwer.wer(refs, hyps), abs=1e-12)
