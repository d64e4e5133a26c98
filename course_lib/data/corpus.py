"""One tokenised corpus of general English from NLTK's corpora, cached as ids (chapter 4).

``load_corpus()`` reads six NLTK corpora straight out of their verified zips (Brown, the Pang & Lee
movie reviews, ABC science and rural news, State of the Union addresses, web text, inaugural
addresses), splits each text file into lines (a line is a sentence in Brown, the movie reviews and
ABC, a paragraph in the speeches), lower-cases it, tokenises each line with
``course_lib.data.word_tokenize`` and keeps the tokens holding a letter or digit (punctuation
carries little distributional signal and would crowd every window).

Tokenising ~3.8M words takes tens of seconds, so the result (ids, line offsets, the vocabulary
with counts) is cached as one ``.npz`` in ``cache_dir()/corpus/``, named by a hash of everything
that determines it: the zips' sha256, the corpora chosen and ``CORPUS_FORMAT``. The file is
written to a temporary name and ``os.replace``-d, so a reader never sees half of it; when the
cache folder is not writable the corpus is simply rebuilt next time.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_lib.data.download import cache_dir
from course_lib.data.registry import fetch, info
from course_lib.data.text import word_tokenize

__all__ = ["CORPUS_FORMAT", "GENERAL_ENGLISH", "Corpus", "load_corpus"]

# Bump when the tokenisation below changes: it is part of the cache key.
CORPUS_FORMAT = 1
GENERAL_ENGLISH: tuple[str, ...] = (
    "nltk_brown", "nltk_movie_reviews", "nltk_abc", "nltk_state_union", "nltk_webtext", "nltk_inaugural",
)  # fmt: skip
_HAS_ALNUM = re.compile(r"[^\W_]")
_BROWN_TEXT = re.compile(r"brown/c[a-r]\d\d$")  # the 500 texts, not README / CONTENTS / cats.txt


@dataclass(frozen=True, eq=False)
class Corpus:
    """A tokenised corpus: ``ids`` (N,) int32 into ``words``, cut into lines by ``offsets``.

    ``words``: every distinct token, by descending count (ties: first appearance), so that
    ``words[:k]`` is the k most frequent; ``counts`` (V,) int64 aligned with ``words``;
    ``offsets`` (L+1,) int64: line ``i`` is ``ids[offsets[i]:offsets[i+1]]``;
    ``source_tokens``: tokens contributed by each NLTK corpus. Used in chapter 4.
    """

    words: tuple[str, ...]
    counts: np.ndarray
    ids: np.ndarray
    offsets: np.ndarray
    source_tokens: dict[str, int]

    def __len__(self) -> int:
        """The number of tokens."""
        return int(self.ids.shape[0])

    @property
    def n_lines(self) -> int:
        return int(self.offsets.shape[0] - 1)

    def vocab_size(self, min_count: int = 1) -> int:
        """How many distinct words occur at least ``min_count`` times."""
        return int(np.count_nonzero(self.counts >= min_count))

    def lines(self) -> Iterator[list[str]]:
        """Each line as a list of words (the input ``gensim.models.Word2Vec`` takes)."""
        words = np.asarray(self.words, dtype=object)
        for start, stop in zip(self.offsets[:-1], self.offsets[1:], strict=True):
            yield words[self.ids[start:stop]].tolist()

    def __repr__(self) -> str:
        return f"Corpus({len(self):,} tokens, {len(self.words):,} distinct words, {self.n_lines:,} lines)"


def _members(name: str, archive: zipfile.ZipFile) -> list[str]:
    """The text files of one corpus's zip, in name order (READMEs and indexes left out)."""
    names = sorted(n for n in archive.namelist() if not n.endswith("/"))
    if name == "nltk_brown":
        return [n for n in names if _BROWN_TEXT.search(n)]
    return [n for n in names if n.endswith(".txt") and not n.endswith("README")]


def _line_tokens(name: str, line: str) -> list[str]:
    if name == "nltk_brown":  # "The/at Fulton/np-tl": drop the part-of-speech tags
        line = " ".join(token.rsplit("/", 1)[0] for token in line.split())
    return [t for t in word_tokenize(line, lower=True) if _HAS_ALNUM.search(t)]


