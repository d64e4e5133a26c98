"""Run one submission's code in a sandbox and bring back only the values its hidden tests recorded.

``run(cells, tests, limits, forbidden)`` starts a fresh Python process (``_sandbox_child``) in a new
temporary folder that holds nothing but the student's code, and returns a ``RunResult``. The layers,
from the kernel up:

- **Process and resources** (``resource.setrlimit``, set before ``exec``): CPU seconds, address
  space, file size, a process count, no core dumps; a wall-clock limit enforced by the parent,
  which kills the child's whole session (``start_new_session``) so no grandchild survives.
- **Namespaces** (``unshare -rnm``, where unprivileged user namespaces are allowed): an empty
  network namespace (no interface but a down loopback), the repository and the virtualenv mounted
  read-only, and every ``forbidden`` folder (the autograder, the other submissions, the grades)
  hidden under an empty tmpfs. Where ``unshare`` is refused (some CI kernels) the run goes on
  without them and ``RunResult.isolation`` says so.
- **An audit hook** in the child (``sys.addaudithook``): sockets, subprocesses, fork, ctypes,
  writes outside the folder and reads of forbidden paths raise ``PermissionError``.
- **The protocol**: hidden tests reach the child only after the student's cells ran, and the child
  sends back recorded values, never a verdict; ``assignments.grade_run`` compares them in this
  process. What the child prints or writes is never read for a score.

What it does not stop is listed on the instructors' page (instructors.md).
"""

from __future__ import annotations

import functools
import json
import os
import resource
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Limits", "RunResult", "run", "namespaces_available"]

RESULT_CAP = 32 * 2**20  # bytes of recorded values accepted from one child


@dataclass(frozen=True)
class Limits:
    """What one submission may use. ``memory_mb`` bounds the address space (torch alone maps ~0.7 GB)."""

    wall_s: float = 120.0
    cpu_s: int = 90
    memory_mb: int = 3072
    processes: int = 64  # threads count too, on top of what this user already runs
    file_mb: int = 64


@dataclass
class RunResult:
    """What came back: ``status`` is "ok", "timeout", "cpu_limit", "memory_limit", "crashed" or "exited"."""

    status: str
    tests: dict = field(default_factory=dict)  # test id -> {"records": [[label, data]], "error"?}
    cell_errors: list = field(default_factory=list)
    denied: list = field(default_factory=list)
    detail: str = ""
    isolation: str = ""
    cpu_s: float = 0.0
    wall_s: float = 0.0


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """Whether ``unshare -rnm`` works here (user, network and mount namespaces without root)."""
    exe = shutil.which("unshare")
    if exe is None:
        return False
    try:
        probe = subprocess.run([exe, "-rnm", "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _user_threads() -> int:
    uid, n = os.getuid(), 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    n += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                continue
    return n


def _limit_child(limits: Limits, nproc: int) -> None:
    """Runs in the child between fork and exec: the limits then hold for the student's code."""
    mb = 2**20
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 2))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def _wrap(argv: list[str], readonly: list[Path], hidden: list[Path]) -> list[str]:
    """argv run inside new user/network/mount namespaces with read-only and hidden folders."""
    steps = []
    for ro in readonly:
        q = shlex.quote(str(ro))
        steps.append(f"mount --bind {q} {q} && mount -o remount,bind,ro {q}")
    outer = [h for h in hidden if h.is_dir() and not any(o != h and h.is_relative_to(o) for o in hidden)]
    steps += [f"mount -t tmpfs -o size=1m,mode=000 none {shlex.quote(str(h))}" for h in outer]
    script = " && ".join([*steps, 'exec "$@"'])
    return ["unshare", "-rnm", "--propagation", "private", "sh", "-c", script, "sandbox", *argv]


def _read_some(fd: int, buf: bytearray) -> bool:
    chunk = os.read(fd, 65536)
    if chunk:
        buf.extend(chunk[: max(0, RESULT_CAP - len(buf))])
    return bool(chunk)


