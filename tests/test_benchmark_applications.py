"""benchmarks/applications.py reads numbers the chapter-6 pages glue: check that each key exists."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _benchmark(name: str = "applications"):
    pytest.importorskip("nbclient")
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_json_key_is_glued_by_its_page() -> None:
    bench = _benchmark()
    issue_keys = {"charlm_bpc", "ngram_bpc", "sentiment_acc", "sentiment_vader_acc", "sentiment_bow_acc",
                  "names_acc", "names_ngram_acc", "arith_acc_in_range", "arith_acc_longer",
                  "music_parse_rate", "music_val_nats"}
    assert issue_keys <= set(bench.KEYS)   # the issue's JSON keys; more may follow them
    for key, (page, glue_key) in bench.KEYS.items():
        path = ROOT / "chapters" / f"06_{page}.md"
        if path.exists():  # a page still to come reports null
            assert re.search(rf"glue\(\"{glue_key}\"", path.read_text(encoding="utf-8")), (key, page)


def test_signals_benchmark_has_the_issues_keys_and_targets() -> None:
    bench = _benchmark("applications_signals")
    issue_keys = {"weather_mae_lstm", "weather_mae_naive", "weather_mae_arima", "ball_err_lstm",
                  "ball_err_kalman", "ball_err_cv", "caption_exact", "caption_exact_novel", "caption_bleu",
                  "speech_digit_error", "speech_string_acc"}
    assert issue_keys <= set(bench.KEYS)
    assert bench.TARGETS["caption_exact"] == (">=", 0.9)
    assert bench.TARGETS["speech_digit_error"] == ("<=", 0.05)
    for page, _ in bench.KEYS.values():
        assert (ROOT / "chapters" / f"06_{page}.md").exists(), page


def test_glued_reads_numbers_and_skips_the_rest() -> None:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    def glued_output(name: str, text: str):  # what myst_nb's glue writes
        prefix = "application/papermill.record/"
        return nbformat.v4.new_output("display_data", data={prefix + "text/plain": text},
                                      metadata={"scrapbook": {"name": name, "mime_prefix": prefix}})

    cell.outputs = [glued_output("a", "0.812"), glued_output("b", "'text'"),
                    nbformat.v4.new_output("stream", text="0.5")]
    nb.cells.append(cell)
    assert _benchmark().glued(nb) == {"a": 0.812}
