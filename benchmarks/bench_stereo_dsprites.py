"""Throughput of the Stereo-dSprites pair generator, against a per-item generator and the noise floor.

Run: ``python benchmarks/bench_stereo_dsprites.py`` (``--quick`` for a short smoke run).

Measured in one run on the same machine:

* the batched generator (``StereoDSprites.batches``): pairs per second, wall time and peak memory
  for 100,000 pairs (in a fresh subprocess, so the peak is this work's own);
* a per-item generator written the usual way: one sample at a time, its own RNG
  (``np.random.default_rng`` per item, as most data-loading code does), a full-canvas
  ``affine_grid`` + ``grid_sample`` warp per view, its own noise draw; and the same loop with a
  ``torch.Generator`` per item for the noise (a faster per-item variant, reported too);
* the procedural dSprites renderer over its full 737,280-image grid (not with ``--quick``);
* the noise floor: the time just to draw the Gaussian pixel noise for the same number of pixels
  (``torch.randn`` in the same batch size), which any generator of these pairs must pay.

Targets on 2 cores: >= 10x the per-item throughput, <= 2.5x the noise floor, and peak memory of
the order of one batch.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

BATCH = 1024


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def batched_child(n: int) -> None:
    """Runs in a subprocess: generate n pairs in batches, report time and peak-memory growth."""
    from mmphase_bench import StereoDSprites

    dataset = StereoDSprites(n=n, jitter=0.2, noise_y=0.5, seed=0)
    for _ in dataset.batches(BATCH, stop=min(n, 2 * BATCH)):  # warm-up (allocator, kernels)
        pass
    baseline = peak_rss_mib()
    start = time.perf_counter()
    checksum = 0.0
    for batch in dataset.batches(BATCH):
        checksum += float(batch.x[:, 0, 0, 0].sum())  # touch the output
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "peak_growth_mib": peak_rss_mib() - baseline, "checksum": checksum}))


def per_item(n: int, rng_kind: str) -> float:
    """The usual way: a Python loop over samples, each with its own RNG and full-canvas warp.

    ``rng_kind="numpy"``: the common idiom, ``np.random.default_rng`` per item for the latents and
    the pixel noise. ``rng_kind="torch"``: a ``torch.Generator`` per item for the noise (faster).
    """
    from mmphase_bench.data.dsprites import ProceduralDSprites

    source = ProceduralDSprites()
    templates = torch.from_numpy(np.stack([source.canonical_image(s) for s in range(3)]).astype(np.float32))[:, None]
    start = time.perf_counter()
    for i in range(n):
        rng = np.random.default_rng([0, i])
        generator = torch.Generator().manual_seed(int(rng.integers(2**62))) if rng_kind == "torch" else None
        shape = int(rng.integers(3))
        position = rng.uniform(-0.5, 0.5, size=2)
        views = []
        for shift, sigma in ((-0.2, 0.1), (0.2, 0.5)):
            dx, dy, angle = rng.normal(0.0, 0.2, size=3)
            tx, ty = position[0] + shift + dx, position[1] + dy
            cos, sin = np.cos(angle), np.sin(angle)
            theta = torch.tensor([[[cos, sin, -(cos * tx + sin * ty)], [-sin, cos, -(-sin * tx + cos * ty)]]], dtype=torch.float32)
            grid = F.affine_grid(theta, (1, 1, 64, 64), align_corners=False)
            clean = F.grid_sample(templates[shape:shape + 1], grid, align_corners=False)
            if generator is None:
                noise = torch.from_numpy(rng.normal(0.0, sigma, size=(1, 1, 64, 64)).astype(np.float32))
            else:
                noise = sigma * torch.randn(clean.shape, generator=generator)
            views.append((clean + noise).clamp_(0, 1))
    return time.perf_counter() - start


def full_grid() -> float:
    """Render every image of the dSprites factor grid in batches (images are dropped after each)."""
    from mmphase_bench.data.dsprites import N_IMAGES, ProceduralDSprites

    source = ProceduralDSprites()
    start = time.perf_counter()
    for lo in range(0, N_IMAGES, 16384):
        source.images(np.arange(lo, min(lo + 16384, N_IMAGES)))
    return time.perf_counter() - start


def noise_floor(n: int) -> float:
    torch.randn(BATCH, 2, 1, 64, 64)
    start = time.perf_counter()
    for lo in range(0, n, BATCH):
        torch.randn(min(BATCH, n - lo), 2, 1, 64, 64)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 pairs and a short per-item run")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        batched_child(args.child)
        return
    n = 10_000 if args.quick else 100_000
    n_item = 500 if args.quick else 3_000
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPU cores, batch size {BATCH}")

    child = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True, check=True)
    batched = json.loads(child.stdout.strip().splitlines()[-1])
    item_seconds = per_item(n_item, "numpy")
    item_torch_seconds = per_item(n_item, "torch")
    floor_seconds = noise_floor(n)

    batched_rate = n / batched["seconds"]
    item_rate = n_item / item_seconds
    batch_mib = BATCH * 2 * 64 * 64 * 4 / 2**20
    print(f"\nbatched generator   {batched_rate:10.0f} pairs/s   ({n} pairs in {batched['seconds']:.2f} s, "
          f"peak memory growth {batched['peak_growth_mib']:.0f} MiB = {batched['peak_growth_mib'] / batch_mib:.1f} x one batch of {batch_mib:.0f} MiB)")
    item_torch_rate = n_item / item_torch_seconds
    print(f"per-item generator  {item_rate:10.0f} pairs/s   ({n_item} pairs in {item_seconds:.2f} s; numpy RNG per item)")
    print(f"per-item, torch RNG {item_torch_rate:10.0f} pairs/s   ({n_item} pairs in {item_torch_seconds:.2f} s; torch.Generator per item)")
    print(f"noise floor         {n / floor_seconds:10.0f} pairs/s   ({n} pairs' noise in {floor_seconds:.2f} s)")
    grid_seconds = full_grid() if not args.quick else None
    if grid_seconds is not None:
        print(f"procedural dSprites: the full grid of 737,280 images rendered in {grid_seconds:.1f} s")
    print(f"\nbatched / per-item throughput: {batched_rate / item_rate:6.1f}x   (target >= 10x)")
    print(f"batched time / noise floor:    {batched['seconds'] / floor_seconds:6.2f}x   (target <= 2.5x)")


if __name__ == "__main__":
    main()
