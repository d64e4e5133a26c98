"""Shared fixtures for the library's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

# The data mirror the tests read (CI has ../shared/data beside the checkout).
MIRROR = Path(os.environ.get("COURSE_LIB_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Run every test on one torch thread, then restore the setting.

    Tiny models run fastest on one thread (two threads on a busy 2-core machine spin and crawl),
    and runs compared bit for bit (checkpoint resume) must use the same thread count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def offline_mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One temporary cache per test module, the data mirror, and no network."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_LIB_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("COURSE_LIB_DATA", str(MIRROR))
        mp.setenv("COURSE_LIB_OFFLINE", "1")
        yield MIRROR
