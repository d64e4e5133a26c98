"""Word embeddings: our skip-gram (``course_lib.embeddings``) against ``gensim.models.Word2Vec``.

Both train on the same corpus (``data.load_corpus()``: six NLTK corpora, 3.8M tokens) with the same
settings (skip-gram, dimension, window, negatives, min_count, sample, epochs, starting and final
learning rate, seed) in one process, one after the other, on the same cores. Each set of
vectors is then scored by the same functions (``embeddings.evaluate_pairs`` /
``evaluate_analogies``, which give gensim's own numbers): WordSim-353 and SimLex-999 Spearman
rho, and accuracy on the Google analogy questions that are fully in vocabulary.

    python benchmarks/embeddings.py                  # the 2-core CPU setting, ~10 min on a quiet machine
    python benchmarks/embeddings.py --out /tmp/vecs  # also save ours.txt and gensim.txt (word2vec text)
    python benchmarks/embeddings.py --device cuda    # our model on a GPU (gensim stays on the CPU)

Targets: ours within 0.03 Spearman of gensim on both similarity sets and within 3 points of
analogy accuracy; our training time at most 4x gensim's. Prints a table, then, last, one JSON
line with ``corpus_tokens``, ``ours_ws353``, ``ours_simlex``, ``ours_analogy``, ``gensim_ws353``,
``gensim_simlex``, ``gensim_analogy``, ``ours_seconds``, ``gensim_seconds`` (wall seconds of
training only; scores as fractions). Results go in RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from gensim.models import Word2Vec

from course_lib import data, embeddings, env


def score(wv: embeddings.WordVectors) -> dict[str, float | int]:
    ws = embeddings.evaluate_pairs(wv, data.load_wordsim353())
    sl = embeddings.evaluate_pairs(wv, data.load_simlex999())
    an = embeddings.evaluate_analogies(wv, data.load_analogies())
    return {
        "ws353": ws.spearman, "ws353_oov": ws.n_oov, "simlex": sl.spearman, "simlex_oov": sl.n_oov,
        "analogy": an.accuracy, "analogy_questions": an.n_questions,
    }  # fmt: skip


def train_ours(
    corpus: data.Corpus, config: embeddings.SGNSConfig, device: str
) -> tuple[embeddings.WordVectors, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    wv, _ = embeddings.train_sgns(corpus, config, device=env.get_device(None if device == "auto" else device))
    return wv, time.perf_counter() - wall, time.process_time() - cpu


def train_gensim(
    corpus: data.Corpus, config: embeddings.SGNSConfig, workers: int
) -> tuple[embeddings.WordVectors, float, float]:
    lines = list(corpus.lines())  # materialised first so that neither timing includes reading the corpus
    wall, cpu = time.perf_counter(), time.process_time()
    model = Word2Vec(
        lines, sg=1, vector_size=config.dim, window=config.window, negative=config.negatives,
        min_count=config.min_count, sample=config.sample, epochs=config.epochs, alpha=config.lr,
        min_alpha=config.min_lr, seed=config.seed, workers=workers,
    )  # fmt: skip
    seconds = time.perf_counter() - wall, time.process_time() - cpu
    return embeddings.WordVectors(model.wv.index_to_key, model.wv.vectors), *seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2, help="torch threads and gensim workers")
    parser.add_argument("--device", default="cpu", help="our model's device: cpu, cuda or auto")
    parser.add_argument("--out", type=Path, default=None, help="save DIR/ours.txt and DIR/gensim.txt")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    corpus = data.load_corpus()
    config = embeddings.SGNSConfig(dim=args.dim, epochs=args.epochs)
    print(
        f"corpus: {len(corpus):,} tokens, {corpus.vocab_size(config.min_count):,} words with count >= "
        f"{config.min_count}; {config}; threads {args.threads}, cores {os.cpu_count()}",
        flush=True,
    )
    ours, ours_s, ours_cpu = train_ours(corpus, config, args.device)
    theirs, gensim_s, gensim_cpu = train_gensim(corpus, config, args.threads)
    results = {"ours": score(ours), "gensim": score(theirs)}
    print(
        "\n| model | WS-353 rho | SimLex-999 rho | analogy acc. (questions) | train wall s | train CPU s |"
    )
    print("|---|---|---|---|---|---|")
    for name, s, cpu in (("ours", ours_s, ours_cpu), ("gensim", gensim_s, gensim_cpu)):
        r = results[name]
        print(
            f"| {name} | {r['ws353']:.3f} ({r['ws353_oov']} OOV) | {r['simlex']:.3f} ({r['simlex_oov']} OOV) "
            f"| {r['analogy']:.3f} ({r['analogy_questions']:,}) | {s:.0f} | {cpu:.0f} |"
        )
    print(f"\nours / gensim wall time: {ours_s / gensim_s:.2f}x (target <= 4x)")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        ours.save_word2vec(args.out / "ours.txt")
        theirs.save_word2vec(args.out / "gensim.txt")
    print(json.dumps({
        "corpus_tokens": len(corpus),
        "ours_ws353": results["ours"]["ws353"], "ours_simlex": results["ours"]["simlex"],
        "ours_analogy": results["ours"]["analogy"], "gensim_ws353": results["gensim"]["ws353"],
        "gensim_simlex": results["gensim"]["simlex"], "gensim_analogy": results["gensim"]["analogy"],
        "ours_seconds": ours_s, "gensim_seconds": gensim_s,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
