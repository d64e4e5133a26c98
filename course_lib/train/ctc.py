"""``CTCLoss``: the ``loss_fn`` of ``train.fit`` for a model trained with connectionist temporal
classification (Graves et al., 2006), as on chapter 6's speech page.

The model maps ``(features (B, T, F), lengths (B,))`` to per-frame logits (B, T, C) with class 0
the blank (``models.SequenceTagger`` does, given a recurrent layer). CTC sums the probability of
every frame-level path that collapses to the target labels (merge repeats, drop blanks), so no
frame alignment is needed; ``torch.nn.CTCLoss`` computes that sum with the forward algorithm.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .losses import StepResult

__all__ = ["CTCLoss"]


class CTCLoss:
    """``loss_fn(model, batch, state)`` for CTC: the mean negative log-likelihood per target label.

    ``batch`` has fields ``features`` (B, T, F), ``lengths`` (B,), ``targets`` (B, S) labels in
    ``[1, C)`` padded with anything, ``target_lengths`` (B,) (``data.SpeechBatch``). The loss is
    summed over the batch and divided by the number of target labels, which is also the count that
    validation weights by. ``zero_infinity`` drops an utterance too short for its labels instead
    of returning ``inf``.
    """

    def __init__(self, blank: int = 0):
        self.ctc = nn.CTCLoss(blank=blank, reduction="sum", zero_infinity=True)

    def __call__(self, model: nn.Module, batch: Any, state: Any) -> StepResult:
        features, lengths, targets, target_lengths = batch
        logits = model(features, lengths)  # (B, T, C)
        if logits.dim() != 3 or logits.shape[:2] != features.shape[:2]:
            raise ValueError(f"the model must return per-frame logits (B, T, C) for features "
                             f"{tuple(features.shape)}, got {tuple(logits.shape)}")
        log_probs = logits.float().log_softmax(-1).transpose(0, 1)  # (T, B, C), as CTCLoss wants
        count = target_lengths.sum()
        loss = self.ctc(log_probs, targets, lengths, target_lengths) / count.clamp(min=1)
        return StepResult(loss, count.to(torch.long))
