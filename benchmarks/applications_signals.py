"""Chapter 6, part 2's applications on signals and images, each model beside its baselines.

The pages are the single copy of each experiment: like ``benchmarks/applications.py`` (whose
runner this script reuses), it executes ``chapters/06_forecast.md``, ``06_ball.md``,
``06_captioning.md`` and ``06_speech.md`` in fresh kernels, reads the numbers each page glues,
and prints a table and one last JSON line with the issue's keys. Baselines, stated: naive and
seasonal-naive forecasts and a rolling-origin ARIMA (statsmodels) for the weather; constant
velocity and a ballistic Kalman filter that knows the floor for the ball; the same captioner
without attention; a unidirectional LSTM for speech. Targets: captioning exact match >= 0.9 on the
in-distribution test split; digit error <= 5% on held-out voices; the LSTM beats constant velocity
at every horizon (``ball_ratio_max``, the worst horizon's LSTM / constant-velocity error, < 1).
Per-page scripts with more detail (several seeds, the sunspots, beam search):
``signals_forecast_ball.py``, ``signals_caption.py``, ``signals_speech.py``.

    COURSE_LIB_DATA=../shared/data nice python benchmarks/applications_signals.py [--jobs 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from applications import main  # noqa: E402 - a sibling script, not a package

# JSON key -> (page, glue key on that page)
KEYS = {
    "weather_mae_lstm": ("forecast", "fc_weather_LSTM"),
    "weather_mae_naive": ("forecast", "fc_weather_naive"),
    "weather_mae_seasonal_naive": ("forecast", "fc_weather_seasonal_naive"),
    "weather_mae_arima": ("forecast", "fc_weather_ARIMA"),
    "sunspots_mae_lstm": ("forecast", "fc_sunspots_LSTM"),
    "sunspots_mae_arima": ("forecast", "fc_sunspots_ARIMA"),
    "ball_err_lstm": ("ball", "ball_LSTM"),
    "ball_err_kalman": ("ball", "ball_Kalman"),
    "ball_err_cv": ("ball", "ball_constant_velocity"),
    "ball_ratio_max": ("ball", "ball_ratio_max"),
    "caption_exact": ("captioning", "cap_att_test_exact"),
    "caption_exact_novel": ("captioning", "cap_att_novel_exact"),
    "caption_bleu": ("captioning", "cap_att_test_bleu"),
    "caption_exact_no_attention": ("captioning", "cap_plain_test_exact"),
    "speech_digit_error": ("speech", "speech_digit_error"),
    "speech_string_acc": ("speech", "speech_string_acc"),
    "speech_digit_error_baseline": ("speech", "speech_uni_digit_error"),
}
TARGETS = {"caption_exact": (">=", 0.9), "speech_digit_error": ("<=", 0.05), "ball_ratio_max": ("<=", 1.0)}

if __name__ == "__main__":
    main(KEYS, TARGETS, __doc__)
