"""Tests for course_lib.data.text: tokenizers, Vocab, deterministic splits."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from course_lib import data
from course_lib.data.text import Vocab, char_tokenize, split_by_position, split_indices, word_tokenize

SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]


def _shakespeare_path() -> Path:
    root = os.environ.get("COURSE_LIB_DATA") or str(Path(__file__).resolve().parents[2] / "shared" / "data")
    return Path(root) / "tinyshakespeare" / "input.txt"


# --- tokenizers ----------------------------------------------------------------------------------
def test_char_tokenize_round_trips_and_keeps_whitespace():
    text = "To be,\nor not\tto be."
    tokens = char_tokenize(text)
    assert tokens[:3] == ["T", "o", " "] and "\n" in tokens and "\t" in tokens
    assert "".join(tokens) == text


def test_word_tokenize_splits_words_numbers_and_punctuation():
    text = "Don't stop: 'tis 3.14, mp3 and 1,000 dogs' bones!"
    assert word_tokenize(text) == [
        "don't", "stop", ":", "'", "tis", "3.14", ",", "mp", "3", "and",
        "1", ",", "000", "dogs", "'", "bones", "!",
    ]  # fmt: skip
    assert word_tokenize("The THE the") == ["the", "the", "the"]
    assert word_tokenize("The cat", lower=False) == ["The", "cat"]
    assert word_tokenize("Été à Köln—ok") == ["été", "à", "köln", "—", "ok"]
    assert word_tokenize("  \n ") == []


@pytest.mark.parametrize("fn", [char_tokenize, word_tokenize])
def test_tokenizers_reject_non_strings(fn):
    with pytest.raises(TypeError, match="str"):
        fn(["a", "b"])


# --- Vocab ---------------------------------------------------------------------------------------
def test_build_puts_specials_first_then_by_frequency_ties_by_first_appearance():
    tokens = ["b", "a", "c", "a", "d", "c", "a"]  # a:3, c:2, b:1 (before d), d:1
    vocab = Vocab.build(tokens)
    assert list(vocab.itos) == [*SPECIALS, "a", "c", "b", "d"]
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2, 3)
    assert len(vocab) == 8 and vocab["c"] == 5 and vocab.stoi["d"] == 7
    assert Vocab.build(tokens) == vocab  # deterministic


def test_build_accepts_token_lists_same_as_flat_stream():
    sentences = [["the", "cat"], ["the", "dog", "the"]]
    flat = [t for s in sentences for t in s]
    assert Vocab.build(sentences) == Vocab.build(flat)
    assert Vocab.build(sentences).itos[4] == "the"


def test_min_freq_and_max_size():
    tokens = list("aaaabbbccd")
    assert list(Vocab.build(tokens, min_freq=2).itos[4:]) == ["a", "b", "c"]
    capped = Vocab.build(tokens, max_size=6)
    assert len(capped) == 6 and list(capped.itos[4:]) == ["a", "b"]
    assert capped["d"] == capped.unk_id
    assert list(Vocab.build(tokens, max_size=2, specials=False).itos) == ["a", "b"]


def test_unknown_token_maps_to_unk_with_specials():
    vocab = Vocab.build(["x", "y"])
    assert vocab["never-seen"] == vocab.unk_id == 1
    assert "never-seen" not in vocab and "x" in vocab
    assert vocab.encode(["x", "zzz", "y"]) == [4, 1, 5]
    with pytest.raises(TypeError, match="str token"):
        vocab[4]  # an id is not a token: never silently <unk>


def test_vocab_without_specials_raises_key_error_naming_the_token():
    vocab = Vocab.build(list("abca"), specials=False)
    assert list(vocab.itos) == ["a", "b", "c"] and vocab["a"] == 0
    with pytest.raises(KeyError, match="'q'"):
        vocab["q"]
    with pytest.raises(KeyError, match="<pad>"):
        _ = vocab.pad_id
    with pytest.raises(KeyError, match="<eos>"):
        vocab.encode(["a"], eos=True)


def test_special_met_in_corpus_keeps_its_reserved_id():
    vocab = Vocab.build(["hi", "<eos>", "there", "<eos>", "<eos>"])
    assert vocab["<eos>"] == 3 and len(vocab) == 6 and vocab.itos.count("<eos>") == 1


def test_encode_decode_round_trip_list_and_tensor():
    tokens = word_tokenize("the cat sat on the mat .")
    vocab = Vocab.build(tokens)
    ids = vocab.encode(tokens)
    assert vocab.decode(ids) == tokens
    assert vocab.decode(torch.tensor(ids)) == tokens
    assert vocab.decode(torch.tensor(ids, dtype=torch.int32)) == tokens
    wrapped = vocab.encode(tokens, bos=True, eos=True)
    assert wrapped[0] == vocab.bos_id and wrapped[-1] == vocab.eos_id and wrapped[1:-1] == ids


def test_encode_and_build_reject_a_raw_string():
    with pytest.raises(TypeError, match="tokenize"):
        Vocab.build("hello world")
    vocab = Vocab.build(["hello"])
    with pytest.raises(TypeError, match="tokenize"):
        vocab.encode("hello")
    with pytest.raises(TypeError, match="int"):
        Vocab.build([["a", 3]])


def test_decode_rejects_bad_ids():
    vocab = Vocab.build(list("abc"))
    with pytest.raises(ValueError, match="out of range"):
        vocab.decode([0, 7])
    with pytest.raises(ValueError, match="out of range"):
        vocab.decode([-1])
    with pytest.raises(ValueError, match="1-D integer"):
        vocab.decode(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="1-D integer"):
        vocab.decode(torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="integer ids"):
        vocab.decode([1.0])


def test_to_dict_from_dict_round_trips_through_json():
    for specials in (True, False):
        vocab = Vocab.build(word_tokenize("a b b c c c"), specials=specials)
        restored = Vocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
        assert restored == vocab and restored.itos == vocab.itos and restored.specials == specials
    with pytest.raises(KeyError, match="itos"):
        Vocab.from_dict({"tokens": []})


def test_constructor_validates():
    with pytest.raises(ValueError, match="unique"):
        Vocab(["a", "b", "a"], specials=False)
    with pytest.raises(ValueError, match="start with"):
        Vocab(["a", "<pad>"], specials=True)
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build(["a"], min_freq=0)
    with pytest.raises(ValueError, match="max_size"):
        Vocab.build(["a"], max_size=3)  # smaller than the 4 specials


def test_stoi_is_read_only():
    vocab = Vocab.build(["a"])
    with pytest.raises(TypeError):
        vocab.stoi["b"] = 9  # type: ignore[index]


def test_tiny_shakespeare_char_vocab_built_on_train_split():
    path = _shakespeare_path()
    if not path.exists():
        pytest.skip(f"local data mirror not found at {path}")
    text = path.read_text(encoding="utf-8")
    full = Vocab.build(char_tokenize(text), specials=False)
    assert len(full) == 65  # the mirror's README: 65 distinct characters
    train, valid, test = split_by_position(text)
    vocab = Vocab.build(char_tokenize(train))
    assert set(vocab.itos[4:]) <= set(full.itos)
    ids = vocab.encode(char_tokenize(valid))
    unknown = sum(i == vocab.unk_id for i in ids)
    assert unknown == sum(c not in vocab for c in valid)  # only unseen characters become <unk>
    assert "".join(full.decode(full.encode(char_tokenize(test)))) == test


# --- splits --------------------------------------------------------------------------------------
@pytest.mark.parametrize("seq", [list(range(103)), "abcdefghij" * 10, torch.arange(50)])
def test_split_by_position_is_contiguous_in_order_and_covering(seq):
    parts = split_by_position(seq, (0.8, 0.1, 0.1))
    n = len(seq)
    assert [len(p) for p in parts] == [int(0.8 * n), int(0.9 * n) - int(0.8 * n), n - int(0.9 * n)]
    if isinstance(seq, torch.Tensor):
        assert torch.equal(torch.cat(parts), seq)
    else:
        assert parts[0] + parts[1] + parts[2] == seq
        assert type(parts[0]) is type(seq)


def test_split_by_position_floors_cumulative_fractions_robustly():
    assert [len(p) for p in split_by_position(list(range(100)), (0.29, 0.71))] == [29, 71]
    assert [len(p) for p in split_by_position(list(range(10)), (0.5, 0.5))] == [5, 5]


@pytest.mark.parametrize(
    "fractions, match",
    [((0.8, 0.1), "sum to 1"), ((1.2, -0.2), r"\(0, 1\]"), ((), "non-empty"), ((0.5, 0.0, 0.5), r"\(0, 1\]")],
)
def test_split_fractions_are_validated(fractions, match):
    with pytest.raises(ValueError, match=match):
        split_by_position(list(range(10)), fractions)
    with pytest.raises(ValueError, match=match):
        split_indices(10, fractions, seed=0)


def test_split_rejects_too_short_input():
    with pytest.raises(ValueError, match="too few"):
        split_by_position([1, 2], (0.8, 0.1, 0.1))
    with pytest.raises(TypeError, match="sliceable"):
        split_by_position(iter(range(10)))


def test_split_indices_deterministic_disjoint_covering():
    parts = split_indices(101, (0.7, 0.2, 0.1), seed=3)
    assert [len(p) for p in parts] == [70, 20, 11]
    assert sorted(i for p in parts for i in p) == list(range(101))
    assert all(p == sorted(p) for p in parts)
    assert split_indices(101, (0.7, 0.2, 0.1), seed=3) == parts
    assert split_indices(101, (0.7, 0.2, 0.1), seed=4) != parts
    assert parts[0] != list(range(70))  # actually shuffled, not a positional cut


def test_split_indices_validates_n_and_seed():
    with pytest.raises(ValueError, match="n must"):
        split_indices(0)
    with pytest.raises(ValueError, match="seed"):
        split_indices(10, seed=-1)


def test_public_names_resolve_from_the_package():
    assert data.Vocab is Vocab and data.split_indices is split_indices
    assert data.word_tokenize is word_tokenize
