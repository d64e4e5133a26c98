"""benchmarks/g2p.py end to end on a few words and steps: the JSON keys chapter 5 reads, the
prediction files, and checkpoints that a second run loads instead of retraining."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from course_lib.data import g2p

ROOT = Path(__file__).resolve().parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location("g2p_benchmark", ROOT / "benchmarks" / "g2p.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def _tiny_split(lexicon, **kwargs):
    full = _SPLIT(lexicon, **kwargs)
    cut = lambda part, n: {w: part[w] for w in sorted(part)[:n]}  # noqa: E731
    return g2p.G2PSplit(train=cut(full.train, 400), val=cut(full.val, 25), test=cut(full.test, 30))


_SPLIT = g2p.split_by_word


def _run(bench, monkeypatch, capsys, *args: str) -> tuple[dict | None, str]:
    monkeypatch.setattr(g2p, "split_by_word", _tiny_split)
    monkeypatch.setattr("sys.argv", ["g2p.py", "--steps", "3", "--beams", "1,2", *args])
    bench.main()
    out = capsys.readouterr().out
    return (None if "--train-only" in args else json.loads(out.strip().splitlines()[-1])), out


def test_benchmark_reports_the_keys_the_chapter_reads_and_reuses_checkpoints(tmp_path, monkeypatch, capsys):
    bench = _benchmark()
    ckpt, out_dir = tmp_path / "ck", tmp_path / "out"
    result, printed = _run(bench, monkeypatch, capsys, "--checkpoints", str(ckpt), "--out", str(out_dir))
    assert list(result)[:3] == ["scale", "test_per", "test_wer"]  # chapters/05_attention.md finds the line so
    for key in ("test_wer_no_attention", "train_seconds", "train_cpu_seconds", "params", "beam"):
        assert key in result, key
    assert result["beam"] in (1, 2) and set(result["val_wer_by_beam"]) == {"1", "2"}
    for name in ("additive", "multiplicative", "none"):
        r = result[name]
        assert 0 <= r["test_per"] and 0 <= r["test_wer"] <= 1
        assert len(r["loss_every_200_steps"]) == 1 and r["params"] > 0
    assert result["headline"] == "additive" and result["test_wer"] == result["additive"]["test_wer"]
    assert {"off_by_one", "vowel_for_vowel", "wer_by_length", "confusions"} <= set(result["error_profile"])
    assert "| multiplicative |" in printed
    rows = (out_dir / "test_predictions.tsv").read_text().splitlines()
    assert len(rows) == 30 and all(r.count("\t") == 1 for r in rows)
    assert len((out_dir / "train_words.txt").read_text().split()) == 400
    names = [f"cpu_{m}_seed0.pt" for m in ("additive", "multiplicative", "none")]
    assert sorted(p.name for p in ckpt.iterdir()) == names
    again, _ = _run(bench, monkeypatch, capsys, "--checkpoints", str(ckpt))  # loads: the same numbers
    for name in ("additive", "multiplicative", "none"):
        assert again[name] == result[name]


def test_benchmark_refuses_bad_arguments_and_a_checkpoint_of_another_setting(tmp_path, monkeypatch, capsys):
    bench = _benchmark()
    monkeypatch.setattr("sys.argv", ["g2p.py", "--models", "additive,transformer"])
    with pytest.raises(SystemExit):
        bench.main()
    monkeypatch.setattr("sys.argv", ["g2p.py", "--train-only"])
    with pytest.raises(SystemExit):
        bench.main()
    _run(bench, monkeypatch, capsys, "--models", "none", "--checkpoints", str(tmp_path), "--train-only")
    with pytest.raises(ValueError, match="another setting"):
        monkeypatch.setattr("sys.argv", ["g2p.py", "--steps", "4", "--models", "none", "--checkpoints",
                                         str(tmp_path), "--train-only"])
        bench.main()
