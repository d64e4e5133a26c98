"""Loaders that turn the registry's datasets into plain Python and NumPy values for the chapters.

Each ``load_*`` function calls ``course_lib.data.fetch`` (verified, offline when the data is
cached, mirrored or shipped in a package) and parses the real file format; none returns tensors,
so chapters choose their own tokenizer and batching. A file that does not look as expected raises
ValueError naming the file and line rather than returning something silently wrong.
"""

from __future__ import annotations

import collections
import csv
import difflib
import importlib
import re
import tarfile
import unicodedata
import zipfile
from pathlib import Path

import numpy as np

from course_lib.data.registry import fetch

__all__ = [
    "DEFAULT_SURNAME_LOCALES",
    "load_analogies",
    "load_cmudict",
    "load_irish_tunes",
    "load_seattle_weather",
    "load_sentence_polarity",
    "load_simlex999",
    "load_sunspots",
    "load_surnames",
    "load_tiny_shakespeare",
    "load_vader_movie_reviews",
    "load_wordsim353",
]

# One Latin-script locale per language, so that a classifier must learn spelling, not scripts.
DEFAULT_SURNAME_LOCALES: tuple[str, ...] = (
    "cs_CZ", "da_DK", "de_DE", "en_GB", "en_IE", "es_ES", "fi_FI", "fr_FR", "hr_HR",
    "hu_HU", "it_IT", "nl_NL", "no_NO", "pl_PL", "pt_PT", "sv_SE", "tr_TR",
)  # fmt: skip
_VADER_MEMBER = "movieReviewSnippets_GroundTruth.txt"


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # older corpus files; every byte maps to a character


def _tsv_rows(path: Path, n_fields: int) -> list[list[str]]:
    """Non-empty, non-comment lines split on tabs, each checked to have ``n_fields`` fields."""
    rows = []
    for number, line in enumerate(_decode(path.read_bytes()).splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != n_fields:
            raise ValueError(f"{path}:{number}: expected {n_fields} fields, got {len(fields)}: {line!r}")
        rows.append([f.strip() for f in fields])
    return rows


def load_tiny_shakespeare() -> str:
    """Tiny Shakespeare as one string: 1,115,394 characters, 65 distinct (chapters 1-3, char-level LMs)."""
    return fetch("tinyshakespeare").read_bytes().decode("utf-8")  # bytes: no newline translation


def load_vader_movie_reviews() -> list[tuple[str, float]]:
    """The 10,605 VADER movie-review sentences as ``(sentence, mean rating)``, ratings in [-4, 4].

    Read straight out of the tar.gz (member ``movieReviewSnippets_GroundTruth.txt``: UTF-8, CRLF,
    ``id<TAB>rating<TAB>sentence``), in id order. Used in chapter 6 (sentiment).
    """
    path = fetch("vader")
    with tarfile.open(path, "r:gz") as archive:
        member = next((m for m in archive.getmembers() if m.name.endswith("/" + _VADER_MEMBER)), None)
        handle = archive.extractfile(member) if member is not None else None
        if handle is None:
            raise ValueError(f"{path} holds no file {_VADER_MEMBER!r}")
        text = handle.read().decode("utf-8")
    reviews = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) != 3:
            raise ValueError(f"{path}:{_VADER_MEMBER}:{number}: expected id, rating, sentence: {line!r}")
        reviews.append((fields[2].strip(), float(fields[1])))
    return reviews


def load_sentence_polarity() -> list[tuple[str, int]]:
    """The 'MR' sentence-polarity benchmark as ``(sentence, label)``, label 1 positive, 0 negative.

    10,662 lower-cased, pre-tokenised review sentences (5,331 of each label; Pang & Lee 2005), read
    straight out of NLTK's ``sentence_polarity.zip`` (``rt-polarity.pos`` / ``.neg``, Latin-1), all
    negatives first, each file in its order: shuffle before splitting. Chapters 4 and 6.
    """
    path = fetch("nltk_sentence_polarity")
    rows: list[tuple[str, int]] = []
    with zipfile.ZipFile(path) as archive:
        for suffix, label in (("neg", 0), ("pos", 1)):
            member = f"sentence_polarity/rt-polarity.{suffix}"
            try:
                raw = archive.read(member)
            except KeyError:
                raise ValueError(f"{path} holds no file {member!r}") from None
            rows.extend((line.strip(), label) for line in _decode(raw).splitlines() if line.strip())
    return rows


