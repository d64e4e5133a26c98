"""Generating from trained models: sampling and greedy decoding for language models, greedy and
beam-search decoding for the encoder-decoder.

Language models (``models.LanguageModel``): the prompt goes through the model in one call, then
``LanguageModelStepper`` steps the recurrent layer one token at a time with the step functions of
``models.steps`` (the maths the course's cells and layers use) on the layer's weights. Calling
an ``nn.LSTM`` once per token pays its per-call overhead every time (oneDNN on CPU); the stepper
also folds the embedding through layer 0's input weights into one table, so a step's first matmul
becomes a row lookup, and samples by the Gumbel-max trick. benchmarks/sampling.py measures it.
Used in chapters/01 and 03, chapter 6's text and music generation, chapters/05 and chapter 6's
translation (``greedy_translate``, ``beam_search``, ``beam_search_batch``). ``ctc_greedy`` and
``ctc_beam`` turn the per-frame outputs of a CTC model into label sequences (chapter 6's speech page).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.models import steps
from course_lib.models.seq2seq import Seq2Seq, select_state
from course_lib.models.tasks import LanguageModel

__all__ = ["LanguageModelStepper", "sample", "greedy", "greedy_translate", "beam_search", "beam_search_batch",
           "translate_batch", "Hypothesis", "ctc_greedy", "ctc_beam"]


class LanguageModelStepper:
    """Step a ``LanguageModel`` token by token, fast; its logits equal the model's full forward.

    start(prompt (B, P) long) -> logits (B, V) for the token after the prompt (one call to the rnn);
    step(tokens (B,) long) -> logits (B, V) for the token after ``tokens``. The model must be in
    eval mode. ``fold_embedding`` precomputes ``E W_ih0^T + b`` (V, G*H): worth it when more tokens
    will be generated than there are vocabulary entries. The table is a snapshot of the weights: build
    a new stepper after training further. Layers whose maths it cannot tell (e.g. ``proj_size``) are
    stepped by calling the model itself.
    """

    def __init__(self, model: LanguageModel, *, fold_embedding: bool = True):
        if not isinstance(model, LanguageModel):
            raise TypeError(f"expected a models.LanguageModel, got {type(model).__name__}")
        if model.training:
            raise ValueError("call model.eval() before stepping it: dropout would change the logits")
        self.model, self.kind, self.state = model, model.spec.kind, None
        if self.kind is None:
            return
        rnn = model.rnn
        with torch.inference_mode():
            self.w_ih, self.w_hh, self.b_in, self.b_hh = [], [], [], []
            for k in range(model.spec.num_layers):
                w_ih, w_hh = getattr(rnn, f"weight_ih_l{k}"), getattr(rnn, f"weight_hh_l{k}")
                b_ih = getattr(rnn, f"bias_ih_l{k}", None)
                b_hh = getattr(rnn, f"bias_hh_l{k}", None)
                b_ih = torch.zeros_like(w_ih[:, 0]) if b_ih is None else b_ih
                # GRU keeps b_hh with the hidden matmul: its reset gate multiplies (W_hn h + b_hn).
                folds = self.kind != "gru" and b_hh is not None
                self.b_in.append(b_ih + b_hh if folds else b_ih)  # (G*H,)
                self.b_hh.append(b_hh if self.kind == "gru" else None)
                # Column-major copies, so that the step's ``h @ W.T`` reads a row-major (H, G*H)
                # matrix: a (1, H) @ (H, G*H) product runs ~10% faster on it than on the
                # transposed view of a row-major W (measured at H=512 on one CPU thread).
                self.w_ih.append(_column_major(w_ih))  # (G*H, in)
                self.w_hh.append(_column_major(w_hh))  # (G*H, H)
            self.table = steps.input_projection(model.embedding.weight, self.w_ih[0], self.b_in[0]) \
                if fold_embedding else None  # (V, G*H)

    def start(self, prompt: Tensor) -> Tensor:
        with torch.inference_mode():
            return self._start(prompt)

    def step(self, tokens: Tensor) -> Tensor:
        with torch.inference_mode():
            return self._step(tokens)

    def _start(self, prompt: Tensor) -> Tensor:
        logits, state = self.model(prompt)  # (B, P, V)
        if self.kind is None:
            self.state = state
        elif self.kind == "lstm":
            self.state = (list(state[0].unbind(0)), list(state[1].unbind(0)))  # L x (B, H) each
        else:
            self.state = list(state.unbind(0))  # L x (B, H)
        return logits[:, -1]  # (B, V)

    def _step(self, tokens: Tensor) -> Tensor:
        model = self.model
        if self.kind is None:
            logits, self.state = model(tokens.unsqueeze(1), self.state)  # (B, 1, V)
            return logits[:, 0]
        if self.table is not None:
            x = self.table.index_select(0, tokens)  # (B, G*H): layer 0's input term, biases included
        else:
            x = steps.input_projection(model.embedding(tokens), self.w_ih[0], self.b_in[0])  # (B, G*H)
        h = self._cell(0, x)  # (B, H)
        for k in range(1, model.spec.num_layers):  # the layer below's new h is this layer's input
            h = self._cell(k, steps.input_projection(h, self.w_ih[k], self.b_in[k]))  # (B, H)
        return F.linear(h, model.head.weight, model.head.bias)  # (B, V)

    def _cell(self, k: int, x: Tensor) -> Tensor:
        """Layer k's step (models.steps) given its input term x (B, G*H); updates the state -> h (B, H)."""
        if self.kind == "lstm":
            hs, cs = self.state
            hs[k], cs[k] = steps.lstm_step(x, hs[k], cs[k], self.w_hh[k])  # b_hh is inside x
            return hs[k]
        self.state[k] = _STEPS[self.kind](x, self.state[k], self.w_hh[k], self.b_hh[k])  # (B, H)
        return self.state[k]


