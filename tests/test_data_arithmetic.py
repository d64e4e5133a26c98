"""Tests for data.arithmetic_problems (chapter 6's encoder-decoder arithmetic)."""

from __future__ import annotations

import pytest

from course_lib import data


def test_answers_are_the_sums_and_differences() -> None:
    problems = data.arithmetic_problems(500, 4, seed=0)
    ops = set()
    for question, answer in problems:
        op = "+" if "+" in question else "-"
        a, b = question.split(op)
        assert int(answer) == (int(a) + int(b) if op == "+" else int(a) - int(b))
        ops.add(op)
    assert ops == {"+", "-"}
    assert any(answer.startswith("-") for _, answer in problems)  # negative differences occur


def test_digit_counts_are_uniform_and_bounded() -> None:
    problems = data.arithmetic_problems(2000, 3, seed=1, min_digits=2, ops="+")
    lengths = [len(part) for q, _ in problems for part in q.split("+")]
    assert set(lengths) == {2, 3}  # no leading zeros, no one-digit operand
    assert 0.45 < lengths.count(2) / len(lengths) < 0.55
    assert all(not part.startswith("0") for q, _ in problems for part in q.split("+"))


def test_reverse_writes_every_number_backwards() -> None:
    forward = data.arithmetic_problems(200, 5, seed=2)
    backward = data.arithmetic_problems(200, 5, seed=2, reverse=True)
    for (q, a), (rq, ra) in zip(forward, backward, strict=True):
        op = "+" if "+" in q else "-"
        assert rq.split(op) == [part[::-1] for part in q.split(op)]
        assert ra == ("-" + a[1:][::-1] if a.startswith("-") else a[::-1])


def test_same_seed_same_problems() -> None:
    assert data.arithmetic_problems(50, 6, seed=3) == data.arithmetic_problems(50, 6, seed=3)
    assert data.arithmetic_problems(50, 6, seed=3) != data.arithmetic_problems(50, 6, seed=4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0, "max_digits": 3}, "n must"),
        ({"n": 5, "max_digits": 2, "min_digits": 3}, "max_digits must"),
        ({"n": 5, "max_digits": 3, "ops": "*"}, "ops must"),
        ({"n": 5, "max_digits": 3, "ops": ""}, "ops must"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        data.arithmetic_problems(seed=0, **kwargs)
