"""Batch-1 character generation speed: ``decode.sample`` against what a practitioner would write.

A 1-layer LSTM language model (vocabulary 65, as Tiny Shakespeare; embedding and hidden size 512)
with RANDOM weights generates characters after a 20-character prompt on one CPU thread. Random
weights do not change the speed: the work per character is the same matrix products. Every method
draws its tokens with the sampler ``decode.sample`` uses (``decode._draw``, the Gumbel-max trick)
from a generator seeded alike, so all of them must emit the same tokens, and the script asserts it.
The baselines, each the obvious way to step the same model:

- ``nn.LSTM per token``: the prompt in one call, then one ``model.rnn`` call per token;
- ``nn.LSTM per token, oneDNN off``: the same under ``torch.backends.mkldnn.flags(enabled=False)``
  (see RESULTS.md for why a one-step ``nn.LSTM`` call costs ~5 ms with oneDNN on);
- ``nn.LSTMCell loop``: an ``nn.LSTMCell`` holding the layer's weights, stepped in a Python loop;
- ``full re-run``: the whole sequence so far through the model for every new token (quadratic in the
  length, so it generates only ``--rerun-chars`` characters; its chars/s is over those).

All run interleaved, ``--repeats`` times after a warm-up, timed in CPU seconds of the process, and
the median counts.

    python benchmarks/sampling.py [--chars 1000] [--rerun-chars 200] [--repeats 5] [--hidden 512]

Prints a table, then a JSON object on the last line: ``chars_per_s`` (decode.sample), each
baseline's chars/s, and ``ratio_vs_best_baseline`` (decode.sample over the fastest baseline).
Results go in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from course_lib import decode
from course_lib.models.tasks import LanguageModel

Method = Callable[[torch.Generator], Tensor]


def nn_lstm_per_token(model: LanguageModel, prompt: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The prompt in one call, then one ``nn.LSTM`` call per generated token."""
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


def nn_lstm_without_onednn(model: LanguageModel, prompt: Tensor, n: int, g: torch.Generator) -> Tensor:
    """As ``nn_lstm_per_token``, with torch's own (ATen) LSTM kernel instead of oneDNN's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the flags' note on TF32, irrelevant in float32
        with torch.backends.mkldnn.flags(enabled=False):
            return nn_lstm_per_token(model, prompt, n, g)


def lstm_cell_loop(model: LanguageModel, cell: nn.LSTMCell, prompt: Tensor, n: int,
                   generator: torch.Generator) -> Tensor:
    """The prompt in one call, then an ``nn.LSTMCell`` with the layer's weights, one step per token."""
    out = torch.empty(n, dtype=torch.long)  # (n,)
    with torch.inference_mode():
        logits, (h, c) = model(prompt.unsqueeze(0))  # state (1, 1, H) each
        logits, h, c = logits[:, -1], h[0], c[0]  # (1, V), (1, H), (1, H)
        for t in range(n):
            token = decode._draw(logits, generator)
            out[t] = token[0]
            if t + 1 < n:
                h, c = cell(model.embedding(token), (h, c))  # (1, H) each
                logits = model.head(h)  # (1, V)
    return out


def full_rerun(model: LanguageModel, prompt: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """Every token from a forward pass over the whole sequence so far (no carried state)."""
    seq = prompt.unsqueeze(0)  # (1, P)
    with torch.inference_mode():
        for _ in range(n):
            token = decode._draw(model(seq)[0][:, -1], generator)  # (1,)
            seq = torch.cat([seq, token.unsqueeze(1)], 1)  # (1, P + t + 1)
    return seq[0, prompt.shape[0]:]


def cell_with_weights_of(rnn: nn.LSTM) -> nn.LSTMCell:
    cell = nn.LSTMCell(rnn.input_size, rnn.hidden_size).eval()
    cell.load_state_dict({name: getattr(rnn, f"{name}_l0") for name in cell.state_dict()})
    return cell


def time_interleaved(methods: dict[str, Method], repeats: int) -> dict[str, list[float]]:
    """CPU seconds of this process per run of each method (one thread, so a loaded machine stretches
    the wall clock but not this); the methods alternate so that any remaining noise hurts all alike."""
    for run in methods.values():  # warm-up: first calls allocate and pick kernels
        run(torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {name: [] for name in methods}
    for r in range(repeats):
        names = list(methods) if r % 2 == 0 else list(methods)[::-1]
        for name in names:
            start = time.process_time()
            methods[name](torch.Generator().manual_seed(r))
            times[name].append(time.process_time() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=1000)
    parser.add_argument("--rerun-chars", type=int, default=200, help="characters for the full re-run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--vocab", type=int, default=65)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = LanguageModel.build(args.vocab, "lstm", embed_size=args.hidden, hidden_size=args.hidden).eval()
    cell = cell_with_weights_of(model.rnn)
    prompt = torch.randint(0, args.vocab, (20,))
    n, n_rerun = args.chars, min(args.rerun_chars, args.chars)
    methods: dict[str, Method] = {
        "decode.sample": lambda g: decode.sample(model, prompt, n, generator=g),
        "nn.LSTM per token": lambda g: nn_lstm_per_token(model, prompt, n, g),
        "nn.LSTM per token, oneDNN off": lambda g: nn_lstm_without_onednn(model, prompt, n, g),
        "nn.LSTMCell loop": lambda g: lstm_cell_loop(model, cell, prompt, n, g),
        "full re-run": lambda g: full_rerun(model, prompt, n_rerun, g),
    }
    # Same generator seed, same tokens: otherwise the methods would not be computing the same thing.
    tokens = {name: run(torch.Generator().manual_seed(123)) for name, run in methods.items()}
    for name, ids in tokens.items():
        if not torch.equal(ids, tokens["decode.sample"][: len(ids)]):
            raise AssertionError(f"{name} emitted other tokens than decode.sample for the same generator")

    times = time_interleaved(methods, args.repeats)
    chars = {name: (n_rerun if name == "full re-run" else n) for name in methods}
    speed = {name: chars[name] / statistics.median(ts) for name, ts in times.items()}
    baselines = {name: s for name, s in speed.items() if name != "decode.sample"}
    best = max(baselines, key=baselines.get)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, 1 thread, batch 1, "
          f"LSTM H={args.hidden}, V={args.vocab}, random weights (speed does not depend on them), "
          f"{n} chars ({n_rerun} for the full re-run) x {args.repeats} repeats; identical tokens: yes")
    print(f"{'method':<32}{'median chars/s':>16}{'best chars/s':>14}{'decode.sample / it':>20}")
    for name, ts in times.items():
        print(f"{name:<32}{speed[name]:>16,.0f}{chars[name] / min(ts):>14,.0f}"
              f"{speed['decode.sample'] / speed[name]:>20.2f}")
    print(json.dumps({
        "chars_per_s": round(speed["decode.sample"], 1),
        "baselines_chars_per_s": {name: round(s, 1) for name, s in baselines.items()},
        "best_baseline": best,
        "ratio_vs_best_baseline": round(speed["decode.sample"] / baselines[best], 2),
        "ratio_vs_each_baseline": {k: round(speed["decode.sample"] / v, 2) for k, v in baselines.items()},
        "identical_tokens": True, "hidden_size": args.hidden, "chars": n, "rerun_chars": n_rerun,
        "threads": 1, "random_weights": True,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
