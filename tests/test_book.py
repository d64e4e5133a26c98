"""Fast checks of the Jupyter Book's sources, the lab notebooks' wiring, and course_lib.plot.

The build itself (`make book`, `jupyter-book build . -W --keep-going`) executes every page; these
tests catch, in a second or two, what would otherwise surface only there or not at all: a page
missing from the table of contents, committed outputs, a citation key not in references.bib, a
glued number never computed, a figure without alt text, a lab whose checked cells have no
committed output, an absolute path. One slow test runs nbval on a lab with a wrong solution to
prove that the wiring catches it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import yaml

from course_lib import plot

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
# A chapter is a short landing page, chapters/NN_index.md, with its pages (MyST notebooks) as sections.
LANDINGS = sorted((ROOT / "chapters").glob("[0-9][0-9]_index.md"))
CHAPTERS = sorted(p for p in (ROOT / "chapters").glob("*.md") if p not in LANDINGS)
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
PAGES = [ROOT / "intro.md", *sorted(ROOT.glob("*.md")), *LANDINGS, *CHAPTERS, *LABS]
PAGES = sorted(set(p for p in PAGES if p.name != "README.md"))

CITE_RE = re.compile(r"\{(?:foot)?cite(?::[a-z]+)?\}`([^`]+)`")
GLUE_USE_RE = re.compile(r"\{glue(?::[a-z]+)?\}`([A-Za-z_][A-Za-z0-9_]*)")
GLUE_DEF_RE = re.compile(r"""glue\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")
# A key computed in a loop, glue(f"acc_{name}", ...): its literal prefix must start the used key.
GLUE_FDEF_RE = re.compile(r"""glue\(\s*f["']([A-Za-z_][A-Za-z0-9_]*)\{""")
INSTALL_URL_RE = re.compile(r"course_lib @ git\+(\S+?)[\"'\s]")
URL_PLACEHOLDER = "{{ repository_url }}"  # replaced by _ext/course_site.py at build time
ABSOLUTE_PATH_RE = re.compile(r"(?<![\w.:/])(/work/|/home/|/Users/|/tmp/|/root/|[A-Z]:\\)")


def _toc_files(toc: dict) -> list[str]:
    def walk(entries: list[dict]) -> list[str]:
        found: list[str] = []
        for entry in entries:
            found.append(entry["file"])
            found += walk(entry.get("sections", []))  # a chapter's further pages
        return found

    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += walk(part.get("chapters", []))
    return files


def _page_path(name: str) -> Path:
    # The book lists each lab's student version, generated from its master in labs/ (make student-labs).
    if name.startswith("student_labs/"):
        name = "labs/" + name.removeprefix("student_labs/")
    for suffix in (".md", ".ipynb"):
        if (ROOT / (name + suffix)).exists():
            return ROOT / (name + suffix)
    raise FileNotFoundError(f"_toc.yml lists {name!r} but neither {name}.md nor {name}.ipynb exists")


def _text_of(page: Path) -> str:
    """Markdown and code of a page (an .ipynb's cells joined; outputs are checked separately)."""
    if page.suffix == ".ipynb":
        nb = json.loads(page.read_text(encoding="utf-8"))
        return "\n".join("".join(cell["source"]) for cell in nb["cells"])
    return page.read_text(encoding="utf-8")


def _bib_keys() -> list[str]:
    return re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "references.bib").read_text(encoding="utf-8"), re.M)


def _notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


# --------------------------------------------------------------------------- table of contents
def test_toc_has_chapters_and_labs_parts_and_every_entry_exists() -> None:
    captions = [part["caption"] for part in TOC["parts"]]
    assert captions[:2] == ["Chapters", "Labs"]
    for name in _toc_files(TOC):
        assert _page_path(name).is_file()


def test_every_chapter_and_lab_is_in_the_toc() -> None:
    # only_build_toc_files is on, so a page left out of _toc.yml would silently vanish from the site.
    listed = {_page_path(name) for name in _toc_files(TOC)}
    missing = [p.relative_to(ROOT).as_posix() for p in [*LANDINGS, *CHAPTERS, *LABS] if p not in listed]
    assert not missing, f"add these pages to _toc.yml: {missing}"


