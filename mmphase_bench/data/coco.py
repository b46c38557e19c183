"""MS-COCO image-caption pairs under the style nuisance (Kamai et al. 2026, image-caption experiment).

Reads the official layout under ``root`` (users bring their own copy; nothing is downloaded)::

    root/annotations/captions_train2017.json    images (id, file_name, ...), annotations (image_id, caption)
    root/annotations/instances_train2017.json   annotations (image_id, category_id, bbox), categories (id, name)
    root/train2017/000000000009.jpg             (and the same for val2017)

Label (the paper's protocol): the *dominant* object, the category of the largest box (bounding-box
area ``w h``; ties go to the smaller annotation id) among the 80 categories, numbered 0..79 in order
of category id. ``dominant_by="segment_area"`` ranks the annotations by their ``area`` field (the
segmentation mask's area) instead, as the authors' code does (github IlayMalinyak/mm_align_vs_pred,
``src/coco/data.py``); the two disagree on some images. Images without any box, and images without any caption, are skipped and counted
(:attr:`CocoStylePairs.skipped`). Each image shows one of its captions per epoch, chosen by seed,
prefixed with its style's description (the base class, :class:`~mmphase_bench.data.image_text.ImageTextPairs`).

Splits. The benchmark needs three: ``"train"`` is ``train<year>`` without its held-out part,
``"val"`` the held-out part (the images whose id is ``0 (mod 20)``: 5 %, fixed, the same for every
seed), ``"test"`` is ``val<year>``. ``n`` takes a seeded subsample of a split (a permutation of its
eligible images by ``default_rng([seed, split code, SALT])``); None keeps them all, in image-id order.

Images are decoded with Pillow (RGB), resized so the shorter side is ``image_size`` (bilinear,
antialiased) and centre-cropped to ``image_size`` squared, as float32 in [0, 1]. The tokenizer, when
none is given, is fitted on every caption of the training split (``min_frequency`` 5 by default).

Validation: every file read is checked for the keys and types it must have; an error names the file
and the key (``annotations[12].bbox``). An item whose image file is missing or is not an image fails
with an error naming the file. ``backend="pycocotools"`` (the ``coco`` extra) parses the annotation
files with pycocotools instead of :mod:`json`; the same checks run on what it read.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from mmphase_bench.data.image_text import SPLIT_CODES, ImageTextPairs, image_to_tensor
from mmphase_bench.errors import FileFormatError, InputError, InputTypeError, MissingFileError
from mmphase_bench.validation import check_choice, check_int

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = "coco-style/1"
BACKENDS = ("json", "pycocotools")
#: How the dominant object is chosen: the largest box (the paper's text) or the largest segment area (the authors' code).
DOMINANT_RULES = ("box", "segment_area")
#: Images whose id is 0 modulo this form the "val" split (held out of train<year>).
HOLD_OUT_MODULUS = 20
_SALT_SUBSAMPLE = 0xC0C0


@dataclass(frozen=True)
class CocoImage:
    """One usable image: its id, file, captions and dominant category (0..79)."""

    image_id: int
    file_name: str
    captions: tuple[str, ...]
    label: int


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _require(path: Path, where: str, value: Any, check, expected: str) -> Any:
    if not check(value):
        raise FileFormatError(f"{path}: {where} must be {expected}, got {type(value).__name__} {str(value)[:60]!r}")
    return value


def _records(path: Path, payload: Any, key: str) -> list:
    _require(path, "the top level", payload, lambda v: isinstance(v, dict), "a JSON object")
    if key not in payload:
        raise FileFormatError(f"{path}: missing key {key!r} (the file has {sorted(payload)[:8]})")
    return _require(path, key, payload[key], lambda v: isinstance(v, list), "a list")


def _field(path: Path, where: str, record: Any, name: str, check, expected: str) -> Any:
    if not isinstance(record, dict):
        raise FileFormatError(f"{path}: {where} must be a JSON object, got {type(record).__name__}")
    if name not in record:
        raise FileFormatError(f"{path}: {where} has no key {name!r}")
    return _require(path, f"{where}.{name}", record[name], check, expected)


def read_annotation_file(path: Path, backend: str = "json") -> dict:
    """The parsed JSON object of an annotation file (validated later, field by field)."""
    if not path.is_file():
        raise MissingFileError(f"COCO annotation file {path} does not exist")
    if backend == "pycocotools":
        try:
            from pycocotools.coco import COCO
        except ImportError:
            raise InputError("backend='pycocotools' needs pycocotools: pip install 'mmphase-bench[coco]'") from None
        try:
            return COCO(str(path)).dataset
        except (ValueError, KeyError, TypeError, AssertionError) as error:
            raise FileFormatError(f"{path}: pycocotools could not read it: {type(error).__name__}: {error}") from None
    try:
        with path.open("r", encoding="utf-8") as handle:
            return json.load(handle)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FileFormatError(f"{path} is not valid UTF-8 JSON: {error}") from None


def read_captions(path: Path, backend: str = "json") -> tuple[dict[int, str], dict[int, list[str]]]:
    """``(file name of each image id, captions of each image id)`` of a ``captions_*.json``."""
    payload = read_annotation_file(path, backend)
    files: dict[int, str] = {}
    for k, record in enumerate(_records(path, payload, "images")):
        image_id = _field(path, f"images[{k}]", record, "id", _is_int, "an integer")
        name = _field(path, f"images[{k}]", record, "file_name", lambda v: isinstance(v, str) and v, "a file name")
        if Path(name).name != name or name in (".", ".."):
            raise FileFormatError(f"{path}: images[{k}].file_name must be a bare file name, got {name!r}")
        files[image_id] = name
    captions: dict[int, list[str]] = {}
    for k, record in enumerate(_records(path, payload, "annotations")):
        image_id = _field(path, f"annotations[{k}]", record, "image_id", _is_int, "an integer")
        text = _field(path, f"annotations[{k}]", record, "caption", lambda v: isinstance(v, str), "a string")
        if image_id not in files:
            raise FileFormatError(f"{path}: annotations[{k}].image_id {image_id} is not the id of any image")
        if text.strip():
            captions.setdefault(image_id, []).append(" ".join(text.split()))
    return files, captions


def read_dominant_categories(path: Path, backend: str = "json", dominant_by: str = "box") -> tuple[tuple[str, ...], dict[int, int]]:
    """``(category names in id order, dominant category index of each image id with a box)`` of an
    ``instances_*.json``: the category of the annotation of largest box ``w h`` (``dominant_by="box"``)
    or largest ``area`` field (``"segment_area"``); ties: the smaller annotation id."""
    check_choice("dominant_by", dominant_by, DOMINANT_RULES)
    payload = read_annotation_file(path, backend)
    categories = {}
    for k, record in enumerate(_records(path, payload, "categories")):
        category = _field(path, f"categories[{k}]", record, "id", _is_int, "an integer")
        categories[category] = _field(path, f"categories[{k}]", record, "name", lambda v: isinstance(v, str), "a string")
    if not categories:
        raise FileFormatError(f"{path}: categories is empty")
    order = sorted(categories)
    index = {category: i for i, category in enumerate(order)}
    best: dict[int, tuple[float, int, int]] = {}  # image id -> (-area, annotation id, category index)
    for k, record in enumerate(_records(path, payload, "annotations")):
        where = f"annotations[{k}]"
        image_id = _field(path, where, record, "image_id", _is_int, "an integer")
        category = _field(path, where, record, "category_id", _is_int, "an integer")
        if category not in index:
            raise FileFormatError(f"{path}: {where}.category_id {category} is not in categories")
        box = _field(path, where, record, "bbox", lambda v: isinstance(v, list) and len(v) == 4 and all(map(_is_number, v)),
                     "a list of 4 finite numbers [x, y, w, h]")
        if box[2] < 0 or box[3] < 0:
            raise FileFormatError(f"{path}: {where}.bbox has a negative width or height: {box}")
        annotation_id = record.get("id", k)
        if not _is_int(annotation_id):
            raise FileFormatError(f"{path}: {where}.id must be an integer, got {annotation_id!r}")
        if dominant_by == "box":
            size = float(box[2]) * float(box[3])
        else:
            size = float(_field(path, where, record, "area", lambda v: _is_number(v) and v >= 0, "a number >= 0"))
        key = (-size, annotation_id, index[category])
        if image_id not in best or key < best[image_id]:
            best[image_id] = key
    return tuple(categories[c] for c in order), {image_id: key[2] for image_id, key in best.items()}


def _read_annotations(captions_path: Path, instances_path: Path, backend: str, dominant_by: str):
    """:func:`read_captions` and :func:`read_dominant_categories` of a split, parsed once per process
    while the files are unchanged (train2017's instances file takes seconds and gigabytes to parse,
    and a benchmark run builds several data sets of the same split)."""
    stamps = tuple((path.stat().st_size, path.stat().st_mtime_ns) if path.is_file() else None
                   for path in (captions_path, instances_path))
    return _read_annotations_cached(str(captions_path), str(instances_path), backend, dominant_by, stamps)


@functools.lru_cache(maxsize=2)
def _read_annotations_cached(captions_path: str, instances_path: str, backend: str, dominant_by: str, stamps):
    files, captions = read_captions(Path(captions_path), backend)
    names, dominant = read_dominant_categories(Path(instances_path), backend, dominant_by)
    return files, captions, names, dominant


def _decode_image(path: Path, size: int) -> torch.Tensor:
    """float32 (3, size, size) in [0, 1] of an image file (:func:`~mmphase_bench.data.image_text.image_to_tensor`)."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise MissingFileError(f"COCO image {path} does not exist")
    try:
        with Image.open(path) as image:
            return image_to_tensor(image, size)
    except (UnidentifiedImageError, OSError) as error:
        raise FileFormatError(f"COCO image {path} is not a readable image: {error}") from None


