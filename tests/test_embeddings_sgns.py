"""Skip-gram with negative sampling: the loss and gradients against float64, the sampling, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib.data.corpus import Corpus
from course_lib.embeddings import (
    SGNSConfig,
    SkipGramNS,
    keep_probabilities,
    noise_distribution,
    sgns_grads,
    train_sgns,
)
from course_lib.embeddings import sgns as sgns_mod


def _direct_loss(u: np.ndarray, v_pos: np.ndarray, v_neg: np.ndarray) -> float:
    """ell summed over a batch, one pair at a time in float64 with math.log and math.exp."""
    total = 0.0
    for b in range(u.shape[0]):
        total -= math.log(1 / (1 + math.exp(-float(u[b] @ v_pos[b]))))
        for n in v_neg[b]:
            total -= math.log(1 / (1 + math.exp(float(u[b] @ n))))
    return total


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    model = SkipGramNS(12, 6, generator=gen)
    with torch.no_grad():  # word2vec starts v at zero; a test needs non-trivial scores on both sides
        model.in_embed.weight.normal_(0, 0.7, generator=gen)
        model.out_embed.weight.normal_(0, 0.7, generator=gen)
    centres = torch.tensor([0, 3, 3, 7, 11])  # a repeated centre: its gradients must add up
    contexts = torch.tensor([1, 2, 2, 0, 5])
    noise = torch.tensor([[4, 5, 6], [1, 9, 9], [0, 1, 4], [3, 3, 8], [10, 2, 1]])
    return model, centres, contexts, noise


def test_loss_matches_a_direct_float64_computation(batch):
    model, centres, contexts, noise = batch
    W_in, W_out = (
        model.in_embed.weight.detach().double().numpy(),
        model.out_embed.weight.detach().double().numpy(),
    )
    expected = _direct_loss(W_in[centres], W_out[contexts], W_out[noise])
    assert float(model.double()(centres, contexts, noise).detach()) == pytest.approx(expected, rel=1e-12)
    u, v = torch.from_numpy(W_in[centres]), torch.from_numpy(W_out[torch.cat([contexts[:, None], noise], 1)])
    labels = torch.tensor([1.0, 0, 0, 0], dtype=torch.float64)
    assert float(sgns_grads(u, v, labels)[0]) == pytest.approx(expected, rel=1e-12)


def test_analytic_gradients_match_autograd_in_float64(batch):
    model, centres, contexts, noise = batch
    model = model.double()
    model(centres, contexts, noise).backward()
    W_in, W_out = model.in_embed.weight.detach(), model.out_embed.weight.detach()
    targets = torch.cat([contexts[:, None], noise], 1)  # (B, 1+k)
    labels = torch.tensor([1.0, 0, 0, 0], dtype=torch.float64)
    _, grad_u, grad_v = sgns_grads(W_in[centres], W_out[targets], labels)
    mine_in = torch.zeros_like(W_in).index_add_(0, centres, grad_u)
    mine_out = torch.zeros_like(W_out).index_add_(0, targets.reshape(-1), grad_v.reshape(-1, 6))
    torch.testing.assert_close(mine_in, model.in_embed.weight.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mine_out, model.out_embed.weight.grad, rtol=1e-12, atol=1e-12)
    # and autograd itself against finite differences
    u = W_in[centres].clone().requires_grad_()
    v = W_out[targets].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda u, v: sgns_grads(u, v, labels)[0], (u, v))


def test_a_wrong_gradient_is_caught(batch):
    """Forgetting the label (d ell/ds = sigma(s), the noise formula for the context too) must fail."""
    model, centres, contexts, noise = batch
    model = model.double()
    model(centres, contexts, noise).backward()
    W_in, W_out = model.in_embed.weight.detach(), model.out_embed.weight.detach()
    targets = torch.cat([contexts[:, None], noise], 1)
    _, wrong_u, _ = sgns_grads(W_in[centres], W_out[targets], torch.zeros(4, dtype=torch.float64))
    wrong_in = torch.zeros_like(W_in).index_add_(0, centres, wrong_u)
    assert not torch.allclose(wrong_in, model.in_embed.weight.grad, rtol=1e-3, atol=1e-6)


def test_weight_drops_noise_terms(batch):
    model, centres, contexts, noise = batch
    W_in, W_out = model.in_embed.weight.detach().double(), model.out_embed.weight.detach().double()
    targets = torch.cat([contexts[:, None], noise], 1)
    labels = torch.tensor([1.0, 0, 0, 0], dtype=torch.float64)
    weight = torch.ones(5, 4, dtype=torch.float64)
    weight[:, 3] = 0
    loss, gu, gv = sgns_grads(W_in[centres], W_out[targets], labels, weight)
    loss3, gu3, gv3 = sgns_grads(W_in[centres], W_out[targets[:, :3]], labels[:3])
    torch.testing.assert_close(loss, loss3)
    torch.testing.assert_close(gu, gu3)
    torch.testing.assert_close(gv[:, :3], gv3)
    assert torch.count_nonzero(gv[:, 3]) == 0


def test_one_sgd_step_is_minus_lr_times_the_gradient(batch):
    model, centres, contexts, noise = batch
    targets = torch.cat([contexts[:, None], noise], 1)
    ref = SkipGramNS(12, 6)
    ref.load_state_dict(model.state_dict())
    ref(centres, contexts, noise).backward()
    sgns_mod._sgd_step(model, centres, targets, torch.tensor([1.0, 0, 0, 0]), lr=0.1)
    torch.testing.assert_close(model.in_embed.weight, ref.in_embed.weight - 0.1 * ref.in_embed.weight.grad)
    torch.testing.assert_close(model.out_embed.weight, ref.out_embed.weight - 0.1 * ref.out_embed.weight.grad)


def test_a_noise_word_equal_to_the_context_is_skipped():
    model = SkipGramNS(4, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.out_embed.weight.normal_()
    before = model.out_embed.weight.detach().clone()
    u = model.in_embed.weight[0].detach().clone()
    # context 1, noise (1, 2): the clash gets zero weight, so word 1 only gets the positive update
    loss = sgns_mod._sgd_step(
        model, torch.tensor([0]), torch.tensor([[1, 1, 2]]), torch.tensor([1.0, 0, 0]), 1.0
    )
    s = before[[1, 2]] @ u
    assert float(loss) == pytest.approx(
        -float(torch.nn.functional.logsigmoid(s[0]) + torch.nn.functional.logsigmoid(-s[1])), rel=1e-5
    )
    torch.testing.assert_close(model.out_embed.weight[1], before[1] + (1 - torch.sigmoid(s[0])) * u)


def test_keep_probabilities_and_noise_follow_word2vec():
    counts = torch.tensor([10_000, 1_000, 10, 1])
    keep = keep_probabilities(counts, 1e-3)
    t = 1e-3 * 11_011
    assert float(keep[0]) == pytest.approx((math.sqrt(10_000 / t) + 1) * t / 10_000)
    assert float(keep[0]) < 0.2 and torch.all(keep[2:] == 1.0)
    assert torch.all(keep_probabilities(counts, 0) == 1)
    p = noise_distribution(counts)
    assert float(p.sum()) == pytest.approx(1.0)
    assert float(p[0] / p[1]) == pytest.approx(10**0.75)


def test_pairs_respect_lines_and_the_dynamic_window():
    gen = torch.Generator().manual_seed(0)
    tokens = torch.arange(5)
    lines = torch.tensor([0, 0, 0, 1, 1])
    c, o = sgns_mod._pairs(tokens, lines, 1, gen)  # window 1: b is always 1
    assert sorted(zip(c.tolist(), o.tolist(), strict=True)) == [
        (0, 1),
        (1, 0),
        (1, 2),
        (2, 1),
        (3, 4),
        (4, 3),
    ]
    n, window = 200_000, 4
    c, o = sgns_mod._pairs(torch.arange(n), torch.zeros(n, dtype=torch.long), window, gen)
    distance = (c - o).abs()
    assert int(distance.min()) == 1 and int(distance.max()) == window
    # b ~ U{1..w}: a pair at distance d survives with probability (w - d + 1) / w
    share = torch.bincount(distance, minlength=window + 1)[1:].double() / (2 * n)
    expected = torch.tensor([(window - d + 1) / window for d in range(1, window + 1)], dtype=torch.float64)
    torch.testing.assert_close(share, expected, atol=0.005, rtol=0)


def _topic_corpus(n_lines: int = 4000, seed: int = 0) -> Corpus:
    """Lines of 8 words, each line from one of two disjoint topics of 10 words."""
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, 2, n_lines)
    ids = (topic[:, None] * 10 + rng.integers(0, 10, (n_lines, 8))).reshape(-1)
    counts = np.bincount(ids, minlength=20)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty(20, dtype=np.int64)
    rank[order] = np.arange(20)
    return Corpus(
        words=tuple(f"{'ab'[w // 10]}{w % 10}" for w in order),
        counts=counts[order],
        ids=rank[ids].astype(np.int32),
        offsets=np.arange(0, 8 * n_lines + 1, 8, dtype=np.int64),
        source_tokens={"topics": 8 * n_lines},
    )


def test_training_separates_two_topics_and_the_loss_falls():
    corpus = _topic_corpus()
    config = SGNSConfig(
        dim=16, window=3, negatives=3, min_count=1, sample=0, epochs=3, batch_size=256, lr=0.05
    )
    wv, curve = train_sgns(corpus, config, progress=False)
    sims = wv.unit @ wv.unit.T
    group = torch.tensor([w[0] == "a" for w in wv.words])
    same = group[:, None] == group[None, :]
    off_diagonal = ~torch.eye(20, dtype=torch.bool)
    within, between = float(sims[same & off_diagonal].mean()), float(sims[~same].mean())
    assert within > 0.8 and between < 0.3, (within, between)
    assert curve[-1][1] < curve[0][1] - 0.15  # from 1.84 to 1.61 nats: topics cap how low it can go
    assert curve[-1][0] == pytest.approx(config.epochs)
    again, _ = train_sgns(corpus, config, progress=False)
    torch.testing.assert_close(again.vectors, wv.vectors, rtol=0, atol=0)


def test_min_count_drops_rare_words():
    corpus = _topic_corpus(n_lines=50)
    wv, _ = train_sgns(corpus, SGNSConfig(dim=4, epochs=1, min_count=int(corpus.counts[9])), progress=False)
    assert wv.words == corpus.words[:10]
    with pytest.raises(ValueError, match="lower min_count"):
        train_sgns(corpus, SGNSConfig(min_count=10**9), progress=False)


@pytest.mark.parametrize(
    ("field", "value"), [("dim", 0), ("window", 1.5), ("epochs", True), ("negatives", -1), ("sample", -0.1)]
)
def test_bad_config_is_refused(field, value):
    with pytest.raises(ValueError, match=field):
        SGNSConfig(**{field: value})
    with pytest.raises(ValueError, match="min_lr"):
        SGNSConfig(lr=0.01, min_lr=0.1)
