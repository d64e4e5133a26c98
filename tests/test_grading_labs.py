"""Every lab is a working assignment: the master scores full marks, the student version scores 0
and runs top to bottom without an error, and realistic wrong submissions score partially with the
right diagnosis in the grade's message. Labs are graded in the sandbox, as instructors grade them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_lib.grading import assignments

pytestmark = pytest.mark.slow

# lab -> [(name, (solution line, replacement), expected score, words the message must contain)]
WRONG = {
    "lab00": [
        ("no_sort", ("ordered = sorted(counts, key=lambda tok: -counts[tok])", "ordered = list(counts)"),
         8, ["q1.1", "most frequent first"]),
        ("unknown_raises",
         ("return [stoi.get(tok, unk) for tok in tokens]", "return [stoi[tok] for tok in tokens]"),
         9, ["q2.1", "raised KeyError"]),
        ("rows_transposed", ("rows = ids[: B * L].reshape(B, L)", "rows = ids[: B * L].reshape(L, B).T"),
         8, ["q5.1", "row b is the b-th contiguous slice"]),
    ],
}  # fmt: skip


def _edit(nb: dict, old: str, new: str) -> dict:
    nb = json.loads(json.dumps(nb))
    hits = 0
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if old in src and cell["cell_type"] == "code":
            cell["source"] = src.replace(old, new)
            hits += 1
    assert hits == 1, f"the solution line {old!r} has changed: update this test"
    return nb


@pytest.fixture(scope="module", params=sorted(WRONG))
def built(request, tmp_path_factory) -> dict:
    master = assignments.lab_path(request.param)
    out = tmp_path_factory.mktemp(request.param)
    assignments.build_lab(master, out / "lab")
    lab = out / "lab"
    student = lab / "student" / master.name
    return {"master": master, "auto": lab / "autograder", "student": student, "subs": out}


def test_master_scores_full_marks(built) -> None:
    g = assignments.grade_submission(built["auto"], built["master"])
    assert (g.status, g.score) == ("graded", g.max_score), g
    assert g.message == "all hidden tests passed"


def test_student_version_scores_zero_and_runs_without_errors(built) -> None:
    g = assignments.grade_submission(built["auto"], built["student"])
    assert (g.status, g.score) == ("graded", 0), g
    assert "errors in" not in g.message, g.message  # every self-check reports; none crashes


def test_student_version_has_no_solution_and_no_hidden_test(built) -> None:
    text = built["student"].read_text(encoding="utf-8")
    master = assignments.read_master(built["master"])
    assert "BEGIN SOLUTION" not in text and "hidden: true" not in text and "record(" not in text
    for q in master.questions:
        for t in q.hidden:
            assert t["code"].strip().splitlines()[-1] not in text
    for cell in json.loads(text)["cells"]:
        assert not cell.get("outputs")


@pytest.mark.parametrize("case", range(3))
def test_wrong_submission_scores_partially_with_its_diagnosis(built, case: int) -> None:
    lab = built["master"].stem[:5]
    name, (old, new), score, words = WRONG[lab][case]
    nb = _edit(json.loads(built["master"].read_text(encoding="utf-8")), old, new)
    path = built["subs"] / f"{name}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    g = assignments.grade_submission(built["auto"], path)
    assert (g.status, g.score) == ("graded", score), g
    for w in words:
        assert w in g.message, g.message


def test_hidden_tests_differ_from_the_public_self_checks(built) -> None:
    # A solution fitted to the self-checks must not pass the hidden tests by construction.
    nb = json.loads(built["master"].read_text(encoding="utf-8"))
    public = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    for q in assignments.read_master(built["master"]).questions:
        for t in q.hidden:
            call = [ln for ln in t["code"].splitlines() if ln.startswith("record(")][0]
            assert public.count(call) == 1, f"{t['id']} reuses a public input"


def test_every_master_parses_with_points_per_question() -> None:
    for path in assignments.all_labs():
        m = assignments.read_master(path)
        assert m.max_score > 0 and all(q.points > 0 and q.hidden for q in m.questions), path.name
        assert Path(path).name.startswith(m.name)
