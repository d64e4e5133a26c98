"""Word vectors: lookup, nearest neighbours, analogies, and the word2vec text format (chapter 4).

``WordVectors`` pairs a tuple of words (most frequent first, as trainers emit them) with a (V, D)
float32 tensor. Similarity is the cosine, computed on unit-normalised rows. Analogies "a is to b
as c is to ?" are solved as in Levy & Goldberg (2014), excluding a, b and c from the answers:

- 3CosAdd: argmax_d cos(d, b) - cos(d, a) + cos(d, c)  (Mikolov et al. 2013's vector offset);
- 3CosMul: argmax_d cos'(d, b) cos'(d, c) / (cos'(d, a) + 1e-6), with cos' = (1 + cos) / 2 in [0, 1].
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

__all__ = ["WordVectors"]

_EPS_MUL = 1e-6  # Levy & Goldberg's epsilon, also gensim's most_similar_cosmul


class WordVectors:
    """Words and their vectors: ``words`` (V,) and ``vectors`` (V, D) float32 (chapter 4).

    ``wv["king"]`` is a (D,) vector; an unknown word raises KeyError naming it and the vocabulary size.
    """

    def __init__(self, words: Sequence[str], vectors: Tensor | np.ndarray) -> None:
        vectors = torch.as_tensor(vectors, dtype=torch.float32).detach().cpu()
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(
                f"vectors must be (len(words), D) = ({len(words)}, D), got {tuple(vectors.shape)}"
            )
        self.words: tuple[str, ...] = tuple(words)
        self.index: dict[str, int] = {}
        for i, w in enumerate(self.words):
            self.index.setdefault(w, i)  # a repeated word keeps its first (most frequent) row
        self.vectors = vectors
        norms = vectors.norm(dim=1, keepdim=True)
        self.unit = vectors / norms.clamp(min=1e-12)  # (V, D)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def id(self, word: str) -> int:
        """The row of ``word``; KeyError naming the word and the vocabulary size when unknown."""
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(f"{word!r} is not among the {len(self):,} words of these vectors") from None

    def __getitem__(self, word: str) -> Tensor:
        return self.vectors[self.id(word)]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self.unit[self.id(a)] @ self.unit[self.id(b)])

    def neighbours(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` words closest to ``word`` by cosine (itself excluded), best first."""
        sims = self.unit @ self.unit[self.id(word)]  # (V,)
        sims[self.id(word)] = -float("inf")
        return self._top(sims, k)

    def analogy_scores(self, a: str, b: str, c: str, method: Literal["add", "mul"] = "add") -> Tensor:
        """The score of every word as the answer to "a is to b as c is to ?", (V,); a, b, c get -inf."""
        ia, ib, ic = self.id(a), self.id(b), self.id(c)
        cos = self.unit @ self.unit[[ia, ib, ic]].T  # (V, 3)
        if method == "add":
            scores = cos[:, 1] - cos[:, 0] + cos[:, 2]
        elif method == "mul":
            shifted = (1 + cos) / 2
            scores = shifted[:, 1] * shifted[:, 2] / (shifted[:, 0] + _EPS_MUL)
        else:
            raise ValueError(f"method must be 'add' (3CosAdd) or 'mul' (3CosMul), got {method!r}")
        scores[[ia, ib, ic]] = -float("inf")
        return scores

    def analogy(
        self, a: str, b: str, c: str, k: int = 1, method: Literal["add", "mul"] = "add"
    ) -> list[tuple[str, float]]:
        """The ``k`` best answers to "a is to b as c is to ?" (e.g. man, king, woman -> queen)."""
        return self._top(self.analogy_scores(a, b, c, method), k)

    def _top(self, scores: Tensor, k: int) -> list[tuple[str, float]]:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        values, ids = scores.topk(min(k, len(self)))
        return [(self.words[i], float(v)) for v, i in zip(values.tolist(), ids.tolist(), strict=True)]

    def save_word2vec(self, path: str | os.PathLike[str]) -> None:
        """Write word2vec's text format ("V D" then "word x1 ... xD" lines), loadable by gensim's
        ``KeyedVectors.load_word2vec_format``; written to a temporary file, then renamed."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.part")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(f"{len(self)} {self.dim}\n")
                for word, row in zip(self.words, self.vectors.numpy(), strict=True):
                    if not word or any(ch.isspace() for ch in word):
                        raise ValueError(
                            f"word2vec text format cannot hold the word {word!r} (empty or spaces)"
                        )
                    f.write(word + " " + " ".join(f"{x:.6g}" for x in row) + "\n")
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @classmethod
    def load_word2vec(cls, path: str | os.PathLike[str]) -> WordVectors:
        """Read word2vec's text format (as written by ``save_word2vec`` or gensim)."""
        with open(path, encoding="utf-8") as f:
            header = f.readline().split()
            if len(header) != 2 or not all(h.isdigit() for h in header):
                raise ValueError(f"{path}: the first line must be 'V D', got {' '.join(header)!r}")
            n, dim = map(int, header)
            words, rows = [], np.empty((n, dim), dtype=np.float32)
            for i, line in enumerate(f):
                parts = line.rstrip().split(" ")
                if i >= n or len(parts) != dim + 1:
                    raise ValueError(f"{path}:{i + 2}: expected a word and {dim} numbers (V = {n})")
                words.append(parts[0])
                rows[i] = np.asarray(parts[1:], dtype=np.float32)
        if len(words) != n:
            raise ValueError(f"{path}: the header announces {n} words, the file holds {len(words)}")
        return cls(words, rows)

    def __repr__(self) -> str:
        return f"WordVectors({len(self):,} words, dim {self.dim})"
