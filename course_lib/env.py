"""Reproducibility and device selection, used by every chapter and lab.

``seed_everything`` makes a run repeatable; ``get_device`` picks the accelerator the reader has.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["seed_everything", "get_device", "DEVICE_ENV_VAR"]

DEVICE_ENV_VAR = "COURSE_LIB_DEVICE"


def seed_everything(seed: int, *, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and every GPU), and ask torch for deterministic kernels.

    ``deterministic=True`` turns on ``torch.use_deterministic_algorithms(warn_only=True)`` and
    cuDNN's deterministic mode, so a run on the same machine repeats bit for bit. Returns a
    ``torch.Generator`` seeded with ``seed`` for code that prefers an explicit generator.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeding the legacy global generator is the point
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        # cuBLAS needs this set before its first call to be deterministic; harmless on CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device(prefer: str | None = None) -> torch.device:
    """The device to run on: CUDA, then Apple MPS, then CPU.

    ``prefer`` (or the environment variable ``COURSE_LIB_DEVICE``, e.g. ``cpu`` or ``cuda:1``)
    overrides the choice; asking for a device that is not available raises ``RuntimeError``
    rather than silently falling back.
    """
    choice = prefer if prefer is not None else os.environ.get(DEVICE_ENV_VAR, "").strip()
    if choice:
        try:
            device = torch.device(choice)
        except RuntimeError as err:
            raise ValueError(
                f"{DEVICE_ENV_VAR}/prefer must name a torch device such as 'cpu', 'cuda', 'cuda:1' "
                f"or 'mps', got {choice!r}"
            ) from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {choice!r} was requested but CUDA is not available here")
        if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"device {choice!r} was requested but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
        if device.type == "mps" and not _mps_available():
            raise RuntimeError(f"device {choice!r} was requested but Apple MPS is not available here")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")
