"""Training-step throughput of course_lib.models' RNN, LSTM and GRU layers against torch.nn's.

One training step is forward + backward of a 1-layer, time-major layer on T=100 steps of E=64
features (the input needs its gradient, as behind an embedding), for B in {32, 64} and
H in {256, 512}. Ours and torch's run side by side in one process with the same weights:
warm-up, then several repeats alternating which goes first, and the median counts. Reported:
tokens/s (B*T per step), ours/torch throughput ratio, and matmul GFLOP/s against a measured
matmul peak (torch.mm on square matrices; on CPU also oneDNN's inner product, which nn.LSTM uses).

    python benchmarks/rnn_layers.py [--threads 1 2] [--quick] [--device cpu|cuda] [--ablation] [--no-save]

Prints a table and appends it, with date, machine and command, to the section
"RNN layers (issue 3)" of benchmarks/RESULTS.md. Machine-wide load skews both sides alike,
but not exactly: compare ratios from one run, and rerun final numbers on a quiet machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import itertools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from course_lib import models
from course_lib.models import steps

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## RNN layers (issue 3)"
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
TWINS = {"lstm": (models.LSTM, nn.LSTM), "gru": (models.GRU, nn.GRU), "rnn": (models.RNN, nn.RNN)}


@dataclasses.dataclass(frozen=True)
class Config:
    """The benchmark's settings; ``--quick`` shrinks them to a smoke test."""

    threads: tuple[int, ...] = (1, 2)
    batches: tuple[int, ...] = (32, 64)
    hiddens: tuple[int, ...] = (256, 512)
    kinds: tuple[str, ...] = ("lstm", "gru", "rnn")
    steps: int = 100  # T
    features: int = 64  # E
    warmup: int = 2
    repeats: int = 5
    device: str = "cpu"
    ablation: bool = False  # also time the intermediate LSTM loops (ablation())


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn: Callable[[], object], device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def best_seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """A peak is the best the hardware does: take the fastest repeat, not the median."""
    return min(seconds(fn, device) for _ in range(repeats))


def matmul_peaks(device: torch.device) -> dict[str, float]:
    """GFLOP/s of torch.mm on square float32 matrices and, on CPU, of oneDNN's inner product."""
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device)
    a @ a  # warm-up
    peaks = {"torch.mm": 2 * n**3 / best_seconds(lambda: a @ a, device, 5) / 1e9}
    onednn = getattr(torch.ops.mkldnn, "_linear_pointwise", None) if device.type == "cpu" else None
    if onednn is not None and torch.backends.mkldnn.is_available():
        try:  # a private op, used here only to measure what nn.LSTM's kernels can reach
            onednn(a, a, None, "none", [], "")
            sec = best_seconds(lambda: onednn(a, a, None, "none", [], ""), device, 5)
            peaks["oneDNN"] = 2 * n**3 / sec / 1e9
        except (RuntimeError, TypeError):
            pass
    return peaks


def step_flops(kind: str, batch: int, hidden: int, cfg: Config) -> float:
    """Matmul FLOPs of one training step: forward 2*T*B*G*H*(E+H), backward twice that."""
    return 3 * 2 * cfg.steps * batch * GATES[kind] * hidden * (cfg.features + hidden)


