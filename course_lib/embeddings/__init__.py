"""Word embeddings (chapter 4): skip-gram with negative sampling, word vectors, and their evaluation.

- ``sgns``: ``SGNSConfig``, ``SkipGramNS`` (the two tables, autograd loss), ``sgns_grads`` (the
  analytic gradient the trainer uses), ``train_sgns`` (batched word2vec training on a ``Corpus``);
- ``vectors``: ``WordVectors`` (lookup, ``neighbours``, ``analogy`` by 3CosAdd/3CosMul, word2vec
  text format);
- ``evaluate``: ``evaluate_pairs`` (WS-353, SimLex-999) and ``evaluate_analogies`` (Google
  analogies), giving gensim's numbers.
"""

from course_lib.embeddings.evaluate import AnalogyScore, PairScore, evaluate_analogies, evaluate_pairs
from course_lib.embeddings.sgns import (
    SGNSConfig,
    SkipGramNS,
    keep_probabilities,
    noise_distribution,
    sgns_grads,
    train_sgns,
)
from course_lib.embeddings.vectors import WordVectors

__all__ = [
    "AnalogyScore",
    "PairScore",
    "SGNSConfig",
    "SkipGramNS",
    "WordVectors",
    "evaluate_analogies",
    "evaluate_pairs",
    "keep_probabilities",
    "noise_distribution",
    "sgns_grads",
    "train_sgns",
]
