"""Synthetic sequence tasks: small, seeded, with known answers and known trivial baselines.

Each generator takes an explicit ``seed`` (it draws from its own ``torch.Generator``, leaving the
global random state alone), so the same call always returns the same data. Used in chapter 1
(``running_sum``, ``add_subtract_stream``, ``human_numbers``), chapter 3 and the memory labs
(``adding_problem``, ``copy_task``, ``agreement_language``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "adding_problem",
    "copy_task",
    "running_sum",
    "add_subtract_stream",
    "number_to_words",
    "human_numbers",
    "human_numbers_split",
    "AgreementData",
    "agreement_language",
    "arithmetic_problems",
]


def _int_at_least(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _generator(seed: object) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
    return torch.Generator().manual_seed(seed)


def adding_problem(n: int, length: int, *, seed: int) -> tuple[Tensor, Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015).

    x: (n, length, 2) float32. Channel 0 holds values from U(0, 1); channel 1 is a marker that is 1
    at exactly two positions, one in the first half (``t < length // 2``) and one in the second.
    y: (n,) float32, the sum of the two marked values. The model must remember the first marked
    value across up to ``length`` steps. Baseline: always predicting 1 (the mean of y) scores an
    MSE of Var(U1 + U2) = 2/12 = 1/6 ~ 0.167; a model only helps if it beats that.
    """
    _int_at_least("n", n, 1)
    _int_at_least("length", length, 2)
    g = _generator(seed)
    values = torch.rand(n, length, generator=g)  # (n, length)
    first = torch.randint(0, length // 2, (n,), generator=g)  # (n,)
    second = torch.randint(length // 2, length, (n,), generator=g)  # (n,)
    marker = torch.zeros(n, length)
    rows = torch.arange(n)
    marker[rows, first] = 1.0
    marker[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]  # (n,)
    return torch.stack([values, marker], dim=-1), y  # (n, length, 2), (n,)


def copy_task(n: int, n_symbols: int, seq_len: int, gap: int, *, seed: int) -> tuple[Tensor, Tensor]:
    """The copying-memory task with a controllable gap (Hochreiter & Schmidhuber 1997; Arjovsky,
    Shah & Bengio 2016).

    Token ids: 0 = blank, 1..n_symbols = symbols, ``n_symbols + 1`` = go marker (so an embedding
    needs ``n_symbols + 2`` rows and the output layer ``n_symbols + 1`` classes). With
    ``L = 2 * seq_len + gap + 1``:
    x: (n, L) int64 = ``seq_len`` random symbols, ``gap`` blanks, the go marker, ``seq_len`` blanks;
    y: (n, L) int64 = blanks, except ``y[:, -seq_len:]``, which repeats the symbols in order.
    Chance level: guessing a random symbol on the recalled positions is right 1/n_symbols of the
    time; the memoryless baseline (blanks, then uniform guesses) has cross-entropy
    ``seq_len * log(n_symbols) / L`` per step.
    """
    _int_at_least("n", n, 1)
    _int_at_least("n_symbols", n_symbols, 2)
    _int_at_least("seq_len", seq_len, 1)
    _int_at_least("gap", gap, 0)
    g = _generator(seed)
    symbols = torch.randint(1, n_symbols + 1, (n, seq_len), generator=g)  # (n, S)
    total = 2 * seq_len + gap + 1
    x = torch.zeros(n, total, dtype=torch.int64)  # (n, L)
    x[:, :seq_len] = symbols
    x[:, seq_len + gap] = n_symbols + 1  # go: start recalling now
    y = torch.zeros(n, total, dtype=torch.int64)  # (n, L)
    y[:, -seq_len:] = symbols
    return x, y


def running_sum(n: int, length: int, *, seed: int) -> tuple[Tensor, Tensor]:
    """Learn to add: a stream of numbers and, at every step, the sum so far (chapter 1).

    x: (n, length, 1) float32, values from U(-1, 1) (zero mean, so sums stay small);
    y: (n, length, 1) float32, ``y[:, t] = x[:, 0] + ... + x[:, t]``. A linear RNN with weights 1
    solves it exactly. Baseline: predicting 0 gives MSE = mean over t of (t + 1)/3 = (length + 1)/6.
    """
    _int_at_least("n", n, 1)
    _int_at_least("length", length, 1)
    g = _generator(seed)
    x = torch.rand(n, length, 1, generator=g) * 2 - 1  # (n, T, 1)
    return x, x.cumsum(dim=1)  # (n, T, 1), (n, T, 1)


def add_subtract_stream(
    n: int, length: int, *, seed: int, signal_prob: float = 0.2
) -> tuple[Tensor, Tensor]:
    """Numbers interleaved with signals that switch between adding and subtracting (chapter 1).

    After an example in NVIDIA's introductory RNN material: the running result must depend on a
    mode that the model remembers from the last signal it saw. Each step is, with probability
    ``signal_prob``, a signal (``add`` or ``subtract`` with equal odds, possibly repeating the
    current mode), otherwise a number from U(0, 1). The mode starts as ``add``.
    x: (n, length, 3) float32 with channels (value, is_add_signal, is_sub_signal); a signal step has
    value 0 and one flag set, a number step has both flags 0.
    y: (n, length, 1) float32, the running result: numbers are added or subtracted according to the
    latest signal; a signal step leaves it unchanged. ``running_sum`` is the case with no signals.
    """
    _int_at_least("n", n, 1)
    _int_at_least("length", length, 1)
    if not isinstance(signal_prob, (int, float)) or not 0.0 <= signal_prob < 1.0:
        raise ValueError(f"signal_prob must be a number in [0, 1), got {signal_prob!r}")
    g = _generator(seed)
    is_signal = torch.rand(n, length, generator=g) < signal_prob  # (n, T)
    is_sub = torch.randint(0, 2, (n, length), generator=g).bool() & is_signal  # (n, T)
    is_add = is_signal & ~is_sub
    values = torch.rand(n, length, generator=g) * ~is_signal  # (n, T)
    # The mode at step t is set by the latest signal at or before t: forward-fill its position.
    steps = torch.arange(length).expand(n, length)
    last = torch.where(is_signal, steps, torch.full_like(steps, -1)).cummax(dim=1).values  # (n, T)
    last_is_sub = is_sub.gather(1, last.clamp(min=0)) & (last >= 0)
    sign = 1.0 - 2.0 * last_is_sub.float()  # (n, T): +1 add, -1 subtract
    y = (sign * values).cumsum(dim=1)  # (n, T)
    x = torch.stack([values, is_add.float(), is_sub.float()], dim=-1)  # (n, T, 3)
    return x, y.unsqueeze(-1)  # (n, T, 3), (n, T, 1)


# --- human numbers (fastai's HUMAN_NUMBERS; Howard & Gugger, fastbook chapter 12) ---------------
_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _below_hundred(k: int) -> list[str]:
    if k < 20:
        return [_ONES[k]]
    tens, ones = divmod(k, 10)
    return [_TENS[tens]] + ([_ONES[ones]] if ones else [])


def number_to_words(k: int) -> str:
    """English words for ``k`` in 1..9999, without hyphens or "and" (as in fastai's corpus).

    21 -> "twenty one"; 105 -> "one hundred five"; 9999 -> "nine thousand nine hundred ninety nine".
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 9999:
        raise ValueError(f"number_to_words covers ints 1..9999, got {k!r}")
    thousands, rest = divmod(k, 1000)
    hundreds, rest = divmod(rest, 100)
    words: list[str] = []
    if thousands:
        words += [_ONES[thousands], "thousand"]
    if hundreds:
        words += [_ONES[hundreds], "hundred"]
    if rest:
        words += _below_hundred(rest)
    return " ".join(words)


def human_numbers() -> list[str]:
    """The tokens of "one . two . three . ... . nine thousand nine hundred ninety nine" (chapter 1).

    The numbers in words joined by " . ", split on spaces, exactly as fastbook builds its corpus:
    63,095 tokens over a vocabulary of 30 (29 number words and "."). fastai's files hold 1..7999
    (train.txt) and 8001..9999 (valid.txt), so 8000 is absent here too: 9,998 numbers. A tiny,
    fully regular language for a first word-level LM.
    """
    numbers = (k for k in range(1, 10000) if k != 8000)
    return " . ".join(number_to_words(k) for k in numbers).split(" ")


def human_numbers_split(fraction: float = 0.8) -> tuple[list[str], list[str]]:
    """``human_numbers()`` cut by position at ``int(fraction * 63095)``: (train, valid) token lists.

    The validation part holds the largest numbers, so it tests generalisation to unseen numbers.
    """
    if not isinstance(fraction, (int, float)) or not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be a number in (0, 1), got {fraction!r}")
    tokens = human_numbers()
    cut = int(fraction * len(tokens))
    return tokens[:cut], tokens[cut:]


# --- long-range agreement -----------------------------------------------------------------------
_PAIRS = (
    ("france", "french"), ("germany", "german"), ("spain", "spanish"), ("italy", "italian"),
    ("japan", "japanese"), ("china", "chinese"), ("russia", "russian"), ("greece", "greek"),
    ("sweden", "swedish"), ("poland", "polish"), ("portugal", "portuguese"), ("turkey", "turkish"),
    ("finland", "finnish"), ("norway", "norwegian"), ("denmark", "danish"), ("hungary", "hungarian"),
)  # fmt: skip
# Filler words: everyday, label-free, and disjoint from every country and language above.
_FILLER = (
    "we lived in a small house near the river and my father worked at the old mill while my mother "
    "taught music at the school on the hill every summer our family walked to the lake with friends "
    "who loved long stories about the sea after many years i moved to a busy city for work and "
    "studied late at night with coffee books and a cat named pepper"
).split()
_PREFIX = ("i", "grew", "up", "in")
_INFIX = ("i", "speak", "fluent")


@dataclass(frozen=True)
class AgreementData:
    """Sentences "i grew up in <country> <filler> i speak fluent <language>" and their labels.

    tokens: n token lists, all of length ``gap + 6``; the country is ``tokens[i][4]`` and the
    language is ``tokens[i][-1]``, ``gap + 1`` positions later.
    labels: n ints in ``range(n_pairs)``; ``languages[labels[i]]`` ends sentence i.
    countries, languages: the ``n_pairs`` words, aligned by index.
    Classifier: read ``tokens[i][:-1]``, predict ``labels[i]``. LM: predict the last token.
    Chance accuracy is 1 / n_pairs.
    """

    tokens: list[list[str]]
    labels: list[int]
    countries: list[str]
    languages: list[str]
    gap: int


def agreement_language(n: int, gap: int, *, n_pairs: int = 8, seed: int) -> AgreementData:
    """A long-range agreement language: the country early on decides the language word at the end.

    After the example in Olah's "Understanding LSTM Networks" (2015). ``gap`` is the number of
    tokens strictly between the country and the language word (``gap - 3`` filler words, then
    "i speak fluent"), so the model must carry the country across ``gap`` steps; ``gap >= 3``.
    The filler is drawn from one fixed word list with no country or language, independently of the
    label, so it carries no information about the answer: chance accuracy is ``1 / n_pairs``.
    Each filler is a contiguous run of the word list starting at a random place (wrapping
    around), which reads like text rather than word salad. ``n_pairs`` is at most 16.
    """
    _int_at_least("n", n, 1)
    _int_at_least("gap", gap, len(_INFIX))
    _int_at_least("n_pairs", n_pairs, 2)
    if n_pairs > len(_PAIRS):
        raise ValueError(f"n_pairs must be at most {len(_PAIRS)}, got {n_pairs}")
    g = _generator(seed)
    labels = torch.randint(0, n_pairs, (n,), generator=g).tolist()
    starts = torch.randint(0, len(_FILLER), (n,), generator=g).tolist()  # drawn apart from labels
    n_filler = gap - len(_INFIX)
    tokens = []
    for label, start in zip(labels, starts, strict=True):
        filler = [_FILLER[(start + j) % len(_FILLER)] for j in range(n_filler)]
        country, language = _PAIRS[label]
        tokens.append([*_PREFIX, country, *filler, *_INFIX, language])
    return AgreementData(
        tokens=tokens,
        labels=labels,
        countries=[c for c, _ in _PAIRS[:n_pairs]],
        languages=[lang for _, lang in _PAIRS[:n_pairs]],
        gap=gap,
    )


# --- arithmetic as text (after NVIDIA's RNN that learns to add and subtract; chapter 6) ----------
def arithmetic_problems(
    n: int, max_digits: int, *, seed: int, min_digits: int = 1, ops: str = "+-", reverse: bool = False
) -> list[tuple[str, str]]:
    """``n`` problems ``("347+85", "432")`` / ``("85-347", "-262")`` as (question, answer) strings.

    Each operand's number of digits is drawn uniformly from ``[min_digits, max_digits]``, then the
    operand uniformly among the numbers with that many digits (0 counts as one digit), so short and
    long operands are equally common; the operator is drawn uniformly from ``ops`` (``"+"`` and/or
    ``"-"``). A difference may be negative. ``reverse=True`` writes every number's digits least
    significant first (``"743+58"`` -> ``"234"``; a minus sign stays in front), the order in which
    carries propagate. Used in chapters/06_arithmetic.md.
    """
    _int_at_least("n", n, 1)
    _int_at_least("min_digits", min_digits, 1)
    _int_at_least("max_digits", max_digits, min_digits)
    if not isinstance(ops, str) or not ops or set(ops) - {"+", "-"}:
        raise ValueError(f"ops must be a non-empty string of '+' and '-', got {ops!r}")
    g = _generator(seed)

    def operand() -> int:
        d = int(torch.randint(min_digits, max_digits + 1, (1,), generator=g))
        low = 0 if d == 1 else 10 ** (d - 1)
        return low + int(torch.randint(0, 10**d - low, (1,), generator=g))  # Python ints: no overflow

    def write(k: int) -> str:
        digits = str(abs(k))[::-1] if reverse else str(abs(k))
        return ("-" if k < 0 else "") + digits

    out = []
    for _ in range(n):
        a, b = operand(), operand()
        op = ops[int(torch.randint(0, len(ops), (1,), generator=g))]
        out.append((f"{write(a)}{op}{write(b)}", write(a + b if op == "+" else a - b)))
    return out
