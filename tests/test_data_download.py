"""Verified, atomic downloads: cache, mirror, a local HTTP server, corrupt files, interruptions, offline."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
import time
from pathlib import Path

import platformdirs
import pytest

from course_lib.data import download, registry
from course_lib.data.download import ChecksumError, DataUnavailableError
from course_lib.data.registry import DatasetInfo

PAYLOAD = bytes(range(256)) * 800  # 204,800 bytes: several chunks, so "half" is mid-stream
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``/ok``, ``/other`` (wrong bytes), ``/half`` (closes mid-body), ``/big`` and a 404."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        bodies = {"/ok": PAYLOAD, "/other": PAYLOAD[::-1], "/half": PAYLOAD, "/big": PAYLOAD * 2}
        body = bodies.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/half":
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True  # the body stops short of its Content-Length
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty cache and mirror in tmp_path, downloads allowed; returns (cache, mirror)."""
    cache, mirror = tmp_path / "cache", tmp_path / "mirror"
    monkeypatch.setenv("COURSE_LIB_CACHE", str(cache))
    monkeypatch.setenv("COURSE_LIB_DATA", str(mirror))
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")
    return cache, mirror


def _register(monkeypatch, url: str, sha256: str = SHA, size: int = len(PAYLOAD)) -> None:
    """A temporary registry entry "toy" whose one file toy.bin lives at ``url``."""
    entry = DatasetInfo(
        name="toy", description="test data", kind="url", files=("toy.bin",), urls=(url,),
        sha256=(sha256,), size_bytes=size, licence="none", citation="none",
    )  # fmt: skip
    monkeypatch.setitem(registry.DATASETS, "toy", entry)


