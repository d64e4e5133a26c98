"""course_lib.train: config checks, the step against hand-written loops, TBPTT, validation, losses."""

from __future__ import annotations

import json
import math
from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import train
from course_lib.train import live

pytestmark = pytest.mark.timeout(120)



def quiet(**kwargs) -> train.TrainConfig:
    kwargs.setdefault("progress", False)
    kwargs.setdefault("live_plot", False)
    kwargs.setdefault("device", "cpu")
    return train.TrainConfig(**kwargs)


def regression_batches(n_batches: int = 6, batch: int = 5, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(3, 2, generator=g, dtype=torch.float64)
    out = []
    for _ in range(n_batches):
        x = 3 * torch.randn(batch, 3, generator=g, dtype=torch.float64)
        out.append((x, x @ w + 0.1 * torch.randn(batch, 2, generator=g, dtype=torch.float64)))
    return out


def mse_loss(model, batch, state):
    x, y = batch
    return train.StepResult(F.mse_loss(model(x), y), x.shape[0])


class TinyLM(nn.Module):
    """forward(x (B, T), state) -> (logits (B, T, V), state): the LanguageModel interface."""

    def __init__(self, vocab: int = 11, hidden: int = 8, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden, dtype=dtype)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True, dtype=dtype)
        self.head = nn.Linear(hidden, vocab, dtype=dtype)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)  # (B, T, H)
        return self.head(out), state  # (B, T, V)


def lm_windows(n_tokens: int = 200, batch: int = 4, seq_len: int = 6, vocab: int = 11, seed: int = 0):
    ids = torch.randint(0, vocab, (n_tokens,), generator=torch.Generator().manual_seed(seed))
    streams = ids[: n_tokens // batch * batch].view(batch, -1)  # (B, L)
    last = streams.shape[1] - 1  # positions that have a next token
    return [
        (streams[:, i : min(i + seq_len, last)], streams[:, i + 1 : min(i + seq_len, last) + 1])
        for i in range(0, last, seq_len)
    ]


# --- configuration -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"steps": 10, "lr": -1.0}, "lr"),
        ({"steps": 10, "lr": float("nan")}, "lr"),
        ({"steps": 10, "optimizer": "adm"}, "optimizer"),
        ({"steps": 10, "schedule": "cosinus"}, "schedule"),
        ({"steps": 10, "clip_norm": 0.0}, "clip_norm"),
        ({"steps": 10, "clip_norm": -2}, "clip_norm"),
        ({"steps": 0}, "steps"),
        ({"steps": 10, "epochs": 2}, "exactly one"),
        ({}, "exactly one"),
        ({"steps": 10, "warmup_steps": 10}, "warmup_steps"),
        ({"steps": 10, "eval_every": 0}, "eval_every"),
        ({"steps": 10, "patience": -1}, "patience"),
        ({"steps": 10, "patience": 3}, "eval_every"),
        ({"steps": 10, "log_every": 0}, "log_every"),
        ({"steps": 10, "checkpoint_every": 5}, "checkpoint_dir"),
        ({"steps": 10, "resume": True}, "checkpoint_dir"),
        ({"steps": 10, "momentum": 0.9, "optimizer": "adam"}, "momentum"),
        ({"steps": 10, "weight_decay": -0.1}, "weight_decay"),
        ({"steps": 10, "monitor_mode": "up"}, "monitor_mode"),
        ({"steps": 10, "progress": "yes"}, "progress"),
        ({"steps": 10, "live_plot": 1}, "live_plot"),
        ({"steps": 10, "device": "gpu0"}, "device"),
        ({"steps": 10, "seed": -3}, "seed"),
        ({"steps": 10, "amp": "bf16"}, "amp"),
        ({"steps": True}, "steps"),
    ],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        train.TrainConfig(**kwargs)


@pytest.mark.parametrize("field", ["eval_every", "patience", "restore_best"])
def test_settings_that_need_validation_data_say_so(field):
    settings = {"eval_every": 1, field: True if field == "restore_best" else 2}
    with pytest.raises(ValueError, match=f"{field}.*val_data"):
        train.fit(nn.Linear(3, 2), regression_batches(), quiet(steps=3, **settings), loss_fn=mse_loss)


def test_schedule_needs_a_known_length():
    batches = iter(regression_batches())  # no len()
    with pytest.raises(ValueError, match="schedule"):
        train.fit(nn.Linear(3, 2), batches, quiet(epochs=1, schedule="cosine"), loss_fn=mse_loss)


