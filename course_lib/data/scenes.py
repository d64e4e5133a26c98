"""Synthetic scenes for image captioning: two coloured shapes and a sentence that describes them.

Each image shows two shapes (circle, square or triangle; five colours; small or large) on a black
background, one beside or above the other. Its caption comes from a fixed grammar and names the
left (or upper) shape first::

    a small red circle left of a large blue square
    a large green triangle above a small yellow circle

so the caption is a function of the image (exact match is a fair metric). ``make_scenes`` draws
seeded, deterministic scenes for three splits: ``"train"`` and ``"test"`` use only the colour-shape
combinations *not* in ``SceneConfig.held_out``; ``"novel"`` scenes hold at least one held-out
combination, each word of which the model has seen, but never together (compositional
generalisation). Rendering is NumPy only. Used in chapters/06_captioning.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .text import Vocab

__all__ = ["SceneConfig", "Scenes", "make_scenes", "render_scene", "caption_vocab", "encode_captions",
           "check_images", "SPLITS"]

SPLITS = ("train", "test", "novel")
_SEEDS = {"train": 0, "test": 1, "novel": 2}  # split -> stream, so splits never share a draw
_RGB = {"red": (1.0, 0.1, 0.1), "green": (0.1, 0.8, 0.1), "blue": (0.2, 0.3, 1.0),
        "yellow": (1.0, 0.9, 0.1), "purple": (0.7, 0.2, 0.9)}


@dataclass(frozen=True)
class SceneConfig:
    """What a scene may hold. ``radius``: half-size in pixels of a small and a large shape."""

    image_size: int = 32
    colours: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple")
    shapes: tuple[str, ...] = ("circle", "square", "triangle")
    radius: dict[str, int] = field(default_factory=lambda: {"small": 4, "large": 7})
    held_out: tuple[tuple[str, str], ...] = (("red", "circle"), ("green", "square"), ("blue", "triangle"))
    noise: float = 0.05  # std of Gaussian pixel noise

    def __post_init__(self) -> None:
        unknown = [c for c in self.colours if c not in _RGB]
        if unknown:
            raise ValueError(f"colours must be among {sorted(_RGB)}, got {unknown}")
        bad = [s for s in self.shapes if s not in _MASKS]
        if bad:
            raise ValueError(f"shapes must be among {sorted(_MASKS)}, got {bad}")
        if self.image_size < 4 * max(self.radius.values()) + 4:
            raise ValueError(f"image_size {self.image_size} is too small for two shapes of radius "
                             f"{max(self.radius.values())}: use at least {4 * max(self.radius.values()) + 4}")

    def combos(self, held_out: bool) -> list[tuple[str, str]]:
        """The (colour, shape) pairs in (``held_out=True``) or out of ``self.held_out``."""
        return [(c, s) for c in self.colours for s in self.shapes if ((c, s) in self.held_out) == held_out]


class Scenes(NamedTuple):
    """A split of scenes: ``images`` (N, 3, H, W) float32 in [0, 1], ``captions`` N strings."""

    images: Tensor
    captions: list[str]


def _circle(dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    return dx**2 + dy**2 <= r**2


def _square(dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    return (np.abs(dx) <= r) & (np.abs(dy) <= r)  # the circle's bounding box: corners tell them apart


def _triangle(dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    # Apex up at dy = -r, base at dy = +r, half-width r at the base.
    return (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2)


_MASKS = {"circle": _circle, "square": _square, "triangle": _triangle}


def render_scene(objects: list[tuple[str, str, str, float, float]], config: SceneConfig,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """Draw ``objects`` (size, colour, shape, centre x, centre y) -> (3, H, W) float32 in [0, 1]."""
    n = config.image_size
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float32)  # (H, W) each
    image = np.zeros((3, n, n), np.float32)
    for size, colour, shape, cx, cy in objects:
        mask = _MASKS[shape](xs - cx, ys - cy, config.radius[size])  # (H, W) bool
        image[:, mask] = np.asarray(_RGB[colour], np.float32)[:, None]
    if rng is not None and config.noise > 0:
        image += rng.normal(0.0, config.noise, image.shape).astype(np.float32)
    return np.clip(image, 0.0, 1.0)


def _place(rng: np.random.Generator, config: SceneConfig, r1: int, r2: int, vertical: bool
           ) -> tuple[float, float, float, float]:
    """Centres of the first (left/upper) and second shape, well apart along one axis."""
    n = config.image_size
    gap = r1 + r2 + 2  # centre distance that keeps the shapes apart
    a1 = rng.uniform(r1 + 1, min(n / 2 - 1, n - r2 - 1 - gap))  # first shape in the first half ...
    a2 = rng.uniform(max(n / 2 + 1, a1 + gap), n - r2 - 1)  # ... the second after it, no overlap
    b1 = rng.uniform(r1 + 1, n - r1 - 1)  # across the axis: anywhere, but never further apart than along it
    b2 = float(np.clip(b1 + rng.uniform(-1, 1) * (a2 - a1) / 3, r2 + 1, n - r2 - 1))
    return (b1, a1, b2, a2) if vertical else (a1, b1, a2, b2)


def _draw_objects(rng: np.random.Generator, config: SceneConfig, split: str) -> list[tuple[str, str]]:
    seen, novel = config.combos(False), config.combos(True)
    if split != "novel":
        return [seen[k] for k in rng.integers(len(seen), size=2)]
    pair = [novel[rng.integers(len(novel))], (seen + novel)[rng.integers(len(seen) + len(novel))]]
    return pair if rng.random() < 0.5 else pair[::-1]  # the held-out pair is first or second


def make_scenes(n: int, split: str = "train", *, seed: int = 0, config: SceneConfig | None = None) -> Scenes:
    """``n`` scenes of ``split`` ("train", "test" or "novel"), the same for the same arguments.

    ``seed`` and ``split`` pick independent random streams, so the splits never share a draw.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    config = config or SceneConfig()
    rng = np.random.default_rng([seed, _SEEDS[split]])
    sizes = sorted(config.radius)
    images, captions = np.empty((n, 3, config.image_size, config.image_size), np.float32), []
    for k in range(n):
        (c1, s1), (c2, s2) = _draw_objects(rng, config, split)
        z1, z2 = (sizes[i] for i in rng.integers(len(sizes), size=2))
        vertical = bool(rng.random() < 0.5)
        x1, y1, x2, y2 = _place(rng, config, config.radius[z1], config.radius[z2], vertical)
        images[k] = render_scene([(z1, c1, s1, x1, y1), (z2, c2, s2, x2, y2)], config, rng)
        captions.append(f"a {z1} {c1} {s1} {'above' if vertical else 'left of'} a {z2} {c2} {s2}")
    return Scenes(torch.from_numpy(images), captions)


