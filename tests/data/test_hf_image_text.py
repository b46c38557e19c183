"""Image-caption pairs from a Hugging Face data set or a local imagefolder."""

import json

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from mmphase_bench.data.hf_image_text import HFImageTextPairs
from mmphase_bench.errors import FileFormatError, InputError, MissingFileError


def _images(n):
    rng = np.random.default_rng(0)
    return [Image.fromarray((rng.random((20, 24, 3)) * 255).astype(np.uint8)) for _ in range(n)]


def _dataset(n=6, captions=None):
    captions = captions or [[f"a {'cat' if i % 2 else 'dog'} photo", f"the {'cat' if i % 2 else 'dog'}"] for i in range(n)]
    features = datasets.Features({"image": datasets.Image(), "caption": datasets.Sequence(datasets.Value("string")),
                                  "label": datasets.ClassLabel(names=["dog", "cat"])})
    return datasets.Dataset.from_dict({"image": _images(n), "caption": captions, "label": [i % 2 for i in range(n)]},
                                      features=features)


def test_items_from_a_dataset_and_the_training_tokenizer():
    train = HFImageTextPairs(_dataset(), image_size=16, min_frequency=1, style_strength=0.5)
    assert train.class_names == ("dog", "cat") and len(train) == 6
    image, tokens, label = train[3]
    assert image.shape == (3, 16, 16) and label == 1 and "cat" in train.caption(3)
    assert train.tokenizer.unk_id not in train.tokenizer.encode(train.caption(3))
    test = HFImageTextPairs(_dataset(4), split="test", image_size=16, tokenizer=train.tokenizer)
    assert test.tokenizer == train.tokenizer and torch.equal(test[1][1], test.batch([1]).tokens[0])
    with pytest.raises(InputError, match="tokenizer"):
        HFImageTextPairs(_dataset(4), split="val")


def test_bad_columns_and_rows_are_named():
    with pytest.raises(InputError, match="caption_column='text'"):
        HFImageTextPairs(_dataset(), caption_column="text")
    empty = _dataset(3, captions=[["a dog"], [], ["a dog"]])
    with pytest.raises(FileFormatError, match="row 1 has no caption"):
        HFImageTextPairs(empty)
    plain = datasets.Dataset.from_dict({"image": _images(2), "caption": ["a", "b"], "label": [0, 5]},
                                       features=datasets.Features({"image": datasets.Image(), "caption": datasets.Value("string"),
                                                                   "label": datasets.Value("int64")}))
    with pytest.raises(InputError, match="class_names"):
        HFImageTextPairs(plain)
    with pytest.raises(FileFormatError, match="row 1 has label 5"):
        HFImageTextPairs(plain, class_names=["a", "b"])


def test_a_local_imagefolder_with_metadata(tmp_path):
    folder = tmp_path / "pairs"
    folder.mkdir()
    rows = []
    for i, image in enumerate(_images(4)):
        image.save(folder / f"{i}.png")
        rows.append({"file_name": f"{i}.png", "caption": f"picture {i} of a {'cat' if i % 2 else 'dog'}", "label": i % 2})
    with pytest.raises(MissingFileError, match="metadata.jsonl"):
        HFImageTextPairs.from_imagefolder(folder)
    (folder / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    data = HFImageTextPairs.from_imagefolder(folder, cache_dir=tmp_path / "cache", class_names=["dog", "cat"],
                                             image_size=16, min_frequency=1, style_strength=0.0)
    assert len(data) == 4 and [data[i][2] for i in range(4)] == [0, 1, 0, 1]
    assert data.caption(2) == "picture 2 of a dog"
    assert data[0][0].shape == (3, 16, 16)
