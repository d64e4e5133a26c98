"""Tests for course_lib.data.synthetic: shapes, exact answers, baselines, seeds, bad input."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from course_lib import data
from course_lib.data.synthetic import (
    AgreementData,
    add_subtract_stream,
    adding_problem,
    agreement_language,
    copy_task,
    human_numbers,
    human_numbers_split,
    number_to_words,
    running_sum,
)


# --- adding problem ------------------------------------------------------------------------------
def test_adding_problem_shapes_markers_and_target():
    x, y = adding_problem(500, 11, seed=0)
    assert x.shape == (500, 11, 2) and y.shape == (500,)
    assert x.dtype == y.dtype == torch.float32
    values, marker = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(marker.unique().tolist()) == {0.0, 1.0}
    assert (marker[:, :5].sum(1) == 1).all() and (marker[:, 5:].sum(1) == 1).all()  # one per half
    torch.testing.assert_close(y, (values * marker).sum(1))
    # both halves' positions actually vary
    assert len(set(marker[:, :5].argmax(1).tolist())) == 5 and len(set(marker[:, 5:].argmax(1).tolist())) == 6


def test_adding_problem_constant_baseline_has_mse_one_sixth():
    _, y = adding_problem(20_000, 8, seed=1)
    mse = ((y - 1.0) ** 2).mean().item()
    # standard error of the mean of (y-1)^2 is sqrt(7/180 / 20000) ~ 0.0014: allow 4 of them
    assert abs(mse - 1 / 6) < 0.006


# --- copy task -----------------------------------------------------------------------------------
def test_copy_task_layout():
    n_symbols, seq_len, gap = 5, 4, 7
    x, y = copy_task(300, n_symbols, seq_len, gap, seed=0)
    total = 2 * seq_len + gap + 1
    assert x.shape == y.shape == (300, total) and x.dtype == y.dtype == torch.int64
    symbols = x[:, :seq_len]
    assert ((symbols >= 1) & (symbols <= n_symbols)).all()
    assert set(symbols.unique().tolist()) == set(range(1, n_symbols + 1))
    assert (x[:, seq_len : seq_len + gap] == 0).all()
    assert (x[:, seq_len + gap] == n_symbols + 1).all()  # go marker right after the gap
    assert (x[:, seq_len + gap + 1 :] == 0).all()
    assert torch.equal(y[:, -seq_len:], symbols) and (y[:, :-seq_len] == 0).all()


def test_copy_task_zero_gap_and_symbol_frequencies_near_uniform():
    x, _ = copy_task(2000, 4, 5, 0, seed=2)
    assert (x[:, 5] == 5).all()
    freq = torch.bincount(x[:, :5].flatten(), minlength=5)[1:].float() / (2000 * 5)
    assert (freq - 0.25).abs().max() < 0.02  # chance of guessing a symbol is 1/n_symbols


# --- running sum and add/subtract ----------------------------------------------------------------
def test_running_sum_target_and_zero_baseline():
    x, y = running_sum(4000, 9, seed=0)
    assert x.shape == y.shape == (4000, 9, 1) and x.dtype == torch.float32
    assert ((x >= -1) & (x <= 1)).all()
    torch.testing.assert_close(y[:, 0], x[:, 0])
    torch.testing.assert_close(y[:, 1:] - y[:, :-1], x[:, 1:], atol=1e-5, rtol=0)
    mse_zero = (y**2).mean().item()
    assert abs(mse_zero - (9 + 1) / 6) < 0.08  # E[y_t^2] = (t+1)/3, averaged over t


def _add_subtract_reference(x: torch.Tensor) -> torch.Tensor:
    """A step-by-step loop, the obvious way to compute the target."""
    out = torch.zeros(x.shape[0], x.shape[1], 1)
    for i in range(x.shape[0]):
        total, sign = 0.0, 1.0
        for t in range(x.shape[1]):
            value, is_add, is_sub = x[i, t].tolist()
            if is_add:
                sign = 1.0
            elif is_sub:
                sign = -1.0
            else:
                total += sign * value
            out[i, t, 0] = total
    return out


def test_add_subtract_stream_matches_a_loop():
    x, y = add_subtract_stream(40, 25, seed=3)
    assert x.shape == (40, 25, 3) and y.shape == (40, 25, 1)
    is_add, is_sub = x[..., 1] == 1, x[..., 2] == 1
    assert not (is_add & is_sub).any()
    assert (x[..., 0][is_add | is_sub] == 0).all() and (x[..., 0][~(is_add | is_sub)] > 0).all()
    assert is_add.any() and is_sub.any()
    torch.testing.assert_close(y, _add_subtract_reference(x), atol=1e-5, rtol=0)


def test_add_subtract_stream_signal_rate_and_no_signal_case():
    x, _ = add_subtract_stream(500, 40, seed=4, signal_prob=0.3)
    rate = (x[..., 1:].sum(-1) > 0).float().mean().item()
    assert abs(rate - 0.3) < 0.02
    x0, y0 = add_subtract_stream(5, 10, seed=4, signal_prob=0.0)
    assert (x0[..., 1:] == 0).all()
    torch.testing.assert_close(y0, x0[..., :1].cumsum(1))


# --- human numbers -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "k, words",
    [
        (1, "one"), (13, "thirteen"), (20, "twenty"), (21, "twenty one"), (100, "one hundred"),
        (105, "one hundred five"), (110, "one hundred ten"), (999, "nine hundred ninety nine"),
        (1000, "one thousand"), (1010, "one thousand ten"), (2019, "two thousand nineteen"),
        (7300, "seven thousand three hundred"),
        (9999, "nine thousand nine hundred ninety nine"),
    ],
)  # fmt: skip
def test_number_to_words_examples(k, words):
    assert number_to_words(k) == words


def test_number_to_words_is_injective_without_hyphens_or_and():
    all_words = [number_to_words(k) for k in range(1, 10000)]
    assert len(set(all_words)) == 9999
    assert not any("-" in w or " and " in w or "  " in w for w in all_words)


@pytest.mark.parametrize("bad", [0, 10000, -3, 2.0, True, "5"])
def test_number_to_words_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match="1..9999"):
        number_to_words(bad)


def test_human_numbers_matches_fastbook_counts():
    tokens = human_numbers()
    assert len(tokens) == 63_095
    assert len(set(tokens)) == 30
    assert tokens[:6] == ["one", ".", "two", ".", "three", "."]
    assert tokens[-7:] == [".", "nine", "thousand", "nine", "hundred", "ninety", "nine"]
    assert tokens.count(".") == 9_997  # 9,998 numbers (fastai's files skip 8000)


def test_human_numbers_split_by_position():
    train, valid = human_numbers_split()
    assert len(train) == int(0.8 * 63_095) and train + valid == human_numbers()
    small, rest = human_numbers_split(0.1)
    assert len(small) == 6_309
    with pytest.raises(ValueError, match="fraction"):
        human_numbers_split(1.0)


# --- agreement language --------------------------------------------------------------------------
@pytest.mark.parametrize("gap", [3, 4, 17, 60])
def test_agreement_gap_is_honoured(gap):
    d = agreement_language(50, gap, n_pairs=5, seed=0)
    assert isinstance(d, AgreementData) and d.gap == gap
    for sent, label in zip(d.tokens, d.labels, strict=True):
        country_pos = [i for i, t in enumerate(sent) if t in d.countries]
        language_pos = [i for i, t in enumerate(sent) if t in d.languages]
        assert len(country_pos) == 1 and len(language_pos) == 1
        assert language_pos[0] - country_pos[0] == gap + 1  # gap tokens strictly between them
        assert sent[country_pos[0]] == d.countries[label] and sent[-1] == d.languages[label]
        assert sent[:4] == ["i", "grew", "up", "in"] and sent[-4:-1] == ["i", "speak", "fluent"]
        assert len(sent) == gap + 6


def test_agreement_labels_cover_pairs_and_filler_is_clean():
    d = agreement_language(2000, 12, n_pairs=8, seed=1)
    counts = Counter(d.labels)
    assert sorted(counts) == list(range(8)) and min(counts.values()) > 180  # ~250 each
    assert len(set(d.countries)) == len(set(d.languages)) == 8
    special = set(d.countries) | set(d.languages)
    fillers = [s[5:-4] for s in d.tokens]
    assert not any(t in special for f in fillers for t in f)
    # every language word is absent from *all* pairs' countries and vice versa
    assert not set(d.countries) & set(d.languages)


def test_agreement_filler_carries_no_information_about_the_label():
    """A naive-Bayes classifier trained on the filler words alone must stay at chance level."""
    n, n_pairs = 4000, 4
    d = agreement_language(n, 9, n_pairs=n_pairs, seed=2)
    words = sorted({t for s in d.tokens for t in s[5:-4]})
    index = {w: i for i, w in enumerate(words)}
    bags = torch.zeros(n, len(words))
    for i, s in enumerate(d.tokens):
        for t in s[5:-4]:
            bags[i, index[t]] += 1
    labels = torch.tensor(d.labels)
    half = n // 2
    log_prior = torch.log(torch.bincount(labels[:half], minlength=n_pairs).float() / half)
    word_counts = torch.stack([bags[:half][labels[:half] == c].sum(0) + 1 for c in range(n_pairs)])
    log_lik = torch.log(word_counts / word_counts.sum(1, keepdim=True))  # (C, V)
    pred = (bags[half:] @ log_lik.T + log_prior).argmax(1)
    accuracy = (pred == labels[half:]).float().mean().item()
    chance, sd = 1 / n_pairs, math.sqrt(0.25 * 0.75 / half)
    assert abs(accuracy - chance) < 4 * sd


def test_agreement_validates():
    with pytest.raises(ValueError, match="gap"):
        agreement_language(10, 2, seed=0)
    with pytest.raises(ValueError, match="at most 16"):
        agreement_language(10, 5, n_pairs=17, seed=0)
    with pytest.raises(ValueError, match="n_pairs"):
        agreement_language(10, 5, n_pairs=1, seed=0)


# --- seeds and validation shared by every generator ----------------------------------------------
GENERATORS = {
    "adding_problem": lambda seed: adding_problem(6, 10, seed=seed),
    "copy_task": lambda seed: copy_task(6, 8, 5, 3, seed=seed),
    "running_sum": lambda seed: running_sum(6, 10, seed=seed),
    "add_subtract_stream": lambda seed: add_subtract_stream(6, 10, seed=seed),
    "agreement_language": lambda seed: agreement_language(6, 10, seed=seed),
}


def _flatten(result) -> list:
    if isinstance(result, AgreementData):
        return [result.tokens, result.labels]
    return [t.tolist() for t in result]


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_same_seed_reproduces_different_seed_differs(name):
    make = GENERATORS[name]
    assert _flatten(make(7)) == _flatten(make(7))
    assert _flatten(make(7)) != _flatten(make(8))


def test_generators_leave_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    for make in GENERATORS.values():
        make(1)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: adding_problem(0, 10, seed=0), "n must"),
        (lambda: adding_problem(5, 1, seed=0), "length must"),
        (lambda: adding_problem(5, 10, seed=-1), "seed"),
        (lambda: adding_problem(5, 10, seed=1.5), "seed"),
        (lambda: copy_task(5, 1, 3, 2, seed=0), "n_symbols"),
        (lambda: copy_task(5, 4, 0, 2, seed=0), "seq_len"),
        (lambda: copy_task(5, 4, 3, -1, seed=0), "gap"),
        (lambda: running_sum(5, 0, seed=0), "length must"),
        (lambda: add_subtract_stream(5, 5, seed=0, signal_prob=1.0), "signal_prob"),
    ],
)
def test_generators_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_seed_is_keyword_only():
    with pytest.raises(TypeError):
        adding_problem(5, 10, 0)  # type: ignore[misc]


def test_public_names_resolve_from_the_package():
    assert data.adding_problem is adding_problem and data.AgreementData is AgreementData
    assert data.human_numbers is human_numbers
