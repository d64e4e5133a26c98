"""Simulated 2-D ball flights: gravity, quadratic air drag, bounces on the floor, noisy sightings.

A ball is thrown from a random height, speed and angle. Its velocity ``v`` changes as
``dv/dt = (0, -gravity) - drag * |v| * v`` (drag per unit mass, in 1/m), integrated with
semi-implicit Euler on ``substeps`` small steps per frame. When it passes below the floor
(``y < 0``) it is reflected and its vertical speed multiplied by ``-restitution``. The camera sees
each frame's position plus Gaussian noise of ``noise_std`` metres. Generation is seeded and takes
milliseconds. Used in chapters/06_ball.md and benchmarks/signals_forecast_ball.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BallConfig", "BallFlights", "ball_flights"]


@dataclass(frozen=True)
class BallConfig:
    """How the flights are drawn. Units: metres, seconds, degrees."""

    n_frames: int = 60
    dt: float = 0.05            # seconds between frames (20 frames per second)
    substeps: int = 10          # integration steps per frame
    gravity: float = 9.81
    drag: float = 0.03          # quadratic drag per unit mass (1/m); 0 for a vacuum
    restitution: float = 0.75   # share of vertical speed kept at a bounce
    noise_std: float = 0.03     # observation noise (m) on each coordinate
    height: tuple[float, float] = (0.5, 2.5)
    speed: tuple[float, float] = (4.0, 10.0)
    angle: tuple[float, float] = (10.0, 70.0)

    def __post_init__(self) -> None:
        if self.n_frames < 2 or self.substeps < 1:
            raise ValueError(f"need n_frames >= 2 and substeps >= 1, got {self.n_frames}, {self.substeps}")
        if self.dt <= 0 or self.gravity < 0 or self.drag < 0 or self.noise_std < 0:
            raise ValueError("dt must be > 0 and gravity, drag, noise_std >= 0")
        if not 0 <= self.restitution <= 1:
            raise ValueError(f"restitution must lie in [0, 1], got {self.restitution}")


@dataclass(frozen=True)
class BallFlights:
    """``times`` (T,) seconds; ``positions`` and ``velocities`` (N, T, 2) true (x, y) and its rate;
    ``observed`` (N, T, 2) the noisy positions a model sees."""

    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    observed: np.ndarray
    config: BallConfig


def _step(pos: np.ndarray, vel: np.ndarray, c: BallConfig, h: float) -> None:
    """One semi-implicit Euler step of length ``h`` for all balls, in place; pos, vel (N, 2)."""
    speed = np.linalg.norm(vel, axis=1, keepdims=True)  # (N, 1)
    vel -= h * c.drag * speed * vel
    vel[:, 1] -= h * c.gravity
    pos += h * vel
    below = pos[:, 1] < 0
    pos[below, 1] *= -1.0                       # reflect what went through the floor
    vel[below, 1] *= -c.restitution


def ball_flights(n: int, config: BallConfig | None = None, seed: int = 0) -> BallFlights:
    """Simulate ``n`` flights with ``config`` (default ``BallConfig()``), seeded by ``seed``."""
    c = config or BallConfig()
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    rng = np.random.default_rng(seed)
    theta = np.deg2rad(rng.uniform(*c.angle, n))
    speed = rng.uniform(*c.speed, n)
    pos = np.stack([np.zeros(n), rng.uniform(*c.height, n)], axis=1)  # (N, 2)
    vel = np.stack([speed * np.cos(theta), speed * np.sin(theta)], axis=1)  # (N, 2)
    positions = np.empty((n, c.n_frames, 2))
    velocities = np.empty((n, c.n_frames, 2))
    for t in range(c.n_frames):
        positions[:, t], velocities[:, t] = pos, vel
        for _ in range(c.substeps):
            _step(pos, vel, c, c.dt / c.substeps)
    observed = positions + rng.normal(0.0, c.noise_std, positions.shape)
    times = np.arange(c.n_frames) * c.dt
    return BallFlights(times, positions, velocities, observed, c)
