"""Word vectors and their evaluation: identical numbers to gensim, the word2vec format, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors, Word2Vec
from gensim.test.utils import datapath

from course_lib import data
from course_lib.embeddings import WordVectors, evaluate_analogies, evaluate_pairs

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("COURSE_LIB_DATA") or REPO.parent / "shared" / "data")
SMALL = ("nltk_inaugural", "nltk_state_union", "nltk_abc")
needs_mirror = pytest.mark.skipif(
    not all((MIRROR / n / data.info(n).files[0]).is_file() for n in SMALL),
    reason=f"no NLTK corpora in {MIRROR}",
)


@pytest.fixture(scope="module", autouse=True)
def offline_env(offline_mirror):
    """Every test of this module: a temporary cache, the mirror, no network."""


@pytest.fixture(scope="module")
def kv():
    """Real vectors trained by gensim on 1.2M tokens of news and speeches, plus upper-case duplicates.

    The capitalised copies come after their lower-case words, so both implementations must pick
    the lower-case (more frequent) row when they compare case-insensitively.
    """
    corpus = data.load_corpus(SMALL)
    model = Word2Vec(
        list(corpus.lines()), vector_size=32, window=5, min_count=5, sg=1, epochs=2, workers=1, seed=3
    )
    words = list(model.wv.index_to_key)
    vectors = model.wv.vectors.copy()
    extra = ["King", "France", "Paris"]
    rng = np.random.default_rng(0)
    out = KeyedVectors(32)
    out.add_vectors(words + extra, np.vstack([vectors, rng.normal(size=(3, 32)).astype(np.float32)]))
    return out


@pytest.fixture(scope="module")
def wv(kv):
    return WordVectors(kv.index_to_key, kv.vectors)


@needs_mirror
@pytest.mark.parametrize(
    ("loader", "filename"), [("load_wordsim353", "wordsim353.tsv"), ("load_simlex999", "simlex999.txt")]
)
def test_pair_scores_are_gensims(kv, wv, loader, filename):
    pearson, spearman, oov_percent = kv.evaluate_word_pairs(datapath(filename))
    pairs = getattr(data, loader)()
    mine = evaluate_pairs(wv, pairs)
    assert mine.spearman == spearman.statistic
    assert mine.pearson == pytest.approx(pearson.statistic, rel=1e-6)  # float32 sums: last bits differ
    assert mine.n_oov == round(oov_percent / 100 * len(pairs)) and mine.n_oov > 0
    assert mine.n_pairs + mine.n_oov == len(pairs)


@needs_mirror
def test_analogy_accuracy_is_gensims(kv, wv):
    score, sections = kv.evaluate_word_analogies(datapath("questions-words.txt"))
    mine = evaluate_analogies(wv, data.load_analogies())
    total = sections[-1]
    assert total["section"] == "Total accuracy"
    assert mine.n_correct == len(total["correct"]) > 20
    assert mine.n_questions == len(total["correct"]) + len(total["incorrect"])
    assert mine.accuracy == score
    assert mine.n_oov + mine.n_questions == 19_544 and mine.n_oov > 0
    for section in sections[:-1]:
        assert mine.sections[section["section"]] == (
            len(section["correct"]),
            len(section["correct"]) + len(section["incorrect"]),
        )


@needs_mirror
def test_3cosmul_and_3cosadd_answers_are_gensims(kv, wv):
    for a, b, c in [("man", "king", "woman"), ("france", "paris", "germany"), ("good", "better", "bad")]:
        theirs = [w for w, _ in kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=5)]
        assert [w for w, _ in wv.analogy(a, b, c, k=5, method="mul")] == theirs
        theirs = [w for w, _ in kv.most_similar(positive=[b, c], negative=[a], topn=5)]
        assert [w for w, _ in wv.analogy(a, b, c, k=5, method="add")] == theirs
    assert [w for w, _ in wv.neighbours("war", 5)] == [w for w, _ in kv.most_similar("war", topn=5)]
    assert wv.similarity("war", "peace") == pytest.approx(float(kv.similarity("war", "peace")), abs=1e-6)
    mul = evaluate_analogies(wv, data.load_analogies(), method="mul")
    add = evaluate_analogies(wv, data.load_analogies())
    assert mul.n_questions == add.n_questions and mul.n_correct != add.n_correct


def test_neighbours_and_analogies_on_planted_vectors():
    words = ["man", "woman", "king", "queen", "apple"]
    vectors = torch.tensor([[1.0, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [0, -1, 0.1]])
    wv = WordVectors(words, vectors)
    assert wv.analogy("man", "king", "woman")[0][0] == "queen"
    assert wv.analogy("man", "king", "woman", method="mul")[0][0] == "queen"
    assert [w for w, _ in wv.neighbours("man", 4)][-1] == "apple"
    assert wv.neighbours("man", 100)[0][0] != "man" and len(wv.neighbours("man", 100)) == 5
    assert wv.similarity("man", "man") == pytest.approx(1.0)


def test_unknown_words_and_bad_arguments_are_named():
    wv = WordVectors(["a", "b", "c", "d"], torch.eye(4))
    with pytest.raises(KeyError, match=r"'zebra' is not among the 4 words"):
        wv.neighbours("zebra")
    with pytest.raises(KeyError, match=r"'q' is not among the 4 words"):
        wv.analogy("a", "b", "q")
    with pytest.raises(ValueError, match="3CosAdd"):
        wv.analogy("a", "b", "c", method="sub")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k must be"):
        wv.neighbours("a", 0)
    with pytest.raises(ValueError, match=r"\(4, D\)"):
        WordVectors(["a", "b", "c", "d"], torch.zeros(3, 2))


def test_too_little_coverage_refuses_to_score():
    wv = WordVectors(["king", "queen", "man"], torch.eye(3))
    pairs = [("king", "queen", 8.0), ("king", "man", 5.0), ("man", "queen", 4.0), ("cat", "dog", 7.0)]
    with pytest.raises(ValueError, match=r"only 3 of 4 pairs \(75%\).*3 words.*at least 50"):
        evaluate_pairs(wv, pairs)
    assert evaluate_pairs(wv, pairs, min_pairs=3).n_oov == 1
    questions = {"royal": [("man", "king", "woman", "queen"), ("king", "man", "queen", "man")]}
    with pytest.raises(ValueError, match=r"only 1 of 2 questions \(50%\)"):
        evaluate_analogies(wv, questions)


@needs_mirror
def test_word2vec_text_format_round_trips_through_gensim(kv, wv, tmp_path):
    wv.save_word2vec(tmp_path / "ours.txt")
    theirs = KeyedVectors.load_word2vec_format(str(tmp_path / "ours.txt"))
    assert theirs.index_to_key == list(wv.words)
    np.testing.assert_allclose(theirs.vectors, wv.vectors.numpy(), rtol=1e-5, atol=1e-6)
    kv.save_word2vec_format(str(tmp_path / "gensim.txt"))
    back = WordVectors.load_word2vec(tmp_path / "gensim.txt")
    assert back.words == tuple(kv.index_to_key)
    np.testing.assert_array_equal(back.vectors.numpy(), kv.vectors)
    (tmp_path / "bad.txt").write_text("2 3\nword 1 2\n")
    with pytest.raises(ValueError, match="expected a word and 3 numbers"):
        WordVectors.load_word2vec(tmp_path / "bad.txt")
    with pytest.raises(ValueError, match="cannot hold the word"):
        WordVectors(["two words"], torch.zeros(1, 2)).save_word2vec(tmp_path / "x.txt")
    assert not (tmp_path / "x.txt").exists() and not list(tmp_path.glob(".*.part"))
