"""Models of the course: recurrent cells and layers from scratch, twins of ``torch.nn``'s.

Import module-qualified, e.g. ``from course_lib import models; models.LSTM(...)``. The per-step
maths the cells and layers share is ``models.steps`` (chapters show it with ``inspect.getsource``).
"""

from course_lib.models import steps
from course_lib.models.attention import AdditiveAttention
from course_lib.models.captioning import CaptionConfig, CaptionModel, greedy_caption
from course_lib.models.cells import GRUCell, LSTMCell, RNNCell
from course_lib.models.layers import GRU, LSTM, RNN
from course_lib.models.seq2seq import EncoderMemory, Seq2Seq
from course_lib.models.steps import LSTM_VARIANTS
from course_lib.models.tasks import (
    LanguageModel,
    RNNSpec,
    SequenceClassifier,
    SequenceTagger,
    make_rnn,
    rnn_spec,
)

__all__ = [
    "steps", "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "LSTM_VARIANTS",
    "LanguageModel", "SequenceClassifier", "SequenceTagger", "Seq2Seq", "AdditiveAttention",
    "EncoderMemory", "make_rnn", "rnn_spec", "RNNSpec",
    "CaptionConfig", "CaptionModel", "greedy_caption",
]
