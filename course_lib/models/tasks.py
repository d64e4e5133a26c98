"""Task models built around any recurrent layer with the ``torch.nn`` interface.

``LanguageModel`` (many-to-many next-token prediction), ``SequenceClassifier`` (many-to-one) and
``SequenceTagger`` (many-to-many tagging or forecasting) take a recurrent layer built by the caller:
``torch.nn.RNN/LSTM/GRU`` or the course's twins ``models.RNN/LSTM/GRU``, with ``batch_first=True``.
``make_rnn`` builds one by name; ``rnn_spec`` reads its sizes. The encoder-decoder is in ``seq2seq.py``.
Used from chapters/01 (taxonomy) onwards, in chapter 6's applications and in the labs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from course_lib.models import layers

__all__ = ["RNNSpec", "rnn_spec", "make_rnn", "LanguageModel", "SequenceClassifier", "SequenceTagger"]

State = Tensor | tuple[Tensor, Tensor]  # h_n (L*D, B, H), or (h_n, c_n) for an LSTM

_KINDS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
# torch.nn's (and our layers') ``mode`` -> (kind, gates): weight_hh_l0 then has gates * H rows.
_MODES = {"LSTM": ("lstm", 4), "GRU": ("gru", 3), "RNN_TANH": ("rnn_tanh", 1), "RNN_RELU": ("rnn_relu", 1)}


@dataclass(frozen=True)
class RNNSpec:
    """What a task model needs to know about its recurrent layer.

    ``kind`` is ``"lstm"``, ``"gru"``, ``"rnn_tanh"`` or ``"rnn_relu"`` when the layer computes exactly
    torch.nn's equations with torch.nn's parameters, else ``None`` (a projected ``nn.LSTM``, one of
    ``models.LSTM``'s variants, a layer of unknown maths): then ``decode`` steps the layer itself.
    ``output_size`` is the per-direction size of ``output`` (``proj_size`` or ``hidden_size``).
    """

    kind: str | None
    input_size: int
    hidden_size: int
    output_size: int
    num_layers: int
    num_directions: int


def rnn_spec(rnn: nn.Module) -> RNNSpec:
    """Read sizes and kind from a ``torch.nn``-style recurrent layer; require ``batch_first=True``."""
    if not isinstance(rnn, nn.Module):
        raise TypeError(f"rnn must be a torch.nn.Module recurrent layer, got {type(rnn).__name__}")
    missing = [a for a in ("input_size", "hidden_size", "batch_first") if not hasattr(rnn, a)]
    if missing:
        name = type(rnn).__name__
        raise TypeError(f"rnn needs the attributes of torch.nn.RNN/LSTM/GRU; {name} lacks {missing}")
    if not rnn.batch_first:
        raise ValueError("the task models are batch-first: build the recurrent layer with batch_first=True")
    hidden = int(rnn.hidden_size)
    proj = int(getattr(rnn, "proj_size", 0) or 0)
    kind, gates = _MODES.get(getattr(rnn, "mode", None), (None, 0))
    w_hh = getattr(rnn, "weight_hh_l0", None)
    standard = proj == 0 and getattr(rnn, "variant", "vanilla") == "vanilla"
    if not (standard and isinstance(w_hh, Tensor) and tuple(w_hh.shape) == (gates * hidden, hidden)):
        kind = None
    return RNNSpec(
        kind=kind,
        input_size=int(rnn.input_size),
        hidden_size=hidden,
        output_size=proj or hidden,
        num_layers=int(getattr(rnn, "num_layers", 1)),
        num_directions=2 if getattr(rnn, "bidirectional", False) else 1,
    )


def make_rnn(
    kind: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    *,
    dropout: float = 0.0,
    bidirectional: bool = False,
    impl: str = "torch",
) -> nn.Module:
    """A batch-first ``RNN``/``LSTM``/``GRU`` layer: ``impl="torch"`` (``torch.nn``) or ``"ours"``.

    ``kind`` is ``"rnn"``, ``"lstm"`` or ``"gru"``; ``dropout`` acts between stacked layers only, as
    in ``torch.nn``, so it is passed on only when ``num_layers > 1``.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    if impl not in ("torch", "ours"):
        raise ValueError(f"impl must be 'torch' or 'ours', got {impl!r}")
    cls = getattr(nn if impl == "torch" else layers, _KINDS[kind])
    return cls(
        input_size,
        hidden_size,
        num_layers=num_layers,
        batch_first=True,
        dropout=dropout if num_layers > 1 else 0.0,
        bidirectional=bidirectional,
    )


def check_tokens(x: Tensor, vocab_size: int, name: str = "x") -> None:
    """Raise a clear error unless ``x`` is a (B, T) integer tensor of ids in ``[0, vocab_size)``."""
    if not isinstance(x, Tensor) or x.dim() != 2 or x.dtype not in (torch.int64, torch.int32):
        got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise TypeError(f"{name} must be a (B, T) tensor of token ids (torch.long), got {got}")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= vocab_size):
        low, high = int(x.min()), int(x.max())
        raise ValueError(f"{name} holds ids outside [0, {vocab_size}): min {low}, max {high}")