def _url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def _leftovers(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sha256sum_matches_hashlib_and_a_known_vector(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")
    assert download.sha256sum(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    path.write_bytes(PAYLOAD)
    assert download.sha256sum(path) == SHA


def test_cache_and_mirror_dirs_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("COURSE_LIB_DATA", str(tmp_path / "m"))
    assert download.cache_dir() == tmp_path / "c" and download.mirror_dir() == tmp_path / "m"
    monkeypatch.delenv("COURSE_LIB_CACHE")
    monkeypatch.setenv("COURSE_LIB_DATA", "  ")
    assert download.cache_dir() == Path(platformdirs.user_cache_dir("course_lib", appauthor=False))
    assert download.mirror_dir() is None


@pytest.mark.parametrize("value, offline", [("1", True), ("true", True), ("0", False), ("", False)])
def test_offline_flag_parsing(monkeypatch, value, offline):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", value)
    assert download.is_offline() is offline


def test_offline_flag_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "maybe")
    with pytest.raises(ValueError, match="COURSE_LIB_OFFLINE"):
        download.is_offline()


def test_download_from_a_local_server_is_verified_and_cached(env, server, monkeypatch, capsys):
    cache, _ = env
    _register(monkeypatch, _url(server, "/ok"))
    assert not registry.is_available("toy")
    hits = len(server.hits)
    path = registry.fetch("toy")
    assert path == cache / "toy" / "toy.bin" and path.read_bytes() == PAYLOAD
    assert _leftovers(cache / "toy") == ["toy.bin"]  # no temporary file remains
    assert "toy.bin" in capsys.readouterr().err  # tqdm's progress bar
    assert registry.fetch("toy") == path and len(server.hits) == hits + 1  # the second call is a cache hit
    assert registry.is_available("toy")


def test_checksum_mismatch_names_both_hashes_and_keeps_nothing(env, server, monkeypatch):
    cache, _ = env
    _register(monkeypatch, _url(server, "/other"))
    with pytest.raises(ChecksumError) as err:
        registry.fetch("toy")
    assert SHA in str(err.value) and hashlib.sha256(PAYLOAD[::-1]).hexdigest() in str(err.value)
    assert _leftovers(cache / "toy") == []


def test_oversized_download_is_cut_off(env, server, monkeypatch):
    cache, _ = env
    _register(monkeypatch, _url(server, "/big"))
    with pytest.raises(ChecksumError, match="more than the expected 204,800 bytes"):
        registry.fetch("toy")
    assert _leftovers(cache / "toy") == []


def test_server_closing_mid_body_leaves_no_partial_file(env, server, monkeypatch):
    cache, _ = env
    _register(monkeypatch, _url(server, "/half"))
    with pytest.raises(DataUnavailableError, match="stopped after 102,400 of 204,800 bytes"):
        registry.fetch("toy")
    assert _leftovers(cache / "toy") == []


def test_http_error_is_reported_with_the_advice(env, server, monkeypatch):
    _register(monkeypatch, _url(server, "/missing"))
    with pytest.raises(DataUnavailableError, match="404") as err:
        registry.fetch("toy")
    assert "toy.bin" in str(err.value) and _url(server, "/missing") in str(err.value)


class _BrokenResponse:
    """A urlopen() result whose body raises ``error`` after its first chunk."""

    def __init__(self, error: BaseException) -> None:
        self.headers = {"Content-Length": str(len(PAYLOAD))}
        self.error, self.calls = error, 0

    def read(self, n: int) -> bytes:
        self.calls += 1
        if self.calls > 1:
            raise self.error
        return PAYLOAD[:n]

    def __enter__(self) -> _BrokenResponse:
        return self

    def __exit__(self, *exc) -> None:
        pass


@pytest.mark.parametrize(
    ("error", "expected"),
    [(KeyboardInterrupt(), KeyboardInterrupt), (ConnectionResetError(), DataUnavailableError)],
)
def test_interruption_mid_stream_removes_the_temporary_file(env, monkeypatch, error, expected):
    cache, _ = env
    _register(monkeypatch, "https://example.invalid/toy.bin")
    seen: list[list[str]] = []

    def fake_urlopen(url, timeout):
        assert timeout <= 30  # a short timeout, never the socket default of "forever"
        response = _BrokenResponse(error)
        original_read = response.read

        def read(n):  # record the folder while the temporary file is being written
            seen.append(_leftovers(cache / "toy"))
            return original_read(n)

        response.read = read  # type: ignore[method-assign]
        return response

    monkeypatch.setattr(download.urllib.request, "urlopen", fake_urlopen)
    with pytest.raises(expected):
        registry.fetch("toy")
    assert any(name.endswith(".part") for name in seen[-1])  # there was a temporary file...
    assert _leftovers(cache / "toy") == []  # ...and it is gone


def test_mirror_file_is_copied_into_the_cache(env, monkeypatch):
    cache, mirror = env
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "toy.bin").write_bytes(PAYLOAD)
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    _register(monkeypatch, "https://example.invalid/toy.bin")
    assert registry.locate("toy") == mirror / "toy" / "toy.bin"  # found, nothing written yet
    assert not cache.exists()
    path = registry.fetch("toy")
    assert path == cache / "toy" / "toy.bin" and path.read_bytes() == PAYLOAD
    (mirror / "toy" / "toy.bin").unlink()
    assert registry.fetch("toy") == path  # the cache is self-contained


def test_unwritable_cache_falls_back_to_the_verified_mirror_file(env, monkeypatch, tmp_path):
    _, mirror = env
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "toy.bin").write_bytes(PAYLOAD)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    monkeypatch.setenv("COURSE_LIB_CACHE", str(blocker))  # mkdir below a file fails
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    _register(monkeypatch, "https://example.invalid/toy.bin")
    assert registry.fetch("toy") == mirror / "toy" / "toy.bin"
    (mirror / "toy" / "toy.bin").write_bytes(PAYLOAD[:-1] + b"?")  # a corrupt mirror is never served
    with pytest.raises(DataUnavailableError, match="failed verification"):
        registry.fetch("toy")


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_or_truncated_cached_file_is_replaced(env, server, monkeypatch, damage):
    cache, _ = env
    _register(monkeypatch, _url(server, "/ok"))
    path = registry.fetch("toy")
    broken = bytearray(PAYLOAD)
    if damage == "flip":
        broken[1000] ^= 0xFF  # same size: only the hash can tell
    else:
        del broken[len(broken) // 2 :]
    path.write_bytes(bytes(broken))
    assert not registry.is_available("toy")
    hits = len(server.hits)
    assert registry.fetch("toy") == path and path.read_bytes() == PAYLOAD
    assert len(server.hits) == hits + 1  # fetched again
    assert _leftovers(cache / "toy") == ["toy.bin"]


def test_corrupt_mirror_and_cache_are_reported_offline(env, monkeypatch):
    cache, mirror = env
    for root in (cache, mirror):
        (root / "toy").mkdir(parents=True)
        (root / "toy" / "toy.bin").write_bytes(PAYLOAD[::-1])
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    _register(monkeypatch, "https://example.invalid/toy.bin")
    with pytest.raises(DataUnavailableError) as err:
        registry.fetch("toy")
    message = str(err.value)
    assert "cached copy" in message and "corrupt" in message and "mirror copy is corrupt" in message
    assert (mirror / "toy" / "toy.bin").read_bytes() == PAYLOAD[::-1]  # the mirror is never modified


def _assert_advice(message: str, cache: Path, url: str) -> None:
    assert "'toy.bin'" in message and url in message and SHA in message
    assert str(cache / "toy" / "toy.bin") in message


def test_offline_error_is_fast_and_says_what_to_put_where(env, monkeypatch, server):
    cache, mirror = env
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    url = _url(server, "/ok")
    _register(monkeypatch, url)
    hits = len(server.hits)
    start = time.perf_counter()
    with pytest.raises(DataUnavailableError) as err:
        registry.fetch("toy")
    assert time.perf_counter() - start < 2.0
    assert len(server.hits) == hits  # the network was not touched
    _assert_advice(str(err.value), cache, url)
    assert str(mirror / "toy" / "toy.bin") in str(err.value) and "COURSE_LIB_OFFLINE=1" in str(err.value)
    monkeypatch.delenv("COURSE_LIB_DATA")
    with pytest.raises(DataUnavailableError, match="set COURSE_LIB_DATA=<mirror>"):
        registry.fetch("toy")


def test_no_server_listening_fails_within_seconds(env, monkeypatch):
    cache, _ = env
    url = f"http://127.0.0.1:{_free_port()}/toy.bin"
    _register(monkeypatch, url)
    start = time.perf_counter()
    with pytest.raises(DataUnavailableError) as err:
        registry.fetch("toy")
    assert time.perf_counter() - start < 5.0
    _assert_advice(str(err.value), cache, url)
    assert "download from" in str(err.value) and "refused" in str(err.value).lower()
    assert _leftovers(cache / "toy") == []


def test_fetch_file_rejects_a_malformed_hash(env):
    with pytest.raises(ValueError, match="64 lowercase hex"):
        download.fetch_file("toy", "toy.bin", "https://example.invalid/toy.bin", "abc")
