"""Labs as graded assignments: read an otter-format master, build the student and autograder
versions, and grade submissions in the sandbox.

A master (``labs/labNN_*.ipynb``) uses otter-grader's notebook markers: a raw cell
``# ASSIGNMENT CONFIG`` (YAML: ``name`` and any of otter's settings; the sandbox's limits go in
the notebook metadata, ``{"course_lib": {"limits": {...}}}``), raw ``# BEGIN QUESTION`` cells (YAML:
``name``, ``points``) and ``# END QUESTION``, ``# BEGIN SOLUTION`` / ``# END SOLUTION`` inside code
cells, and raw ``# BEGIN TESTS`` / ``# END TESTS`` around a question's test cells. A test cell that
opens with a ``# BEGIN TEST CONFIG`` docstring saying ``hidden: true`` is a hidden test: it calls
``course_lib.grading.record`` on what the student's code computes. Every other test cell is a
public self-check that prints a hint. A hidden test whose config says ``metric: heldout_bpc`` (with
bars ``full`` and ``partial``) is not compared with the reference: the grader scores what it
recorded, a trained model, on the autograder's held-out text (``heldout.grade_metric``; lab 6).

- ``build_lab(master, out)`` writes ``out/student/`` (solutions replaced by otter's own
  ``replace_solutions``, hidden tests and outputs removed) and ``out/autograder/`` (the master, the
  hidden tests with their points, and the values the reference solution records in the sandbox).
- ``grade_submission(autograder, notebook)`` runs the submission with ``sandbox.run`` and scores
  it here, in the grader's own process, against the reference values.

Used by ``python -m course_lib.grading`` (see ``__main__``) and by the tests in tests/test_grading_*.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from otter.assign.solutions import replace_solutions

from course_lib.grading import diagnoses, hidden, sandbox

__all__ = ["Question", "Master", "Grade", "read_master", "student_notebook", "build_lab", "grade_submission"]

REPO = Path(__file__).resolve().parents[2]
LABS = REPO / "labs"
MAX_NOTEBOOK_BYTES = 20 * 2**20
MARKERS = {"# ASSIGNMENT CONFIG", "# BEGIN QUESTION", "# END QUESTION", "# BEGIN TESTS", "# END TESTS"}


@dataclass
class Question:
    name: str
    points: float
    hidden: list[dict]  # {"id", "code", "points", "failure_message", "diagnose"?}


@dataclass
class Master:
    name: str
    path: Path
    nb: dict
    questions: list[Question]
    limits: sandbox.Limits

    @property
    def max_score(self) -> float:
        return sum(q.points for q in self.questions)


@dataclass
class Grade:
    """One row of grades.csv: ``status`` is "graded" or why the run stopped; ``message`` says what failed."""

    submission: str
    score: float
    max_score: float
    status: str
    message: str


def _src(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _raw_marker(cell: dict) -> str | None:
    if cell["cell_type"] != "raw":
        return None
    first = _src(cell).lstrip().split("\n", 1)[0].strip()
    return first if first in MARKERS else None


def _yaml_body(cell: dict) -> dict:
    body = _src(cell).split("\n", 1)[1] if "\n" in _src(cell) else ""
    data = yaml.safe_load(body) or {}
    if not isinstance(data, dict):
        raise ValueError(f"expected YAML settings after {_src(cell).splitlines()[0]!r}")
    return data


def _test_config(code: str) -> tuple[dict, str]:
    """The YAML of a ``# BEGIN TEST CONFIG`` docstring at the top of a test cell, and the rest."""
    stripped = code.lstrip()
    if not stripped.startswith('""" # BEGIN TEST CONFIG'):
        return {}, code
    head, sep, rest = stripped.partition('""" # END TEST CONFIG')
    if not sep:
        raise ValueError("a test cell opens # BEGIN TEST CONFIG without closing it")
    return yaml.safe_load(head.split("\n", 1)[1]) or {}, rest.lstrip("\n")