def interleaved(
    contenders: dict[str, Callable[[Tensor], Tensor]],
    params: list[Tensor],
    x: Tensor,
    hidden: int,
    cfg: Config,
) -> dict[str, float]:
    """Median seconds per training step of each contender (x (T, B, E) -> output (T, B, H)),
    measured round-robin, starting each repeat with a different contender."""
    target = torch.randn(x.shape[0], x.shape[1], hidden, device=x.device)

    def train_step(forward: Callable[[Tensor], Tensor]) -> None:
        for p in params:
            p.grad = None
        x.grad = None
        (forward(x) * target).sum().backward()

    for _ in range(cfg.warmup):
        for forward in contenders.values():
            train_step(forward)
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(cfg.repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            times[name].append(seconds(lambda name=name: train_step(contenders[name]), x.device))
    return {name: statistics.median(ts) for name, ts in times.items()}


def pair(kind: str, batch: int, hidden: int, cfg: Config, device: torch.device):
    """torch's layer, ours with the same weights, and an input (T, B, E) that needs its gradient."""
    ours_cls, torch_cls = TWINS[kind]
    theirs = torch_cls(cfg.features, hidden, device=device)
    ours = ours_cls(cfg.features, hidden, device=device)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(cfg.steps, batch, cfg.features, device=device).requires_grad_()
    return theirs, ours, x


def measure(kind: str, batch: int, hidden: int, cfg: Config, device: torch.device) -> dict[str, float]:
    theirs, ours, x = pair(kind, batch, hidden, cfg, device)
    contenders = {"torch": lambda x: theirs(x)[0], "ours": lambda x: ours(x)[0]}
    return interleaved(contenders, [*theirs.parameters(), *ours.parameters()], x, hidden, cfg)


# --- ablation: what each step from the textbook loop to models.LSTM buys (LSTM, 1 layer) ---


def cell_loop(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
    """The loop as first written: project x[t] inside the loop, one step at a time."""
    h = c = x.new_zeros(x.shape[1], w_hh.shape[1])
    outputs = []
    for t in range(x.shape[0]):
        h, c = steps.lstm_step(steps.input_projection(x[t], w_ih, b_ih), h, c, w_hh, b_hh)
        outputs.append(h)
    return torch.stack(outputs)


def hoisted_indexed(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
    """Project all T inputs in one matmul, then read xp[t] in the loop."""
    xp = steps.input_projection(x, w_ih, b_ih)  # (T, B, 4H)
    h = c = x.new_zeros(x.shape[1], w_hh.shape[1])
    outputs = []
    for t in range(x.shape[0]):
        h, c = steps.lstm_step(xp[t], h, c, w_hh, b_hh)
        outputs.append(h)
    return torch.stack(outputs)


def hoisted_unbind(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor | None) -> Tensor:
    """Project all T inputs in one matmul, then iterate over xp.unbind(0)."""
    h = c = x.new_zeros(x.shape[1], w_hh.shape[1])
    outputs = []
    for xp_t in steps.input_projection(x, w_ih, b_ih).unbind(0):
        h, c = steps.lstm_step(xp_t, h, c, w_hh, b_hh)
        outputs.append(h)
    return torch.stack(outputs)


def ablation(batch: int, hidden: int, cfg: Config, device: torch.device) -> dict[str, float]:
    theirs, ours, x = pair("lstm", batch, hidden, cfg, device)
    weights = w_ih, w_hh, b_ih, b_hh = ours.weight_ih_l0, ours.weight_hh_l0, ours.bias_ih_l0, ours.bias_hh_l0
    contenders = {
        "torch.nn.LSTM": lambda x: theirs(x)[0],
        "cell loop, x[t]": lambda x: cell_loop(x, *weights),
        "hoisted, xp[t]": lambda x: hoisted_indexed(x, *weights),
        "hoisted, unbind": lambda x: hoisted_unbind(x, *weights),
        "+ b_hh folded in": lambda x: hoisted_unbind(x, w_ih, w_hh, b_ih + b_hh, None),
        "+ W_hh grad in 1 matmul = models.LSTM": lambda x: ours(x)[0],
    }
    return interleaved(contenders, [*theirs.parameters(), *ours.parameters()], x, hidden, cfg)


def machine(device: torch.device) -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    desc = f"{cpu} ({os.cpu_count()} logical CPUs), torch {torch.__version__}"
    if device.type == "cuda":
        desc += f", {torch.cuda.get_device_name(device)}"
    return desc


def layer_table(cfg: Config, device: torch.device) -> tuple[list[str], list[str]]:
    """Ours against torch for every case: the table rows, and the matmul peaks per thread count."""
    lines = [
        "| threads | layer | B | H | torch.nn tok/s | ours tok/s | ours / torch "
        "| torch GFLOP/s | ours GFLOP/s | ours % of mm peak |",
        "|" + "---|" * 10,
    ]
    peaks_text = []
    for threads in cfg.threads:
        torch.set_num_threads(threads)
        peaks = matmul_peaks(device)
        peaks_text.append(f"{threads} thread(s): " + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()))
        print(f"[threads={threads}] matmul peak GFLOP/s: {peaks}", flush=True)
        for kind, batch, hidden in itertools.product(cfg.kinds, cfg.batches, cfg.hiddens):
            sec = measure(kind, batch, hidden, cfg, device)
            tokens, flops = batch * cfg.steps, step_flops(kind, batch, hidden, cfg)
            lines.append(
                f"| {threads} | {kind.upper()} | {batch} | {hidden} | {tokens / sec['torch']:,.0f} "
                f"| {tokens / sec['ours']:,.0f} | {sec['torch'] / sec['ours']:.2f} "
                f"| {flops / sec['torch'] / 1e9:.0f} | {flops / sec['ours'] / 1e9:.0f} "
                f"| {100 * flops / sec['ours'] / 1e9 / peaks['torch.mm']:.0f}% |"
            )
            print(lines[-1], flush=True)
    return lines, peaks_text


def ablation_table(cfg: Config, device: torch.device) -> list[str]:
    """The LSTM loop variants, on the first thread count only and 3 repeats: the slow ones are slow."""
    threads, short = cfg.threads[0], dataclasses.replace(cfg, repeats=min(cfg.repeats, 3), warmup=1)
    torch.set_num_threads(threads)
    lines = ["| threads | B | H | LSTM loop | tok/s | vs torch.nn.LSTM |", "|---|---|---|---|---|---|"]
    for batch, hidden in itertools.product(cfg.batches, cfg.hiddens):
        sec = ablation(batch, hidden, short, device)
        for name, t in sec.items():
            tokens, ref = batch * cfg.steps, sec["torch.nn.LSTM"]
            lines.append(f"| {threads} | {batch} | {hidden} | {name} | {tokens / t:,.0f} | {ref / t:.2f} |")
            print(lines[-1], flush=True)
    return lines


def run(cfg: Config) -> str:
    """Measure every case, printing rows as they come; return the markdown block for RESULTS.md."""
    device = torch.device(cfg.device)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines, peaks_text = layer_table(cfg, device)
    if cfg.ablation:
        lines += ["", "Ablation: what each change from the textbook loop buys (LSTM, 1 layer)", ""]
        lines += ablation_table(cfg, device)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(["python benchmarks/rnn_layers.py", *sys.argv[1:]])
    intro = [
        f"### Run {stamp}",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine(device)}; device {device}; 1-min load average {load_before:.1f} at the start, "
        f"{os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan'):.1f} at the end",
        f"- Measured matmul peak, GFLOP/s (float32): {'; '.join(peaks_text)}",
        f"- T={cfg.steps}, E={cfg.features}, 1 layer, float32, input needs its gradient; median of "
        f"{cfg.repeats} interleaved repeats after {cfg.warmup} warm-up step(s)",
        "",
    ]
    return "\n".join(intro + lines) + "\n"


def save(block: str) -> None:
    """Insert the block at the end of this benchmark's section of RESULTS.md (created if missing)."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if SECTION not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n"
    start = text.index(SECTION) + len(SECTION)
    nxt = text.find("\n## ", start)
    end = len(text) if nxt == -1 else nxt + 1
    text = text[:end].rstrip("\n") + "\n\n" + block + ("\n" + text[end:] if nxt != -1 else "")
    RESULTS.write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="intra-op thread counts")
    parser.add_argument("--quick", action="store_true", help="B=32, H=256, 3 repeats: a smoke test")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (torch's side then runs cuDNN)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per case (default 5)")
    parser.add_argument("--ablation", action="store_true", help="also time the LSTM loop variants")
    parser.add_argument("--no-save", action="store_true", help=f"print only; do not write {RESULTS.name}")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda was asked for but CUDA is not available")
    cfg = Config(threads=tuple(args.threads), device=args.device, ablation=args.ablation)
    if args.quick:
        cfg = dataclasses.replace(cfg, batches=(32,), hiddens=(256,), repeats=3, warmup=1)
    if args.repeats is not None:
        cfg = dataclasses.replace(cfg, repeats=args.repeats)
    block = run(cfg)
    if not args.no_save:
        save(block)
        print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
