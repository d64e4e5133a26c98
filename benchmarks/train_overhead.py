"""How much does ``train.fit`` cost over a bare, hand-written PyTorch loop?

Both train the same small LSTM language model (random weights and random tokens: the speed does
not depend on them) for the same number of steps, with AdamW, gradient clipping and stateful
truncated BPTT; ``fit`` also keeps its ``History`` and shows its tqdm progress bar (on stderr), with
validation and checkpoints off. Runs are interleaved (bare, fit, fit, bare, ...) on one thread so
that a busy machine slows both alike; the medians are compared. Target: ``ratio >= 0.95``.

    python benchmarks/train_overhead.py [--steps 60 --rounds 4 --batch 32 --seq-len 32 --hidden 128]

The last line printed is a JSON object with ``fit_tokens_per_s``, ``bare_tokens_per_s``, ``ratio``.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from course_lib import train


class LSTMLanguageModel(nn.Module):
    """forward(x (B, T), state) -> (logits (B, T, V), state), like models.LanguageModel."""

    def __init__(self, vocab: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.rnn = nn.LSTM(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)  # (B, T, H)
        return self.head(out), state  # (B, T, V)


def make_windows(steps: int, batch: int, seq_len: int, vocab: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``steps`` consecutive BPTT windows (x, y), each (B, T), over ``batch`` random streams."""
    g = torch.Generator().manual_seed(0)
    streams = torch.randint(0, vocab, (batch, steps * seq_len + 1), generator=g)  # (B, L)
    return [
        (streams[:, i : i + seq_len], streams[:, i + 1 : i + seq_len + 1])
        for i in range(0, steps * seq_len, seq_len)
    ]


def bare_loop(model: nn.Module, windows, lr: float, clip: float) -> float:
    """The loop a reader would write by hand; returns the final loss."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    state = None
    for x, y in windows:
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        state = tuple(s.detach() for s in state)
    return loss.item()


def fit_loop(model: nn.Module, windows, lr: float, clip: float) -> float:
    config = train.TrainConfig(
        steps=len(windows), lr=lr, clip_norm=clip, device="cpu", progress=True, live_plot=False
    )
    history = train.fit(model, windows, config, loss_fn=train.LanguageModelLoss())
    return history.loss[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=65)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    windows = make_windows(args.steps, args.batch, args.seq_len, args.vocab)
    torch.manual_seed(0)
    initial = LSTMLanguageModel(args.vocab, args.hidden)
    runners = {"bare": bare_loop, "fit": fit_loop}
    for run in runners.values():  # warm-up: first-call imports and allocations are not overhead
        run(copy.deepcopy(initial), windows[:3], 1e-3, 1.0)

    times: dict[str, list[float]] = {"bare": [], "fit": []}
    for r in range(args.rounds):
        order = ["bare", "fit"] if r % 2 == 0 else ["fit", "bare"]  # ABBA against drifting load
        for name in order:
            model = copy.deepcopy(initial)
            start = time.perf_counter()
            runners[name](model, windows, 1e-3, 1.0)
            times[name].append(time.perf_counter() - start)

    tokens = args.steps * args.batch * args.seq_len
    speed = {name: tokens / statistics.median(t) for name, t in times.items()}
    ratio = speed["fit"] / speed["bare"]
    best = {name: tokens / min(t) for name, t in times.items()}  # the least disturbed run of each
    print(
        f"\nLSTM LM (random weights), V={args.vocab} H={args.hidden} B={args.batch} T={args.seq_len}, "
        f"{args.steps} steps x {args.rounds} rounds, {args.threads} thread(s), torch {torch.__version__}"
    )
    print(f"{'loop':<6}{'median s':>10}{'tokens/s':>12}   all runs (s)")
    for name, t in times.items():
        print(
            f"{name:<6}{statistics.median(t):>10.3f}{speed[name]:>12.0f}   {', '.join(f'{v:.3f}' for v in t)}"
        )
    print(
        f"fit / bare throughput: {ratio:.3f} of medians, {best['fit'] / best['bare']:.3f} of best runs "
        "(target >= 0.95)"
    )
    result = {
        "fit_tokens_per_s": round(speed["fit"], 1),
        "bare_tokens_per_s": round(speed["bare"], 1),
        "ratio": round(ratio, 4),
        "ratio_best_runs": round(best["fit"] / best["bare"], 4),
        "steps": args.steps,
        "rounds": args.rounds,
        "threads": args.threads,
        "machine": platform.machine(),
        "torch": torch.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
