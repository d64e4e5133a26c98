"""The baselines a practitioner tries before a recurrent network: n-gram logistic regression and a
sentiment lexicon.

``ngram_logreg`` is scikit-learn's TF-IDF vectoriser (word or character n-grams) followed by
logistic regression; ``tune_ngram_logreg`` picks its inverse regularisation ``C`` on a validation
split. ``vader_labels`` scores sentences with the VADER lexicon and rules (``vaderSentiment``),
which needs no training. Used in chapter 6's sentiment (``chapters/06_sentiment.md``) and surname
(``chapters/06_names.md``) pages and by ``benchmarks/applications.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

__all__ = ["ngram_logreg", "tune_ngram_logreg", "vader_labels"]

_ANALYZERS = ("word", "char", "char_wb")


def _check_texts(texts: Sequence[str], labels: Sequence | None = None, who: str = "texts") -> None:
    if isinstance(texts, str) or not len(texts) or not all(isinstance(t, str) for t in texts):
        raise TypeError(f"{who} must be a non-empty sequence of str (one text per example)")
    if labels is not None and len(labels) != len(texts):
        raise ValueError(f"{who} has {len(texts)} texts but {len(labels)} labels")


def ngram_logreg(texts: Sequence[str], labels: Sequence, *, analyzer: str = "word",
                 ngram_range: tuple[int, int] = (1, 2), C: float = 1.0) -> Pipeline:
    """Fit TF-IDF n-gram features + logistic regression; returns the fitted scikit-learn pipeline.

    ``analyzer``: ``"word"`` n-grams, or ``"char"`` / ``"char_wb"`` (characters, within word
    boundaries) as for surnames. Sublinear term frequencies (1 + log tf) damp repeated n-grams.
    ``pipeline.predict(texts)`` gives labels, ``predict_proba`` class probabilities.
    """
    _check_texts(texts, labels)
    if analyzer not in _ANALYZERS:
        raise ValueError(f"analyzer must be one of {_ANALYZERS}, got {analyzer!r}")
    low, high = ngram_range
    if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
        raise ValueError(f"ngram_range must be (low, high) ints with 1 <= low <= high, got {ngram_range!r}")
    if not C > 0:
        raise ValueError(f"C must be > 0, got {C!r}")
    # The default lowercasing would merge "Ng" with "ng"; sentences arrive lower-cased anyway.
    vectoriser = TfidfVectorizer(analyzer=analyzer, ngram_range=ngram_range, sublinear_tf=True,
                                 lowercase=analyzer == "word")
    return make_pipeline(vectoriser, LogisticRegression(C=C, max_iter=2000)).fit(list(texts), list(labels))


def tune_ngram_logreg(train_texts: Sequence[str], train_labels: Sequence, val_texts: Sequence[str],
                      val_labels: Sequence, Cs: Sequence[float] = (0.3, 1.0, 3.0, 10.0, 30.0),
                      **kwargs) -> tuple[Pipeline, float, float]:
    """Fit ``ngram_logreg`` for each ``C`` and keep the best on validation.

    -> (fitted pipeline, its C, its validation accuracy). Ties go to the smaller C (stronger
    regularisation). ``kwargs`` go to ``ngram_logreg``.
    """
    _check_texts(val_texts, val_labels, "val_texts")
    best: tuple[Pipeline, float, float] | None = None
    for C in sorted(Cs):
        model = ngram_logreg(train_texts, train_labels, C=C, **kwargs)
        acc = float(np.mean(model.predict(list(val_texts)) == np.asarray(val_labels)))
        if best is None or acc > best[2]:
            best = (model, C, acc)
    if best is None:
        raise ValueError("Cs must hold at least one value")
    return best


def vader_labels(texts: Sequence[str], threshold: float = 0.0) -> np.ndarray:
    """1 (positive) where VADER's compound score is >= ``threshold``, else 0 -> (N,) int array.

    The compound score lies in [-1, 1]; VADER's authors call |score| < 0.05 neutral, but a
    two-class benchmark has no neutral class, so by default a zero score counts as positive.
    """
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # slow import: only when used

    _check_texts(texts)
    analyser = SentimentIntensityAnalyzer()
    scores = np.array([analyser.polarity_scores(t)["compound"] for t in texts])
    return (scores >= threshold).astype(int)
