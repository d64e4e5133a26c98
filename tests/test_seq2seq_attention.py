"""Multiplicative attention, the Seq2Seq attention switch, bad input and bounded decoding loops."""

from __future__ import annotations

import pytest
import torch

from course_lib import decode
from course_lib.models.attention import AdditiveAttention, MultiplicativeAttention, make_attention
from course_lib.models.seq2seq import Seq2Seq


def _inputs(gen: torch.Generator):
    query = torch.randn(3, 5, dtype=torch.float64, generator=gen)  # (B, Q)
    keys = torch.randn(3, 4, 6, dtype=torch.float64, generator=gen)  # (B, S, K)
    mask = torch.tensor([[True, True, True, True], [True, True, False, False], [True, False, False, False]])
    return query, keys, mask


def test_multiplicative_attention_is_the_softmax_of_s_w_h_over_real_positions():
    gen = torch.Generator().manual_seed(0)
    query, keys, mask = _inputs(gen)
    att = MultiplicativeAttention(5, 6).double()
    context, weights = att(query, keys, mask)
    scores = torch.einsum("bq,qk,bsk->bs", query, att.key_proj.weight, keys)  # e_j = s^T W h_j
    expected = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    assert torch.allclose(weights, expected, atol=1e-12)
    assert torch.equal(weights[~mask], torch.zeros_like(weights[~mask]))
    assert torch.allclose(context, torch.einsum("bs,bsk->bk", expected, keys), atol=1e-12)
    # A known-wrong variant (W^T instead of W, as if keys and queries were swapped) is caught.
    wrong = torch.einsum("bq,kq,bsk->bs", query[:, :5], torch.randn(6, 5, dtype=torch.float64), keys)
    assert not torch.allclose(torch.softmax(wrong.masked_fill(~mask, float("-inf")), -1), weights)


def test_multiplicative_attention_gradients_pass_gradcheck_and_steps_match_one_call():
    gen = torch.Generator().manual_seed(1)
    query, keys, mask = _inputs(gen)
    att = MultiplicativeAttention(5, 6).double()
    query.requires_grad_(True)
    keys.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda q, k: att(q, k, mask)[0], (query, keys))
    many = torch.randn(3, 2, 5, dtype=torch.float64, generator=gen)  # (B, T, Q): two queries at once
    both, _ = att(many, keys, mask)
    for t in range(2):
        assert torch.allclose(both[:, t], att(many[:, t], keys, mask)[0], atol=1e-12)


def test_make_attention_and_the_seq2seq_switch():
    assert type(make_attention("additive", 4, 8)) is AdditiveAttention
    assert type(make_attention("multiplicative", 4, 8)) is MultiplicativeAttention
    with pytest.raises(ValueError, match="attention must be one of"):
        make_attention("dot-product", 4, 8)
    src, lengths = torch.tensor([[4, 5, 6], [4, 0, 0]]), torch.tensor([3, 1])
    tgt_in = torch.tensor([[2, 4], [2, 5]])
    cases = ((True, "additive"), ("additive", "additive"), ("multiplicative", "multiplicative"))
    for attention, kind in cases:
        model = Seq2Seq(7, 6, 4, 8, attention=attention, bidirectional_encoder=True)
        assert model.attention_kind == kind
        logits, weights = model(src, lengths, tgt_in)
        assert logits.shape == (2, 2, 6) and weights.shape == (2, 2, 3)
        assert torch.allclose(weights.sum(-1), torch.ones(2, 2))
        assert float(weights[1, :, 1:].detach().abs().sum()) == 0  # padding gets no weight
    plain = Seq2Seq(7, 6, 4, 8, attention=False)
    assert plain.attention is None and plain.attention_kind is None and plain(src, lengths, tgt_in)[1] is None


def test_bad_input_gets_clear_errors():
    model = Seq2Seq(7, 6, 4, 8)
    with pytest.raises(ValueError, match="src is empty"):
        model.encode(torch.zeros(2, 0, dtype=torch.long), torch.tensor([0, 0]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 3\]"):
        model.encode(torch.tensor([[4, 5, 6]]), torch.tensor([4]))  # longer than the tensor
    with pytest.raises(TypeError, match=r"lengths must be a \(2,\) integer tensor"):
        model.encode(torch.tensor([[4, 5, 6], [4, 5, 6]]), torch.tensor([3]))  # one length for two rows
    with pytest.raises(ValueError, match="outside"):
        model.encode(torch.tensor([[4, 9]]), torch.tensor([2]))  # an id past the vocabulary
    with pytest.raises(ValueError, match="max_len must be an int >= 1"):
        decode.greedy_translate(model, torch.tensor([[4, 5]]), torch.tensor([2]), max_len=0)


def _never_ends() -> Seq2Seq:
    """A model whose output layer can never pick EOS: every decoding loop must stop at max_len."""
    model = Seq2Seq(7, 6, 4, 8, attention=True).eval()
    with torch.no_grad():
        model.head.bias[model.eos_id] = -1e4
    return model


def test_max_len_bounds_greedy_and_beam_decoding():
    model = _never_ends()
    src, lengths = torch.tensor([[4, 5, 6], [6, 5, 0]]), torch.tensor([3, 2])
    tokens, weights = decode.greedy_translate(model, src, lengths, max_len=9)
    assert tokens.shape == (2, 9) and weights.shape == (2, 9, 3)
    assert not (tokens == model.eos_id).any()
    hyps = decode.beam_search(model, src[0], beam_size=3, max_len=9)
    assert all(len(h.tokens) == 9 and not h.finished for h in hyps)
    assert [len(row) for row in decode.translate_batch(model, src, lengths, 9, beam_size=2)] == [9, 9]


def test_translate_batch_greedy_equals_greedy_translate_and_beam_returns_the_best():
    torch.manual_seed(0)
    model = Seq2Seq(7, 6, 4, 8, attention="multiplicative").eval()
    src, lengths = torch.tensor([[4, 5, 6], [6, 5, 0]]), torch.tensor([3, 2])
    tokens, _ = decode.greedy_translate(model, src, lengths, max_len=6)
    rows = decode.translate_batch(model, src, lengths, 6)
    for row, full in zip(rows, tokens.tolist(), strict=True):
        assert row == (full[: full.index(model.eos_id)] if model.eos_id in full else full)
    beams = decode.translate_batch(model, src, lengths, 6, beam_size=3)
    assert beams[1] == decode.beam_search(model, src[1, :2], beam_size=3, max_len=6)[0].tokens
