"""Sphinx extension for the course website (loaded from _config.yml, `sphinx.local_extensions`).

1. **One repository URL.** `repository.url` in _config.yml is the only place the course's GitHub
   repository is written. Pages write ``{{ repository_url }}`` where they need it (the cell that
   installs course_lib in Colab); the build substitutes the configured URL before a page is parsed
   and executed, so the rendered page, the executed notebook offered for download and the notebook
   Colab opens all carry it; copies of the sources the site offers (``_sources/``) are substituted
   once the build has finished.
2. **Colab opens the executed notebook.** Chapters are MyST markdown, which Colab cannot open, so
   every page's Colab button points at the notebook this build writes to ``_sources/<page>.ipynb``,
   on the branch the site is published from (``gh-pages``, see .github/workflows/book.yml).
3. **Each script once.** sphinx-thebe registers its inline configuration script on every
   ``env-before-read-docs``, and Sphinx 7 then emits it twice per page, so every page threw
   ``Identifier 'THEBE_JS_URL' has already been declared``. With thebe off (launch_buttons.thebe:
   false) its scripts do nothing, so they are dropped (with the per-page configuration it appends,
   which names its demo repository); any other script listed twice is kept once.
4. **A valid first-visit theme.** The theme's default light/dark mode is set to ``auto``.
5. **Downloads keep their outputs.** myst-nb 1.4 writes the executed notebook that the download and
   Colab buttons offer from the notebook *before* it merges the outputs of a cached execution, so
   every page taken from the cache was offered with no outputs at all. The outputs are merged back
   from the same cache once the page has been read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
from docutils import nodes
from jupyter_cache import get_cache
from sphinx.application import Sphinx
from sphinx.errors import ConfigError

PLACEHOLDER = "{{ repository_url }}"
PUBLISHED_BRANCH = "gh-pages"  # where .github/workflows/book.yml pushes _build/html
GITHUB_REPO = re.compile(r"https://github\.com/(?P<org>[\w.-]+)/(?P<repo>[\w.-]+)")
COLAB = "https://colab.research.google.com/github/"


def repository_url(app: Sphinx) -> str:
    """The repository URL from _config.yml (``repository.url``), checked to name a GitHub repo."""
    url = app.config.html_theme_options.get("repository_url", "")
    if not GITHUB_REPO.fullmatch(url):
        raise ConfigError(
            f"_config.yml: repository.url must look like https://github.com/<owner>/<repo>, got {url!r}"
        )
    return url


def colab_url(repo_url: str, pagename: str) -> str:
    """Colab link that opens the executed notebook of ``pagename`` from the published site."""
    match = GITHUB_REPO.fullmatch(repo_url)
    assert match is not None  # checked by repository_url() at config time
    return f"{COLAB}{match['org']}/{match['repo']}/blob/{PUBLISHED_BRANCH}/_sources/{pagename}.ipynb"


def _check_config(app: Sphinx, config: Any) -> None:
    repository_url(app)
    # pydata-sphinx-theme reads the stored light/dark choice, or this default on a first visit; left
    # empty, every reader's first page logs "Got invalid theme mode" as a console error.
    if not config.html_context.get("default_mode"):
        config.html_context["default_mode"] = "auto"


def _substitute_url(app: Sphinx, docname: str, source: list[str]) -> None:
    source[0] = source[0].replace(PLACEHOLDER, repository_url(app))


def _restore_cached_outputs(app: Sphinx, doctree: Any) -> None:
    config = getattr(app.env, "mystnb_config", None)
    if config is None or not config.execution_cache_path:
        return
    written = Path(config.output_folder, *f"{app.env.docname}.ipynb".split("/"))
    if not written.is_file():
        return  # not a notebook page
    notebook = nbformat.read(written, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if not code or any(cell.get("outputs") or cell.get("execution_count") for cell in code):
        return  # executed in this build: myst-nb wrote it with its outputs
    try:
        _, merged = get_cache(config.execution_cache_path).merge_match_into_notebook(notebook)
    except KeyError:
        return  # not in the cache (execution off or failed): nothing to restore
    nbformat.write(merged, written)


def _drop_thebe_config(app: Sphinx, doctree: Any, docname: str) -> None:
    # sphinx-thebe appends a per-page configuration naming its demo repository (binder-examples/...)
    # to every page, even with thebe off: remove it, so no page names another repository.
    if _thebe_on(app):
        return
    for node in list(doctree.findall(nodes.raw)):
        if "x-thebe-config" in node.astext() or "kernelName =" in node.astext():
            node.parent.remove(node)


def _thebe_on(app: Sphinx) -> bool:
    return bool(app.config.html_theme_options.get("launch_buttons", {}).get("thebe"))


def _is_thebe(script: Any) -> bool:
    filename = getattr(script, "filename", None) or ""
    body = getattr(script, "attributes", {}).get("body", "")
    return "sphinx-thebe" in filename or "THEBE_JS_URL" in body


def _fix_page(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    thebe_on = _thebe_on(app)
    scripts, seen = [], set()
    for script in context.get("script_files", []):
        key = (getattr(script, "filename", None), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key in seen or (not thebe_on and _is_thebe(script)):
            continue
        seen.add(key)
        scripts.append(script)
    context["script_files"] = scripts

    # The theme has built its launch buttons (priority 501): retarget Colab where a notebook exists.
    # Markdown notebooks have an executed copy (ipynb_source); a lab's .ipynb is copied as its source.
    if not context.get("ipynb_source") and not context.get("sourcename", "").endswith(".ipynb"):
        return
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []):
            if button.get("url", "").startswith(COLAB):
                button["url"] = colab_url(repository_url(app), pagename)


def _substitute_in_copies(app: Sphinx, exception: Exception | None) -> None:
    sources = Path(app.outdir) / "_sources"
    if exception is not None or app.builder.format != "html" or not sources.is_dir():
        return
    url = repository_url(app)
    for file in sources.rglob("*"):
        if file.is_file() and file.suffix in {".md", ".ipynb", ".txt"}:
            text = file.read_text(encoding="utf-8")
            if PLACEHOLDER in text:
                file.write_text(text.replace(PLACEHOLDER, url), encoding="utf-8")


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _check_config)
    app.connect("source-read", _substitute_url)
    app.connect("doctree-read", _restore_cached_outputs)
    app.connect("doctree-resolved", _drop_thebe_config, priority=900)
    app.connect("html-page-context", _fix_page, priority=900)
    app.connect("build-finished", _substitute_in_copies)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