_STEPS = {"gru": steps.gru_step, "rnn_tanh": steps.rnn_tanh_step, "rnn_relu": steps.rnn_relu_step}


def _column_major(w: Tensor) -> Tensor:
    """The same (rows, cols) matrix stored column by column: ``w.T`` of the result is contiguous."""
    return w.t().contiguous().t()


def _as_prompt(model: LanguageModel, prompt_ids: Sequence[int] | Tensor) -> tuple[Tensor, bool]:
    """-> (prompt (B, P) long on the model's device, whether the caller gave a single (P,) prompt)."""
    prompt = torch.as_tensor(prompt_ids, device=model.head.weight.device)
    single = prompt.dim() == 1
    prompt = prompt.unsqueeze(0) if single else prompt  # (B, P)
    if prompt.dim() != 2 or prompt.shape[1] == 0 or prompt.is_floating_point():
        raise ValueError(f"prompt_ids must be a non-empty (P,) or (B, P) sequence of int ids, got "
                         f"{tuple(prompt.shape)} {prompt.dtype}")
    return prompt.long(), single


def _draw(logits: Tensor, generator: torch.Generator | None) -> Tensor:
    """One sample per row of softmax(logits) (B, K) -> (B,), by the Gumbel-max trick.

    ``argmax_i (logits_i - log E_i)`` with ``E_i ~ Exp(1)`` independent is token i with probability
    ``softmax(logits)_i``, exactly; it costs two elementwise ops and an argmax, where softmax +
    ``torch.multinomial`` cost about twice as much per step. E is drawn in float64, where E = 0 (a
    token chosen whatever its probability) has a chance of about 1e-16.
    """
    device = logits.device if generator is None else generator.device
    noise = torch.empty(logits.shape, dtype=torch.float64, device=device).exponential_(generator=generator)
    return (logits.double() - noise.log().to(logits.device)).argmax(-1)


