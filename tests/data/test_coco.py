"""The MS-COCO loader on a tiny fixture in the official layout that the tests write themselves."""

import json

import numpy as np
import pytest
import torch

from mmphase_bench.data.coco import HOLD_OUT_MODULUS, CocoStylePairs, read_dominant_categories
from mmphase_bench.data.tokenizer import WordTokenizer
from mmphase_bench.errors import FileFormatError, InputError, MissingFileError

from coco_layout import COCO_CATEGORIES, write_coco

CATEGORIES = COCO_CATEGORIES


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    return root, write_coco(root)


def _pairs(root, **kwargs):
    options = dict(image_size=16, min_frequency=1)
    options.update(kwargs)
    return CocoStylePairs(root, **options)


def test_dominant_object_labels_and_skipped_images(coco):
    root, dominant = coco
    data = _pairs(root, style_strength=0.0)
    assert data.class_names == ("person", "car", "dog")
    ids = [data.image_id(i) for i in range(len(data))]
    assert ids == [1, 2, 3, 4, 5]  # 6 has no box, 7 no caption, 20 and 40 are held out (val)
    assert data.skipped == {"no_box": 1, "no_caption": 1}
    for i, image_id in enumerate(ids):
        assert data.class_names[data[i][2]] == dominant[image_id]
        assert dominant[image_id] in data.caption(i)
    assert "skipped 1 without boxes and 1 without captions" in repr(data)


def test_largest_box_wins_and_ties_go_to_the_smaller_annotation_id(tmp_path):
    path = tmp_path / "instances.json"
    boxes = [{"id": 9, "image_id": 1, "category_id": 3, "bbox": [0, 0, 4, 5]},
             {"id": 4, "image_id": 1, "category_id": 18, "bbox": [2, 2, 5, 4]},  # same area, smaller id
             {"id": 2, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]},
             {"id": 3, "image_id": 2, "category_id": 3, "bbox": [0, 0, 2, 1.5]}]
    path.write_text(json.dumps({"annotations": boxes, "categories": CATEGORIES}))
    names, labels = read_dominant_categories(path)
    assert names == ("person", "car", "dog") and labels == {1: 2, 2: 1}


def test_splits_hold_out_train_images_and_test_is_val2017(coco):
    root, _ = coco
    val, test = _pairs(root, split="val"), _pairs(root, split="test")
    assert [val.image_id(i) for i in range(len(val))] == [20, 40]
    assert all(val.image_id(i) % HOLD_OUT_MODULUS == 0 for i in range(len(val)))
    assert [test.image_id(i) for i in range(len(test))] == [101, 102, 103] and test.source_split == "val2017"
    train = _pairs(root)
    assert val.tokenizer == train.tokenizer == test.tokenizer  # always fitted on the training split's captions
    assert len({train.fingerprint, val.fingerprint, test.fingerprint}) == 3


def test_items_tokens_and_subsamples(coco):
    root, _ = coco
    data = _pairs(root, style_strength=0.5)
    image, tokens, label = data[2]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32 and 0 <= float(image.min()) <= float(image.max()) <= 1
    assert tokens.dtype == torch.int64 and data.tokenizer.decode(tokens) == " ".join(WordTokenizer.words(data.caption(2)))
    assert data.tokenizer.unk_id not in data.tokenizer.encode(data.caption(2))
    sub = _pairs(root, n=3, seed=4)
    assert len(sub) == 3 and {sub.image_id(i) for i in range(3)} <= {1, 2, 3, 4, 5}
    assert [sub.image_id(i) for i in range(3)] == [_pairs(root, n=3, seed=4).image_id(i) for i in range(3)]
    assert sub.tokenizer == data.tokenizer  # the subsample does not change the vocabulary
    with pytest.raises(InputError, match="n=9"):
        _pairs(root, n=9)


def test_style_is_deterministic_and_a_larger_strength_changes_more(coco):
    root, _ = coco
    plain = _pairs(root, style_strength=0.0).batch(np.arange(5)).images
    first = _pairs(root, style_strength=0.5).batch(np.arange(5)).images
    assert torch.equal(first, _pairs(root, style_strength=0.5).batch(np.arange(5)).images)
    changes = []
    for strength in (0.2, 0.5, 1.0):
        styled = _pairs(root, style_strength=strength).batch(np.arange(5)).images
        changes.append(float((styled - plain).abs().mean()))
    assert 0 < changes[0] < changes[2] and changes[1] < changes[2]


