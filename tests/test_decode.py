"""Decoding: the fast stepper equals the full forward, sampling is reproducible and has the right
distribution, beam search of width 1 is greedy and a wider beam finds a better sequence."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib import decode, models
from course_lib.models.seq2seq import Seq2Seq
from course_lib.models.tasks import LanguageModel

PAD, UNK, BOS, EOS, A, B = 0, 1, 2, 3, 4, 5  # data.Vocab's special ids, then two words



def _lm(rnn: nn.Module, vocab: int = 11, tie: bool = False, seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(vocab, rnn.input_size, rnn, tie_weights=tie).double().eval()


def _stepping_logits(stepper: decode.LanguageModelStepper, x: torch.Tensor, prompt_len: int) -> torch.Tensor:
    """Logits (B, T - prompt_len + 1, V) for positions prompt_len-1 .. T-1, as the stepper computes them."""
    logits = [stepper.start(x[:, :prompt_len])]
    logits += [stepper.step(x[:, t]) for t in range(prompt_len, x.shape[1])]
    return torch.stack(logits, 1)


LAYERS = {
    "lstm": lambda: nn.LSTM(6, 7, batch_first=True),
    "lstm-2-layers": lambda: nn.LSTM(6, 7, num_layers=2, batch_first=True),
    "gru-2-layers": lambda: nn.GRU(6, 7, num_layers=2, batch_first=True),
    "rnn-tanh": lambda: nn.RNN(6, 7, batch_first=True),
    "rnn-relu-2-layers": lambda: nn.RNN(6, 7, num_layers=2, nonlinearity="relu", batch_first=True),
    "gru-no-bias": lambda: nn.GRU(6, 7, bias=False, batch_first=True),
    "lstm-projected (falls back to the layer)": lambda: nn.LSTM(6, 9, proj_size=7, batch_first=True),
}


@pytest.mark.parametrize("fold", [True, False])
@pytest.mark.parametrize("name", list(LAYERS))
def test_stepping_logits_equal_the_full_forward(name, fold):
    lm = _lm(LAYERS[name]())
    x = torch.randint(0, 11, (3, 12))
    full, _ = lm(x)  # (B, T, V)
    stepped = _stepping_logits(decode.LanguageModelStepper(lm, fold_embedding=fold), x, prompt_len=3)
    torch.testing.assert_close(stepped, full[:, 2:], rtol=0, atol=1e-10)


@pytest.mark.parametrize("variant", ["vanilla", "peephole", "coupled", "no_forget"])
def test_stepping_our_lstm_and_its_variants(variant):
    lm = _lm(models.LSTM(6, 7, num_layers=2, batch_first=True, variant=variant))
    assert (lm.spec.kind == "lstm") == (variant == "vanilla")  # variants are stepped by the layer itself
    x = torch.randint(0, 11, (2, 9))
    stepped = _stepping_logits(decode.LanguageModelStepper(lm), x, prompt_len=2)
    torch.testing.assert_close(stepped, lm(x)[0][:, 1:], rtol=0, atol=1e-10)


# Low precision is where two copies of the step maths drifted apart: a GRU step written with
# torch.lerp refused autocast's mixed bfloat16/float32 operands. The stepper now calls models.steps.
LOW_PRECISION_KINDS = ["lstm", "gru", "rnn"]


@pytest.mark.parametrize("kind", LOW_PRECISION_KINDS)
def test_stepping_under_bfloat16_autocast_matches_the_full_forward(kind):
    torch.manual_seed(0)
    # Our layers: torch.nn.LSTM has no CPU autocast kernel (oneDNN refuses the mixed primitive).
    lm = LanguageModel.build(11, kind, 6, 7, num_layers=2, impl="ours").eval()
    x = torch.randint(0, 11, (3, 12))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        full, _ = lm(x)  # (B, T, V) bfloat16
        stepped = _stepping_logits(decode.LanguageModelStepper(lm), x, prompt_len=3)
        ids = decode.sample(lm, [1, 2], 8, generator=torch.Generator().manual_seed(0))
    assert stepped.dtype == full.dtype == torch.bfloat16 and ids.shape == (8,)
    torch.testing.assert_close(stepped.float(), full[:, 2:].float(), rtol=0, atol=2e-2)


@pytest.mark.parametrize("kind", LOW_PRECISION_KINDS)
def test_stepping_a_bfloat16_model_matches_its_full_forward(kind):
    torch.manual_seed(0)
    lm = LanguageModel.build(11, kind, 6, 7, num_layers=2).eval().to(torch.bfloat16)
    x = torch.randint(0, 11, (3, 12))
    stepped = _stepping_logits(decode.LanguageModelStepper(lm), x, prompt_len=3)
    assert stepped.dtype == torch.bfloat16
    torch.testing.assert_close(stepped.float(), lm(x)[0][:, 2:].float(), rtol=0, atol=2e-2)


def test_stepping_with_tied_weights_and_a_one_token_prompt():
    lm = _lm(nn.GRU(7, 7, batch_first=True), tie=True)
    x = torch.randint(0, 11, (2, 9))
    stepped = _stepping_logits(decode.LanguageModelStepper(lm), x, prompt_len=1)
    torch.testing.assert_close(stepped, lm(x)[0], rtol=0, atol=1e-10)


def test_parity_check_catches_a_wrong_gate_order():
    lm = _lm(nn.LSTM(6, 7, batch_first=True))
    x = torch.randint(0, 11, (3, 8))
    stepper = decode.LanguageModelStepper(lm)
    H = 7
    swap = torch.cat([torch.arange(H, 2 * H), torch.arange(H), torch.arange(2 * H, 4 * H)])  # f, i, g, o
    stepper.w_hh[0] = stepper.w_hh[0][swap]
    stepper.table = stepper.table[:, swap]
    stepper.b_in[0] = stepper.b_in[0][swap]
    stepped = _stepping_logits(stepper, x, prompt_len=2)
    assert (stepped - lm(x)[0][:, 1:]).abs().max() > 1e-3


def test_stepper_refuses_training_mode_and_other_models():
    lm = _lm(nn.LSTM(6, 7, batch_first=True)).train()
    with pytest.raises(ValueError, match="eval"):
        decode.LanguageModelStepper(lm)
    with pytest.raises(TypeError, match="LanguageModel"):
        decode.LanguageModelStepper(nn.LSTM(6, 7, batch_first=True))


def test_greedy_is_the_argmax_of_the_full_forward_and_keeps_training_mode():
    lm = _lm(nn.LSTM(6, 7, num_layers=2, batch_first=True)).train()
    prompt = [3, 1, 4]
    ids = decode.greedy(lm, prompt, 10)
    assert ids.shape == (10,) and lm.training  # restored after decoding in eval mode
    lm.eval()
    seq = torch.tensor([prompt])
    for _ in range(10):  # the slow reference: rerun the whole sequence for each token
        seq = torch.cat([seq, lm(seq)[0][:, -1].argmax(-1, keepdim=True)], 1)
    assert ids.tolist() == seq[0, 3:].tolist()


def test_sample_is_reproducible_and_batched():
    lm = _lm(nn.GRU(6, 7, batch_first=True))
    first = decode.sample(lm, [1, 2], 40, generator=torch.Generator().manual_seed(5))
    again = decode.sample(lm, [1, 2], 40, generator=torch.Generator().manual_seed(5))
    other = decode.sample(lm, [1, 2], 40, generator=torch.Generator().manual_seed(6))
    assert first.shape == (40,) and first.dtype == torch.long
    assert torch.equal(first, again) and not torch.equal(first, other)
    batch = decode.sample(lm, torch.tensor([[1, 2], [3, 4], [5, 6]]), 5, generator=torch.Generator())
    assert batch.shape == (3, 5) and int(batch.min()) >= 0 and int(batch.max()) < 11


@pytest.mark.parametrize("temperature, top_k", [(0.7, None), (1.5, 3)])
def test_sample_draws_from_the_tempered_top_k_distribution(temperature, top_k):
    lm = _lm(nn.LSTM(6, 7, batch_first=True), vocab=6)
    with torch.no_grad():
        lm.head.weight.mul_(6.0)  # spread the next-token distribution so that every check bites
    prompt = torch.tensor([[2, 5, 1]])
    logits = lm(prompt)[0][0, -1] / temperature  # (V,)
    if top_k is not None:
        logits[logits < logits.topk(top_k).values[-1]] = -math.inf
    expected = torch.softmax(logits, 0)
    n = 4000
    draws = decode.sample(
        lm,
        prompt.expand(n, -1),
        1,
        temperature=temperature,
        top_k=top_k,
        generator=torch.Generator().manual_seed(0),
    )[:, 0]
    freq = torch.bincount(draws, minlength=6).double() / n
    assert (freq[expected == 0] == 0).all()  # tokens outside the top k never appear
    assert (freq - expected).abs().max() < 4 * math.sqrt(0.25 / n)  # 4 standard errors at worst


def test_top_k_one_and_low_temperature_equal_greedy():
    lm = _lm(nn.LSTM(6, 7, batch_first=True))
    expected = decode.greedy(lm, [1, 2, 3], 30)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(decode.sample(lm, [1, 2, 3], 30, top_k=1, generator=g), expected)
    assert torch.equal(decode.sample(lm, [1, 2, 3], 30, temperature=1e-4, generator=g), expected)


def test_sample_rejects_bad_arguments():
    lm = _lm(nn.GRU(6, 7, batch_first=True))
    with pytest.raises(ValueError, match="temperature"):
        decode.sample(lm, [1], 5, temperature=0.0)
    with pytest.raises(ValueError, match="top_k"):
        decode.sample(lm, [1], 5, top_k=0)
    with pytest.raises(ValueError, match="non-empty"):
        decode.sample(lm, [], 5)
    with pytest.raises(ValueError, match="n must be"):
        decode.greedy(lm, [1], -1)


# --- encoder-decoder ------------------------------------------------------------------------------------


def _markov_seq2seq(chain: dict[int, dict[int, float]]) -> Seq2Seq:
    """A Seq2Seq set by hand so that P(next | previous token) = chain[previous][next], whatever the source.

    Embedding 10 * I and W_ih = I make h = tanh(10) * onehot(previous) (W_hh = 0 forgets the past);
    the head's columns are then the rows of the log-probability table.
    """
    V = 6
    table = torch.full((V, V), 1e-9, dtype=torch.float64)
    for prev, row in chain.items():
        for nxt, p in row.items():
            table[prev, nxt] = p
    log_table = (table / table.sum(1, keepdim=True)).log()
    model = Seq2Seq(5, V, V, V, attention=False, kind="rnn").double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.tgt_embedding.weight.copy_(10 * torch.eye(V))
        model.decoder.weight_ih_l0.copy_(torch.eye(V))
        model.head.weight.copy_(log_table.T / math.tanh(10))
    return model


def _log_prob(model: Seq2Seq, src: torch.Tensor, tokens: list[int], finished: bool) -> float:
    """Teacher-forced log P(tokens [+ EOS] | src), the reference that beam scores must match."""
    targets = tokens + [EOS] if finished else tokens
    tgt_in = torch.tensor([[BOS] + targets[:-1]])
    logits = model(src.unsqueeze(0), torch.tensor([len(src)]), tgt_in)[0]
    return torch.log_softmax(logits, -1)[0, torch.arange(len(targets)), targets].sum().item()


def test_wider_beam_finds_a_more_likely_sequence_than_greedy():
    # Greedy takes "a" (0.55) and then ends: 0.55 * 0.4 = 0.22; "b" then EOS has 0.4 * 0.9 = 0.36.
    model = _markov_seq2seq(
        {BOS: {A: 0.55, B: 0.4, EOS: 0.05}, A: {EOS: 0.4, A: 0.3, B: 0.3}, B: {EOS: 0.9, A: 0.05, B: 0.05}}
    )
    src = torch.tensor([4, 4])
    tokens, _ = decode.greedy_translate(model, src.unsqueeze(0), torch.tensor([2]), max_len=5)
    assert tokens[0].tolist() == [A, EOS]
    assert [h.tokens for h in decode.beam_search(model, src, beam_size=1, length_penalty=0.0)] == [[A]]
    best = decode.beam_search(model, src, beam_size=2, length_penalty=0.0)[0]
    assert best.tokens == [B] and best.finished
    assert best.log_prob == pytest.approx(math.log(0.36), abs=1e-6)
    assert best.log_prob > _log_prob(model, src, [A], True) + 0.4  # log(0.36 / 0.22) = 0.49


def test_length_penalty_changes_the_winner_as_its_formula_says():
    # [] scores log 0.52 = -0.65; [a] scores log(0.48 * 0.9) = -0.84 in total but -0.42 per token.
    model = _markov_seq2seq({BOS: {EOS: 0.52, A: 0.48}, A: {EOS: 0.9, B: 0.1}})
    src = torch.tensor([4])
    raw = decode.beam_search(model, src, beam_size=2, length_penalty=0.0)
    mean = decode.beam_search(model, src, beam_size=2, length_penalty=1.0)
    assert raw[0].tokens == [] and mean[0].tokens == [A]
    assert mean[0].score == pytest.approx(math.log(0.48 * 0.9) / 2, abs=1e-6)
    cut = decode.beam_search(model, src, beam_size=2, max_len=1, length_penalty=0.0)
    assert [h.finished for h in cut] == [True, False] and cut[1].tokens == [A]  # unfinished when cut off


def _reversal_batch(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sources of 2-6 ids, padded to 6, and targets BOS + reversed source + EOS, padded to 8."""
    lengths = torch.randint(2, 7, (n,), generator=gen)
    src = torch.randint(4, 10, (n, 6), generator=gen) * (torch.arange(6) < lengths.unsqueeze(1))
    tgt = torch.full((n, 8), PAD)
    tgt[:, 0] = BOS
    for b, length in enumerate(lengths.tolist()):
        tgt[b, 1 : length + 1] = src[b, :length].flip(0)
        tgt[b, length + 1] = EOS
    return src, lengths, tgt


