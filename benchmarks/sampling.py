"""Batch-1 character generation speed: ``decode.sample`` against stepping ``nn.LSTM`` once per token.

A 1-layer LSTM language model (vocabulary 65, as Tiny Shakespeare; embedding and hidden size 512)
with RANDOM weights generates 1,000 characters after a short prompt on one CPU thread. Random
weights do not change the speed: the work per character is the same matrix products. The baseline
runs the same model the obvious way: embedding -> ``nn.LSTM`` called on one step with its state ->
head -> the same sampling code. The two run interleaved, a few repeats, and the median counts.

    python benchmarks/sampling.py [--chars 1000] [--repeats 5] [--hidden 512]

Prints a table, then a JSON object on the last line with ``chars_per_s`` and
``ratio_vs_nn_lstm_stepping``. Results go in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from course_lib import decode
from course_lib.models.tasks import LanguageModel


def nn_lstm_stepping(model: LanguageModel, prompt: torch.Tensor, n: int,
                     generator: torch.Generator) -> torch.Tensor:
    """The baseline: the prompt in one call, then one ``nn.LSTM`` call per generated token."""
    out = torch.empty(n, dtype=torch.long)  # (n,)
    with torch.inference_mode():
        logits, state = model(prompt.unsqueeze(0))  # (1, P, V)
        logits = logits[:, -1]  # (1, V)
        for t in range(n):
            token = decode._draw(logits, generator)  # (1,): the sampler decode.sample uses
            out[t] = token[0]
            if t + 1 < n:
                step_out, state = model.rnn(model.embedding(token).unsqueeze(1), state)  # (1, 1, H)
                logits = model.head(step_out[:, 0])  # (1, V)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--vocab", type=int, default=65)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = LanguageModel.build(args.vocab, "lstm", embed_size=args.hidden, hidden_size=args.hidden).eval()
    prompt = torch.randint(0, args.vocab, (20,))
    runs = {
        "decode.sample": lambda g: decode.sample(model, prompt, args.chars, generator=g),
        "nn.LSTM stepping": lambda g: nn_lstm_stepping(model, prompt, args.chars, g),
    }
    for run in runs.values():  # warm-up: first calls allocate and pick kernels
        run(torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(args.repeats):  # interleaved, so that a noisy neighbour hurts both alike
        for name, run in runs.items():
            start = time.perf_counter()
            run(torch.Generator().manual_seed(r))
            times[name].append(time.perf_counter() - start)

    speed = {name: args.chars / statistics.median(ts) for name, ts in times.items()}
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, 1 thread, batch 1, "
          f"LSTM H={args.hidden}, V={args.vocab}, random weights (speed does not depend on them), "
          f"{args.chars} chars x {args.repeats} repeats")
    print(f"{'method':<20}{'median chars/s':>16}{'best chars/s':>14}")
    for name, ts in times.items():
        print(f"{name:<20}{speed[name]:>16,.0f}{args.chars / min(ts):>14,.0f}")
    ratio = speed["decode.sample"] / speed["nn.LSTM stepping"]
    print(json.dumps({"chars_per_s": round(speed["decode.sample"], 1),
                      "nn_lstm_stepping_chars_per_s": round(speed["nn.LSTM stepping"], 1),
                      "ratio_vs_nn_lstm_stepping": round(ratio, 2), "hidden_size": args.hidden,
                      "chars": args.chars, "threads": 1, "random_weights": True}))


if __name__ == "__main__":
    main()
