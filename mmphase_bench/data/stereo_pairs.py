"""A generic dataset of stereo pairs built from class templates (see :mod:`.stereo`)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

from mmphase_bench._version import __version__
from mmphase_bench.data.devices import resolve_device as _resolve_device
from mmphase_bench.data.exact_ops import scaled_add
from mmphase_bench.data.stereo import (
    BLOCK, GENERATOR_VERSION, SPLITS, StereoConfig, block_generator, draw_block_latents, fingerprint,
    template_radius, view_transforms, warp_templates,
)
from mmphase_bench.errors import InputError, InputTypeError
from mmphase_bench.validation import check_choice, check_int

logger = logging.getLogger(__name__)


@dataclass
class PairBatch:
    """A batch of pairs: x, y (B, C, H, W) float32 in [0, 1], labels (B,), nuisance latents, indices."""

    x: torch.Tensor
    y: torch.Tensor
    label: torch.Tensor
    latents: dict[str, torch.Tensor]
    index: torch.Tensor

    def __len__(self) -> int:
        return int(self.label.shape[0])


class StereoPairs(Dataset):
    """Stereo pairs of class templates: ``dataset[i] -> (x, y, label)``; ``batches()`` is the fast path.

    Subclasses provide the templates (K, C, H, W) in [0, 1] and the class names.
    """

    dataset_name = "stereo-pairs"
    protocol_name = "stereo-templates"
    #: Named cells of the benchmark grid (name -> cell with ``jitter`` and ``noise_y``), set by subclasses.
    benchmark_grid: dict = {}

    @classmethod
    def from_grid(cls, cell: str, **kwargs) -> "StereoPairs":
        """A dataset at a named cell of the benchmark grid, e.g. ``"jitter0.2-noise0.5"``."""
        if cell not in cls.benchmark_grid:
            raise InputError(f"cell must be one of {', '.join(cls.benchmark_grid)}; got {cell!r}")
        spec = cls.benchmark_grid[cell]
        return cls(jitter=spec.jitter, noise_y=spec.noise_y, **kwargs)

    def __init__(
        self,
        templates: torch.Tensor,
        class_names: tuple[str, ...],
        config: StereoConfig,
        *,
        split: str = "train",
        n: int = 10_000,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ):
        self.split = check_choice("split", split, SPLITS)
        self.n = check_int("n", n, minimum=1)
        self.seed = check_int("seed", seed, minimum=0)
        self.device = _resolve_device(device)
        self.config = config
        self.class_names = tuple(class_names)
        if templates.dim() != 4 or templates.shape[0] != len(self.class_names):
            raise InputError(f"templates must be (classes, channels, H, W) with {len(self.class_names)} classes, got {tuple(templates.shape)}")
        self.templates = templates.float().to(self.device)
        self._radius = template_radius(self.templates)
        self._cached_block: tuple[int, dict] | None = None

    # ----------------------------------------------------------------- identity
    @property
    def nuisance_alignment(self) -> float:
        """nu_max = 1 - jitter."""
        return self.config.nuisance_alignment

    def describe(self) -> dict:
        """Everything that determines the bytes of the dataset (stored with saved files and results)."""
        return {
            "dataset": self.dataset_name,
            "protocol": self.protocol_name,
            "config": self.config.to_dict(),
            "split": self.split,
            "n": self.n,
            "seed": self.seed,
            "class_names": list(self.class_names),
            "generator_version": GENERATOR_VERSION,
            "device_type": self.device.type,
            **self._extra_description(),
        }

    def _extra_description(self) -> dict:
        return {}

    @property
    def fingerprint(self) -> str:
        """SHA-256 of :meth:`describe` and the template bytes."""
        return fingerprint(self.describe(), self.templates)

    # ----------------------------------------------------------------- generation
    def _block(self, block: int, noise_out: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Latents and noise of one block. The noise is drawn straight into ``noise_out`` when given
        (the fast path); otherwise the block is cached, since consecutive items share it."""
        if noise_out is None and self._cached_block is not None and self._cached_block[0] == block:
            return self._cached_block[1]
        generator = block_generator(self.seed, self.split, block, self.device)
        latents = self._draw_latents(generator)
        shape = (BLOCK, 2, *self.templates.shape[1:])
        if noise_out is None:
            latents["noise"] = torch.randn(shape, generator=generator, device=self.device)
            self._cached_block = (block, latents)
        else:
            latents["noise"] = torch.randn(shape, generator=generator, device=self.device, out=noise_out)
        return latents

    def generate(self, start: int, stop: int) -> PairBatch:
        """Samples ``start .. stop - 1`` as one batch on the dataset's device."""
        start = check_int("start", start, minimum=0, maximum=self.n)
        stop = check_int("stop", stop, minimum=start + 1, maximum=self.n)
        noise = torch.empty((stop - start, 2, *self.templates.shape[1:]), device=self.device)
        parts = []
        for block in range(start // BLOCK, (stop - 1) // BLOCK + 1):
            lo = max(start, block * BLOCK) - block * BLOCK
            hi = min(stop, (block + 1) * BLOCK) - block * BLOCK
            offset = block * BLOCK + lo - start
            if lo == 0 and hi == BLOCK:  # a whole block: draw its noise in place
                data = self._block(block, noise_out=noise[offset:offset + BLOCK])
            else:
                data = self._block(block)
                noise[offset:offset + hi - lo] = data["noise"][lo:hi]
            parts.append({key: value[lo:hi] for key, value in data.items() if key != "noise"})
        merged = {key: torch.cat([part[key] for part in parts]) for key in parts[0]}
        merged["noise"] = noise
        return self._render(merged, torch.arange(start, stop, device=self.device))

    def _draw_latents(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Labels and nuisance latents of one block (subclasses with other protocols override)."""
        return draw_block_latents(generator, self.config, len(self.class_names), self.device)

    def _render(self, latents: dict[str, torch.Tensor], index: torch.Tensor) -> PairBatch:
        noise = latents.pop("noise")
        translation, rotation, scale = view_transforms(latents, self.config)
        label = latents["label"]
        views = []
        for view, sigma in ((0, self.config.noise_x), (1, self.config.noise_y)):
            clean = warp_templates(self.templates, label, translation[:, view], rotation[:, view], scale[:, view], self._radius)
            views.append(scaled_add(clean, noise[:, view], sigma).clamp_(0.0, 1.0))
        return PairBatch(x=views[0], y=views[1], label=label, latents=latents, index=index)

    def batches(self, batch_size: int = 1024, start: int = 0, stop: int | None = None) -> Iterator[PairBatch]:
        """Consecutive batches covering ``start .. stop - 1``; only one batch is held at a time."""
        batch_size = check_int("batch_size", batch_size, minimum=1)
        stop = self.n if stop is None else check_int("stop", stop, minimum=0, maximum=self.n)
        for lo in range(start, stop, batch_size):
            yield self.generate(lo, min(lo + batch_size, stop))

    def latents(self, index) -> dict[str, np.ndarray]:
        """Labels and nuisance latents (world position, per-view jitter, ...) of the given samples."""
        index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        if index.ndim != 1 or index.size == 0:
            raise InputError(f"index must name at least one sample, got shape {index.shape}")
        if np.any(index < 0) or np.any(index >= self.n):
            raise IndexError(f"index out of range for a dataset of {self.n} samples")
        rows = []
        for i in index:
            block = self._block(int(i) // BLOCK)
            rows.append({key: value[int(i) % BLOCK].cpu().numpy() for key, value in block.items() if key != "noise"})
        return {key: np.stack([row[key] for row in rows]) for key in rows[0]}

    # ----------------------------------------------------------------- Dataset protocol
    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        if isinstance(index, (np.integer,)):
            index = int(index)
        if not isinstance(index, int) or isinstance(index, bool):
            raise InputTypeError(f"index must be an integer, got {type(index).__name__}")
        if index < 0:
            index += self.n
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for a dataset of {self.n} samples")
        batch = self.generate(index, index + 1)
        return batch.x[0].cpu(), batch.y[0].cpu(), int(batch.label[0])

    # ----------------------------------------------------------------- export
    def save(self, path: str | os.PathLike, *, batch_size: int = 2048, dtype: str = "float32", progress: bool = False) -> None:
        """Write all pairs to HDF5 (resumable; see :func:`mmphase_bench.data.pairs_file.save_pairs`)."""
        from mmphase_bench.data.pairs_file import save_pairs

        save_pairs(self, path, batch_size=batch_size, dtype=dtype, progress=progress)

    def to_hf_dataset(self, *, batch_size: int = 1024, cache_dir: str | None = None):
        """The pairs as a Hugging Face ``datasets.Dataset`` (x, y, label and the nuisance latents)."""
        from mmphase_bench.data.hf import to_hf_dataset

        return to_hf_dataset(self, batch_size=batch_size, cache_dir=cache_dir)

    def __repr__(self) -> str:
        c = self.config
        extra = ", extra_nuisance=True" if c.extra_nuisance else ""
        return (
            f"{type(self).__name__}(split={self.split!r}, n={self.n}, jitter={c.jitter:g}, noise_x={c.noise_x:g}, "
            f"noise_y={c.noise_y:g}, baseline={c.baseline:g}, rotation_jitter={c.effective_rotation_jitter:g}"
            f"{extra}, seed={self.seed}, device={str(self.device)!r}) [nu_max={self.nuisance_alignment:g}, "
            f"classes={', '.join(self.class_names)}]"
        )


def source_label(source) -> str:
    """How a template source is recorded in a dataset's description: "procedural" or "official:<file>"."""
    if isinstance(source, str) and source == "procedural":
        return "procedural"
    return f"official:{os.path.basename(os.fspath(source))}"


__all__ = ["StereoPairs", "PairBatch", "__version__"]
