"""course_lib.train checkpoints: atomic, verified, and a killed run resumes bit for bit (CPU).

Run as a script (``python tests/test_checkpoint.py DIR KILL_STEP``) it trains the shared problem and
SIGKILLs itself at KILL_STEP: the subprocess test uses that to kill a run for real.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from course_lib import train
from course_lib.train import checkpoint as ckpt_mod

pytestmark = pytest.mark.timeout(120)



class Classifier(nn.Module):
    """A GRU with dropout over (B, T, F) features: dropout and shuffling both draw random numbers."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(3, 6, batch_first=True, dtype=torch.float64)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(6, 2, dtype=torch.float64)

    def forward(self, x):
        out, _ = self.rnn(x)  # (B, T, H)
        return self.head(self.drop(out[:, -1]))  # (B, 2)


def classification_problem(seed: int = 0):
    """A fresh model (initialised from ``seed``), a shuffling loader (6 batches/epoch) and val data."""
    g = torch.Generator().manual_seed(100)
    x = torch.randn(22, 5, 3, generator=g, dtype=torch.float64)
    y = (x[:, :, 0].sum(1) > 0).long()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x[:18], y[:18]), batch_size=3, shuffle=True
    )
    torch.manual_seed(seed)
    return Classifier(), loader, [(x[18:], y[18:])]


def classification_config(directory: Path, **kwargs) -> train.TrainConfig:
    settings = dict(
        steps=16,
        lr=0.02,
        schedule="cosine",
        warmup_steps=3,
        clip_norm=0.5,
        eval_every=4,
        restore_best=False,
        checkpoint_dir=directory,
        checkpoint_every=3,
        resume=True,
        progress=False,
        live_plot=False,
        device="cpu",
        log_every=5,
    )
    settings.update(kwargs)
    return train.TrainConfig(**settings)


class Kill(Exception):
    pass


def kill_at(step: int):
    def callback(event: train.StepEvent) -> None:
        if event.step == step:
            raise Kill(f"killed at step {step}")

    return callback


def run_classification(directory: Path, seed: int = 0, callbacks=(), **kwargs):
    model, loader, val = classification_problem(seed)
    config = classification_config(directory, **kwargs)
    history = train.fit(
        model, loader, config, loss_fn=train.ClassificationLoss(), val_data=val, callbacks=list(callbacks)
    )
    return model, history


def assert_same_run(a, b) -> None:
    (model_a, history_a), (model_b, history_b) = a, b
    for (name, p), q in zip(model_a.state_dict().items(), model_b.state_dict().values(), strict=True):
        assert torch.equal(p, q), f"{name} differs"
    assert history_a.to_dict() == history_b.to_dict()  # every loss, norm, lr and metric, exactly


@pytest.mark.parametrize(("every", "kill"), [(3, 10), (6, 13)], ids=["mid-epoch", "epoch-boundary"])
def test_killed_and_resumed_run_equals_the_straight_run(tmp_path, every, kill):
    straight = run_classification(tmp_path / "straight", checkpoint_every=every)
    with pytest.raises(Kill):
        run_classification(tmp_path / "killed", checkpoint_every=every, callbacks=[kill_at(kill)])
    saved = train.load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    assert saved["position"]["step"] == kill // every * every
    # a different initialisation: everything must come from the checkpoint
    resumed = run_classification(tmp_path / "killed", seed=123, checkpoint_every=every)
    assert_same_run(straight, resumed)
    assert len(resumed[1]) == 16 and resumed[1].val_step == [4, 8, 12, 16]


class DropoutLM(nn.Module):
    def __init__(self, vocab: int = 9, hidden: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden, dtype=torch.float64)
        self.rnn = nn.LSTM(hidden, hidden, batch_first=True, dtype=torch.float64)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(hidden, vocab, dtype=torch.float64)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)  # (B, T, H), ((1, B, H), (1, B, H))
        return self.head(self.drop(out)), state  # (B, T, V)


def lm_run(directory: Path, seed: int = 0, callbacks=()):
    ids = torch.randint(0, 9, (3 * 41,), generator=torch.Generator().manual_seed(5))
    streams = ids.view(3, 41)
    windows = [(streams[:, i : i + 8], streams[:, i + 1 : i + 9]) for i in range(0, 40, 8)]  # 5 per epoch
    torch.manual_seed(seed)
    model = DropoutLM()
    config = train.TrainConfig(
        steps=12, lr=0.01, clip_norm=1.0, checkpoint_dir=directory, checkpoint_every=4, resume=True,
        progress=False, live_plot=False, device="cpu",
    )  # fmt: skip
    history = train.fit(model, windows, config, loss_fn=train.LanguageModelLoss(), callbacks=list(callbacks))
    return model, history