def _half_trained(attention: bool, kind: str) -> Seq2Seq:
    """A reversal model after 40 steps: varied outputs, some right, some wrong, some never ending.
    (Untrained decoders repeat one token forever, which would make the comparison below trivial.)"""
    torch.manual_seed(0)
    model = Seq2Seq(
        10, 10, 8, 16, attention=attention, kind=kind, num_layers=2, bidirectional_encoder=attention
    )
    src, lengths, tgt = _reversal_batch(32, torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(40):
        opt.zero_grad()
        logits = model(src, lengths, tgt[:, :-1])[0]
        nn.functional.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=PAD).backward()
        opt.step()
    return model.double().eval()


@pytest.mark.parametrize("attention, kind", [(True, "gru"), (False, "lstm")])
def test_beam_of_width_one_is_greedy_and_scores_are_log_probs(attention, kind):
    model = _half_trained(attention, kind)
    src, lengths, _ = _reversal_batch(6, torch.Generator().manual_seed(1))
    tokens, weights = decode.greedy_translate(model, src, lengths, max_len=7)
    assert weights is None or (weights.shape[:2] == tokens.shape and weights.shape[2] == 6)
    outputs = set()
    for b, n in enumerate(lengths.tolist()):
        row = tokens[b].tolist()
        greedy_tokens = row[: row.index(EOS)] if EOS in row else row
        outputs.add(tuple(greedy_tokens))
        [hyp] = decode.beam_search(model, src[b, :n], beam_size=1, max_len=7)
        assert hyp.tokens == greedy_tokens and hyp.finished == (EOS in row)
        assert all(t == PAD for t in row[len(greedy_tokens) + 1 :])  # padding after EOS
        hyps = decode.beam_search(model, src[b], n, beam_size=3, max_len=7)
        assert len(hyps) == 3 and [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            assert h.log_prob == pytest.approx(_log_prob(model, src[b, :n], h.tokens, h.finished), abs=1e-9)
    assert len(outputs) > 3  # the model says different things for different sources


def test_beam_search_rejects_a_batch():
    model = _markov_seq2seq({BOS: {EOS: 1.0}})
    with pytest.raises(ValueError, match="one sentence"):
        decode.beam_search(model, torch.tensor([[4, 4], [4, 4]]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_decoding_on_cuda():
    lm = _lm(nn.LSTM(6, 7, batch_first=True)).cuda()
    x = torch.randint(0, 11, (3, 10), device="cuda")
    stepped = _stepping_logits(decode.LanguageModelStepper(lm), x, prompt_len=2)
    torch.testing.assert_close(stepped, lm(x)[0][:, 1:], rtol=0, atol=1e-10)
    cpu_gen = decode.sample(lm, [1, 2], 20, generator=torch.Generator().manual_seed(0))
    assert cpu_gen.device.type == "cuda" and cpu_gen.shape == (20,)
    model = Seq2Seq(9, 7, 6, 8, attention=True).cuda().eval()
    src = torch.randint(4, 9, (2, 5), device="cuda")
    tokens, _ = decode.greedy_translate(model, src, torch.tensor([5, 3], device="cuda"), max_len=6)
    [hyp] = decode.beam_search(model, src[0], beam_size=1, max_len=6)
    row = tokens[0].tolist()
    assert hyp.tokens == (row[: row.index(EOS)] if EOS in row else row)  # the whole output, not a prefix
    assert hyp.finished == (EOS in row)