def run(
    cells: list[str],
    tests: list[dict],
    limits: Limits = Limits(),
    forbidden: list[Path] | tuple[Path, ...] = (),
    readonly: list[Path] | tuple[Path, ...] = (),
    env: dict | None = None,
) -> RunResult:
    """Run ``cells`` (the student's code), then ``tests`` (``{"id", "code"}``), in a fresh sandbox."""
    forbidden = [Path(p).resolve() for p in forbidden]
    readonly = [Path(p).resolve() for p in readonly]
    work = Path(tempfile.mkdtemp(prefix="course-grade-"))
    start, cpu0 = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        (work / "job.json").write_text(
            json.dumps({"cells": cells, "forbidden": [str(p) for p in forbidden]}), encoding="utf-8"
        )
        child_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work),
            "TMPDIR": str(work),  # torch and tempfile write their caches here, not in the shared /tmp
            "MPLCONFIGDIR": str(work / ".matplotlib"),
            "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "LANG": "C.UTF-8",
            **{k: os.environ[k] for k in ("COURSE_LIB_DATA", "COURSE_LIB_OFFLINE") if k in os.environ},
            **(env or {}),
        }
        r_fd, w_fd = os.pipe()
        argv = [sys.executable, "-I", "-B", "-m", "course_lib.grading._sandbox_child", str(w_fd)]
        isolation = "rlimits + audit hook"
        if namespaces_available():
            argv = _wrap(argv, readonly, forbidden)
            isolation = "rlimits + audit hook + user/network/mount namespaces"
        nproc = _user_threads() + limits.processes
        with open(work / "output.txt", "wb") as log:
            proc = subprocess.Popen(
                argv, cwd=work, env=child_env, stdin=subprocess.PIPE, stdout=log, stderr=log,
                pass_fds=(w_fd,), start_new_session=True,
                preexec_fn=functools.partial(_limit_child, limits, nproc),
            )  # fmt: skip
        os.close(w_fd)
        buf, ready_sent, timed_out = bytearray(), False, False
        deadline = start + limits.wall_s
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                readable, _, _ = select.select([r_fd], [], [], min(left, 1.0))
                if readable and not _read_some(r_fd, buf):
                    break  # EOF: the child is done or dead
                if not ready_sent and buf.startswith(b"READY\n"):
                    ready_sent = True
                    try:
                        proc.stdin.write((json.dumps(tests) + "\n").encode())
                        proc.stdin.close()
                    except (BrokenPipeError, OSError):
                        pass
        finally:
            os.close(r_fd)
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the child and anything it started
            except ProcessLookupError:
                pass
            proc.wait()
        wall = time.monotonic() - start
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
        tail = (work / "output.txt").read_bytes()[-1500:].decode("utf-8", "replace")
        result = _interpret(proc.returncode, bytes(buf), timed_out, limits, tail)
        result.isolation, result.cpu_s, result.wall_s = isolation, cpu, wall
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _interpret(code: int, raw: bytes, timed_out: bool, limits: Limits, tail: str) -> RunResult:
    lines = raw.split(b"\n")
    payload = None
    if len(lines) >= 3 and lines[0] == b"READY":
        try:
            payload = json.loads(lines[1])
        except ValueError:
            payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("tests"), dict):
        payload = None
    if payload is not None:
        res = RunResult("ok", payload["tests"], list(payload.get("cell_errors", []))[:50],
                        list(payload.get("denied", []))[:50])  # fmt: skip
        if any("MemoryError" in str(e.get("error", "")) for e in res.cell_errors if isinstance(e, dict)):
            res.status, res.detail = "memory_limit", f"a cell ran out of memory ({limits.memory_mb} MB limit)"
        return res
    if timed_out:
        return RunResult("timeout", detail=f"stopped after the {limits.wall_s:.0f} s wall-clock limit")
    if code in (-signal.SIGXCPU, -signal.SIGKILL) or code == 128 + signal.SIGXCPU:
        return RunResult("cpu_limit", detail=f"killed at the {limits.cpu_s} s CPU-time limit")
    if code < 0 or code > 128:
        sig = -code if code < 0 else code - 128
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return RunResult("crashed", detail=f"the Python process died of signal {name}")
    if "MemoryError" in tail:
        return RunResult("memory_limit", detail=f"ran out of memory ({limits.memory_mb} MB limit)")
    last = tail.strip().splitlines()[-1][:200] if tail.strip() else ""
    detail = f"the process exited (code {code}) before the hidden tests ran" + (
        f"; it printed: {last}" if last else ""
    )
    return RunResult("exited", detail=detail)