def test_bad_arguments_to_fit():
    with pytest.raises(TypeError, match="TrainConfig"):
        train.fit(nn.Linear(3, 2), regression_batches(), {"steps": 3}, loss_fn=mse_loss)
    with pytest.raises(TypeError, match="Module"):
        train.fit(lambda x: x, regression_batches(), quiet(steps=3), loss_fn=mse_loss)
    with pytest.raises(ValueError, match="no batches"):
        train.fit(nn.Linear(3, 2).double(), [], quiet(steps=3), loss_fn=mse_loss)

    def not_scalar(model, batch, state):
        return train.StepResult(F.mse_loss(model(batch[0]), batch[1], reduction="none"), 1)

    with pytest.raises(ValueError, match="0-d loss"):
        train.fit(nn.Linear(3, 2).double(), regression_batches(), quiet(steps=3), loss_fn=not_scalar)


# --- the step, against hand-written loops ----------------------------------------------------------
def test_fit_equals_a_hand_written_sgd_loop_with_clipping():
    batches = regression_batches()
    torch.manual_seed(0)
    model = nn.Linear(3, 2).double()
    ref = nn.Linear(3, 2).double()
    ref.load_state_dict(model.state_dict())
    clip, lr, momentum = 2.0, 0.01, 0.5
    config = quiet(
        steps=len(batches) * 2, lr=lr, optimizer="sgd", momentum=momentum, clip_norm=clip, log_every=4
    )
    history = train.fit(model, batches, config, loss_fn=mse_loss)

    velocity = [torch.zeros_like(p) for p in ref.parameters()]
    losses, norms = [], []
    for x, y in batches * 2:
        loss = F.mse_loss(ref(x), y)
        grads = torch.autograd.grad(loss, list(ref.parameters()))
        norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
        scale = min(1.0, clip / (norm + 1e-6))
        with torch.no_grad():
            for p, g, v in zip(ref.parameters(), grads, velocity, strict=True):
                v.mul_(momentum).add_(g * scale)
                p.sub_(lr * v)
        losses.append(loss.item())
        norms.append(norm)

    assert history.step == list(range(1, 13))
    assert history.loss == pytest.approx(losses, rel=1e-12)
    assert history.grad_norm == pytest.approx(norms, rel=1e-12)  # before clipping
    assert max(norms) > clip  # so clipping changed the updates
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)
    torch.manual_seed(0)
    plain = nn.Linear(3, 2).double()
    train.fit(plain, batches, quiet(steps=12, lr=lr, optimizer="sgd", momentum=momentum), loss_fn=mse_loss)
    assert not torch.allclose(plain.weight, model.weight)  # negative control: clipping mattered


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_learning_rate_schedule(schedule):
    total, warmup, base = 20, 4, 0.1
    config = quiet(steps=total, lr=base, optimizer="sgd", schedule=schedule, warmup_steps=warmup)
    history = train.fit(nn.Linear(3, 2).double(), regression_batches(), config, loss_fn=mse_loss)
    expected = []
    for i in range(total):
        if i < warmup:
            f = (i + 1) / warmup
        else:
            p = (i - warmup) / (total - warmup)
            f = {"constant": 1.0, "linear": 1 - p, "cosine": 0.5 * (1 + math.cos(math.pi * p))}[schedule]
        expected.append(base * f)
    assert history.lr == pytest.approx(expected, rel=1e-12)
    assert min(history.lr) > 0


def test_stateful_tbptt_carries_detached_state_and_resets_each_epoch():
    windows = lm_windows()
    torch.manual_seed(1)
    model = TinyLM()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    train.fit(model, windows, quiet(epochs=2, lr=0.1, optimizer="sgd"), loss_fn=train.LanguageModelLoss())

    def by_hand(carry: bool) -> TinyLM:
        ref = TinyLM()
        ref.load_state_dict(start)
        opt = torch.optim.SGD(ref.parameters(), lr=0.1)
        for _ in range(2):
            state = None  # every epoch starts its streams afresh
            for x, y in windows:
                logits, new_state = ref(x, state if carry else None)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
                opt.zero_grad()
                loss.backward()
                opt.step()
                state = new_state.detach()
        return ref

    carried, reset = by_hand(carry=True), by_hand(carry=False)
    for name, p in model.state_dict().items():
        torch.testing.assert_close(p, carried.state_dict()[name], rtol=1e-10, atol=1e-12)
    assert not torch.allclose(model.head.weight, reset.head.weight, atol=1e-6)  # the state mattered


