"""Checkpoints that survive a kill: written atomically, verified when read, RNG states included.

A checkpoint file is a short header (a magic line and the sha256 of the payload) followed by a
``torch.save`` payload of plain data: tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)`` and runs no pickled code. It is written to a temporary file in the
same folder, flushed to disk and moved over the old one with ``os.replace``, so a crash at any
moment leaves either the old checkpoint or the new one, never half of one. ``train.fit`` keeps one
file, ``<checkpoint_dir>/checkpoint.pt``; resuming from it repeats the uninterrupted run bit for bit
on the CPU (tests/test_checkpoint.py checks it, including a process killed with SIGKILL).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "CHECKPOINT_FILE",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "capture_rng",
    "restore_rng",
]

CHECKPOINT_FILE = "checkpoint.pt"
_MAGIC = b"course_lib checkpoint v1\n"
_DIGEST_LEN = 64  # hex characters of a sha256


class CheckpointError(ValueError):
    """A checkpoint file that cannot be trusted: wrong format, truncated or corrupted."""


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temporary file, fsync, ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest().encode("ascii")
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(_MAGIC + digest + b"\n")
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the new name points at them
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); silently skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and verify a checkpoint written by ``save_checkpoint``.

    Raises ``FileNotFoundError`` if there is none and ``CheckpointError`` (naming the file) if it is
    not a course_lib checkpoint or its contents do not match the recorded sha256.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    raw = path.read_bytes()
    if not raw.startswith(_MAGIC):
        raise CheckpointError(f"{path} is not a course_lib checkpoint (its header is missing)")
    start = len(_MAGIC) + _DIGEST_LEN + 1
    digest, data = raw[len(_MAGIC) : start - 1], raw[start:]
    if hashlib.sha256(data).hexdigest().encode("ascii") != digest:
        raise CheckpointError(
            f"{path} is corrupt: its contents do not match the sha256 recorded in it (truncated or "
            "overwritten?). Delete it to start afresh."
        )
    try:
        payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as err:  # the digest matched, so this is a format problem, not corruption
        raise CheckpointError(f"{path} could not be read by torch.load: {err}") from err
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} does not hold a checkpoint dict (got {type(payload).__name__})")
    return payload


def capture_rng(generators: Sequence[torch.Generator] = ()) -> dict[str, Any]:
    """Every random state a training step can draw from: Python, NumPy, torch CPU and current GPU.

    ``generators``: extra ``torch.Generator`` objects (e.g. the one that shuffles the data).
    NumPy's state is stored as a tensor so the checkpoint holds plain data only.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]  # noqa: NPY002
    cuda_ok = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        # the current GPU only: touching every GPU would open a context on each from every process
        "cuda": torch.cuda.get_rng_state() if cuda_ok else None,
        "generators": [g.get_state() for g in generators],
    }


def restore_rng(state: dict[str, Any], generators: Sequence[torch.Generator] = ()) -> None:
    """Put back the states ``capture_rng`` recorded (``generators`` in the same order)."""
    if len(state["generators"]) != len(generators):
        raise ValueError(
            f"the saved random state has {len(state['generators'])} data generator(s) but "
            f"{len(generators)} were given: is this the same data pipeline?"
        )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None:
        torch.cuda.set_rng_state(state["cuda"])
    for g, s in zip(generators, state["generators"], strict=True):
        g.set_state(s)
