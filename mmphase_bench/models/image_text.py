"""The reference image-text submissions: an image view x (pixels) paired with a caption view y (tokens).

Kamai et al. 2026, image-caption experiment: a ResNet-18 image encoder and a small transformer text
encoder (2 layers, width 256, 4 heads), both trained from scratch, with 128-d representations.

- :class:`ImageTextVICReg` (CA): VICReg between projections of the two encodings; the probe sees
  the image encoder.
- :class:`ImageToText` (CP, image -> text): a non-autoregressive caption decoder on the image
  encoding, trained with cross-entropy over the caption's tokens; the probe sees the image encoder.
- :class:`TextToImage` (CP, text -> image): a pixel decoder on the text encoding, trained with the
  mean squared error to the image; the probe sees the text encoder (``probe_view = "y"``).
- :class:`ImageTextSupervised` (other): the image encoder trained on the labels; a ceiling.
- :class:`ImageUntrained`, :class:`TextUntrained` (other): each encoder at its random initialisation,
  never trained: the controls a trained encoder must beat.

They need an image x view and a :class:`~mmphase_bench.models.tokens.TokenSpec` y view; the stereo
and spiked suites' models are those of :mod:`mmphase_bench.models.reference`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from mmphase_bench.errors import FileFormatError, InputError, MissingFileError
from mmphase_bench.models.encoders import build_decoder, projector
from mmphase_bench.models.interface import EMBEDDING_DIM, Submission, TaskSpec, ViewSpec
from mmphase_bench.models.losses import VICRegLoss
from mmphase_bench.models.tokens import TokenSpec, is_token_view

#: Per-channel mean and standard deviation the image encoder normalises by (ImageNet's, as torchvision's
#: ResNets expect; the authors' data pipeline normalises the same way).
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
#: Below this side the image encoder uses the small-image stem (see :class:`ResNet18Encoder`).
SMALL_IMAGE_SIDE = 64


class ResNet18Encoder(nn.Module):
    """torchvision's ResNet-18 (``weights=None``: from scratch) with its classifier replaced by a
    Linear(512, ``out_dim``) layer; input float (B, C, H, W) in [0, 1], normalised inside by
    :data:`IMAGE_MEAN` / :data:`IMAGE_STD` (channel 0's values for a one-channel image).

    Adapted to the image size: for sides >= 64 the standard stem (7 x 7 convolution, stride 2, then
    a 3 x 3 max-pool: a 64 x 64 image reaches the first residual stage at 16 x 16); for smaller sides
    the small-image stem (a 3 x 3 convolution, stride 1, no max-pool), so that the residual stages
    still see a useful map. ``weights_path``: a local file of pretrained weights (a state dict of
    this encoder's ``backbone``, read with ``torch.load(weights_only=True)``; keys and shapes
    checked). Nothing is ever downloaded. ``weights_sha256`` records the file's hash (None without).
    """

    def __init__(self, spec: ViewSpec, out_dim: int = EMBEDDING_DIM, weights_path: str | os.PathLike | None = None):
        super().__init__()
        if spec.kind != "image":
            raise InputError(f"ResNet18Encoder needs an image view, got kind {spec.kind!r}")
        channels, height, width = spec.shape
        self.backbone = torchvision.models.resnet18(weights=None, num_classes=out_dim)
        if channels != 3 or min(height, width) < SMALL_IMAGE_SIDE:
            small = min(height, width) < SMALL_IMAGE_SIDE
            self.backbone.conv1 = nn.Conv2d(
                channels, 64, kernel_size=3 if small else 7, stride=1 if small else 2, padding=1 if small else 3, bias=False,
            )
            if small:
                self.backbone.maxpool = nn.Identity()
        mean = torch.tensor([IMAGE_MEAN[c % 3] for c in range(channels)]).view(1, channels, 1, 1)
        std = torch.tensor([IMAGE_STD[c % 3] for c in range(channels)]).view(1, channels, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self.weights_sha256 = None if weights_path is None else self.load_weights(weights_path)

    def load_weights(self, path: str | os.PathLike) -> str:
        """Load a local state dict into the backbone (every key and shape must match); returns its SHA-256."""
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"weights_path {path} does not exist")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises several types for files it cannot read
            raise FileFormatError(f"weights_path {path} is not a torch state dict: {type(error).__name__}: {error}") from None
        if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            raise FileFormatError(f"weights_path {path} must hold a dict of parameter name -> tensor")
        expected = self.backbone.state_dict()
        missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        if missing or unexpected:
            raise FileFormatError(f"weights_path {path}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
        for key, value in expected.items():
            if state[key].shape != value.shape:
                raise FileFormatError(f"weights_path {path}: {key} has shape {tuple(state[key].shape)}, expected {tuple(value.shape)}")
        self.backbone.load_state_dict(state)
        return hashlib.sha256(path.read_bytes()).hexdigest()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone((images - self.mean) / self.std)


class TextEncoder(nn.Module):
    """Token and learned position embeddings (width 256), a 2-layer transformer encoder (4 heads,
    feed-forward 1024, dropout 0.1, post-norm: ``torch.nn.TransformerEncoderLayer``'s defaults), the
    mean over the non-padding positions, then Linear(256, ``out_dim``).

    Input int64 (B, L) token ids; a sequence ends at its first ``pad_id`` (padding is masked in
    attention and in the mean; position 0 is never masked, so an all-padding row still has a value).
    """

    def __init__(self, spec: TokenSpec, out_dim: int = EMBEDDING_DIM, width: int = 256, layers: int = 2, heads: int = 4,
                 dropout: float = 0.1):
        super().__init__()
        if not is_token_view(spec):
            raise InputError(f"TextEncoder needs a token view (TokenSpec), got kind {spec.kind!r}")
        self.pad_id = spec.pad_id
        self.token_embedding = nn.Embedding(spec.vocab_size, width, padding_idx=spec.pad_id)
        self.position_embedding = nn.Embedding(spec.max_length, width)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=4 * width, dropout=dropout, batch_first=True)
        # enable_nested_tensor=False: the nested fast path is an inference-only shortcut whose
        # output for padded positions differs; the mean below ignores them anyway.
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, out_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens.long()
        padding = torch.cumsum(tokens == self.pad_id, dim=1) > 0  # from the first pad on
        padding[:, 0] = False
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        hidden = self.token_embedding(tokens) + self.position_embedding(positions)[None]
        hidden = self.transformer(hidden, src_key_padding_mask=padding)
        keep = (~padding).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * keep).sum(dim=1) / keep.sum(dim=1)
        return self.head(pooled)


class CaptionDecoder(nn.Module):
    """Non-autoregressive caption prediction: every position l gets ``P z + e_l`` (a projection of
    the representation z plus a learned position embedding, width ``hidden``), and one shared
    LayerNorm-Linear-GELU-Linear network maps it to logits over the vocabulary: (B, L, V)."""

    def __init__(self, spec: TokenSpec, in_dim: int = EMBEDDING_DIM, hidden: int = 512):
        super().__init__()
        self.max_length = spec.max_length
        self.project = nn.Linear(in_dim, hidden)
        self.position_embedding = nn.Embedding(spec.max_length, hidden)
        self.net = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, spec.vocab_size))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(self.max_length, device=z.device)
        return self.net(self.project(z)[:, None, :] + self.position_embedding(positions)[None])


def caption_cross_entropy(logits: torch.Tensor, tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Mean cross-entropy of (B, L, V) logits against (B, L) token ids over the non-padding positions:
    ``-(1 / |{(b, l): t_bl != pad}|) sum_{t_bl != pad} log softmax(logits_bl)[t_bl]``."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1).long(), ignore_index=pad_id)


def _check_views(name: str, x_spec: ViewSpec, y_spec: ViewSpec) -> None:
    if x_spec.kind != "image" or not is_token_view(y_spec):
        raise InputError(f"{name} needs an image x view and a token y view (an image-text suite), got "
                         f"{x_spec.kind!r} and {y_spec.kind!r}")


def _width(task: TaskSpec | None) -> int:
    return task.embedding_dim if task is not None else EMBEDDING_DIM


class ImageTextVICReg(Submission):
    """CA: VICReg between projections of f_X(image) and f_Y(caption), the probe on f_X.

    Kamai et al. 2026. f_X = :class:`ResNet18Encoder`, f_Y = :class:`TextEncoder`, both 128-d; each projected by
    Linear(128, 512)-ReLU-Linear(512, 128) (the authors' projection width); loss = VICRegLoss with
    weights 25 / 25 / 1 and the two branches' variance hinges summed (as their code does). The probe
    sees f_X(image)."""

    family = "CA"
    name = "image-text-vicreg"

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None):
        super().__init__(x_spec, y_spec, task)
        _check_views(self.name, x_spec, y_spec)
        width = _width(task)
        self.encoder_x, self.encoder_y = ResNet18Encoder(x_spec, width), TextEncoder(y_spec, width)
        self.projector_x, self.projector_y = projector(width, (512, 128)), projector(width, (512, 128))
        self.criterion = VICRegLoss(variance_reduction="sum")

    def loss(self, x, y):
        return self.criterion(self.projector_x(self.encoder_x(x)), self.projector_y(self.encoder_y(y)))

    def embed(self, x):
        return self.encoder_x(x)

    def embed_y(self, y):
        return self.encoder_y(y)


class ImageToText(Submission):
    """CP, image -> text: ``CE(g(f_X(image)), caption)``, the probe on the image encoder f_X.

    g is a :class:`CaptionDecoder` (hidden 512), the cross-entropy runs over the caption's
    non-padding tokens (:func:`caption_cross_entropy`), f_X is a :class:`ResNet18Encoder` (128-d)."""

    family = "CP"
    name = "image-to-text"

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None):
        super().__init__(x_spec, y_spec, task)
        _check_views(self.name, x_spec, y_spec)
        self.pad_id = y_spec.pad_id
        self.encoder_x = ResNet18Encoder(x_spec, _width(task))
        self.decoder = CaptionDecoder(y_spec, _width(task))

    def loss(self, x, y):
        return caption_cross_entropy(self.decoder(self.encoder_x(x)), y, self.pad_id)

    def embed(self, x):
        return self.encoder_x(x)


class TextToImage(Submission):
    """CP, text -> image: ``MSE(sigmoid(g(f_Y(caption))), image)``, the probe on the text encoder f_Y.

    f_Y is a :class:`TextEncoder` (128-d) and g the paper's pixel decoder
    (:class:`~mmphase_bench.models.encoders.ConvDecoder`: Linear(128, 64 (H/16) (W/16)), four
    transposed convolutions; an MLP when the sides do not divide by 16), squashed to [0, 1] like the
    images. The source view is the caption, so the probe reads ``embed_y``."""

    family = "CP"
    name = "text-to-image"
    probe_view = "y"

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None):
        super().__init__(x_spec, y_spec, task)
        _check_views(self.name, x_spec, y_spec)
        self.encoder_y = TextEncoder(y_spec, _width(task))
        self.decoder = build_decoder(x_spec, _width(task))

    def loss(self, x, y):
        return F.mse_loss(torch.sigmoid(self.decoder(self.encoder_y(y))), x)

    def embed(self, x):
        raise NotImplementedError("text-to-image encodes captions: its probe reads embed_y")

    def embed_y(self, y):
        return self.encoder_y(y)


class ImageTextSupervised(Submission):
    """The ceiling: the image encoder trained on the labels through a linear head (cross-entropy).

    f_X is a :class:`ResNet18Encoder` (128-d); the caption is not used. Not a model of the paper."""

    family = "other"
    name = "image-text-supervised"
    uses_labels = True

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None):
        super().__init__(x_spec, y_spec, task)
        _check_views(self.name, x_spec, y_spec)
        if task is None or task.kind != "classification":
            raise InputError(f"{self.name} needs a classification task")
        self.encoder_x = ResNet18Encoder(x_spec, _width(task))
        self.head = nn.Linear(_width(task), task.n_outputs)

    def loss(self, x, y, labels):
        return F.cross_entropy(self.head(self.encoder_x(x)), labels)

    def embed(self, x):
        return self.encoder_x(x)


class ImageUntrained(Submission):
    """A control: the image encoder at its random initialisation, never trained; what the probe reads
    from the architecture alone.

    f_X is a :class:`ResNet18Encoder` (128-d) initialised from the run's seed, as the trained models'
    are; nothing is fitted (``closed_form`` with an empty fit). A trained image encoder should beat it."""

    family = "other"
    name = "image-untrained"
    closed_form = True

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None):
        super().__init__(x_spec, y_spec, task)
        _check_views(self.name, x_spec, y_spec)
        self.encoder_x = ResNet18Encoder(x_spec, _width(task))

    def fit_closed_form(self, x, y, labels) -> None:
        return None  # the control: no training at all

    def loss(self, x, y):
        raise NotImplementedError("image-untrained is never trained")

    def embed(self, x):
        return self.encoder_x(x)


class TextUntrained(Submission):
    """A control: the text encoder at its random initialisation, never trained; what the probe reads
    from the captions through the architecture alone (a mean of random token embeddings already keeps
    which words a caption has).

    f_Y is a :class:`TextEncoder` (128-d) initialised from the run's seed; nothing is fitted. A
    text-to-image model whose probe does not beat it has learnt nothing the probe uses."""

    family = "other"
    name = "text-untrained"
    closed_form = True
    probe_view = "y"

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None):
        super().__init__(x_spec, y_spec, task)
        _check_views(self.name, x_spec, y_spec)
        self.encoder_y = TextEncoder(y_spec, _width(task))

    def fit_closed_form(self, x, y, labels) -> None:
        return None  # the control: no training at all

    def loss(self, x, y):
        raise NotImplementedError("text-untrained is never trained")

    def embed(self, x):
        raise NotImplementedError("text-untrained encodes captions: its probe reads embed_y")

    def embed_y(self, y):
        return self.encoder_y(y)


#: short name -> class, the image-text suites' built-ins (``mmphase models list``).
IMAGE_TEXT_MODELS = {
    cls.name: cls
    for cls in (ImageTextVICReg, ImageToText, TextToImage, ImageTextSupervised, ImageUntrained, TextUntrained)
}

__all__ = [
    "ResNet18Encoder", "TextEncoder", "CaptionDecoder", "caption_cross_entropy", "ImageTextVICReg", "ImageToText",
    "TextToImage", "ImageTextSupervised", "ImageUntrained", "TextUntrained", "IMAGE_TEXT_MODELS",
]
