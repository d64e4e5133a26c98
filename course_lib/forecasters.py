"""LSTM forecasters for chapter 6's signal pages, built from ``models.tasks`` and ``train.fit``.

``LSTMForecaster`` reads a window of a standardised series (plus known covariates such as the
day of the year) with a ``SequenceTagger``; at every step its head predicts the next ``horizon``
values at once (the direct multi-step strategy), so each training window teaches every position.
A forecast from origin ``o`` is the head's output at the last step of ``series[o - context : o]``.
``TrackForecaster`` reads the first frames of a 2-D track with a ``SequenceClassifier`` whose
head gives all the future positions at once, as offsets from the last one seen.
Used in chapters/06_forecast.md, chapters/06_ball.md and benchmarks/signals_forecast_ball.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from course_lib import train
from course_lib.data.series import check_series, forecast_windows
from course_lib.models import tasks

__all__ = ["ForecastConfig", "LSTMForecaster", "TrackForecaster"]


@dataclass
class ForecastConfig:
    """Sizes and training of a forecaster. ``context`` input steps, ``horizon`` steps ahead.

    ``val_size`` > 0 (``LSTMForecaster`` only): the last ``val_size`` steps of the training stretch
    are held back; every ``eval_every`` steps the forecasts from their origins are scored, and the
    weights of the best validation are kept at the end (``train.TrainConfig.restore_best``).
    """

    context: int = 28
    horizon: int = 7
    hidden_size: int = 32
    num_layers: int = 1
    steps: int = 600
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0
    device: str = "cpu"
    val_size: int = 0
    eval_every: int = 50


def _loader(X: np.ndarray, Y: np.ndarray, batch_size: int, shuffle: bool) -> DataLoader:
    dataset = TensorDataset(torch.tensor(X, dtype=torch.float32), torch.tensor(Y, dtype=torch.float32))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)


def _last_step_mse(model: torch.nn.Module, batch, state) -> train.StepResult:
    """Validation of a forecaster: MSE of the forecast from each window's end, (B, T, H) -> (B, H)."""
    x, y = batch
    return train.StepResult(torch.nn.functional.mse_loss(model(x)[:, -1], y), y.shape[0])


def _fit(model: torch.nn.Module, X: np.ndarray, Y: np.ndarray, config: ForecastConfig,
         loss_fn: train.LossFn, val: tuple[np.ndarray, np.ndarray] | None = None) -> train.History:
    tc = train.TrainConfig(steps=config.steps, lr=config.lr, clip_norm=1.0, schedule="cosine",
                           seed=config.seed, device=config.device, progress=False, live_plot=False,
                           eval_every=config.eval_every if val else None, restore_best=bool(val))
    val_data = _loader(*val, 256, False) if val else None
    return train.fit(model, _loader(X, Y, config.batch_size, True), tc, loss_fn=loss_fn, val_data=val_data,
                     val_fn=_last_step_mse if val else None)


