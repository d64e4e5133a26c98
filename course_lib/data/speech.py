"""Spoken digit strings ("four two seven"), synthesised offline with eSpeak NG, as log-mel features.

eSpeak NG (a formant synthesiser) comes as a library with its voices in the ``espeakng-loader``
wheel; ``synthesize`` drives it through ``ctypes`` (synchronous output, a callback that collects
22,050 Hz int16 samples) in a *child process*: a crash inside the C library cannot take the
notebook's kernel with it, and each call starts the library afresh, so the same request gives
the same samples. ``log_mel`` turns audio into log-mel features (a NumPy STFT and ``librosa``'s
mel filterbank); audio at another sample rate is resampled to ``SAMPLE_RATE`` with ``soxr``
first. ``load_spoken_digits`` builds the data set of chapter 6's speech page: random digit
strings read by many voices, rates and pitches, with noise, the test split read by voice
settings never used in training; it is deterministic given its config and cached on disk.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from .download import cache_dir

__all__ = [
    "DIGIT_WORDS",
    "ESPEAK_RATE",
    "SAMPLE_RATE",
    "Voice",
    "SpokenDigitsConfig",
    "SpokenDigits",
    "SpeechBatch",
    "synthesize",
    "log_mel",
    "digits_to_text",
    "load_spoken_digits",
    "speech_loader",
]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ESPEAK_RATE = 22_050  # what eSpeak NG produces
SAMPLE_RATE = 16_000  # what the features are computed at
BLANK = 0  # CTC label ids: 0 is the blank, digit d is d + 1
_FORMAT = 2  # bump when the cached file's layout or the generation changes
_CHUNK = 100  # utterances per eSpeak process when building a data set
_SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Voice:
    """How eSpeak NG reads one utterance: ``name`` (a voice, optionally ``+variant``, e.g.
    ``"en-us+f2"``), ``rate`` in words per minute (80-450) and ``pitch`` (0-100, 50 is normal)."""

    name: str
    rate: int = 175
    pitch: int = 50

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or not self.name.isascii():
            raise ValueError(f"Voice.name must be an eSpeak voice name such as 'en-us+f2', got {self.name!r}")
        if not (isinstance(self.rate, int) and 80 <= self.rate <= 450):
            raise ValueError(f"Voice.rate must be an int in [80, 450] words per minute, got {self.rate!r}")
        if not (isinstance(self.pitch, int) and 0 <= self.pitch <= 100):
            raise ValueError(f"Voice.pitch must be an int in [0, 100], got {self.pitch!r}")


# --- synthesis: a child process runs eSpeak NG (course_lib/data/_espeak.py) ----------------------


def _synth_stream(texts: Sequence[str], voices: Sequence[Voice], timeout: float):
    """Yield one int16 array per text, as the child process writes them."""
    if isinstance(texts, str) or len(texts) != len(voices):
        raise ValueError("texts and voices must be sequences of the same length (one voice per text)")
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"each text must be a non-empty string, got {text!r}")
    if not all(isinstance(v, Voice) for v in voices):
        raise TypeError("voices must be data.Voice objects")
    request = json.dumps([[t, dataclasses.asdict(v)] for t, v in zip(texts, voices, strict=True)]).encode()
    root = str(Path(__file__).resolve().parents[2])  # the folder holding course_lib
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    with tempfile.TemporaryFile() as err, subprocess.Popen(
        [sys.executable, "-m", "course_lib.data._espeak"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=err, env=env,
    ) as child:
        child.stdin.write(request)  # the child reads all of it before it writes anything
        child.stdin.close()
        for _ in texts:
            head = child.stdout.read(8)
            if len(head) < 8:
                break
            (n,) = struct.unpack("<q", head)
            yield np.frombuffer(child.stdout.read(2 * n), dtype="<i2").copy()
        code = child.wait(timeout=timeout)
        if code != 0 or len(head) < 8:
            err.seek(0)
            raise RuntimeError(f"eSpeak NG synthesis failed (exit code {code}): "
                               f"{err.read().decode(errors='replace')[-2000:]}")


def synthesize(texts: Sequence[str], voices: Sequence[Voice], *, timeout: float = 600.0) -> list[np.ndarray]:
    """Read each text with its voice: a list of int16 arrays at ``ESPEAK_RATE`` (22,050 Hz).

    Runs eSpeak NG in a child process (``python -m course_lib.data._espeak``), so a crash in the C
    library raises ``RuntimeError`` here instead of killing the caller, and every call starts the
    library afresh: the same lists give the same samples. Within one call the library's wave
    generator carries its state (the slow pitch flutter) from one utterance to the next, so the
    same text read twice in one call differs by a few samples; ``load_spoken_digits`` therefore
    synthesises in fixed chunks. A few ms of CPU per short utterance, plus the child's start.
    """
    return list(_synth_stream(texts, voices, timeout))


# --- features -----------------------------------------------------------------------------------


def _as_audio(audio: np.ndarray | Sequence[float], sample_rate: int) -> np.ndarray:
    """Float64 samples in [-1, 1] at ``SAMPLE_RATE``; int16 is scaled, another rate resampled."""
    if not (isinstance(sample_rate, int) and not isinstance(sample_rate, bool) and sample_rate > 0):
        raise ValueError(f"sample_rate must be a positive int (Hz), got {sample_rate!r}")
    x = np.asarray(audio)
    numeric = np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)
    if x.ndim != 1 or x.size == 0 or not numeric:
        raise ValueError(f"audio must be a non-empty 1-D array of samples (mono), got {x.shape} {x.dtype}")
    x = x / 32768.0 if x.dtype == np.int16 else x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("audio holds NaN or infinite samples")
    if sample_rate != SAMPLE_RATE:
        import soxr

        x = soxr.resample(x, sample_rate, SAMPLE_RATE)  # band-limited, so no aliasing
    return x


def log_mel(audio: np.ndarray | Sequence[float], sample_rate: int, *, n_mels: int = 40, hop_ms: float = 20.0,
            n_fft: int = 512) -> np.ndarray:
    """Log-mel features (T, n_mels) float32 of mono audio (int16 or float in [-1, 1]) at any rate.

    Audio at another rate than ``SAMPLE_RATE`` (16 kHz) is resampled first (``soxr``), so the
    same speech gives the same features whatever rate it was recorded at. Frames of ``n_fft``
    samples under a Hann window every ``hop_ms`` ms, power spectrum, ``librosa``'s slaney mel
    filterbank (60 Hz to 7.6 kHz), then ``log(mel + 1e-6)``. T = 1 + len(resampled) // hop.
    """
    import librosa

    if not (isinstance(n_mels, int) and 1 <= n_mels <= 128 and isinstance(n_fft, int) and n_fft >= 64):
        raise ValueError(f"n_mels must be in [1, 128] and n_fft >= 64, got {n_mels!r}, {n_fft!r}")
    x = _as_audio(audio, sample_rate)
    hop = int(round(SAMPLE_RATE * hop_ms / 1000))
    if hop < 1:
        raise ValueError(f"hop_ms must give at least one sample, got {hop_ms!r}")
    padded = np.pad(x, (n_fft // 2, n_fft // 2 + hop))  # centre frames on t * hop
    n_frames = 1 + len(x) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]  # (T, n_fft)
    spec = np.abs(np.fft.rfft(padded[idx] * np.hanning(n_fft), axis=1)) ** 2  # (T, n_fft // 2 + 1)
    fb = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=n_fft, n_mels=n_mels, fmin=60.0, fmax=7600.0)  # (mels, F)
    return np.log(spec @ fb.T + 1e-6).astype(np.float32)  # (T, n_mels)


def digits_to_text(digits: Sequence[int]) -> str:
    """``[4, 2, 7]`` -> ``"four two seven"``; an empty sequence (all-blank CTC output) -> ``""``."""
    if any(not (isinstance(d, (int, np.integer)) and 0 <= d <= 9) for d in digits):
        raise ValueError(f"digits must be ints in [0, 9], got {list(digits)!r}")
    return " ".join(DIGIT_WORDS[d] for d in digits)


# --- the data set of chapter 6's speech page ----------------------------------------------------

_DIALECTS = ("en", "en-us", "en-029", "en-gb-scotland", "en-gb-x-rp")
# eSpeak NG's voice variants (espeak-ng-data/voices/!v); the held-out ones lie within the range of
# formant shifts and pitches that the training variants span
_TRAIN_VARIANTS = ("m1", "m2", "m3", "m5", "m6", "f1", "f3", "f5")
_TEST_VARIANTS = ("m4", "f4")


@dataclass(frozen=True)
class SpokenDigitsConfig:
    """What ``load_spoken_digits`` generates. Every utterance reads ``min_digits``-``max_digits``
    random digits with a voice (a dialect ``+`` a variant), a rate (words per minute) and a pitch
    drawn uniformly from the ranges, after up to ``max_silence_s`` of silence, under white noise
    at an SNR drawn from ``snr_db``. Train and validation use ``train_voices``; test uses
    ``test_voices``, which no training utterance uses, so test scores say how the model does on
    voices it never heard. ``n_mels``, ``hop_ms``: the features (``log_mel``)."""

    n_train: int = 2000
    n_valid: int = 200
    n_test: int = 400
    min_digits: int = 3
    max_digits: int = 5
    train_voices: tuple[str, ...] = tuple(f"{d}+{v}" for d in _DIALECTS for v in _TRAIN_VARIANTS)
    test_voices: tuple[str, ...] = tuple(f"{d}+{v}" for d in _DIALECTS for v in _TEST_VARIANTS)
    rate: tuple[int, int] = (130, 230)
    pitch: tuple[int, int] = (25, 75)
    snr_db: tuple[float, float] = (10.0, 30.0)
    max_silence_s: float = 0.2
    n_mels: int = 40
    hop_ms: float = 20.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_train", "n_valid", "n_test"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not (isinstance(self.min_digits, int) and 1 <= self.min_digits <= self.max_digits):
            got = f"{self.min_digits!r}, {self.max_digits!r}"
            raise ValueError(f"need ints 1 <= min_digits <= max_digits, got {got}")
        if not self.train_voices or not self.test_voices or set(self.train_voices) & set(self.test_voices):
            raise ValueError("train_voices and test_voices must be non-empty and share no voice")
        for name in ("rate", "pitch", "snr_db"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name} must be a (low, high) range, got {getattr(self, name)!r}")
        Voice("x", self.rate[0], self.pitch[0]), Voice("x", self.rate[1], self.pitch[1])  # checks the ranges


@dataclass
class SpokenDigits:
    """One split of spoken digit strings: item i is ``features[i]`` (T_i, n_mels) float32 log-mel
    frames and ``digits[i]`` (its digits, 0-9), read by ``voices[i]`` at ``snr_db[i]``.
    ``audio(i)`` rebuilds the noisy waveform at ``SAMPLE_RATE`` (to listen to). ``build_cpu_s``:
    the CPU seconds (this process and its children) that generating all three splits took when
    they were built; ``from_cache``: whether this call read them from the cache instead."""

    name: str
    features: list[np.ndarray]
    digits: list[list[int]]
    voices: list[Voice]
    snr_db: np.ndarray
    config: SpokenDigitsConfig
    plans: list[dict]
    build_cpu_s: float = 0.0
    from_cache: bool = False

    def __len__(self) -> int:
        return len(self.digits)

    @property
    def texts(self) -> list[str]:
        return [digits_to_text(d) for d in self.digits]

    def audio(self, i: int) -> np.ndarray:
        """The noisy waveform of item ``i`` (float32 at ``SAMPLE_RATE``), synthesised again exactly
        as for the features: with the items before it in its chunk (a fraction of a second)."""
        if not (isinstance(i, int) and 0 <= i < len(self)):
            raise IndexError(f"item {i!r} is not in a split of {len(self)}")
        start = i - i % _CHUNK
        *_, raw = _synth_plans(self.plans[start: i + 1])
        return _degrade(raw, self.plans[i])


def _plan(config: SpokenDigitsConfig, split: str, n: int) -> list[dict]:
    """The random choices of every utterance of a split, each from its own seeded generator."""
    voices = config.test_voices if split == "test" else config.train_voices
    code = _SPLITS.index(split)
    plans = []
    for i in range(n):
        rng = np.random.default_rng([config.seed, code, i])
        digits = rng.integers(0, 10, int(rng.integers(config.min_digits, config.max_digits + 1)))
        name = str(voices[int(rng.integers(len(voices)))])
        rate = int(rng.integers(config.rate[0], config.rate[1] + 1))
        voice = Voice(name, rate, int(rng.integers(config.pitch[0], config.pitch[1] + 1)))
        plans.append({"digits": [int(d) for d in digits], "voice": dataclasses.asdict(voice),
                      "snr_db": float(rng.uniform(*config.snr_db)),
                      "silence_s": [float(s) for s in rng.uniform(0, config.max_silence_s, 2)],
                      "noise_seed": int(rng.integers(2**32))})
    return plans


def _degrade(raw: np.ndarray, plan: dict) -> np.ndarray:
    """Resample eSpeak's int16 output to ``SAMPLE_RATE``, pad silence, add white noise at the SNR."""
    x = _as_audio(raw, ESPEAK_RATE)
    before, after = (int(s * SAMPLE_RATE) for s in plan["silence_s"])
    x = np.pad(x, (before, after))
    power = float(np.mean(x[before: len(x) - after] ** 2)) + 1e-12  # speech power, silence excluded
    noise = np.random.default_rng(plan["noise_seed"]).standard_normal(len(x))
    x = x + noise * np.sqrt(power / 10 ** (plan["snr_db"] / 10))
    return (x / max(1.0, float(np.abs(x).max()))).astype(np.float32)  # keep within [-1, 1]