def caption_vocab(config: SceneConfig | None = None) -> Vocab:
    """Every word the grammar can write, after the specials ``<pad> <unk> <bos> <eos>``."""
    config = config or SceneConfig()
    words = ["a", "left", "of", "above", *sorted(config.radius), *config.colours, *config.shapes]
    return Vocab([*Vocab.SPECIALS, *words])


def encode_captions(captions: list[str], vocab: Vocab) -> Tensor:
    """Captions -> (N, L) int64 rows ``<bos> words <eos>`` padded with ``vocab.pad_id``.

    A word outside the vocabulary raises ValueError (the grammar is closed: it is a bug, not a
    rare word).
    """
    rows = []
    for caption in captions:
        words = caption.split()
        unknown = [w for w in words if w not in vocab]
        if unknown:
            raise ValueError(f"caption {caption!r} has words outside the vocabulary: {unknown}")
        rows.append(vocab.encode(words, bos=True, eos=True))
    out = torch.full((len(rows), max(map(len, rows))), vocab.pad_id, dtype=torch.long)
    for k, row in enumerate(rows):
        out[k, :len(row)] = torch.tensor(row)
    return out


def check_images(images: Tensor, image_size: int) -> None:
    """Raise ValueError unless ``images`` is a float tensor (N, 3, image_size, image_size)."""
    expected = f"(N, 3, {image_size}, {image_size})"
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor of shape {expected}, got {type(images).__name__}")
    if images.dim() != 4 or tuple(images.shape[1:]) != (3, image_size, image_size):
        raise ValueError(f"images must have shape {expected} (RGB, channels first), "
                         f"got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point in [0, 1] with shape {expected}, got {images.dtype}")
