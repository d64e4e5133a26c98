"""Evaluation metrics: masked cross-entropy, perplexity, bits per character, accuracy, edit-distance
error rates (phoneme, character, word) and corpus BLEU.

Masked metrics count only real positions, so padding changes nothing. Edit distance is a plain
dynamic programme (no edit-distance library is in the course's environment); BLEU is sacrebleu's.
Used from chapters/01 (perplexity) through chapter 6 (PER for grapheme-to-phoneme, BLEU for
translation) and by ``train.fit``'s evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["cross_entropy", "perplexity", "bits_per_char", "accuracy", "edit_distance", "error_rate", "bleu"]


def _real_positions(targets: Tensor, mask: Tensor | None, ignore_index: int | None) -> Tensor:
    """The bool mask (same shape as targets) of the positions that count."""
    if mask is not None and ignore_index is not None:
        raise ValueError("give mask or ignore_index, not both")
    if mask is None:
        mask = torch.ones_like(targets, dtype=torch.bool)
    elif mask.shape != targets.shape or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor shaped like targets {tuple(targets.shape)}, "
                         f"got {tuple(mask.shape)} {mask.dtype}")
    if ignore_index is not None:
        mask = targets != ignore_index
    return mask


def cross_entropy(logits: Tensor, targets: Tensor, mask: Tensor | None = None, *,
                  ignore_index: int | None = None) -> Tensor:
    """Mean cross-entropy in nats over the real positions: a differentiable scalar.

    logits (..., V), targets (...) long; ``mask`` (...) bool (True = real) or ``ignore_index`` (the
    padding id) selects the positions; padded positions may hold any target and any logits.
    """
    if logits.shape[:-1] != targets.shape or targets.is_floating_point():
        raise ValueError(f"logits (..., V) and integer targets (...) must agree: got logits "
                         f"{tuple(logits.shape)}, targets {tuple(targets.shape)} {targets.dtype}")
    real = _real_positions(targets, mask, ignore_index)
    count = real.sum()
    if int(count) == 0:
        raise ValueError("no real positions: the mask selects nothing")
    # Padded targets are replaced by 0 so that they are valid class ids; their loss is then dropped.
    safe_targets = torch.where(real, targets, torch.zeros_like(targets))
    nats = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), safe_targets.reshape(-1), reduction="none")
    return torch.where(real.reshape(-1), nats, torch.zeros_like(nats)).sum() / count


def _mean_nats(mean_nats: float | Tensor) -> float:
    value = float(mean_nats)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"mean cross-entropy must be a finite number of nats >= 0, got {value}")
    return value


def perplexity(mean_nats: float | Tensor) -> float:
    """exp(mean cross-entropy in nats): the effective number of equally likely next tokens."""
    return math.exp(_mean_nats(mean_nats))


def bits_per_char(mean_nats: float | Tensor) -> float:
    """Mean cross-entropy per character converted from nats to bits (divide by ln 2)."""
    return _mean_nats(mean_nats) / math.log(2)


def accuracy(logits_or_preds: Tensor, targets: Tensor, mask: Tensor | None = None) -> float:
    """Fraction of real positions predicted right.

    logits (..., C) (the argmax is taken) or predicted ids (...) long, targets (...) long, ``mask``
    (...) bool with True for real positions.
    """
    if logits_or_preds.shape == targets.shape and not logits_or_preds.is_floating_point():
        preds = logits_or_preds
    elif logits_or_preds.shape[:-1] == targets.shape:
        preds = logits_or_preds.argmax(dim=-1)
    else:
        raise ValueError(f"expected logits {tuple(targets.shape)} + (C,) or integer predictions shaped like "
                         f"targets {tuple(targets.shape)}, got {tuple(logits_or_preds.shape)} "
                         f"{logits_or_preds.dtype}")
    real = _real_positions(targets, mask, None)
    count = int(real.sum())
    if count == 0:
        raise ValueError("no real positions: the mask selects nothing")
    return int(((preds == targets) & real).sum()) / count


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions turning a into b.

    Works on any sequences of comparable items (a string's characters, a list of words or phonemes).
    Dynamic programme over prefixes, one row at a time: O(len(a) * len(b)) time, O(len(b)) memory.
    """
    if len(a) < len(b):
        a, b = b, a  # keep the row short
    previous = list(range(len(b) + 1))  # distances from a[:0] to every prefix of b
    for i, item_a in enumerate(a, start=1):
        current = [i]
        for j, item_b in enumerate(b, start=1):
            substitute = previous[j - 1] + (item_a != item_b)
            current.append(min(previous[j] + 1, current[j - 1] + 1, substitute))
        previous = current
    return previous[-1]


def _units(text: str | Sequence[Hashable], unit: str) -> Sequence[Hashable]:
    if unit == "token":
        return text
    if not isinstance(text, str):
        raise TypeError(f"unit={unit!r} needs strings, got {type(text).__name__}; use unit='token' for lists")
    return text if unit == "char" else text.split()


def error_rate(refs: Sequence, hyps: Sequence, unit: str = "char") -> float:
    """Corpus error rate: total edit distance / total reference length (can exceed 1).

    ``unit="char"`` (CER) or ``"word"`` (WER, whitespace-split) on strings; ``"token"`` on
    sequences of tokens, e.g. phoneme lists for the phoneme error rate (PER).
    """
    if unit not in ("char", "word", "token"):
        raise ValueError(f"unit must be 'char', 'word' or 'token', got {unit!r}")
    if isinstance(refs, str) or isinstance(hyps, str):
        raise TypeError("refs and hyps must be lists of sentences (or token lists), not a single string")
    if len(refs) != len(hyps):
        raise ValueError(f"got {len(refs)} references but {len(hyps)} hypotheses")
    errors = total = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        ref_units, hyp_units = _units(ref, unit), _units(hyp, unit)
        errors += edit_distance(ref_units, hyp_units)
        total += len(ref_units)
    if total == 0:
        raise ValueError("the references are empty: the error rate is undefined")
    return errors / total


def bleu(hyps: Sequence[str], refs: Sequence[str] | Sequence[Sequence[str]], *, tokenize: str = "13a",
         lowercase: bool = False) -> float:
    """Corpus BLEU (0-100) computed by sacrebleu (Post 2018), the standard reportable implementation.

    ``refs[i]`` is the reference for ``hyps[i]``, or a list of references (the same number for every
    sentence). Already-tokenised text (e.g. decoded ids joined by spaces) wants ``tokenize="none"``.
    """
    import sacrebleu  # imported here so that ``import course_lib.metrics`` stays light

    if isinstance(hyps, str) or len(hyps) != len(refs):
        raise ValueError("hyps must be a list of strings with one entry of refs per hypothesis")
    if len(refs) and not isinstance(refs[0], str):
        counts = {len(r) for r in refs}
        if len(counts) != 1:
            raise ValueError(f"every hypothesis needs the same number of references, got {sorted(counts)}")
        streams = [list(stream) for stream in zip(*refs, strict=True)]  # one list per reference set
    else:
        streams = [list(refs)]
    return float(sacrebleu.corpus_bleu(list(hyps), streams, tokenize=tokenize, lowercase=lowercase).score)