def test_each_chapter_is_a_landing_page_with_its_pages_as_numbered_sections() -> None:
    # Chapter N is chapters/NN_index.md and its pages are its sections, so the site numbers them
    # N.1, N.2, ... (a page listed under another page would continue that page's numbering).
    part = next(p for p in TOC["parts"] if p["caption"] == "Chapters")
    assert part.get("numbered") is True
    entries = part["chapters"]
    numbers = sorted({p.name[:2] for p in CHAPTERS})
    assert [e["file"] for e in entries] == [f"chapters/{n}_index" for n in numbers], (
        "each chapter NN needs chapters/NN_index.md as its _toc.yml entry (README, 'Adding a chapter page')"
    )
    for entry, number in zip(entries, numbers, strict=True):
        sections = [s["file"] for s in entry.get("sections", [])]
        pages = {f"chapters/{p.stem}" for p in CHAPTERS if p.name.startswith(number)}
        assert set(sections) == pages, f"chapter {number}: sections {sections}, pages {sorted(pages)}"
        assert all("sections" not in s for s in entry["sections"]), "pages nest one level only"


@pytest.mark.parametrize("landing", LANDINGS, ids=lambda p: p.name)
def test_chapter_landing_pages_are_short_and_list_their_pages(landing: Path) -> None:
    text = landing.read_text(encoding="utf-8")
    assert re.match(r"# \S", text), f"{landing.name} must start with the chapter's title"
    assert "```{tableofcontents}" in text, f"{landing.name} should list its pages with {{tableofcontents}}"
    assert "{code-cell}" not in text and len(text.splitlines()) <= 40, "a landing page is a short text page"


# --------------------------------------------------------------------------- configuration, by behaviour
def _mini_book(tmp_path: Path) -> Path:
    """A two-page book built with the course's real _config.yml, extension and static files."""
    book = tmp_path / "book"
    book.mkdir()
    for name in ("_config.yml", "references.bib"):
        shutil.copy(ROOT / name, book / name)
    for folder in ("_ext", "_static"):
        shutil.copytree(ROOT / folder, book / folder, ignore=shutil.ignore_patterns("__pycache__"))
    # A stand-in for the MathJax that `make book` vendors (its presence, not its content, matters here).
    vendor = book / "_build" / "vendor" / "mathjax"
    vendor.mkdir(parents=True)
    (vendor / "tex-mml-chtml.js").write_text("/* stand-in */\n", encoding="utf-8")
    header = (
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  name: python3\n  display_name: Python 3\n---\n"
    )
    (book / "intro.md").write_text("# Mini\n\nSome math: $a^2 + b^2$.\n", encoding="utf-8")
    (book / "ok.md").write_text(
        header + "# Works\n\n```{code-cell} ipython3\nurl = 'course_lib @ git+"
        + URL_PLACEHOLDER + "'\nprint('ran fine')\n```\n",
        encoding="utf-8",
    )
    failing = "raise RuntimeError('this cell fails on purpose')"
    bad = header + f"# Breaks\n\n```{{code-cell}} ipython3\n{failing}\n```\n"
    (book / "bad.md").write_text(bad, encoding="utf-8")
    (book / "stray.md").write_text("# Not in the table of contents\n", encoding="utf-8")
    (book / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: ok\n  - file: bad\n", encoding="utf-8"
    )
    return book


@pytest.fixture(scope="module")
def mini_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """Build the mini book exactly as `make book` builds the course (-W --keep-going)."""
    book = _mini_book(tmp_path_factory.mktemp("mini"))
    jb = Path(sys.executable).with_name("jupyter-book")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    result = subprocess.run([str(jb), "build", str(book), "-W", "--keep-going"],
                            capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    return result, book / "_build" / "html"


@pytest.mark.slow
def test_a_failing_cell_fails_the_build(mini_build: tuple) -> None:
    result, html = mini_build
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-3000:]
    assert re.search(r"bad\.md.*(CellExecutionError|RuntimeError)", out), out[-3000:]
    assert (html / "ok.html").is_file(), "--keep-going should still write the good page"


@pytest.mark.slow
def test_the_built_site_serves_its_own_mathjax_and_no_remote_script(mini_build: tuple) -> None:
    _, html = mini_build
    page = (html / "intro.html").read_text(encoding="utf-8")  # index.html only redirects here
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', page)
    mathjax = [s for s in scripts if "tex-mml-chtml" in s]
    assert len(mathjax) == 1, scripts
    assert not mathjax[0].startswith(("http:", "https:", "//")), f"MathJax from the network: {mathjax}"
    assert (html / mathjax[0].split("?")[0]).resolve().is_file(), f"{mathjax[0]} is not in the site"
    remote = [s for s in scripts if s.startswith(("http:", "https:", "//"))]
    assert not remote, f"scripts fetched from the network: {remote}"
    # Thebe is off (launch_buttons.thebe: false): none of sphinx-thebe's scripts or configuration,
    # which used to be included twice and to name its demo repository, reaches a page.
    assert CONFIG["launch_buttons"]["thebe"] is False
    for name in ("intro.html", "ok.html"):
        text = (html / name).read_text(encoding="utf-8")
        assert "THEBE_JS_URL" not in text and "x-thebe-config" not in text and "binder-examples" not in text


