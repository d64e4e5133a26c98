"""Additive attention (Bahdanau, Cho & Bengio 2015), the attention of the encoder-decoder.

Score each source position j against a query s: ``e_j = v^T tanh(W_q s + W_k h_j)``; the weights
are ``alpha = softmax(e)`` over the real (unpadded) positions and the context is
``c = sum_j alpha_j h_j``. Used in chapters/05 (attention) and chapter 6's translation.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["AdditiveAttention"]


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

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor | None = None, *,
                projected_keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check(query, keys, mask)
        single = query.dim() == 2
        q = query.unsqueeze(1) if single else query  # (B, T, Q)
        pk = self.project_keys(keys) if projected_keys is None else projected_keys  # (B, S, A)
        hidden = torch.tanh(self.query_proj(q).unsqueeze(2) + pk.unsqueeze(1))  # (B, T, S, A)
        scores = self.score(hidden).squeeze(-1)  # (B, T, S)
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
