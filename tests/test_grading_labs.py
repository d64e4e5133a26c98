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
    "lab01": [
        ("w_transposed", ("params.W @ prev + params.b)", "params.W.T @ prev + params.b)"),
         8, ["q1.1", "s_t = tanh(U[:, x_t] + W @ s_{t-1} + b)"]),
        ("no_path_back_in_time", ("ds_next = params.W.T @ da  # one step back in time", "ds_next = 0 * da"),
         7, ["q4.1 dU", "q4.2 dW", "q4.3 db"]),
        ("output_grad_sign", ("d = p.copy()\n    d[np.arange(len(targets)), targets] -= 1.0",
                              "d = -p.copy()\n    d[np.arange(len(targets)), targets] += 1.0"),
         4, ["q3.1", "the sign is flipped"]),
        ("one_sided_difference", ("grad[i] = (up - down) / (2 * eps)", "grad[i] = (up - f(x)) / eps"),
         8, ["q2.1", "centred differences"]),
    ],
    "lab03": [
        ("gate_order", ("i, f, g, o = gates.chunk(4, dim=1)", "i, g, f, o = gates.chunk(4, dim=1)"),
         6, ["q1.1", "read in the order (i, g, f, o)"]),
        ("gru_reset_before", ("n = torch.tanh(i_n + r * h_n)",
                              "H2 = 2 * self.hidden_size\n"
                              "        W_hn, b_hn = self.weight_hh[H2:], self.bias_hh[H2:]\n"
                              "        n = torch.tanh(i_n + (r * h) @ W_hn.T + b_hn)"),
         6, ["q2.1", "the reset gate is applied before the hidden matmul"]),
        ("no_tanh_on_c", ("h = torch.sigmoid(o) * torch.tanh(c)", "h = torch.sigmoid(o) * c"),
         6, ["q1.1", "the tanh on the cell state is missing"]),
        ("outputs_c", ("outputs.append(state[0])", "outputs.append(state[1])"),
         8, ["q3.1", "output[:, t] is h_t"]),
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


_BUILT: dict[str, dict] = {}


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """Build a lab once per module (the reference run is the costly part) and hand out its paths."""

    def get(lab: str) -> dict:
        if lab not in _BUILT:
            master = assignments.lab_path(lab)
            out = tmp_path_factory.mktemp(lab)
            assignments.build_lab(master, out / "lab")
            student = out / "lab" / "student" / master.name
            auto = out / "lab" / "autograder"
            _BUILT[lab] = {"master": master, "auto": auto, "student": student, "subs": out}
        return _BUILT[lab]

    yield get
    _BUILT.clear()


@pytest.fixture(params=sorted(WRONG))
def built(request, build) -> dict:
    return build(request.param)


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


@pytest.mark.parametrize(
    ("lab", "case"), [(lab, i) for lab in sorted(WRONG) for i in range(len(WRONG[lab]))], ids=lambda v: str(v)
)
def test_wrong_submission_scores_partially_with_its_diagnosis(build, lab: str, case: int) -> None:
    built = build(lab)
    name, (old, new), score, words = WRONG[lab][case]
    nb = _edit(json.loads(built["master"].read_text(encoding="utf-8")), old, new)
    path = built["subs"] / f"{name}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    g = assignments.grade_submission(built["auto"], path)
    assert (g.status, g.score) == ("graded", score), g
    for w in words:
        assert w in g.message, g.message


def test_every_master_parses_with_points_per_question() -> None:
    for path in assignments.all_labs():
        m = assignments.read_master(path)
        assert m.max_score > 0 and all(q.points > 0 and q.hidden for q in m.questions), path.name
        assert Path(path).name.startswith(m.name)
