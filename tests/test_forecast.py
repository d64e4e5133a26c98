"""Tests for course_lib.data.series and the forecasting baselines."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import baselines, data


def test_check_series_names_the_problem() -> None:
    assert data.check_series([1, 2, 3]).dtype == np.float64
    with pytest.raises(ValueError, match="temp has 1 NaN .* index 2"):
        data.check_series([1.0, 2.0, np.nan, 4.0], "temp")
    with pytest.raises(ValueError, match="temp must be a one-dimensional"):
        data.check_series(np.zeros((3, 2)), "temp")
    days = np.array(["2015-01-01", "2015-01-02", "2015-01-04"], dtype="datetime64[D]")
    with pytest.raises(ValueError, match="temp has a gap .* after index 1"):
        data.check_series([1.0, 2.0, 3.0], "temp", times=days)
    data.check_series([1.0, 2.0, 3.0], "temp", times=days[:2].tolist() + [np.datetime64("2015-01-03")])


def test_forecast_windows_line_up_with_the_series() -> None:
    x = np.arange(20.0)
    X, Y = data.forecast_windows(x, 5, 3)
    assert X.shape == (13, 5, 1) and Y.shape == (13, 3)
    np.testing.assert_array_equal(X[4, :, 0], [4, 5, 6, 7, 8])
    np.testing.assert_array_equal(Y[4], [9, 10, 11])
    cov = np.stack([x * 10, -x], axis=1)
    Xc, Ys = data.forecast_windows(x, 5, 3, covariates=cov, every_step=True)
    assert Xc.shape == (13, 5, 3) and Ys.shape == (13, 5, 3)
    np.testing.assert_array_equal(Xc[4, 0], [4, 40, -4])
    np.testing.assert_array_equal(Ys[:, -1], Y)          # the last step's targets are the window's
    np.testing.assert_array_equal(Ys[4, 0], [5, 6, 7])


def test_rolling_origins_keep_every_target_in_the_test_stretch() -> None:
    o = data.rolling_origins(100, 20, 5)
    assert o[0] == 80 and o[-1] == 95 and len(o) == 16
    with pytest.raises(ValueError):
        data.rolling_origins(100, 3, 5)


def test_seasonal_naive_repeats_the_last_season() -> None:
    x = np.arange(30.0)
    np.testing.assert_array_equal(baselines.seasonal_naive(x, [10], 3), [[9, 9, 9]])
    np.testing.assert_array_equal(baselines.seasonal_naive(x, [10], 5, period=3), [[7, 8, 9, 7, 8]])
    with pytest.raises(ValueError, match="period"):
        baselines.seasonal_naive(x, [2], 3, period=3)


def test_horizon_errors() -> None:
    mae, rmse = data.horizon_errors([[1.0, 2.0], [3.0, 6.0]], [[0.0, 2.0], [3.0, 2.0]])
    np.testing.assert_allclose(mae, [0.5, 2.0])
    np.testing.assert_allclose(rmse, [np.sqrt(0.5), np.sqrt(8.0)])


def test_sarimax_recovers_an_ar1_and_its_intervals_cover() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros(600)
    for t in range(1, 600):
        x[t] = 0.8 * x[t - 1] + rng.normal()
    origins = data.rolling_origins(600, 100, 3, every=2)
    mean, lo, hi, fitted = baselines.sarimax_forecasts(x, origins, 3, order=(1, 0, 0), trend="n", alpha=0.2)
    assert fitted.params[0] == pytest.approx(0.8, abs=0.06)
    np.testing.assert_allclose(mean[:, 0], fitted.params[0] * x[origins - 1], rtol=1e-6)
    truth = x[origins[:, None] + np.arange(3)]
    cover = ((truth >= lo) & (truth <= hi)).mean()
    assert 0.7 < cover < 0.9                              # an 80% interval, from 150 forecasts
    naive = baselines.seasonal_naive(x, origins, 3)
    assert np.abs(mean - truth).mean() < np.abs(naive - truth).mean()


def test_lstm_forecaster_learns_a_sine_and_reads_only_the_past() -> None:
    from course_lib import forecasters

    t = np.arange(400)
    x = np.sin(2 * np.pi * t / 20) + 0.05 * np.random.default_rng(0).normal(size=400)
    origins = data.rolling_origins(400, 60, 5)
    cfg = forecasters.ForecastConfig(context=20, horizon=5, hidden_size=16, steps=150, lr=1e-2, val_size=40)
    model = forecasters.LSTMForecaster(cfg)
    history = model.fit(x, int(origins[0]))
    assert history.best_step is not None                  # validation ran and chose weights
    truth = x[origins[:, None] + np.arange(5)]
    pred = model.predict(x, origins)
    assert pred.shape == (len(origins), 5)
    assert np.abs(pred - truth).mean() < 0.5 * np.abs(baselines.seasonal_naive(x, origins, 5) - truth).mean()
    changed = x.copy()
    changed[origins[0]:] += 100.0                        # the future must not move the first forecast
    np.testing.assert_allclose(model.predict(changed, origins[:1]), pred[:1], rtol=1e-5)
    with pytest.raises(ValueError, match="earlier values"):
        model.predict(x, [5])
