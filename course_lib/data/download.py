"""Verified, atomic fetching of the course's web files: the cache, then a local mirror, then the web.

A file registered with a canonical URL and a sha256 is looked for, in this order:

1. ``cache_dir()/<dataset>/<file>`` (``COURSE_LIB_CACHE``, else the user cache dir of "course_lib");
2. ``mirror_dir()/<dataset>/<file>`` (``COURSE_LIB_DATA``, a read-only copy such as CI's data
   mirror): a valid mirror file is *copied* into the cache, atomically, so that the cache is
   self-contained and ``python -m course_lib.data fetch --all`` fills it; when the cache cannot
   be written, the verified mirror file itself is returned;
3. the canonical URL, unless ``COURSE_LIB_OFFLINE=1``.

Every file is checked against its sha256 each time it is fetched (a few milliseconds for the
course's 3.4 MB of web data, so no hash cache that a same-size corruption could fool). Copies
and downloads stream into a temporary file in the target folder, are verified, and only then
``os.replace``-d into place; any failure (a bad hash, a dropped connection, Ctrl-C) removes the
temporary file, so nothing partial is ever left. The registry (``course_lib.data.registry``)
calls ``fetch_file``; chapters call ``course_lib.data.fetch(name)`` or a ``load_*`` function.
Downloads use ``urllib`` from the standard library and show a ``tqdm`` progress bar.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import platformdirs
from tqdm import tqdm

__all__ = [
    "CACHE_ENV",
    "MIRROR_ENV",
    "OFFLINE_ENV",
    "ChecksumError",
    "DataUnavailableError",
    "cache_dir",
    "fetch_file",
    "find_valid",
    "is_offline",
    "mirror_dir",
    "sha256sum",
]

CACHE_ENV = "COURSE_LIB_CACHE"
MIRROR_ENV = "COURSE_LIB_DATA"
OFFLINE_ENV = "COURSE_LIB_OFFLINE"
TIMEOUT_S = 10.0  # per socket operation: a dead host or a blocked network fails fast
_CHUNK = 1 << 16
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class DataUnavailableError(RuntimeError):
    """A dataset cannot be provided here; the message says what to install or which file to put where."""


class ChecksumError(DataUnavailableError):
    """A file's sha256 differs from the registered one; the message gives both hashes."""