def _read_source(name: str) -> Iterator[list[str]]:
    path = fetch(name)
    with zipfile.ZipFile(path) as archive:
        members = _members(name, archive)
        if not members:
            raise ValueError(f"{path} holds no text files for corpus {name!r}")
        for member in members:
            raw = archive.read(member)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")  # a few older files; every byte maps to a character
            for line in text.splitlines():
                tokens = _line_tokens(name, line)
                if tokens:
                    yield tokens


def _build(sources: Sequence[str]) -> Corpus:
    lines: list[list[str]] = []
    source_tokens: dict[str, int] = {}
    for name in sources:
        before = sum(map(len, lines))
        lines.extend(_read_source(name))
        source_tokens[name] = sum(map(len, lines)) - before
    counts = Counter(t for line in lines for t in line)
    words = sorted(counts, key=lambda w: -counts[w])  # stable: ties keep first appearance
    index = {w: i for i, w in enumerate(words)}
    ids = np.fromiter((index[t] for line in lines for t in line), dtype=np.int32)
    offsets = np.zeros(len(lines) + 1, dtype=np.int64)
    np.cumsum([len(line) for line in lines], out=offsets[1:])
    return Corpus(
        words=tuple(words),
        counts=np.array([counts[w] for w in words], dtype=np.int64),
        ids=ids,
        offsets=offsets,
        source_tokens=source_tokens,
    )


def _cache_key(sources: Sequence[str]) -> str:
    digest = hashlib.sha256(f"format={CORPUS_FORMAT}".encode())
    for name in sources:
        digest.update(f"|{name}:{','.join(info(name).sha256)}".encode())
    return digest.hexdigest()[:20]


def _save(corpus: Corpus, target: Path) -> None:
    """Write ``corpus`` to ``target`` atomically (a temporary file in the same folder, then os.replace)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(
                f,
                words=np.array(corpus.words, dtype=str),
                counts=corpus.counts,
                ids=corpus.ids,
                offsets=corpus.offsets,
                source_names=np.array(list(corpus.source_tokens), dtype=str),
                source_counts=np.array(list(corpus.source_tokens.values()), dtype=np.int64),
            )
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _load(path: Path) -> Corpus:
    with np.load(path) as z:
        return Corpus(
            words=tuple(z["words"].tolist()),
            counts=z["counts"],
            ids=z["ids"],
            offsets=z["offsets"],
            source_tokens=dict(zip(z["source_names"].tolist(), z["source_counts"].tolist(), strict=True)),
        )


def corpus_cache_path(sources: Sequence[str] = GENERAL_ENGLISH) -> Path:
    """Where ``load_corpus(sources)`` caches its result (the file may not exist yet)."""
    stem = "-".join(s.removeprefix("nltk_") for s in sources)
    return cache_dir() / "corpus" / f"{stem}-{_cache_key(sources)}.npz"


def load_corpus(sources: Sequence[str] = GENERAL_ENGLISH, *, use_cache: bool = True) -> Corpus:
    """The lower-cased word tokens of ``sources`` (NLTK corpora in the registry) as one ``Corpus``.

    The default, ``GENERAL_ENGLISH``, gives 3.8M tokens of general English for training word
    embeddings (chapter 4). The first call reads the zips (``course_lib.data.fetch``: verified,
    offline from the mirror; a corpus that is neither cached nor mirrored raises the data layer's
    ``DataUnavailableError``) and caches the ids; later calls load the cache in well under a second.
    ``use_cache=False`` neither reads nor writes the cache.
    """
    if isinstance(sources, str):
        raise TypeError(f"sources must be a sequence of dataset names, got the str {sources!r}")
    sources = tuple(sources)
    if not sources:
        raise ValueError("sources must name at least one corpus, e.g. GENERAL_ENGLISH")
    for name in sources:
        if info(name).kind != "url" or not name.startswith("nltk_"):
            choices = ", ".join(GENERAL_ENGLISH)
            raise ValueError(f"{name!r} is not one of NLTK's corpora; choose from {choices}")
    target = corpus_cache_path(sources)
    if use_cache and target.is_file():
        try:
            return _load(target)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # a damaged cache file: rebuild it below
    corpus = _build(sources)
    if use_cache:
        try:
            _save(corpus, target)
        except OSError:
            pass  # a read-only cache: correct, just slower next time
    return corpus
