"""The grader's threat model, one test per attack: each hostile submission scores 0, gets a clear
status, and leaves the grader, the other submissions and the files on disk unharmed.

Every attack is Lab 0's student notebook (nothing solved) with one hostile cell put first, graded
by ``assignments.grade_submission`` exactly as ``python -m course_lib.grading grade`` does, with
short limits so that the whole file stays within a few CPU-seconds per case.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import course_lib.grading.hidden
from course_lib.grading import assignments, sandbox

pytestmark = pytest.mark.slow
LAB = assignments.lab_path("lab00")
FAST = sandbox.Limits(wall_s=60, cpu_s=20, memory_mb=2048)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("assignments") / LAB.stem
    assignments.build_lab(LAB, out)
    student = json.loads((out / "student" / LAB.name).read_text(encoding="utf-8"))
    return {"auto": out / "autograder", "student": student, "subs": tmp_path_factory.mktemp("subs")}


def _grade(lab: dict, attack: str, name: str, limits: sandbox.Limits = FAST, solved: bool = False):
    nb = json.loads(LAB.read_text(encoding="utf-8")) if solved else json.loads(json.dumps(lab["student"]))
    cell = {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": attack}
    nb["cells"].insert(0, cell)
    path = lab["subs"] / f"{name}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return assignments.grade_submission(lab["auto"], path, limits)


def test_infinite_loop_is_killed_at_the_cpu_limit(lab) -> None:
    g = _grade(lab, "while True:\n    pass\n", "busy", sandbox.Limits(wall_s=60, cpu_s=4, memory_mb=2048))
    assert (g.score, g.status) == (0, "cpu_limit"), g
    assert "CPU-time limit" in g.message


def test_sleeping_forever_is_killed_at_the_wall_clock_limit(lab) -> None:
    g = _grade(lab, "import time\ntime.sleep(10**6)\n", "sleep", sandbox.Limits(wall_s=25, cpu_s=20))
    assert (g.score, g.status) == (0, "timeout"), g
    assert "wall-clock" in g.message


def test_reading_the_hidden_tests_from_stdin_early_only_hangs_until_the_wall_clock_limit(lab) -> None:
    attack = "import sys\nstolen = sys.stdin.readline()\n"
    g = _grade(lab, attack, "stdin", sandbox.Limits(wall_s=25, cpu_s=20))
    assert (g.score, g.status) == (0, "timeout"), g


def test_memory_bomb_hits_the_memory_limit(lab) -> None:
    g = _grade(lab, "hog = [bytearray(2**28) for _ in range(64)]\n", "memory")
    assert (g.score, g.status) == (0, "memory_limit"), g


def test_fork_bomb_is_denied(lab) -> None:
    g = _grade(lab, "import os\nwhile True:\n    os.fork()\n", "fork")
    assert (g.score, g.status) == (0, "graded"), g
    assert "sandbox denied: os.fork" in g.message


def test_shell_fork_bomb_through_subprocess_is_denied(lab) -> None:
    g = _grade(lab, "import subprocess\nsubprocess.run(['sh', '-c', ':(){ :|:& };:'])\n", "shellfork")
    assert (g.score, g.status) == (0, "graded"), g
    assert "subprocess.Popen" in g.message


def test_os_exit_at_the_top_scores_zero(lab) -> None:
    g = _grade(lab, "import os\nos._exit(0)\n", "os_exit")
    assert (g.score, g.status) == (0, "exited"), g


def test_sys_exit_at_the_top_does_not_stop_grading_and_scores_zero(lab) -> None:
    g = _grade(lab, "import sys\nsys.exit(0)\n", "sys_exit")
    assert (g.score, g.status) == (0, "graded"), g
    assert "cell 1: SystemExit" in g.message


def test_sys_exit_before_a_correct_solution_still_gets_its_marks(lab) -> None:
    # The exit is caught per cell, so the marks come from the code, not from how the run ended.
    g = _grade(lab, "import sys\nsys.exit(0)\n", "sys_exit_solved", solved=True)
    assert (g.score, g.status) == (10, "graded"), g


def test_segfault_kills_only_the_submission(lab) -> None:
    g = _grade(lab, "import faulthandler\nfaulthandler._sigsegv()\n", "segv")
    assert (g.score, g.status) == (0, "crashed"), g
    assert "SIGSEGV" in g.message


def test_ctypes_null_pointer_read_is_denied(lab) -> None:
    g = _grade(lab, "import ctypes\nctypes.string_at(0)\n", "ctypes")
    assert (g.score, g.status) == (0, "graded"), g
    assert "ctypes" in g.message


def test_fake_results_on_stdout_in_a_file_and_on_the_result_pipe_are_ignored(lab) -> None:
    fake = json.dumps({"tests": {"q1.1": {"records": []}}, "score": 10, "max_score": 10})
    attack = (
        "import os, sys\n"
        f"print('READY'); print({fake!r})\n"
        f"open('results.json', 'w').write({fake!r})\n"
        f"open('grades.csv', 'w').write('submission,score\\nme,10\\n')\n"
        f"os.write(int(sys.argv[1]), ('READY\\n' + {fake!r} + '\\n').encode())\n"
    )
    g = _grade(lab, attack, "fake_results")
    assert g.score == 0, g
    assert g.status in ("graded", "exited"), g


@pytest.mark.parametrize(
    "target",
    [
        "torch.allclose = lambda *a, **k: True",
        "torch.equal = lambda *a, **k: True",
        "torch.testing.assert_close = lambda *a, **k: None",
        "numpy.allclose = lambda *a, **k: True",
        "numpy.testing.assert_allclose = lambda *a, **k: None",
        "unittest.TestCase.assertEqual = lambda *a, **k: None",
        "course_lib.grading.hidden.same = lambda *a, **k: True",
        "course_lib.grading.hidden.record = lambda *a, **k: None",
        "course_lib.grading.check_lstm_cell = lambda *a, **k: None",
    ],
)
def test_monkeypatching_comparisons_or_the_grader_scores_zero(lab, target: str) -> None:
    attack = f"import torch, numpy, numpy.testing, unittest, course_lib.grading\n{target}\n"
    g = _grade(lab, attack, "patch_" + target.split(" ")[0].replace(".", "_"))
    assert (g.score, g.status) == (0, "graded"), g


def test_replacing_builtins_scores_zero(lab) -> None:
    attack = "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.len = lambda *a: 0\n"
    g = _grade(lab, attack, "builtins", sandbox.Limits(wall_s=60, cpu_s=8, memory_mb=2048))
    assert g.score == 0, g
    assert g.status in ("graded", "exited", "crashed", "cpu_limit"), g  # whatever broke, it was caught


def test_reading_the_autograder_folder_is_denied(lab) -> None:
    secret = lab["auto"] / "reference.json"
    attack = f"import os\nprint(os.listdir({str(lab['auto'])!r}))\nkey = open({str(secret)!r}).read()\n"
    g = _grade(lab, attack, "read_autograder")
    assert (g.score, g.status) == (0, "graded"), g
    assert "sandbox denied" in g.message and "autograder" in g.message


def test_copying_the_reference_answers_from_the_autograder_scores_zero(lab) -> None:
    # The strongest version: read the key, then replay its values when the hidden tests run.
    secret = lab["auto"] / "reference.json"
    attack = (
        "import json, course_lib.grading, course_lib.grading.hidden as h\n"
        f"try:\n    key = json.load(open({str(secret)!r}))['tests']\nexcept Exception:\n    key = {{}}\n"
        "real = h.record\n"
        "def replay(label, got, expected=None, **kw):\n"
        "    for recs in key.values():\n"
        "        for name, data in recs:\n"
        "            if name == label:\n"
        "                got = h.decode(data)\n"
        "    real(label, got, expected, **kw)\n"
        "h.record = course_lib.grading.record = replay\n"
    )
    g = _grade(lab, attack, "replay")
    assert g.score == 0, g


def test_deleting_or_editing_course_lib_and_the_tests_is_denied(lab) -> None:
    target = Path(course_lib.grading.hidden.__file__)
    this_test = Path(__file__)
    before = target.read_bytes(), this_test.read_bytes()
    attack = (
        "import os, shutil, course_lib.grading.hidden as h\n"
        "for step in (lambda: open(h.__file__, 'a').write('\\nsame = lambda *a, **k: True\\n'),\n"
        "             lambda: os.remove(h.__file__),\n"
        f"             lambda: shutil.rmtree({str(this_test.parent)!r}),\n"
        f"             lambda: os.rename({str(this_test)!r}, 'stolen.py')):\n"
        "    try:\n        step()\n    except Exception as err:\n        print(err)\n"
    )
    g = _grade(lab, attack, "edit_disk")
    assert (g.score, g.status) == (0, "graded"), g
    assert "sandbox denied" in g.message
    assert (target.read_bytes(), this_test.read_bytes()) == before


def test_network_connections_are_denied(lab) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    attack = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3).sendall(b'leak')\n"
    got: list = []

    def accept() -> None:
        try:
            got.append(server.accept())
        except OSError:
            pass

    t = threading.Thread(target=accept)
    t.start()
    try:
        g = _grade(lab, attack, "network")
    finally:
        t.join()
        server.close()
    assert not got, "the submission reached a socket of the grader's machine"
    assert (g.score, g.status) == (0, "graded"), g
    assert "socket" in g.message


def test_one_crash_never_affects_the_next_submission_and_rows_resume(lab, tmp_path) -> None:
    """The command line: a crash, a good notebook, a non-notebook; then a rerun grades nothing twice."""
    subs = tmp_path / "subs"
    subs.mkdir()
    crash = json.loads(json.dumps(lab["student"]))
    crash["cells"].insert(0, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                              "source": "import faulthandler\nfaulthandler._sigsegv()\n"})  # fmt: skip
    (subs / "a_crash.ipynb").write_text(json.dumps(crash), encoding="utf-8")
    (subs / "b_master.ipynb").write_bytes(LAB.read_bytes())
    (subs / "c_garbage.ipynb").write_text("{not json", encoding="utf-8")
    out = tmp_path / "grades" / "grades.csv"
    out.parent.mkdir()
    files = [str(p) for p in sorted(subs.iterdir())]
    cmd = [sys.executable, "-m", "course_lib.grading", "grade", "lab00", *files, "--out", str(out),
           "--assignments", str(lab["auto"].parents[1]), "--wall-s", "60", "--cpu-s", "20"]  # fmt: skip
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    rows = out.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "submission,score,max_score,status,message"
    by_name = {r.split(",")[0]: r.split(",") for r in rows[1:]}
    assert by_name[files[0]][1:4] == ["0", "10", "crashed"]
    assert by_name[files[1]][1:4] == ["10", "10", "graded"]
    assert by_name[files[2]][1:4] == ["0", "10", "unreadable"]
    # An interrupted run leaves half a row: it is dropped and only that submission is graded again.
    out.write_text("\n".join(rows[:3]) + "\n" + rows[3][:10], encoding="utf-8")
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "graded 1 submission(s)" in again.stdout and "2 already there" in again.stdout
    assert out.read_text(encoding="utf-8").splitlines() == rows
