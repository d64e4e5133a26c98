"""Synthetic scenes (course_lib.data.scenes) and the captioner (course_lib.models.captioning)."""

from __future__ import annotations

import pytest
import torch

from course_lib import data, train
from course_lib.models import CaptionConfig, CaptionModel, greedy_caption


def test_scenes_are_deterministic_and_shaped():
    a, b = data.make_scenes(20, "train", seed=3), data.make_scenes(20, "train", seed=3)
    assert torch.equal(a.images, b.images) and a.captions == b.captions
    c = data.make_scenes(20, "train", seed=4)
    assert c.captions != a.captions
    assert a.images.shape == (20, 3, 32, 32) and a.images.dtype == torch.float32
    assert 0.0 <= float(a.images.min()) and float(a.images.max()) <= 1.0
    assert data.make_scenes(20, "test", seed=3).captions != a.captions  # splits draw from their own streams


def _combos(caption: str) -> set[tuple[str, str]]:
    words = caption.split()
    return {(words[2], words[3]), (words[-2], words[-1])}


def test_held_out_combinations_only_in_novel_split():
    config = data.SceneConfig()
    held = set(config.held_out)
    for split in ("train", "test"):
        for caption in data.make_scenes(300, split, seed=0).captions:
            assert not _combos(caption) & held, caption
    novel = data.make_scenes(300, "novel", seed=0).captions
    assert all(_combos(c) & held for c in novel)


def test_caption_matches_the_picture():
    """The first-named shape is the left (or upper) one: its colour dominates that half of the image."""
    config = data.SceneConfig(noise=0.0)
    scenes = data.make_scenes(30, "train", seed=1, config=config)
    rgb = {"red": 0, "green": 1, "blue": 2}
    for image, caption in zip(scenes.images, scenes.captions, strict=True):
        words = caption.split()
        first = words[2]
        if first not in rgb:
            continue
        half = image[:, :16, :] if "above" in words else image[:, :, :16]
        assert half[rgb[first]].sum() > 0, caption


def test_bad_images_name_the_expected_shape():
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        data.check_images(torch.zeros(2, 1, 32, 32), 32)
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        data.check_images(torch.zeros(2, 3, 28, 28), 32)
    with pytest.raises(ValueError, match="floating point"):
        data.check_images(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), 32)
    with pytest.raises(TypeError):
        data.check_images([[0.0]], 32)
    model = CaptionModel(CaptionConfig(vocab_size=len(data.caption_vocab())))
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        model(torch.zeros(2, 4, 32, 32), None, torch.zeros(2, 5, dtype=torch.long))


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        data.make_scenes(3, "val")
    with pytest.raises(ValueError, match="n must be"):
        data.make_scenes(0)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        data.encode_captions(["a huge red circle"], data.caption_vocab())
    with pytest.raises(ValueError, match="too small"):
        data.SceneConfig(image_size=16)


def test_encode_captions_roundtrip():
    vocab = data.caption_vocab()
    scenes = data.make_scenes(8, "test", seed=0)
    ids = data.encode_captions(scenes.captions, vocab)
    assert ids.dtype == torch.long and ids.shape[0] == 8
    for row, caption in zip(ids.tolist(), scenes.captions, strict=True):
        assert row[0] == vocab.bos_id
        words = vocab.decode(row[1:row.index(vocab.eos_id)])
        assert " ".join(words) == caption


@pytest.mark.parametrize("attention", ["additive", None])
def test_model_shapes_and_attention_weights(attention):
    torch.manual_seed(0)
    vocab = data.caption_vocab()
    config = CaptionConfig(vocab_size=len(vocab), channels=16, hidden_size=32, attention=attention)
    model = CaptionModel(config)
    images = data.make_scenes(3, "train", seed=0).images
    logits, weights = model(images, None, torch.zeros(3, 7, dtype=torch.long))
    assert logits.shape == (3, 7, len(vocab))
    if attention is None:
        assert weights is None
    else:
        assert weights.shape == (3, 7, 64)
        assert torch.allclose(weights.sum(-1), torch.ones(3, 7), atol=1e-5)
        assert float(weights.detach().min()) >= 0.0
    ids, w = greedy_caption(model, images, vocab.bos_id, vocab.eos_id, max_len=6)
    assert len(ids) == 3 and all(len(r) <= 6 for r in ids)
    assert (w is None) == (attention is None)


def test_tiny_overfit_reaches_exact_captions():
    """Eight scenes, trained on alone, are captioned word for word: the model and loss can learn."""
    torch.manual_seed(0)
    vocab = data.caption_vocab()
    scenes = data.make_scenes(8, "train", seed=0)
    ids = data.encode_captions(scenes.captions, vocab)
    batch = (scenes.images, torch.full((8,), 64), ids[:, :-1], ids[:, 1:])
    model = CaptionModel(CaptionConfig(vocab_size=len(vocab), channels=16, hidden_size=64))
    config = train.TrainConfig(steps=150, lr=1e-2, device="cpu", progress=False, live_plot=False)
    history = train.fit(model, [batch], config, loss_fn=train.Seq2SeqLoss(pad_id=vocab.pad_id))
    assert history.loss[-1] < 0.05
    out, _ = greedy_caption(model, scenes.images, vocab.bos_id, vocab.eos_id, max_len=14)
    assert [" ".join(vocab.decode(r)) for r in out] == scenes.captions
