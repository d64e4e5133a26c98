"""Tests for course_lib.baselines: n-gram logistic regression and the VADER lexicon."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import baselines

POS = ["a great film", "wonderful and moving", "great acting , lovely score", "a lovely , moving story"]
NEG = ["a dull film", "boring and clumsy", "dull acting , awful score", "an awful , boring story"]


def test_word_ngram_logreg_learns_the_polarity_words() -> None:
    model = baselines.ngram_logreg(POS + NEG, [1] * 4 + [0] * 4, C=10.0)
    assert list(model.predict(["great and lovely", "dull and awful"])) == [1, 0]


def test_char_ngrams_tell_name_shapes_apart() -> None:
    # Endings -ski / -ez are what a character model should pick up; none of the test names is seen.
    polish = ["Kowalski", "Nowakowski", "Wisniewski", "Lewandowski", "Zielinski", "Kaminski"]
    spanish = ["Fernandez", "Gonzalez", "Rodriguez", "Martinez", "Sanchez", "Lopez"]
    model = baselines.ngram_logreg(polish + spanish, ["pl"] * 6 + ["es"] * 6, analyzer="char_wb",
                                   ngram_range=(1, 3), C=10.0)
    assert list(model.predict(["Malinowski", "Dominguez"])) == ["pl", "es"]


def test_tuning_keeps_the_best_validation_score() -> None:
    # Twice as many positives: a tiny C leaves only the intercept, which says "positive" to all.
    val = ["lovely film", "dull film"]
    model, C, acc = baselines.tune_ngram_logreg(POS * 2 + NEG, [1] * 8 + [0] * 4, val, [1, 0], Cs=(1e-3, 10))
    assert acc == 1.0 and C == 10.0
    assert float(np.mean(model.predict(["lovely film", "dull film"]) == [1, 0])) == acc


def test_vader_reads_polarity_and_negation() -> None:
    labels = baselines.vader_labels(["a great, moving film", "a terrible, boring film", "not good at all"])
    assert labels.tolist() == [1, 0, 0]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"texts": "one string", "labels": [1]}, TypeError, "sequence of str"),
        ({"texts": ["a", "b"], "labels": [1]}, ValueError, "2 texts but 1 labels"),
        ({"texts": ["a b", "c d"], "labels": [0, 1], "analyzer": "bytes"}, ValueError, "analyzer"),
        ({"texts": ["a b", "c d"], "labels": [0, 1], "ngram_range": (2, 1)}, ValueError, "ngram_range"),
        ({"texts": ["a b", "c d"], "labels": [0, 1], "C": 0.0}, ValueError, "C must be > 0"),
    ],
)
def test_ngram_logreg_rejects_bad_input(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        baselines.ngram_logreg(**kwargs)