def test_fit_is_reproducible_and_leaves_the_loader_as_it_was():
    xs, ys = (torch.cat(t) for t in zip(*regression_batches(), strict=True))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xs, ys), batch_size=4, shuffle=True)

    class Noisy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.drop = nn.Linear(3, 2).double(), nn.Dropout(0.3)

        def forward(self, x):
            return self.lin(self.drop(x))

    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = Noisy()
        history = train.fit(model, loader, quiet(epochs=2, lr=0.01), loss_fn=mse_loss)
        runs.append((history.loss, model.lin.weight.detach().clone()))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
    assert loader.sampler.generator is None
    assert len(runs[0][0]) == 2 * len(loader)


# --- validation and early stopping -------------------------------------------------------------------
def test_validation_is_the_mean_over_every_item_not_of_batch_means():
    torch.manual_seed(0)
    model = nn.Linear(4, 3).double()
    xs = torch.randn(7, 4, dtype=torch.float64)
    ys = torch.tensor([0, 1, 2, 1, 0, 2, 2])
    val = [(xs[:6], ys[:6]), (xs[6:], ys[6:])]  # a full batch and a batch of one
    metrics = train.evaluate(model, val, train.ClassificationLoss())
    with torch.no_grad():
        logits = model(xs)
        per_item = F.cross_entropy(logits, ys, reduction="none")
    assert metrics["loss"] == pytest.approx(float(per_item.mean()), rel=1e-12)
    assert metrics["accuracy"] == pytest.approx(float((logits.argmax(1) == ys).double().mean()), rel=1e-12)
    batch_means = (float(per_item[:6].mean()) + float(per_item[6])) / 2
    assert abs(metrics["loss"] - batch_means) > 1e-3  # the wrong average is measurably different
    assert model.training  # evaluate restores the mode


def test_language_model_validation_masks_padding_and_reports_perplexity():
    torch.manual_seed(0)
    model = TinyLM()
    x = torch.randint(1, 11, (3, 5))
    y = torch.randint(1, 11, (3, 5))
    y[0, 3:] = 0  # padding
    metrics = train.evaluate(model, [(x, y)], train.LanguageModelLoss(ignore_index=0))
    with torch.no_grad():
        logits, _ = model(x)
    keep = y != 0
    expected = F.cross_entropy(logits[keep], y[keep])
    assert metrics["loss"] == pytest.approx(expected.item(), rel=1e-12)
    assert metrics["ppl"] == pytest.approx(math.exp(expected.item()), rel=1e-12)


def test_validation_every_n_steps_and_at_the_end():
    val = regression_batches(2, seed=1)
    history = train.fit(
        nn.Linear(3, 2).double(),
        regression_batches(),
        quiet(steps=10, eval_every=4),
        loss_fn=mse_loss,
        val_data=val,
    )
    assert history.val_step == [4, 8, 10]
    assert set(history.val) == {"loss"}


class Scripted:
    """A validation function whose loss follows a script, to drive early stopping exactly."""

    def __init__(self, values):
        self.values, self.calls = list(values), 0

    def __call__(self, model, batch, state):
        value = self.values[self.calls]
        self.calls += 1
        return train.StepResult(torch.tensor(value, dtype=torch.float64), 1)


def test_early_stopping_and_restore_best():
    snapshots = {}

    def remember(event: train.StepEvent) -> None:
        snapshots[event.step] = event.model.weight.detach().clone()

    config = quiet(steps=100, lr=0.01, eval_every=2, patience=3, restore_best=True)
    model = nn.Linear(3, 2).double()
    script = Scripted([3.0, 2.0, 2.5, 2.0, 2.6, 1.0])
    history = train.fit(
        model,
        regression_batches(),
        config,
        loss_fn=mse_loss,
        val_data=[None],
        val_fn=script,
        callbacks=[remember],
    )
    assert history.stop_reason == "early_stopping"
    assert history.val_step == [2, 4, 6, 8, 10]  # stopped after 3 validations without improvement
    assert history.val["loss"] == [3.0, 2.0, 2.5, 2.0, 2.6]  # 2.0 again is not an improvement
    assert history.best_step == 4
    assert history.best() == (4, 2.0)
    assert torch.equal(model.weight, snapshots[4])  # the best weights are back
    assert len(history) == 10


