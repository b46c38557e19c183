"""A tiny MS-COCO layout the tests write themselves (never copied from real data): the loader's
tests and the coco suite's."""

import json

import numpy as np
from PIL import Image

COCO_CATEGORIES = [{"id": 1, "name": "person", "supercategory": "person"},
                   {"id": 3, "name": "car", "supercategory": "vehicle"},
                   {"id": 18, "name": "dog", "supercategory": "animal"}]
COCO_WORDS = {1: "person", 3: "car", 18: "dog"}


def _image(path, seed, size=(40, 30)):
    rng = np.random.default_rng(seed)
    pixels = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    pixels[:, : size[0] // 2] = [200, 40, 40]  # a coloured half, so styles have something to act on
    Image.fromarray(pixels).save(path, quality=92)


def write_coco(root, train_ids=(1, 2, 3, 4, 5, 6, 7, 20, 40), val_ids=(101, 102, 103), no_box=(6,), no_caption=(7,)):
    """Images with 1-3 boxes each; the dominant (largest) box's category is known per image."""
    (root / "annotations").mkdir(parents=True)
    dominant = {}
    for split, ids in (("train2017", train_ids), ("val2017", val_ids)):
        (root / split).mkdir()
        images, captions, boxes = [], [], []
        for k, image_id in enumerate(ids):
            name = f"{image_id:012d}.jpg"
            _image(root / split / name, image_id)
            images.append({"id": image_id, "file_name": name, "height": 30, "width": 40})
            big = COCO_CATEGORIES[k % 3]["id"]
            small = COCO_CATEGORIES[(k + 1) % 3]["id"]
            if image_id not in no_box:
                boxes.append({"id": 1000 + 10 * image_id, "image_id": image_id, "category_id": small, "bbox": [0, 0, 5, 4],
                              "area": 20.0, "iscrowd": 0})
                boxes.append({"id": 1001 + 10 * image_id, "image_id": image_id, "category_id": big, "bbox": [1, 1, 10, 9],
                              "area": 90.0, "iscrowd": 0})
                dominant[image_id] = COCO_WORDS[big]
            if image_id not in no_caption:
                for j in range(3):
                    captions.append({"id": 5000 + 10 * image_id + j, "image_id": image_id,
                                     "caption": f"A photo of a {COCO_WORDS[big]} number {j} in the scene."})
        (root / "annotations" / f"captions_{split}.json").write_text(json.dumps({"images": images, "annotations": captions}))
        (root / "annotations" / f"instances_{split}.json").write_text(
            json.dumps({"images": images, "annotations": boxes, "categories": COCO_CATEGORIES}))
    return dominant