def read_master(path: Path) -> Master:
    """Parse a master notebook and check its structure (questions, points, hidden tests)."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    config: dict | None = None
    questions: list[Question] = []
    current: Question | None = None
    in_tests = False
    for cell in nb["cells"]:
        marker = _raw_marker(cell)
        if marker == "# ASSIGNMENT CONFIG":
            config = _yaml_body(cell)
        elif marker == "# BEGIN QUESTION":
            q = _yaml_body(cell)
            if current is not None or "name" not in q or "points" not in q:
                raise ValueError(
                    f"{path.name}: BEGIN QUESTION needs name and points, outside another question"
                )
            current = Question(str(q["name"]), float(q["points"]), [])
        elif marker == "# END QUESTION":
            if current is None or not current.hidden:
                raise ValueError(f"{path.name}: END QUESTION without a question that has hidden tests")
            questions.append(current)
            current = None
        elif marker in ("# BEGIN TESTS", "# END TESTS"):
            in_tests = marker == "# BEGIN TESTS"
        elif cell["cell_type"] == "code" and in_tests:
            test, code = _test_config(_src(cell))
            if test.get("hidden"):
                if current is None:
                    raise ValueError(f"{path.name}: a hidden test outside a question")
                current.hidden.append({
                    "id": f"{current.name}.{len(current.hidden) + 1}", "code": code,
                    "points": test.get("points"), "failure_message": test.get("failure_message", ""),
                    "diagnose": test.get("diagnose"),
                    **{k: test[k] for k in ("metric", "full", "partial") if k in test},
                })  # fmt: skip
    if config is None or "name" not in config:
        raise ValueError(f"{path.name}: no raw '# ASSIGNMENT CONFIG' cell with a name")
    if not questions:
        raise ValueError(f"{path.name}: no questions")
    for q in questions:  # a question's points are shared by its hidden tests unless they say otherwise
        given = [t["points"] for t in q.hidden if t["points"] is not None]
        rest = [t for t in q.hidden if t["points"] is None]
        for t in rest:
            t["points"] = (q.points - sum(given)) / len(rest)
        if abs(sum(t["points"] for t in q.hidden) - q.points) > 1e-9:
            raise ValueError(f"{path.name}: the hidden tests of {q.name} do not add up to {q.points} points")
    # The limits live in the notebook's metadata: otter's config rejects keys it does not know.
    limits = sandbox.Limits(**nb.get("metadata", {}).get("course_lib", {}).get("limits", {}))
    return Master(str(config["name"]), Path(path), nb, questions, limits)


def _is_hidden_test(cell: dict) -> bool:
    return cell["cell_type"] == "code" and bool(_test_config(_src(cell))[0].get("hidden"))


def student_notebook(master: Master) -> dict:
    """What a student gets: no solutions, no hidden tests, no markers, no outputs."""
    nb = copy.deepcopy(master.nb)
    cells = []
    for cell in nb["cells"]:
        if _raw_marker(cell) is not None or _is_hidden_test(cell):
            continue
        cell = copy.deepcopy(cell)
        if cell["cell_type"] == "code":
            lines = _src(cell).split("\n")
            lines = [ln for ln in lines if ln.strip() != "# NBVAL_CHECK_OUTPUT"]
            cell["source"] = "\n".join(replace_solutions(lines, "python"))
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    nb["cells"] = cells
    nb["metadata"]["course_lib"] = {"assignment": master.name, "version": "student"}
    return nb


def _code_cells(nb: dict, drop_hidden: bool = True) -> list[str]:
    return [
        _src(c) for c in nb["cells"] if c["cell_type"] == "code" and not (drop_hidden and _is_hidden_test(c))
    ]


def _tests_payload(master: Master) -> list[dict]:
    return [{"id": t["id"], "code": t["code"]} for q in master.questions for t in q.hidden]


def _write_json(path: Path, data) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _protect(autograder: Path, extra: list[Path] = ()) -> tuple[list[Path], list[Path]]:
    """(forbidden, read-only) folders for a run: secrets hidden, the code everyone imports frozen."""
    keep = [
        Path(sys.prefix).resolve(),
        Path(__file__).resolve().parents[1],
        Path(tempfile.gettempdir()).resolve(),
    ]
    forbidden = [autograder.resolve(), *(p.resolve() for p in extra)]
    if (REPO / "labs").is_dir():
        forbidden += [REPO / "labs", REPO / "tests"]
    # A folder that holds the interpreter, course_lib or the sandboxes' temporary folders cannot be
    # hidden without breaking the run: keep secrets in their own folders (instructors.md says so).
    forbidden = sorted({p for p in forbidden if p.is_dir() and not any(k.is_relative_to(p) for k in keep)})
    readonly = [REPO, Path(sys.prefix).resolve()]
    if os.environ.get("COURSE_LIB_DATA"):
        readonly.append(Path(os.environ["COURSE_LIB_DATA"]).resolve())
    readonly = sorted({p for p in readonly if p.is_dir()})
    return forbidden, readonly


def build_lab(master_path: Path, out: Path, reference: bool = True, heldout: Path | None = None) -> Master:
    """Write ``out/student/<lab>.ipynb`` and ``out/autograder/`` (master, tests, reference values).

    A lab with a metric test (lab 6) also gets ``autograder/heldout.txt``: the text of ``heldout``,
    or ``heldout.default_heldout_text()`` (public) when none is given (written at the first grading
    when ``reference`` is False, so that building the student versions needs no data).
    """
    master = read_master(master_path)
    student_dir, auto = out / "student", out / "autograder"
    for d in (student_dir, auto):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    _write_json(student_dir / master_path.name, student_notebook(master))
    shutil.copy2(master_path, auto / master_path.name)
    tests = {
        "name": master.name, "master": master_path.name, "max_score": master.max_score,
        "limits": master.limits.__dict__,
        "questions": [{"name": q.name, "points": q.points, "tests": q.hidden} for q in master.questions],
    }  # fmt: skip
    _write_json(auto / "tests.json", tests)
    if any(t.get("metric") for q in master.questions for t in q.hidden) and (heldout or reference):
        from course_lib.grading import heldout as heldout_mod

        text = Path(heldout).read_text(encoding="utf-8") if heldout else heldout_mod.default_heldout_text()
        (auto / heldout_mod.HELDOUT_FILE).write_text(text, encoding="utf-8")
    if reference:
        make_reference(auto)
    return master


def make_reference(auto: Path, limits: sandbox.Limits | None = None) -> dict:
    """Run the master in the sandbox and keep what its hidden tests record: the grading key."""
    tests = json.loads((auto / "tests.json").read_text(encoding="utf-8"))
    master = read_master(auto / tests["master"])
    forbidden, readonly = _protect(auto)
    res = sandbox.run(_code_cells(master.nb), _tests_payload(master), limits or master.limits,
                      forbidden=[p for p in forbidden if p != auto.resolve()], readonly=readonly)  # fmt: skip
    problems = [f"cell {e['cell']}: {e['error']}" for e in res.cell_errors]
    problems += [f"{tid}: {t['error']}" for tid, t in res.tests.items() if "error" in t]
    for tid, t in res.tests.items():  # the master must agree with each hidden test's own expectation
        for label, got, want in t["records"]:
            if want is not None and not hidden.same(hidden.decode(got), hidden.decode(want)):
                problems.append(f"{tid}: {label!r} differs from its expected value")
    if res.status != "ok" or problems:
        raise RuntimeError(
            f"the reference solution of {master.name} failed ({res.status}: {res.detail}): {problems}"
        )
    keys = {k: [r[:2] for r in v["records"]] for k, v in res.tests.items()}
    for q in tests["questions"]:  # a metric test keeps the master's score on the held-out text, not its model
        for t in q["tests"]:
            if t.get("metric"):
                frac, why = _metric(t, res.tests.get(t["id"]), auto)
                if frac < 1.0:
                    problems.append(f"{t['id']}: the reference solution misses the full-marks bar: {why}")
                keys[t["id"]] = [["metric", why or "full marks"]]
    if problems:
        raise RuntimeError(f"the reference solution of {master.name} failed: {problems}")
    ref = {"name": master.name, "cpu_s": res.cpu_s, "wall_s": res.wall_s, "tests": keys}
    _write_json(auto / "reference.json", ref)
    return ref


def _compare(test: dict, want: list, got: dict | None) -> str | None:
    """None when the test passed, else what a student reads."""
    if got is None:
        return "did not run"
    records = got.get("records") if isinstance(got, dict) else None
    if not isinstance(records, list):
        return "returned nothing"
    hint = test.get("failure_message") or ""
    if isinstance(got.get("error"), str):
        return f"raised {got['error']}" + (f" ({hint})" if hint else "")
    for i, (label, data) in enumerate(want):
        item = records[i] if i < len(records) else None
        if not (isinstance(item, list) and len(item) >= 2 and item[0] == label):
            return f"{label}: not computed" + (f" ({hint})" if hint else "")
        try:
            mine = hidden.decode(item[1])
        except (KeyError, TypeError, ValueError) as err:
            return f"{label}: unreadable value ({type(err).__name__})"
        if not hidden.same(mine, hidden.decode(data)):
            why = diagnoses.explain(test.get("diagnose"), mine, hidden.decode(data))
            return f"{label}: wrong value" + (f"; {why}" if why else "") + (f" ({hint})" if hint else "")
    return None


def _metric(test: dict, got: dict | None, auto: Path) -> tuple[float, str | None]:
    """(fraction of the points, words or None) for a metric test, computed here from what was recorded."""
    from course_lib.grading import heldout

    records = got.get("records") if isinstance(got, dict) else None
    if isinstance(got, dict) and isinstance(got.get("error"), str):
        return 0.0, f"raised {got['error']}"
    if not (isinstance(records, list) and records and isinstance(records[0], list) and len(records[0]) >= 2):
        return 0.0, "nothing recorded: run the cell that packages the model"
    try:
        value = hidden.decode(records[0][1])
    except (KeyError, TypeError, ValueError) as err:
        return 0.0, f"unreadable value ({type(err).__name__})"
    return heldout.grade_metric(test, value, auto)


def grade_submission(
    auto: Path, notebook: Path, limits: sandbox.Limits | None = None, forbidden_extra: list[Path] = ()
) -> Grade:
    """Grade one notebook against ``auto`` (an autograder folder made by ``build_lab``)."""
    tests = json.loads((auto / "tests.json").read_text(encoding="utf-8"))
    if not (auto / "reference.json").exists():
        make_reference(auto)
    ref = json.loads((auto / "reference.json").read_text(encoding="utf-8"))["tests"]
    max_score = float(tests["max_score"])
    try:
        if notebook.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise ValueError(f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        cells = _code_cells(nb, drop_hidden=False)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        return Grade(str(notebook), 0.0, max_score, "unreadable", f"not a notebook: {err}")
    payload = [{"id": t["id"], "code": t["code"]} for q in tests["questions"] for t in q["tests"]]
    limits = limits or sandbox.Limits(**tests["limits"])
    forbidden, readonly = _protect(auto, [notebook.resolve().parent, *forbidden_extra])
    res = sandbox.run(cells, payload, limits, forbidden=forbidden, readonly=readonly)
    score, notes = 0.0, []
    for q in tests["questions"]:
        got_q = 0.0
        for t in q["tests"]:
            if t.get("metric") and res.status == "ok":
                frac, why = _metric(t, res.tests.get(t["id"]), auto)
                got_q += t["points"] * frac
                if why:
                    hint = t.get("failure_message")
                    notes.append(f"{t['id']} {why}" + (f" ({hint})" if hint else ""))
                continue
            problem = _compare(t, ref[t["id"]], res.tests.get(t["id"])) if res.status == "ok" else "not run"
            if problem is None:
                got_q += t["points"]
            elif res.status == "ok":
                notes.append(f"{t['id']} {problem}")
        score += got_q
    status = "graded" if res.status == "ok" else res.status
    head = [res.detail] if res.detail else []
    if res.denied:
        head.append("sandbox denied: " + ", ".join(dict.fromkeys(str(d) for d in res.denied))[:300])
    if res.cell_errors:
        head.append(
            "errors in " + "; ".join(f"cell {e.get('cell')}: {e.get('error')}" for e in res.cell_errors[:3])
        )
    message = " | ".join([*head, *notes]) or "all hidden tests passed"
    return Grade(str(notebook), round(score, 4), max_score, status, message[:2000])


def lab_path(name: str) -> Path:
    """A lab's master from its name (``lab01`` or ``lab01_rnn_bptt_numpy``) or a path."""
    p = Path(name)
    if p.suffix == ".ipynb" and p.exists():
        return p
    found = sorted(LABS.glob(f"{p.stem}*.ipynb"))
    if len(found) != 1:
        raise SystemExit(f"no single lab master matches {name!r} in {LABS} (found {[f.name for f in found]})")
    return found[0]


