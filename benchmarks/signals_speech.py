"""Chapter 6's speech page as a benchmark: spoken digit strings, bidirectional LSTM + CTC.

The page is the single copy of the experiment: this script executes ``chapters/06_speech.md`` in
a fresh kernel (jupytext + nbclient, as the book build does, through ``applications.run_page``),
reads the numbers the page glues, and prints a table, the page's CPU and wall seconds (the eSpeak
processes included) and one last JSON line with ``speech_digit_error`` and ``speech_string_acc``
(greedy decoding, held-out voices) and the rest of the page's table. Baseline, stated: a
unidirectional LSTM with the same units, data and steps; target: digit error <= 5% on held-out
voice settings. ``--scale`` sets ``COURSE_SCALE`` for the page (1 on a CPU, 4 is the GPU setting).

    COURSE_LIB_DATA=../shared/data nice python benchmarks/signals_speech.py [--scale 4] [--save out/]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from applications import run_page  # noqa: E402 - a sibling script, not a package

# JSON key -> (glue key on the page, what it is)
KEYS = {
    "speech_digit_error": ("speech_digit_error", "digit error, held-out voices, BiLSTM greedy"),
    "speech_string_acc": ("speech_string_acc", "string accuracy, held-out voices, BiLSTM greedy"),
    "speech_digit_error_beam": ("speech_digit_error_beam", "digit error, held-out voices, BiLSTM beam"),
    "speech_string_acc_beam": ("speech_string_acc_beam", "string accuracy, held-out voices, BiLSTM beam"),
    "speech_valid_digit_error": ("speech_valid_digit_error", "digit error, validation (training voices)"),
    "speech_uni_digit_error": ("speech_uni_digit_error", "digit error, held-out voices, uni-LSTM greedy"),
    "speech_uni_string_acc": ("speech_uni_string_acc", "string accuracy, held-out voices, uni-LSTM greedy"),
    "speech_uni_digit_error_beam": ("speech_uni_digit_error_beam", "digit error, held-out, uni-LSTM beam"),
    "speech_gen_cpu_s": ("speech_gen_cpu_s", "CPU s to generate the data (when built)"),
    "speech_bi_train_cpu_s": ("speech_bi_cpu_s", "CPU s to train the BiLSTM"),
}
TARGETS = {"speech_digit_error": ("<=", 0.05)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=None, help="COURSE_SCALE for the page")
    parser.add_argument("--save", type=Path, default=None, help="folder for the executed notebook")
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.scale is not None:
        os.environ["COURSE_SCALE"] = str(args.scale)
    numbers, cpu_s, wall_s = run_page("speech", args.save)
    print(f"chapters/06_speech.md executed in {cpu_s:.1f} CPU s, {wall_s:.1f} wall s "
          f"(COURSE_SCALE={os.environ.get('COURSE_SCALE', 'default')})\n")
    result = {key: numbers.get(glue_key) for key, (glue_key, _) in KEYS.items()}
    print(f"{'key':<26}{'value':>10}  {'target':<14}what")
    for key, value in result.items():
        op, bound = TARGETS.get(key, ("", None))
        met = "" if bound is None or value is None else (" met" if value <= bound else " MISSED")
        shown = "-" if value is None else f"{value:.4f}"
        target = f"{op} {bound}{met}" if bound is not None else ""
        print(f"{key:<26}{shown:>10}  {target:<14}{KEYS[key][1]}")
    result["page_cpu_s"] = cpu_s
    print(json.dumps({k: (None if v is None else round(v, 4)) for k, v in result.items()}))


if __name__ == "__main__":
    main()
