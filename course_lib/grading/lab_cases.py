"""The hidden tests' cases of labs 4 and 5, and the catalogue of mistakes that explains a wrong value.

A hidden test builds its inputs here from a seed (``sgns_case``, ``analogy_case``,
``attention_case``, ``seq2seq_case``), so the reference run and the student's run see the same
numbers, and records what the student's function returns. When a value is wrong, the grader (in
its own process, ``diagnoses.explain``) rebuilds the same case and recomputes it with each common
mistake put in; the mistake that reproduces the student's value is named in the grade's message.
The correct values come from the library: ``embeddings.sgns_grads``, ``WordVectors.analogy``,
``models.AdditiveAttention`` and ``decode.beam_search``.

``MISTAKES`` maps a hidden test's ``diagnose`` key (``"sgns_loss"``, ``"analogy"``,
``"additive_scores"``, ``"attend"``, ``"beam_search"``) to a function ``(got, seed) -> words``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.embeddings import sgns_grads
from course_lib.embeddings.vectors import WordVectors
from course_lib.models.attention import AdditiveAttention
from course_lib.models.seq2seq import Seq2Seq, select_state

__all__ = [
    "sgns_case", "sgns_reference", "analogy_case", "attention_case", "attention_reference",
    "seq2seq_case", "beam_reference", "beam_variant", "MISTAKES",
]  # fmt: skip

SGNS_SHAPE = (6, 5, 3)  # B pairs, D dimensions, k noise words
ATT_SHAPE = (3, 5, 4, 6, 7)  # B, S, query size Q, key size K, attention size A
ATT_LENGTHS = (5, 3, 1)


def _close(got, want) -> bool:
    try:
        g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return g.shape == w.shape and bool(np.allclose(g, w, rtol=1e-6, atol=1e-9))


def _first_match(got, variants: dict[str, object]) -> str:
    for words, value in variants.items():
        if _close(got, value):
            return "likely mistake: " + words
    return ""


# --- Lab 4: skip-gram with negative sampling -----------------------------------------------------


def sgns_case(seed: int, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(u (B, D), v_pos (B, D), v_neg (B, k, D)) in float64; ``scale`` makes the dot products large."""
    g = torch.Generator().manual_seed(seed)
    b, d, k = SGNS_SHAPE
    u = torch.randn(b, d, generator=g, dtype=torch.float64) * 0.7 * scale
    v_pos = torch.randn(b, d, generator=g, dtype=torch.float64) * 0.7 * scale
    v_neg = torch.randn(b, k, d, generator=g, dtype=torch.float64) * 0.7 * scale
    return u, v_pos, v_neg


def sgns_reference(u, v_pos, v_neg) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(summed loss, grad_u, grad_v_pos, grad_v_neg) from the library's ``sgns_grads``."""
    v = torch.cat([v_pos.unsqueeze(1), v_neg], dim=1)  # (B, 1+k, D)
    labels = torch.zeros(v.shape[1], dtype=u.dtype)
    labels[0] = 1.0
    loss, grad_u, grad_v = sgns_grads(u, v, labels)
    return loss, grad_u, grad_v[:, 0], grad_v[:, 1:]


def _sgns_loss_words(got, seed: int) -> str:
    u, v_pos, v_neg = sgns_case(seed)
    pos = (u * v_pos).sum(-1)  # (B,)
    neg = torch.einsum("bd,bkd->bk", u, v_neg)  # (B, k)
    right = -(F.logsigmoid(pos).sum() + F.logsigmoid(-neg).sum())
    variants = {
        "the noise term needs sigma(-u.v_n), not sigma(u.v_n)":
            -(F.logsigmoid(pos).sum() + F.logsigmoid(neg).sum()),
        "the noise words' term is missing": -F.logsigmoid(pos).sum(),
        "the noise term is subtracted; both log-sigmoids are added before the minus sign":
            -(F.logsigmoid(pos).sum() - F.logsigmoid(-neg).sum()),
        "the loss is averaged over the batch; it should be summed": right / u.shape[0],
        "the loss is averaged over all terms; it should be summed": right / (neg.numel() + pos.numel()),
        "sigma without the log": -(torch.sigmoid(pos).sum() + torch.sigmoid(-neg).sum()),
        "the minus sign in front of the loss is missing": -right,
    }  # fmt: skip
    return _first_match(got, variants)


# --- Lab 4: analogies --------------------------------------------------------------------------


def analogy_case(seed: int) -> tuple[WordVectors, tuple[str, str, str]]:
    """Random vectors of very different lengths for 60 words, and a question (a, b, c)."""
    g = torch.Generator().manual_seed(seed)
    words = [f"w{i:02d}" for i in range(60)]
    vectors = torch.randn(60, 8, generator=g, dtype=torch.float64)
    vectors *= torch.rand(60, 1, generator=g, dtype=torch.float64) * 4 + 0.2  # norms from 0.2x to 4.2x
    return WordVectors(words, vectors), ("w03", "w17", "w42")


