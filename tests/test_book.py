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
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
PAGES = [ROOT / "intro.md", *sorted(ROOT.glob("*.md")), *CHAPTERS, *LABS]
PAGES = sorted(set(p for p in PAGES if p.name != "README.md"))

CITE_RE = re.compile(r"\{(?:foot)?cite(?::[a-z]+)?\}`([^`]+)`")
GLUE_USE_RE = re.compile(r"\{glue(?::[a-z]+)?\}`([A-Za-z_][A-Za-z0-9_]*)")
GLUE_DEF_RE = re.compile(r"""glue\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")
# A key computed in a loop, glue(f"acc_{name}", ...): its literal prefix must start the used key.
GLUE_FDEF_RE = re.compile(r"""glue\(\s*f["']([A-Za-z_][A-Za-z0-9_]*)\{""")
INSTALL_URL_RE = re.compile(r"course_lib @ git\+(\S+?)[\"'\s]")
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
    missing = [p.relative_to(ROOT).as_posix() for p in [*CHAPTERS, *LABS] if p not in listed]
    assert not missing, f"add these pages to _toc.yml: {missing}"


# --------------------------------------------------------------------------- configuration
def test_config_executes_pages_and_fails_on_errors() -> None:
    execute = CONFIG["execute"]
    assert execute["execute_notebooks"] in {"cache", "force"}
    assert execute["allow_errors"] is False
    assert 60 <= execute["timeout"] <= 600
    assert CONFIG["only_build_toc_files"] is True
    assert CONFIG["bibtex_bibfiles"] == ["references.bib"]


def test_config_keeps_non_pages_out_of_the_site() -> None:
    patterns = set(CONFIG["exclude_patterns"])
    for needed in ("_build", "tests", "course_lib", ".*", "**/.ipynb_checkpoints"):
        assert needed in patterns, f"exclude_patterns should contain {needed!r}"


def test_launch_buttons_and_repository_are_configured() -> None:
    repo = CONFIG["repository"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repo["url"])
    assert repo["branch"] == "main" and repo["path_to_book"] == ""
    buttons = CONFIG["launch_buttons"]
    assert buttons["colab_url"] == "https://colab.research.google.com"
    assert buttons["binderhub_url"] == "https://mybinder.org"
    assert CONFIG["html"]["use_repository_button"] is True


def test_install_cells_point_at_the_configured_repository() -> None:
    # Chapters and labs install course_lib in Colab from the repository named in _config.yml.
    pages_with_code = [*CHAPTERS, *LABS]
    for page in pages_with_code:
        urls = INSTALL_URL_RE.findall(_text_of(page))
        assert urls, f"{page.name} has no cell that installs course_lib when it is missing"
        assert set(urls) == {CONFIG["repository"]["url"]}, f"{page.name}: {urls}"


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