@pytest.mark.slow
def test_only_pages_in_the_toc_are_built_and_the_repository_url_is_substituted(mini_build: tuple) -> None:
    _, html = mini_build
    assert not (html / "stray.html").exists()
    url = CONFIG["repository"]["url"]
    for file in (html / "ok.html", html / "_sources" / "ok.ipynb"):
        text = file.read_text(encoding="utf-8")
        assert f"course_lib @ git+{url}" in text and URL_PLACEHOLDER not in text, file.name


def test_install_cells_use_the_one_configured_repository_url() -> None:
    # Chapters and labs install course_lib in Colab; the build fills in the URL from _config.yml.
    for page in [*CHAPTERS, *LABS]:
        assert f"course_lib @ git+{URL_PLACEHOLDER}" in _text_of(page), (
            f"{page.name}: the install cell should read \"course_lib @ git+{URL_PLACEHOLDER}\""
        )


def test_the_repository_url_is_written_in_one_place_only() -> None:
    url = CONFIG["repository"]["url"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), url
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    holders = [
        name for name in tracked.stdout.split()
        if Path(name).suffix in {".md", ".ipynb", ".py", ".yml", ".yaml", ".js", ".toml", ".txt", ""}
        and (ROOT / name).is_file() and url in (ROOT / name).read_text(encoding="utf-8", errors="ignore")
    ]  # fmt: skip
    assert holders == ["_config.yml"], f"the repository URL should appear only in _config.yml: {holders}"


def test_colab_links_open_the_published_executed_notebook() -> None:
    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        import course_site
    finally:
        sys.path.remove(str(ROOT / "_ext"))
    link = course_site.colab_url("https://github.com/someone/course", "chapters/01_recurrence")
    assert link == ("https://colab.research.google.com/github/someone/course/blob/gh-pages/"
                    "_sources/chapters/01_recurrence.ipynb")  # fmt: skip
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text(encoding="utf-8"))
    assert course_site.PUBLISHED_BRANCH in json.dumps(workflow), "the workflow must publish to that branch"


def test_pytest_never_collects_build_copies_and_runs_labs_with_nbval() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]
    ini = options["ini_options"]
    assert {"_build", ".ipynb_checkpoints"} <= set(ini["norecursedirs"])
    assert "labs" in ini["testpaths"]
    assert "--nbval-lax" in ini["addopts"].split()
    assert (ROOT / "labs" / "nbval_sanitize.cfg").is_file()


# --------------------------------------------------------------------------- pages
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_chapters_are_myst_notebooks_with_a_jupytext_header(chapter: Path) -> None:
    text = chapter.read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, f"{chapter.name} must start with a YAML front matter (jupytext header)"
    header = yaml.safe_load(match.group(1))
    assert header["jupytext"]["text_representation"]["format_name"] == "myst"
    assert header["kernelspec"]["name"] == "python3"
    assert "```{code-cell} ipython3" in text


def test_chapters_commit_no_outputs() -> None:
    # Chapters are text; their outputs come from the build. A paired .ipynb would carry outputs.
    assert not list((ROOT / "chapters").glob("*.ipynb"))


def test_every_citation_key_is_in_references_bib() -> None:
    keys = _bib_keys()
    assert len(keys) == len(set(keys)), "duplicate keys in references.bib"
    cited = {
        k.strip() for page in PAGES for group in CITE_RE.findall(_text_of(page)) for k in group.split(",")
    }
    assert cited, "no page cites anything: is the citation regex still right?"
    assert cited <= set(keys), f"not in references.bib: {sorted(cited - set(keys))}"


