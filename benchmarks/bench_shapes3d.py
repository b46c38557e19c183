"""Speed of the 3D Shapes ray caster, against the cost of the paper protocol's per-pair warps.

Run: ``python benchmarks/bench_shapes3d.py`` (``--quick`` for a short smoke run).

Measured in one run on the same machine:

* images per second of ``ProceduralShapes3D`` over consecutive grid indices (batches of 1,000), and
  the time the whole 480,000-image grid would take at that rate;
* the same number of bare bilinear warps of a 64 x 64 RGB image (``affine_grid`` + ``grid_sample``,
  batched): the per-pair work of the paper protocol, for scale;
* pairs per second of ``StereoShapes3D`` in both protocols (the stereo protocol renders two images
  per pair);
* batch-size independence: the same indices rendered in batches of 1,000 and of 64 give equal bytes.

Target on 2 cores: at least 1,000 rendered images per second (the whole grid in under 8 minutes).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from mmphase_bench.data.shapes3d import N_IMAGES, ProceduralShapes3D
from mmphase_bench.data.stereo_shapes3d import StereoShapes3D

BATCH = 1000


def render_rate(source: ProceduralShapes3D, n: int) -> float:
    source.images(np.arange(BATCH))  # warm-up
    start = time.perf_counter()
    for lo in range(0, n, BATCH):
        source.images(np.arange(lo, min(lo + BATCH, n)))
    return n / (time.perf_counter() - start)


def warp_rate(n: int) -> float:
    image = torch.rand(1, 3, 64, 64)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for lo in range(0, n, BATCH):
        size = min(BATCH, n - lo)
        angle = torch.randn(size, generator=generator) * 0.02
        shift = torch.rand(size, 2, generator=generator) - 0.5
        theta = torch.zeros(size, 2, 3)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = angle.cos(), angle.sin(), -angle.sin(), angle.cos()
        theta[:, :, 2] = -shift
        grid = F.affine_grid(theta, (size, 3, 64, 64), align_corners=False)
        F.grid_sample(image.expand(size, -1, -1, -1), grid, align_corners=False)
    return n / (time.perf_counter() - start)


def pair_rate(protocol: str, n: int) -> float:
    dataset = StereoShapes3D(n=n, protocol=protocol, seed=0)
    next(dataset.batches(256))
    start = time.perf_counter()
    for _ in dataset.batches(512):
        pass
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 4_000 if args.quick else 30_000
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPU cores")
    source = ProceduralShapes3D()
    rendered = render_rate(source, n)
    warped = warp_rate(n)
    print(f"\nray caster        {rendered:9.0f} images/s  (full grid of {N_IMAGES} images: {N_IMAGES / rendered / 60:.1f} min)")
    print(f"bare RGB warps    {warped:9.0f} images/s  (ray casting costs {warped / rendered:.1f} warps per image)")
    for protocol in ("paper", "stereo"):
        print(f"StereoShapes3D({protocol!r}) {pair_rate(protocol, n // 4):8.0f} pairs/s")
    index = np.arange(3000, 3000 + 256)
    whole = source.images(index)
    pieces = np.concatenate([source.images(index[i:i + 64]) for i in range(0, 256, 64)])
    print(f"batch-size independence (1 batch of 256 vs 4 of 64): {'identical bytes' if np.array_equal(whole, pieces) else 'DIFFERENT'}")
    print("target: >= 1000 images/s on 2 cores")


if __name__ == "__main__":
    main()