def test_callbacks_can_stop_training_and_see_each_step():
    seen = []

    def stop_at_five(event: train.StepEvent) -> None:
        seen.append(event.step)
        if event.step == 5:
            raise train.StopTraining

    history = train.fit(
        nn.Linear(3, 2).double(),
        regression_batches(),
        quiet(steps=50),
        loss_fn=mse_loss,
        callbacks=[stop_at_five],
    )
    assert seen == [1, 2, 3, 4, 5]
    assert history.stop_reason == "callback"
    assert history.step == [1, 2, 3, 4, 5]


def test_an_interrupt_returns_the_history_so_far():
    def interrupt(event: train.StepEvent) -> None:
        if event.step == 3:
            raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="interrupted after step 3"):
        history = train.fit(
            nn.Linear(3, 2).double(),
            regression_batches(),
            quiet(steps=50),
            loss_fn=mse_loss,
            callbacks=[interrupt],
        )
    assert history.stop_reason == "interrupted"
    assert len(history) == 3


# --- History -----------------------------------------------------------------------------------------
def test_history_round_trips_and_plots_what_it_holds(tmp_path):
    from matplotlib.figure import Figure

    history = train.fit(
        nn.Linear(3, 2).double(),
        regression_batches(),
        quiet(epochs=2, eval_every=3),
        loss_fn=mse_loss,
        val_data=regression_batches(1, seed=2),
    )
    again = train.History.from_json(history.to_json(tmp_path / "h.json"))
    assert again == history
    assert train.History.from_json(tmp_path / "h.json") == history
    assert json.loads(history.to_json())["stop_reason"] == "epochs"
    ax = history.plot(ax=Figure().add_subplot())
    train_line, val_line = ax.get_lines()
    assert list(train_line.get_xdata()) == history.step
    assert list(train_line.get_ydata()) == pytest.approx(history.loss)
    assert list(val_line.get_ydata()) == pytest.approx(history.val["loss"])
    smooth = history.plot(ax=Figure().add_subplot(), smooth=3).get_lines()[0].get_ydata()
    assert smooth[4] == pytest.approx(sum(history.loss[2:5]) / 3)
    with pytest.raises(KeyError, match="accuracy"):
        history.plot(ax=Figure().add_subplot(), metric="accuracy")


# --- built-in losses ---------------------------------------------------------------------------------
class Padded(NamedTuple):  # the fields of data.PaddedBatch
    tokens: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor
    targets: torch.Tensor | None = None


def padded(lengths, vocab=7, targets=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    mask = torch.arange(int(lengths.max()))[None, :] < lengths[:, None]  # (B, T)
    tokens = torch.randint(1, vocab, mask.shape, generator=g) * mask
    return Padded(tokens, lengths, mask, targets)


class Tagger(nn.Module):
    def __init__(self, vocab=7, out=3):
        super().__init__()
        self.embed, self.head = (
            nn.Embedding(vocab, 4, dtype=torch.float64),
            nn.Linear(4, out, dtype=torch.float64),
        )
        self.seen_lengths = None

    def forward(self, x, lengths=None):
        self.seen_lengths = lengths
        return self.head(torch.tanh(self.embed(x)))  # (B, T, out)


def test_tagging_cross_entropy_ignores_padding_exactly():
    batch = padded([4, 2, 3], targets=torch.randint(0, 3, (3, 4), generator=torch.Generator().manual_seed(1)))
    model = Tagger().eval()
    result = train.TaggingLoss("ce")(model, batch, None)
    assert model.seen_lengths.device.type == "cpu"
    logits = model(batch.tokens)
    expected = F.cross_entropy(logits[batch.mask], batch.targets[batch.mask])
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-12)
    assert int(result.count) == 9
    changed = batch._replace(
        targets=batch.targets.masked_fill(~batch.mask, 2)
    )  # rewrite padding targets only
    assert train.TaggingLoss("ce")(model, changed, None).loss.item() == pytest.approx(
        expected.item(), rel=1e-12
    )


def test_tagging_mse_is_masked_over_real_positions():
    batch = padded([3, 1], targets=torch.randn(2, 3, 3, dtype=torch.float64))
    model = Tagger()
    result = train.TaggingLoss("mse")(model, batch, None)
    out = model(batch.tokens)
    expected = ((out - batch.targets) ** 2)[batch.mask].mean()
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-12)
    assert result.count.item() == 4 * 3


