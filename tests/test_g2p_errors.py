"""course_lib.data.g2p's error analysis: edit alignments and the profile of a G2P model's mistakes."""

from __future__ import annotations

import random

import pytest

from course_lib import data, metrics
from course_lib.data import g2p


def test_alignment_costs_the_edit_distance_and_spells_both_sequences():
    rng = random.Random(0)
    symbols = ["AH", "K", "T", "IY", "S"]
    for _ in range(300):
        ref = [rng.choice(symbols) for _ in range(rng.randint(0, 8))]
        hyp = [rng.choice(symbols) for _ in range(rng.randint(0, 8))]
        pairs = data.align(ref, hyp)
        assert [r for r, _ in pairs if r is not None] == ref
        assert [h for _, h in pairs if h is not None] == hyp
        assert sum(r != h for r, h in pairs) == metrics.edit_distance(ref, hyp)
        assert all(r is not None or h is not None for r, h in pairs)


def test_alignment_prefers_a_substitution_and_places_insertions_and_deletions():
    assert data.align(["K", "AE", "T"], ["K", "EH", "T"]) == [("K", "K"), ("AE", "EH"), ("T", "T")]
    assert data.align(["K", "AE", "T"], ["K", "T"]) == [("K", "K"), ("AE", None), ("T", "T")]
    assert data.align(["S", "IY"], ["S", "IY", "Z"]) == [("S", "S"), ("IY", "IY"), (None, "Z")]
    assert data.align([], ["AH"]) == [(None, "AH")] and data.align([], []) == []


REFERENCES = {
    "cat": [("K", "AE", "T")],  # right
    "read": [("R", "IY", "D"), ("R", "EH", "D")],  # right (second reference)
    "bead": [("B", "IY", "D")],  # vowel for vowel: IY -> EH
    "tough": [("T", "AH", "F")],  # consonant for consonant: F -> G, and a vowel for a vowel: AH -> OW
    "knight": [("N", "AY", "T")],  # inserted K: one edit
    "queue": [("K", "Y", "UW")],  # deleted Y: one edit
    "abbreviation": [("AH", "B", "R", "IY", "V", "IY", "EY", "SH", "AH", "N")],  # right, 12 letters
}
PREDICTIONS = {
    "cat": ["K", "AE", "T"], "read": ["R", "EH", "D"], "bead": ["B", "EH", "D"], "tough": ["T", "OW", "G"],
    "knight": ["K", "N", "AY", "T"], "queue": ["K", "UW"],
    "abbreviation": ["AH", "B", "R", "IY", "V", "IY", "EY", "SH", "AH", "N"],
}


def test_error_profile_counts_what_the_wrong_words_share():
    profile = data.error_profile(PREDICTIONS, REFERENCES)
    assert (profile.words, profile.wrong) == (7, 4)
    assert profile.off_by_one == pytest.approx(3 / 4)  # tough has two edits
    assert (profile.substitutions, profile.insertions, profile.deletions) == (3, 1, 1)
    assert profile.vowel_for_vowel == pytest.approx(2 / 3)  # IY->EH, AH->OW, not F->G
    assert sorted(profile.confusions) == [("AH", "OW", 1), ("F", "G", 1), ("IY", "EH", 1)]
    assert profile.wer_by_length == {"3-5": pytest.approx(3 / 5), "6-9": 1.0, "10-14": 0.0}
    # Its WER agrees with score_g2p's.
    assert profile.wrong / profile.words == pytest.approx(data.score_g2p(PREDICTIONS, REFERENCES).wer)
    as_dict = profile.as_dict(top=2)
    assert len(as_dict["confusions"]) == 2 and as_dict["wrong"] == 4


def test_error_profile_of_perfect_predictions_and_bad_input():
    perfect = {w: list(prons[0]) for w, prons in REFERENCES.items()}
    profile = data.error_profile(perfect, REFERENCES)
    assert profile.wrong == 0 and profile.off_by_one == 0.0 and profile.confusions == []
    with pytest.raises(ValueError, match="no prediction"):
        data.error_profile({"cat": ["K", "AE", "T"]}, REFERENCES)
    assert g2p.VOWELS >= {"AA", "IY", "ER"} and "K" not in g2p.VOWELS and len(g2p.VOWELS) == 15
