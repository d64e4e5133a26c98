"""Task models: shapes, padding that never leaks, weight tying, attention masks, overfitting a batch."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib import models
from course_lib.models.attention import AdditiveAttention
from course_lib.models.seq2seq import Seq2Seq
from course_lib.models.tasks import LanguageModel, SequenceClassifier, SequenceTagger, make_rnn, rnn_spec


def _fit(model: nn.Module, loss_fn, steps: int, lr: float = 0.01) -> tuple[float, float]:
    """Adam on one fixed batch -> (first loss, last loss)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    first = None
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    return first, loss.item()


# --- reading and building recurrent layers ---------------------------------------------------------


@pytest.mark.parametrize(
    "layer, kind",
    [
        (nn.LSTM(3, 4, batch_first=True), "lstm"),
        (nn.GRU(3, 4, num_layers=2, batch_first=True), "gru"),
        (nn.RNN(3, 4, batch_first=True), "rnn_tanh"),
        (nn.RNN(3, 4, nonlinearity="relu", batch_first=True, bidirectional=True), "rnn_relu"),
    ],
)
def test_rnn_spec_reads_kind_and_sizes(layer, kind):
    spec = rnn_spec(layer)
    assert spec.kind == kind
    assert (spec.input_size, spec.hidden_size, spec.output_size) == (3, 4, 4)
    assert spec.num_layers == layer.num_layers
    assert spec.num_directions == (2 if layer.bidirectional else 1)


def test_rnn_spec_projected_lstm_and_errors():
    spec = rnn_spec(nn.LSTM(3, 8, proj_size=5, batch_first=True))
    assert spec.kind is None and spec.output_size == 5  # maths unknown to the fast stepper
    odd = nn.GRU(3, 4, batch_first=True)
    odd.mode = "LSTM"  # claims to be an LSTM but has 3 gates: not trusted
    assert rnn_spec(odd).kind is None
    with pytest.raises(ValueError, match="batch_first=True"):
        rnn_spec(nn.LSTM(3, 4))
    with pytest.raises(TypeError, match="lacks"):
        rnn_spec(nn.Linear(3, 4))
    with pytest.raises(ValueError, match="kind"):
        make_rnn("transformer", 3, 4)
    with pytest.raises(ValueError, match="impl"):
        make_rnn("lstm", 3, 4, impl="keras")


# --- language model --------------------------------------------------------------------------------


def test_language_model_shapes_and_state_carry_over():
    torch.manual_seed(0)
    lm = LanguageModel.build(11, "lstm", embed_size=6, hidden_size=8, num_layers=2).double().eval()
    x = torch.randint(0, 11, (3, 10))
    logits, (h, c) = lm(x)
    assert logits.shape == (3, 10, 11) and h.shape == c.shape == (2, 3, 8)
    first, state = lm(x[:, :4])
    second, _ = lm(x[:, 4:], state)  # truncated BPTT relies on this being exact
    torch.testing.assert_close(torch.cat([first, second], 1), logits, rtol=0, atol=1e-12)


def test_language_model_tied_weights_and_errors():
    lm = LanguageModel(9, 8, nn.GRU(8, 8, batch_first=True), tie_weights=True)
    assert lm.head.weight is lm.embedding.weight
    assert sum(p.numel() for p in lm.parameters()) == 9 * 8 + 9 + sum(p.numel() for p in lm.rnn.parameters())
    with pytest.raises(ValueError, match="tie_weights"):
        LanguageModel(9, 8, nn.GRU(8, 6, batch_first=True), tie_weights=True)
    with pytest.raises(ValueError, match="unidirectional"):
        LanguageModel(9, 8, nn.GRU(8, 6, batch_first=True, bidirectional=True))
    with pytest.raises(ValueError, match="input_size"):
        LanguageModel(9, 5, nn.GRU(8, 6, batch_first=True))
    with pytest.raises(ValueError, match=r"outside \[0, 9\)"):
        lm(torch.tensor([[1, 9]]))
    with pytest.raises(TypeError, match="token ids"):
        lm(torch.randn(2, 3))


def test_language_model_overfits_a_batch():
    torch.manual_seed(0)
    lm = LanguageModel.build(12, "lstm", embed_size=16, hidden_size=32, dropout=0.1, tie_weights=False)
    x = torch.randint(0, 12, (4, 17))
    first, last = _fit(
        lm,
        lambda: nn.functional.cross_entropy(lm(x[:, :-1])[0].flatten(0, 1), x[:, 1:].flatten()),
        150,
        lr=0.02,
    )
    assert first > 0.8 * math.log(12) and last < 0.15


