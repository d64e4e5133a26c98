"""Multi-process data parallel training with PyTorch's own engine (``DistributedDataParallel``).

The same ``train.fit`` call runs in one process or in several: started by ``torchrun``, each
process finds its rank in the environment, joins the process group (NCCL on GPUs, gloo on CPUs),
wraps the model in ``DistributedDataParallel`` (which averages gradients during ``backward``) and
trains on its share of every batch. Only rank 0 shows progress, plots and writes checkpoints;
validation sums are added up across ranks, so the reported metrics are over the whole held-out set.

How the data is shared. By default every process reads the same batches (same seed, same order)
and keeps the rows ``rank, rank + N, ...`` of each (``shard_rows``). The loader's batch
size is therefore the *global* batch, and N processes compute the same updates as one process would
(up to floating-point summation order): the script does not change with N. Rows are strided, so
the BPTT sub-streams of a language model stay on their process and its carried state stays valid.
For datasets too big to read in every process, give ``fit`` a ``DataLoader`` whose sampler is a
``torch.utils.data.DistributedSampler``: ``fit`` then leaves the batches whole (each is that rank's
share; the global batch is N times the loader's) and calls ``sampler.set_epoch`` every epoch.
Each process's loss is weighted by its share of the global token count, so the gradient is the
mean over all tokens of the global batch even when ranks get different numbers of real tokens.

Running it. Put the ``fit`` call in a script (``train.py``) and start one process per device::

    # one machine, 4 GPUs (or 4 CPU processes without GPUs)
    torchrun --standalone --nproc_per_node=4 train.py
    # two machines with 8 GPUs each: run on both, with --node_rank=0 on the first and 1 on the other
    torchrun --nnodes=2 --nproc_per_node=8 --node_rank=0 \\
             --master_addr=10.0.0.1 --master_port=29500 train.py
    # or let torchrun's rendezvous pick ranks (same command on every machine)
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d \\
             --rdzv-endpoint=10.0.0.1:29500 --rdzv-id=lm-run train.py

Each process uses GPU ``LOCAL_RANK`` (``fit`` calls ``torch.cuda.set_device``). The checkpoint folder
must be on a file system every machine sees, for resuming. A Jupyter notebook is one process: use
a script for several. ``tests/test_distributed.py`` runs 2 CPU processes this way.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from ..data.batching import map_tensors

__all__ = [
    "DistContext",
    "init_distributed",
    "wrap_model",
    "unwrap_model",
    "all_reduce_sum",
    "gather_objects",
    "is_presharded",
    "shard_rows",
    "count_rows",
]


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its ``rank`` of ``world_size``, and its ``local_rank`` on its machine.

    ``created_group`` records whether ``init_distributed`` started the process group (it then stays
    open for later ``fit`` calls and is destroyed when the script exits). A single process has rank 0
    of 1.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    created_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_world_size() -> int:
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return int(value)
    except ValueError as err:
        raise ValueError(f"the environment variable WORLD_SIZE must be an integer, got {value!r}") from err


def init_distributed(device_type: str) -> DistContext:
    """Join (or read) the process group torchrun set up; a ``DistContext`` of 1 when not distributed.

    If ``torch.distributed`` is already initialised, its rank and size are used as they are. Else,
    if torchrun's variables say ``WORLD_SIZE > 1``, the group is started here: NCCL for
    ``device_type == "cuda"``, gloo otherwise. It is left open for the rest of the script.
    """
    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        return DistContext(dist.get_rank(), dist.get_world_size(), local, created_group=False)
    world = _env_world_size()
    if world <= 1:
        return DistContext()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this build of torch has no torch.distributed")
    missing = [v for v in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={world} but {missing} are not set: start the script with torchrun")
    local_rank = int(os.environ["LOCAL_RANK"])
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)  # before NCCL starts, so each rank talks from its own GPU
    dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    # The group stays open for later fit calls (starting a second one on torchrun's store can hang)
    # and is closed when the script ends.
    atexit.register(_destroy_at_exit)
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, created_group=True)


def _destroy_at_exit() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: nn.Module, ctx: DistContext, device: torch.device) -> nn.Module:
    """``model`` in ``DistributedDataParallel`` when several processes train it (else unchanged)."""
    if not ctx.enabled or isinstance(model, DistributedDataParallel):
        return model
    device_ids = (
        [device.index if device.index is not None else ctx.local_rank] if device.type == "cuda" else None
    )
    return DistributedDataParallel(model, device_ids=device_ids)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The user's module inside a ``DistributedDataParallel`` wrapper (or the module itself)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def all_reduce_sum(tensor: Tensor, ctx: DistContext) -> Tensor:
    """Sum of ``tensor`` over all ranks (in place; returned for chaining). A no-op for one process."""
    if ctx.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (for per-rank RNG states in checkpoints)."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def is_presharded(data: Iterable[Any]) -> bool:
    """True for a DataLoader whose sampler is a ``DistributedSampler`` (each rank already has its share)."""
    sampler = getattr(data, "sampler", None)
    batch_sampler = getattr(data, "batch_sampler", None)
    inner = getattr(batch_sampler, "sampler", None)
    return isinstance(sampler, DistributedSampler) or isinstance(inner, DistributedSampler)


def set_epoch(data: Iterable[Any], epoch: int) -> None:
    """Tell a ``DistributedSampler`` which epoch starts, so each epoch has its own order."""
    for holder in (data, getattr(data, "batch_sampler", None)):
        sampler = getattr(holder, "sampler", None)
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)


def count_rows(batch: Any) -> int:
    """Size of the leading (batch) dimension: the first dimension of the first tensor of rank >= 1."""
    found: list[int] = []

    def look(t: Tensor, _: str | None) -> Tensor:
        if not found and t.dim() >= 1:
            found.append(t.shape[0])
        return t

    map_tensors(look, batch)
    if not found:
        raise TypeError(f"a batch must contain at least one tensor with a batch dimension, got {type(batch)}")
    return found[0]


def shard_rows(batch: Any, rank: int, world_size: int) -> Any:
    """The rows ``rank, rank + world_size, ...`` of every tensor in ``batch`` (dimension 0).

    Data parallelism by striding: each of ``world_size`` processes takes every ``world_size``-th
    row of the same global batch, so together they see exactly that batch. Striding (rather than
    cutting contiguous blocks) keeps each BPTT sub-stream on the same process from window to window,
    so its carried state stays valid. 0-d tensors are shared, not split.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
    rows = count_rows(batch)
    if rows < world_size:
        raise ValueError(
            f"a batch of {rows} rows cannot be split over {world_size} processes: use a batch size of "
            f"at least {world_size} (the batch size is the global batch, shared by all processes)"
        )

    def take(t: Tensor, _: str | None) -> Tensor:
        if t.dim() == 0:
            return t
        if t.shape[0] != rows:
            raise ValueError(
                f"cannot shard a batch whose tensors disagree on the batch dimension: {rows} vs "
                f"{t.shape[0]} (shape {tuple(t.shape)})"
            )
        return t[rank::world_size]

    return map_tensors(take, batch)