def _analogy_variant(wv: WordVectors, a: str, b: str, c: str, k: int, *, normalise=True, exclude=True,
                     signs=(-1, 1, 1)) -> tuple[str, ...]:
    m = wv.unit if normalise else wv.vectors.double()
    ids = [wv.id(w) for w in (a, b, c)]
    target = sum(s * m[i] for s, i in zip(signs, ids, strict=True))
    scores = m @ target
    if exclude:
        scores[ids] = -float("inf")
    return tuple(wv.words[i] for i in scores.topk(k).indices.tolist())


def _analogy_words(got, seed: int) -> str:
    if not (isinstance(got, (tuple, list)) and all(isinstance(w, str) for w in got)):
        return "analogy should return a list of k words (str), best first"
    wv, (a, b, c) = analogy_case(seed)
    k = len(got) or 1
    variants = {
        "cosine needs unit vectors: normalise every vector before the dot products":
            _analogy_variant(wv, a, b, c, k, normalise=False),
        "a, b and c themselves must be excluded from the answers":
            _analogy_variant(wv, a, b, c, k, exclude=False),
        "the target is b - a + c (a is to b as c is to ?)":
            _analogy_variant(wv, a, b, c, k, signs=(1, -1, 1)),
        "the answers should be sorted best first": tuple(reversed(_analogy_variant(wv, a, b, c, k))),
    }  # fmt: skip
    for words, value in variants.items():
        if tuple(got) == value:
            return "likely mistake: " + words
    return ""


# --- Lab 5: additive attention ------------------------------------------------------------------


def attention_case(seed: int) -> dict[str, torch.Tensor]:
    """query (B, Q), keys (B, S, K), mask (B, S) and the weights W_q (A, Q), W_k (A, K), b_k (A,), v (A,)."""
    g = torch.Generator().manual_seed(seed)
    b, s, q, k, a = ATT_SHAPE

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    mask = torch.arange(s) < torch.tensor(ATT_LENGTHS).unsqueeze(1)  # (B, S)
    return {"query": r(b, q), "keys": r(b, s, k), "mask": mask, "W_q": r(a, q) * 0.6,
            "W_k": r(a, k) * 0.6, "b_k": r(a) * 0.6, "v": r(a)}  # fmt: skip


