"""The process that runs one submission inside the sandbox (started by ``sandbox.run``; never imported).

Protocol with the parent, over two pipes: the child reads ``job.json`` (the submission's code cells
and the paths it must not touch) from its folder, imports numpy and torch, installs an audit hook
(``sys.addaudithook``, which cannot be removed), runs the student's cells, writes ``READY`` on the
result pipe, and only then reads the hidden tests from stdin, runs them in the student's namespace
and writes one JSON line of recorded values. The parent treats that line as data to compare, and
anything missing or malformed as zero.
"""

from __future__ import annotations

import builtins
import json
import os
import sys
import traceback


def _install_guard(work: str, forbidden: tuple[str, ...], log: list) -> None:
    """Deny the operations a submission never needs, as Python sees them (defence in depth).

    The kernel-level limits (rlimits, namespaces, read-only mounts) are set by the parent; this hook
    adds clear messages and covers machines without namespaces. Everything it needs is bound now,
    before student code could patch a module.
    """
    _str, _bytes, _int, _isinstance, _perm = str, bytes, int, isinstance, PermissionError
    fsdecode, getcwd, startswith, append = os.fsdecode, os.getcwd, str.startswith, log.append
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    work_prefix = work.rstrip("/") + "/"
    allowed_writes = (work_prefix, "/dev/null")
    forbidden_prefixes = tuple(f.rstrip("/") + "/" for f in forbidden) + forbidden
    denied_events = frozenset({
        "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto",
        "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
        "os.forkpty", "pty.spawn", "os.kill", "os.killpg", "ctypes.dlopen", "ctypes.dlsym",
        "ctypes.dlsym/handle", "ctypes.call_function", "ctypes.string_at", "ctypes.wstring_at",
        "ctypes.cdata", "ctypes.cdata/buffer", "gc.get_objects", "gc.get_referrers",
        "gc.get_referents", "sys.setprofile", "sys.settrace", "os.symlink", "os.link",
    })  # fmt: skip
    path_events = frozenset({"os.remove", "os.rename", "os.rmdir", "os.truncate", "os.chmod",
                             "os.chown", "os.mkdir", "os.utime", "shutil.rmtree", "os.replace"})  # fmt: skip
    list_events = frozenset({"os.listdir", "os.scandir", "glob.glob", "os.chdir"})

    def absolute(path) -> str | None:
        if _isinstance(path, _int):
            return None  # an already open descriptor
        path = fsdecode(path) if _isinstance(path, (_str, _bytes)) else _str(path)
        if not startswith(path, "/"):
            path = getcwd() + "/" + path
        parts: list = []
        for part in path.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if parts:
                    parts.pop()
            else:
                parts.append(part)
        return "/" + "/".join(parts)

    def secret(path) -> bool:
        p = absolute(path)
        return p is not None and (p in forbidden or any(startswith(p + "/", f) for f in forbidden_prefixes))

    def deny(what: str) -> None:
        append(what)
        raise _perm(f"sandbox: {what} is not allowed while grading")

    def hook(event: str, args: tuple) -> None:
        if event in denied_events:
            deny(event)
        elif event == "open":
            path, mode, flags = args
            writes = (_isinstance(mode, _str) and any(c in mode for c in "wax+")) or (
                _isinstance(flags, _int) and flags & write_flags
            )
            p = absolute(path)
            if p is None:
                return
            if secret(p):
                deny(f"reading {p}")
            if writes and not (startswith(p + "/", work_prefix) or p in allowed_writes):
                deny(f"writing {p} (outside the submission's folder)")
        elif event in path_events or event in list_events:
            for arg in args[:2]:
                if _isinstance(arg, (_str, _bytes)) or hasattr(arg, "__fspath__"):
                    p = absolute(arg)
                    if p is not None and secret(p):
                        deny(f"{event} on {p}")
                    if event in path_events and p is not None and not startswith(p + "/", work_prefix):
                        deny(f"{event} on {p} (outside the submission's folder)")

    sys.addaudithook(hook)


def _source(cell: str) -> str:
    # IPython syntax (magics, shell escapes) means nothing here: keep the line count, drop the line.
    lines = cell.splitlines()
    return "\n".join("pass" if ln.lstrip().startswith(("%", "!")) else ln for ln in lines)


def main() -> None:
    out = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    work = os.getcwd()
    with open("job.json", encoding="utf-8") as f:
        job = json.load(f)
    os.remove("job.json")  # the student's code has no use for it
    import numpy  # noqa: F401  (loaded before the guard: their libraries need ctypes)
    import torch

    torch.set_num_threads(1)
    import course_lib.grading.hidden as hidden

    denied: list = []
    _install_guard(work, tuple(job["forbidden"]), denied)
    namespace: dict = {"__name__": "__main__", "__builtins__": builtins}
    errors = []
    for i, cell in enumerate(job["cells"]):
        try:
            exec(compile(_source(cell), f"<cell {i + 1}>", "exec"), namespace)
        except BaseException as err:  # noqa: BLE001 (SystemExit and KeyboardInterrupt included)
            errors.append({"cell": i + 1, "error": f"{type(err).__name__}: {str(err)[:300]}"})
    # Hidden tests are only sent after the student's code has run.
    out.write("READY\n")
    tests = json.loads(sys.stdin.readline())
    records: dict = {}

    for test in tests:
        got: list = []

        def sink(label, value, expected, _got=got):
            want = None if expected is None else hidden.encode(expected)
            _got.append([label, hidden.encode(value), want])

        hidden._SINK[:] = [sink]
        try:
            exec(compile(test["code"], f"<hidden test {test['id']}>", "exec"), dict(namespace))
            records[test["id"]] = {"records": got}
        except BaseException as err:  # noqa: BLE001
            tb = traceback.format_exception_only(type(err), err)[-1].strip()
            records[test["id"]] = {"records": got, "error": tb[:400]}
    out.write(json.dumps({"cell_errors": errors, "denied": denied, "tests": records}) + "\n")
    out.flush()
    os._exit(0)  # skip interpreter shutdown: atexit handlers the student registered never run


if __name__ == "__main__":
    main()