def test_bibliography_directive_exists_once() -> None:
    holders = [p.name for p in PAGES if "```{bibliography}" in _text_of(p)]
    assert len(holders) == 1, f"one global bibliography avoids duplicate-citation warnings: {holders}"
    assert Path(holders[0]).stem in _toc_files(TOC)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_every_glued_number_is_computed_on_its_page(chapter: Path) -> None:
    text = chapter.read_text(encoding="utf-8")
    used, defined = set(GLUE_USE_RE.findall(text)), set(GLUE_DEF_RE.findall(text))
    prefixes = tuple(GLUE_FDEF_RE.findall(text))
    used = {key for key in used if not (prefixes and key.startswith(prefixes))}
    assert used <= defined, f"{chapter.name} uses glue keys it never computes: {sorted(used - defined)}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_every_figure_has_a_caption_name_and_alt_text(chapter: Path) -> None:
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(chapter)
    for cell in _code_cells(nb):
        if "plt.show()" not in cell["source"]:
            continue
        mystnb = cell["metadata"].get("mystnb", {})
        first_line = cell["source"].splitlines()[0]
        assert mystnb.get("figure", {}).get("caption"), f"figure without caption: {first_line}"
        assert mystnb.get("figure", {}).get("name"), f"figure without name: {first_line}"
        assert len(mystnb.get("image", {}).get("alt", "")) > 20, f"figure without alt text: {first_line}"


@pytest.mark.parametrize("page", [*PAGES, ROOT / "_config.yml", ROOT / "_toc.yml"], ids=lambda p: p.name)
def test_no_absolute_paths_in_pages(page: Path) -> None:
    text = page.read_text(encoding="utf-8")  # an .ipynb's committed outputs included
    assert not ABSOLUTE_PATH_RE.search(text), f"{page.name}: {ABSOLUTE_PATH_RE.search(text).group(0)}"


# --------------------------------------------------------------------------- labs
@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.name)
def test_lab_solutions_are_marked_and_followed_by_a_checked_self_check(lab: Path) -> None:
    cells = _code_cells(_notebook(lab))
    n_solutions = 0
    for i, cell in enumerate(cells):
        src = "".join(cell["source"])
        begins, ends = src.count("# BEGIN SOLUTION"), src.count("# END SOLUTION")
        assert begins == ends, f"cell {i}: unbalanced BEGIN/END SOLUTION markers"
        if begins:
            n_solutions += 1
            following = "".join(cells[i + 1]["source"]) if i + 1 < len(cells) else ""
            assert "# NBVAL_CHECK_OUTPUT" in following, (
                f"solution cell {i} needs a checked self-check after it"
            )
    assert n_solutions >= 3


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.name)
def test_lab_checked_cells_have_committed_outputs_and_no_errors(lab: Path) -> None:
    cells = _code_cells(_notebook(lab))
    checked = [c for c in cells if "# NBVAL_CHECK_OUTPUT" in "".join(c["source"])]
    assert checked, "nbval-lax compares nothing unless some cells are marked # NBVAL_CHECK_OUTPUT"
    for cell in checked:
        assert cell["outputs"], f"checked cell has no committed output: {''.join(cell['source'])[:60]!r}"
    for cell in cells:
        assert all(o["output_type"] != "error" for o in cell["outputs"]), "a committed output is an error"
        text = "".join("".join(o.get("text", "")) for o in cell["outputs"])
        assert "❌" not in text, "the committed lab must show its solutions passing"