@torch.no_grad()
def _run(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    out = model(torch.tensor(X, dtype=torch.float32, device=device))
    return out.float().cpu().numpy()


class LSTMForecaster:
    """Many-to-many LSTM forecaster of one series; standardises with the training stretch's mean and sd."""

    def __init__(self, config: ForecastConfig | None = None):
        self.config = config or ForecastConfig()
        self.model: tasks.SequenceTagger | None = None
        self.mean, self.sd = 0.0, 1.0

    def fit(self, series, train_end: int, covariates=None) -> train.History:
        """Train on ``series[:train_end]`` (and its ``covariates`` (T, K)); later values are never read."""
        c = self.config
        x = check_series(series, "series")
        fit_end = train_end - c.val_size
        self.mean, self.sd = float(x[:fit_end].mean()), float(x[:fit_end].std())
        z = (x[:train_end] - self.mean) / self.sd
        cov = None if covariates is None else np.asarray(covariates, dtype=np.float64).reshape(len(x), -1)
        X, Y = forecast_windows(z[:fit_end], c.context, c.horizon,
                                covariates=None if cov is None else cov[:fit_end], every_step=True)
        val = None
        if c.val_size:
            start = fit_end - c.context  # windows whose forecasts fall in the held-back stretch
            val = forecast_windows(z[start:], c.context, c.horizon,
                                   covariates=None if cov is None else cov[start:train_end])
        torch.manual_seed(c.seed)
        rnn = tasks.make_rnn("lstm", X.shape[-1], c.hidden_size, c.num_layers)
        self.model = tasks.SequenceTagger(None, X.shape[-1], rnn, c.horizon)
        return _fit(self.model, X, Y, c, train.TaggingLoss("mse"), val)

    def predict(self, series, origins, covariates=None) -> np.ndarray:
        """Forecast ``horizon`` values from each origin (index of the first forecast value) -> (N, H)."""
        if self.model is None:
            raise RuntimeError("call fit before predict")
        c = self.config
        x = (check_series(series, "series") - self.mean) / self.sd
        origins = np.asarray(origins, dtype=np.int64)
        if origins.min() < c.context:
            raise ValueError(f"every origin needs {c.context} earlier values, got origin {origins.min()}")
        idx = origins[:, None] + np.arange(-c.context, 0)  # (N, context)
        X = x[idx][..., None]  # (N, context, 1)
        if covariates is not None:
            cov = np.asarray(covariates, dtype=np.float64).reshape(len(x), -1)
            X = np.concatenate([X, cov[idx]], axis=-1)  # (N, context, 1 + K)
        return _run(self.model, X)[:, -1] * self.sd + self.mean  # (N, H)


def _track_features(observed: np.ndarray) -> np.ndarray:
    """(N, k, 2) positions -> (N, k, 4): offset from the last frame and the step from the frame before."""
    offset = observed - observed[:, -1:]
    step = np.diff(observed, axis=1, prepend=observed[:, :1])
    return np.concatenate([offset, 10.0 * step], axis=-1)  # steps are ~0.2 m: scale them to ~1


class TrackForecaster:
    """LSTM that reads the first k observed positions of a track and predicts the next ``horizon``.

    ``config.context`` is ignored (any k works); predictions are offsets from the last observed
    position, so the network never has to learn where the track started.
    """

    def __init__(self, config: ForecastConfig | None = None):
        self.config = config or ForecastConfig(hidden_size=64, steps=1500)
        self.model: tasks.SequenceClassifier | None = None

    def fit(self, observed, future) -> train.History:
        """observed (N, k, 2), future (N, horizon, 2) true positions to learn."""
        c = self.config
        obs, fut = np.asarray(observed, np.float64), np.asarray(future, np.float64)
        if obs.ndim != 3 or fut.shape != (obs.shape[0], c.horizon, obs.shape[2]):
            raise ValueError(f"need observed (N, k, D) and future (N, {c.horizon}, D), "
                             f"got {obs.shape} and {fut.shape}")
        torch.manual_seed(c.seed)
        rnn = tasks.make_rnn("lstm", 2 * obs.shape[2], c.hidden_size, c.num_layers)
        self.model = tasks.SequenceClassifier(None, 2 * obs.shape[2], rnn, c.horizon * obs.shape[2])
        target = (fut - obs[:, -1:]).reshape(len(obs), -1)  # (N, H * D)
        return _fit(self.model, _track_features(obs), target, c, train.RegressionLoss())

    def predict(self, observed) -> np.ndarray:
        """observed (N, k, D) -> predicted positions (N, horizon, D)."""
        if self.model is None:
            raise RuntimeError("call fit before predict")
        obs = np.asarray(observed, np.float64)
        out = _run(self.model, _track_features(obs)).reshape(len(obs), self.config.horizon, -1)
        return obs[:, -1:] + out