class CocoStylePairs(ImageTextPairs):
    """MS-COCO pairs: ``dataset[i] -> (image (3, S, S) float in [0, 1], caption token ids, dominant category)``.

    ``root`` holds ``annotations/`` and the image folders (module docstring); ``split`` "train", "val"
    (held out of train<year>) or "test" (val<year>); ``year`` 2014 or 2017; ``n`` a seeded subsample
    (None: all usable images); ``backend`` "json" or "pycocotools"; ``dominant_by`` "box" or
    "segment_area" (module docstring). The style arguments, ``seed``,
    ``tokenizer``, ``max_length`` and ``min_frequency`` are those of
    :class:`~mmphase_bench.data.image_text.ImageTextPairs`. ``image_size`` S in pixels (default 224).
    """

    dataset_name = "coco"
    protocol_name = PROTOCOL_VERSION

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        year: int = 2017,
        style_strength: float = 0.2,
        style_jitter: float = 0.0,
        style_in_caption: bool = True,
        image_size: int = 224,
        seed: int = 0,
        tokenizer=None,
        max_length: int | None = None,
        min_frequency: int = 5,
        n: int | None = None,
        backend: str = "json",
        dominant_by: str = "box",
    ):
        if not isinstance(root, (str, os.PathLike)):
            raise InputTypeError(f"root must be a path, got {type(root).__name__}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise MissingFileError(f"root {self.root} is not a folder (it must hold annotations/ and the image folders)")
        self.year = check_int("year", year)
        if self.year not in (2014, 2017):
            raise InputError(f"year must be 2014 or 2017, got {self.year}")
        self.backend = check_choice("backend", backend, BACKENDS)
        self.dominant_by = check_choice("dominant_by", dominant_by, DOMINANT_RULES)
        split = check_choice("split", split, ("train", "val", "test"))
        seed = check_int("seed", seed, minimum=0)
        if n is not None:
            n = check_int("n", n, minimum=1)
        self.source_split = f"{'val' if split == 'test' else 'train'}{self.year}"
        self.image_folder = self.root / self.source_split
        self.skipped = {"no_box": 0, "no_caption": 0}
        images, self.class_names = self._usable_images(split)
        if n is not None:
            if n > len(images):
                raise InputError(f"n={n} is more than the {len(images)} usable images of split {split!r} ({self.source_split})")
            order = np.random.default_rng([seed, SPLIT_CODES[split], _SALT_SUBSAMPLE]).permutation(len(images))[:n]
            images = [images[i] for i in order]
        self.images = images
        self.n_requested = n
        super().__init__(
            split=split, style_strength=style_strength, style_jitter=style_jitter, style_in_caption=style_in_caption,
            image_size=image_size, seed=seed, tokenizer=tokenizer, max_length=max_length, min_frequency=min_frequency,
        )

    def _annotation(self, kind: str, source_split: str | None = None) -> Path:
        return self.root / "annotations" / f"{kind}_{source_split or self.source_split}.json"

    def _usable_images(self, split: str) -> tuple[list[CocoImage], tuple[str, ...]]:
        files, captions, names, dominant = _read_annotations(
            self._annotation("captions"), self._annotation("instances"), self.backend, self.dominant_by,
        )
        self._train_captions = captions if split != "test" else None
        images = []
        for image_id in sorted(files):
            if split != "test" and (image_id % HOLD_OUT_MODULUS == 0) != (split == "val"):
                continue
            if image_id not in dominant:
                self.skipped["no_box"] += 1
                continue
            if image_id not in captions:
                self.skipped["no_caption"] += 1
                continue
            images.append(CocoImage(image_id, files[image_id], tuple(captions[image_id]), dominant[image_id]))
        if not images:
            raise InputError(f"split {split!r} of {self.root} ({self.source_split}) has no image with both a box and a caption")
        if any(self.skipped.values()):
            logger.info("%s %s: skipped %d images without boxes and %d without captions", self.root, split,
                        self.skipped["no_box"], self.skipped["no_caption"])
        return images, names

    # ------------------------------------------------------------------ the items
    def __len__(self) -> int:
        return len(self.images)

    def _base_image(self, index: int) -> torch.Tensor:
        return _decode_image(self.image_folder / self.images[index].file_name, self.image_size)

    def _captions_of(self, index: int) -> list[str]:
        return list(self.images[index].captions)

    def _label_of(self, index: int) -> int:
        return self.images[index].label

    def image_id(self, index: int) -> int:
        return self.images[index].image_id

    def latents(self, indices) -> dict[str, torch.Tensor]:
        """The COCO image id of each item (int64): which photograph it is."""
        return {"image_id": torch.tensor([self.images[int(i)].image_id for i in indices], dtype=torch.int64)}

    def _training_captions(self) -> Iterable[str]:
        """Every caption of the training split (train<year> without its held-out images)."""
        captions = self._train_captions
        if captions is None:
            _, captions = read_captions(self._annotation("captions", f"train{self.year}"), self.backend)
        return _training_split_captions(captions)

    def _source_description(self) -> dict:
        return {
            "dataset": "coco", "protocol": PROTOCOL_VERSION, "year": self.year, "source_split": self.source_split,
            "dominant_by": self.dominant_by,
            "hold_out_modulus": HOLD_OUT_MODULUS, "n": len(self.images), "n_requested": self.n_requested,
            "items_sha256": _items_digest(self.images),
            "annotations": {kind: _file_digest(self._annotation(kind)) for kind in ("captions", "instances")},
        }

    def __repr__(self) -> str:
        skipped = f", skipped {self.skipped['no_box']} without boxes and {self.skipped['no_caption']} without captions"
        return super().__repr__()[:-1] + f", {self.source_split}{skipped}]"


def _training_split_captions(captions: dict[int, list[str]]) -> list[str]:
    """Every caption of train<year>'s images outside the held-out part, in image-id order."""
    return [c for image_id in sorted(captions) if image_id % HOLD_OUT_MODULUS != 0 for c in captions[image_id]]


def _items_digest(images: list[CocoImage]) -> str:
    """SHA-256 of the items in order (id, file, label, captions): what the data set yields, bar pixels."""
    import hashlib

    rows = [[image.image_id, image.file_name, image.label, list(image.captions)] for image in images]
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def _file_digest(path: Path) -> dict:
    """Name and size of an annotation file (a cheap identity; the items' own digest covers the content used)."""
    stat = path.stat()
    return {"name": path.name, "bytes": stat.st_size}


__all__ = ["CocoStylePairs", "CocoImage", "PROTOCOL_VERSION", "read_captions", "read_dominant_categories"]
