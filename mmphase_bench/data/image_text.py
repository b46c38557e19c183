"""Image-caption pairs under the style nuisance: the base class of the image-text data sets.

Kamai et al. 2026 (image-caption experiment) pair each image with one of its captions and add a
*style* nuisance shared by both modalities: the image is restyled (:mod:`mmphase_bench.data.style`)
and, with ``style_in_caption``, the caption is prefixed with a description of that style. A data set
of this kind yields ``dataset[i] -> (image, tokens, label)``:

    image   float32 (3, S, S) in [0, 1]: the item's base image, restyled by its style draw
    tokens  int64 (max_length,): word ids of the caption shown this epoch (style prefix included),
            ``<bos> words <eos>`` then ``<pad>`` (:class:`~mmphase_bench.data.tokenizer.WordTokenizer`)
    label   int: the downstream class (never seen in training except by supervised baselines)

Which of an item's captions is shown is drawn per epoch (:meth:`ImageTextPairs.set_epoch`), from
``default_rng([seed, split code, index, epoch, SALT])``: one caption per image per epoch, chosen by
seed. The style draw of item i comes from ``StyleNuisance(seed = 3 seed + split code)`` (split codes:
train 0, val 1, test 2), so the splits never share style draws. Everything is a function of
(seed, split, index, epoch): the same bytes in any batch size, order or thread count.

Subclasses (:class:`~mmphase_bench.data.captioned_scenes.CaptionedScenes`, the MS-COCO loader) say
what the items are: ``__len__``, ``_base_images(indices)`` (or ``_base_image(index)``),
``_captions_of(index)``, ``_label_of(index)``, ``_training_captions()`` (what a tokenizer is fitted
on when none is given), ``_source_description()`` (for the fingerprint), ``class_names``, and
optionally ``latents(indices)`` (per-item nuisance latents, added to each batch's).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

from mmphase_bench.data.style import PHRASES, StyleNuisance, active_group_count
from mmphase_bench.data.tokenizer import WordTokenizer
from mmphase_bench.errors import InputError, InputTypeError
from mmphase_bench.validation import check_choice, check_float, check_int

#: Bumped when the caption choice, the style seeding or the fingerprint's contents change.
IMAGE_TEXT_VERSION = "image-text/1"
SPLITS = ("train", "val", "test")
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
#: Salt of the per-(item, epoch) caption choice (``"CAPT"`` in ASCII).
SALT_CAPTION_CHOICE = 0x43415054
#: Default caption length in tokens (``<bos>`` and ``<eos>`` included) when a tokenizer is fitted.
DEFAULT_MAX_LENGTH = 32
#: Every word a style description can use (so a fitted tokenizer never makes a style word unknown).
STYLE_VOCABULARY = " ".join(["a", "an", "photo", *PHRASES.values()])


@dataclass
class ImageTextBatch:
    """A batch of image-caption pairs.

    ``images`` (B, 3, S, S) float32 in [0, 1]; ``tokens`` (B, L) int64; ``label`` (B,) int64;
    ``latents`` name -> (B, ...) tensors (the style's, :func:`~mmphase_bench.data.style.style_latents`,
    and the data set's own); ``index`` (B,) int64 item indices; ``captions`` the B caption strings
    the tokens encode (style prefix included)."""

    images: torch.Tensor
    tokens: torch.Tensor
    label: torch.Tensor
    latents: dict[str, torch.Tensor]
    index: torch.Tensor
    captions: list[str]

    def __len__(self) -> int:
        return int(self.label.shape[0])


def image_to_tensor(image, size: int) -> torch.Tensor:
    """float32 (3, size, size) in [0, 1] of a Pillow image or an (H, W[, C]) uint8 array: converted to
    RGB, resized so the shorter side is ``size`` (Pillow's bilinear filter, antialiased when it
    shrinks), centre-cropped to a square. The resize runs on 8-bit pixels, before the conversion to
    floats: four times faster than resizing the float tensor of a COCO photograph."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
            raise InputError(f"image must be a Pillow image or a uint8 (H, W[, 1|3|4]) array, got {array.dtype} {array.shape}")
        image = Image.fromarray(array.squeeze(-1) if array.ndim == 3 and array.shape[2] == 1 else array)
    image = image.convert("RGB")
    width, height = image.size
    scale = size / min(width, height)
    resized = (max(size, round(width * scale)), max(size, round(height * scale)))
    if resized != image.size:
        image = image.resize(resized, Image.BILINEAR)
    left, top = (resized[0] - size) // 2, (resized[1] - size) // 2
    image = image.crop((left, top, left + size, top + size))
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).to(torch.float32).div_(255.0).contiguous()


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InputTypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


