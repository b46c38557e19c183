"""Image-caption pairs from a Hugging Face ``datasets.Dataset`` (or a local ``imagefolder``), under the
style nuisance: bring any labelled image-text data to the image-text protocol of Kamai et al. 2026.

The data set needs three columns: an image column (a ``datasets.Image`` feature, Pillow images, or
uint8 arrays), a caption column (a string, or a list of strings: one is shown per epoch, chosen by
seed) and a label column (integers in ``[0, n_classes)``: a ``ClassLabel`` names the classes, or
``class_names`` does). Rows with an empty caption list are refused, naming the row. The tokenizer of
a ``"val"`` or ``"test"`` split must be the training split's (``tokenizer=train.tokenizer``): a
vocabulary fitted on evaluation captions would leak them.
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np
import torch

from mmphase_bench.data.image_text import ImageTextPairs, image_to_tensor
from mmphase_bench.errors import FileFormatError, InputError, InputTypeError, MissingFileError

PROTOCOL_VERSION = "hf-image-text/1"


class HFImageTextPairs(ImageTextPairs):
    """Pairs from a ``datasets.Dataset``: ``dataset[i] -> (image (3, S, S) in [0, 1], token ids, label)``.

    ``dataset`` one split of a Hugging Face data set; ``image_column``, ``caption_column``,
    ``label_column`` its columns; ``class_names`` (default: the label column's ``ClassLabel`` names).
    The other arguments are those of :class:`~mmphase_bench.data.image_text.ImageTextPairs`
    (``image_size`` default 64).
    """

    dataset_name = "hf-image-text"
    protocol_name = PROTOCOL_VERSION

    @classmethod
    def from_imagefolder(cls, folder: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None, **kwargs) -> "HFImageTextPairs":
        """A local ``imagefolder`` (images plus a ``metadata.jsonl`` with ``file_name`` and the caption and
        label columns), read with ``datasets.load_dataset("imagefolder", data_dir=folder)`` (offline)."""
        import datasets

        if not os.path.isdir(folder):
            raise MissingFileError(f"folder {folder} is not a folder")
        if not os.path.isfile(os.path.join(folder, "metadata.jsonl")):
            raise MissingFileError(f"folder {folder} has no metadata.jsonl (file_name, caption and label per image)")
        loaded = datasets.load_dataset("imagefolder", data_dir=str(folder), split="train",
                                       cache_dir=None if cache_dir is None else str(cache_dir))
        return cls(loaded, **kwargs)

    def __init__(
        self,
        dataset,
        split: str = "train",
        image_column: str = "image",
        caption_column: str = "caption",
        label_column: str = "label",
        class_names: Sequence[str] | None = None,
        style_strength: float = 0.2,
        style_jitter: float = 0.0,
        style_in_caption: bool = True,
        image_size: int = 64,
        seed: int = 0,
        tokenizer=None,
        max_length: int | None = None,
        min_frequency: int = 2,
    ):
        import datasets

        if not isinstance(dataset, datasets.Dataset):
            raise InputTypeError(f"dataset must be a datasets.Dataset (one split), got {type(dataset).__name__}")
        for argument, column in (("image_column", image_column), ("caption_column", caption_column),
                                 ("label_column", label_column)):
            if column not in dataset.column_names:
                raise InputError(f"{argument}={column!r} is not a column of the data set ({', '.join(dataset.column_names)})")
        if len(dataset) == 0:
            raise InputError("dataset has no rows")
        if tokenizer is None and split != "train":
            raise InputError(f"tokenizer: a {split!r} split needs the training split's tokenizer (tokenizer=train.tokenizer)")
        self.dataset = dataset
        self.columns = {"image": image_column, "caption": caption_column, "label": label_column}
        feature = dataset.features[label_column]
        if class_names is None:
            if not isinstance(feature, datasets.ClassLabel):
                raise InputError(f"class_names: the label column {label_column!r} is not a ClassLabel; name the classes")
            class_names = feature.names
        if isinstance(class_names, str) or not all(isinstance(name, str) for name in class_names) or len(class_names) < 2:
            raise InputError("class_names must be a list of at least two strings")
        self.class_names = tuple(class_names)
        labels = np.asarray(dataset[label_column])
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise FileFormatError(f"label column {label_column!r} must hold integers, got {labels.dtype} {labels.shape}")
        outside = np.flatnonzero((labels < 0) | (labels >= len(self.class_names)))
        if outside.size:
            raise FileFormatError(f"label column {label_column!r}: row {int(outside[0])} has label {int(labels[outside[0]])}, "
                                  f"outside [0, {len(self.class_names)})")
        self._labels = labels.astype(np.int64)
        self._captions = [self._check_captions(row, value) for row, value in enumerate(dataset[caption_column])]
        super().__init__(
            split=split, style_strength=style_strength, style_jitter=style_jitter, style_in_caption=style_in_caption,
            image_size=image_size, seed=seed, tokenizer=tokenizer, max_length=max_length, min_frequency=min_frequency,
        )

    def _check_captions(self, row: int, value) -> tuple[str, ...]:
        column = self.columns["caption"]
        captions = (value,) if isinstance(value, str) else value
        if not isinstance(captions, (list, tuple)) or not all(isinstance(c, str) for c in captions):
            raise FileFormatError(f"caption column {column!r}: row {row} must be a string or a list of strings, got {value!r:.60}")
        captions = tuple(" ".join(c.split()) for c in captions if c.strip())
        if not captions:
            raise FileFormatError(f"caption column {column!r}: row {row} has no caption")
        return captions

    def __len__(self) -> int:
        return len(self._labels)

    def _base_image(self, index: int) -> torch.Tensor:
        value = self.dataset[int(index)][self.columns["image"]]
        try:
            return image_to_tensor(value, self.image_size)
        except InputError as error:
            raise FileFormatError(f"image column {self.columns['image']!r}: row {index}: {error}") from None

    def _captions_of(self, index: int) -> list[str]:
        return list(self._captions[index])

    def _label_of(self, index: int) -> int:
        return int(self._labels[index])

    def _training_captions(self) -> Iterable[str]:
        return [c for captions in self._captions for c in captions]

    def _source_description(self) -> dict:
        return {"dataset": "hf", "protocol": PROTOCOL_VERSION, "hf_fingerprint": getattr(self.dataset, "_fingerprint", None),
                "rows": len(self), "columns": self.columns, "class_names": list(self.class_names)}


__all__ = ["HFImageTextPairs", "PROTOCOL_VERSION"]
