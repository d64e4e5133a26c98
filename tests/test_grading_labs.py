"""Every lab is a working assignment: the master scores full marks, the student version scores 0
and runs top to bottom without an error, and realistic wrong submissions score partially with the
right diagnosis in the grade's message. Labs are graded in the sandbox, as instructors grade them.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
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
    "lab02": [
        ("no_tanh_derivative", ("ds = params.W.T @ (ds * (1 - cache.s[j] ** 2))", "ds = params.W.T @ ds"),
         7, ["q1.1", "walk back from step k"]),
        ("clip_always", ("    if total > max_norm:\n        for g in grads:",
                         "    if True:\n        for g in grads:"),
         9, ["q2.2", "below max_norm the gradients stay"]),
        ("clip_per_tensor", ("g.mul_(max_norm / (total + 1e-6))",
                             "g.mul_(min(1.0, max_norm / (g.norm() + 1e-6)))"),
         8, ["q2.1", "one norm over all gradients together"]),
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
    "lab04": [
        ("noise_sign", ("F.logsigmoid(-neg).sum())\n", "F.logsigmoid(neg).sum())\n"),
         6, ["q1.1", "sigma(-u.v_n), not sigma(u.v_n)"]),
        ("log_of_sigmoid", ("F.logsigmoid(pos).sum() + F.logsigmoid(-neg).sum()",
                            "torch.log(torch.sigmoid(pos)).sum() + torch.log(torch.sigmoid(-neg)).sum()"),
         9, ["q1.2", "use F.logsigmoid"]),
        ("gradient_sign", ("err_pos = torch.sigmoid((u * v_pos).sum(-1)) - 1.0",
                           "err_pos = 1.0 - torch.sigmoid((u * v_pos).sum(-1))"),
         7, ["q2.1 grad_u", "q2.2 grad_v_pos: wrong value; the sign is flipped"]),
        ("no_normalisation", ("unit = unit / unit.norm(dim=1, keepdim=True)", "unit = unit"),
         8, ["q3.1", "cosine needs unit vectors"]),
        ("inputs_not_excluded", ("scores[[ia, ib, ic]] = -float(\"inf\")", "pass"),
         7, ["q3.1", "must be excluded", "q3.2"]),
    ],
    "lab05": [
        ("no_tanh", ("hidden = torch.tanh((query @ W_q.T).unsqueeze(1) + keys @ W_k.T + b_k)",
                     "hidden = (query @ W_q.T).unsqueeze(1) + keys @ W_k.T + b_k"),
         7, ["q1.1", "the tanh between the projections and v is missing"]),
        ("mask_after_softmax", ('weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)',
                                "weights = torch.softmax(scores, dim=-1) * mask"),
         8, ["q2.2", "masking after the softmax"]),
        ("step_log_prob_only", ("cand = beam_lp.unsqueeze(1) + torch.log_softmax(logits.double(), dim=-1)",
                                "cand = torch.log_softmax(logits.double(), dim=-1)"),
         6, ["q3.2", "total log-probability of the prefix"]),
        ("no_length_normalisation", ("finished.append((prefixes[origin], lp / t**length_penalty))",
                                     "finished.append((prefixes[origin], lp))"),
         8, ["q3.2", "ranked by log P / len ** length_penalty"]),
    ],
    "lab06": [
        ("nats_not_bits", ("return float(nats) / math.log(2)  # nats -> bits", "return float(nats)"),
         8, ["q1.1", "off by a constant factor of 0.693"]),
        ("targets_not_shifted", ("return ids[pos], ids[pos + 1]", "return ids[pos], ids[pos]"),
         2, ["q2.1 y", "q3.1 held-out", "above the 3 needed for half marks"]),
        ("too_little_training", ("STEPS, BATCH, SEQ = 400, 32, 64", "STEPS, BATCH, SEQ = 150, 32, 64"),
         7, ["q3.1 held-out", "half marks (full marks at 2.8 or below)"]),
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


def test_site_check_flags_a_solution_line_and_passes_student_pages(tmp_path: Path) -> None:
    site = tmp_path / "html"
    site.mkdir()
    for lab in assignments.all_labs():
        cells = assignments.student_notebook(assignments.read_master(lab))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells)
        (site / f"{lab.stem}.html").write_text(f"<pre>{html.escape(text)}</pre>", encoding="utf-8")
    assert assignments.site_leaks(site) == []
    line = assignments.secret_lines(assignments.read_master(assignments.lab_path("lab01")))[0]
    (site / "leak.html").write_text(f"<p><span>{html.escape(line)}</span></p>", encoding="utf-8")
    assert [found for _, found in assignments.site_leaks(site)] == [line]
    cli = subprocess.run([sys.executable, "-m", "course_lib.grading", "check-site", str(site)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert cli.returncode == 1 and "LEAK" in cli.stdout, cli.stdout


def test_otter_assign_accepts_a_master_and_strips_every_solution(tmp_path: Path) -> None:
    """Gradescope export: otter-grader's own `otter assign` reads our masters (tests not run here)."""
    lab = assignments.lab_path("lab01")
    cmd = [sys.executable, "-m", "otter", "assign", str(lab), str(tmp_path / "out"), "--no-run-tests"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    student = (tmp_path / "out" / "student" / lab.name).read_text(encoding="utf-8")
    secrets = assignments.secret_lines(assignments.read_master(lab))
    assert secrets and not [s for s in secrets if s in student]
    assert list((tmp_path / "out" / "autograder").glob("*.zip")), "no Gradescope autograder zip"