def load_cmudict(*, all_pronunciations: bool = False) -> list[tuple[str, list[str]]]:
    """CMUdict as ``(word, phonemes)`` pairs, e.g. ``("cat", ["K", "AE1", "T"])``; ARPAbet with stress digits.

    By default one pair per word, its first (main) pronunciation: 126,052 pairs, so that a
    grapheme-to-phoneme model never sees one spelling with two targets. ``all_pronunciations=True``
    keeps the variants (``word(2)`` ...) as extra pairs under the plain word: 135,166 pairs.
    Used in chapters 5-6 (grapheme-to-phoneme).
    """
    path = fetch("cmudict")
    pairs: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split("#", 1)[0].split()  # "word  PH ON ES # comment"
        if not fields:
            continue
        if len(fields) < 2:
            raise ValueError(f"{path}:{number}: a word without phonemes: {line!r}")
        word = fields[0].split("(", 1)[0] if fields[0].endswith(")") else fields[0]  # "word(2)"
        if all_pronunciations or word not in seen:
            pairs.append((word, fields[1:]))
            seen.add(word)
    return pairs


def _faker_surnames(locale: str) -> set[str]:
    """Every last-name list a Faker person provider defines (some split them by gender or origin)."""
    module = importlib.import_module(f"faker.providers.person.{locale}")
    base = importlib.import_module("faker.providers.person").Provider
    names: set[str] = set()
    for attribute in dir(module.Provider):
        value = getattr(module.Provider, attribute)
        if "last_names" not in attribute or not isinstance(value, (tuple, list, dict)):
            continue
        if value is getattr(base, attribute, None):
            continue  # the base provider's placeholder ("Doe"), not this locale's data
        names.update(unicodedata.normalize("NFC", str(n)).strip() for n in value)
    names.discard("")
    return names


