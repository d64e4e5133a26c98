"""Chapter 6's captioning page as a benchmark: held-out exact match and BLEU, with and without attention.

The page is the single copy of the experiment: this script executes ``chapters/06_captioning.md``
(through ``applications.run_page``, as the book build does), reads the numbers the page glues, and
prints a table, the page's CPU and wall seconds, and one last JSON line. The baseline, stated: the
same LSTM decoder without attention, started from one summary vector of the image (Show and Tell),
trained with the same seed, data and steps. Target: in-distribution exact match >= 0.9.

    COURSE_LIB_DATA=../shared/data nice python benchmarks/signals_caption.py [--save DIR]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from applications import run_page

# JSON key -> glue key on chapters/06_captioning.md
KEYS = {
    "caption_exact": "cap_att_test_exact",
    "caption_exact_novel": "cap_att_novel_exact",
    "caption_bleu": "cap_att_test_bleu",
    "caption_bleu_novel": "cap_att_novel_bleu",
    "caption_exact_no_attention": "cap_plain_test_exact",
    "caption_exact_novel_no_attention": "cap_plain_novel_exact",
    "caption_bleu_no_attention": "cap_plain_test_bleu",
    "caption_bleu_novel_no_attention": "cap_plain_novel_bleu",
    "caption_data_seconds": "cap_gen_seconds",
}
TARGETS = {"caption_exact": 0.9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, default=None, help="folder for the executed notebook")
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")
    numbers, cpu_s, wall_s = run_page("captioning", args.save)
    print(f"captioning executed in {cpu_s:.1f} CPU s, {wall_s:.1f} wall s")
    result = {key: numbers.get(glue_key) for key, glue_key in KEYS.items()}
    print(f"\n{'key':<36}{'value':>10}  target")
    for key, value in result.items():
        bound = TARGETS.get(key)
        met = "" if bound is None or value is None else ("met" if value >= bound else "MISSED")
        shown = "-" if value is None else f"{value:.4f}"
        print(f"{key:<36}{shown:>10}  {'>= ' + str(bound) if bound is not None else ''} {met}")
    result["page_cpu_seconds"] = round(cpu_s, 1)
    print(json.dumps({k: (None if v is None else round(v, 4)) for k, v in result.items()}))


if __name__ == "__main__":
    main()
