"""Bad input to the recurrent cells and layers fails early, with a message that says what was expected."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from course_lib import models

LAYERS = [models.RNN, models.LSTM, models.GRU]
CELLS = [models.RNNCell, models.LSTMCell, models.GRUCell]


def state_for(cls, shape, dtype=torch.float32, device="cpu"):
    """A zero state of the right kind: a tensor, or a pair for LSTM layers and cells."""
    h = torch.zeros(shape, dtype=dtype, device=device)
    return (h, h.clone()) if cls in (models.LSTM, models.LSTMCell) else h


# --- layers ---


@pytest.mark.parametrize("cls", LAYERS)
def test_layer_wrong_rank(cls) -> None:
    layer = cls(5, 4)
    for bad in (torch.randn(5), torch.randn(2, 3, 4, 5)):
        with pytest.raises(ValueError, match=re.escape("2-D (L, H_in) or 3-D (L, N, H_in) input")):
            layer(bad)
    with pytest.raises(ValueError, match=re.escape("3-D (N, L, H_in)")):
        cls(5, 4, batch_first=True)(torch.randn(5))


@pytest.mark.parametrize("cls", LAYERS)
def test_layer_wrong_feature_size(cls) -> None:
    msg = "expected input of size 5 in the last dimension, got 6"
    with pytest.raises(ValueError, match=msg):
        cls(5, 4)(torch.randn(7, 3, 6))
    with pytest.raises(ValueError, match=msg):
        cls(5, 4)(torch.randn(7, 6))
    packed = pack_padded_sequence(torch.randn(7, 3, 6), torch.tensor([7, 5, 2]))
    with pytest.raises(ValueError, match=msg):
        cls(5, 4)(packed)


@pytest.mark.parametrize("cls", LAYERS)
def test_layer_mismatched_state_shape(cls) -> None:
    layer = cls(5, 4, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(3, 7, 5)  # (N, L, H_in)
    layer(x, state_for(cls, (4, 3, 4)))  # the right shape passes
    for wrong in ((2, 3, 4), (4, 7, 4), (4, 3, 5), (4, 4)):
        with pytest.raises(ValueError, match=re.escape("shape (4, 3, 4), got " + str(wrong))):
            layer(x, state_for(cls, wrong))
    with pytest.raises(ValueError, match=re.escape("expected h_0 of shape (4, 4), got (4, 1, 4)")):
        layer(torch.randn(7, 5), state_for(cls, (4, 1, 4)))  # unbatched input wants an unbatched state


def test_lstm_state_must_be_a_pair_and_others_a_tensor() -> None:
    x, h = torch.randn(7, 3, 5), torch.zeros(1, 3, 4)
    with pytest.raises(TypeError, match=re.escape("tuple (h, c)")):
        models.LSTM(5, 4)(x, h)
    with pytest.raises(TypeError, match="length 3"):
        models.LSTM(5, 4)(x, (h, h, h))
    with pytest.raises(ValueError, match=re.escape("expected c_0 of shape (1, 3, 4)")):
        models.LSTM(5, 4)(x, (h, torch.zeros(1, 3, 5)))
    for cls in (models.GRU, models.RNN):
        with pytest.raises(TypeError, match="single tensor"):
            cls(5, 4)(x, (h, h))


@pytest.mark.parametrize("cls", LAYERS)
def test_layer_dtype_and_device_mismatch(cls) -> None:
    layer = cls(5, 4)
    with pytest.raises(
        TypeError, match="input has dtype torch.float64 but the parameters have dtype torch.float32"
    ):  # noqa: E501
        layer(torch.randn(7, 3, 5, dtype=torch.float64))
    with pytest.raises(TypeError, match="h_0 has dtype torch.float64"):
        layer(torch.randn(7, 3, 5), state_for(cls, (1, 3, 4), dtype=torch.float64))
    with pytest.raises(TypeError, match="floating-point input.*embedding"):
        layer(torch.randint(0, 5, (7, 3, 5)))
    with pytest.raises(ValueError, match="input is on device meta but the parameters are on cpu"):
        layer(torch.empty(7, 3, 5, device="meta"))
    with pytest.raises(ValueError, match="h_0 is on device meta"):
        layer(torch.randn(7, 3, 5), state_for(cls, (1, 3, 4), device="meta"))
    with pytest.raises(TypeError, match="torch.Tensor, got list"):
        layer([[0.0] * 5])
    with pytest.raises(ValueError, match="at least one step"):
        layer(torch.randn(0, 3, 5))


@pytest.mark.parametrize("cls", LAYERS)
def test_layer_constructor_arguments(cls) -> None:
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        cls(5, 0)
    with pytest.raises(TypeError, match="hidden_size must be an int"):
        cls(5, 2.5)
    with pytest.raises(ValueError, match="num_layers must be greater than zero"):
        cls(5, 4, 0)
    with pytest.raises(ValueError, match=re.escape("dropout must be a probability in [0, 1], got 1.5")):
        cls(5, 4, 2, dropout=1.5)
    with pytest.raises(TypeError, match="dropout must be a number"):
        cls(5, 4, 2, dropout="0.1")
    with pytest.warns(UserWarning, match="num_layers=1"):
        cls(5, 4, dropout=0.5)


def test_layer_specific_arguments() -> None:
    with pytest.raises(ValueError, match="nonlinearity 'sigmoid'"):
        models.RNN(5, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="proj_size"):
        models.LSTM(5, 4, proj_size=2)
    names = "['coupled', 'no_forget', 'peephole', 'vanilla']"
    with pytest.raises(ValueError, match=re.escape(f"choose one of {names}")):
        models.LSTM(5, 4, variant="gru")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        models.LSTM(5, 4, 1, True, False, 0.0, False, 0, None, torch.float64)  # torch's positional order


# --- cells ---


@pytest.mark.parametrize("cls", CELLS)
def test_cell_wrong_rank_and_feature_size(cls) -> None:
    cell = cls(5, 4)
    with pytest.raises(ValueError, match=re.escape("1-D (H_in,) or 2-D (N, H_in) input, got a 3-D tensor")):
        cell(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="expected input of size 5 in the last dimension, got 6"):
        cell(torch.randn(3, 6))


@pytest.mark.parametrize("cls", CELLS)
def test_cell_mismatched_state(cls) -> None:
    cell = cls(5, 4)
    with pytest.raises(ValueError, match=re.escape("expected h of shape (3, 4), got (3, 5)")):
        cell(torch.randn(3, 5), state_for(cls, (3, 5)))
    with pytest.raises(ValueError, match=re.escape("expected h of shape (4,), got (1, 4)")):
        cell(torch.randn(5), state_for(cls, (1, 4)))
    with pytest.raises(TypeError, match="h has dtype torch.float64"):
        cell(torch.randn(3, 5), state_for(cls, (3, 4), dtype=torch.float64))
    with pytest.raises(TypeError, match="input has dtype torch.float64"):
        cell(torch.randn(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="input is on device meta"):
        cell(torch.empty(3, 5, device="meta"))


def test_cell_state_kind() -> None:
    x, h = torch.randn(3, 5), torch.zeros(3, 4)
    with pytest.raises(TypeError, match=re.escape("tuple (h, c)")):
        models.LSTMCell(5, 4)(x, h)
    with pytest.raises(TypeError, match="single tensor"):
        models.GRUCell(5, 4)(x, (h, h))
    with pytest.raises(ValueError, match="nonlinearity 'gelu'"):
        models.RNNCell(5, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="input_size must be greater than zero"):
        models.GRUCell(0, 4)