class ImageTextPairs(Dataset):
    """Base of the image-caption data sets (see the module docstring for the item contract).

    ``split`` "train", "val" or "test"; ``style_strength`` s in [0, 1] (max(1, round(6 s)) active
    style groups for s > 0), ``style_jitter`` in [0, 1] (the probability, per group, that the caption
    names another member than the one applied), ``style_in_caption`` (prefix captions with the style's
    description); ``image_size`` S in pixels; ``seed`` >= 0. ``tokenizer``: a
    :class:`~mmphase_bench.data.tokenizer.WordTokenizer`, the path of one saved with ``save``, or
    None to fit one on :meth:`_training_captions` (words seen >= ``min_frequency`` times, plus every
    style word) with ``max_length`` tokens (default 32). Given a tokenizer, ``max_length`` must be
    None or equal to the tokenizer's.
    """

    dataset_name = "image-text"
    protocol_name = IMAGE_TEXT_VERSION
    #: Named cells of the benchmark grid (name -> cell with ``style_strength`` and ``style_jitter``).
    benchmark_grid: dict = {}
    class_names: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        split: str = "train",
        style_strength: float = 0.2,
        style_jitter: float = 0.0,
        style_in_caption: bool = True,
        image_size: int = 64,
        seed: int = 0,
        tokenizer: WordTokenizer | str | os.PathLike | None = None,
        max_length: int | None = None,
        min_frequency: int = 2,
    ):
        self.split = check_choice("split", split, SPLITS)
        self.seed = check_int("seed", seed, minimum=0)
        self.image_size = check_int("image_size", image_size, minimum=8, maximum=1024)
        self.min_frequency = check_int("min_frequency", min_frequency, minimum=1)
        style_strength = check_float("style_strength", style_strength, minimum=0.0, maximum=1.0)
        style_jitter = check_float("style_jitter", style_jitter, minimum=0.0, maximum=1.0)
        style_in_caption = _check_bool("style_in_caption", style_in_caption)
        self.style = StyleNuisance(style_strength, style_jitter, style_in_caption, seed=3 * self.seed + SPLIT_CODES[self.split])
        if max_length is not None:
            max_length = check_int("max_length", max_length, minimum=3, maximum=4096)
        self._tokenizer = self._resolve_tokenizer(tokenizer, max_length)
        self._max_length = DEFAULT_MAX_LENGTH if max_length is None else max_length
        self.epoch = 0
        self._fingerprint: str | None = None

    @staticmethod
    def _resolve_tokenizer(tokenizer, max_length: int | None) -> WordTokenizer | None:
        if tokenizer is None:
            return None
        if isinstance(tokenizer, (str, os.PathLike)):
            tokenizer = WordTokenizer.load(tokenizer)
        if not isinstance(tokenizer, WordTokenizer):
            raise InputTypeError(
                f"tokenizer must be a WordTokenizer, the path of a saved one, or None; got {type(tokenizer).__name__}"
            )
        if max_length is not None and max_length != tokenizer.max_length:
            raise InputError(
                f"max_length={max_length} disagrees with the tokenizer's max_length={tokenizer.max_length}; "
                "pass max_length=None with a tokenizer"
            )
        return tokenizer

    # ------------------------------------------------------------------ what subclasses provide
    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def _base_image(self, index: int) -> torch.Tensor:  # pragma: no cover - interface
        """float32 (3, S, S) in [0, 1]: item ``index`` before the style."""
        raise NotImplementedError

    def _base_images(self, indices: np.ndarray) -> torch.Tensor:
        """float32 (B, 3, S, S): :meth:`_base_image` of each index (subclasses may batch this)."""
        return torch.stack([self._base_image(int(i)) for i in indices])

    def _captions_of(self, index: int) -> list[str]:  # pragma: no cover - interface
        """The item's captions (at least one), before any style prefix."""
        raise NotImplementedError

    def _label_of(self, index: int) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def _training_captions(self) -> Iterable[str]:  # pragma: no cover - interface
        """The text a tokenizer is fitted on when none is given (the training split's captions)."""
        raise NotImplementedError

    def _source_description(self) -> dict:  # pragma: no cover - interface
        """JSON-ready description of everything that determines the items (for the fingerprint)."""
        raise NotImplementedError

    def latents(self, indices) -> dict[str, torch.Tensor]:
        """Per-item nuisance latents of the data set itself, (B, ...) tensors (none by default)."""
        return {}

    # ------------------------------------------------------------------ the shared machinery
    @property
    def tokenizer(self) -> WordTokenizer:
        """The tokenizer (fitted on first use when none was given)."""
        if self._tokenizer is None:
            self._tokenizer = WordTokenizer.fit(
                self._training_captions(), min_frequency=self.min_frequency, max_length=self._max_length,
                include=STYLE_VOCABULARY,
            )
        return self._tokenizer

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def style_groups_per_image(self) -> int:
        """How many style groups act on each image (0 at strength 0)."""
        return active_group_count(self.style.strength)

    def set_epoch(self, epoch: int) -> None:
        """Show epoch ``epoch``'s caption of every item from now on (epoch 0 at construction)."""
        self.epoch = check_int("epoch", epoch, minimum=0)

    def _check_indices(self, indices) -> np.ndarray:
        array = np.atleast_1d(np.asarray(indices))
        if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
            raise InputTypeError(f"indices must be a 1-D sequence of integers, got shape {array.shape}, dtype {array.dtype}")
        array = array.astype(np.int64)
        if array.size and (array.min() < 0 or array.max() >= len(self)):
            raise IndexError(f"indices out of range for a data set of {len(self)} items")
        return array

    def caption_choice(self, index: int, epoch: int | None = None) -> int:
        """Which of item ``index``'s captions is shown in ``epoch`` (default: the current epoch)."""
        epoch = self.epoch if epoch is None else check_int("epoch", epoch, minimum=0)
        count = len(self._captions_of(index))
        rng = np.random.default_rng([self.seed, SPLIT_CODES[self.split], int(index), epoch, SALT_CAPTION_CHOICE])
        return int(rng.integers(count))

    def caption(self, index: int) -> str:
        """The caption item ``index`` shows this epoch, style description included."""
        index = int(self._check_indices([index])[0])
        chosen = self._captions_of(index)[self.caption_choice(index)]
        return self.style.caption(chosen, self.style.draw(index))

    def captions_at_epoch(self, indices, epoch: int) -> list[str]:
        """The captions the items show in ``epoch`` (style description included), without rendering."""
        epoch = check_int("epoch", epoch, minimum=0)
        indices = self._check_indices(indices)
        return [
            self.style.caption(self._captions_of(int(i))[self.caption_choice(int(i), epoch)], self.style.draw(int(i)))
            for i in indices
        ]

    def tokens_at_epoch(self, indices, epoch: int) -> torch.Tensor:
        """int64 (B, max_length): the token ids of :meth:`captions_at_epoch`."""
        return self.tokenizer.encode_batch(self.captions_at_epoch(indices, epoch))

    def batch(self, indices) -> ImageTextBatch:
        """The items at ``indices`` (any order, repeats allowed), rendered and styled in one pass."""
        indices = self._check_indices(indices)
        draws = self.style.draws(indices)
        base = self._base_images(indices).to(torch.float32)
        images = self.style.apply_batch(base, draws) if self.style.n_groups else base.clone()
        captions = [
            self.style.caption(self._captions_of(int(i))[self.caption_choice(int(i))], draw)
            for i, draw in zip(indices, draws)
        ]
        labels = torch.tensor([self._label_of(int(i)) for i in indices], dtype=torch.int64)
        latents = {**self.style.latents(draws), **self.latents(indices)}
        return ImageTextBatch(
            images=images, tokens=self.tokenizer.encode_batch(captions), label=labels, latents=latents,
            index=torch.from_numpy(indices.copy()), captions=captions,
        )

    def batches(self, batch_size: int = 256, start: int = 0, stop: int | None = None) -> Iterator[ImageTextBatch]:
        """Consecutive batches covering ``start .. stop - 1``; only one batch is held at a time."""
        batch_size = check_int("batch_size", batch_size, minimum=1)
        stop = len(self) if stop is None else check_int("stop", stop, minimum=0, maximum=len(self))
        start = check_int("start", start, minimum=0, maximum=stop)
        for lo in range(start, stop, batch_size):
            yield self.batch(np.arange(lo, min(lo + batch_size, stop)))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise InputTypeError(f"index must be an integer, got {type(index).__name__}")
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a data set of {len(self)} items")
        item = self.batch([index])
        return item.images[0], item.tokens[0], int(item.label[0])

    def describe(self) -> dict:
        """Everything that determines the items, captions and tokens (JSON-ready)."""
        return {
            "version": IMAGE_TEXT_VERSION, "dataset": self.dataset_name, "protocol": self.protocol_name,
            "split": self.split, "seed": self.seed, "image_size": self.image_size, "style": self.style.to_dict(),
            "tokenizer": self.tokenizer.fingerprint, "source": self._source_description(),
        }

    @property
    def fingerprint(self) -> str:
        """SHA-256 of :meth:`describe` (JSON, sorted keys): changes with any of it, not with the epoch
        (the per-epoch caption choice is a fixed rule of the seed, part of the version)."""
        if self._fingerprint is None:
            payload = json.dumps(self.describe(), sort_keys=True, default=str).encode()
            self._fingerprint = hashlib.sha256(payload).hexdigest()
        return self._fingerprint

    def __repr__(self) -> str:
        style = self.style
        return (
            f"{type(self).__name__}(split={self.split!r}, n={len(self)}, style_strength={style.strength:g}, "
            f"style_jitter={style.jitter:g}, style_in_caption={style.in_caption}, image_size={self.image_size}, "
            f"seed={self.seed}) [{self.style_groups_per_image} style groups per image, {self.n_classes} classes, "
            f"vocabulary {self.tokenizer.vocab_size} words, max_length {self.tokenizer.max_length}]"
        )


__all__ = ["ImageTextPairs", "ImageTextBatch", "image_to_tensor", "IMAGE_TEXT_VERSION", "SPLITS", "STYLE_VOCABULARY"]
