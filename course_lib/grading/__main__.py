"""Command line for instructors: build the labs' student and autograder versions, grade submissions.

    python -m course_lib.grading build [LAB ...] [--out DIR] [--no-reference] [--heldout FILE]
    python -m course_lib.grading grade LAB SUBMISSION.ipynb ... [--out grades.csv]
    python -m course_lib.grading check-site HTML_DIR

``build`` writes ``DIR/LAB/student/`` (hand it out) and ``DIR/LAB/autograder/`` (keep it);
``--no-reference`` skips running the solution, ``--heldout FILE`` is the hidden text on which a
project lab (lab 6) is scored (default: the public tail of Tiny Shakespeare), and ``--site DIR``
also copies every student notebook
into ``DIR`` (the book's Labs part reads them from there). ``check-site`` fails when a built site
contains a line of any lab's solution or hidden tests.
``grade`` appends one row per submission to the CSV (``submission,score,max_score,status,
message``), each row written whole and flushed to disk, and skips submissions already in the file,
so an interrupted run resumes where it stopped. It exits 0 when grading worked, whatever the
scores. Arguments are parsed with argparse, the progress bar is tqdm's.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import sys
from pathlib import Path

from tqdm import tqdm

from course_lib.grading import assignments, sandbox

FIELDS = ["submission", "score", "max_score", "status", "message"]


def _done(out: Path) -> set[str]:
    """Submissions already graded in ``out``; a last row cut short by a crash is dropped."""
    if not out.exists():
        return set()
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        out.write_bytes(data)  # truncate the half-written row so the file stays valid CSV
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    return {r["submission"] for r in rows if r.get("status")}


def _append(fd: int, row: list) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    os.write(fd, buf.getvalue().encode("utf-8"))  # one write on an O_APPEND file: whole row or none
    os.fsync(fd)


def build(args: argparse.Namespace) -> int:
    labs = [assignments.lab_path(n) for n in args.labs] if args.labs else assignments.all_labs()
    for lab in tqdm(labs, desc="building", unit="lab", disable=len(labs) < 2):
        master = assignments.build_lab(lab, Path(args.out) / lab.stem, reference=not args.no_reference,
                                       heldout=args.heldout)  # fmt: skip
        print(
            f"{lab.stem}: {len(master.questions)} questions, {master.max_score:g} points, "
            f"written to {args.out}/{lab.stem}"
        )
        if args.site:
            Path(args.site).mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(args.out) / lab.stem / "student" / lab.name, Path(args.site) / lab.name)
    return 0


def check_site(args: argparse.Namespace) -> int:
    leaks = assignments.site_leaks(Path(args.html))
    for page, line in leaks:
        print(f"LEAK {page}: {line}")
    print(f"{len(leaks)} solution or hidden-test line(s) found in {args.html}")
    return 1 if leaks else 0


def grade(args: argparse.Namespace) -> int:
    lab = assignments.lab_path(args.lab)
    auto = Path(args.assignments) / lab.stem / "autograder"
    if not (auto / "tests.json").exists():
        assignments.build_lab(lab, auto.parent)
    out = Path(args.out)
    done = _done(out)
    limits = None
    if args.wall_s or args.cpu_s or args.memory_mb:
        base = assignments.read_master(auto / lab.name).limits
        limits = sandbox.Limits(
            wall_s=args.wall_s or base.wall_s, cpu_s=args.cpu_s or base.cpu_s,
            memory_mb=args.memory_mb or base.memory_mb,
        )  # fmt: skip
    todo = [s for s in args.submissions if str(s) not in done]
    new_file = not out.exists() or out.stat().st_size == 0
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if new_file:
            _append(fd, FIELDS)
        for sub in tqdm(todo, desc=f"grading {lab.stem}", unit="submission", file=sys.stderr):
            g = assignments.grade_submission(auto, Path(sub), limits, forbidden_extra=[out.resolve().parent])
            _append(fd, [sub, f"{g.score:g}", f"{g.max_score:g}", g.status, g.message])
    finally:
        os.close(fd)
    skipped = len(args.submissions) - len(todo)
    print(
        f"graded {len(todo)} submission(s) of {lab.stem} into {out}"
        + (f"; {skipped} already there" if skipped else "")
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grading", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write each lab's student/ and autograder/ folders")
    b.add_argument("labs", nargs="*", help="lab names (lab01 or lab01_rnn_bptt_numpy); default: all")
    b.add_argument("--out", default="_build/assignments", help="output folder (default: %(default)s)")
    b.add_argument("--no-reference", action="store_true", help="do not run the solution for the grading key")
    b.add_argument("--site", help="also copy the student notebooks into this folder (for the book)")
    b.add_argument("--heldout", help="hidden text for a project lab (default: Tiny Shakespeare's tail)")
    c = sub.add_parser("check-site", help="fail if a built site shows solution code or hidden tests")
    c.add_argument("html", help="the built site, e.g. _build/html")
    g = sub.add_parser("grade", help="grade submissions in the sandbox into a CSV")
    g.add_argument("lab")
    g.add_argument("submissions", nargs="+", help="the students' .ipynb files")
    g.add_argument("--out", default="grades.csv")
    g.add_argument("--assignments", default="_build/assignments", help="where `build` wrote the labs")
    g.add_argument("--wall-s", type=float, help="wall-clock seconds per submission (default: the lab's)")
    g.add_argument("--cpu-s", type=int, help="CPU seconds per submission")
    g.add_argument("--memory-mb", type=int, help="address space per submission, in MB")
    args = parser.parse_args(argv)
    return {"build": build, "grade": grade, "check-site": check_site}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
