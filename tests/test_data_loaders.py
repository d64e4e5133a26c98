"""The ``load_*`` functions on the real data (offline, from the mirror and the installed packages)."""

from __future__ import annotations

import collections
import io
import os
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest

from course_lib import data
from course_lib.data import loaders

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("COURSE_LIB_DATA") or REPO.parent / "shared" / "data")
HAVE_MIRROR = all((MIRROR / d.name / d.files[0]).is_file() for d in data.list_datasets() if d.kind == "url")
needs_mirror = pytest.mark.skipif(not HAVE_MIRROR, reason=f"no data mirror at {MIRROR} (set COURSE_LIB_DATA)")


@pytest.fixture(scope="module", autouse=True)
def offline_env(offline_mirror):
    """Every test of this module: a temporary cache, the mirror, no network."""


@pytest.fixture(scope="module")
def cmudict_pairs():
    return data.load_cmudict()


@needs_mirror
def test_tiny_shakespeare_is_the_exact_text():
    text = data.load_tiny_shakespeare()
    assert len(text) == 1_115_394 and len(set(text)) == 65
    assert text.startswith("First Citizen:\n") and text.count("\n") == 40_000
    assert "\r" not in text


@needs_mirror
def test_vader_movie_reviews_are_parsed_from_the_archive():
    reviews = data.load_vader_movie_reviews()
    assert len(reviews) == 10_605
    sentences = [s for s, _ in reviews]
    ratings = np.array([r for _, r in reviews])
    assert all(isinstance(s, str) and s and "\t" not in s and "\r" not in s for s in sentences)
    assert ratings.min() >= -4 and ratings.max() <= 4
    assert (ratings > 1).sum() > 3000 and (ratings < -1).sum() > 3000  # both polarities, in bulk
    assert sentences[0].startswith("The Rock is destined") and reviews[0][1] == pytest.approx(2.26666666667)
    text = "".join(sentences)
    assert "é" in text and "Ã" not in text  # decoded as UTF-8, not mojibake


def test_vader_archive_without_the_member_is_an_error(tmp_path, monkeypatch):
    archive = tmp_path / "vader.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("hutto_ICWSM_2014/tweets_GroundTruth.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"1\t2"))
    monkeypatch.setattr(loaders, "fetch", lambda name: archive)
    with pytest.raises(ValueError, match="movieReviewSnippets_GroundTruth.txt"):
        data.load_vader_movie_reviews()


def test_sentence_polarity_is_the_balanced_mr_benchmark():
    rows = data.load_sentence_polarity()
    labels = [label for _, label in rows]
    assert len(rows) == 10_662 and labels.count(0) == labels.count(1) == 5_331
    assert all(sentence and sentence == sentence.lower() for sentence, _ in rows[:100])


def test_every_nltk_corpus_is_registered_with_its_mirror_name():
    names = {"brown", "movie_reviews", "sentence_polarity", "subjectivity", "abc", "state_union",
             "webtext", "inaugural"}
    for name in names:
        ds = data.info(f"nltk_{name}")
        assert ds.kind == "url" and ds.files == (f"{name}.zip",)


def test_cmudict_pairs_are_words_with_arpabet_phonemes(cmudict_pairs):
    assert 120_000 < len(cmudict_pairs) < 140_000
    words = [w for w, _ in cmudict_pairs]
    assert len(set(words)) == len(words)  # one pronunciation per word by default
    lookup = dict(cmudict_pairs)
    assert lookup["cat"] == ["K", "AE1", "T"] and lookup["phoneme"] == ["F", "OW1", "N", "IY0", "M"]
    phoneme = re.compile(r"[A-Z]{1,2}[012]?")
    assert all(all(phoneme.fullmatch(p) for p in ph) for _, ph in cmudict_pairs)
    assert not any("(" in w or "#" in w for w in words)


def test_cmudict_variants_are_extra_pairs(cmudict_pairs):
    every = data.load_cmudict(all_pronunciations=True)
    assert len(every) > len(cmudict_pairs)
    assert {w for w, _ in every} == {w for w, _ in cmudict_pairs}
    assert sum(1 for w, _ in every if w == "read") >= 2


def test_surnames_default_locales_are_disjoint_sorted_lists():
    names = data.load_surnames()
    assert list(names) == list(loaders.DEFAULT_SURNAME_LOCALES)
    counts = collections.Counter(n for group in names.values() for n in group)
    assert max(counts.values()) == 1  # drop_shared: every name has one answer
    for locale, group in names.items():
        assert group == sorted(set(group)) and len(group) >= 40, locale
        assert "Doe" not in group and all(n == n.strip() and n for n in group)
    assert "Ackermann" in names["de_DE"] and "Kowalski" in names["pl_PL"]


