"""Text pipeline: tokenizers, a vocabulary, and deterministic train/validation/test splits.

The order the chapters follow (chapter 1 on characters, chapter 2 on words)::

    tokens = char_tokenize(text)                        # or word_tokenize(text)
    train, valid, test = split_by_position(tokens)      # split FIRST ...
    vocab = Vocab.build(train)                          # ... then build on the training split only
    ids = torch.tensor(vocab.encode(train))             # (N,) int64, ready for BPTTBatches

Building the vocabulary on the training split keeps validation and test honest: a word seen only in
the test text becomes ``<unk>``, exactly as it would for a model deployed on new text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from types import MappingProxyType
from typing import Any, TypeVar

import torch
from torch import Tensor

__all__ = ["char_tokenize", "word_tokenize", "Vocab", "split_by_position", "split_indices"]

S = TypeVar("S")

# Letters (any alphabet) joined by inner apostrophes ("don't", "o'clock"); decimal numbers ("3.14");
# then any other single non-space character (punctuation, symbols, "_") as a token of its own.
_WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*|\d+(?:\.\d+)?|\S")


def char_tokenize(text: str) -> list[str]:
    """Split ``text`` into characters, keeping spaces and newlines (chapter 1, char-level models).

    ``"Hi there"`` -> ``["H", "i", " ", "t", "h", "e", "r", "e"]``; ``"".join`` undoes it.
    """
    if not isinstance(text, str):
        raise TypeError(f"char_tokenize expects a str, got {type(text).__name__}")
    return list(text)


def word_tokenize(text: str, lower: bool = True) -> list[str]:
    """Split ``text`` into words, numbers and punctuation marks (chapter 2, word-level models).

    A regular expression, not a linguistic tokenizer:
    - a word is a run of letters; an apostrophe *between* letters stays inside it (``"don't"``,
      ``"o'clock"``), while a leading or trailing one is punctuation (``"'tis"`` -> ``"'"``, ``"tis"``);
    - a number is a run of digits with an optional decimal part (``"3.14"``); ``"1,000"`` gives
      ``"1"``, ``","``, ``"000"``; letters and digits are split apart (``"mp3"`` -> ``"mp"``, ``"3"``);
    - every other non-space character is its own token (``"!"``, ``"-"``, ``"_"``); spacing is lost.

    ``lower=True`` lower-cases first, so ``"The"`` and ``"the"`` share one vocabulary entry.
    """
    if not isinstance(text, str):
        raise TypeError(f"word_tokenize expects a str, got {type(text).__name__}")
    return _WORD_RE.findall(text.lower() if lower else text)


class Vocab:
    """A bijection between tokens and integer ids (chapters 1-3, every lab with text).

    With ``specials=True`` the first four ids are ``<pad>`` (0), ``<unk>`` (1), ``<bos>`` (2) and
    ``<eos>`` (3); an unknown token maps to ``<unk>``. With ``specials=False`` there are none, and
    looking up an unknown token raises ``KeyError`` (right for a closed alphabet such as the
    characters of Tiny Shakespeare). Build it on the training split only (see the module docstring).
    """

    PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
    SPECIALS: tuple[str, ...] = (PAD, UNK, BOS, EOS)

    def __init__(self, itos: Sequence[str], specials: bool = True) -> None:
        itos = tuple(itos)
        bad = [t for t in itos if not isinstance(t, str)]
        if bad:
            raise TypeError(f"Vocab tokens must be str, got {type(bad[0]).__name__} ({bad[0]!r})")
        if specials and itos[: len(self.SPECIALS)] != self.SPECIALS:
            raise ValueError(f"with specials=True the vocabulary must start with {list(self.SPECIALS)}")
        counts = Counter(itos)
        dupes = [t for t, c in counts.items() if c > 1]
        if dupes:
            raise ValueError(f"Vocab tokens must be unique, {dupes[:5]!r} appear more than once")
        self._itos = itos
        self._stoi = {t: i for i, t in enumerate(itos)}
        self._specials = bool(specials)

    @classmethod
    def build(
        cls,
        tokens: Iterable[str] | Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: bool = True,
    ) -> Vocab:
        """Count ``tokens`` (a flat iterable of tokens, or of token lists) and keep the frequent ones.

        Tokens seen fewer than ``min_freq`` times are dropped; the rest are ordered by descending
        count, ties by first appearance, so the same corpus always gives the same ids.
        ``max_size`` caps ``len(vocab)``, specials included. With ``specials=True`` a special token
        met in the corpus (e.g. an ``<eos>`` you inserted) keeps its reserved id.
        """
        if isinstance(tokens, str):
            raise TypeError("Vocab.build expects tokens, got a str: tokenize it first (char_tokenize)")
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an int >= 1, got {min_freq!r}")
        reserved = cls.SPECIALS if specials else ()
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < max(len(reserved), 1)
        ):
            raise ValueError(f"max_size must be None or an int >= {max(len(reserved), 1)}, got {max_size!r}")
        counts = _count(tokens)
        kept = [t for t, c in counts.items() if c >= min_freq and t not in reserved]
        kept.sort(key=lambda t: -counts[t])  # stable sort: ties keep first-appearance order
        if max_size is not None:
            kept = kept[: max_size - len(reserved)]
        return cls([*reserved, *kept], specials=specials)

    # --- lookups -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __getitem__(self, token: str) -> int:
        """The id of ``token``; ``unk_id`` if unknown, or ``KeyError`` when there is no ``<unk>``."""
        if not isinstance(token, str):
            raise TypeError(f"vocab[...] expects a str token, got {type(token).__name__} ({token!r})")
        idx = self._stoi.get(token)
        if idx is not None:
            return idx
        if self._specials:
            return self._stoi[self.UNK]
        raise KeyError(f"token {token!r} is not in this vocabulary (built with specials=False, so no <unk>)")

    @property
    def itos(self) -> tuple[str, ...]:
        """Tokens by id: ``itos[i]`` is the token with id ``i``."""
        return self._itos

    @property
    def stoi(self) -> Mapping[str, int]:
        """Read-only mapping token -> id (no ``<unk>`` fallback; use ``vocab[token]`` for that)."""
        return MappingProxyType(self._stoi)

    @property
    def specials(self) -> bool:
        """Whether ids 0-3 are ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>``."""
        return self._specials

    def _special_id(self, token: str) -> int:
        if not self._specials:
            raise KeyError(f"this vocabulary has no {token} token (it was built with specials=False)")
        return self._stoi[token]

    @property
    def pad_id(self) -> int:
        """Id of ``<pad>`` (0); use as ``padding_idx`` of ``nn.Embedding`` and ``pad_id`` of batching."""
        return self._special_id(self.PAD)

    @property
    def unk_id(self) -> int:
        return self._special_id(self.UNK)

    @property
    def bos_id(self) -> int:
        return self._special_id(self.BOS)

    @property
    def eos_id(self) -> int:
        return self._special_id(self.EOS)

    # --- encoding ------------------------------------------------------------------------------
    def encode(self, tokens: Sequence[str], *, bos: bool = False, eos: bool = False) -> list[int]:
        """Token list -> id list; ``bos``/``eos`` wrap it in ``<bos> ... <eos>`` (seq2seq chapters)."""
        if isinstance(tokens, str):
            raise TypeError("encode expects a list of tokens, got a str: tokenize it first (char_tokenize)")
        ids = [self[t] for t in tokens]
        if bos:
            ids.insert(0, self.bos_id)
        if eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids: Sequence[int] | Tensor) -> list[str]:
        """Id list or 1-D integer tensor -> token list (join them with ``""`` or ``" "`` yourself)."""
        if isinstance(ids, Tensor):
            if ids.dim() != 1 or ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
                raise ValueError(
                    f"decode expects a 1-D integer tensor, got shape {tuple(ids.shape)} dtype {ids.dtype}"
                )
            ids = ids.tolist()
        out = []
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int):
                try:  # numpy integers are fine; floats and strings are not
                    i = int(i.__index__())  # type: ignore[union-attr]
                except AttributeError:
                    raise TypeError(f"decode expects integer ids, got {type(i).__name__} ({i!r})") from None
            if not 0 <= i < len(self._itos):
                raise ValueError(f"id {i} is out of range for a vocabulary of size {len(self._itos)}")
            out.append(self._itos[i])
        return out

    # --- checkpoints ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict to store beside a model checkpoint; ``Vocab.from_dict`` restores it."""
        return {"itos": list(self._itos), "specials": self._specials}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Vocab:
        if not isinstance(state, Mapping) or "itos" not in state or "specials" not in state:
            raise KeyError("Vocab.from_dict expects a mapping with keys 'itos' and 'specials' (see to_dict)")
        return cls(state["itos"], specials=bool(state["specials"]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return self._itos == other._itos and self._specials == other._specials

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self._itos[:8])
        more = ", ..." if len(self._itos) > 8 else ""
        return f"Vocab(size={len(self._itos)}, specials={self._specials}, itos=[{head}{more}])"


def _count(tokens: Iterable[str] | Iterable[Sequence[str]]) -> Counter[str]:
    """Count a flat token stream or a stream of token lists (Counter keeps first-appearance order)."""
    counts: Counter[str] = Counter()
    for item in tokens:
        if isinstance(item, str):
            counts[item] += 1
        elif isinstance(item, (list, tuple)):
            for t in item:
                if not isinstance(t, str):
                    raise TypeError(f"tokens must be str, got {type(t).__name__} ({t!r})")
                counts[t] += 1
        else:
            raise TypeError(f"expected tokens (str) or lists of tokens, got {type(item).__name__}")
    return counts


# --- splits ------------------------------------------------------------------------------------
def _boundaries(n: int, fractions: Sequence[float]) -> list[int]:
    """Cut points 0 = b_0 <= ... <= b_k = n with b_j = floor(n * (f_1 + ... + f_j))."""
    try:
        fracs = [float(f) for f in fractions]
    except (TypeError, ValueError):
        raise TypeError(f"fractions must be a sequence of numbers, got {fractions!r}") from None
    if not fracs or any(not (0.0 < f <= 1.0) for f in fracs):
        raise ValueError(f"fractions must be non-empty and each in (0, 1], got {tuple(fractions)}")
    if not math.isclose(sum(fracs), 1.0, abs_tol=1e-6):
        raise ValueError(f"fractions must sum to 1, got {tuple(fractions)} (sum {sum(fracs):.6g})")
    cuts, total = [0], 0.0
    for f in fracs[:-1]:
        total += f
        cuts.append(math.floor(n * total + 1e-9))  # the epsilon absorbs 0.29 * 100 = 28.999...
    cuts.append(n)
    if any(b <= a for a, b in pairwise(cuts)):
        sizes = [b - a for a, b in pairwise(cuts)]
        raise ValueError(f"{n} items are too few to split by {tuple(fractions)}: piece sizes {sizes}")
    return cuts


def split_by_position(seq: Sequence[S] | Tensor, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> tuple:
    """Cut a stream (text, token list, 1-D tensor) into contiguous pieces, in order (chapters 1-2).

    Piece ``j`` is ``seq[b_j : b_{j+1}]`` with ``b_j = floor(len(seq) * (f_1 + ... + f_j))``: no
    shuffling, so no sentence leaks across the cut and the result never depends on a seed.
    Returns a tuple of ``len(fractions)`` slices of the same type as ``seq``.
    """
    if not hasattr(seq, "__len__") or not hasattr(seq, "__getitem__"):
        raise TypeError(f"split_by_position expects a sliceable sequence, got {type(seq).__name__}")
    cuts = _boundaries(len(seq), fractions)
    return tuple(seq[a:b] for a, b in pairwise(cuts))


def split_indices(
    n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> tuple[list[int], ...]:
    """Randomly partition ``range(n)`` for a dataset of independent items (surnames, reviews, ...).

    A permutation drawn from ``torch.Generator().manual_seed(seed)`` is cut like
    ``split_by_position``; each part is returned sorted. Same ``n``, fractions and seed give the
    same split (on a given torch version); the parts are disjoint and cover ``range(n)``.
    Use them with ``torch.utils.data.Subset(dataset, part)``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    cuts = _boundaries(n, fractions)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return tuple(sorted(perm[a:b]) for a, b in pairwise(cuts))
