"""What the one-matmul W_hh gradient (course_lib/models/_bptt.py) buys, measured side by side.

One training step (forward + backward of ``out.sum()``) of a 1-layer time-major ``models.LSTM`` and
``models.RNN`` (T=100, E=64, the input needs its gradient), for B in {32, 64} and H in {256, 512},
on one CPU thread, with the deferred gradient and with plain autograd (the loop on the undetached
W_hh, T small weight-gradient products). The two alternate (order flipped every repeat); each
repeat times ``--steps`` steps by process CPU time, so a loaded machine slows both alike. Reported
per case: the median of the per-repeat ratios autograd / deferred (> 1: the trick is faster), with
their min and max.

    python benchmarks/bptt_weight_grad.py [--repeats 9] [--steps 3]

Prints one line per case and a JSON object on the last line. Results go in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from course_lib import models
from course_lib.models import layers

DEFERRED = layers.defer_hidden_weight_grad


def plain_autograd(xp: torch.Tensor, weight_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
    """Stand-in for ``defer_hidden_weight_grad`` that leaves W_hh in the loop: plain autograd."""
    return xp, weight_hh, None


def measure(kind: str, batch: int, hidden: int, repeats: int, steps: int) -> dict[str, float]:
    torch.manual_seed(0)
    layer = getattr(models, kind)(64, hidden)
    x = torch.randn(100, batch, 64, requires_grad=True)  # (T, N, E)

    def step() -> None:
        out, _ = layer(x)
        out.sum().backward()

    variants = {"deferred": DEFERRED, "autograd": plain_autograd}
    times: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for prepare in variants.values():  # warm-up
            layers.defer_hidden_weight_grad = prepare
            step()
        for r in range(repeats):
            for name in list(variants) if r % 2 == 0 else list(variants)[::-1]:
                layers.defer_hidden_weight_grad = variants[name]
                start = time.process_time()
                for _ in range(steps):
                    step()
                times[name].append((time.process_time() - start) / steps)
    finally:
        layers.defer_hidden_weight_grad = DEFERRED
    ratios = [a / d for a, d in zip(times["autograd"], times["deferred"], strict=True)]
    ms = {name: round(1000 * statistics.median(ts), 1) for name, ts in times.items()}
    return {"median_speedup": round(statistics.median(ratios), 3), "min": round(min(ratios), 3),
            "max": round(max(ratios), 3), "deferred_ms": ms["deferred"], "autograd_ms": ms["autograd"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for kind in ("LSTM", "RNN"):
        for batch, hidden in ((32, 256), (32, 512), (64, 256), (64, 512)):
            results[f"{kind} B={batch} H={hidden}"] = measure(kind, batch, hidden, args.repeats, args.steps)
            print(f"{kind} B={batch} H={hidden}", results[f"{kind} B={batch} H={hidden}"], flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
