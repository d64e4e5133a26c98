"""Batched beam search (decode.beam_search_batch) runs the same search as decode.beam_search on
each source alone: same hypotheses, same order, same scores, including cut-off and filler beams."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from course_lib import decode
from course_lib.models.seq2seq import Seq2Seq

PAD, BOS, EOS = 0, 2, 3


@functools.cache  # the decoders only read the model (and restore its mode)
def _half_trained(attention: bool | str, kind: str, vocab: int = 10) -> Seq2Seq:
    """A reversal model after 40 Adam steps: its outputs vary, some end and some run on."""
    torch.manual_seed(0)
    model = Seq2Seq(vocab, vocab, 8, 16, attention=attention, kind=kind, num_layers=2,
                    bidirectional_encoder=bool(attention))
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(2, 7, (32,), generator=gen)
    src = torch.randint(4, vocab, (32, 6), generator=gen) * (torch.arange(6) < lengths.unsqueeze(1))
    tgt = torch.full((32, 8), PAD)
    tgt[:, 0] = BOS
    for b, n in enumerate(lengths.tolist()):
        tgt[b, 1 : n + 1] = src[b, :n].flip(0)
        tgt[b, n + 1] = EOS
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(40):
        opt.zero_grad()
        logits = model(src, lengths, tgt[:, :-1])[0]
        nn.functional.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=PAD).backward()
        opt.step()
    return model.double().eval()


def _sources(n: int, vocab: int = 10, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 8, (n,), generator=gen)
    src = torch.randint(4, vocab, (n, 7), generator=gen) * (torch.arange(7) < lengths.unsqueeze(1))
    return src, lengths


def _as_tuples(hyps: list[decode.Hypothesis]) -> list[tuple]:
    return [(h.tokens, h.finished, round(h.log_prob, 9), round(h.score, 9)) for h in hyps]


@pytest.mark.parametrize("attention, kind", [("additive", "gru"), ("multiplicative", "lstm"), (False, "gru")])
@pytest.mark.parametrize("beam_size, max_len, alpha", [(1, 9, 0.6), (3, 9, 0.6), (5, 4, 0.0), (8, 9, 1.0)])
def test_batched_beam_equals_one_source_at_a_time(attention, kind, beam_size, max_len, alpha):
    model = _half_trained(attention, kind)
    src, lengths = _sources(12)
    batched = decode.beam_search_batch(model, src, lengths, beam_size=beam_size, max_len=max_len,
                                       length_penalty=alpha)
    assert len(batched) == len(src)
    unfinished = 0
    for b, n in enumerate(lengths.tolist()):
        alone = decode.beam_search(model, src[b, :n], beam_size=beam_size, max_len=max_len,
                                   length_penalty=alpha)
        assert _as_tuples(batched[b]) == _as_tuples(alone), b
        unfinished += sum(not h.finished for h in alone)
    if max_len == 4:
        assert unfinished > 0  # the cut-off path (unfinished beams compete) is exercised


def test_a_beam_wider_than_the_vocabulary_uses_filler_beams_that_never_win():
    # 6 target tokens, 4 of them real: a beam of 8 can never fill up, the filler rows must stay out.
    model = _half_trained("additive", "gru", vocab=6)
    src, lengths = _sources(5, vocab=6)
    batched = decode.beam_search_batch(model, src, lengths, beam_size=8, max_len=5)
    for b, n in enumerate(lengths.tolist()):
        alone = decode.beam_search(model, src[b, :n], beam_size=8, max_len=5)
        assert _as_tuples(batched[b]) == _as_tuples(alone)
        assert all(h.log_prob > float("-inf") for h in batched[b])


def test_translate_batch_with_a_beam_returns_each_sources_best():
    model = _half_trained("additive", "gru")
    src, lengths = _sources(9, seed=2)
    rows = decode.translate_batch(model, src, lengths, 8, beam_size=4)
    expected = [decode.beam_search(model, src[b, :n], beam_size=4, max_len=8)[0].tokens
                for b, n in enumerate(lengths.tolist())]
    assert rows == expected
    assert len(set(map(tuple, rows))) > 3  # different sources, different outputs: not a trivial match


def test_order_of_the_batch_does_not_matter():
    model = _half_trained("multiplicative", "gru")
    src, lengths = _sources(10, seed=3)
    order = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    forward = decode.beam_search_batch(model, src, lengths, beam_size=3, max_len=8)
    shuffled = decode.beam_search_batch(model, src[order], lengths[order], beam_size=3, max_len=8)
    assert [_as_tuples(forward[i]) for i in order.tolist()] == [_as_tuples(h) for h in shuffled]


def test_bad_input_gets_clear_errors():
    model = _half_trained("additive", "gru")
    src, lengths = _sources(3)
    with pytest.raises(ValueError, match="a batch"):
        decode.beam_search_batch(model, src[0], lengths[:1])
    with pytest.raises(ValueError, match="beam_size and max_len"):
        decode.beam_search_batch(model, src, lengths, beam_size=0)
    with pytest.raises(ValueError, match="beam_size and max_len"):
        decode.beam_search_batch(model, src, lengths, max_len=0)
    with pytest.raises(TypeError, match=r"lengths must be a \(3,\) integer tensor"):
        decode.beam_search_batch(model, src, lengths[:2])  # lengths disagree with the batch
    with pytest.raises(ValueError, match="lengths"):
        decode.beam_search_batch(model, src, torch.tensor([3, 9, 2]))  # a length longer than src
    with pytest.raises(ValueError, match="empty"):
        decode.beam_search_batch(model, src[:, :0], torch.zeros(3, dtype=torch.long))


def test_max_len_bounds_the_batched_search_of_a_model_that_never_ends():
    model = Seq2Seq(7, 6, 4, 8, attention=True).eval()
    with torch.no_grad():
        model.head.bias[model.eos_id] = -1e4  # EOS can never win
    src, lengths = torch.tensor([[4, 5, 6], [6, 5, 0]]), torch.tensor([3, 2])
    for hyps in decode.beam_search_batch(model, src, lengths, beam_size=3, max_len=6):
        assert len(hyps) == 3 and all(len(h.tokens) == 6 and not h.finished for h in hyps)


def test_transcribe_with_a_beam_warns_about_an_unknown_letter_and_still_answers():
    from course_lib import data

    lexicon = {"cat": [("K", "AE", "T")], "dog": [("D", "AO", "G")]}
    vocabs = data.G2PVocabs.build(lexicon)
    torch.manual_seed(0)
    model = Seq2Seq(len(vocabs.letters), len(vocabs.phonemes), 8, 16, attention="additive").eval()
    with pytest.warns(UserWarning, match=r"<unk>: \['q'\]"):
        out = data.transcribe(model, ["qat", "dog"], vocabs, beam_size=3, max_len=4)
    assert sorted(out) == ["dog", "qat"] and all(len(p) <= 4 for p in out.values())
    with pytest.raises(ValueError, match="non-empty"):
        data.transcribe(model, ["cat", ""], vocabs, beam_size=3)
