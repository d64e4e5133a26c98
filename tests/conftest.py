"""Shared fixtures for the library's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


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