@pytest.mark.parametrize("kind, edit, message", [
    ("captions", lambda d: d.pop("images"), "missing key 'images'"),
    ("captions", lambda d: d["images"][1].pop("file_name"), r"images\[1\] has no key 'file_name'"),
    ("captions", lambda d: d["images"][0].update(file_name="../escape.jpg"), "bare file name"),
    ("captions", lambda d: d["annotations"][2].update(caption=7), r"annotations\[2\].caption must be a string"),
    ("captions", lambda d: d["annotations"][0].update(image_id=999), "not the id of any image"),
    ("instances", lambda d: d.pop("categories"), "missing key 'categories'"),
    ("instances", lambda d: d["annotations"][1].update(bbox=[0, 0, "wide", 3]), r"annotations\[1\].bbox must be a list of 4"),
    ("instances", lambda d: d["annotations"][0].update(category_id=99), "category_id 99 is not in categories"),
    ("instances", lambda d: d["annotations"][0].update(bbox=[0, 0, -2, 3]), "negative width"),
])
def test_malformed_annotation_files_name_the_file_and_key(tmp_path, kind, edit, message):
    write_coco(tmp_path)
    path = tmp_path / "annotations" / f"{kind}_train2017.json"
    payload = json.loads(path.read_text())
    edit(payload)
    path.write_text(json.dumps(payload))
    with pytest.raises(FileFormatError, match=message) as caught:
        _pairs(tmp_path)
    assert f"{kind}_train2017.json" in str(caught.value) and "\n" not in str(caught.value)


def test_missing_or_broken_files(tmp_path):
    with pytest.raises(MissingFileError, match="root"):
        _pairs(tmp_path / "nowhere")
    write_coco(tmp_path)
    (tmp_path / "annotations" / "instances_val2017.json").unlink()
    with pytest.raises(MissingFileError, match="instances_val2017.json"):
        _pairs(tmp_path, split="test")
    (tmp_path / "annotations" / "captions_train2017.json").write_text("{not json")
    with pytest.raises(FileFormatError, match="not valid UTF-8 JSON"):
        _pairs(tmp_path)


def test_a_missing_or_corrupt_image_names_the_file(tmp_path):
    write_coco(tmp_path)
    data = _pairs(tmp_path)
    (tmp_path / "train2017" / f"{data.image_id(0):012d}.jpg").unlink()
    with pytest.raises(MissingFileError, match="000000000001.jpg"):
        data[0]
    (tmp_path / "train2017" / f"{data.image_id(1):012d}.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(FileFormatError, match="000000000002.jpg"):
        data[1]


@pytest.mark.parametrize("kwargs, name", [({"split": "validation"}, "split"), ({"year": 2015}, "year"),
                                          ({"backend": "fast"}, "backend"), ({"n": 0}, "n")])
def test_arguments_are_validated(coco, kwargs, name):
    with pytest.raises(InputError, match=name):
        _pairs(coco[0], **kwargs)


def test_pycocotools_backend_reads_the_same_items(coco):
    pytest.importorskip("pycocotools")
    root, _ = coco
    a, b = _pairs(root), _pairs(root, backend="pycocotools")
    assert [a.image_id(i) for i in range(len(a))] == [b.image_id(i) for i in range(len(b))]
    assert [a[i][2] for i in range(len(a))] == [b[i][2] for i in range(len(b))]
    assert torch.equal(a[3][0], b[3][0])


def test_dominant_by_segment_area_follows_the_area_field(tmp_path):
    path = tmp_path / "instances.json"
    boxes = [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 10, 10], "area": 30.0},  # big box, thin mask
             {"id": 2, "image_id": 1, "category_id": 18, "bbox": [0, 0, 8, 8], "area": 50.0}]
    path.write_text(json.dumps({"annotations": boxes, "categories": CATEGORIES}))
    assert read_dominant_categories(path)[1] == {1: 1}
    assert read_dominant_categories(path, dominant_by="segment_area")[1] == {1: 2}
    boxes[1].pop("area")
    path.write_text(json.dumps({"annotations": boxes, "categories": CATEGORIES}))
    with pytest.raises(FileFormatError, match=r"annotations\[1\] has no key 'area'"):
        read_dominant_categories(path, dominant_by="segment_area")
    with pytest.raises(InputError, match="dominant_by"):
        read_dominant_categories(path, dominant_by="largest")
