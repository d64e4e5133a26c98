"""Serve the built site on 127.0.0.1 and visit it in headless Chromium (Playwright), offline.

Used by the browser tests in this folder (`make site-test`). Every request that does not go to the
local server is blocked and counted, so a page that would phone home fails the tests instead of
silently working only online. Each page is loaded once; one visit collects everything the tests
assert (console errors, blocked requests, math, images, links, buttons, overflow at phone width).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Where to look for a Chromium: an explicit override, Debian's package, then the names other
# distributions and GitHub's runners use. Playwright's own download is never used.
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def find_chromium() -> str | None:
    """Path of a Chromium-family browser, or None. ``COURSE_CHROMIUM`` overrides the search."""
    explicit = os.environ.get("COURSE_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib's name)
        pass  # one line per request would drown the test output


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The browser drops connections it no longer needs when it navigates away.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on an ephemeral port of 127.0.0.1; yields the base URL (ending in /)."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class PageReport:
    """What one visit of one page found. ``path`` is relative to the site root."""

    path: str
    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # requests that tried to leave the machine
    missing: list[str] = field(default_factory=list)  # local requests answered 4xx/5xx
    info: dict[str, Any] = field(default_factory=dict)  # what _PAGE_PROBE returned
    phone_overflow: dict[str, Any] = field(default_factory=dict)


# Runs in the page once it has loaded and MathJax has finished typesetting.
_PAGE_PROBE = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const images = Array.from(document.images);
  // decode() waits for an image that is still loading; a broken one rejects.
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  const article = document.querySelector("article.bd-article") || document.body;
  // Text a reader sees as prose: code, outputs and typeset math removed.
  const prose = article.cloneNode(true);
  prose.querySelectorAll("pre, code, script, style, mjx-container, .cell_output, .highlight")
       .forEach((el) => el.remove());
  const math = Array.from(article.querySelectorAll(".math"));
  const link = (sel) => Array.from(document.querySelectorAll(sel)).map((a) => a.href);
  return {
    title: document.title,
    h1: (article.querySelector("h1") || {}).textContent || "",
    prose: prose.textContent,
    n_math: math.length,
    untypeset_math: math.filter((el) => !el.querySelector("mjx-container"))
                        .map((el) => el.textContent.slice(0, 80)),
    mathjax_errors: article.querySelectorAll("mjx-merror, [data-mjx-error]").length,
    images: images.map((img) => ({
      src: img.currentSrc || img.src,
      alt: (img.getAttribute("alt") || "").trim(),
      loaded: img.complete && img.naturalWidth > 0,
    })),
    links: Array.from(document.querySelectorAll("a[href]")).map((a) => a.href),
    download: link(".dropdown-download-buttons a"),
    launch: link(".dropdown-launch-buttons a"),
    repository: link("a.btn[href*='github.com']").concat(
        link(".dropdown-source-buttons a")),
    theme: document.documentElement.dataset.theme || "",
  };
}
"""

# At phone width: how far the page scrolls sideways, and which elements stick out (for the message).
_OVERFLOW_PROBE = """
() => {
  const width = document.documentElement.clientWidth;
  const culprits = [];
  const scrollsItself = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (/(auto|scroll|hidden)/.test(style.overflowX) && p !== document.body
          && p !== document.documentElement) return true;
    }
    return false;
  };
  document.querySelectorAll("article.bd-article *").forEach((el) => {
    const r = el.getBoundingClientRect();
    if (r.right > width + 1 && r.width > 0 && !scrollsItself(el) && culprits.length < 5) {
      const name = `${el.tagName.toLowerCase()}.${el.className}`.slice(0, 80);
      culprits.push(`${name} right=${Math.round(r.right)}`);
    }
  });
  return {
    page: document.documentElement.scrollWidth - width,
    culprits: culprits,
  };
}
"""


class Crawler:
    """One headless Chromium with every non-local request blocked; visit pages one by one."""

    def __init__(self, playwright: Any, executable: str, base_url: str) -> None:
        self.base_url = base_url
        self.browser = playwright.chromium.launch(executable_path=executable)
        self.context = self.browser.new_context(viewport=DESKTOP, service_workers="block")
        self.current: PageReport | None = None
        self.context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.base_url):
            route.continue_()
            return
        if self.current is not None:
            self.current.blocked.append(url)
        route.abort("blockedbyclient")

    def new_page(self) -> Any:
        page = self.context.new_page()

        def on_console(msg: Any) -> None:
            if msg.type == "error" and self.current is not None:
                self.current.console_errors.append(f"console: {msg.text}")

        def on_error(exc: Any) -> None:
            if self.current is not None:
                self.current.console_errors.append(f"uncaught: {exc}")

        def on_response(response: Any) -> None:
            if response.status >= 400 and self.current is not None:
                self.current.missing.append(f"{response.status} {response.url}")

        page.on("console", on_console)
        page.on("pageerror", on_error)
        page.on("response", on_response)
        return page

    def visit(self, page: Any, path: str, wait_for: str | None = None) -> PageReport:
        """Load ``path`` at desktop width, probe it, then re-measure it at phone width.

        ``wait_for``: a CSS selector to wait for first (content a script writes after loading).
        """
        self.current = report = PageReport(path)
        page.set_viewport_size(DESKTOP)
        page.goto(self.base_url + path, wait_until="load")
        if wait_for:
            page.wait_for_selector(wait_for, timeout=30_000)
        report.info = page.evaluate(_PAGE_PROBE)
        page.set_viewport_size(PHONE)
        report.phone_overflow = page.evaluate(_OVERFLOW_PROBE)
        self.current = None
        return report

    def close(self) -> None:
        self.context.close()
        self.browser.close()
