"""Tests for course_lib.data.trajectories (simulated ball flights) and the tracking baselines."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from course_lib import baselines, data


def energy(flights: data.BallFlights) -> np.ndarray:
    """Mechanical energy per unit mass (N, T): kinetic plus potential."""
    v2 = (flights.velocities ** 2).sum(-1)
    return 0.5 * v2 + flights.config.gravity * flights.positions[..., 1]


def test_flights_are_seeded_and_shaped() -> None:
    a, b = data.ball_flights(8, seed=3), data.ball_flights(8, seed=3)
    c = data.ball_flights(8, seed=4)
    assert a.positions.shape == a.observed.shape == a.velocities.shape == (8, 60, 2)
    np.testing.assert_array_equal(a.observed, b.observed)
    assert not np.allclose(a.positions, c.positions)
    np.testing.assert_allclose(np.diff(a.times), a.config.dt)


def test_energy_falls_with_drag_and_bounces_and_the_ball_stays_above_the_floor() -> None:
    f = data.ball_flights(200, seed=0)
    e = energy(f)
    assert (f.positions[..., 1] >= 0).all()
    assert (e[:, -1] < 0.8 * e[:, 0]).all()              # drag and bounces take energy away
    assert (np.diff(e, axis=1) < 0.05 * e[:, :1]).all()   # never gains more than integration error
    bounced = (np.diff(np.sign(f.velocities[..., 1]), axis=1) > 0).any(axis=1)
    assert bounced.mean() > 0.5                           # most flights hit the floor in 3 s


def test_without_drag_and_with_full_restitution_energy_is_kept() -> None:
    cfg = dataclasses.replace(data.BallConfig(), drag=0.0, restitution=1.0, substeps=50)
    e = energy(data.ball_flights(50, cfg, seed=1))
    np.testing.assert_allclose(e[:, -1], e[:, 0], rtol=0.02)


def test_noise_has_the_configured_size() -> None:
    f = data.ball_flights(500, seed=2)
    noise = f.observed - f.positions
    assert abs(noise.std() - f.config.noise_std) < 0.05 * f.config.noise_std
    assert abs(noise.mean()) < 0.002


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="restitution"):
        data.BallConfig(restitution=1.5)
    with pytest.raises(ValueError, match="n must be"):
        data.ball_flights(0)


def test_kalman_filter_reaches_the_random_walk_steady_state() -> None:
    # x' = x + w (var q), z = x + v (var r): the prior variance P converges to (q + sqrt(q^2 + 4qr)) / 2.
    q, r = 0.5, 2.0
    kf = baselines.KalmanFilter([[1.0]], [[1.0]], [[q]], [[r]], [0.0], [[100.0]])
    for z in np.random.default_rng(0).normal(size=200):
        kf.predict()
        prior = float(kf.P[0, 0])
        kf.update([z])
    assert prior == pytest.approx((q + np.sqrt(q * q + 4 * q * r)) / 2, rel=1e-9)


def test_kalman_update_matches_a_hand_computation() -> None:
    kf = baselines.KalmanFilter([[1.0]], [[1.0]], [[1.0]], [[3.0]], [2.0], [[2.0]])
    kf.predict()            # P = 3, x = 2
    kf.update([6.0])        # gain 3 / (3 + 3) = 0.5: x = 2 + 0.5 * 4 = 4, P = 1.5
    assert kf.x[0] == pytest.approx(4.0) and kf.P[0, 0] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="R must have shape"):
        baselines.KalmanFilter([[1.0]], [[1.0]], [[1.0]], [[3.0, 1.0]], [2.0], [[2.0]])


def test_trackers_are_exact_on_the_motion_they_assume() -> None:
    dt, t = 0.05, np.arange(30) * 0.05
    line = np.stack([1 + 2 * t, 3 - 0.5 * t], axis=-1)[None]  # (1, 30, 2) constant velocity
    np.testing.assert_allclose(baselines.constant_velocity(line[:, :20], 10, dt), line[:, 20:], atol=1e-9)
    arc = np.stack([4 * t, 1 + 5 * t - 9.81 / 2 * t ** 2], axis=-1)[None]  # free flight, no drag
    pred = baselines.ballistic_kalman(arc[:, :20], 10, dt, noise_std=1e-4, accel_std=1e-3)
    np.testing.assert_allclose(pred, arc[:, 20:], atol=2e-3)
    cv = baselines.constant_velocity(arc[:, :20], 10, dt)
    assert np.abs(cv - arc[:, 20:]).max() > 0.1          # a straight line misses the fall


def test_kalman_with_the_floor_bounces_and_the_track_lstm_has_the_right_shapes() -> None:
    from course_lib import forecasters

    f = data.ball_flights(30, seed=5)
    plain = baselines.ballistic_kalman(f.observed[:, :20], 40, f.config.dt)
    floor = baselines.ballistic_kalman(f.observed[:, :20], 40, f.config.dt, restitution=0.75)
    assert plain[..., 1].min() < -5 and floor[..., 1].min() >= 0
    err = [np.linalg.norm(p - f.positions[:, 20:], axis=-1).mean() for p in (plain, floor)]
    assert err[1] < 0.3 * err[0]
    lstm = forecasters.TrackForecaster(forecasters.ForecastConfig(horizon=40, hidden_size=8, steps=5))
    lstm.fit(f.observed[:, :20], f.positions[:, 20:])
    assert lstm.predict(f.observed[:3, :20]).shape == (3, 40, 2)
    with pytest.raises(ValueError, match="future"):
        lstm.fit(f.observed[:, :20], f.positions[:, 25:])
