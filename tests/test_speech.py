"""Chapter 6's speech page: eSpeak NG synthesis (deterministic, 22,050 Hz), log-mel features
(shapes, resampling of audio at another rate), the spoken-digits data set and its cache, the CTC
loss and the CTC decoders (greedy on peaked outputs, beam search against brute force)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import data, decode, train
from course_lib.data import speech

pytest.importorskip("espeakng_loader")
pytest.importorskip("librosa")


# the same text twice, then slower, then a voice with breath noise (random numbers in the library)
VOICES = [data.Voice("en-us", 175, 50), data.Voice("en-us", 175, 50), data.Voice("en-us", 100, 50),
          data.Voice("en+f5", 175, 50)]


@pytest.fixture(scope="module")
def waves() -> list[np.ndarray]:
    return data.synthesize(["four two seven"] * 4, VOICES)


def test_synthesis_is_int16_at_22050_hz_and_deterministic(waves):
    first, again, slow, other = waves
    assert speech.ESPEAK_RATE == 22_050
    assert first.dtype == np.int16 and first.ndim == 1
    assert 0.5 < len(first) / speech.ESPEAK_RATE < 2.5  # three words at 175 words a minute
    assert np.abs(first).max() > 1000  # audible, not silence
    for a, b in zip(waves, data.synthesize(["four two seven"] * 4, VOICES), strict=True):
        np.testing.assert_array_equal(a, b)  # a new process reads them again sample for sample
    assert abs(len(again) - len(first)) < 100  # read again in the same process: the flutter state moved on
    assert len(slow) > 1.4 * len(first)  # 100 words a minute is slower: the rate reached the library
    assert len(other) != len(first) or not np.array_equal(other, first)  # the voice reached it too


def test_synthesis_in_a_separate_process_reports_errors():
    with pytest.raises(RuntimeError, match="no voice 'no-such-voice'"):
        data.synthesize(["one"], [data.Voice("no-such-voice")])
    with pytest.raises(ValueError, match="same length"):
        data.synthesize(["one", "two"], [data.Voice("en")])
    with pytest.raises(ValueError, match="non-empty string"):
        data.synthesize(["  "], [data.Voice("en")])
    with pytest.raises(ValueError, match="rate"):
        data.Voice("en", rate=20)


def _tone(rate: int, seconds: float = 1.0, hz: float = 1000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return 0.5 * np.sin(2 * np.pi * hz * t)


def test_log_mel_shape_dtype_and_peak_band():
    feats = data.log_mel(_tone(16_000), 16_000, n_mels=40, hop_ms=20.0)
    assert feats.shape == (1 + 16_000 // 320, 40) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    centre = feats[10:-10].mean(0)
    low = data.log_mel(_tone(16_000, hz=300.0), 16_000)[10:-10].mean(0)
    assert centre.argmax() > low.argmax()  # a higher tone peaks in a higher mel band


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100])
def test_audio_at_another_rate_is_resampled_to_the_same_features(rate):
    reference = data.log_mel(_tone(16_000), 16_000)
    feats = data.log_mel(_tone(rate), rate)
    assert feats.shape == reference.shape
    assert feats[5:-5].mean(0).argmax() == reference[5:-5].mean(0).argmax()
    # the loud bands agree to within 0.5 nats (resampling filters differ only near the band edge)
    loud = reference[5:-5].mean(0) > reference.max() - 10
    assert np.abs(feats[5:-5, loud] - reference[5:-5, loud]).mean() < 0.5


def test_int16_audio_is_scaled_like_float():
    x = _tone(16_000)
    # equal up to the int16 rounding noise, which only shows in bands far below the tone
    np.testing.assert_allclose(data.log_mel((x * 32767).astype(np.int16), 16_000), data.log_mel(x, 16_000),
                               atol=0.05)


@pytest.mark.parametrize(
    ("audio", "rate", "match"),
    [
        (np.zeros((2, 100)), 16_000, "1-D"),
        (np.zeros(0), 16_000, "non-empty"),
        (np.array([0.0, np.nan]), 16_000, "NaN"),
        (np.array(["a", "b"]), 16_000, "1-D"),
        (np.zeros(100), 0, "sample_rate"),
        (np.zeros(100), 16_000.0, "sample_rate"),
    ],
)
def test_log_mel_rejects_bad_audio(audio, rate, match):
    with pytest.raises(ValueError, match=match):
        data.log_mel(audio, rate)


def test_config_rejects_shared_voices_and_bad_ranges():
    with pytest.raises(ValueError, match="share no voice"):
        data.SpokenDigitsConfig(train_voices=("en+m1",), test_voices=("en+m1",))
    with pytest.raises(ValueError, match="min_digits"):
        data.SpokenDigitsConfig(min_digits=4, max_digits=3)
    with pytest.raises(ValueError, match="rate"):
        data.SpokenDigitsConfig(rate=(200, 100))


TINY = data.SpokenDigitsConfig(n_train=4, n_valid=2, n_test=3, train_voices=("en+m1", "en-us+f2"),
                               test_voices=("en+m4",), seed=3)


def test_dataset_is_deterministic_cached_and_holds_out_voices(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path))
    fresh = data.load_spoken_digits(TINY)
    files = list((tmp_path / "spoken_digits").glob("*.npz"))
    assert len(files) == 1 and not list((tmp_path / "spoken_digits").glob(".*part"))
    cached = data.load_spoken_digits(TINY)
    assert not fresh[0].from_cache and cached[0].from_cache
    assert cached[0].build_cpu_s == fresh[0].build_cpu_s > 0  # generation time is kept with the data
    for a, b in zip(fresh, cached, strict=True):
        assert a.digits == b.digits and a.voices == b.voices
        for fa, fb in zip(a.features, b.features, strict=True):
            np.testing.assert_array_equal(fa, fb)
    train_split, valid, test = fresh
    assert [len(s) for s in fresh] == [4, 2, 3]
    assert {v.name for v in train_split.voices + valid.voices} <= set(TINY.train_voices)
    assert {v.name for v in test.voices} == {"en+m4"}
    assert all(3 <= len(d) <= 5 for d in train_split.digits)
    assert train_split.features[0].shape[1] == 40
    # the stored features are those of the audio the split can play back (float16 storage)
    again = data.log_mel(test.audio(2), speech.SAMPLE_RATE)  # the third of its chunk
    np.testing.assert_allclose(again, test.features[2], atol=0.02, rtol=0.01)
    with pytest.raises(IndexError):
        test.audio(3)
    batch = next(iter(data.speech_loader(train_split, 4)))
    assert batch.features.shape == (4, max(len(f) for f in train_split.features), 40)
    assert batch.targets[0, : batch.target_lengths[0]].tolist() == [d + 1 for d in train_split.digits[0]]
    stacked = next(iter(data.speech_loader(train_split, 4, stack=2)))
    n0 = len(train_split.features[0])
    assert stacked.lengths[0] == (n0 + 1) // 2 and stacked.features.shape[2] == 80
    torch.testing.assert_close(stacked.features[0, 0], batch.features[0, :2].reshape(-1))  # frames 0 and 1
    with pytest.raises(ValueError, match="stack"):
        data.speech_loader(train_split, 4, stack=0)
    # a config that differs in one field is a different file
    data.load_spoken_digits(TINY, cache=False)
    assert len(list((tmp_path / "spoken_digits").glob("*.npz"))) == 1


def test_digits_to_text():
    assert data.digits_to_text([4, 2, 7]) == "four two seven"
    assert data.digits_to_text([]) == ""
    with pytest.raises(ValueError, match="0, 9"):
        data.digits_to_text([10])


# --- CTC ------------------------------------------------------------------------------------------


def test_ctc_greedy_on_peaked_outputs():
    # frames: a a _ a b b _ _  -> "a a b" (a blank separates the two a's; repeats merge)
    path = [1, 1, 0, 1, 2, 2, 0, 0]
    lp = torch.full((1, len(path), 3), -20.0)
    lp[0, torch.arange(len(path)), torch.tensor(path)] = 0.0
    assert decode.ctc_greedy(lp) == [[1, 1, 2]]
    assert decode.ctc_beam(lp.log_softmax(-1), beam_size=4) == [[1, 1, 2]]
    assert decode.ctc_greedy(lp, [3]) == [[1]]  # only the real frames count


def test_all_blank_output_decodes_to_empty():
    lp = torch.full((2, 5, 4), -10.0)
    lp[:, :, 0] = 0.0
    assert decode.ctc_greedy(lp) == [[], []]
    assert decode.ctc_beam(lp.log_softmax(-1)) == [[], []]
    assert decode.ctc_greedy(lp, [0, 5]) == [[], []]  # zero frames too
    assert data.digits_to_text([c - 1 for c in decode.ctc_greedy(lp)[0]]) == ""


def _brute_force(lp: torch.Tensor) -> dict[tuple[int, ...], float]:
    """Probability of every labelling of one (T, C) output, summing all paths (blank 0)."""
    probs: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(lp.shape[1]), repeat=lp.shape[0]):
        labels = tuple(c for i, c in enumerate(path) if c != 0 and (i == 0 or path[i - 1] != c))
        probs[labels] = probs.get(labels, 0.0) + math.exp(sum(lp[t, c].item() for t, c in enumerate(path)))
    return probs


def test_beam_search_finds_the_most_probable_labelling():
    gen = torch.Generator().manual_seed(0)
    for _ in range(12):
        lp = (2 * torch.randn(1, 5, 3, generator=gen, dtype=torch.float64)).log_softmax(-1)
        probs = _brute_force(lp[0])
        assert math.isclose(sum(probs.values()), 1.0, rel_tol=1e-9)
        best = max(probs, key=probs.get)
        assert tuple(decode.ctc_beam(lp, beam_size=64)[0]) == best
        # torch's CTC loss of the beam's answer agrees with the brute-force probability
        if best:
            nll = F.ctc_loss(lp.transpose(0, 1), torch.tensor([best]), [5], [len(best)], reduction="sum")
            assert math.isclose(math.exp(-nll.item()), probs[best], rel_tol=1e-6)


def test_beam_beats_greedy_when_many_paths_share_a_labelling():
    # each frame: blank 0.6, "a" 0.4. Best path: blank blank -> "" (0.36), but "a" has 0.64 in all
    lp = torch.tensor([[[0.6, 0.4], [0.6, 0.4]]]).log()
    assert decode.ctc_greedy(lp) == [[]]
    assert decode.ctc_beam(lp, beam_size=4) == [[1]]
    assert decode.ctc_beam(lp, beam_size=1) == [[]]  # a beam of one is greedy over prefixes here


def test_ctc_decoders_reject_bad_input():
    with pytest.raises(TypeError, match=r"\(B, T, C\)"):
        decode.ctc_greedy(torch.zeros(5, 3))
    with pytest.raises(TypeError, match="float"):
        decode.ctc_beam(torch.zeros(1, 5, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="lengths"):
        decode.ctc_greedy(torch.zeros(2, 5, 3), [5])
    with pytest.raises(ValueError, match="lengths"):
        decode.ctc_greedy(torch.zeros(1, 5, 3), [6])
    with pytest.raises(ValueError, match="blank"):
        decode.ctc_greedy(torch.zeros(1, 5, 3), blank=3)
    with pytest.raises(ValueError, match="beam_size"):
        decode.ctc_beam(torch.zeros(1, 5, 3), beam_size=0)


def test_ctc_loss_is_the_mean_per_label_and_trains():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))

    def tagger(x, lengths):
        return model(x)

    x = torch.randn(2, 6, 4)
    targets = torch.tensor([[1, 2, 1], [2, 0, 0]])
    batch = data.SpeechBatch(x, torch.tensor([6, 4]), targets, torch.tensor([3, 1]))
    result = train.CTCLoss()(tagger, batch, None)
    lp = model(x).log_softmax(-1).transpose(0, 1)
    expected = F.ctc_loss(lp, batch.targets, batch.lengths, batch.target_lengths, reduction="sum") / 4
    assert int(result.count) == 4
    torch.testing.assert_close(result.loss, expected)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(100):
        opt.zero_grad()
        train.CTCLoss()(tagger, batch, None).loss.backward()
        opt.step()
    assert train.CTCLoss()(tagger, batch, None).loss < 0.5 * result.loss
    with pytest.raises(ValueError, match="per-frame logits"):
        train.CTCLoss()(lambda x, n: model(x)[:, 0], batch, None)