def test_classification_and_regression_losses():
    class Pool(nn.Module):
        def __init__(self, out):
            super().__init__()
            self.embed, self.head = (
                nn.Embedding(7, 4, dtype=torch.float64),
                nn.Linear(4, out, dtype=torch.float64),
            )

        def forward(self, x, lengths):
            mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]  # (B, T)
            pooled = (self.embed(x) * mask[..., None]).sum(1) / lengths[:, None]  # (B, 4)
            return self.head(pooled)

    batch = padded([3, 1, 2], targets=torch.tensor([2, 0, 1]))
    model = Pool(3).eval()
    result = train.ClassificationLoss()(model, batch, None)
    logits = model(batch.tokens, batch.lengths)
    assert result.loss.item() == pytest.approx(F.cross_entropy(logits, batch.targets).item(), rel=1e-12)
    assert int(result.metrics["accuracy"]) == int((logits.argmax(1) == batch.targets).sum())
    reg = padded([3, 1, 2], targets=torch.randn(3, dtype=torch.float64))
    out = train.RegressionLoss()(Pool(1), reg, None)
    assert out.count == 3 and out.loss.dim() == 0
    with pytest.raises(TypeError, match="ClassificationLoss expects"):
        train.ClassificationLoss()(model, {"x": batch.tokens}, None)
    with pytest.raises(TypeError, match="int64"):
        train.ClassificationLoss()(model, batch._replace(targets=batch.targets.double()), None)


def test_seq2seq_loss_uses_teacher_forcing_and_the_target_mask():
    class Copy(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.head = (
                nn.Embedding(7, 4, dtype=torch.float64),
                nn.Linear(4, 7, dtype=torch.float64),
            )

        def forward(self, src, src_lengths, tgt_in):
            context = self.embed(src).mean(1, keepdim=True)  # (B, 1, E)
            return self.head(self.embed(tgt_in) + context), None  # (B, T, V)

    src, tgt = padded([3, 2], seed=1), padded([5, 3], seed=2)
    model = Copy()
    result = train.Seq2SeqLoss()(model, (src, tgt), None)
    logits, _ = model(src.tokens, src.lengths, tgt.tokens[:, :-1])
    keep = tgt.mask[:, 1:]
    expected = F.cross_entropy(logits[keep], tgt.tokens[:, 1:][keep])
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-12)
    four = (src.tokens, src.lengths, tgt.tokens[:, :-1], tgt.tokens[:, 1:])
    assert train.Seq2SeqLoss(pad_id=0)(model, four, None).loss.item() == pytest.approx(
        expected.item(), rel=1e-12
    )


def test_language_model_loss_on_padded_whole_sequences():
    batch = padded([5, 2, 4], vocab=11)
    model = TinyLM().eval()
    result = train.LanguageModelLoss()(model, batch, state="ignored: sequences do not carry state")
    logits, _ = model(batch.tokens[:, :-1])
    keep = batch.mask[:, 1:]
    expected = F.cross_entropy(logits[keep], batch.tokens[:, 1:][keep])
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-12)
    assert int(result.count) == 4 + 1 + 3 and result.state is None


def test_language_model_loss_rejects_float_inputs():
    with pytest.raises(TypeError, match="int64"):
        train.LanguageModelLoss()(TinyLM(), (torch.rand(2, 3), torch.rand(2, 3)), None)


# --- with the course's own data and task models ------------------------------------------------------
def test_fit_with_course_data_and_task_models():
    from course_lib import data
    from course_lib.models.tasks import LanguageModel, SequenceClassifier

    # A learnable stream: the next id is (previous + 1) mod 12, except for 10% uniform jumps. An
    # untrained model is near the uniform perplexity 12; the stream's own is about 1.7.
    g = torch.Generator().manual_seed(0)
    jumps, random_ids = torch.rand(600, generator=g) < 0.1, torch.randint(0, 12, (600,), generator=g)
    ids = [0]
    for t in range(1, 600):
        ids.append(int(random_ids[t]) if jumps[t] else (ids[-1] + 1) % 12)
    ids = torch.tensor(ids)
    torch.manual_seed(0)
    lm = LanguageModel(12, 8, nn.LSTM(8, 16, batch_first=True))
    config = quiet(steps=12, lr=3e-2, clip_norm=1.0, eval_every=6)
    history = train.fit(
        lm, data.BPTTBatches(ids[:500], 4, 10), config, loss_fn=train.LanguageModelLoss(),
        val_data=data.BPTTBatches(ids[500:], 2, 10),
    )  # fmt: skip
    assert history.val_step == [6, 12] and history.val["ppl"][0] > history.val["ppl"][-1]
    assert history.val["ppl"][-1] < 4.0  # a third of the uniform 12: only a model that learned gets here

    g = torch.Generator().manual_seed(1)
    seqs = [torch.randint(1, 9, (int(n),), generator=g) for n in torch.randint(1, 7, (20,), generator=g)]
    targets = [int(s[0] > 4) for s in seqs]
    loader = data.padded_loader(data.SequenceDataset(seqs, targets), batch_size=6, shuffle=True, seed=3)
    generator = loader.generator
    classifier = SequenceClassifier(9, 6, nn.GRU(6, 8, batch_first=True), 2)
    history = train.fit(classifier, loader, quiet(epochs=3, lr=1e-2), loss_fn=train.ClassificationLoss())
    assert len(history) == 3 * len(loader) and loader.sampler.generator is generator  # its own kept