def check_lengths(lengths: Tensor, batch: int, steps: int) -> None:
    """Raise unless ``lengths`` is a (B,) integer tensor with every length in ``[1, steps]``."""
    if not isinstance(lengths, Tensor) or lengths.shape != (batch,) or lengths.is_floating_point():
        got = type(lengths).__name__
        if isinstance(lengths, Tensor):
            got = f"{tuple(lengths.shape)} {lengths.dtype}"
        raise TypeError(f"lengths must be a ({batch},) integer tensor, got {got}")
    if int(lengths.min()) < 1 or int(lengths.max()) > steps:
        raise ValueError(f"lengths must lie in [1, {steps}] (the padded length), got {lengths.tolist()}")


class _RecurrentModel(nn.Module):
    """Shared front end: token ids through an embedding, or float features as they are."""

    def __init__(self, vocab_size: int | None, input_size: int, rnn: nn.Module, dropout: float):
        super().__init__()
        self.spec = rnn_spec(rnn)
        if self.spec.input_size != input_size:
            raise ValueError(f"rnn.input_size is {self.spec.input_size} but input/embed size is {input_size}")
        self.vocab_size = vocab_size
        self.input_size = input_size
        self.embedding = nn.Embedding(vocab_size, input_size) if vocab_size is not None else None
        self.rnn = rnn
        self.dropout = nn.Dropout(dropout)

    def embed(self, x: Tensor) -> Tensor:
        if self.embedding is not None:
            check_tokens(x, self.vocab_size)
            return self.dropout(self.embedding(x))  # (B, T, E)
        features = isinstance(x, Tensor) and x.dim() == 3 and x.is_floating_point()
        if not features or x.shape[-1] != self.input_size:
            got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
            raise TypeError(f"x must be a float (B, T, {self.input_size}) tensor of features, got {got}")
        return x

    def run_packed(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, State]:
        """Run the rnn on a packed batch so that padding never reaches the state. -> (B, T, D*H), state."""
        emb = self.embed(x)  # (B, T, E)
        check_lengths(lengths, emb.shape[0], emb.shape[1])
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=emb.shape[1])  # (B, T, D*H)
        return out, state


