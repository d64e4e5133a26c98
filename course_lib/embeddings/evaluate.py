"""Scores of word vectors on the standard sets: word similarity and word analogies (chapter 4).

Both follow gensim's ``KeyedVectors.evaluate_word_pairs`` / ``evaluate_word_analogies`` (defaults:
case-insensitive, questions with a word out of vocabulary skipped and counted), so the numbers are
identical to gensim's on the same vectors (tests/test_embeddings_evaluate.py) while the analogy
search runs as a few matrix products instead of one ``most_similar`` call per question.
A score from too few in-vocabulary items is refused with a ValueError that gives the coverage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import stats

from course_lib.embeddings.vectors import WordVectors

__all__ = ["AnalogyScore", "PairScore", "evaluate_analogies", "evaluate_pairs"]

_EPS_MUL = 1e-6


@dataclass(frozen=True)
class PairScore:
    """Spearman's rho between human and cosine similarities over ``n_pairs`` pairs; ``n_oov`` skipped."""

    spearman: float
    pearson: float
    n_pairs: int
    n_oov: int


@dataclass(frozen=True)
class AnalogyScore:
    """Accuracy over the ``n_questions`` questions fully in vocabulary (``n_oov`` skipped).

    ``sections`` maps each section to (correct, questions in vocabulary).
    """

    accuracy: float
    n_correct: int
    n_questions: int
    n_oov: int
    sections: dict[str, tuple[int, int]] = field(default_factory=dict)


def _upper_index(wv: WordVectors) -> dict[str, int]:
    """Upper-cased word -> row, the most frequent spelling winning (gensim's case_insensitive)."""
    return {w.upper(): i for i, w in reversed(list(enumerate(wv.words)))}


def _coverage_error(what: str, used: int, total: int, minimum: int, wv: WordVectors) -> ValueError:
    return ValueError(
        f"only {used} of {total} {what} ({used / max(total, 1):.0%}) have every word among the "
        f"{len(wv):,} words of these vectors; at least {minimum} are needed for a meaningful score"
    )


def evaluate_pairs(
    wv: WordVectors, pairs: Sequence[tuple[str, str, float]], min_pairs: int = 50
) -> PairScore:
    """Spearman (and Pearson) correlation of cosine similarity with human scores (WS-353, SimLex-999).

    ``pairs``: ``(word1, word2, score)`` as from ``data.load_wordsim353()``. Pairs with a word out of
    vocabulary are skipped and counted in ``n_oov``; fewer than ``min_pairs`` scored pairs raise ValueError.
    """
    index = _upper_index(wv)
    gold, model = [], []
    for a, b, score in pairs:
        ia, ib = index.get(a.upper()), index.get(b.upper())
        if ia is None or ib is None:
            continue
        va, vb = wv.vectors[ia].numpy(), wv.vectors[ib].numpy()
        gold.append(float(score))
        model.append(float(np.dot(va / np.linalg.norm(va), vb / np.linalg.norm(vb))))
    if len(gold) < min_pairs:
        raise _coverage_error("pairs", len(gold), len(pairs), min_pairs, wv)
    return PairScore(
        spearman=float(stats.spearmanr(gold, model).statistic),
        pearson=float(stats.pearsonr(gold, model).statistic),
        n_pairs=len(gold),
        n_oov=len(pairs) - len(gold),
    )


def _predict(wv: WordVectors, q: np.ndarray, method: str, batch: int = 512) -> np.ndarray:
    """The best answer (row) for each question row (a, b, c) of ``q`` (Q, 3), a, b and c excluded."""
    vectors = wv.vectors.numpy()
    norms = np.linalg.norm(vectors, axis=1)  # (V,)
    unit = vectors / norms[:, None]
    answers = np.empty(len(q), dtype=np.int64)
    for s in range(0, len(q), batch):
        a, b, c = (q[s : s + batch, j] for j in range(3))
        if method == "add":  # gensim's most_similar: the unit mean of b + c - a, then cosine
            mean = (unit[b] + unit[c] - unit[a]) / 3
            mean /= np.linalg.norm(mean, axis=1, keepdims=True)
            scores = (vectors @ mean.T) / norms[:, None]  # (V, B)
        elif method == "mul":
            cos = [(1 + (vectors @ unit[x].T) / norms[:, None]) / 2 for x in (a, b, c)]
            scores = cos[1] * cos[2] / (cos[0] + _EPS_MUL)
        else:
            raise ValueError(f"method must be 'add' (3CosAdd) or 'mul' (3CosMul), got {method!r}")
        cols = np.arange(len(a))
        for x in (a, b, c):
            scores[x, cols] = -np.inf
        answers[s : s + batch] = scores.argmax(axis=0)
    return answers


def evaluate_analogies(
    wv: WordVectors,
    sections: Mapping[str, Sequence[tuple[str, str, str, str]]],
    method: Literal["add", "mul"] = "add",
    min_questions: int = 500,
) -> AnalogyScore:
    """Accuracy on analogy questions "a b c d" (a is to b as c is to d), as ``data.load_analogies()`` gives.

    The answer is the best word by 3CosAdd (``method="add"``, gensim's) or 3CosMul, a, b, c excluded.
    Questions with a word out of vocabulary are skipped and counted in ``n_oov``; fewer than
    ``min_questions`` in vocabulary raise ValueError.
    """
    index = _upper_index(wv)
    rows, names, n_total = [], [], 0
    for name, questions in sections.items():
        for question in questions:
            n_total += 1
            ids = [index.get(w.upper()) for w in question]
            if None not in ids:
                rows.append(ids)
                names.append(name)
    if len(rows) < min_questions:
        raise _coverage_error("questions", len(rows), n_total, min_questions, wv)
    q = np.asarray(rows, dtype=np.int64)  # (Q, 4)
    right = _predict(wv, q[:, :3], method) == q[:, 3]
    per_section: dict[str, tuple[int, int]] = {name: (0, 0) for name in sections}
    for name, ok in zip(names, right.tolist(), strict=True):
        correct, total = per_section[name]
        per_section[name] = (correct + int(ok), total + 1)
    n_correct = int(right.sum())
    return AnalogyScore(
        accuracy=n_correct / len(rows),
        n_correct=n_correct,
        n_questions=len(rows),
        n_oov=n_total - len(rows),
        sections=per_section,
    )