def test_surnames_drop_shared_removes_exactly_the_shared_names():
    kept = data.load_surnames(["de_DE", "de_AT"])
    everything = data.load_surnames(["de_DE", "de_AT"], drop_shared=False)
    shared = set(everything["de_DE"]) & set(everything["de_AT"])
    assert shared and not set(kept["de_DE"]) & set(kept["de_AT"])
    for locale in kept:
        assert set(kept[locale]) == set(everything[locale]) - shared


def test_surnames_bad_locales_are_explained():
    with pytest.raises(KeyError, match="did you mean 'de_DE'"):
        data.load_surnames(["de_DX"])
    with pytest.raises(TypeError, match="list of locale names"):
        data.load_surnames("de_DE")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        data.load_surnames([])


def test_irish_tunes_are_single_deduplicated_abc_tunes():
    tunes = data.load_irish_tunes()
    assert 1_800 <= len(tunes) <= 1_900  # 2,009 transcriptions in the files, of about 1,840 tunes
    numbers = []
    for tune in tunes:
        assert tune.startswith("X:") and tune == tune.strip()
        assert len(re.findall(r"^X:", tune, flags=re.MULTILINE)) == 1
        assert re.search(r"^T:", tune, flags=re.MULTILINE) and re.search(r"^K:", tune, flags=re.MULTILINE)
        numbers.append(int(tune.split("\n", 1)[0][2:]))
    assert len(set(numbers)) >= 1_830 and max(numbers) == 1850  # (one tune is numbered "X: 0")
    assert len(set(tunes)) == len(tunes)
    repeated = collections.Counter(numbers)
    assert repeated[732] == 1 and repeated[1116] == 1  # two transcribers, kept once
    assert repeated[800] == 2  # two different tunes that share a number in the files


def test_analogies_by_section():
    sections = data.load_analogies()
    assert len(sections) == 14 and sum(len(q) for q in sections.values()) == 19_544
    assert ("Athens", "Greece", "Baghdad", "Iraq") == sections["capital-common-countries"][0]
    questions = [q for qs in sections.values() for q in qs]
    assert all(len(q) == 4 and all(isinstance(w, str) and w for w in q) for q in questions)
    assert ("boy", "girl", "brother", "sister") in sections["family"]


@pytest.mark.parametrize("loader, count", [(data.load_wordsim353, 353), (data.load_simlex999, 999)])
def test_similarity_sets(loader, count):
    pairs = loader()
    assert len(pairs) == count
    scores = np.array([s for _, _, s in pairs])
    assert scores.min() >= 0 and scores.max() <= 10 and scores.std() > 1
    assert all(isinstance(a, str) and isinstance(b, str) and " " not in a + b for a, b, _ in pairs)


def test_similarity_file_with_a_bad_line_names_it(tmp_path, monkeypatch):
    bad = tmp_path / "ws.tsv"
    bad.write_text("# header\nlove\tsex\t6.77\ntiger cat 7.35\n")
    monkeypatch.setattr(loaders, "fetch", lambda name: bad)
    with pytest.raises(ValueError, match=r"ws.tsv:3: expected 3 fields"):
        data.load_wordsim353()


def test_sunspots_show_the_eleven_year_cycle():
    years, activity = data.load_sunspots()
    assert years.dtype == np.int64 and activity.dtype == np.float64 and years.shape == activity.shape
    assert years[0] == 1700 and np.all(np.diff(years) == 1) and years[-1] >= 2008
    assert activity.min() >= 0 and 100 < activity.max() < 300
    spectrum = np.abs(np.fft.rfft(activity - activity.mean()))
    period = len(activity) / np.argmax(spectrum)
    assert 10 <= period <= 12  # the solar cycle, which a forecaster should find


def test_seattle_weather_is_daily_and_consistent():
    table = data.load_seattle_weather()
    assert set(table) == {"date", "precipitation", "temp_max", "temp_min", "wind", "weather"}
    n = len(table["date"])
    assert n == 1_461 and all(len(v) == n for v in table.values())
    assert table["date"].dtype == np.dtype("datetime64[D]")
    assert table["date"][0] == np.datetime64("2012-01-01") and np.all(np.diff(table["date"]).astype(int) == 1)
    for column in ("precipitation", "temp_max", "temp_min", "wind"):
        assert table[column].dtype == np.float64
    assert np.all(table["temp_max"] >= table["temp_min"]) and np.all(table["precipitation"] >= 0)
    assert table["weather"].dtype.kind == "U"
    assert set(table["weather"]) == {"drizzle", "fog", "rain", "snow", "sun"}