def _synth_plans(plans: list[dict]):
    """Raw audio of each plan, each run of ``_CHUNK`` plans read by a fresh child process."""
    for start in range(0, len(plans), _CHUNK):
        chunk = plans[start: start + _CHUNK]
        texts = [digits_to_text(p["digits"]) for p in chunk]
        yield from _synth_stream(texts, [Voice(**p["voice"]) for p in chunk], 600.0)


def _build(config: SpokenDigitsConfig, split: str, n: int) -> dict[str, np.ndarray]:
    plans = _plan(config, split, n)
    feats = [log_mel(_degrade(raw, p), SAMPLE_RATE, n_mels=config.n_mels, hop_ms=config.hop_ms)
             for raw, p in zip(_synth_plans(plans), plans, strict=True)]
    lengths = np.array([len(f) for f in feats])
    return {f"{split}_features": np.concatenate(feats).astype(np.float16), f"{split}_lengths": lengths,
            f"{split}_plans": np.array(json.dumps(plans))}


def _cache_file(config: SpokenDigitsConfig) -> Path:
    from importlib.metadata import version

    key = json.dumps([_FORMAT, version("espeakng-loader"), dataclasses.asdict(config)], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / "spoken_digits" / f"spoken_digits-{digest}.npz"


def _split(arrays, config: SpokenDigitsConfig, split: str, from_cache: bool) -> SpokenDigits:
    lengths = arrays[f"{split}_lengths"]
    feats = np.split(arrays[f"{split}_features"].astype(np.float32), np.cumsum(lengths)[:-1])
    plans = json.loads(str(arrays[f"{split}_plans"]))
    return SpokenDigits(split, feats, [p["digits"] for p in plans], [Voice(**p["voice"]) for p in plans],
                        np.array([p["snr_db"] for p in plans]), config, plans, float(arrays["build_cpu_s"]),
                        from_cache)


def load_spoken_digits(config: SpokenDigitsConfig | None = None, *, cache: bool = True
                       ) -> tuple[SpokenDigits, SpokenDigits, SpokenDigits]:
    """(train, valid, test) spoken digit strings as ``config`` says (default ``SpokenDigitsConfig()``).

    Deterministic: the same config gives the same data, bit for bit. With ``cache=True`` the
    features are kept in ``cache_dir()/spoken_digits/`` (about 17 MB for the default, float16)
    under a name hashed from the config, written atomically; a later call reads them back in a
    fraction of a second instead of synthesising again (about 13 CPU-seconds for the default).
    """
    config = SpokenDigitsConfig() if config is None else config
    if not isinstance(config, SpokenDigitsConfig):
        raise TypeError(f"config must be a data.SpokenDigitsConfig, got {type(config).__name__}")
    path = _cache_file(config)
    if cache and path.is_file():
        with np.load(path) as arrays:
            return tuple(_split(arrays, config, s, True) for s in _SPLITS)  # type: ignore[return-value]
    start = os.times()
    arrays: dict[str, np.ndarray] = {}
    for split, n in zip(_SPLITS, (config.n_train, config.n_valid, config.n_test), strict=True):
        arrays.update(_build(config, split, n))
    end = os.times()  # children: the eSpeak processes, which have all exited
    arrays["build_cpu_s"] = np.array(sum(end[:4]) - sum(start[:4]))
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as f:
                    np.savez(f, **arrays)
                os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared classroom cache must be readable
                os.replace(tmp, path)  # readers see the whole file or none
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError:
            pass  # a read-only cache: the data is still returned, just not kept
    return tuple(_split(arrays, config, s, False) for s in _SPLITS)  # type: ignore[return-value]


# --- batches for CTC training -------------------------------------------------------------------


class SpeechBatch(NamedTuple):
    """A batch for a CTC model, batch-first.

    features: (B, T, F) float32, zero after each utterance's frames; lengths: (B,) int64 frames
    (on the CPU, for packing); targets: (B, S) int64 labels (digit + 1; 0 is the CTC blank, also
    the padding); target_lengths: (B,) int64.
    """

    features: Tensor
    lengths: Tensor
    targets: Tensor
    target_lengths: Tensor


class _SpeechDataset(Dataset):
    def __init__(self, split: SpokenDigits, stack: int):
        self.split, self.stack = split, stack

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        f = self.split.features[i]  # (T, F)
        f = (f - f.mean(0)) / (f.std(0) + 1e-5)  # per-utterance normalisation: gain and channel cancel
        f = np.pad(f, ((0, -len(f) % self.stack), (0, 0)))  # zeros up to a multiple of stack
        f = f.reshape(len(f) // self.stack, self.stack * f.shape[1])  # (ceil(T / stack), stack * F)
        return torch.from_numpy(np.ascontiguousarray(f)), torch.tensor(self.split.digits[i]) + 1


def _collate(items: list[tuple[Tensor, Tensor]]) -> SpeechBatch:
    feats, labels = zip(*items, strict=True)
    pad = torch.nn.utils.rnn.pad_sequence
    return SpeechBatch(pad(list(feats), batch_first=True), torch.tensor([len(f) for f in feats]),
                       pad(list(labels), batch_first=True), torch.tensor([len(y) for y in labels]))


def speech_loader(split: SpokenDigits, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                  stack: int = 1) -> DataLoader:
    """A ``DataLoader`` of ``SpeechBatch`` es over a split, each utterance's features normalised
    to zero mean and unit variance per mel band. ``stack`` > 1 joins every ``stack`` consecutive
    frames into one of ``stack * n_mels`` features (zero-padding the last), so a recurrent layer
    takes ``stack`` times fewer steps. ``shuffle`` draws from a generator seeded with ``seed``."""
    if not isinstance(split, SpokenDigits):
        raise TypeError(f"split must be a data.SpokenDigits, got {type(split).__name__}")
    for name, value in (("batch_size", batch_size), ("stack", stack)):
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return DataLoader(_SpeechDataset(split, stack), batch_size=batch_size, shuffle=shuffle,
                      collate_fn=_collate, generator=torch.Generator().manual_seed(seed) if shuffle else None)
