"""Image captioning, one-to-many: a small CNN reads an image into a grid of feature vectors, and an
LSTM writes the caption one word at a time, with or without attention over the grid.

The encoder is three 3x3 convolutions, the first with stride 2, the second followed by a 2x2
pooling: a (3, 32, 32) image becomes an 8x8 grid, S = 64 cells of ``channels`` features each.
Two extra input channels hold each pixel's x and y coordinate, so a cell's features say *where*
it is (attention's context is a weighted sum, which would otherwise lose the position that a
relation word such as "left of" needs). Both decoders start from ``h_0 = tanh(W vec(grid))``, a
summary of the whole grid, as in Vinyals et al. (2015). At every step t the decoder reads a
context c_t: without attention one fixed vector ``c = tanh(W_c vec(grid))``; with
``attention="additive"`` the weighted mean ``c_t = sum_j alpha_tj v_j`` of the grid cells ``v_j``
under weights computed from its previous state ``h_{t-1}`` (Xu et al. 2015), with
``models.attention``'s module. Then

    h_t, m_t = LSTMCell([E y_{t-1}; c_t], (h_{t-1}, m_{t-1})),   logits_t = W_o [h_t; c_t]

``forward(images, n_cells, captions_in)`` has ``models.Seq2Seq``'s call signature, so
``train.Seq2SeqLoss`` trains it with 4-tuple batches ``(images, n_cells, tgt_in, tgt_out)``.
Used in chapters/06_captioning.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib.data.scenes import check_images
from course_lib.models.attention import make_attention

__all__ = ["CaptionConfig", "GridEncoder", "CaptionModel", "greedy_caption"]


@dataclass(frozen=True)
class CaptionConfig:
    """Sizes of the captioner. ``attention``: "additive", "multiplicative" or None (no attention)."""

    vocab_size: int
    image_size: int = 32
    channels: int = 32
    embed_size: int = 32
    hidden_size: int = 128
    attention: str | None = "additive"
    attention_size: int = 32  # the additive score's hidden width: it runs for every cell at every step

    def __post_init__(self) -> None:
        if self.image_size % 4 or self.image_size < 8:
            raise ValueError(f"image_size must be a multiple of 4 and >= 8, got {self.image_size}")

    @property
    def grid(self) -> int:
        """Side of the feature grid: the image size after a stride of 2 and a 2x2 pooling."""
        return self.image_size // 4


class GridEncoder(nn.Module):
    """(B, 3, H, W) images -> (B, S, C) features on an (H/4) x (W/4) grid, S = H*W/16."""

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.net = nn.Sequential(
            nn.Conv2d(5, half, 3, padding=1, stride=2), nn.ReLU(),  # 3 colours + x, y; strided: cheap
            nn.Conv2d(half, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
        )

    def forward(self, images: Tensor) -> Tensor:
        b, _, h, w = images.shape
        ys = torch.linspace(-1, 1, h, device=images.device).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=images.device).view(1, 1, 1, w).expand(b, 1, h, w)
        grid = self.net(torch.cat([images, xs, ys], dim=1))  # (B, C, H/4, W/4)
        return grid.flatten(2).transpose(1, 2)  # (B, S, C), cells in row-major order


class CaptionModel(nn.Module):
    """CNN encoder + LSTM decoder, with attention over the grid or without (``config.attention``).

    forward(images (B, 3, H, W), n_cells (B,) or None, captions_in (B, T) long) ->
    (logits (B, T, V), weights (B, T, S) or None). ``n_cells`` is ignored (every image has S cells);
    it is there so that ``train.Seq2SeqLoss`` calls the model as it calls ``models.Seq2Seq``.
    """

    def __init__(self, config: CaptionConfig):
        super().__init__()
        self.config = config
        c, h, s = config.channels, config.hidden_size, config.grid**2
        self.encoder = GridEncoder(c)
        self.init_h = nn.Linear(s * c, h)
        self.init_c = nn.Linear(s * c, h)
        self.embedding = nn.Embedding(config.vocab_size, config.embed_size)
        self.attention = (make_attention(config.attention, h, c, config.attention_size)
                          if config.attention else None)
        # Without attention the context is one fixed summary of the grid, fed at every step.
        self.summary = nn.Linear(s * c, c) if self.attention is None else None
        self.cell = nn.LSTMCell(config.embed_size + c, h)
        self.out = nn.Linear(h + c, config.vocab_size)

    def start(self, images: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor], Tensor | None]:
        """Encode: (grid (B, S, C), the decoder's first state ((B, H), (B, H)), memory).

        memory: the attention's projected keys (B, S, A), or without attention the fixed context (B, C).
        """
        check_images(images, self.config.image_size)
        grid = self.encoder(images)  # (B, S, C)
        flat = grid.flatten(1)  # (B, S*C)
        state = (torch.tanh(self.init_h(flat)), torch.tanh(self.init_c(flat)))
        if self.attention is not None:
            return grid, state, self.attention.project_keys(grid)  # (B, S, A)
        return grid, state, torch.tanh(self.summary(flat))  # (B, C)

    def step(self, tokens: Tensor, grid: Tensor, state: tuple[Tensor, Tensor], memory: Tensor
             ) -> tuple[Tensor, tuple[Tensor, Tensor], Tensor | None]:
        """One word: tokens (B,) -> (logits (B, V), new state, weights (B, S) or None)."""
        weights = None
        if self.attention is not None:
            context, weights = self.attention(state[0], grid, projected_keys=memory)  # (B, C), (B, S)
        else:
            context = memory  # (B, C), the same at every step
        x = torch.cat([self.embedding(tokens), context], dim=1)  # (B, E + C)
        h, m = self.cell(x, state)
        return self.out(torch.cat([h, context], dim=1)), (h, m), weights  # (B, V)

    def forward(self, images: Tensor, n_cells: Tensor | None, captions_in: Tensor
                ) -> tuple[Tensor, Tensor | None]:
        b = images.shape[0]
        if captions_in.dim() != 2 or captions_in.dtype != torch.long or captions_in.shape[0] != b:
            raise ValueError(f"captions_in must be int64 (B, T) with B={b}, got "
                             f"{captions_in.dtype} {tuple(captions_in.shape)}")
        grid, state, keys = self.start(images)
        logits, weights = [], []
        for t in range(captions_in.shape[1]):  # teacher forcing: the true previous word goes in
            out, state, w = self.step(captions_in[:, t], grid, state, keys)
            logits.append(out)
            weights.append(w)
        stacked = torch.stack(weights, dim=1) if self.attention is not None else None  # (B, T, S)
        return torch.stack(logits, dim=1), stacked  # (B, T, V)


@torch.no_grad()
def greedy_caption(model: CaptionModel, images: Tensor, bos_id: int, eos_id: int, max_len: int
                   ) -> tuple[list[list[int]], Tensor | None]:
    """Greedy decoding of at most ``max_len`` words per image, each row cut before its ``<eos>``.

    Returns (token ids per image, weights (B, max_len, S) or None; steps after ``<eos>`` keep the
    weights they were computed with, ignore them). The model is put in eval mode and left there.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    model.eval()
    grid, state, keys = model.start(images)
    tokens = torch.full((images.shape[0],), bos_id, dtype=torch.long, device=images.device)
    out, weights = [], []
    for _ in range(max_len):
        logits, state, w = model.step(tokens, grid, state, keys)
        tokens = logits.argmax(-1)  # (B,)
        out.append(tokens)
        weights.append(w)
    ids = torch.stack(out, dim=1).tolist()  # (B, max_len)
    cut = [row[:row.index(eos_id)] if eos_id in row else row for row in ids]
    return cut, (torch.stack(weights, dim=1) if model.attention is not None else None)