# --- progress bar and live plot ----------------------------------------------------------------------
def test_no_display_outside_a_notebook(monkeypatch):
    assert not live.in_notebook()
    assert not live.want_live_plot("auto") and not live.want_live_plot(True)
    assert not live.want_progress(False) and live.want_progress(True)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert not live.interactive_display()
    monkeypatch.setattr(live, "in_notebook", lambda: True)  # a kernel, as under the book build
    assert not live.want_live_plot("auto") and not live.want_progress("auto")
    assert live.want_live_plot(True)
    monkeypatch.delenv("MPLBACKEND")
    assert live.want_live_plot("auto") and live.want_progress("auto")  # a reader's notebook


class FakeHandle:
    def __init__(self):
        self.updates = 0

    def update(self, image):
        assert image.data.startswith(b"\x89PNG")
        self.updates += 1


def test_live_plot_updates_one_output_in_place_at_a_throttled_rate():
    shown, now = [], [0.0]

    def display(image, display_id):
        assert display_id is True
        shown.append(FakeHandle())
        return shown[-1]

    plot = train.LivePlot(min_interval=1.5, display=display, clock=lambda: now[0])
    history = train.History()
    for step in range(1, 40):
        history.log_train([step], [1.0 / step], [1.0], [0.1])
        now[0] += 0.1  # a step every 0.1 s: about one redraw per 15 steps
        plot.update(history)
    plot.close(history)
    assert len(shown) == 1  # a single output, updated in place
    assert 1 <= shown[0].updates <= 4
    assert plot.draws == 1 + shown[0].updates


def test_fit_draws_a_live_plot_only_where_wanted(monkeypatch):
    handles = []

    def make_plot():
        def display(image, display_id):
            handles.append(FakeHandle())
            return handles[-1]

        ticks = iter(range(0, 10**6, 100))  # a clock where every call is 100 s later
        return train.LivePlot(display=display, min_interval=1.0, clock=lambda: next(ticks))

    monkeypatch.setattr("course_lib.train.loop.LivePlot", make_plot)
    monkeypatch.setattr("course_lib.train.loop.want_live_plot", lambda setting: setting is not False)
    train.fit(
        nn.Linear(3, 2).double(),
        regression_batches(),
        quiet(steps=6, live_plot=True, log_every=2),
        loss_fn=mse_loss,
    )
    assert len(handles) == 1 and handles[0].updates >= 2
    train.fit(
        nn.Linear(3, 2).double(), regression_batches(), quiet(steps=6, live_plot=False), loss_fn=mse_loss
    )
    assert len(handles) == 1


def test_progress_bar_counts_steps(capsys):
    train.fit(nn.Linear(3, 2).double(), regression_batches(), quiet(steps=7, progress=True), loss_fn=mse_loss)
    err = capsys.readouterr().err
    assert "7/7" in err and "loss=" in err


# --- devices -----------------------------------------------------------------------------------------
def test_amp_on_cpu_warns_and_trains_in_float32():
    with pytest.warns(UserWarning, match="amp"):
        history = train.fit(
            nn.Linear(3, 2).double(), regression_batches(), quiet(steps=2, amp=True), loss_fn=mse_loss
        )
    assert len(history) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fit_on_cuda_with_bf16_autocast():
    model = TinyLM(dtype=torch.float32)
    config = train.TrainConfig(steps=6, device="cuda", amp=True, progress=False, eval_every=3)
    windows = lm_windows()
    history = train.fit(model, windows, config, loss_fn=train.LanguageModelLoss(), val_data=windows[:2])
    assert next(model.parameters()).device.type == "cuda"
    assert all(math.isfinite(v) for v in history.loss) and history.val_step == [3, 6]
