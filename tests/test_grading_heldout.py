"""Lab 6's metric: the grader rebuilds a recorded character LM and scores it on its own held-out
text (course_lib.grading.heldout); and the mistake catalogue of labs 4 and 5 (lab_cases) names the
mistake that reproduces a wrong value. All fast: tiny models, no sandbox."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib.grading import assignments, heldout, hidden, lab_cases
from course_lib.grading.diagnoses import explain
from course_lib.models import LanguageModel

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 3


def _recorded(model, config) -> dict:
    """A package as the grader's parent sees it: encoded in the sandbox, decoded outside."""
    return hidden.decode(json.loads(json.dumps(hidden.encode(heldout.package(model, config)))))


def test_unpacked_model_scores_like_the_original() -> None:
    torch.manual_seed(0)
    config = {"kind": "gru", "embed_size": 8, "hidden_size": 16}
    model = LanguageModel.build(len(heldout.VOCAB), **config)
    ids = heldout.encode(TEXT)
    want = heldout.stream_bits_per_char(model, ids, streams=4)
    got = heldout.stream_bits_per_char(heldout.unpack(_recorded(model, config)), ids, streams=4)
    assert math.isclose(got, want, rel_tol=1e-6)
    assert 5.0 < want < 7.0  # untrained: about log2(65) = 6.02 bits


def test_bits_per_char_is_the_mean_cross_entropy_in_bits() -> None:
    torch.manual_seed(1)
    model = LanguageModel.build(len(heldout.VOCAB), "lstm", embed_size=4, hidden_size=8)
    ids = heldout.encode(TEXT[:50])
    with torch.no_grad():
        logits, _ = model(ids[None])
    logp = torch.log_softmax(logits[0, :-1].double(), -1)
    by_hand = -float(logp[torch.arange(len(ids) - 1), ids[1:]].mean()) / math.log(2)
    assert math.isclose(heldout.bits_per_char(model, ids), by_hand, rel_tol=1e-9)


def test_characters_outside_the_alphabet_are_dropped() -> None:
    assert heldout.encode("aé€b").tolist() == [heldout.VOCAB.index("a"), heldout.VOCAB.index("b")]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["config"].update(kind="transformer"), "kind one of"),
        (lambda d: d["config"].update(hidden_size=2000), "parameters; the project allows"),
        (lambda d: d["state"].pop("head.bias"), "do not fit the config"),
        (lambda d: d["state"].update({"head.bias": np.full(len(heldout.VOCAB), np.nan)}), "not finite"),
        (lambda d: d.pop("state"), "record heldout.package"),
    ],
)
def test_unpack_refuses_what_it_cannot_trust(change, words: str) -> None:
    torch.manual_seed(0)
    config = {"kind": "rnn", "embed_size": 4, "hidden_size": 8}
    data = _recorded(LanguageModel.build(len(heldout.VOCAB), **config), config)
    change(data)
    with pytest.raises(ValueError, match=words):
        heldout.unpack(data)


def test_grade_metric_gives_full_half_or_no_marks(tmp_path: Path) -> None:
    (tmp_path / heldout.HELDOUT_FILE).write_text(TEXT, encoding="utf-8")
    torch.manual_seed(0)
    config = {"kind": "gru", "embed_size": 8, "hidden_size": 16}
    data = _recorded(LanguageModel.build(len(heldout.VOCAB), **config), config)
    bpc = heldout.heldout_bpc(data, TEXT)
    test = {"metric": "heldout_bpc", "full": bpc + 0.1, "partial": bpc + 0.2}
    assert heldout.grade_metric(test, data, tmp_path) == (1.0, None)
    frac, words = heldout.grade_metric({**test, "full": bpc - 0.1}, data, tmp_path)
    assert frac == 0.5 and "half marks" in words
    frac, words = heldout.grade_metric({**test, "full": bpc - 0.2, "partial": bpc - 0.1}, data, tmp_path)
    assert frac == 0.0 and f"{bpc:.3f}" in words
    frac, words = heldout.grade_metric(test, {"config": {}, "state": {}}, tmp_path)
    assert frac == 0.0 and "could not be evaluated" in words


def test_build_copies_the_instructors_heldout_text(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("Only the grader reads this.\n" * 20, encoding="utf-8")
    out = tmp_path / "lab"
    assignments.build_lab(assignments.lab_path("lab06"), out, reference=False, heldout=secret)
    assert (out / "autograder" / heldout.HELDOUT_FILE).read_text(encoding="utf-8") == secret.read_text()
    student = (out / "student" / "lab06_char_lm_project.ipynb").read_text(encoding="utf-8")
    assert "Only the grader" not in student and "metric: heldout_bpc" not in student
    tests = json.loads((out / "autograder" / "tests.json").read_text(encoding="utf-8"))
    metric = [t for q in tests["questions"] for t in q["tests"] if t.get("metric")]
    got = [(t["metric"], t["full"], t["partial"], t["points"]) for t in metric]
    assert got == [("heldout_bpc", 2.8, 3.0, 6)]


def test_cli_build_takes_heldout_and_needs_no_data_without_it(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("Hidden lines for the grader.\n" * 20, encoding="utf-8")
    for extra, want in ((["--heldout", str(secret)], True), ([], False)):
        out = tmp_path / f"out{len(extra)}"
        cmd = [sys.executable, "-m", "course_lib.grading", "build", "lab06", "--no-reference", "--out", out]
        done = subprocess.run(cmd + extra, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert (out / "lab06_char_lm_project" / "autograder" / heldout.HELDOUT_FILE).exists() == want


def test_beam_variant_without_mistakes_is_the_librarys_beam_search() -> None:
    for k in (1, 3, 4):
        mine, want = lab_cases.beam_variant(21, k), lab_cases.beam_reference(21, k)
        assert [t for t, _ in mine] == [t for t, _ in want]
        assert [s for _, s in mine] == pytest.approx([s for _, s in want], rel=1e-9)


@pytest.mark.parametrize(
    ("key", "wrong", "words"),
    [
        ("sgns_loss", lambda: lab_cases.sgns_reference(*lab_cases.sgns_case(7))[0] / 6, "averaged"),
        ("analogy", lambda: lab_cases._analogy_variant(*_question(11), k=5, exclude=False), "excluded"),
        ("attend", lambda: torch.softmax(lab_cases.attention_reference(lab_cases.attention_case(7))[0], -1),
         "weight 0"),
        ("beam_search", lambda: lab_cases.beam_variant(21, 3, normalise=False), "len ** length_penalty"),
    ],
)
def test_mistake_catalogue_names_the_mistake(key: str, wrong, words: str) -> None:
    got = hidden.decode(json.loads(json.dumps(hidden.encode(wrong()))))
    seed = {"sgns_loss": 7, "analogy": 11, "attend": 7, "beam_search": 21}[key]
    assert words in explain(f"{key}:{seed}", got, None)


def _question(seed: int):
    wv, q = lab_cases.analogy_case(seed)
    return (wv, *q)
