"""Tests for course_lib.data.batching: BPTT windows, padding, packed sequences, the padded loader."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.data import DataLoader

from course_lib import data
from course_lib.data.batching import (
    BPTTBatches,
    PaddedBatch,
    SequenceDataset,
    collate_padded,
    pad_batch,
    padded_loader,
)


# --- BPTTBatches ---------------------------------------------------------------------------------
@pytest.mark.parametrize("n, batch_size, seq_len", [(103, 4, 5), (100, 4, 6), (41, 3, 13), (10, 5, 1)])
def test_bptt_windows_cover_each_substream_once_in_order(n, batch_size, seq_len):
    ids = torch.arange(n) * 7 % 101  # not just arange, so y = x + 1 would not pass by luck
    batches = BPTTBatches(ids, batch_size, seq_len)
    row_len = n // batch_size
    rows = ids[: row_len * batch_size].reshape(batch_size, row_len)  # contiguous sub-streams
    windows = list(batches)
    assert len(windows) == len(batches) == -(-(row_len - 1) // seq_len)
    assert all(x.shape == y.shape == (batch_size, seq_len) for x, y in windows[:-1])
    assert 1 <= windows[-1][0].shape[1] <= seq_len
    assert torch.equal(torch.cat([x for x, _ in windows], dim=1), rows[:, :-1])
    assert torch.equal(torch.cat([y for _, y in windows], dim=1), rows[:, 1:])
    assert all(x.dtype == torch.int64 for x, _ in windows)


def test_bptt_carried_state_equals_one_long_run():
    torch.manual_seed(0)
    ids = torch.randint(0, 11, (203,))
    batches = BPTTBatches(ids, batch_size=3, seq_len=8)
    emb = nn.Embedding(11, 4).double()
    lstm = nn.LSTM(4, 5, batch_first=True).double()
    with torch.no_grad():
        full, _ = lstm(emb(batches.data[:, :-1]))  # (B, L-1, H): each sub-stream in one go
        state, pieces = None, []
        for x, _ in batches:
            out, state = lstm(emb(x), state)  # the previous window's final state continues the row
            pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, dim=1), full)


def test_bptt_indexing_and_dataloader():
    batches = BPTTBatches(list(range(50)), batch_size=2, seq_len=6)
    x_last, y_last = batches[-1]
    assert torch.equal(x_last, batches[len(batches) - 1][0])
    assert torch.equal(y_last[:, -1], torch.tensor([24, 49]))  # each row's final token
    via_loader = list(DataLoader(batches, batch_size=None))
    assert len(via_loader) == len(batches)
    for (x_a, y_a), (x_b, y_b) in zip(via_loader, batches, strict=True):
        assert torch.equal(x_a, x_b) and torch.equal(y_a, y_b)
    with pytest.raises(IndexError, match="out of range"):
        batches[len(batches)]


@pytest.mark.parametrize(
    "ids, batch_size, seq_len, match",
    [
        (torch.zeros(2, 10, dtype=torch.long), 2, 3, "1-D integer"),
        (torch.rand(20), 2, 3, "1-D integer"),
        (torch.arange(7), 4, 3, "too short"),
        (torch.arange(20), 0, 3, "batch_size"),
        (torch.arange(20), 2, 0, "seq_len"),
    ],
)
def test_bptt_rejects_bad_input(ids, batch_size, seq_len, match):
    with pytest.raises(ValueError, match=match):
        BPTTBatches(ids, batch_size, seq_len)


# --- pad_batch / PaddedBatch ---------------------------------------------------------------------
def test_pad_batch_tokens_lengths_mask():
    batch = pad_batch([[5, 6, 7], [8], [9, 10]], pad_id=0)
    assert torch.equal(batch.tokens, torch.tensor([[5, 6, 7], [8, 0, 0], [9, 10, 0]]))
    assert batch.lengths.dtype == torch.int64 and batch.lengths.device.type == "cpu"
    assert batch.lengths.tolist() == [3, 1, 2]
    assert torch.equal(batch.mask, batch.tokens != 0)  # true here because no real token is 0
    assert batch.targets is None
    padded = pad_batch([torch.tensor([0, 0]), torch.tensor([0])], pad_id=99)
    assert padded.tokens.tolist() == [[0, 0], [0, 99]]
    assert padded.mask.tolist() == [[True, True], [True, False]]


def test_pad_batch_features_and_targets():
    seqs = [torch.ones(4, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64)]
    batch = pad_batch(seqs, targets=[1, 0])
    assert batch.tokens.shape == (2, 4, 3) and batch.tokens[1, 2:].abs().sum() == 0
    assert batch.targets.tolist() == [1, 0]
    vec = pad_batch([[1], [2]], targets=[torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])]).targets
    assert vec.shape == (2, 2)


def test_pad_batch_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty list"):
        pad_batch([])
    with pytest.raises(ValueError, match="sequence 1 must be a non-empty"):
        pad_batch([[1, 2], []])
    with pytest.raises(ValueError, match="trailing shape and dtype"):
        pad_batch([torch.tensor([1, 2]), torch.tensor([1.0])])
    with pytest.raises(ValueError, match="2 entries"):
        pad_batch([[1], [2]], targets=[0, 1, 1])
    with pytest.raises(ValueError, match="one shape"):
        pad_batch([[1], [2]], targets=[[1, 2], [3]])


def test_packed_lstm_gives_each_sequences_true_last_state():
    torch.manual_seed(0)
    seqs = [torch.randint(1, 20, (n,)) for n in (5, 2, 7, 1, 4)]
    emb = nn.Embedding(20, 6, padding_idx=0).double()
    lstm = nn.LSTM(6, 8, batch_first=True).double()
    batch = pad_batch(seqs, pad_id=0)
    packed = pack_padded_sequence(emb(batch.tokens), batch.lengths, batch_first=True, enforce_sorted=False)
    _, (h_n, c_n) = lstm(packed)  # (1, B, H) each, back in the original batch order
    for b, seq in enumerate(seqs):
        _, (h_alone, c_alone) = lstm(emb(seq)[None])  # (1, 1, H): the sequence run with no padding
        torch.testing.assert_close(h_n[:, b], h_alone[:, 0])
        torch.testing.assert_close(c_n[:, b], c_alone[:, 0])
    # Without packing, the padded steps would overwrite the state: the test would notice.
    _, (h_padded, _) = lstm(emb(batch.tokens))
    assert not torch.allclose(h_padded[:, 1], h_n[:, 1])


def test_padded_batch_to_keeps_lengths_on_cpu():
    batch = pad_batch([[1, 2], [3]], targets=[0, 1]).to("cpu")
    assert isinstance(batch, PaddedBatch) and batch.lengths.device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_padded_batch_to_cuda():
    batch = pad_batch([[1, 2], [3]], targets=[0, 1]).to("cuda")
    assert batch.tokens.is_cuda and batch.mask.is_cuda and batch.targets.is_cuda
    assert batch.lengths.device.type == "cpu"


# --- SequenceDataset / padded_loader --------------------------------------------------------------
def _toy_dataset(n: int = 23) -> SequenceDataset:
    seqs = [list(range(1, 2 + i % 5)) for i in range(n)]
    return SequenceDataset(seqs, targets=[i % 3 for i in range(n)])


def test_sequence_dataset_items():
    ds = _toy_dataset()
    seq, target = ds[7]
    assert len(ds) == 23 and torch.equal(seq, torch.tensor([1, 2, 3])) and target == 1
    assert SequenceDataset([[1, 2]])[0][1] is None
    with pytest.raises(ValueError, match="2 sequences but 1 targets"):
        SequenceDataset([[1], [2]], targets=[0])
    with pytest.raises(TypeError, match="list of sequences"):
        SequenceDataset(torch.zeros(3, 4))


def test_padded_loader_yields_padded_batches_covering_the_dataset():
    ds = _toy_dataset()
    batches = list(padded_loader(ds, batch_size=5, shuffle=False, pad_id=0))
    assert len(batches) == 5 and all(isinstance(b, PaddedBatch) for b in batches)
    assert torch.equal(torch.cat([b.targets for b in batches]), torch.tensor([i % 3 for i in range(23)]))
    for b in batches:
        assert b.tokens.shape[1] == int(b.lengths.max())
        assert torch.equal(b.mask.sum(1), b.lengths)
    unlabelled = next(iter(padded_loader(SequenceDataset([[1, 2], [3]]), batch_size=2)))
    assert unlabelled.targets is None and unlabelled.lengths.tolist() == [2, 1]


def test_padded_loader_shuffle_is_seeded():
    ds = SequenceDataset([[i + 1] for i in range(40)], targets=list(range(40)))

    def order(seed: int) -> list[int]:
        return torch.cat([b.targets for b in padded_loader(ds, 8, shuffle=True, seed=seed)]).tolist()

    assert order(1) == order(1)
    assert order(1) != order(2)
    assert sorted(order(1)) == list(range(40)) and order(1) != list(range(40))


def test_collate_is_picklable_for_worker_processes():
    loader = padded_loader(_toy_dataset(), batch_size=4, pad_id=3)
    restored = pickle.loads(pickle.dumps(loader.collate_fn))
    assert restored([(torch.tensor([1, 2]), 0), (torch.tensor([5]), 1)]).tokens.tolist() == [[1, 2], [5, 3]]
    with pytest.raises(ValueError, match="some items have a target"):
        collate_padded([(torch.tensor([1]), 0), (torch.tensor([2]), None)])
    with pytest.raises(ValueError, match="batch_size"):
        padded_loader(_toy_dataset(), batch_size=0)


def test_public_names_resolve_from_the_package():
    assert data.BPTTBatches is BPTTBatches and data.pad_batch is pad_batch
    assert data.padded_loader is padded_loader and data.collate_padded is collate_padded
