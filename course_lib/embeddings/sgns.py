"""Skip-gram with negative sampling (word2vec; Mikolov et al. 2013), batched in torch (chapter 4).

Symbols shared with chapters/04_learning_embeddings.md: a centre word ``c`` and a context word
``o`` within a window of each other; ``W_in`` (V, D) holds the vectors ``u_c`` of centre words and
``W_out`` (V, D) the vectors ``v_o`` of context words; ``k`` noise words ``n_1..n_k`` are drawn
from the unigram distribution raised to 3/4. The loss of one pair is

    ell(c, o) = -log sigma(u_c . v_o) - sum_j log sigma(-u_c . v_{n_j})

Training follows word2vec's recipe (and gensim's defaults): words rarer than ``min_count`` are
dropped; a frequent word w is kept with probability (sqrt(f_w / (s T)) + 1) s T / f_w (``sample``
= s, T tokens); each centre word draws its window half-width b uniformly from 1..``window``;
plain SGD whose rate falls linearly from ``lr`` to ``min_lr``. Instead of one pair at a time, pairs
are shuffled within chunks of the corpus and updated ``batch_size`` at a time with the analytic
gradient (``sgns_grads``) added by ``index_add_``, so it runs on CPU or GPU with no autograd graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm  # the text bar: a widget bar needs scripts from a CDN on the website

from course_lib.data.corpus import Corpus
from course_lib.embeddings.vectors import WordVectors

__all__ = ["SGNSConfig", "SkipGramNS", "sgns_grads", "train_sgns", "keep_probabilities", "noise_distribution"]


@dataclass(frozen=True)
class SGNSConfig:
    """Settings of ``train_sgns``; the defaults are gensim's ``Word2Vec(sg=1)`` defaults.

    ``batch_size`` pairs share one update (1 would be word2vec's pair-by-pair SGD); ``chunk_tokens``
    corpus positions are turned into pairs and shuffled at a time (bounds memory).
    """

    dim: int = 100
    window: int = 5
    negatives: int = 5
    min_count: int = 5
    sample: float = 1e-3
    epochs: int = 5
    lr: float = 0.025
    min_lr: float = 1e-4
    batch_size: int = 1024
    chunk_tokens: int = 200_000
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("dim", "window", "negatives", "min_count", "epochs", "batch_size", "chunk_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SGNSConfig.{name} must be an int >= 1, got {value!r}")
        if not 0 < self.min_lr <= self.lr:
            raise ValueError(f"need 0 < min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if self.sample < 0:
            raise ValueError(f"SGNSConfig.sample must be >= 0 (0 turns subsampling off), got {self.sample}")


class SkipGramNS(nn.Module):
    """The two embedding tables of skip-gram, ``in_embed`` (u) and ``out_embed`` (v), each (V, D).

    ``forward(centres (B,), contexts (B,), noise (B, k))`` returns the summed loss ``ell`` over the
    batch, differentiable by autograd (the reference ``sgns_grads`` is tested against).
    Initialised as word2vec does: u uniform in +-0.5/D, v zero.
    """

    def __init__(
        self,
        vocab_size: int,
        dim: int,
        generator: torch.Generator | None = None,
        device: torch.device | None = None,
    ) -> None:
        super().__init__()
        self.in_embed = nn.Embedding(vocab_size, dim, device=device)
        self.out_embed = nn.Embedding(vocab_size, dim, device=device)
        with torch.no_grad():
            self.in_embed.weight.uniform_(-0.5 / dim, 0.5 / dim, generator=generator)
            self.out_embed.weight.zero_()

    def forward(self, centres: Tensor, contexts: Tensor, noise: Tensor) -> Tensor:
        u = self.in_embed(centres)  # (B, D)
        v_pos = self.out_embed(contexts)  # (B, D)
        v_neg = self.out_embed(noise)  # (B, k, D)
        pos = (u * v_pos).sum(-1)  # (B,)
        neg = torch.einsum("bd,bkd->bk", u, v_neg)  # (B, k)
        return -(F.logsigmoid(pos).sum() + F.logsigmoid(-neg).sum())


def sgns_grads(
    u: Tensor, v: Tensor, labels: Tensor, weight: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Loss and analytic gradients of SGNS for a batch, without autograd.

    u: (B, D) centre vectors; v: (B, 1+k, D) the context vector then k noise vectors; labels:
    (1+k,) or (B, 1+k), 1 for the context and 0 for noise; weight: None or (B, 1+k), 0 drops a term.
    With s = u.v: d ell / d s = sigma(s) - label, so grad_u = sum_j (sigma(s_j) - label_j) v_j and
    grad_v_j = (sigma(s_j) - label_j) u. Returns (summed loss, grad_u (B, D), grad_v (B, 1+k, D)).
    """
    s = torch.bmm(v, u.unsqueeze(2)).squeeze(2)  # (B, 1+k)
    err = torch.sigmoid(s) - labels  # (B, 1+k)
    terms = F.logsigmoid(torch.where(labels > 0, s, -s))  # (B, 1+k)
    if weight is not None:
        err, terms = err * weight, terms * weight
    loss = -terms.sum()
    grad_u = torch.bmm(err.unsqueeze(1), v).squeeze(1)  # (B, D)
    grad_v = err.unsqueeze(2) * u.unsqueeze(1)  # (B, 1+k, D)
    return loss, grad_u, grad_v


def keep_probabilities(counts: Tensor, sample: float) -> Tensor:
    """word2vec's chance of keeping each occurrence of a word with count f: (sqrt(f/(sT)) + 1) sT/f, <= 1."""
    if sample <= 0:
        return torch.ones_like(counts, dtype=torch.float64)
    threshold = sample * counts.sum().double()
    f = counts.double()
    return ((f / threshold).sqrt() + 1).mul(threshold / f).clamp(max=1.0)


def noise_distribution(counts: Tensor, power: float = 0.75) -> Tensor:
    """The noise distribution P_n(w) proportional to count(w)^power (0.75 in word2vec), (V,) float64."""
    p = counts.double().pow(power)
    return p / p.sum()


def _pairs(tokens: Tensor, lines: Tensor, window: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """All (centre, context) positions of ``tokens`` with a dynamic window b ~ U{1..window} per centre.

    Pairs never cross a line boundary (``lines`` holds each position's line id). Returns two (P,) tensors.
    """
    n = tokens.shape[0]
    b = torch.randint(1, window + 1, (n,), generator=gen, device=tokens.device)  # (n,)
    centres, contexts = [], []
    pos = torch.arange(n, device=tokens.device)
    for offset in range(1, window + 1):
        inside = b[: n - offset] >= offset
        same = lines[: n - offset] == lines[offset:]
        right = pos[: n - offset][inside & same]  # centre i, context i+offset
        centres.append(right)
        contexts.append(right + offset)
        inside_left = b[offset:] >= offset
        left = pos[offset:][inside_left & same]  # centre i, context i-offset
        centres.append(left)
        contexts.append(left - offset)
    return torch.cat(centres), torch.cat(contexts)


def _restrict(corpus: Corpus, min_count: int) -> tuple[list[str], Tensor, Tensor, Tensor]:
    """Drop words rarer than ``min_count``: (words, counts, token ids, line id of each token)."""
    keep = corpus.counts >= min_count
    if not keep.any():
        raise ValueError(f"no word occurs {min_count} times or more; lower min_count")
    n_kept = int(keep.sum())  # words are sorted by count, so the kept ones are a prefix
    ids = torch.from_numpy(corpus.ids.astype(np.int64))
    line_of = torch.repeat_interleave(
        torch.arange(corpus.n_lines), torch.from_numpy(np.diff(corpus.offsets))
    )  # (N,)
    mask = ids < n_kept
    return list(corpus.words[:n_kept]), torch.from_numpy(corpus.counts[:n_kept]), ids[mask], line_of[mask]


@torch.no_grad()
def _sgd_step(model: SkipGramNS, centres: Tensor, targets: Tensor, labels: Tensor, lr: float) -> Tensor:
    """One summed SGD update of the rows a batch touches; noise words equal to the context are skipped."""
    u = model.in_embed.weight[centres]  # (B, D)
    v = model.out_embed.weight[targets]  # (B, 1+k, D)
    clash = targets[:, 1:] == targets[:, :1]  # (B, k): rare, so only then build a weight
    weight = None
    if bool(clash.any()):
        weight = torch.ones_like(v[..., 0])
        weight[:, 1:] = (~clash).to(weight.dtype)
    loss, grad_u, grad_v = sgns_grads(u, v, labels, weight)
    model.in_embed.weight.index_add_(0, centres, grad_u, alpha=-lr)
    model.out_embed.weight.index_add_(0, targets.reshape(-1), grad_v.reshape(-1, v.shape[-1]), alpha=-lr)
    return loss


def train_sgns(
    corpus: Corpus,
    config: SGNSConfig = SGNSConfig(),
    device: torch.device | str = "cpu",
    progress: bool = True,
    on_loss: Callable[[float, float], None] | None = None,
) -> tuple[WordVectors, list[tuple[float, float]]]:
    """Train skip-gram with negative sampling on ``corpus``; returns (vectors ``W_in``, loss curve).

    The loss curve holds (epochs done, mean loss per pair) about 50 times per epoch; ``on_loss``
    is called with the same numbers as they come. Noise words equal to the context word get zero
    weight (word2vec skips them). Deterministic for a given seed, device and thread count.
    """
    device = torch.device(device)
    gen = torch.Generator(device=device).manual_seed(config.seed)
    words, counts, tokens, lines = _restrict(corpus, config.min_count)
    model = SkipGramNS(len(words), config.dim, generator=gen, device=device)
    keep_p = keep_probabilities(counts, config.sample).to(device)
    noise_cdf = noise_distribution(counts).cumsum(0).to(device)
    tokens, lines = tokens.to(device), lines.to(device)
    labels = torch.zeros(1 + config.negatives, device=device)
    labels[0] = 1.0
    n, total = tokens.shape[0], tokens.shape[0] * config.epochs
    curve: list[tuple[float, float]] = []
    report_every = max(1, n // 50)
    bar = tqdm(total=total, unit="tok", unit_scale=True, disable=not progress, desc="skip-gram")
    done, run_pairs, next_report = 0, 0, report_every
    run_loss = torch.zeros((), device=device)
    for _epoch in range(config.epochs):
        for start in range(0, n, config.chunk_tokens):
            stop = min(n, start + config.chunk_tokens)
            chunk, chunk_lines = tokens[start:stop], lines[start:stop]
            kept = (
                torch.rand(chunk.shape[0], generator=gen, device=device, dtype=torch.float64) < keep_p[chunk]
            )
            chunk, chunk_lines = chunk[kept], chunk_lines[kept]
            c_pos, o_pos = _pairs(chunk, chunk_lines, config.window, gen)
            order = torch.randperm(c_pos.shape[0], generator=gen, device=device)
            centres_all, contexts_all = chunk[c_pos[order]], chunk[o_pos[order]]
            n_pairs = centres_all.shape[0]
            for b0 in range(0, n_pairs, config.batch_size):
                centres = centres_all[b0 : b0 + config.batch_size]
                contexts = contexts_all[b0 : b0 + config.batch_size]
                frac = (done + (stop - start) * b0 / max(n_pairs, 1)) / total
                lr = max(config.min_lr, config.lr - (config.lr - config.min_lr) * frac)
                u01 = torch.rand(centres.shape[0], config.negatives, generator=gen, device=device)
                noise = torch.searchsorted(noise_cdf, u01.double()).clamp_(max=len(words) - 1)  # (B, k)
                targets = torch.cat([contexts.unsqueeze(1), noise], dim=1)  # (B, 1+k)
                run_loss += _sgd_step(model, centres, targets, labels, lr)
                run_pairs += centres.shape[0]
            done += stop - start
            bar.update(stop - start)
            if done >= next_report:
                point = (done / n, float(run_loss) / max(run_pairs, 1))
                curve.append(point)
                if on_loss is not None:
                    on_loss(*point)
                run_loss, run_pairs, next_report = torch.zeros((), device=device), 0, done + report_every
    bar.close()
    return WordVectors(words, model.in_embed.weight.detach().cpu().clone()), curve
