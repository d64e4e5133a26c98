"""Encoder-decoder for sequence-to-sequence tasks, with or without attention.

Without attention the decoder starts from the encoder's final state and sees nothing else of the
source (Sutskever et al. 2014; Cho et al. 2014). With attention (Bahdanau et al. 2015) each step
queries all encoder outputs with the previous decoder state and feeds the context vector to the
decoder rnn and to the output layer; the score is additive (Bahdanau's) or multiplicative
(Luong et al. 2015's "general"). Used in chapters/05_encoder_decoder.md, chapters/05_attention.md,
benchmarks/g2p.py, chapter 6's translation, and by ``decode.greedy_translate`` / ``decode.beam_search``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib.models.attention import make_attention
from course_lib.models.tasks import State, check_lengths, check_tokens, make_rnn

__all__ = ["EncoderMemory", "Seq2Seq", "select_state"]


@dataclass
class EncoderMemory:
    """What the decoder reads at every step: encoder outputs (B, S, D*H), the source mask (B, S)
    (True = real token) and, with attention, the keys already projected by ``W_k`` (B, S, A)."""

    outputs: Tensor
    mask: Tensor
    keys: Tensor | None = None

    def select(self, index: Tensor) -> EncoderMemory:
        """Rows ``index`` (N,) of the batch, e.g. to give each beam its source: -> batch of N."""
        keys = None if self.keys is None else self.keys.index_select(0, index)
        return EncoderMemory(self.outputs.index_select(0, index), self.mask.index_select(0, index), keys)


def select_state(state: State, index: Tensor) -> State:
    """Rows ``index`` (N,) of the batch of a recurrent state (L, B, H) or a pair of them."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, index) for s in state)
    return state.index_select(1, index)


class Seq2Seq(nn.Module):
    """Encoder-decoder trained with teacher forcing.

    ``attention``: ``True`` or ``"additive"`` (Bahdanau), ``"multiplicative"`` (Luong's general
    score), ``False``/``None`` for none (the decoder sees the source only through its initial
    state). ``kind`` ("gru", "lstm" or "rnn") and ``num_layers`` apply to both rnns; ``impl`` picks torch.nn
    or the course's layers. A bidirectional encoder's final forward and backward states are added
    to initialise the decoder (a parameter-free bridge). ``pad_id``/``bos_id``/``eos_id`` are the
    target vocabulary's special ids that the decoders in ``course_lib.decode`` use; the defaults
    are those of ``data.Vocab`` (``<pad>`` 0, ``<unk>`` 1, ``<bos>`` 2, ``<eos>`` 3).
    forward(src (B, S) long, src_lengths (B,), tgt_in (B, T) long, BOS first)
    -> (logits (B, T, V_tgt), attention weights (B, T, S) or None).
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, embed_size: int, hidden_size: int, *,
                 attention: bool | str | None = True, kind: str = "gru", num_layers: int = 1,
                 dropout: float = 0.0,
                 bidirectional_encoder: bool = False, attention_size: int | None = None,
                 impl: str = "torch", pad_id: int = 0, bos_id: int = 2, eos_id: int = 3):
        super().__init__()
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.bidirectional_encoder = bidirectional_encoder
        directions = 2 if bidirectional_encoder else 1
        memory_size = directions * hidden_size
        self.src_embedding = nn.Embedding(src_vocab, embed_size, padding_idx=pad_id)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embed_size, padding_idx=pad_id)
        self.encoder = make_rnn(kind, embed_size, hidden_size, num_layers, dropout=dropout,
                                bidirectional=bidirectional_encoder, impl=impl)
        attention = "additive" if attention is True else attention
        self.attention_kind = attention or None
        context_size = memory_size if attention else 0
        self.decoder = make_rnn(kind, embed_size + context_size, hidden_size, num_layers, dropout=dropout,
                                impl=impl)
        self.attention = (make_attention(attention, hidden_size, memory_size, attention_size)
                          if attention else None)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size + context_size, tgt_vocab)

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[EncoderMemory, State]:
        """Read the source: -> (memory for the decoder, initial decoder state (L, B, H) or a pair)."""
        check_tokens(src, self.src_vocab, "src")
        batch, steps = src.shape
        if batch == 0 or steps == 0:
            raise ValueError(f"src is empty, shape {tuple(src.shape)}: the encoder needs at least one "
                             "sequence of at least one token")
        check_lengths(src_lengths, batch, steps)
        emb = self.dropout(self.src_embedding(src))  # (B, S, E)
        packed = nn.utils.rnn.pack_padded_sequence(emb, src_lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        out, state = self.encoder(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=steps)  # (B, S, D*H)
        mask = torch.arange(steps, device=src.device) < src_lengths.to(src.device).unsqueeze(1)  # (B, S)
        if self.bidirectional_encoder:
            state = _add_directions(state)  # (L*2, B, H) -> (L, B, H)
        keys = self.attention.project_keys(out) if self.attention is not None else None  # (B, S, A)
        return EncoderMemory(out, mask, keys), state

    def decode_step(self, y_prev: Tensor, state: State, memory: EncoderMemory
                    ) -> tuple[Tensor, State, Tensor | None]:
        """One decoder step from the previous target token y_prev (B,) long.

        -> (logits (B, V_tgt), new state, attention weights (B, S) or None).
        """
        emb = self.dropout(self.tgt_embedding(y_prev))  # (B, E)
        if self.attention is None:
            out, state = self.decoder(emb.unsqueeze(1), state)  # (B, 1, H)
            return self.head(self.dropout(out.squeeze(1))), state, None  # (B, V)
        h = state[0] if isinstance(state, tuple) else state  # (L, B, H)
        context, weights = self.attention(h[-1], memory.outputs, memory.mask,
                                          projected_keys=memory.keys)  # (B, D*H), (B, S)
        out, state = self.decoder(torch.cat([emb, context], -1).unsqueeze(1), state)  # (B, 1, H)
        features = torch.cat([out.squeeze(1), context], -1)  # (B, H + D*H)
        return self.head(self.dropout(features)), state, weights  # (B, V)

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor | None]:
        check_tokens(tgt_in, self.tgt_vocab, "tgt_in")
        if tgt_in.shape[0] != src.shape[0]:
            raise ValueError(f"src has batch {src.shape[0]} but tgt_in has batch {tgt_in.shape[0]}")
        memory, state = self.encode(src, src_lengths)
        if self.attention is None:
            # The decoder's inputs are all known under teacher forcing: one call covers every step.
            out, _ = self.decoder(self.dropout(self.tgt_embedding(tgt_in)), state)  # (B, T, H)
            return self.head(self.dropout(out)), None  # (B, T, V)
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):  # each step's context depends on the previous state
            step_logits, state, step_weights = self.decode_step(tgt_in[:, t], state, memory)
            logits.append(step_logits)
            weights.append(step_weights)
        return torch.stack(logits, 1), torch.stack(weights, 1)  # (B, T, V), (B, T, S)


def _add_directions(state: State) -> State:
    """(L*2, B, H) with directions interleaved per layer, as torch.nn stores them -> (L, B, H)."""
    if isinstance(state, tuple):
        return tuple(_add_directions(s) for s in state)
    layers2, batch, hidden = state.shape
    return state.view(layers2 // 2, 2, batch, hidden).sum(1)
