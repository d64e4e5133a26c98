"""Time series for forecasting: validation, supervised windows, rolling origins and errors.

``check_series`` refuses a series a forecaster cannot use (NaN, infinities, missing time steps,
the wrong shape) with a ``ValueError`` that names the series; it never imputes, because a silent
fill would change every number downstream. ``forecast_windows`` cuts a series into (context,
horizon) pairs for a neural forecaster; ``rolling_origins`` lists the forecast origins of a
rolling-origin evaluation (Tashman 2000) on the final held-out stretch; ``horizon_errors`` gives
MAE and RMSE per step ahead. Used in chapters/06_forecast.md and benchmarks/signals_forecast_ball.py.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_series", "forecast_windows", "rolling_origins", "horizon_errors"]


def check_series(x, name: str = "series", *, times=None, min_length: int = 2) -> np.ndarray:
    """``x`` as a float64 (T,) array, or a ``ValueError`` naming ``name`` and what is wrong.

    Rejected: not one-dimensional, shorter than ``min_length``, NaN or infinite values (the error
    gives the first bad index). ``times`` (T,) numbers or ``datetime64``, when given, must increase
    in equal steps: a missing day or year is a gap, reported with where it is. Nothing is imputed;
    fill gaps yourself (and say how) before forecasting.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a one-dimensional series (T,), got shape {arr.shape}")
    if len(arr) < min_length:
        raise ValueError(f"{name} needs at least {min_length} values, got {len(arr)}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if len(bad):
        raise ValueError(f"{name} has {len(bad)} NaN or infinite values, the first at index {bad[0]}; "
                         "fill or drop them before forecasting")
    if times is not None:
        t = np.asarray(times)
        if t.shape != arr.shape:
            raise ValueError(f"times of {name} must have shape {arr.shape}, got {t.shape}")
        steps = np.diff(t)
        if len(steps) and not (steps == steps[0]).all():
            at = int(np.flatnonzero(steps != steps[0])[0])
            raise ValueError(f"{name} has a gap or an uneven step after index {at} ({t[at]} -> {t[at + 1]}); "
                             f"the series must be regularly spaced (step {steps[0]})")
    return arr


def forecast_windows(series, context: int, horizon: int, *, covariates=None,
                     every_step: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Supervised windows of a series: ``X`` (N, context, 1 + K) and the values that follow.

    Window ``n`` reads ``series[n : n + context]`` (and the ``covariates`` (T, K) of those steps,
    e.g. calendar features, as extra input features) and its forecast origin is ``n + context``.
    ``Y`` (N, horizon) is ``series[n + context : n + context + horizon]``. With ``every_step`` the
    targets are (N, context, horizon): at each step ``t`` of the window the ``horizon`` values
    after it, so a many-to-many model learns from every position (``train.TaggingLoss("mse")``).
    N = T - context - horizon + 1.
    """
    x = check_series(series, "series", min_length=context + horizon)
    if not (isinstance(context, int) and context >= 1 and isinstance(horizon, int) and horizon >= 1):
        raise ValueError(f"context and horizon must be ints >= 1, got {context!r} and {horizon!r}")
    feats = x[:, None]  # (T, 1)
    if covariates is not None:
        cov = np.asarray(covariates, dtype=np.float64).reshape(len(x), -1)  # (T, K)
        feats = np.concatenate([feats, cov], axis=1)  # (T, 1 + K)
    n = len(x) - context - horizon + 1
    view = np.lib.stride_tricks.sliding_window_view
    X = view(feats, context, axis=0)[:n].transpose(0, 2, 1).copy()  # (N, context, 1 + K)
    ahead = view(x[1:], horizon)  # (T - horizon, horizon): row t is x[t + 1 : t + 1 + horizon]
    if every_step:
        Y = view(ahead, context, axis=0)[:n].transpose(0, 2, 1).copy()  # (N, context, horizon)
    else:
        Y = ahead[context - 1: context - 1 + n].copy()  # (N, horizon)
    return X, Y


def rolling_origins(length: int, test_size: int, horizon: int, every: int = 1) -> np.ndarray:
    """Forecast origins of a rolling-origin test on the last ``test_size`` steps of a series.

    Origin ``o`` is the index of the first forecast value: a model may use ``series[:o]`` and is
    scored on ``series[o : o + horizon]``. Origins run from ``length - test_size`` to
    ``length - horizon`` in steps of ``every``, so every scored value lies in the test stretch.
    """
    if not 1 <= horizon <= test_size < length:
        raise ValueError(f"need 1 <= horizon <= test_size < length, got {horizon}, {test_size}, {length}")
    return np.arange(length - test_size, length - horizon + 1, every)


def horizon_errors(pred, truth) -> tuple[np.ndarray, np.ndarray]:
    """MAE and RMSE for each step ahead: pred, truth (N, H) -> (mae (H,), rmse (H,))."""
    p, y = np.asarray(pred, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if p.shape != y.shape or p.ndim != 2:
        raise ValueError(f"pred and truth must both be (N, H), got {p.shape} and {y.shape}")
    err = p - y
    return np.abs(err).mean(axis=0), np.sqrt((err ** 2).mean(axis=0))