def attention_reference(case: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(scores (B, S), context (B, K), weights (B, S)) from ``models.AdditiveAttention``."""
    _, _, q, k, a = ATT_SHAPE
    att = AdditiveAttention(q, k, a).double()
    with torch.no_grad():
        att.query_proj.weight.copy_(case["W_q"])
        att.key_proj.weight.copy_(case["W_k"])
        att.key_proj.bias.copy_(case["b_k"])
        att.score.weight.copy_(case["v"].unsqueeze(0))
        scores = att.scores(case["query"].unsqueeze(1), att.project_keys(case["keys"])).squeeze(1)
        context, weights = att(case["query"], case["keys"], case["mask"])
    return scores, context, weights


def _scores_words(got, seed: int) -> str:
    c = attention_case(seed)
    q = c["query"] @ c["W_q"].T  # (B, A)
    kp = c["keys"] @ c["W_k"].T  # (B, S, A)
    variants = {
        "the tanh between the projections and v is missing": (q.unsqueeze(1) + kp + c["b_k"]) @ c["v"],
        "the bias b_k is missing": torch.tanh(q.unsqueeze(1) + kp) @ c["v"],
        "tanh is applied after v; it belongs inside, to W_q s + W_k h_j + b_k":
            torch.tanh((q.unsqueeze(1) + kp + c["b_k"]) @ c["v"]),
    }  # fmt: skip
    return _first_match(got, variants)


def _attend_words(got, seed: int) -> str:
    c = attention_case(seed)
    scores, _, _ = attention_reference(c)
    keys, mask = c["keys"], c["mask"]
    no_mask = torch.softmax(scores, -1)
    after = no_mask * mask
    zeroed = torch.softmax(scores.masked_fill(~mask, 0.0), -1)
    dim0 = torch.softmax(scores.masked_fill(~mask, float("-inf")), 0).nan_to_num(0.0)
    variants = {
        "padded positions must get weight 0: fill their scores with -inf before the softmax": no_mask,
        "masking after the softmax leaves weights that no longer sum to 1: mask the scores before it": after,
        "a score of 0 is not 'no attention': fill padded scores with -inf, not 0": zeroed,
        "the softmax runs over the source positions (dim=-1), not over the batch": dim0,
    }  # fmt: skip
    got = np.asarray(got, dtype=np.float64) if not isinstance(got, np.ndarray) else got
    if got.shape == tuple(keys.shape[::2]):  # a context (B, K): the same mistakes, weighted sums of keys
        variants = {w: (v.unsqueeze(1) @ keys).squeeze(1) for w, v in variants.items()}
        variants["the context is the weighted sum of the keys: weights (B, 1, S) @ keys (B, S, K)"] = (
            keys.sum(1)
        )
    return _first_match(got, variants)


# --- Lab 5: beam search -------------------------------------------------------------------------


def seq2seq_case(seed: int) -> tuple[Seq2Seq, torch.Tensor]:
    """A small untrained attention encoder-decoder in float64 (6 target words, EOS = 3) and a source."""
    torch.manual_seed(seed)
    model = Seq2Seq(9, 6, 8, 16, attention=True, kind="gru").double().eval()
    with torch.no_grad():
        model.head.weight.mul_(4.0)  # peakier next-word distributions, so beams and greedy differ
        model.head.bias[model.eos_id] += 0.3  # some hypotheses end before max_len, some do not
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, 9, (7,), generator=g)
    return model, src


def beam_reference(seed: int, beam_size: int, max_len: int = 12, length_penalty: float = 0.6) -> list:
    """``decode.beam_search`` on the case, as [(tokens, score), ...] best first."""
    from course_lib.decode import beam_search

    model, src = seq2seq_case(seed)
    return [(h.tokens, h.score) for h in beam_search(model, src, beam_size=beam_size, max_len=max_len,
                                                     length_penalty=length_penalty)]  # fmt: skip


@torch.inference_mode()
def beam_variant(seed: int, beam_size: int, max_len: int = 12, alpha: float = 0.6, *, cumulative=True,
                 eos_counts=True, normalise=True) -> list:
    """The beam search of ``decode.beam_search`` with one of its steps done wrong (for diagnoses)."""
    model, src = seq2seq_case(seed)
    memory, state = model.encode(src.unsqueeze(0), torch.tensor([src.shape[0]]))
    last = torch.full((1,), model.bos_id, dtype=torch.long)
    beam_lp = torch.zeros(1, dtype=torch.float64)
    prefixes, finished = [[]], []
    for t in range(1, max_len + 1):
        logits, new_state, _ = model.decode_step(last, state, memory.select(torch.zeros(len(prefixes),
                                                                                        dtype=torch.long)))
        step_lp = torch.log_softmax(logits.double(), -1)
        cand = (beam_lp.unsqueeze(1) if cumulative else 0) + step_lp
        top_lp, top_idx = cand.flatten().topk(min(2 * beam_size, cand.numel()))
        keep, vocab = [], cand.shape[1]
        for lp, idx in zip(top_lp.tolist(), top_idx.tolist(), strict=True):
            origin, word = divmod(idx, vocab)
            total = lp
            if word == model.eos_id:
                n = t if eos_counts else max(t - 1, 1)
                finished.append((prefixes[origin], total / n**alpha if normalise else total))
            elif len(keep) < beam_size:
                keep.append((origin, word, total))
            if len(keep) == beam_size:
                break
        if len(finished) >= beam_size or not keep:
            break
        origins = torch.tensor([o for o, _, _ in keep])
        state = select_state(new_state, origins)
        last = torch.tensor([w for _, w, _ in keep])
        beam_lp = torch.tensor([lp for _, _, lp in keep], dtype=torch.float64)
        prefixes = [prefixes[o] + [w] for o, w, _ in keep]
    else:
        finished += [(p, lp / max_len**alpha) for p, lp in zip(prefixes, beam_lp.tolist(), strict=True)]
    return sorted(finished, key=lambda h: h[1], reverse=True)[:beam_size]


def _same_beams(got, want) -> bool:
    try:
        return len(got) == len(want) and all(
            [int(t) for t in np.asarray(g[0]).ravel()] == list(w[0]) and abs(float(g[1]) - w[1]) < 1e-6
            for g, w in zip(got, want, strict=True)
        )
    except (TypeError, ValueError, IndexError):
        return False


def _beam_words(got, seed: int, beam_size: int = 3) -> str:
    if not isinstance(got, (tuple, list)):
        return "beam_search should return a list of (tokens, score) pairs, best first"
    variants = {
        "rank the candidates by the total log-probability of the prefix, not by this step's alone":
            {"cumulative": False},
        "a finished hypothesis is ranked by log P / len ** length_penalty": {"normalise": False},
        "the length of a finished hypothesis counts its EOS": {"eos_counts": False},
    }  # fmt: skip
    for words, switch in variants.items():
        if _same_beams(got, beam_variant(seed, beam_size, **switch)):
            return "likely mistake: " + words
    return ""


MISTAKES: dict[str, Callable[[object, int], str]] = {
    "sgns_loss": _sgns_loss_words,
    "analogy": _analogy_words,
    "additive_scores": _scores_words,
    "attend": _attend_words,
    "beam_search": _beam_words,
}
