"""Attention for the encoder-decoder: additive (Bahdanau, Cho & Bengio 2015) and multiplicative
(Luong, Pham & Manning 2015, their "general" score).

Score each source position j against a query s: additive ``e_j = v^T tanh(W_q s + W_k h_j)``,
multiplicative ``e_j = s^T W h_j``; the weights are ``alpha = softmax(e)`` over the real (unpadded)
positions and the context is ``c = sum_j alpha_j h_j``. Both classes share the masking, the checks
and the call signature, so ``models.Seq2Seq`` swaps one for the other. Used in
chapters/05_attention.md and chapter 6's translation.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["AdditiveAttention", "MultiplicativeAttention", "make_attention"]


class AdditiveAttention(nn.Module):
    """Additive (MLP) attention with masking of padded source positions.

    forward(query (B, Q) or (B, T, Q), keys (B, S, K), mask (B, S) bool, True = real position)
    -> (context (B, K) or (B, T, K), weights (B, S) or (B, T, S)). Weights are exactly 0 on padding
    and sum to 1 over the real positions. ``project_keys(keys)`` computes ``W_k h_j`` once per source
    sentence; pass its result as ``projected_keys`` to skip that work at every decoder step.
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int):
        super().__init__()
        self.query_size, self.key_size, self.attention_size = query_size, key_size, attention_size
        self.query_proj = nn.Linear(query_size, attention_size, bias=False)  # W_q
        self.key_proj = nn.Linear(key_size, attention_size)  # W_k (its bias is the MLP's bias)
        self.score = nn.Linear(attention_size, 1, bias=False)  # v

    def project_keys(self, keys: Tensor) -> Tensor:
        """W_k h_j for every source position: (B, S, K) -> (B, S, A)."""
        return self.key_proj(keys)

    def scores(self, q: Tensor, pk: Tensor) -> Tensor:
        """e for queries q (B, T, Q) against projected keys pk (B, S, A) -> (B, T, S)."""
        hidden = torch.tanh(self.query_proj(q).unsqueeze(2) + pk.unsqueeze(1))  # (B, T, S, A)
        return self.score(hidden).squeeze(-1)  # (B, T, S)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor | None = None, *,
                projected_keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check(query, keys, mask)
        single = query.dim() == 2
        q = query.unsqueeze(1) if single else query  # (B, T, Q)
        pk = self.project_keys(keys) if projected_keys is None else projected_keys  # (B, S, A)
        scores = self.scores(q, pk)  # (B, T, S)
        if mask is not None:
            # -inf before the softmax gives padded positions a weight of exactly 0.
            scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, T, S)
        context = weights @ keys  # (B, T, K)
        if single:
            return context.squeeze(1), weights.squeeze(1)  # (B, K), (B, S)
        return context, weights

    def _check(self, query: Tensor, keys: Tensor, mask: Tensor | None) -> None:
        if keys.dim() != 3 or keys.shape[-1] != self.key_size:
            raise ValueError(f"keys must be (B, S, {self.key_size}), got {tuple(keys.shape)}")
        if query.dim() not in (2, 3) or query.shape[0] != keys.shape[0] or query.shape[-1] != self.query_size:
            raise ValueError(
                f"query must be (B, {self.query_size}) or (B, T, {self.query_size}) with B={keys.shape[0]}, "
                f"got {tuple(query.shape)}"
            )
        if mask is not None:
            if mask.dtype != torch.bool or mask.shape != keys.shape[:2]:
                raise ValueError(f"mask must be a bool tensor of shape {tuple(keys.shape[:2])}, got "
                                 f"{tuple(mask.shape)} {mask.dtype}")
            if not bool(mask.any(dim=1).all()):
                raise ValueError("every row of mask needs at least one real (True) position")

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, attention_size={self.attention_size}"


class MultiplicativeAttention(AdditiveAttention):
    """Multiplicative ("general") attention, ``e_j = s^T W h_j``, with the same masking and shapes.

    ``project_keys`` computes ``W h_j`` (B, S, Q) once per source; a score is then one dot product
    per position, against the additive score's small MLP per position. There is no attention size:
    W is (Q, K). Luong et al. (2015) query with the *current* decoder state; ``models.Seq2Seq``
    queries with the previous one for both kinds, so only the score differs between the two.
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int | None = None):
        nn.Module.__init__(self)
        self.query_size, self.key_size, self.attention_size = query_size, key_size, query_size
        self.key_proj = nn.Linear(key_size, query_size, bias=False)  # W (as W h_j)

    def scores(self, q: Tensor, pk: Tensor) -> Tensor:
        return q @ pk.transpose(1, 2)  # (B, T, Q) @ (B, Q, S) -> (B, T, S)

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}"


ATTENTION_KINDS = {"additive": AdditiveAttention, "multiplicative": MultiplicativeAttention}


def make_attention(kind: str, query_size: int, key_size: int, attention_size: int | None = None
                   ) -> AdditiveAttention:
    """``"additive"`` or ``"multiplicative"`` attention; ``attention_size`` defaults to the query size."""
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"attention must be one of {sorted(ATTENTION_KINDS)} or False, got {kind!r}")
    return ATTENTION_KINDS[kind](query_size, key_size, attention_size or query_size)
