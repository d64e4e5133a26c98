"""Print the whole book to one PDF with headless Chromium, then check the PDF (`make pdf`).

Usage: python _ext/print_pdf.py SINGLEHTML_DIR OUT.pdf

`make pdf` first builds the book as one HTML page (`jupyter-book build . --builder singlehtml`,
reusing the executed notebooks in the cache). This script serves that folder on 127.0.0.1, blocks
every other request (the print must work offline), waits for MathJax, and prints the page with
Chromium's own PDF engine, with a bookmark for every heading. Jupyter Book's `--builder pdfhtml`
does the same through pyppeteer, which downloads its own Chromium; LaTeX needs a TeX installation
(xelatex) that the reference machine does not have. The PDF is then checked without a PDF library:
it must parse as a PDF, have pages, and carry a bookmark titled after every page of _toc.yml.
"""

from __future__ import annotations

import json
import re
import sys
import zlib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "site"))
from crawl import find_chromium, serve  # noqa: E402 (one copy of the browser search and server)


def print_pdf(site: Path, out: Path) -> None:
    """Serve ``site`` locally and print its root page to ``out`` with headless Chromium."""
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    if executable is None:
        raise SystemExit("make pdf needs a Chromium: apt-get install -y chromium (or set COURSE_CHROMIUM)")
    blocked: list[str] = []

    def local_only(route: Any) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    root = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))["root"]
    with serve(site) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        page = browser.new_page()
        page.route("**/*", local_only)
        page.goto(f"{base}{root}.html", wait_until="load", timeout=300_000)  # index.html redirects
        page.evaluate("async () => { await window.MathJax?.startup?.promise; }")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.pdf(path=str(out), format="A4", print_background=True, outline=True, tagged=True,
                 margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"})  # fmt: skip
        browser.close()
    if blocked:
        raise SystemExit(f"the print tried to fetch {len(blocked)} remote URL(s): {blocked[:5]}")


def _pdf_strings(data: bytes) -> bytes:
    """The PDF's bytes with every Flate-compressed stream appended decompressed."""
    parts = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            pass  # images and fonts need not be Flate streams
    return b"\n".join(parts)


def _decode_pdf_string(token: bytes) -> str:
    if token.startswith(b"<"):
        raw = bytes.fromhex(token[1:-1].decode("ascii"))
    else:  # literal string: undo the escapes Chromium writes
        raw = re.sub(rb"\\([()\\])", rb"\1", token[1:-1])
        raw = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), raw)
    return raw[2:].decode("utf-16-be") if raw.startswith(b"\xfe\xff") else raw.decode("latin-1")


def check_pdf(path: Path, titles: list[str]) -> tuple[int, list[str]]:
    """(number of pages, titles missing from the bookmarks); raises if ``path`` is not a PDF."""
    data = path.read_bytes()
    if not data.startswith(b"%PDF-1.") or b"%%EOF" not in data[-1024:]:
        raise ValueError(f"{path} is not a complete PDF file")
    text = _pdf_strings(data)
    n_pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", text))
    # Chromium joins a heading's wrapped lines without a space, so compare without whitespace.
    bookmarks = [
        "".join(_decode_pdf_string(m.group(1)).split())
        for m in re.finditer(rb"/Title\s*(<[0-9A-Fa-f]*>|\((?:\\.|[^\\)])*\))", text)
    ]
    missing = [t for t in titles if not any("".join(t.split()) in b for b in bookmarks)]
    return n_pages, missing


def toc_titles() -> list[str]:
    """The first heading of every page in _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part["chapters"]:
            names += [chapter["file"], *(s["file"] for s in chapter.get("sections", []))]
    titles = []
    for name in names:
        for suffix in (".md", ".ipynb"):
            source = ROOT / (name + suffix)
            if source.is_file():
                text = source.read_text(encoding="utf-8")
                if suffix == ".ipynb":  # the markdown cells of the notebook
                    cells = json.loads(text)["cells"]
                    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
                match = re.search(r"^# (.+)$", text, re.M)
                if match is None:
                    raise ValueError(f"{source} has no level-1 heading")
                titles.append(" ".join(match.group(1).replace("`", "").split()))
    return titles


def main() -> None:
    site, out = Path(sys.argv[1]), Path(sys.argv[2])
    print_pdf(site, out)
    titles = toc_titles()
    n_pages, missing = check_pdf(out, titles)
    if n_pages == 0 or missing:
        raise SystemExit(f"{out}: {n_pages} pages; no bookmark for {missing}")
    size = out.stat().st_size / 1e6
    print(f"{out}: {n_pages} pages, {size:.1f} MB, a bookmark for each of the {len(titles)} pages")


if __name__ == "__main__":
    main()
