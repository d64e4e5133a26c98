"""Execute the book's pages in parallel into the cache that `jupyter-book build` reads.

myst-nb (execute_notebooks: cache) runs the pages one after another inside Sphinx, and on the
two-core reference machine most pages use one core at a time: small recurrent models spend their
time in Python, one step after another. This script runs the same pages two (``--jobs``) at a time,
each kernel with its share of the cores, and stores every executed notebook in the jupyter-cache
that myst-nb consults. Sphinx then finds each page in the cache and executes nothing itself.

The notebooks are built exactly as myst-nb builds them (its own reader, after the same
``{{ repository_url }}`` substitution that _ext/course_site.py makes), so the cache key matches; a
page this script did not cache (or that changed since) is simply executed by myst-nb as before, so
the build is correct with or without this step, only slower without it.

Usage: python _ext/preexecute.py [--jobs N] [--timeout S]   (from the book's root; `make book`)
Exit status 1 when a page fails (all pages are tried first; each failure is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook
from myst_parser.config.main import MdParserConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from course_site import GITHUB_REPO, PLACEHOLDER  # noqa: E402  (one definition of the URL rules)

ROOT = Path(__file__).resolve().parent.parent


def toc_pages(root: Path) -> list[Path]:
    """Every file `_toc.yml` lists (root first), resolved to the .md or .ipynb that exists."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    names: list[str] = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                names.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    pages = []
    for name in names:
        found = [root / f"{name}{ext}" for ext in (".md", ".ipynb") if (root / f"{name}{ext}").is_file()]
        if not found:
            raise SystemExit(f"_toc.yml lists {name!r} but neither {name}.md nor {name}.ipynb exists")
        pages.append(found[0])
    return pages


def repository_url(config_file: Path) -> str:
    url = (yaml.safe_load(config_file.read_text(encoding="utf-8")).get("repository") or {}).get("url", "")
    if not GITHUB_REPO.fullmatch(url or ""):
        raise SystemExit(
            f"{config_file.name}: repository.url must look like "
            f"https://github.com/<owner>/<repo>, got {url!r}"
        )
    return url


def md_config(config_file: Path) -> MdParserConfig:
    parse = yaml.safe_load(config_file.read_text(encoding="utf-8")).get("parse") or {}
    return MdParserConfig(enable_extensions=set(parse.get("myst_enable_extensions") or []))


def read_page(path: Path, url: str, config: MdParserConfig) -> nbformat.NotebookNode | None:
    """The notebook myst-nb builds from a page, or None for a page that is not a notebook."""
    text = path.read_text(encoding="utf-8").replace(PLACEHOLDER, url)
    if path.suffix == ".ipynb":
        return nbformat.reads(text, as_version=4)
    if not is_myst_markdown_notebook(text):
        return None
    return read_myst_markdown_notebook(text, config=config, add_source_map=True, path=str(path))


def _execute(path: str, notebook_json: str, timeout: int, threads: int) -> tuple[str, str | None, float, str]:
    """Run one notebook in a fresh kernel (in a worker process); return it as JSON with any error."""
    # The kernel inherits this environment: each of the parallel kernels gets its share of the cores.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    from jupyter_cache.executors.utils import single_nb_execution

    notebook = nbformat.reads(notebook_json, as_version=4)
    result = single_nb_execution(
        notebook, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False, meta_override=True
    )
    error = None
    if result.err is not None:
        error = f"{type(result.err).__name__}\n{result.exc_string or result.err}"
    return path, error, result.time, nbformat.writes(notebook)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("BOOK_JOBS", 0)) or cores,
                        help="pages executed at once (default: BOOK_JOBS or the number of cores)")
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: _config.yml's)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's folder (default: this repo)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    cache_path = root / "_build" / ".jupyter_cache"
    times_file = root / "_build" / "page-times.json"  # last run's seconds per page: longest start first
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")

    config_file = root / "_config.yml"
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    execute = config.get("execute") or {}
    if execute.get("execute_notebooks") != "cache":
        mode = execute.get("execute_notebooks")
        print(f"preexecute: execute_notebooks is {mode!r}, not 'cache': nothing to do")
        return 0
    timeout = args.timeout or int(execute.get("timeout", 300))
    url, md = repository_url(config_file), md_config(config_file)

    cache = get_cache(str(cache_path))
    todo: list[tuple[Path, nbformat.NotebookNode]] = []
    for path in toc_pages(root):
        notebook = read_page(path, url, md)
        if notebook is None or not any(c.cell_type == "code" for c in notebook.cells):
            continue
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            todo.append((path, notebook))
    if not todo:
        print("preexecute: every page is in the cache")
        return 0

    # Longest first (last run's times, else the amount of code), so no long page starts last.
    # A fresh clone (CI) has no last run: _ext/page-costs.json holds the times of a full build.
    seed = Path(__file__).with_name("page-costs.json")
    source = times_file if times_file.is_file() else seed
    previous = json.loads(source.read_text()) if source.is_file() else {}
    def cost(item: tuple[Path, nbformat.NotebookNode]) -> float:
        rel = str(item[0].relative_to(root))
        return previous.get(rel, sum(len(c.source) for c in item[1].cells if c.cell_type == "code") / 100)
    todo.sort(key=cost, reverse=True)

    jobs = min(args.jobs, len(todo))
    threads = max(1, cores // jobs)
    print(f"preexecute: {len(todo)} pages, {jobs} at a time, {threads} thread(s) each", flush=True)
    failures: list[str] = []
    times = dict(previous)
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_execute, str(p), nbformat.writes(nb), timeout, threads) for p, nb in todo]
        for done, future in enumerate(as_completed(futures), 1):
            path, error, seconds, executed = future.result()
            rel = str(Path(path).relative_to(root))
            if error is not None:
                failures.append(rel)
                print(f"[{done}/{len(todo)}] FAILED {rel} after {seconds:.1f} s:\n{error}", flush=True)
                continue
            times[rel] = round(seconds, 1)
            # Cached by this (parent) process only: one writer for the cache's database.
            cache.cache_notebook_bundle(
                CacheBundleIn(
                    nbformat.reads(executed, as_version=4), path, data={"execution_seconds": seconds}
                ),
                check_validity=False, overwrite=True,
            )
            print(f"[{done}/{len(todo)}] {rel} {seconds:.1f} s", flush=True)
    times_file.parent.mkdir(parents=True, exist_ok=True)
    times_file.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")
    total = sum(times.get(str(p.relative_to(root)), 0) for p, _ in todo)
    print(f"preexecute: {total:.0f} s of pages in {time.perf_counter() - start:.0f} s wall", flush=True)
    if failures:
        print("preexecute: pages that failed (myst-nb runs them again and reports): " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
