"""Fixtures for the browser tests of the built website (`make site-test`, after `make book`).

These tests need the built site, so a plain `pytest` / `make test` (which runs before the book is
built) does not collect them: they run only when this folder is named on the command line.

Without a Chromium they skip with a message saying how to get one, unless
``COURSE_REQUIRE_BROWSER=1`` (set by CI), in which case they fail: CI never passes by skipping.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from crawl import Crawler, PageReport, find_chromium, serve

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
HERE = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Collect this folder only when a command-line argument points into it."""
    asked = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    if any(a == HERE or HERE in a.parents for a in asked):
        return None
    return True if collection_path == HERE or HERE in collection_path.parents else None


def toc_pages() -> list[str]:
    """Every page of _toc.yml, as its HTML path relative to the site root, in reading order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))

    def walk(entries: list[dict]) -> list[str]:
        found: list[str] = []
        for entry in entries:
            found.append(entry["file"])
            found += walk(entry.get("sections", []))
        return found

    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += walk(part.get("chapters", []))
    return [f + ".html" for f in files]  # the root page too: index.html only redirects to it


def source_of(html_path: str) -> Path:
    """The source file (.md or .ipynb) a page of the site was built from."""
    stem = html_path.removesuffix(".html")
    for suffix in (".md", ".ipynb"):
        if (ROOT / (stem + suffix)).is_file():
            return ROOT / (stem + suffix)
    raise FileNotFoundError(stem)


PAGES = toc_pages()


@pytest.fixture(scope="session")
def chromium() -> str:
    executable = find_chromium()
    if executable is None or importlib.util.find_spec("playwright") is None:
        message = (
            "no Chromium (or no Playwright for Python) found, so the website was not tested in a "
            "browser: install Debian's package (`apt-get install -y chromium`) or point "
            "COURSE_CHROMIUM at a Chrome/Chromium binary (never `playwright install`, which "
            "downloads from outside the package registries)."
        )
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " COURSE_REQUIRE_BROWSER=1, so this is a failure.")
        pytest.skip(message)
    return executable


@pytest.fixture(scope="session")
def site() -> Path:
    if not (SITE / "index.html").is_file():
        pytest.fail(f"{SITE} has no index.html: run `make book` before `make site-test`")
    return SITE


@pytest.fixture(scope="session")
def base_url(site: Path) -> Iterator[str]:
    with serve(site) as url:
        yield url


@pytest.fixture(scope="session")
def crawler(chromium: str, base_url: str) -> Iterator[Crawler]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        crawler = Crawler(playwright, chromium, base_url)
        try:
            yield crawler
        finally:
            crawler.close()


@pytest.fixture(scope="session")
def reports(crawler: Crawler) -> dict[str, PageReport]:
    """Every page of the book visited once, in table-of-contents order."""
    page = crawler.new_page()
    found = {path: crawler.visit(page, path) for path in PAGES}
    page.close()
    return found
