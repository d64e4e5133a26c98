"""Chapter 6's signal pages in one run: forecasting (Seattle weather, sunspots) and the ball.

For each task: the course's LSTM (``course_lib.forecasters``) against the baselines a practitioner
tries first (``course_lib.baselines``): naive and seasonal-naive forecasts and a SARIMAX fitted
with statsmodels; constant-velocity extrapolation and a ballistic Kalman filter. Every score is
on held-out data: the last year of weather (2015) and the last 50 years of sunspots, by
rolling origin; 1,000 ball flights never seen in training. LSTM numbers are means over seeds
(default 3), as on the pages. Prints a table, then one JSON line.

    python benchmarks/signals_forecast_ball.py [--seeds 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from course_lib import baselines, data, forecasters

WEATHER = dict(test_size=365, horizon=7, context=28, order=(2, 0, 1), period=365)
SUNSPOTS = dict(test_size=50, horizon=5, context=22, order=(9, 0, 0), period=11, val_size=30)


def annual_terms(n: int, harmonics: int = 2) -> np.ndarray:
    """(n, 2 * harmonics) sines and cosines of the day of the year: known for any future day."""
    t = np.arange(n)[:, None] * np.arange(1, harmonics + 1)[None, :] * 2 * np.pi / 365.25
    return np.concatenate([np.sin(t), np.cos(t)], axis=1)


def forecast_task(x: np.ndarray, spec: dict, cov: np.ndarray | None, seeds, device: str, steps: int,
                  hidden: int) -> dict:
    """Mean MAE and RMSE over all origins and horizons for the LSTM and the baselines."""
    origins = data.rolling_origins(len(x), spec["test_size"], spec["horizon"])
    truth = x[origins[:, None] + np.arange(spec["horizon"])]
    preds = {"naive": baselines.seasonal_naive(x, origins, spec["horizon"]),
             "seasonal naive": baselines.seasonal_naive(x, origins, spec["horizon"], spec["period"])}
    mean, lo, hi, _ = baselines.sarimax_forecasts(x, origins, spec["horizon"], order=spec["order"], exog=cov)
    preds["ARIMA"] = mean
    lstm = []
    for seed in seeds:
        cfg = forecasters.ForecastConfig(context=spec["context"], horizon=spec["horizon"], hidden_size=hidden,
                                         steps=steps, seed=seed, device=device,
                                         val_size=spec.get("val_size", 0))
        model = forecasters.LSTMForecaster(cfg)
        model.fit(x, int(origins[0]), covariates=cov)
        lstm.append(model.predict(x, origins, covariates=cov))
    out = {name: [float(v.mean()) for v in data.horizon_errors(p, truth)] for name, p in preds.items()}
    out["LSTM"] = np.mean([[v.mean() for v in data.horizon_errors(p, truth)] for p in lstm], axis=0).tolist()
    out["LSTM seeds MAE"] = [float(np.abs(p - truth).mean()) for p in lstm]
    out["ARIMA coverage"] = float(((truth >= lo) & (truth <= hi)).mean())
    return out


def ball_task(seeds, device: str, steps: int, k: int = 20) -> dict:
    """Mean position error (m) over the frames after the first ``k`` of 1,000 test flights."""
    train_f, test_f, val_f = (data.ball_flights(n, seed=s) for n, s in ((4000, 0), (1000, 1), (500, 2)))
    c = train_f.config
    horizon, dt = c.n_frames - k, c.dt
    truth = test_f.positions[:, k:]

    def kalman(flights: data.BallFlights, accel_std: float) -> np.ndarray:
        return baselines.ballistic_kalman(flights.observed[:, :k], horizon, dt, noise_std=c.noise_std,
                                          accel_std=accel_std, restitution=c.restitution)

    val = {a: np.linalg.norm(kalman(val_f, a) - val_f.positions[:, k:], axis=-1).mean()
           for a in (0.5, 1, 2, 4, 8)}  # the filter's one setting, chosen on validation throws
    preds = {"constant velocity": baselines.constant_velocity(test_f.observed[:, :k], horizon, dt),
             "Kalman": kalman(test_f, min(val, key=val.get))}
    lstm = []
    for seed in seeds:
        cfg = forecasters.ForecastConfig(horizon=horizon, hidden_size=64, steps=steps, seed=seed,
                                         device=device)
        model = forecasters.TrackForecaster(cfg)
        model.fit(train_f.observed[:, :k], train_f.positions[:, k:])
        lstm.append(model.predict(test_f.observed[:, :k]))
    err = {name: np.linalg.norm(p - truth, axis=-1).mean(axis=0) for name, p in preds.items()}  # (H,) each
    err["LSTM"] = np.mean([np.linalg.norm(p - truth, axis=-1).mean(axis=0) for p in lstm], axis=0)
    out = {name: float(e.mean()) for name, e in err.items()}
    out["LSTM seeds"] = [float(np.linalg.norm(p - truth, axis=-1).mean()) for p in lstm]
    out["LSTM / CV worst horizon"] = float((err["LSTM"] / err["constant velocity"]).max())
    out["1 frame"] = {name: float(e[0]) for name, e in err.items()}
    out["Kalman accel_std"] = min(val, key=val.get)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--scale", type=int, default=1, help="multiplies LSTM width and steps")
    args = parser.parse_args()
    torch.set_num_threads(1 if args.device == "cpu" else torch.get_num_threads())
    seeds = range(args.seeds)
    start = time.process_time()
    w = data.load_seattle_weather()
    temp = data.check_series(w["temp_max"], "temp_max", times=w["date"])
    weather = forecast_task(temp, WEATHER, annual_terms(len(temp)), seeds, args.device, 600 * args.scale,
                            32 * args.scale)
    years, spots = data.load_sunspots()
    sun = forecast_task(data.check_series(spots, "sunspots", times=years), SUNSPOTS, None, seeds, args.device,
                        600 * args.scale, 32 * args.scale)
    ball = ball_task(seeds, args.device, 1500 * args.scale)
    print(f"{'task':<10} {'model':<18} {'MAE':>8} {'RMSE':>8}")
    for task, res in (("weather", weather), ("sunspots", sun)):
        for name in ("LSTM", "naive", "seasonal naive", "ARIMA"):
            print(f"{task:<10} {name:<18} {res[name][0]:8.3f} {res[name][1]:8.3f}")
        print(f"{task:<10} LSTM MAE per seed: {[round(v, 3) for v in res['LSTM seeds MAE']]}; "
              f"ARIMA 80% interval coverage {res['ARIMA coverage']:.3f}")
    for name in ("LSTM", "Kalman", "constant velocity"):
        print(f"{'ball':<10} {name:<18} {ball[name]:8.3f} m (mean position error)")
    print(f"ball LSTM per seed {[round(v, 3) for v in ball['LSTM seeds']]}; "
          f"worst-horizon LSTM/CV {ball['LSTM / CV worst horizon']:.3f}; 1 frame ahead "
          f"{ {n: round(v, 3) for n, v in ball['1 frame'].items()} }; "
          f"Kalman accel_std {ball['Kalman accel_std']}; "
          f"CPU {time.process_time() - start:.0f} s")
    print(json.dumps({
        "weather_mae_lstm": weather["LSTM"][0], "weather_mae_naive": weather["naive"][0],
        "weather_mae_seasonal_naive": weather["seasonal naive"][0], "weather_mae_arima": weather["ARIMA"][0],
        "weather_arima_coverage80": weather["ARIMA coverage"],
        "sunspots_mae_lstm": sun["LSTM"][0], "sunspots_mae_naive": sun["naive"][0],
        "sunspots_mae_seasonal_naive": sun["seasonal naive"][0], "sunspots_mae_arima": sun["ARIMA"][0],
        "ball_err_lstm": ball["LSTM"], "ball_err_kalman": ball["Kalman"],
        "ball_err_cv": ball["constant velocity"],
    }))


if __name__ == "__main__":
    main()