def _generate(model: LanguageModel, prompt_ids: Sequence[int] | Tensor, n: int, pick) -> Tensor:
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            prompt, single = _as_prompt(model, prompt_ids)  # (B, P)
            batch = prompt.shape[0]
            stepper = LanguageModelStepper(model, fold_embedding=model.embedding.num_embeddings <= n * batch)
            logits = stepper._start(prompt)  # (B, V)
            out = []
            for t in range(n):
                out.append(pick(logits))  # (B,)
                if t + 1 < n:
                    logits = stepper._step(out[-1])
            out = torch.stack(out, 1) if out else prompt.new_empty(batch, 0)  # (B, n)
    finally:
        model.train(was_training)
    return out[0] if single else out


def sample(model: LanguageModel, prompt_ids: Sequence[int] | Tensor, n: int, *, temperature: float = 1.0,
           top_k: int | None = None, generator: torch.Generator | None = None,
           top_p: float | None = None) -> Tensor:
    """Sample ``n`` tokens after the prompt from softmax(logits / temperature), optionally top-k.

    prompt_ids: (P,) or (B, P) ids, P >= 1 -> the new tokens only, (n,) or (B, n) long. A seeded
    ``generator`` makes the text reproducible. The model runs in eval mode (no dropout).
    ``top_p`` in (0, 1] (nucleus sampling, Holtzman et al. 2020): draw from the smallest set of
    likeliest tokens whose probabilities sum to at least ``top_p``, renormalised; applied after
    temperature and top-k.
    """
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"top_p must be None or a number in (0, 1], got {top_p!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (use decode.greedy for the argmax), got {temperature!r}")
    vocab = model.head.out_features
    if top_k is not None and not (isinstance(top_k, int) and 1 <= top_k):
        raise ValueError(f"top_k must be None or an int >= 1, got {top_k!r}")
    top_k = None if top_k is None or top_k >= vocab else top_k

    def pick(logits: Tensor) -> Tensor:
        logits = logits / temperature if temperature != 1.0 else logits
        if top_p is not None and top_p < 1:
            logits = _nucleus(logits if top_k is None else _keep_top_k(logits, top_k), top_p)
            return _draw(logits, generator)  # (B,)
        if top_k is None:
            return _draw(logits, generator)  # (B,)
        values, index = logits.topk(top_k, dim=-1)  # (B, k)
        return index.gather(1, _draw(values, generator).unsqueeze(1)).squeeze(1)  # (B,)

    return _generate(model, prompt_ids, n, pick)