@pytest.mark.slow
def test_nbval_fails_a_lab_whose_solution_is_wrong(tmp_path: Path) -> None:
    """Break exercise 1 of lab 0 (no sorting) and check that nbval reports that very cell."""
    lab = ROOT / "labs" / "lab00_sequences_as_tensors.ipynb"
    nb = _notebook(lab)
    right = "ordered = sorted(counts, key=lambda tok: -counts[tok])"
    edited = []
    for i, cell in enumerate(_code_cells(nb)):
        lines = cell["source"] if isinstance(cell["source"], list) else [cell["source"]]
        new = [line.replace(right, "ordered = list(counts)") for line in lines]
        if new != lines:
            edited.append(i)
        cell["source"] = new
    assert len(edited) == 1, "the solution line this test breaks has changed: update the test"
    broken = tmp_path / lab.name
    broken.write_text(json.dumps(nb), encoding="utf-8")
    cmd = [sys.executable, "-m", "pytest", str(broken), "-q", "-p", "no:cacheprovider", "-c", os.devnull,
           "--rootdir", str(tmp_path), "--nbval-lax", "--nbval-current-env",
           "--nbval-sanitize-with", str(ROOT / "labs" / "nbval_sanitize.cfg")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out[-3000:]
    # The self-check right after the broken solution fails by comparing outputs (not by a crash),
    # and so does the hidden test after it, which the master runs in-process (see instructors.md).
    assert re.search(r"\b2 failed\b", out), out[-3000:]
    assert f"FAILED {broken.name}::Cell {edited[0] + 1}" in out, out[-3000:]
    assert f"FAILED {broken.name}::Cell {edited[0] + 2}" in out, out[-3000:]
    assert "reference_output == test_output" in out, out[-3000:]


# --------------------------------------------------------------------------- course_lib.plot
def test_importing_plot_changes_no_matplotlib_setting() -> None:
    code = (
        "import matplotlib as mpl; before = dict(mpl.rcParams); import course_lib.plot; "
        "assert dict(mpl.rcParams) == before, 'course_lib.plot changed rcParams at import'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_book_style_is_scoped() -> None:
    before = matplotlib.rcParams["figure.facecolor"], matplotlib.rcParams["axes.spines.top"]
    with plot.book_style():
        assert matplotlib.rcParams["figure.facecolor"] == "white"
        assert matplotlib.rcParams["axes.spines.top"] is False
    assert (matplotlib.rcParams["figure.facecolor"], matplotlib.rcParams["axes.spines.top"]) == before


def test_visible_shows_whitespace() -> None:
    assert plot.visible("a b\n\t") == "a\u2423b\u21b5\u21e5"
    with pytest.raises(TypeError, match="str"):
        plot.visible(3)  # type: ignore[arg-type]


def test_plot_token_grid_draws_one_cell_and_label_per_token() -> None:
    tokens = [list("abc"), list("de "), list("f  ")]
    mask = torch.tensor([[True, True, True], [True, True, False], [True, False, False]])
    groups = torch.tensor([[0, 0, 1], [0, 1, 1], [2, 2, 2]])
    ax = plot.plot_token_grid(tokens, groups=groups, mask=mask, row_labels=["x", "y", "z"], group_name="w")
    try:
        labels = [t.get_text() for t in ax.texts]
        assert labels == ["a", "b", "c", "d", "e", "\u2423", "f", "\u2423", "\u2423"]
        cells = ax.patches
        assert len(cells) == 9
        colours = [matplotlib.colors.to_hex(c.get_facecolor()[:3]) for c in cells]
        assert colours[0] == colours[1] == plot.PALETTE[0].lower() and colours[2] == plot.PALETTE[1].lower()
        grey = [i for i, c in enumerate(cells) if c.get_hatch()]
        assert grey == [5, 7, 8]  # exactly the padded positions, row-major
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == ["w 0", "w 1", "w 2"]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y", "z"]
    finally:
        plt.close(ax.figure)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tokens": []}, "non-empty"),
        ({"tokens": "abc"}, "non-empty"),
        ({"tokens": [["a", "b"], ["c"]]}, "rectangular"),
        ({"tokens": [["a", "b"]], "groups": np.zeros((2, 1), dtype=int)}, r"groups must have shape \(1, 2\)"),
        ({"tokens": [["a", "b"]], "groups": np.array([[0.5, 1.0]])}, "non-negative integers"),
        ({"tokens": [["a", "b"]], "groups": np.array([[0, -1]])}, "non-negative integers"),
        ({"tokens": [["a", "b"]], "mask": np.array([[1, 0]])}, "boolean"),
        ({"tokens": [["a", "b"]], "mask": torch.ones(2, 1, dtype=torch.bool)}, r"mask must have shape"),
        ({"tokens": [["a", "b"]], "row_labels": ["x", "y"]}, "row_labels needs 1"),
    ],
)
def test_plot_token_grid_rejects_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plot.plot_token_grid(**kwargs)
    plt.close("all")


# --------------------------------------------------------------------------- claims table
CLAIMS = ROOT / "claims.md"
CROSS_GLUE_RE = re.compile(r"\{glue:text\}`([^`:]+)::([A-Za-z_][A-Za-z0-9_]*):[^`]*`")
# Claims whose page is not written yet: their rows say "coming" and name the page to come. When
# that page lands, glue its measurement into the row and remove the claim here.
COMING: dict[int, tuple[str, str]] = {}


def _claim_rows() -> dict[int, list[str]]:
    rows = {}
    for line in CLAIMS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].isdigit():
            rows[int(cells[0])] = cells
    return rows