class LanguageModel(_RecurrentModel):
    """Embedding -> recurrent layer(s) -> linear head over the vocabulary, predicting the next token.

    ``rnn`` is a unidirectional batch-first layer whose ``input_size`` equals ``embed_size``.
    ``dropout`` acts on the embeddings and on the rnn's outputs (dropout between stacked layers is
    the rnn's own). ``tie_weights`` shares the embedding matrix with the head (Press & Wolf 2017;
    Inan et al. 2017) and needs ``embed_size`` equal to the rnn's output size.
    forward: x (B, T) long, state or None -> (logits (B, T, V), state).
    Used in chapters/01, chapters/03, chapter 6's text and music generation; ``decode.sample`` steps it.
    """

    def __init__(self, vocab_size: int, embed_size: int, rnn: nn.Module, *, dropout: float = 0.0,
                 tie_weights: bool = False):
        super().__init__(vocab_size, embed_size, rnn, dropout)
        if self.spec.num_directions != 1:
            raise ValueError("a language model needs a unidirectional rnn: a backward pass sees the targets")
        self.head = nn.Linear(self.spec.output_size, vocab_size)
        if tie_weights:
            if embed_size != self.spec.output_size:
                raise ValueError(
                    f"tie_weights needs embed_size == the rnn's hidden size, got {embed_size} and "
                    f"{self.spec.output_size}"
                )
            self.head.weight = self.embedding.weight

    @classmethod
    def build(cls, vocab_size: int, kind: str = "lstm", embed_size: int = 64, hidden_size: int = 128,
              num_layers: int = 1, dropout: float = 0.0, tie_weights: bool = False,
              impl: str = "torch") -> LanguageModel:
        """Build the rnn with ``make_rnn`` and wrap it; ``dropout`` also goes between stacked layers."""
        rnn = make_rnn(kind, embed_size, hidden_size, num_layers, dropout=dropout, impl=impl)
        return cls(vocab_size, embed_size, rnn, dropout=dropout, tie_weights=tie_weights)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        out, state = self.rnn(self.embed(x), state)  # (B, T, H)
        return self.head(self.dropout(out)), state  # (B, T, V)


class SequenceClassifier(_RecurrentModel):
    """Many-to-one: read a padded batch, classify each sequence from the rnn's final state.

    ``vocab_size`` given: inputs are token ids embedded to ``input_size``; ``None``: inputs are float
    features of size ``input_size``. The batch is packed (``enforce_sorted=False``), so each
    sequence's final state comes from its last real step. A bidirectional rnn contributes the last
    forward state and the backward state at step 0 (its final one), concatenated.
    forward: x (B, T) long or (B, T, F), lengths (B,) or None (no padding) -> logits (B, C); with
    ``num_classes=1`` it is a many-to-one regressor (e.g. the adding problem).
    Used in chapters/02-03 (adding problem, packing), chapter 6's sentiment and surname classifiers.
    """

    def __init__(self, vocab_size: int | None, input_size: int, rnn: nn.Module, num_classes: int, *,
                 dropout: float = 0.0):
        super().__init__(vocab_size, input_size, rnn, dropout)
        self.head = nn.Linear(self.spec.num_directions * self.spec.output_size, num_classes)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if lengths is None:  # every sequence fills the whole batch: nothing to pack
            _, state = self.rnn(self.embed(x))
        else:
            _, state = self.run_packed(x, lengths)
        h_n = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
        last = h_n[-self.spec.num_directions:]  # top layer: forward [, backward]
        features = torch.cat(list(last), dim=-1)  # (B, D*H)
        return self.head(self.dropout(features))  # (B, C)


class SequenceTagger(_RecurrentModel):
    """Many-to-many: one output vector per input step (tagging, or forecasting as regression).

    Inputs as in ``SequenceClassifier``. With ``lengths`` the batch is packed, so padding never
    reaches a real step (this matters for a bidirectional rnn); outputs at padded steps are the head
    applied to zeros and must be masked out of the loss. A forecaster must use a unidirectional rnn.
    forward: x (B, T) long or (B, T, F), lengths (B,) or None -> (B, T, out_size).
    Used in chapter 6's forecasting (sunspots, weather) and tagging examples.
    """

    def __init__(self, vocab_size: int | None, input_size: int, rnn: nn.Module, out_size: int, *,
                 dropout: float = 0.0):
        super().__init__(vocab_size, input_size, rnn, dropout)
        self.head = nn.Linear(self.spec.num_directions * self.spec.output_size, out_size)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if lengths is None:
            out, _ = self.rnn(self.embed(x))  # (B, T, D*H)
        else:
            out, _ = self.run_packed(x, lengths)  # (B, T, D*H)
        return self.head(self.dropout(out))  # (B, T, out_size)