def _keep_top_k(logits: Tensor, k: int) -> Tensor:
    """logits (B, K) with all but the k largest per row set to -inf."""
    kth = logits.topk(k, dim=-1).values[:, -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def _nucleus(logits: Tensor, p: float) -> Tensor:
    """logits (B, K) with every token outside the top-p nucleus set to -inf (top-p sampling)."""
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, K)
    probs = sorted_logits.softmax(-1)
    # A token stays if the tokens ranked above it hold less than p: the first always stays.
    drop_sorted = probs.cumsum(-1) - probs >= p  # (B, K)
    drop = drop_sorted.scatter(1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def greedy(model: LanguageModel, prompt_ids: Sequence[int] | Tensor, n: int) -> Tensor:
    """The ``n`` most likely tokens one at a time (argmax) after the prompt -> (n,) or (B, n) long."""
    return _generate(model, prompt_ids, n, lambda logits: logits.argmax(dim=-1))


@torch.inference_mode()
def greedy_translate(model: Seq2Seq, src: Tensor, src_lengths: Tensor, max_len: int
                     ) -> tuple[Tensor, Tensor | None]:
    """Translate a batch by taking the argmax at every decoder step, stopping at EOS.

    src (B, S) long, src_lengths (B,) -> (tokens (B, T) long: the output after BOS, with EOS
    where a sentence ended and ``pad_id`` after it, T <= max_len; attention (B, T, S) or None).
    ``max_len`` bounds the loop, so a model that never emits EOS still returns.
    """
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len must be an int >= 1 (it bounds the decoding loop), got {max_len!r}")
    was_training = model.training
    model.eval()
    try:
        memory, state = model.encode(src, src_lengths)
        y = torch.full((src.shape[0],), model.bos_id, dtype=torch.long, device=src.device)  # (B,)
        done = torch.zeros_like(y, dtype=torch.bool)
        tokens, weights = [], []
        for _ in range(max_len):
            logits, state, w = model.decode_step(y, state, memory)  # (B, V)
            y = logits.argmax(-1).masked_fill(done, model.pad_id)  # (B,)
            tokens.append(y)
            weights.append(w)
            done |= y == model.eos_id
            if bool(done.all()):
                break
    finally:
        model.train(was_training)
    out = torch.stack(tokens, 1) if tokens else src.new_empty(src.shape[0], 0)  # (B, T)
    return out, (torch.stack(weights, 1) if weights and weights[0] is not None else None)


@dataclass
class Hypothesis:
    """A beam-search output: ``tokens`` (without BOS and EOS), their total log-probability, the
    length-normalised ``score`` that ranks them, and whether it ended with EOS."""

    tokens: list[int]
    log_prob: float
    score: float
    finished: bool


@torch.inference_mode()
def beam_search(model: Seq2Seq, src: Tensor, src_len: int | Tensor | None = None, beam_size: int = 4,
                max_len: int = 50, length_penalty: float = 0.6) -> list[Hypothesis]:
    """Beam search for one source sentence, src (S,) or (1, S) -> hypotheses, best first.

    Keeps the ``beam_size`` best unfinished prefixes by total log-probability. A hypothesis that
    emits EOS is ranked by ``log P(y) / len(y) ** length_penalty`` (len counts EOS): 0 ranks by raw
    log-probability, which favours short outputs; 1 by the mean per token. Stops when ``beam_size``
    hypotheses have finished or after ``max_len`` tokens (unfinished beams are then returned too).
    """
    if not (isinstance(beam_size, int) and beam_size >= 1 and isinstance(max_len, int) and max_len >= 1):
        raise ValueError(f"beam_size and max_len must be ints >= 1, got {beam_size!r}, {max_len!r}")
    src = src.unsqueeze(0) if src.dim() == 1 else src
    if src.dim() != 2 or src.shape[0] != 1:
        raise ValueError(f"beam_search decodes one sentence: src (S,) or (1, S), not {tuple(src.shape)}")
    length = src.shape[1] if src_len is None else int(src_len)
    was_training = model.training
    model.eval()
    try:
        memory, state = model.encode(src, torch.tensor([length], device=src.device))
        return _beam_loop(model, memory, state, beam_size, max_len, length_penalty)
    finally:
        model.train(was_training)


def _beam_loop(model: Seq2Seq, memory, state, beam_size: int, max_len: int, alpha: float) -> list[Hypothesis]:
    device = memory.outputs.device
    last = torch.full((1,), model.bos_id, dtype=torch.long, device=device)  # (K,) last token per beam
    beam_lp = torch.zeros(1, dtype=torch.float64, device=device)  # (K,) total log-prob per beam
    prefixes: list[list[int]] = [[]]
    finished: list[Hypothesis] = []
    for t in range(1, max_len + 1):
        zeros = torch.zeros(len(prefixes), dtype=torch.long, device=device)
        logits, state, _ = model.decode_step(last, state, memory.select(zeros))  # (K, V)
        cand = beam_lp.unsqueeze(1) + torch.log_softmax(logits.double(), -1)  # (K, V)
        top_lp, top_idx = cand.flatten().topk(min(2 * beam_size, cand.numel()))
        keep, vocab = [], cand.shape[1]
        for lp, idx in zip(top_lp.tolist(), top_idx.tolist(), strict=True):
            origin, word = divmod(idx, vocab)
            if word == model.eos_id:
                finished.append(Hypothesis(prefixes[origin], lp, lp / t**alpha, True))
            elif len(keep) < beam_size:
                keep.append((origin, word, lp))
            if len(keep) == beam_size:
                break
        if len(finished) >= beam_size or not keep:
            break
        origins = torch.tensor([o for o, _, _ in keep], device=device)
        state = select_state(state, origins)
        last = torch.tensor([w for _, w, _ in keep], device=device)
        beam_lp = torch.tensor([lp for _, _, lp in keep], dtype=torch.float64, device=device)
        prefixes = [prefixes[o] + [w] for o, w, _ in keep]
    else:  # max_len reached: the unfinished beams compete too
        ends = zip(prefixes, beam_lp.tolist(), strict=True)
        finished += [Hypothesis(p, lp, lp / max_len**alpha, False) for p, lp in ends]
    return sorted(finished, key=lambda h: h.score, reverse=True)[:beam_size]


@torch.inference_mode()
def beam_search_batch(model: Seq2Seq, src: Tensor, src_lengths: Tensor, beam_size: int = 4, max_len: int = 50,
                      length_penalty: float = 0.6) -> list[list[Hypothesis]]:
    """``beam_search`` on every source of a batch at once: src (B, S) long, src_lengths (B,).

    -> for each source, its hypotheses best first: the same search and the same results as calling
    ``beam_search`` on each source alone (up to float rounding, which can differ between batch sizes),
    but every decoder step runs on all the batch's live beams, (B * beam_size, ...) at a time, so a
    test set decodes in about the time of its longest output instead of one loop per source.
    A source whose search has ended leaves the batch, so later steps get cheaper.
    """
    if not (isinstance(beam_size, int) and beam_size >= 1 and isinstance(max_len, int) and max_len >= 1):
        raise ValueError(f"beam_size and max_len must be ints >= 1, got {beam_size!r}, {max_len!r}")
    if src.dim() != 2:
        raise ValueError(f"beam_search_batch decodes a batch: src (B, S), not {tuple(src.shape)}")
    was_training = model.training
    model.eval()
    try:
        memory, state = model.encode(src, src_lengths)  # checks the lengths against src
        return _batch_beam_loop(model, memory, state, beam_size, max_len, length_penalty)
    finally:
        model.train(was_training)


def _batch_beam_loop(model: Seq2Seq, memory, state, k: int, max_len: int, alpha: float
                     ) -> list[list[Hypothesis]]:
    """``_beam_loop`` for A live sources of k beam rows each (row a*k + j: beam j of source a).

    A source with fewer than k real beams (the first step has one) fills its rows with copies
    whose log-probability is -inf, so that no candidate of theirs is ever chosen.
    """
    device, batch = memory.outputs.device, memory.outputs.shape[0]
    rows = torch.arange(batch, device=device).repeat_interleave(k)  # (B*k,)
    memory, state = memory.select(rows), select_state(state, rows)
    last = torch.full((batch * k,), model.bos_id, dtype=torch.long, device=device)  # (A*k,)
    beam_lp = torch.full((batch, k), float("-inf"), dtype=torch.float64, device=device)  # (A, k)
    beam_lp[:, 0] = 0.0
    prefixes: list[list[list[int]]] = [[[] for _ in range(k)] for _ in range(batch)]  # A x k
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    alive = list(range(batch))  # the sources still searching, in row order
    for t in range(1, max_len + 1):
        logits, state, _ = model.decode_step(last, state, memory)  # (A*k, V)
        vocab = logits.shape[1]
        cand = (beam_lp.view(-1, 1) + torch.log_softmax(logits.double(), -1)).view(len(alive), k * vocab)
        top_lp, top_idx = cand.topk(min(2 * k, k * vocab), dim=1)  # (A, 2k)
        top_lp, top_idx = top_lp.tolist(), top_idx.tolist()
        next_alive, origins, words, lps, next_prefixes = [], [], [], [], []
        for a, src_id in enumerate(alive):
            keep = _extend(top_lp[a], top_idx[a], vocab, k, model.eos_id, t ** alpha,
                           prefixes[a], finished[src_id])
            if len(finished[src_id]) >= k or not keep:
                continue  # this source's search has ended
            keep += [(keep[0][0], keep[0][1], float("-inf"))] * (k - len(keep))  # filler rows
            next_alive.append(src_id)
            origins += [a * k + o for o, _, _ in keep]
            words += [w for _, w, _ in keep]
            lps.append([lp for _, _, lp in keep])
            next_prefixes.append([prefixes[a][o] + [w] for o, w, _ in keep])
        alive, prefixes = next_alive, next_prefixes
        if not alive:
            break
        index = torch.tensor(origins, device=device)  # (A'*k,) the rows the new beams extend
        state, memory = select_state(state, index), memory.select(index)
        last = torch.tensor(words, device=device)  # (A'*k,)
        beam_lp = torch.tensor(lps, dtype=torch.float64, device=device)  # (A', k)
    for a, src_id in enumerate(alive):  # max_len reached: the unfinished beams compete too
        ends = zip(prefixes[a], beam_lp[a].tolist(), strict=True)
        finished[src_id] += [Hypothesis(p, lp, lp / max_len**alpha, False)
                             for p, lp in ends if lp > -math.inf]
    return [sorted(f, key=lambda h: h.score, reverse=True)[:k] for f in finished]


def _extend(top_lp: list[float], top_idx: list[int], vocab: int, k: int, eos: int, norm: float,
            prefixes: list[list[int]], finished: list[Hypothesis]) -> list[tuple[int, int, float]]:
    """One source's step of beam search from its best candidates (descending): those ending in EOS
    join ``finished``; returns up to k ``(beam, token, log-prob)`` to extend, as ``_beam_loop`` does."""
    keep = []
    for lp, idx in zip(top_lp, top_idx, strict=True):
        if lp == -math.inf:  # sorted: only filler beams' candidates remain
            break
        origin, word = divmod(idx, vocab)
        if word == eos:
            finished.append(Hypothesis(prefixes[origin], lp, lp / norm, True))
        elif len(keep) < k:
            keep.append((origin, word, lp))
        if len(keep) == k:
            break
    return keep


def translate_batch(model: Seq2Seq, src: Tensor, src_lengths: Tensor, max_len: int, *, beam_size: int = 1,
                    length_penalty: float = 0.6) -> list[list[int]]:
    """Output ids of every source in a batch, without BOS/EOS/padding: src (B, S), src_lengths (B,).

    ``beam_size=1`` decodes the whole batch greedily in one loop (``greedy_translate``); a wider
    beam searches all the sources at once (``beam_search_batch``) and keeps each one's best hypothesis.
    """
    if beam_size == 1:
        tokens, _ = greedy_translate(model, src, src_lengths, max_len)
        out = []
        for row in tokens.tolist():
            out.append(row[: row.index(model.eos_id)] if model.eos_id in row else row)
        return out
    return [hyps[0].tokens for hyps in beam_search_batch(model, src, src_lengths, beam_size=beam_size,
                                                          max_len=max_len, length_penalty=length_penalty)]


Lengths = Tensor | Sequence[int] | None


def _ctc_inputs(log_probs: Tensor, lengths: Lengths, blank: int) -> tuple[Tensor, list[int]]:
    """Check CTC decoder inputs: (B, T, C) float scores, B lengths in [0, T], blank in [0, C)."""
    if not isinstance(log_probs, Tensor) or log_probs.dim() != 3 or not log_probs.is_floating_point():
        got = type(log_probs).__name__
        if isinstance(log_probs, Tensor):
            got = f"{tuple(log_probs.shape)} {log_probs.dtype}"
        raise TypeError(f"log_probs must be a (B, T, C) float tensor of per-frame log-probs, got {got}")
    batch, n_frames, classes = log_probs.shape
    if not (isinstance(blank, int) and 0 <= blank < classes):
        raise ValueError(f"blank must be a class index in [0, {classes}), got {blank!r}")
    sizes = [n_frames] * batch if lengths is None else [int(n) for n in lengths]
    if len(sizes) != batch or any(not 0 <= n <= n_frames for n in sizes):
        raise ValueError(f"lengths must give {batch} frame counts in [0, {n_frames}], got {sizes}")
    return log_probs.detach().to("cpu", torch.float64), sizes


def ctc_greedy(log_probs: Tensor, lengths: Lengths = None, *, blank: int = 0) -> list[list[int]]:
    """Best-path CTC decoding: the most likely class per frame, repeats merged, blanks dropped.

    log_probs: (B, T, C) per-frame scores (log-probabilities or logits: only the argmax matters);
    lengths: (B,) real frames per row (default all T). Returns B label lists; a row whose frames
    are all blank decodes to ``[]``. Chapter 6's speech page.
    """
    scores, sizes = _ctc_inputs(log_probs, lengths, blank)
    out = []
    for row, n in zip(scores.argmax(-1).tolist(), sizes, strict=True):
        labels, prev = [], blank
        for c in row[:n]:
            if c != blank and c != prev:  # a new label starts; a repeat needs a blank between
                labels.append(c)
            prev = c
        out.append(labels)
    return out


def _prefix_beam(lp: list[list[float]], beam_size: int, blank: int) -> list[int]:
    """CTC prefix beam search on one utterance's (T, C) log-probabilities (nested lists)."""
    neg = -math.inf
    # prefix -> (log P(prefix, path ends in blank), log P(prefix, path ends in its last label))
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, neg)}
    for frame in lp:
        nxt: dict[tuple[int, ...], list[float]] = {}

        def add(prefix: tuple[int, ...], which: int, value: float, nxt=nxt) -> None:
            slot = nxt.setdefault(prefix, [neg, neg])
            slot[which] = _logaddexp(slot[which], value)

        for prefix, (p_b, p_nb) in beams.items():
            total = _logaddexp(p_b, p_nb)
            add(prefix, 0, total + frame[blank])
            for c, p in enumerate(frame):
                if c == blank or p == neg:
                    continue
                if prefix and prefix[-1] == c:
                    add(prefix, 1, p_nb + p)  # the same label held on: the prefix does not grow
                    add(prefix + (c,), 1, p_b + p)  # a blank separated it: a second c
                else:
                    add(prefix + (c,), 1, total + p)
        ranked = sorted(nxt.items(), key=lambda kv: _logaddexp(*kv[1]), reverse=True)[:beam_size]
        beams = {k: (v[0], v[1]) for k, v in ranked}
    best = max(beams.items(), key=lambda kv: _logaddexp(*kv[1]))
    return list(best[0])


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    hi, lo = (a, b) if a > b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


def ctc_beam(log_probs: Tensor, lengths: Lengths = None, *, beam_size: int = 8,
             blank: int = 0) -> list[list[int]]:
    """CTC prefix beam search: the label sequence with the highest total probability, approximately.

    Unlike ``ctc_greedy``, which follows the single best frame-by-frame path, it sums the
    probabilities of every path that collapses to the same labels, keeping the ``beam_size`` most
    likely prefixes after each frame (with a beam as large as the number of prefixes it is exact).
    log_probs: (B, T, C) log-probabilities (``log_softmax`` over C); lengths: (B,) real frames.
    Returns B label lists; all-blank output decodes to ``[]``. Pure Python: fine for a few
    hundred short utterances and C in the tens. Chapter 6's speech page.
    """
    if not (isinstance(beam_size, int) and not isinstance(beam_size, bool) and beam_size >= 1):
        raise ValueError(f"beam_size must be an int >= 1, got {beam_size!r}")
    scores, sizes = _ctc_inputs(log_probs, lengths, blank)
    return [_prefix_beam(scores[b, :n].tolist(), beam_size, blank) for b, n in enumerate(sizes)]
