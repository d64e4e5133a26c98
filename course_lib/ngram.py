"""Character n-gram language model (counts with interpolated absolute discounting) and distinct-n.

``CharNGram(order)`` predicts a character from the ``order - 1`` characters before it:

    P(c | h) = max(N(h c) - D, 0) / N(h) + D * T(h) / N(h) * P(c | h')

where N counts in the training text, T(h) is the number of distinct characters seen after h, h'
is h without its first character, and the recursion ends at the uniform distribution over the
training alphabet plus one slot for unseen characters (Ney, Essen & Kneser 1994). A context never
seen falls back to h' entirely. NLTK's ``nltk.lm`` offers the same family; this short version,
tested against hand computations, keeps a page's scoring of 100k characters to seconds.
``distinct_n`` is the diversity measure of generated text (Li et al. 2016).
Used in chapter 6's text generation page and by ``benchmarks/applications.py``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence

__all__ = ["CharNGram", "distinct_n"]


class CharNGram:
    """An order-``order`` character model; ``fit(text)`` then ``prob`` / ``bits_per_char``."""

    def __init__(self, order: int, discount: float = 0.75) -> None:
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be an int >= 1 (1 = unigram), got {order!r}")
        if not 0 < discount < 1:
            raise ValueError(f"discount must lie in (0, 1), got {discount!r}")
        self.order, self.discount = order, discount
        self.counts: dict[str, Counter[str]] = {}
        self.alphabet: frozenset[str] = frozenset()

    def fit(self, text: str) -> CharNGram:
        """Count every character after each of its contexts of length 0 .. order-1 in ``text``."""
        if not isinstance(text, str) or not text:
            raise ValueError("fit needs a non-empty str of training text")
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for k in range(self.order):
            for i in range(k, len(text)):
                counts[text[i - k:i]][text[i]] += 1
        self.counts = dict(counts)
        self._totals = {h: sum(c.values()) for h, c in self.counts.items()}
        self.alphabet = frozenset(text)
        return self

    def _check_fitted(self) -> None:
        if not self.counts:
            raise RuntimeError("call fit(text) before scoring")

    def prob(self, context: str, char: str) -> float:
        """P(char | the last order-1 characters of context); > 0 for any char, unseen included."""
        self._check_fitted()
        if not isinstance(char, str) or len(char) != 1:
            raise ValueError(f"char must be one character, got {char!r}")
        history = context[len(context) - self.order + 1:] if self.order > 1 else ""
        p = 1.0 / (len(self.alphabet) + 1)  # uniform over the alphabet and one unknown slot
        for k in range(len(history) + 1):  # shortest context first, the longest last
            h = history[len(history) - k:]
            seen = self.counts.get(h)
            if seen is None:
                continue  # never seen this context: keep the shorter context's estimate
            total = self._totals[h]
            p = max(seen[char] - self.discount, 0) / total + self.discount * len(seen) / total * p
        return p

    def bits_per_char(self, text: str, context: str = "") -> float:
        """Mean -log2 P over the characters of ``text``, each given what precedes it (``context`` first)."""
        self._check_fitted()
        if not isinstance(text, str) or not text:
            raise ValueError("bits_per_char needs a non-empty str")
        full, start = context + text, len(context)
        total = sum(-math.log2(self.prob(full[max(0, i - self.order + 1):i], full[i]))
                    for i in range(start, len(full)))
        return total / len(text)


def distinct_n(tokens: Sequence[Hashable], n: int) -> float:
    """Distinct n-grams / all n-grams in ``tokens`` (1.0: no n-gram repeats); Li et al. (2016)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        raise ValueError(f"need at least {n} tokens to count {n}-grams, got {len(tokens)}")
    return len(set(grams)) / len(grams)