# --- many-to-one and many-to-many -------------------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True])
def test_classifier_final_state_matches_each_sequence_alone(bidirectional):
    torch.manual_seed(0)
    rnn = nn.GRU(5, 4, num_layers=2, batch_first=True, bidirectional=bidirectional)
    clf = SequenceClassifier(13, 5, rnn, 3).double().eval()
    lengths = torch.tensor([2, 6, 4])
    x = torch.randint(1, 13, (3, 6))
    logits = clf(x, lengths)
    assert logits.shape == (3, 3)
    for b, n in enumerate(lengths.tolist()):
        out, _ = clf.rnn(clf.embedding(x[b : b + 1, :n]))  # (1, n, D*H), no padding at all
        last = out[0, -1, :4] if not bidirectional else torch.cat([out[0, -1, :4], out[0, 0, 4:]])
        torch.testing.assert_close(logits[b], clf.head(last), rtol=0, atol=1e-12)
    # Whatever sits in the padding cannot change a prediction.
    noisy = torch.where(torch.arange(6) < lengths.unsqueeze(1), x, torch.randint(1, 13, (3, 6)))
    torch.testing.assert_close(clf(noisy, lengths), logits, rtol=0, atol=1e-12)


def test_classifier_on_features_overfits_a_batch():
    torch.manual_seed(0)
    lengths = torch.tensor([3, 7, 5, 2, 6, 4, 7, 1])
    x = torch.randn(8, 7, 3)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    clf = SequenceClassifier(None, 3, nn.LSTM(3, 16, batch_first=True, bidirectional=True), 3)
    first, last = _fit(clf, lambda: nn.functional.cross_entropy(clf(x, lengths), y), 120, lr=0.03)
    assert first > 0.8 and last < 0.05
    assert (clf(x, lengths).argmax(1) == y).all()
    full = torch.full((8,), 7)
    torch.testing.assert_close(clf(x), clf(x, full), rtol=0, atol=1e-6)  # no lengths: no padding
    with pytest.raises(TypeError, match=r"\(B, T, 3\)"):
        clf(torch.randn(8, 7, 4), lengths)
    with pytest.raises(ValueError, match="lengths"):
        clf(x, torch.tensor([3, 8, 5, 2, 6, 4, 7, 1]))


def test_tagger_overfits_forecasting_and_ignores_padding():
    torch.manual_seed(0)
    t = torch.linspace(0, 6, 25)
    series = torch.stack([torch.sin(t + phase) for phase in (0.0, 1.0, 2.0)]).unsqueeze(-1)  # (3, 25, 1)
    tagger = SequenceTagger(None, 1, nn.GRU(1, 16, batch_first=True), 1)
    first, last = _fit(tagger, lambda: nn.functional.mse_loss(tagger(series[:, :-1]), series[:, 1:]), 200)
    assert first > 0.1 and last < 2e-3
    bi = SequenceTagger(7, 4, nn.LSTM(4, 5, batch_first=True, bidirectional=True), 3).double()
    x, lengths = torch.randint(0, 7, (2, 6)), torch.tensor([6, 3])
    out = bi(x, lengths)
    assert out.shape == (2, 6, 3)
    x2 = x.clone()
    x2[1, 3:] = (x2[1, 3:] + 1) % 7  # change only the padding
    torch.testing.assert_close(bi(x2, lengths)[1, :3], out[1, :3], rtol=0, atol=1e-12)


def test_tagger_overfits_token_tagging():
    torch.manual_seed(0)
    x = torch.randint(0, 10, (4, 9))
    tags = (x % 3 + torch.roll(x, 1, dims=1) % 2) % 3  # depends on the token and its left neighbour
    tagger = SequenceTagger(10, 8, nn.LSTM(8, 16, batch_first=True, bidirectional=True), 3)
    first, last = _fit(
        tagger, lambda: nn.functional.cross_entropy(tagger(x).flatten(0, 1), tags.flatten()), 150
    )
    assert first > 0.8 and last < 0.05


# --- attention and encoder-decoder --------------------------------------------------------------------


