"""Repository-wide pytest setup: how nbval validates the lab notebooks (see labs/).

pyproject.toml turns on ``--nbval-lax``; here the sanitize file (regexes that blank out memory
addresses, timings and paths before outputs are compared) is resolved from the repository root,
so ``pytest`` works from any working directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SANITIZE_FILE = Path(__file__).parent / "labs" / "nbval_sanitize.cfg"

# Executed copies of the notebooks (book build) and editor checkpoints are never tests.
collect_ignore_glob = ["_build/*", "**/.ipynb_checkpoints/*"]


def pytest_configure(config: pytest.Config) -> None:
    option = config.option
    if not (getattr(option, "nbval", False) or getattr(option, "nbval_lax", False)):
        return
    if getattr(option, "nbval_sanitize_with", None) is None:
        option.nbval_sanitize_with = str(SANITIZE_FILE)
