"""Every page of the built book, opened offline in headless Chromium: what a reader would hit.

One visit per page (see crawl.py) collects console errors, uncaught exceptions, requests that tried
to leave the machine, math left untypeset, images that failed or lack alt text, links, and how
far the page scrolls sideways at phone width; the tests below judge that record.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from crawl import Crawler, PageReport

from conftest import PAGES, SITE

GENERATED = ["genindex.html"]

# TeX that a reader should never see as text: MathJax's delimiters and common commands.
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\(?:frac|sum|prod|mathbf|mathrm|begin|end|left|right"
                     r"|alpha|beta|sigma|theta|partial|odot|cdot|tanh|top|operatorname|text)\b")  # fmt: skip


def _report(reports: dict[str, PageReport], path: str) -> PageReport:
    return reports[path]


@functools.cache
def _ids(html_file: Path) -> frozenset[str]:
    return frozenset(re.findall(r'\bid="([^"]+)"', html_file.read_text(encoding="utf-8")))


def _local_target(url: str, base_url: str) -> tuple[Path, str] | None:
    """(file, fragment) of a link into the site, or None for a link that leaves it."""
    if not url.startswith(base_url):
        return None
    parts = urlsplit(url)
    path = unquote(parts.path).lstrip("/")
    if path == "" or path.endswith("/"):
        path += "index.html"
    return SITE / path, unquote(parts.fragment)


@pytest.mark.parametrize("path", PAGES)
def test_page_has_no_console_errors_or_uncaught_exceptions(reports: dict, path: str) -> None:
    errors = _report(reports, path).console_errors
    assert not errors, f"{len(errors)} console error(s) on {path}:\n" + "\n".join(errors)


@pytest.mark.parametrize("path", PAGES)
def test_page_makes_no_request_off_the_machine_and_none_that_fails(reports: dict, path: str) -> None:
    report = _report(reports, path)
    assert not report.blocked, f"{path} tried to fetch {len(report.blocked)} remote URL(s): {report.blocked}"
    assert not report.missing, f"{path}: local requests failed: {report.missing}"


@pytest.mark.parametrize("path", PAGES)
def test_page_math_is_typeset(reports: dict, path: str) -> None:
    info = _report(reports, path).info
    assert not info["untypeset_math"], f"{path}: math MathJax did not typeset: {info['untypeset_math']}"
    assert info["mathjax_errors"] == 0, f"{path}: MathJax reported {info['mathjax_errors']} TeX error(s)"
    raw = sorted({m.group(0) for m in RAW_TEX.finditer(info["prose"])})
    assert not raw, f"{path} shows raw TeX in its text: {raw}"


@pytest.mark.parametrize("path", PAGES)
def test_page_images_load_and_have_alt_text(reports: dict, path: str) -> None:
    images = _report(reports, path).info["images"]
    broken = [img["src"] for img in images if not img["loaded"]]
    no_alt = [img["src"] for img in images if not img["alt"]]
    assert not broken, f"{path}: images that did not load: {broken}"
    assert not no_alt, f"{path}: images without alt text: {no_alt}"


@pytest.mark.parametrize("path", PAGES)
def test_page_internal_links_resolve(reports: dict, base_url: str, path: str) -> None:
    dead = []
    for url in _report(reports, path).info["links"]:
        target = _local_target(url, base_url)
        if target is None:
            continue
        file, fragment = target
        if not file.is_file():
            dead.append(f"{url} (no file {file.relative_to(SITE)})")
        elif fragment and file.suffix == ".html" and fragment not in _ids(file):
            dead.append(f"{url} (no id {fragment!r} in {file.relative_to(SITE)})")
    assert not dead, f"{path}: {len(dead)} dead internal link(s):\n" + "\n".join(dead)


@pytest.mark.parametrize("path", PAGES)
def test_page_does_not_scroll_sideways_at_phone_width(reports: dict, path: str) -> None:
    overflow = _report(reports, path).phone_overflow
    assert overflow["page"] <= 0, (
        f"{path} scrolls {overflow['page']} px sideways at 390 px; sticking out: {overflow['culprits']}"
    )
    culprits = overflow["culprits"]
    assert not culprits, f"{path}: text-column elements wider than the screen: {culprits}"


def test_every_built_page_is_visited(site: Path) -> None:
    # index.html redirects to the root page, _static/ holds theme templates, and the pages Sphinx
    # writes itself are visited below (and search in test_site_features.py).
    built = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    built = {p for p in built if not p.startswith("_static/")} - {*GENERATED, "search.html", "index.html"}
    pages = set(PAGES)
    assert built == pages, f"built but not in _toc.yml: {built - pages}; not built: {pages - built}"


@pytest.mark.parametrize("path", GENERATED)
def test_generated_pages_load_cleanly(crawler: Crawler, path: str) -> None:
    page = crawler.new_page()
    report = crawler.visit(page, path)
    page.close()
    assert (report.console_errors, report.blocked, report.missing) == ([], [], []), report


def test_chapters_are_numbered_n_and_their_pages_n_1_n_2_in_reading_order(reports: dict) -> None:
    numbers = {}
    chapter, section = 0, 0
    for path in PAGES:
        if path.startswith("chapters/") and path.endswith("_index.html"):
            chapter, section = chapter + 1, 0
            numbers[path] = f"{chapter}."
        elif path.startswith("chapters/"):
            section += 1
            numbers[path] = f"{chapter}.{section}."
    assert numbers, "no chapter pages in _toc.yml"
    shown = {path: reports[path].info["h1"].split()[0] for path in numbers}
    assert shown == numbers, "page titles carry the wrong numbers"
