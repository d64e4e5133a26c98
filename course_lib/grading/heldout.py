"""Lab 6's project metric: bits per character of a student's character LM on text only the grader holds.

The student trains a ``models.LanguageModel`` over the fixed alphabet ``VOCAB`` (Tiny
Shakespeare's 65 characters) and hands it over with ``package(model, config)``, which a hidden test
records: the ``LanguageModel.build`` settings and the weights as plain arrays. The grader's own
process rebuilds the model from them (``unpack``: only an LSTM, GRU or RNN language model within
``MAX_PARAMS`` parameters, loaded strictly) and computes ``bits_per_char`` on the held-out text in
the autograder folder, which the sandboxed submission cannot read. Nothing the student's process
computes enters the metric; its code never sees the held-out text.

The held-out text is what an instructor gives ``python -m course_lib.grading build --heldout FILE``;
without it, ``default_heldout_text`` is the public tail of Tiny Shakespeare (the characters after
``TRAIN_CHARS``), which a determined student could train on: instructors who grade for real
supply their own (instructors.md). Characters outside ``VOCAB`` are dropped from the held-out text.

``grade_metric(test, got, auto)`` turns a recorded package into (fraction of the test's points,
words): full points at or below ``test["full"]`` bits per character, half at or below
``test["partial"]``, none above. Used by ``assignments`` and by labs/lab06_char_lm_project.ipynb.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.models import LanguageModel

__all__ = ["VOCAB", "TRAIN_CHARS", "encode", "package", "unpack", "bits_per_char", "stream_bits_per_char",
           "default_heldout_text", "heldout_bpc", "grade_metric"]  # fmt: skip

VOCAB = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TRAIN_CHARS = 1_000_000  # students train on Tiny Shakespeare's first million characters
HELDOUT_FILE = "heldout.txt"
MAX_HELDOUT_CHARS = 200_000
MAX_PARAMS = 1_000_000  # the weights travel as JSON: about 20 bytes a number
KINDS = ("lstm", "gru", "rnn")
SETTINGS = {"kind", "embed_size", "hidden_size", "num_layers", "tie_weights"}
_INDEX = {ch: i for i, ch in enumerate(VOCAB)}


def encode(text: str) -> torch.Tensor:
    """The ids (N,) of ``text`` over ``VOCAB``; characters outside it are dropped."""
    return torch.tensor([_INDEX[ch] for ch in text if ch in _INDEX], dtype=torch.long)


def package(model: LanguageModel, config: dict) -> dict:
    """What the project's hidden test records: ``config`` (``LanguageModel.build``'s keyword
    arguments other than ``vocab_size``) and the weights as numpy arrays."""
    if not isinstance(config, dict):
        raise TypeError(f"config: a dict of LanguageModel.build's settings, not {type(config).__name__}")
    state = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}
    return {"config": dict(config), "state": state}


def unpack(data) -> LanguageModel:
    """Rebuild the student's model from a recorded (decoded) package; ValueError says what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict) or not isinstance(
        data.get("state"), dict
    ):
        raise ValueError("record heldout.package(model, config): a dict with 'config' and 'state'")
    config = data["config"]
    if not set(config) <= SETTINGS or config.get("kind", "lstm") not in KINDS:
        raise ValueError(f"config may hold only {sorted(SETTINGS)}, with kind one of {KINDS}; got {config}")
    sizes = [config.get(k, 1) for k in ("embed_size", "hidden_size", "num_layers")]
    if not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 2048 for s in sizes):
        raise ValueError(f"embed_size, hidden_size and num_layers must be ints from 1 to 2048, got {sizes}")
    model = LanguageModel.build(len(VOCAB), **config)
    n_params = sum(p.numel() for p in model.parameters())
    if n_params > MAX_PARAMS:
        raise ValueError(f"the model has {n_params:,} parameters; the project allows {MAX_PARAMS:,}")
    want = model.state_dict()
    state = data["state"]
    if set(state) != set(want):
        raise ValueError(f"the weights do not fit the config: expected {sorted(want)}, got {sorted(state)}")
    loaded = {}
    for k, v in state.items():
        arr = np.asarray(v, dtype=np.float32)
        if arr.shape != tuple(want[k].shape) or not np.all(np.isfinite(arr)):
            raise ValueError(f"weight {k}: shape {arr.shape} (expected {tuple(want[k].shape)}) or not finite")
        loaded[k] = torch.from_numpy(arr.copy())
    model.load_state_dict(loaded)
    return model.eval()


@torch.no_grad()
def stream_bits_per_char(model, ids: torch.Tensor, streams: int = 16, chunk: int = 512) -> float:
    """Bits per character of ``model`` on ``ids`` (N,) cut into ``streams`` equal rows read in
    parallel from a zero state: each row's first character is given, every other one predicted."""
    was_training = model.training
    model.eval()
    try:
        length = ids.shape[0] // streams
        if length < 2:
            raise ValueError(f"need at least {2 * streams} characters, got {ids.shape[0]}")
        rows = ids[: streams * length].view(streams, length)  # (R, L)
        total, count, state = 0.0, 0, None
        for s in range(0, length - 1, chunk):
            x, y = rows[:, s : min(s + chunk, length - 1)], rows[:, s + 1 : min(s + chunk, length - 1) + 1]
            logits, state = model(x, state)  # (R, C, V)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), y.reshape(-1),
                                           reduction="sum"))  # fmt: skip
            count += y.numel()
        return total / count / math.log(2)
    finally:
        model.train(was_training)


@torch.no_grad()
def bits_per_char(model, ids: torch.Tensor) -> float:
    """The mean of -log2 p(ids[t] | ids[:t]) over t = 1 .. N-1, reading ``ids`` (N,) as one sequence
    from a zero state: the reference of lab 6's exercise 1."""
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(ids[:-1].unsqueeze(0))  # (1, N-1, V)
        nats = F.cross_entropy(logits[0].double(), ids[1:], reduction="mean")
        return float(nats) / math.log(2)
    finally:
        model.train(was_training)


def default_heldout_text() -> str:
    """The public fallback: Tiny Shakespeare after its first ``TRAIN_CHARS`` characters."""
    from course_lib.data import load_tiny_shakespeare

    return load_tiny_shakespeare()[TRAIN_CHARS:]


def heldout_bpc(data, text: str) -> float:
    """Bits per character on ``text`` (at most ``MAX_HELDOUT_CHARS``) of the recorded package ``data``."""
    ids = encode(text[:MAX_HELDOUT_CHARS])
    return stream_bits_per_char(unpack(data), ids)


def grade_metric(test: dict, got, auto: Path) -> tuple[float, str | None]:
    """(fraction of the test's points, None when full marks else words) for a recorded package."""
    if test.get("metric") != "heldout_bpc":
        raise ValueError(f"unknown metric {test.get('metric')!r}; known: heldout_bpc")
    path = Path(auto) / HELDOUT_FILE
    if not path.exists():  # built with --no-reference and no --heldout: the public default
        path.write_text(default_heldout_text(), encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    try:
        bpc = heldout_bpc(got, text)
    except (ValueError, TypeError, KeyError, RuntimeError) as err:
        return 0.0, f"the model could not be evaluated: {err}"
    full, partial = float(test["full"]), float(test["partial"])
    if not math.isfinite(bpc):
        return 0.0, "the held-out bits per character are not finite"
    if bpc <= full:
        return 1.0, None
    if bpc <= partial:
        return 0.5, f"held-out {bpc:.3f} bits per char: half marks (full marks at {full:g} or below)"
    return 0.0, f"held-out {bpc:.3f} bits per char, above the {partial:g} needed for half marks"