def load_surnames(
    locales: list[str] | tuple[str, ...] | None = None, drop_shared: bool = True
) -> dict[str, list[str]]:
    """Surnames per Faker locale, ``{"de_DE": ["Ackermann", ...], ...}``, each list sorted and unique.

    ``locales``: Faker locale names (``None``: the 17 Latin-script locales of
    ``DEFAULT_SURNAME_LOCALES``, 12,125 names in all). ``drop_shared``: drop names found in more
    than one of the chosen locales, so that every name has one right answer. Names are Unicode
    NFC, diacritics kept. Used in chapters 1 and 3 (classify a surname's language).
    """
    folder = fetch("surnames")
    available = sorted(p.name for p in folder.iterdir() if (p / "__init__.py").is_file())
    if locales is None:
        locales = DEFAULT_SURNAME_LOCALES
    if not isinstance(locales, (list, tuple)) or not all(isinstance(loc, str) for loc in locales):
        raise TypeError(f"locales must be a list of locale names like ['en_GB', 'fr_FR'], got {locales!r}")
    if not locales:
        raise ValueError("locales must name at least one locale")
    for loc in locales:
        if loc not in available:
            close = difflib.get_close_matches(loc, available, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise KeyError(f"Faker has no person locale {loc!r}{hint} Available: {', '.join(available)}")
    names = {loc: _faker_surnames(loc) for loc in dict.fromkeys(locales)}
    counts = collections.Counter(n for group in names.values() for n in group)
    keep = (lambda n: counts[n] == 1) if drop_shared else (lambda n: True)
    return {loc: sorted(filter(keep, group)) for loc, group in names.items()}


def _title_key(tune: str) -> str:
    """A tune's first title, lowercased, letters only, without a leading or trailing "The"."""
    match = re.search(r"^T:(.*)$", tune, flags=re.MULTILINE)
    title = match.group(1).strip().lower() if match else ""
    title = re.sub(r"^the\s+|,\s*the\W*$", "", title)
    return re.sub(r"[^a-z]", "", title)


def load_irish_tunes() -> list[str]:
    """O'Neill's Irish tunes, one ABC text per tune (from its ``X:`` line to the last bar), 1,839 tunes.

    music21's corpus folder ``oneills1850`` holds 39 files of several tunes each; some files
    overlap (two transcriptions of tunes 732-758, a file of 626-635 inside 626-700, ...). A
    tune is kept once: a later tune with the same number ``X:`` and a similar title (difflib
    ratio >= 0.6, which tells "Fisher's Hornpipe (1st Setting)" from a different tune that
    reuses a number) or an identical body is a second transcription and is dropped, so that
    no tune lands in both a training and a validation split. Used in chapter 6 (music).
    """
    folder = fetch("irish_tunes")
    tunes: list[str] = []
    titles: dict[str, list[str]] = collections.defaultdict(list)
    bodies: set[str] = set()
    for path in sorted(folder.glob("*.abc")):
        for chunk in re.split(r"^(?=X:)", _decode(path.read_bytes()), flags=re.MULTILINE)[1:]:
            tune = chunk.strip()
            number = tune.split("\n", 1)[0][2:].strip()
            body = " ".join(tune.split("\n", 1)[1].split()) if "\n" in tune else ""
            key = _title_key(tune)
            similar = (difflib.SequenceMatcher(None, key, k).ratio() >= 0.6 for k in titles[number])
            if body in bodies or any(similar):
                continue
            titles[number].append(key)
            bodies.add(body)
            tunes.append(tune)
    if not tunes:
        raise ValueError(f"no ABC tunes (lines starting 'X:') in {folder}")
    return tunes


def load_analogies() -> dict[str, list[tuple[str, str, str, str]]]:
    """The word-analogy questions ``a b c d`` (a is to b as c is to d) by section, in file order.

    14 sections (``capital-common-countries`` ... ``gram9-plural-verbs``), 19,544 questions; words
    keep their case (``Athens``). Used in chapter 4 (evaluating embeddings).
    """
    path = fetch("analogies")
    sections: dict[str, list[tuple[str, str, str, str]]] = {}
    current: list[tuple[str, str, str, str]] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(":"):
            current = sections.setdefault(line[1:].strip(), [])
            continue
        words = line.split()
        if not words:
            continue
        if len(words) != 4 or current is None:
            raise ValueError(f"{path}:{number}: expected four words after a ': section' line: {line!r}")
        current.append((words[0], words[1], words[2], words[3]))
    return sections


def _similarity_pairs(name: str) -> list[tuple[str, str, float]]:
    path = fetch(name)
    return [(a, b, float(score)) for a, b, score in _tsv_rows(path, 3)]


def load_wordsim353() -> list[tuple[str, str, float]]:
    """WordSim-353 as ``(word1, word2, mean relatedness)`` with scores in [0, 10]; 353 pairs (chapter 4)."""
    return _similarity_pairs("wordsim353")


def load_simlex999() -> list[tuple[str, str, float]]:
    """SimLex-999 as ``(word1, word2, mean similarity)`` with scores in [0, 10]; 999 pairs (chapter 4)."""
    return _similarity_pairs("simlex999")


def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Yearly sunspot numbers: ``years`` (309,) int64 from 1700 to 2008, ``activity`` (309,) float64.

    Used in chapter 6 (forecasting).
    """
    path = fetch("sunspots")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or {"YEAR", "SUNACTIVITY"} - set(rows[0]):
        raise ValueError(f"{path}: expected columns YEAR and SUNACTIVITY")
    years = np.array([int(float(r["YEAR"])) for r in rows], dtype=np.int64)
    activity = np.array([float(r["SUNACTIVITY"]) for r in rows], dtype=np.float64)
    return years, activity


def load_seattle_weather() -> dict[str, np.ndarray]:
    """Daily Seattle weather, 2012-01-01 to 2015-12-31: a dict of (1461,) arrays.

    ``date`` datetime64[D]; ``precipitation`` (mm), ``temp_max``, ``temp_min`` (deg C) and
    ``wind`` (m/s) float64; ``weather`` str, one of drizzle, fog, rain, snow, sun. Used in
    chapter 6 (forecasting and sequence classification).
    """
    path = fetch("seattle_weather")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns = ("date", "precipitation", "temp_max", "temp_min", "wind", "weather")
    if not rows or set(columns) - set(rows[0]):
        raise ValueError(f"{path}: expected columns {', '.join(columns)}")
    table = {"date": np.array([r["date"].replace("/", "-") for r in rows], dtype="datetime64[D]")}
    for column in ("precipitation", "temp_max", "temp_min", "wind"):
        table[column] = np.array([float(r[column]) for r in rows], dtype=np.float64)
    table["weather"] = np.array([r["weather"] for r in rows], dtype=str)
    return table
