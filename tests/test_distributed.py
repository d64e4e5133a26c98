"""Data-parallel ``fit`` under torchrun (2 CPU processes, gloo), and the batch-sharding helpers.

Run under ``torchrun`` this file is the worker: ``python -m torch.distributed.run --standalone
--nproc_per_node=2 tests/test_distributed.py OUT`` trains two problems and each rank saves what it
ended with in OUT; the test compares the ranks with each other and with one process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from torch import nn

from course_lib import train
from course_lib.data import batching
from course_lib.train import distributed

pytestmark = pytest.mark.timeout(180)


class Padded(NamedTuple):  # the fields of data.PaddedBatch
    tokens: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor
    targets: torch.Tensor | None = None


# --- the two problems, built identically by the workers and by the single-process reference -------
class LM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(9, 6, dtype=torch.float64)
        self.rnn = nn.LSTM(6, 6, batch_first=True, dtype=torch.float64)
        self.head = nn.Linear(6, 9, dtype=torch.float64)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)  # (B, T, H)
        return self.head(out), state  # (B, T, V)


def lm_problem():
    ids = torch.randint(0, 9, (4 * 31,), generator=torch.Generator().manual_seed(1))
    streams = ids.view(4, 31)  # 4 sub-streams: 2 per rank
    windows = [(streams[:, i : i + 6], streams[:, i + 1 : i + 7]) for i in range(0, 30, 6)]
    torch.manual_seed(0)
    return LM(), windows[:4], windows[4:]


def lm_config(directory: Path | None = None) -> train.TrainConfig:
    return train.TrainConfig(
        steps=8, lr=0.05, optimizer="sgd", momentum=0.5, clip_norm=1.0, eval_every=4,
        checkpoint_dir=directory, checkpoint_every=4 if directory else None, progress=False,
        live_plot=False, device="cpu",
    )  # fmt: skip


class Tagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(7, 5, dtype=torch.float64)
        self.rnn = nn.GRU(5, 5, batch_first=True, dtype=torch.float64)
        self.head = nn.Linear(5, 3, dtype=torch.float64)

    def forward(self, x, lengths=None):
        out, _ = self.rnn(self.embed(x))  # (B, T, H)
        return self.head(out)  # (B, T, 3)


def tagging_items():
    g = torch.Generator().manual_seed(2)
    # even items (rank 0's) are long, odd ones short: the ranks see very different token counts
    lengths = [9 if i % 2 == 0 else 2 for i in range(16)]
    return [(torch.randint(1, 7, (n,), generator=g), torch.randint(0, 3, (n,), generator=g)) for n in lengths]


def collate(items) -> Padded:
    lengths = torch.tensor([len(x) for x, _ in items])
    mask = torch.arange(int(lengths.max()))[None, :] < lengths[:, None]  # (B, T)
    tokens = torch.zeros(mask.shape, dtype=torch.long)
    targets = torch.zeros(mask.shape, dtype=torch.long)
    for b, (x, y) in enumerate(items):
        tokens[b, : len(x)], targets[b, : len(y)] = x, y
    return Padded(tokens, lengths, mask, targets)


def tagging_config() -> train.TrainConfig:
    return train.TrainConfig(epochs=2, lr=0.1, optimizer="sgd", progress=False, live_plot=False, device="cpu")


def _worker(out: Path) -> None:
    """One rank: the LM (fit starts the process group), then the tagger on a DistributedSampler."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    model, windows, val = lm_problem()
    history = train.fit(
        model, windows, lm_config(out / "ckpt"), loss_fn=train.LanguageModelLoss(), val_data=val
    )
    assert dist.is_initialized()  # fit started the group and leaves it for the next fit
    items = tagging_items()
    sampler = torch.utils.data.DistributedSampler(items, shuffle=False)
    loader = torch.utils.data.DataLoader(items, batch_size=4, sampler=sampler, collate_fn=collate)
    torch.manual_seed(0)
    tagger = Tagger()
    train.fit(tagger, loader, tagging_config(), loss_fn=train.TaggingLoss("ce"))
    torch.save(
        {"lm": model.state_dict(), "history": history.to_dict(), "tagger": tagger.state_dict()},
        out / f"rank{rank}.pt",
    )



