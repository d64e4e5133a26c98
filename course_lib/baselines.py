"""The baselines a practitioner tries before a recurrent network: n-gram logistic regression, a
sentiment lexicon, naive and ARIMA forecasts, and constant-velocity and Kalman-filter tracking.

``ngram_logreg`` is scikit-learn's TF-IDF vectoriser (word or character n-grams) followed by
logistic regression; ``tune_ngram_logreg`` picks its inverse regularisation ``C`` on a validation
split. ``vader_labels`` scores sentences with the VADER lexicon and rules (``vaderSentiment``),
which needs no training. Used in chapter 6's sentiment (``chapters/06_sentiment.md``) and surname
(``chapters/06_names.md``) pages and by ``benchmarks/applications.py``.

Forecasting (``chapters/06_forecast.md``): ``seasonal_naive`` repeats the last season (period 1 is
the naive forecast); ``sarimax_forecasts`` fits statsmodels' SARIMAX once on the training stretch
and forecasts, with intervals, from every origin of a rolling-origin test. Tracking
(``chapters/06_ball.md``): ``constant_velocity`` extrapolates a straight line; ``KalmanFilter`` is
a short linear Kalman filter (Kalman 1960) and ``ballistic_kalman`` runs one with a
position-velocity state and known gravity, then predicts ahead with no further observations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

__all__ = [
    "ngram_logreg", "tune_ngram_logreg", "vader_labels", "seasonal_naive", "sarimax_forecasts",
    "constant_velocity", "KalmanFilter", "ballistic_kalman",
]

_ANALYZERS = ("word", "char", "char_wb")


def _check_texts(texts: Sequence[str], labels: Sequence | None = None, who: str = "texts") -> None:
    if isinstance(texts, str) or not len(texts) or not all(isinstance(t, str) for t in texts):
        raise TypeError(f"{who} must be a non-empty sequence of str (one text per example)")
    if labels is not None and len(labels) != len(texts):
        raise ValueError(f"{who} has {len(texts)} texts but {len(labels)} labels")


def ngram_logreg(texts: Sequence[str], labels: Sequence, *, analyzer: str = "word",
                 ngram_range: tuple[int, int] = (1, 2), C: float = 1.0) -> Pipeline:
    """Fit TF-IDF n-gram features + logistic regression; returns the fitted scikit-learn pipeline.

    ``analyzer``: ``"word"`` n-grams, or ``"char"`` / ``"char_wb"`` (characters, within word
    boundaries) as for surnames. Sublinear term frequencies (1 + log tf) damp repeated n-grams.
    ``pipeline.predict(texts)`` gives labels, ``predict_proba`` class probabilities.
    """
    _check_texts(texts, labels)
    if analyzer not in _ANALYZERS:
        raise ValueError(f"analyzer must be one of {_ANALYZERS}, got {analyzer!r}")
    low, high = ngram_range
    if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
        raise ValueError(f"ngram_range must be (low, high) ints with 1 <= low <= high, got {ngram_range!r}")
    if not C > 0:
        raise ValueError(f"C must be > 0, got {C!r}")
    # The default lowercasing would merge "Ng" with "ng"; sentences arrive lower-cased anyway.
    vectoriser = TfidfVectorizer(analyzer=analyzer, ngram_range=ngram_range, sublinear_tf=True,
                                 lowercase=analyzer == "word")
    return make_pipeline(vectoriser, LogisticRegression(C=C, max_iter=2000)).fit(list(texts), list(labels))


def tune_ngram_logreg(train_texts: Sequence[str], train_labels: Sequence, val_texts: Sequence[str],
                      val_labels: Sequence, Cs: Sequence[float] = (0.3, 1.0, 3.0, 10.0, 30.0),
                      **kwargs) -> tuple[Pipeline, float, float]:
    """Fit ``ngram_logreg`` for each ``C`` and keep the best on validation.

    -> (fitted pipeline, its C, its validation accuracy). Ties go to the smaller C (stronger
    regularisation). ``kwargs`` go to ``ngram_logreg``.
    """
    _check_texts(val_texts, val_labels, "val_texts")
    best: tuple[Pipeline, float, float] | None = None
    for C in sorted(Cs):
        model = ngram_logreg(train_texts, train_labels, C=C, **kwargs)
        acc = float(np.mean(model.predict(list(val_texts)) == np.asarray(val_labels)))
        if best is None or acc > best[2]:
            best = (model, C, acc)
    if best is None:
        raise ValueError("Cs must hold at least one value")
    return best


def vader_labels(texts: Sequence[str], threshold: float = 0.0) -> np.ndarray:
    """1 (positive) where VADER's compound score is >= ``threshold``, else 0 -> (N,) int array.

    The compound score lies in [-1, 1]; VADER's authors call |score| < 0.05 neutral, but a
    two-class benchmark has no neutral class, so by default a zero score counts as positive.
    """
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # slow import: only when used

    _check_texts(texts)
    analyser = SentimentIntensityAnalyzer()
    scores = np.array([analyser.polarity_scores(t)["compound"] for t in texts])
    return (scores >= threshold).astype(int)


# --- forecasting (chapters/06_forecast.md) ---


def seasonal_naive(series, origins, horizon: int, period: int = 1) -> np.ndarray:
    """Forecast each value by the last observed value one or more whole ``period`` s earlier.

    series (T,); origins (N,) indices of the first forecast value (only ``series[:o]`` is used).
    -> (N, horizon). ``period=1`` is the naive forecast (the last value, repeated).
    """
    x = np.asarray(series, dtype=np.float64)
    o = np.asarray(origins, dtype=np.int64)[:, None]  # (N, 1)
    h = np.arange(horizon)[None, :]  # (1, H)
    if not (isinstance(period, int) and period >= 1) or o.min() < period:
        raise ValueError(f"period must be an int >= 1 and every origin >= period, got period={period!r}")
    return x[o + h - period * (h // period + 1)]  # (N, H)


def sarimax_forecasts(series, origins, horizon: int, *, order=(1, 0, 0), seasonal_order=(0, 0, 0, 0),
                      trend: str | None = "c", exog=None, alpha: float = 0.2):
    """Rolling-origin SARIMAX forecasts with ``statsmodels`` (Seabold & Perktold 2010).

    The parameters are estimated once, by maximum likelihood on ``series[:origins[0]]``; then, with
    them fixed, the Kalman filter runs over the whole series and each origin ``o`` gets a dynamic
    ``horizon``-step forecast that uses only ``series[:o]``. ``exog`` (T, K) are regressors known in
    advance (e.g. calendar terms). -> (mean (N, H), lower (N, H), upper (N, H), fitted results);
    the bounds are the model's central ``1 - alpha`` prediction interval.
    """
    from statsmodels.tsa.statespace.sarimax import SARIMAX  # slow import: only when used

    x = np.asarray(series, dtype=np.float64)
    origins = np.asarray(origins, dtype=np.int64)
    ex = None if exog is None else np.asarray(exog, dtype=np.float64).reshape(len(x), -1)
    start = int(origins[0])
    if origins.max() + horizon > len(x):
        raise ValueError(f"the last origin {origins.max()} + horizon {horizon} runs past the series "
                         f"(length {len(x)})")
    model = SARIMAX(x[:start], exog=None if ex is None else ex[:start], order=order,
                    seasonal_order=seasonal_order, trend=trend)
    fitted = model.fit(disp=False)
    full = fitted.apply(x, exog=ex)  # same parameters, filtered over the whole series
    mean, lower, upper = (np.empty((len(origins), horizon)) for _ in range(3))
    for i, o in enumerate(origins):
        pred = full.get_prediction(start=int(o), end=int(o) + horizon - 1, dynamic=True)
        mean[i] = pred.predicted_mean
        ci = np.asarray(pred.conf_int(alpha=alpha))  # (H, 2)
        lower[i], upper[i] = ci[:, 0], ci[:, 1]
    return mean, lower, upper, fitted


# --- tracking (chapters/06_ball.md) ---


def constant_velocity(observed, horizon: int, dt: float, window: int = 4) -> np.ndarray:
    """Extrapolate each track on a straight line: observed (N, k, D) -> (N, horizon, D).

    Position and velocity at the last frame come from a least-squares line through the last
    ``window`` observations (one frame's difference alone would amplify the noise).
    """
    obs = np.asarray(observed, dtype=np.float64)
    if obs.ndim != 3 or obs.shape[1] < 2:
        raise ValueError(f"observed must be (N, k, D) with k >= 2, got {obs.shape}")
    w = min(window, obs.shape[1])
    t = (np.arange(w) - (w - 1)) * dt  # (w,), 0 at the last frame
    A = np.stack([np.ones(w), t], axis=1)  # (w, 2)
    coef, *_ = np.linalg.lstsq(A, obs[:, -w:].transpose(1, 0, 2).reshape(w, -1), rcond=None)  # (2, N*D)
    p0, v = (c.reshape(obs.shape[0], 1, -1) for c in coef)  # (N, 1, D) each
    ahead = (np.arange(1, horizon + 1) * dt)[None, :, None]  # (1, H, 1)
    return p0 + v * ahead  # (N, H, D)


class KalmanFilter:
    """A linear Kalman filter (Kalman 1960): ``x' = F x + u + w``, ``z = H x + v``.

    ``w ~ N(0, Q)``, ``v ~ N(0, R)``, ``u`` a known input (e.g. gravity). ``x`` (n,) mean and ``P``
    (n, n) covariance of the state; ``predict`` and ``update`` change them in place.
    """

    def __init__(self, F, H, Q, R, x0, P0, u=None):
        self.F, self.H = np.asarray(F, float), np.asarray(H, float)
        self.Q, self.R = np.asarray(Q, float), np.asarray(R, float)
        self.x, self.P = np.asarray(x0, float).copy(), np.asarray(P0, float).copy()
        self.u = np.zeros(len(self.x)) if u is None else np.asarray(u, float)
        n, m = len(self.x), self.H.shape[0]
        shapes = {"F": (n, n), "H": (m, n), "Q": (n, n), "R": (m, m), "P0": (n, n), "u": (n,)}
        got = {"F": self.F, "H": self.H, "Q": self.Q, "R": self.R, "P0": self.P, "u": self.u}
        for name, shape in shapes.items():
            if got[name].shape != shape:
                raise ValueError(f"KalmanFilter: {name} must have shape {shape}, got {got[name].shape}")

    def predict(self) -> None:
        self.x = self.F @ self.x + self.u
        self.P = self.F @ self.P @ self.F.T + self.Q

    def update(self, z) -> None:
        residual = np.asarray(z, float) - self.H @ self.x  # (m,)
        S = self.H @ self.P @ self.H.T + self.R  # (m, m) innovation covariance
        K = np.linalg.solve(S, self.H @ self.P).T  # (n, m) gain P H^T S^-1 (P, S symmetric)
        self.x = self.x + K @ residual
        self.P = (np.eye(len(self.x)) - K @ self.H) @ self.P


def _predict_bouncing(kf: KalmanFilter, restitution: float | None) -> None:
    kf.predict()
    if restitution is not None and kf.x[1] < 0:
        kf.x[1], kf.x[3] = -kf.x[1], -restitution * kf.x[3]


def ballistic_kalman(observed, horizon: int, dt: float, gravity: float = 9.81, *, noise_std: float = 0.03,
                     accel_std: float = 2.0, restitution: float | None = None) -> np.ndarray:
    """Filter each track with a ballistic Kalman filter, then predict ahead: (N, k, 2) -> (N, H, 2).

    State (x, y, vx, vy); gravity is the known input; ``accel_std`` (m/s^2) is the white-noise
    acceleration that stands for what the model leaves out (drag, bounces). By default the filter
    knows nothing of the floor, so its forecast falls through it; with ``restitution`` a predicted
    state below ``y = 0`` is reflected and keeps that share of ``vy`` (a switch the linear filter
    cannot express, made to the mean only), while filtering and while forecasting.
    """
    obs = np.asarray(observed, dtype=np.float64)
    if obs.ndim != 3 or obs.shape[2] != 2:
        raise ValueError(f"observed must be (N, k, 2) positions, got {obs.shape}")
    F = np.eye(4)
    F[0, 2] = F[1, 3] = dt
    G = np.array([[dt ** 2 / 2, 0], [0, dt ** 2 / 2], [dt, 0], [0, dt]])  # (4, 2) acceleration -> state
    Q = accel_std ** 2 * G @ G.T
    u = G @ np.array([0.0, -gravity])
    H = np.eye(2, 4)
    out = np.empty((obs.shape[0], horizon, 2))
    for i, track in enumerate(obs):
        v0 = (track[1] - track[0]) / dt
        P0 = np.diag([noise_std ** 2] * 2 + [2 * noise_std ** 2 / dt ** 2 + 1.0] * 2)
        kf = KalmanFilter(F, H, Q, noise_std ** 2 * np.eye(2), np.r_[track[0], v0], P0, u)
        for z in track[1:]:
            _predict_bouncing(kf, restitution)
            kf.update(z)
        for h in range(horizon):
            _predict_bouncing(kf, restitution)
            out[i, h] = kf.x[:2]
    return out
