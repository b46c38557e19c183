"""Speed of the image-text loaders with the style nuisance on, against their bare parts.

Run: ``python benchmarks/bench_image_text.py`` (``--quick`` for a short smoke run).

Measured in one run on the same machine:

* ``CaptionedScenes``: items per second through ``batches(256)`` (ray casting, style, captions,
  tokens) at style strength 0, 0.2, 0.5 and 1, and the ray caster alone (``_base_images``), so the
  ratio says what the style and the captions cost on top of rendering;
* the style alone (``StyleNuisance.apply_batch``) on 64 x 64 images at the same strengths;
* ``CocoStylePairs`` on a generated folder in the official layout (640 x 480 JPEG images): items
  per second at 224 px with style 0 and 0.5, against bare Pillow decoding of the same files (the
  floor: a loader cannot be faster than reading its images);
* determinism: the same items in batches of 256 and of 32 give equal bytes.

Targets on 2 cores: captioned scenes at >= 200 items/s with the style on (a ``small`` training
split of 3,000 pairs in under 15 s); the COCO loader within 2x of bare decoding at strength 0.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mmphase_bench.data.captioned_scenes import CaptionedScenes
from mmphase_bench.data.coco import CocoStylePairs
from mmphase_bench.data.style import StyleNuisance


def rate(function, n: int) -> float:
    start = time.perf_counter()
    function()
    return n / (time.perf_counter() - start)


def scenes_rate(strength: float, n: int) -> float:
    data = CaptionedScenes(n=n, style_strength=strength, two_objects=0.3, label_mention=0.6, seed=1)
    return rate(lambda: [None for _ in data.batches(256)], n)


def write_folder(root: Path, n: int) -> None:
    """A COCO-layout folder of ``n`` random 640 x 480 JPEGs (train2017), one box and five captions each."""
    (root / "annotations").mkdir(parents=True)
    (root / "train2017").mkdir()
    rng = np.random.default_rng(0)
    images, captions, boxes = [], [], []
    for k in range(n):
        image_id = k + 1
        name = f"{image_id:012d}.jpg"
        pixels = (rng.random((480, 640, 3)) * 60 + np.linspace(0, 190, 640)[None, :, None]).astype(np.uint8)
        Image.fromarray(pixels).save(root / "train2017" / name, quality=90)
        images.append({"id": image_id, "file_name": name, "height": 480, "width": 640})
        captions += [{"id": 10 * image_id + j, "image_id": image_id, "caption": f"a photo of thing {k % 7} number {j}"}
                     for j in range(5)]
        boxes.append({"id": image_id, "image_id": image_id, "category_id": 1 + k % 3, "bbox": [0, 0, 50, 40], "area": 2000})
    categories = [{"id": c, "name": f"class{c}"} for c in (1, 2, 3)]
    (root / "annotations" / "captions_train2017.json").write_text(json.dumps({"images": images, "annotations": captions}))
    (root / "annotations" / "instances_train2017.json").write_text(
        json.dumps({"images": images, "annotations": boxes, "categories": categories}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 512 if args.quick else 3000
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPU cores")

    base = CaptionedScenes(n=n, style_strength=0.0, two_objects=0.3, seed=1)
    rendered = rate(lambda: [base._base_images(np.arange(lo, min(lo + 256, n))) for lo in range(0, n, 256)], n)
    print(f"\ncaptioned scenes, ray casting alone        {rendered:8.0f} images/s")
    images = base._base_images(np.arange(256))
    for strength in (0.0, 0.2, 0.5, 1.0):
        items = scenes_rate(strength, n)
        style = StyleNuisance(strength, seed=0)
        draws = style.draws(range(256))
        styled = rate(lambda: style.apply_batch(images, draws), 256) if strength else float("inf")
        print(f"captioned scenes, strength {strength:<4g}          {items:8.0f} items/s  "
              f"({rendered / items:.2f} x the ray casting; style alone {styled:8.0f} images/s)")
    data = CaptionedScenes(n=256, style_strength=0.5, seed=2)
    whole = data.batch(np.arange(256))
    pieces = [data.batch(np.arange(lo, lo + 32)) for lo in range(0, 256, 32)]
    same = torch.equal(whole.images, torch.cat([p.images for p in pieces])) and torch.equal(
        whole.tokens, torch.cat([p.tokens for p in pieces]))
    print(f"batch-size independence (1 batch of 256 vs 8 of 32): {'identical bytes' if same else 'DIFFERENT'}")

    count = 64 if args.quick else 400
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_folder(root, count)
        files = sorted((root / "train2017").glob("*.jpg"))

        def decode():
            for path in files:
                with Image.open(path) as image:
                    np.asarray(image.convert("RGB"))

        bare = rate(decode, len(files))
        print(f"\nCOCO layout, bare Pillow decoding         {bare:8.0f} images/s ({count} files of 640 x 480)")
        for strength in (0.0, 0.5):
            coco = CocoStylePairs(root, style_strength=strength, image_size=224, min_frequency=1)
            coco.tokenizer  # fitted once, outside the timing
            items = rate(lambda: [None for _ in coco.batches(64)], len(coco))
            print(f"CocoStylePairs, 224 px, strength {strength:<4g}   {items:8.0f} items/s  ({bare / items:.2f} x bare decoding)")
    print("targets: captioned scenes >= 200 items/s with the style on; COCO at strength 0 within 2 x of bare decoding")


if __name__ == "__main__":
    main()
