"""Stereo-dSprites: two noisy camera views of a dSprites shape (paper-facts section 4)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from mmphase_bench.data.dsprites import SHAPE_NAMES, dsprites_source
from mmphase_bench.data.stereo import StereoConfig
from mmphase_bench.data.stereo_pairs import source_label, StereoPairs
from mmphase_bench.validation import check_float

#: Version of the reference protocol implemented here; part of every fingerprint.
PROTOCOL_VERSION = "stereo-dsprites/2"


@dataclass(frozen=True)
class GridCell:
    """One cell of the paper's benchmark grid."""

    name: str
    jitter: float
    noise_y: float

    @property
    def nuisance_alignment(self) -> float:
        return 1.0 - self.jitter


NOISE_LEVELS = {"low": 0.2, "medium": 0.5, "high": 0.9}
#: The paper's grid: jitter in {0, 0.2, 0.5} (nu_max 1, 0.8, 0.5) x noise_y in {0.2, 0.5, 0.9}.
BENCHMARK_GRID = {
    f"jitter{jitter:g}-noise{noise:g}": GridCell(f"jitter{jitter:g}-noise{noise:g}", jitter, noise)
    for jitter in (0.0, 0.2, 0.5)
    for noise in NOISE_LEVELS.values()
}


class StereoDSprites(StereoPairs):
    """Stereo-dSprites pairs: ``dataset[i] -> (x, y, shape)`` with x, y float (1, 64, 64) in [0, 1].

    Parameters
    ----------
    split: "train", "val" or "test" (disjoint random streams).
    n: number of pairs in this split.
    jitter: std of per-view translation (and, by default, rotation) jitter; nu_max = 1 - jitter.
    noise_x, noise_y: std of the clamped Gaussian pixel noise of x (strong view) and y (weak view).
    baseline: camera separation in affine units (views shifted by -/+ baseline / 2).
    rotation_jitter: std of per-view rotation in radians (None: equal to ``jitter``, as in the paper).
    seed: same seed, same bytes (on the same device type).
    source: "procedural" (default, offline) or the path of the official dSprites npz.
    device: where batches are generated ("cpu", "cuda").
    extra_nuisance: beyond the paper: scale and orientation also vary per sample, shared by the two
        views and jittered like position (a separate configuration, not the reference protocol).
    rotation_centre: "image" (default; the paper's reference code: the rotation jitter turns each view
        about the image centre, so it also moves the sprite by about |dtheta| |t|) or "sprite" (the
        sprite turns in place; protocol stereo-dsprites/1 did this).

    Use :meth:`batches` for speed (whole batches on the device); ``dataset[i]`` gives the same values.
    """

    benchmark_grid = BENCHMARK_GRID
    dataset_name = "stereo-dsprites"
    protocol_name = PROTOCOL_VERSION

    def __init__(
        self,
        split: str = "train",
        n: int = 10_000,
        jitter: float = 0.2,
        noise_x: float = 0.1,
        noise_y: float = 0.5,
        baseline: float = 0.4,
        rotation_jitter: float | None = None,
        seed: int = 0,
        source: str | os.PathLike = "procedural",
        device: str | torch.device = "cpu",
        extra_nuisance: bool = False,
        rotation_centre: str = "image",
    ):
        config = StereoConfig(
            jitter=jitter, noise_x=noise_x, noise_y=noise_y, baseline=baseline,
            rotation_jitter=rotation_jitter, extra_nuisance=extra_nuisance, rotation_centre=rotation_centre,
        )
        self.source = dsprites_source(source)
        self._source_name = source_label(source)
        templates = torch.from_numpy(np.stack([self.source.canonical_image(s) for s in range(len(SHAPE_NAMES))]).astype(np.float32))[:, None]
        super().__init__(templates, SHAPE_NAMES, config, split=split, n=n, seed=seed, device=device)

    def _extra_description(self) -> dict:
        return {"source": self._source_name}



__all__ = ["StereoDSprites", "BENCHMARK_GRID", "GridCell", "NOISE_LEVELS", "PROTOCOL_VERSION", "check_float"]
