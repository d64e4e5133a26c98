"""_ext/preexecute.py: pages executed in parallel land in the cache that jupyter-book then uses.

A tiny book (one MyST page with the repository-URL placeholder, one .ipynb, one page that is not a
notebook) is pre-executed and then built: the build must take every notebook from the cache and
execute none itself, and the page's output must carry the substituted URL. A failing page makes
the script exit 1 and name the page.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
URL = "https://github.com/example-org/example-course"

HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def _load_preexecute():
    spec = importlib.util.spec_from_file_location("preexecute", ROOT / "_ext" / "preexecute.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["preexecute"] = module  # its worker function is pickled by module name
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _book(tmp_path: Path, page_code: str) -> Path:
    book = tmp_path / "book"
    (book / "_ext").mkdir(parents=True)
    shutil.copy(ROOT / "_ext" / "course_site.py", book / "_ext" / "course_site.py")
    (book / "_config.yml").write_text(
        "title: tiny\nonly_build_toc_files: true\n"
        "execute:\n  execute_notebooks: cache\n  timeout: 60\n"
        f"repository:\n  url: {URL}\n"
        "sphinx:\n  local_extensions:\n    course_site: _ext\n"
    )
    (book / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: page\n  - file: lab\n"
    )
    (book / "intro.md").write_text("# Tiny\n\nNot a notebook: nothing to execute.\n")
    (book / "page.md").write_text(
        HEADER + "\n# Page\n\n```{code-cell} ipython3\n" + page_code + "\n```\n"
    )
    lab = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Lab"), nbformat.v4.new_code_cell("print(6 * 7)")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(lab, book / "lab.ipynb")
    return book


def test_preexecuted_pages_are_taken_from_the_cache(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    preexecute = _load_preexecute()
    book = _book(tmp_path, 'import os\nprint("{{ repository_url }}", os.environ["OMP_NUM_THREADS"])')
    assert preexecute.main(["--root", str(book), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 pages, 2 at a time" in out, out  # intro.md is not a notebook
    assert (book / "_build" / "page-times.json").is_file()
    # A second run finds everything cached and executes nothing.
    assert preexecute.main(["--root", str(book)]) == 0
    assert "every page is in the cache" in capsys.readouterr().out

    build = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(book), "-v"],
        capture_output=True, text=True, timeout=300,
    )
    log = build.stdout + build.stderr
    assert build.returncode == 0, log[-3000:]
    assert log.count("Using cached notebook") == 2, log[-3000:]
    assert "Executing notebook" not in log, log[-3000:]
    html = (book / "_build" / "html" / "page.html").read_text()
    # The URL was substituted before execution (same cache key as myst-nb's), one thread per kernel.
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    assert f"{URL} {threads}" in html


def test_a_failing_page_is_named_and_fails_the_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    preexecute = _load_preexecute()
    book = _book(tmp_path, 'raise ValueError("expected failure")')
    assert preexecute.main(["--root", str(book), "--jobs", "1"]) == 1
    out = capsys.readouterr().out
    assert "FAILED page.md" in out and "expected failure" in out, out
    assert "lab.ipynb" in out  # the other page still ran and was cached