def test_claims_table_lists_every_claim_with_a_page_and_a_measured_number() -> None:
    rows = _claim_rows()
    assert sorted(rows) == list(range(1, len(rows) + 1)) and len(rows) >= 18, sorted(rows)
    for number, (_, claim, page, measured) in rows.items():
        assert CITE_RE.search(claim), f"claim {number} cites no source"
        if number in COMING:
            assert measured == "coming" and COMING[number][0] in page, f"claim {number}: {page} | {measured}"
            continue
        refs = CROSS_GLUE_RE.findall(measured)
        assert refs, f"claim {number} has no number pasted from a page: {measured!r}"
        assert not re.search(r"(?<![\w.])\d*\.\d+|\d+%", CROSS_GLUE_RE.sub("", measured)), (
            f"claim {number}: a number typed by hand instead of glued: {measured!r}"
        )
        for doc, key in refs:
            source = (ROOT / doc).read_text(encoding="utf-8")
            defined = set(GLUE_DEF_RE.findall(source))
            prefixes = tuple(GLUE_FDEF_RE.findall(source))
            assert key in defined or (prefixes and key.startswith(prefixes)), f"{doc} never glues {key!r}"
            assert f"chapters/{Path(doc).stem}" in page, f"claim {number}: number from {doc}, page {page}"


def test_coming_claims_belong_to_pages_not_yet_written() -> None:
    for number, (chapter, pattern) in COMING.items():
        written = sorted(p.name for p in (ROOT / "chapters").glob(pattern))
        assert not written, f"{chapter} exists ({written}): glue its measurement into claim {number}"


# --------------------------------------------------------------------------- CI and publishing
def _make_commands(text: str) -> list[str]:
    return re.findall(r"^\s*(?:run:\s*)?(make [\w-]+)\s*$", text, re.M)


def test_ci_runs_the_readme_commands_and_requires_the_browser_tests() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _make_commands(ci) == ["make test", "make book", "make site-test"]
    for command in _make_commands(ci):
        assert f"\n{command} " in readme, f"README does not show `{command}`"
    assert "export COURSE_REQUIRE_BROWSER=1" in ci and "apt-get install -y -qq chromium" in ci


def test_publishing_workflow_builds_like_ci_and_publishes_the_site_from_main() -> None:
    text = (ROOT / ".github" / "workflows" / "book.yml").read_text(encoding="utf-8")
    workflow = yaml.safe_load(text)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"] and "pull_request" in triggers
    assert workflow["permissions"]["contents"] == "write"
    (job,) = workflow["jobs"].values()
    assert job["env"]["COURSE_REQUIRE_BROWSER"] == "1"
    runs = [step.get("run", "") for step in job["steps"]]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert [r.strip() for r in runs if r.strip().startswith("make ")] == _make_commands(ci)
    publish = job["steps"][-1]
    assert publish["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert "cd _build/html" in publish["run"] and "touch .nojekyll" in publish["run"]
    assert re.search(r"git push .* gh-pages$", publish["run"].strip()), publish["run"]
    # The URL check runs before anything is built, and reads the line the extension reads.
    check = next(i for i, s in enumerate(job["steps"]) if "_config.yml" in s.get("name", ""))
    assert check < runs.index("make test")
    line = re.search(r"^  url: *(\S+)$", (ROOT / "_config.yml").read_text(encoding="utf-8"), re.M)
    assert line and line.group(1) == CONFIG["repository"]["url"], "the workflow's sed would read another line"


# --------------------------------------------------------------------------- make pdf's checker
def test_pdf_check_reads_bookmarks_plain_and_compressed_and_reports_missing_pages(tmp_path: Path) -> None:
    import zlib

    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        import print_pdf
    finally:
        sys.path.remove(str(ROOT / "_ext"))
    utf16 = ("<FEFF" + "Gated cells: LSTM and GRU".encode("utf-16-be").hex().upper() + ">").encode()
    hidden = zlib.compress(b"<</Title " + utf16 + b" /Parent 1 0 R>>\n<</Type /Page>>")
    pdf = (b"%PDF-1.4\n1 0 obj\n<</Title (1.2. Recurrence: one set\\(s\\) of) /Type /Page>>\nendobj\n"
           b"2 0 obj\n<</Length " + str(len(hidden)).encode() + b" /Filter /FlateDecode>>\nstream\n"
           + hidden + b"\nendstream\nendobj\ntrailer\n<<>>\n%%EOF\n")  # fmt: skip
    path = tmp_path / "book.pdf"
    path.write_bytes(pdf)
    titles = ["Recurrence: one set(s) of", "Gated cells: LSTM and GRU", "Word embeddings"]
    assert print_pdf.check_pdf(path, titles) == (2, ["Word embeddings"])
    path.write_bytes(pdf[:-7])  # truncated: no %%EOF
    with pytest.raises(ValueError, match="not a complete PDF"):
        print_pdf.check_pdf(path, titles)