def all_labs() -> list[Path]:
    return sorted(p for p in LABS.glob("lab*.ipynb"))


def secret_lines(master: Master) -> list[str]:
    """Lines only the master holds: solution and hidden-test code, long enough not to occur by chance."""
    student = "\n".join(_src(c) for c in student_notebook(master)["cells"])
    found = []
    for cell in master.nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = _src(cell)
        inside = _is_hidden_test(cell)
        for line in src.splitlines():
            s = line.strip()
            if s.endswith("# BEGIN SOLUTION"):
                inside = True
            elif s.endswith("# END SOLUTION"):
                inside = _is_hidden_test(cell)
            elif (
                inside
                and len(s) >= 24
                and not s.startswith(("#", '"""', "from ", "import "))
                and s not in student
            ):
                found.append(s)
    return found


def site_leaks(html_dir: Path) -> list[tuple[str, str]]:
    """(page, line) for every solution or hidden-test line of any lab found in the built site."""
    import html as html_lib
    import re

    secrets = {line for lab in all_labs() for line in secret_lines(read_master(lab))}
    # A line that course_lib itself holds is public already (students install the library, and
    # chapters display its source): Lab 3's LSTM update is the library's. Only lab-only lines leak.
    library = Path(__file__).resolve().parents[1]
    public = {ln.split("#")[0].strip() for f in library.rglob("*.py")
              for ln in f.read_text(encoding="utf-8").splitlines()}  # fmt: skip
    secrets = {s for s in secrets if s.split("#")[0].strip() not in public}
    tag = re.compile(r"<[^>]+>")
    leaks = []
    for page in sorted(Path(html_dir).rglob("*.html")):
        text = html_lib.unescape(tag.sub("", page.read_text(encoding="utf-8", errors="replace")))
        text = "\n".join(" ".join(ln.split()) for ln in text.splitlines())
        leaks += [(str(page), s) for s in sorted(secrets) if " ".join(s.split()) in text]
    return leaks