def sha256sum(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file as 64 lowercase hex digits, read in chunks (any file size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _env_path(var: str) -> Path | None:
    value = os.environ.get(var, "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Where fetched files live: ``$COURSE_LIB_CACHE``, else the user cache dir (``~/.cache/course_lib``).

    The folder is created only when a file is written into it.
    """
    return _env_path(CACHE_ENV) or Path(platformdirs.user_cache_dir("course_lib", appauthor=False))


def mirror_dir() -> Path | None:
    """The local mirror ``$COURSE_LIB_DATA`` laid out as ``<dataset>/<file>``, or None when unset."""
    return _env_path(MIRROR_ENV)


def is_offline() -> bool:
    """True when ``COURSE_LIB_OFFLINE`` forbids network access (1/true/yes/on; 0/false/no/off/unset)."""
    value = os.environ.get(OFFLINE_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{OFFLINE_ENV} must be 1 or 0 (or true/false, yes/no, on/off), got {value!r}")


def _is_valid(path: Path, sha256: str, size: int | None) -> bool:
    if not path.is_file():
        return False
    if size is not None and path.stat().st_size != size:
        return False  # a truncated file is rejected without reading it
    return sha256sum(path) == sha256


def find_valid(dataset: str, filename: str, sha256: str, size: int | None = None) -> Path | None:
    """The verified cache or mirror copy of a file, or None; never writes, never downloads."""
    for root in (cache_dir(), mirror_dir()):
        if root is not None and _is_valid(root / dataset / filename, sha256, size):
            return root / dataset / filename
    return None


def _write_verified(
    chunks: Iterator[bytes], target: Path, sha256: str, size: int | None, source: str
) -> Path:
    """Stream ``chunks`` to a temporary file beside ``target``, verify it, then move it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest, written = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                written += len(chunk)
                if size is not None and written > size:
                    raise ChecksumError(f"{source} holds more than the expected {size:,} bytes")
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != sha256:
            raise ChecksumError(
                f"sha256 mismatch for {target.name} from {source} ({written:,} bytes): "
                f"expected {sha256}, got {actual}"
            )
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared classroom cache must be readable
        os.replace(tmp, target)  # atomic: readers see the old file or the whole new one
    except BaseException:  # includes KeyboardInterrupt: never leave a partial file behind
        tmp.unlink(missing_ok=True)
        raise
    return target


def _read_chunks(
    stream: BinaryIO, progress: tqdm | None = None, announced: int | None = None, source: str = ""
) -> Iterator[bytes]:
    """The chunks of ``stream``; fails loudly if it ends before the ``announced`` Content-Length."""
    received = 0
    for chunk in iter(lambda: stream.read(_CHUNK), b""):
        received += len(chunk)
        if progress is not None:
            progress.update(len(chunk))
        yield chunk
    if announced is not None and received < announced:
        # http.client returns b"" rather than raising when a server closes early
        raise DataUnavailableError(f"download of {source} stopped after {received:,} of {announced:,} bytes")


def _download(url: str, target: Path, sha256: str, size: int | None) -> Path:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        header = response.headers.get("Content-Length", "")
        announced = int(header) if header.isdigit() else None
        total = announced or size
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=target.name) as bar:
            chunks = _read_chunks(response, bar, announced, url)
            return _write_verified(chunks, target, sha256, size, url)


def _advice(dataset: str, filename: str, url: str, sha256: str, size: int | None, why: list[str]) -> str:
    mirror = mirror_dir()
    mirror_path = str(mirror / dataset / filename) if mirror is not None else None
    size_text = f"{size:,} bytes, " if size is not None else ""
    lines = [f"Could not get file {filename!r} of dataset {dataset!r}:"]
    lines += [f"  - {reason}" for reason in why]
    lines += [
        "To fix this, download",
        f"  {url}",
        f"({size_text}sha256 {sha256}) and save it as",
        f"  {cache_dir() / dataset / filename}  (the cache, ${CACHE_ENV})",
    ]
    if mirror_path is not None:
        lines.append(f"or as {mirror_path}  (the mirror, ${MIRROR_ENV})")
    else:
        lines.append(f"or as <mirror>/{dataset}/{filename} and set {MIRROR_ENV}=<mirror>.")
    return "\n".join(lines)


def _try_mirror(dataset: str, filename: str, sha256: str, size: int | None, why: list[str]) -> Path | None:
    mirror = mirror_dir()
    if mirror is None:
        why.append(f"no mirror: {MIRROR_ENV} is not set")
        return None
    source = mirror / dataset / filename
    if not source.is_file():
        why.append(f"not in the mirror: {source} does not exist")
        return None
    try:
        target = cache_dir() / dataset / filename
        with open(source, "rb") as f:
            return _write_verified(_read_chunks(f), target, sha256, size, str(source))
    except ChecksumError as err:
        why.append(f"the mirror copy is corrupt: {err}")
    except OSError as err:  # the cache is not writable: serve the verified mirror file itself
        if _is_valid(source, sha256, size):
            return source
        why.append(f"the mirror copy {source} failed verification (and the cache is not writable: {err})")
    return None


def fetch_file(dataset: str, filename: str, url: str, sha256: str, size: int | None = None) -> Path:
    """A verified local copy of ``url``, saved as ``<cache>/<dataset>/<filename>``.

    Order: a valid cached file, then the mirror (copied into the cache), then the web. A cached
    file that is corrupt or truncated is replaced by a freshly verified copy. Raises ``ChecksumError`` when
    a download's sha256 differs from ``sha256`` (expected and actual hashes in the message), and
    ``DataUnavailableError`` when the file cannot be had (offline, no network, not in the mirror),
    saying which file to put where. Used by ``course_lib.data.fetch`` for "url" datasets.
    """
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"sha256 must be 64 lowercase hex digits, got {sha256!r}")
    target = cache_dir() / dataset / filename
    why: list[str] = []
    if target.is_file():
        if _is_valid(target, sha256, size):
            return target
        # left in place: a verified copy replaces it atomically, and a failed fetch still reports it
        why.append(f"the cached copy {target} is corrupt or truncated (wrong size or sha256)")
    else:
        why.append(f"not in the cache: {target} does not exist")
    found = _try_mirror(dataset, filename, sha256, size, why)
    if found is not None:
        return found
    if is_offline():
        why.append(f"{OFFLINE_ENV}=1 forbids downloads")
        raise DataUnavailableError(_advice(dataset, filename, url, sha256, size, why))
    try:
        return _download(url, target, sha256, size)
    except ChecksumError as err:
        raise ChecksumError(f"{err}\n{_advice(dataset, filename, url, sha256, size, why)}") from None
    except (OSError, http.client.HTTPException, DataUnavailableError) as err:
        # a bare URLError wraps the socket error (refused, unknown host); HTTPError reads well as is
        reason = err.reason if type(err) is urllib.error.URLError else err
        why.append(f"download from {url} failed: {reason}")
        raise DataUnavailableError(_advice(dataset, filename, url, sha256, size, why)) from err
