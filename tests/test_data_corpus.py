"""The chapter-4 corpus: six NLTK corpora read from the mirror, tokenised, cached atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from course_lib import data
from course_lib.data import corpus as corpus_mod

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("COURSE_LIB_DATA") or REPO.parent / "shared" / "data")
HAVE_MIRROR = all((MIRROR / name / data.info(name).files[0]).is_file() for name in data.GENERAL_ENGLISH)
needs_mirror = pytest.mark.skipif(not HAVE_MIRROR, reason=f"no NLTK corpora in the mirror {MIRROR}")


@pytest.fixture(scope="module", autouse=True)
def offline_env(offline_mirror):
    """Every test of this module: a temporary cache, the mirror, no network."""


@pytest.fixture(scope="module")
def general():
    return data.load_corpus()


def test_brown_tags_and_punctuation_are_dropped():
    line = "The/at Fulton/np-tl County's/nn$ ``/`` 3.5/cd ,/, over-all/jj ./."
    assert corpus_mod._line_tokens("nltk_brown", line) == ["the", "fulton", "county's", "3.5", "over", "all"]
    web = corpus_mod._line_tokens("nltk_webtext", "Hello, World -- it's 9 PM!")
    assert web == ["hello", "world", "it's", "9", "pm"]


@needs_mirror
def test_general_english_corpus_size_and_sources(general):
    assert len(general) == 3_798_872
    assert general.source_tokens == {
        "nltk_brown": 1_023_964, "nltk_movie_reviews": 1_310_158, "nltk_abc": 670_586,
        "nltk_state_union": 352_544, "nltk_webtext": 303_435, "nltk_inaugural": 138_185,
    }  # fmt: skip
    assert sum(general.source_tokens.values()) == len(general)
    assert general.vocab_size(1) == len(general.words) == 78_928
    assert general.words[:5] == ("the", "of", "and", "to", "a")


@needs_mirror
def test_ids_counts_and_lines_agree(general):
    assert general.ids.dtype == np.int32 and general.offsets[0] == 0 and general.offsets[-1] == len(general)
    np.testing.assert_array_equal(np.bincount(general.ids, minlength=len(general.words)), general.counts)
    assert np.all(np.diff(general.counts) <= 0), "words must be sorted by descending count"
    assert np.all(np.diff(general.offsets) > 0), "no empty lines"
    assert all(w == w.lower() and any(ch.isalnum() for ch in w) for w in general.words)
    lines = general.lines()
    # Brown's ca01 opens the corpus
    assert next(lines)[:6] == ["the", "fulton", "county", "grand", "jury", "said"]
    assert sum(1 for _ in lines) + 1 == general.n_lines


@needs_mirror
def test_cache_is_written_once_and_reloaded_equal(general):
    path = corpus_mod.corpus_cache_path()
    assert path.is_file() and path.parent == data.cache_dir() / "corpus"
    assert not list(path.parent.glob(".*.part")), "no temporary file may be left behind"
    again = data.load_corpus()
    assert again.words == general.words and again.source_tokens == general.source_tokens
    np.testing.assert_array_equal(again.ids, general.ids)
    np.testing.assert_array_equal(again.offsets, general.offsets)


@needs_mirror
def test_cache_key_depends_on_sources_and_a_damaged_cache_is_rebuilt():
    small = ("nltk_inaugural",)
    two = ("nltk_inaugural", "nltk_webtext")
    assert corpus_mod.corpus_cache_path(small) != corpus_mod.corpus_cache_path(two)
    fresh = data.load_corpus(small, use_cache=False)
    assert not corpus_mod.corpus_cache_path(small).exists(), "use_cache=False must not write"
    data.load_corpus(small)
    corpus_mod.corpus_cache_path(small).write_bytes(b"not an npz file")
    rebuilt = data.load_corpus(small)
    assert rebuilt.words == fresh.words and len(rebuilt) == len(fresh) == 138_185
    np.testing.assert_array_equal(np.load(corpus_mod.corpus_cache_path(small))["ids"], fresh.ids)


def test_bad_sources_are_refused():
    with pytest.raises(TypeError, match="sequence of dataset names"):
        data.load_corpus("nltk_brown")
    with pytest.raises(ValueError, match="at least one"):
        data.load_corpus(())
    with pytest.raises(ValueError, match="not one of NLTK's corpora"):
        data.load_corpus(("tinyshakespeare",))
    with pytest.raises(KeyError):
        data.load_corpus(("nltk_no_such_corpus",))


def test_a_corpus_neither_cached_nor_mirrored_gives_the_offline_error(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_LIB_DATA", str(tmp_path / "empty_mirror"))
    with pytest.raises(data.DataUnavailableError, match=r"inaugural\.zip.*\n(.*\n)*.*COURSE_LIB_OFFLINE=1"):
        data.load_corpus(("nltk_inaugural",))
