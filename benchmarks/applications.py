"""Chapter 6's applications on symbols, each model beside its baseline, at the chapters' setting.

The pages are the single copy of each experiment: this script executes every
``chapters/06_<page>.md`` that exists (through jupytext and nbclient, as the book build does),
reads the numbers each page glues into its text, and prints a table, the CPU and wall seconds of
each page, and one last JSON line with the issue's keys. A key whose page is absent is ``null``.
Baselines, stated: a smoothed character n-gram model and a word-level LSTM (generation, both in
bits per character of the same test text), TF-IDF logistic regression and VADER (sentiment),
character n-gram logistic regression (names), the same network with digits in the usual order
(arithmetic), a character n-gram model and real tunes (music), Kim (2014)'s published MR table,
and the targets below. Where a page trains several seeds or draws several samples, its number is
the mean: sentiment and names over 3 training seeds, music's parse rate over 3 sampler draws of 50.

    COURSE_LIB_DATA=../shared/data nice python benchmarks/applications.py [--pages sentiment names] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
# JSON key -> (page, glue key on that page)
KEYS = {
    "charlm_bpc": ("generation", "gen_lstm_bpc"),
    "ngram_bpc": ("generation", "gen_ngram_bpc"),
    "sentiment_acc": ("sentiment", "sent_lstm_acc"),
    "sentiment_vader_acc": ("sentiment", "sent_vader_acc"),
    "sentiment_bow_acc": ("sentiment", "sent_bow_acc"),
    "names_acc": ("names", "names_gru_acc"),
    "names_ngram_acc": ("names", "names_ngram_acc"),
    "arith_acc_in_range": ("arithmetic", "arith_acc_in_range"),
    "arith_acc_longer": ("arithmetic", "arith_acc_longer"),
    "music_parse_rate": ("music", "music_parse_rate"),
    "music_val_nats": ("music", "music_val_nats"),
    # beyond the keys: the word-level model, and tunes primed with a complete header
    "wordlm_bpc": ("generation", "gen_word_bpc"),
    "names_acc_min": ("names", "names_gru_min"),
    "sentiment_acc_min": ("sentiment", "sent_lstm_min"),
    "music_primed_parse_rate": ("music", "music_primed_rate"),
}
TARGETS = {"sentiment_acc": (">=", 0.76), "arith_acc_in_range": (">=", 0.98), "music_parse_rate": (">=", 0.8)}


def glued(nb) -> dict[str, float]:
    """Every scalar a page glued: myst-nb marks those outputs with ``metadata.scrapbook.name``."""
    found = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            record = out.get("metadata", {}).get("scrapbook", {})
            name = record.get("name")  # the value sits under the record's mime prefix
            text = out.get("data", {}).get(record.get("mime_prefix", "") + "text/plain")
            if name and text is not None:
                try:
                    found[name] = float(text)
                except ValueError:
                    continue  # a glued figure or string: not a number for the table
    return found


def run_page(page: str, save: Path | None = None) -> tuple[dict[str, float], float, float]:
    """Execute chapters/06_<page>.md in a fresh kernel -> (glued numbers, kernel CPU s, wall s).

    ``save``: a folder to write the executed notebook to (to read its printed outputs).
    """
    nb = jupytext.read(ROOT / "chapters" / f"06_{page}.md")
    wall, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        NotebookClient(nb, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "chapters")}}).execute()
    finally:
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, save / f"06_{page}.ipynb")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel is a child that has exited
    cpu_s = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    return glued(nb), cpu_s, time.perf_counter() - wall


def try_page(page: str, save: Path | None = None) -> tuple[str, dict[str, float], float, float, str | None]:
    """run_page, with a failing page reported instead of raised (the others still get scored)."""
    if not (ROOT / "chapters" / f"06_{page}.md").exists():
        return page, {}, 0.0, 0.0, "no page yet: its keys are null"
    try:
        return (page, *run_page(page, save), None)
    except CellExecutionError as error:
        return page, {}, 0.0, 0.0, "FAILED: " + str(error).strip().splitlines()[-1][:300]


def main(keys: dict[str, tuple[str, str]] = KEYS,
         targets: dict[str, tuple[str, float]] = TARGETS, doc: str = __doc__) -> None:
    """Run the pages behind ``keys`` (JSON key -> (page, glue key)) and check ``targets``.

    ``targets``: JSON key -> (">=" or "<=", bound). ``benchmarks/applications_signals.py`` calls
    this with chapter 6 part 2's pages.
    """
    pages = sorted({p for p, _ in keys.values()})
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--pages", nargs="*", default=pages, choices=pages)
    parser.add_argument("--jobs", type=int, default=1, help="pages executed at once (one kernel each)")
    parser.add_argument("--save", type=Path, default=None, help="folder for the executed notebooks")
    parser.add_argument("--read", type=Path, default=None,
                        help="read the numbers from notebooks a --save run wrote, executing nothing")
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")
    numbers: dict[str, float] = {}
    if args.read is not None:
        for path in sorted(args.read.glob("06_*.ipynb")):
            numbers.update(glued(nbformat.read(path, as_version=4)))
        args.pages = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        runs = pool.map(try_page, args.pages, [args.save] * len(args.pages))
        for page, values, cpu_s, wall_s, problem in runs:
            numbers.update(values)
            status = problem or f"executed in {cpu_s:7.1f} CPU s, {wall_s:7.1f} wall s"
            print(f"{page:<12} {status}", flush=True)
    result = {key: numbers.get(glue_key) for key, (_, glue_key) in keys.items()}
    width = max(map(len, result)) + 2
    print(f"\n{'key':<{width}}{'value':>10}  target")
    for key, value in result.items():
        op, bound = targets.get(key, ("", None))
        met = "" if bound is None or value is None else (
            "met" if (value >= bound if op == ">=" else value <= bound) else "MISSED")
        shown = "-" if value is None else f"{value:.4f}"
        print(f"{key:<{width}}{shown:>10}  {op} {bound if bound is not None else ''} {met}")
    print(json.dumps({k: (None if v is None else round(v, 4)) for k, v in result.items()}))


if __name__ == "__main__":
    main()