def test_language_model_resumes_with_its_carried_state(tmp_path):
    straight = lm_run(tmp_path / "straight")
    with pytest.raises(Kill):
        lm_run(tmp_path / "killed", callbacks=[kill_at(6)])
    saved = train.load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    h, c = saved["ranks"][0]["state"]  # step 4 is mid-epoch: the LSTM state was carried
    assert h.shape == c.shape == (1, 3, 8) and h.abs().sum() > 0
    assert_same_run(straight, lm_run(tmp_path / "killed", seed=7))


@pytest.mark.slow
def test_a_process_killed_with_sigkill_resumes_exactly(tmp_path):
    directory = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, __file__, str(directory), "11"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not list(directory.glob("*.tmp*"))
    assert train.load_checkpoint(directory / "checkpoint.pt")["position"]["step"] == 9
    straight = run_classification(tmp_path / "straight")
    assert_same_run(straight, run_classification(directory, seed=99))


def test_resuming_a_finished_run_trains_no_further(tmp_path):
    first = run_classification(tmp_path)
    calls = []
    again = run_classification(tmp_path, seed=5, callbacks=[calls.append])
    assert calls == []  # not a single step
    assert_same_run(first, again)


def test_resuming_can_extend_a_run(tmp_path):
    def run(directory, steps, seed=0):
        model, loader, _ = classification_problem(seed)
        config = classification_config(
            directory,
            steps=steps,
            schedule="constant",
            warmup_steps=0,
            eval_every=None,
            checkpoint_every=None,
        )
        return model, train.fit(model, loader, config, loss_fn=train.ClassificationLoss())

    straight = run(tmp_path / "a", 14)
    run(tmp_path / "b", 8)
    assert_same_run(straight, run(tmp_path / "b", 14, seed=3))


def test_resuming_under_different_settings_is_refused(tmp_path):
    run_classification(tmp_path, steps=5, eval_every=None)
    with pytest.raises(ValueError, match=r"lr=0\.02 there, 0\.1 now"):
        run_classification(tmp_path, steps=6, eval_every=None, lr=0.1)


# --- the file itself ---------------------------------------------------------------------------------
def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    train.save_checkpoint(path, {"step": 1, "w": torch.arange(3.0)})
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_mod.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        train.save_checkpoint(path, {"step": 2, "w": torch.arange(4.0)})
    assert path.read_bytes() == before  # the old checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no temporary left behind
    assert train.load_checkpoint(path)["step"] == 1


@pytest.mark.parametrize("damage", ["flip", "truncate", "foreign"])
def test_a_damaged_checkpoint_is_refused_with_its_name(tmp_path, damage):
    run_classification(tmp_path, steps=5, eval_every=None)
    path = tmp_path / "checkpoint.pt"
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[-100] ^= 0xFF
    elif damage == "truncate":
        raw = raw[: len(raw) // 2]
    else:
        buffer = __import__("io").BytesIO()
        torch.save({"model": {}}, buffer)
        raw = bytearray(buffer.getvalue())
    path.write_bytes(bytes(raw))
    with pytest.raises(train.CheckpointError, match=str(path)):
        train.load_checkpoint(path)
    with pytest.raises(train.CheckpointError, match="checkpoint.pt"):
        run_classification(tmp_path, steps=6, eval_every=None)
    assert not list(tmp_path.glob("*.tmp*"))


def test_random_states_round_trip():
    gen = torch.Generator().manual_seed(3)
    state = ckpt_mod.capture_rng([gen])

    def draw():
        return (
            random.random(),
            np.random.rand(),  # noqa: NPY002 (the legacy global state is what is saved)
            torch.rand(2).tolist(),
            torch.rand(2, generator=gen).tolist(),
        )

    first = draw()
    ckpt_mod.restore_rng(state, [gen])
    assert draw() == first
    with pytest.raises(ValueError, match="data generator"):
        ckpt_mod.restore_rng(state, [])


def _main() -> None:
    """Train the classification problem and SIGKILL this process at step ``argv[2]``."""
    directory, kill = Path(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(1)

    def die(event: train.StepEvent) -> None:
        if event.step == kill:
            os.kill(os.getpid(), signal.SIGKILL)

    run_classification(directory, callbacks=[die])
    raise SystemExit("the kill step was never reached")


if __name__ == "__main__":
    _main()