@pytest.mark.distributed
@pytest.mark.slow
def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", COURSE_LIB_DEVICE="cpu")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(
        [*command, __file__, str(tmp_path)], env=env, capture_output=True, text=True, timeout=150
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]

    model, windows, val = lm_problem()
    history = train.fit(model, windows, lm_config(), loss_fn=train.LanguageModelLoss(), val_data=val)
    torch.manual_seed(0)
    tagger = Tagger()
    loader = torch.utils.data.DataLoader(
        tagging_items(), batch_size=8, collate_fn=collate
    )  # the global batch
    train.fit(tagger, loader, tagging_config(), loss_fn=train.TaggingLoss("ce"))

    for name, p in ranks[0]["lm"].items():
        assert torch.equal(p, ranks[1]["lm"][name]), f"ranks differ in {name}"
        torch.testing.assert_close(p, model.state_dict()[name], rtol=0, atol=1e-10)
    for name, p in ranks[0]["tagger"].items():
        assert torch.equal(p, ranks[1]["tagger"][name]), f"ranks differ in {name}"
        torch.testing.assert_close(p, tagger.state_dict()[name], rtol=0, atol=1e-10)
    # Negative control: plain DDP averaging of the two ranks' per-token means is a different update.
    naive_loss = train.TaggingLoss("ce")

    def mean_of_rank_means(model, batch, state):
        halves = [naive_loss(model, distributed.shard_rows(batch, r, 2), None).loss for r in range(2)]
        return train.StepResult((halves[0] + halves[1]) / 2, 1)

    torch.manual_seed(0)
    naive = Tagger()
    train.fit(naive, loader, tagging_config(), loss_fn=mean_of_rank_means)
    assert (naive.head.weight - tagger.head.weight).abs().max() > 1e-4
    assert ranks[0]["history"]["loss"] == pytest.approx(history.loss, rel=1e-10)
    assert ranks[0]["history"]["val"]["loss"] == pytest.approx(history.val["loss"], rel=1e-10)
    assert ranks[0]["history"] == ranks[1]["history"]
    saved = train.load_checkpoint(tmp_path / "ckpt" / "checkpoint.pt")
    assert saved["world_size"] == 2 and len(saved["ranks"]) == 2
    assert saved["ranks"][0]["state"][0].shape == (1, 2, 6)  # each rank carries its 2 of the 4 streams
    assert not torch.equal(saved["ranks"][0]["state"][0], saved["ranks"][1]["state"][0])


# --- the helpers -------------------------------------------------------------------------------------
def test_shard_rows_strides_every_tensor_of_a_nested_batch():
    batch = Padded(
        torch.arange(10).view(5, 2), torch.arange(5), torch.ones(5, 2, dtype=torch.bool), torch.arange(5)
    )
    nested = {"a": batch, "b": [torch.arange(5.0)], "scale": torch.tensor(2.0), "name": "x"}
    shards = [distributed.shard_rows(nested, r, 2) for r in range(2)]
    assert shards[0]["a"].tokens.tolist() == [[0, 1], [4, 5], [8, 9]]
    assert shards[1]["a"].lengths.tolist() == [1, 3]
    assert isinstance(shards[0]["a"], Padded) and shards[0]["name"] == "x"
    assert torch.equal(shards[1]["scale"], torch.tensor(2.0))  # 0-d tensors are shared
    together = sorted(shards[0]["b"][0].tolist() + shards[1]["b"][0].tolist())
    assert together == list(range(5))
    with pytest.raises(ValueError, match="at least 3"):
        distributed.shard_rows((torch.zeros(2, 4), torch.zeros(2)), 0, 3)
    with pytest.raises(ValueError, match="disagree"):
        distributed.shard_rows((torch.zeros(4, 1), torch.zeros(3)), 0, 2)


def test_to_device_keeps_lengths_on_the_cpu():
    batch = Padded(
        torch.zeros(2, 3, dtype=torch.long), torch.tensor([3, 1]), torch.ones(2, 3, dtype=torch.bool)
    )
    moved = batching.to_device({"src": batch, "src_lengths": torch.tensor([3, 1])}, torch.device("meta"))
    assert moved["src"].tokens.device.type == "meta" and moved["src"].mask.device.type == "meta"
    assert moved["src"].lengths.device.type == "cpu" and moved["src_lengths"].device.type == "cpu"


def test_one_process_is_not_distributed(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = distributed.init_distributed("cpu")
    assert ctx == distributed.DistContext() and ctx.is_main and not ctx.enabled
    model = nn.Linear(2, 2)
    assert distributed.wrap_model(model, ctx, torch.device("cpu")) is model
    monkeypatch.setenv("WORLD_SIZE", "2")
    for var in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(RuntimeError, match="torchrun"):
        distributed.init_distributed("cpu")


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