def test_additive_attention_matches_its_formula_and_masks_padding():
    torch.manual_seed(0)
    attn = AdditiveAttention(query_size=3, key_size=4, attention_size=5).double()
    q, keys = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 6, 4, dtype=torch.float64)
    mask = torch.tensor([[True] * 6, [True] * 2 + [False] * 4])
    context, weights = attn(q, keys, mask)
    assert context.shape == (2, 4) and weights.shape == (2, 6)
    for b, n in enumerate(mask.sum(1).tolist()):  # e_j = v^T tanh(W_q s + W_k h_j) on real positions
        e = (
            torch.tanh(
                q[b] @ attn.query_proj.weight.T + keys[b, :n] @ attn.key_proj.weight.T + attn.key_proj.bias
            )
            @ attn.score.weight[0]
        )
        torch.testing.assert_close(weights[b, :n], torch.softmax(e, 0), rtol=0, atol=1e-12)
        torch.testing.assert_close(context[b], torch.softmax(e, 0) @ keys[b, :n], rtol=0, atol=1e-12)
    assert (weights[1, 2:] == 0).all()
    many_ctx, many_w = attn(torch.stack([q, 2 * q], 1), keys, mask)  # (B, T, Q) queries at once
    torch.testing.assert_close(many_w[:, 0], weights, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="at least one real"):
        attn(q, keys, torch.zeros(2, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        attn(q, keys, mask.long())


@pytest.mark.parametrize("kind, bidirectional", [("gru", False), ("lstm", True)])
def test_seq2seq_attention_weights_and_teacher_forcing(kind, bidirectional):
    torch.manual_seed(0)
    model = (
        Seq2Seq(9, 8, 6, 5, attention=True, kind=kind, num_layers=2, bidirectional_encoder=bidirectional)
        .double()
        .eval()
    )
    src, lengths = torch.randint(3, 9, (3, 5)), torch.tensor([5, 2, 4])
    tgt_in = torch.randint(1, 8, (3, 4))
    logits, weights = model(src, lengths, tgt_in)
    assert logits.shape == (3, 4, 8) and weights.shape == (3, 4, 5)
    real = torch.arange(5) < lengths.unsqueeze(1)  # (B, S)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, dtype=torch.float64), rtol=0, atol=1e-12)
    assert (weights.masked_select(~real.unsqueeze(1).expand_as(weights)) == 0).all()
    src2 = torch.where(real, src, torch.randint(3, 9, (3, 5)))
    torch.testing.assert_close(model(src2, lengths, tgt_in)[0], logits, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 5\]"):
        model(src, torch.tensor([6, 2, 4]), tgt_in)
    with pytest.raises(ValueError, match="batch"):
        model(src, lengths, tgt_in[:2])
    with pytest.raises(ValueError, match="tgt_in holds ids outside"):
        model(src, lengths, tgt_in + 8)


def test_seq2seq_without_attention_one_call_equals_stepping():
    torch.manual_seed(0)
    model = Seq2Seq(9, 8, 6, 5, attention=False, kind="lstm", bidirectional_encoder=True).double().eval()
    src, lengths, tgt_in = torch.randint(3, 9, (2, 5)), torch.tensor([3, 5]), torch.randint(1, 8, (2, 4))
    logits, weights = model(src, lengths, tgt_in)
    assert weights is None
    memory, state = model.encode(src, lengths)
    for t in range(4):
        step_logits, state, _ = model.decode_step(tgt_in[:, t], state, memory)
        torch.testing.assert_close(step_logits, logits[:, t], rtol=0, atol=1e-12)


@pytest.mark.parametrize("attention", [False, True])
def test_seq2seq_overfits_reversal(attention):
    torch.manual_seed(0)
    src = torch.randint(4, 10, (6, 5))
    lengths = torch.tensor([5, 4, 3, 5, 2, 4])
    rev = [src[b, :n].flip(0).tolist() + [3] for b, n in enumerate(lengths.tolist())]  # reversed + EOS
    tgt = torch.tensor([[2] + r + [0] * (6 - len(r)) for r in rev])  # BOS, reversed, EOS, padding
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
    model = Seq2Seq(10, 10, 12, 24, attention=attention, kind="gru")

    def loss():
        logits = model(src, lengths, tgt_in)[0]
        return nn.functional.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=0)

    first, last = _fit(model, loss, 150, lr=0.02)
    assert first > 1.5 and last < 0.05


# --- the course's own layers plug in -------------------------------------------------------------------


def test_our_lstm_plugs_into_the_task_models():
    torch.manual_seed(0)
    theirs = nn.LSTM(4, 6, num_layers=2, batch_first=True)
    ours = models.LSTM(4, 6, num_layers=2, batch_first=True)
    ours.load_state_dict(theirs.state_dict())
    lm_t, lm_o = LanguageModel(10, 4, theirs).double(), LanguageModel(10, 4, ours).double()
    lm_o.load_state_dict(lm_t.state_dict())
    x = torch.randint(0, 10, (3, 7))
    torch.testing.assert_close(lm_o(x)[0], lm_t(x)[0], rtol=0, atol=1e-10)
    built = LanguageModel.build(10, "gru", 4, 6, impl="ours")
    assert type(built.rnn).__module__.startswith("course_lib")


def test_our_bidirectional_gru_plugs_into_the_classifier():
    torch.manual_seed(0)
    theirs = SequenceClassifier(10, 4, nn.GRU(4, 5, batch_first=True, bidirectional=True), 2).double()
    ours = SequenceClassifier(10, 4, models.GRU(4, 5, batch_first=True, bidirectional=True), 2).double()
    ours.load_state_dict(theirs.state_dict())
    x, lengths = torch.randint(0, 10, (3, 6)), torch.tensor([6, 2, 4])
    torch.testing.assert_close(ours(x, lengths), theirs(x, lengths), rtol=0, atol=1e-10)


def test_seq2seq_with_our_layers_equals_torch():
    torch.manual_seed(0)
    kwargs = dict(attention=True, kind="lstm", num_layers=2, bidirectional_encoder=True)
    theirs = Seq2Seq(9, 8, 6, 5, **kwargs).double().eval()
    ours = Seq2Seq(9, 8, 6, 5, impl="ours", **kwargs).double().eval()
    assert isinstance(ours.encoder, models.LSTM) and isinstance(ours.decoder, models.LSTM)
    ours.load_state_dict(theirs.state_dict())
    src, lengths, tgt_in = torch.randint(3, 9, (3, 5)), torch.tensor([5, 2, 4]), torch.randint(1, 8, (3, 4))
    for mine, reference in zip(ours(src, lengths, tgt_in), theirs(src, lengths, tgt_in), strict=True):
        torch.testing.assert_close(mine, reference, rtol=0, atol=1e-10)
