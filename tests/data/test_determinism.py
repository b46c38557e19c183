"""Same seed, same bytes: every generator against batch size, chunking, request order and threads.

Each generator is rendered once as a whole on one thread (the reference); every case then renders it
again under 1, 2 or 4 torch (and BLAS) threads, in uneven chunks, in reverse and shuffled request
orders, item by item for a few samples, and must give exactly the reference bytes. A new generator
(a new suite's data) joins by adding one entry to ``GENERATORS``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from mmphase_bench import StereoDSprites, StereoShapes3D
from mmphase_bench.data.dsprites import ProceduralDSprites
from mmphase_bench.data.shapes3d import ProceduralShapes3D
from mmphase_bench.theory import spiked_preset

THREADS = (1, 2, 4)
#: Chunk plans over N samples: (start, stop) requests, in the order they are made.
N = 150
PLANS = {
    "uneven": [(0, 37), (37, 101), (101, 150)],
    "reverse": [(128, 150), (64, 128), (1, 64), (0, 1)],
    "odd-blocks": [(0, 63), (63, 65), (65, 150)],
}


@dataclass(frozen=True)
class Generator:
    """How to build one generator and draw samples ``start .. stop - 1`` from it as arrays."""

    build: Callable[[], object]
    draw: Callable[[object, int, int], list[np.ndarray]]
    chunked: bool = True  #: False: a single request (the spiked model draws all n at once)


def _pairs(dataset, start, stop):
    batch = dataset.generate(start, stop)
    return [batch.x.numpy(), batch.y.numpy(), batch.label.numpy()]


def _shuffled_images(source, start, stop):
    # Ask for the rows in a scrambled order, then put them back: the request order must not matter.
    index = np.arange(start, stop) * 7919 % len(source)
    order = np.random.default_rng(stop).permutation(index.size)
    images = np.empty((index.size, *source.images(index[:1]).shape[1:]), dtype=np.uint8)
    images[order] = source.images(index[order])
    return [images]


def _spiked(model, start, stop):
    x, y, signal = model.sample(N, seed=4)
    return [x, y, signal]


GENERATORS = {
    "stereo-dsprites": Generator(lambda: StereoDSprites(n=N, jitter=0.2, noise_y=0.5, seed=3), _pairs),
    "stereo-dsprites-extra": Generator(lambda: StereoDSprites(n=N, jitter=0.5, seed=3, extra_nuisance=True), _pairs),
    "stereo-shapes3d-paper": Generator(lambda: StereoShapes3D(n=N, jitter=0.2, seed=3), _pairs),
    "stereo-shapes3d-stereo": Generator(lambda: StereoShapes3D(n=N, jitter=0.2, seed=3, protocol="stereo"), _pairs),
    "stereo-shapes3d-stereo-extra": Generator(
        lambda: StereoShapes3D(n=N, jitter=0.5, seed=3, protocol="stereo", extra_nuisance=True), _pairs
    ),
    "dsprites-procedural": Generator(ProceduralDSprites, _shuffled_images),
    "shapes3d-procedural": Generator(ProceduralShapes3D, _shuffled_images),
    "spiked": Generator(lambda: spiked_preset("ca_only"), _spiked, chunked=False),
}


def _with_threads(threads: int, function, *args):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            return function(*args)
    finally:
        torch.set_num_threads(previous)


def _digest(parts: list[list[np.ndarray]]) -> list[str]:
    return [hashlib.sha256(np.ascontiguousarray(np.concatenate(arrays)).tobytes()).hexdigest() for arrays in zip(*parts)]


_REFERENCES: dict[str, list[str]] = {}


def _reference(name: str) -> list[str]:
    if name not in _REFERENCES:
        generator = GENERATORS[name]
        _REFERENCES[name] = _with_threads(1, lambda: _digest([generator.draw(generator.build(), 0, N)]))
    return _REFERENCES[name]


def _render(generator: Generator, plan: list[tuple[int, int]]) -> list[str]:
    instance = generator.build()
    pieces = {start: generator.draw(instance, start, stop) for start, stop in plan}
    return _digest([pieces[start] for start in sorted(pieces)])


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_same_bytes_whatever_threads_chunks_and_order(name, threads):
    generator = GENERATORS[name]
    reference = _reference(name)
    plans = PLANS if generator.chunked else {"whole": [(0, N)]}
    for plan_name, plan in plans.items():
        assert _with_threads(threads, _render, generator, plan) == reference, f"{name}: {plan_name} on {threads} threads"


@pytest.mark.parametrize("name", ["stereo-dsprites", "stereo-shapes3d-stereo"])
def test_items_match_the_batch(name):
    dataset = GENERATORS[name].build()
    batch = _with_threads(2, dataset.generate, 0, N)
    for i in (149, 0, 64, 63, 100):  # out of order, across block boundaries
        x, y, label = _with_threads(4, dataset.__getitem__, i)
        assert torch.equal(x, batch.x[i]) and torch.equal(y, batch.y[i]) and label == int(batch.label[i])


def test_plans_cover_every_sample_once():
    for plan in PLANS.values():
        covered = sorted(i for start, stop in plan for i in range(start, stop))
        assert covered == list(range(N))
