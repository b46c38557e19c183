"""Saving stereo pairs to HDF5 (resumable, atomic) and reading them back (validated).

Layout of a pairs file::

    /x, /y          (n, C, H, W) float32, float16 or uint8 (uint8 stores round(255 v))
    /label          (n,) int64
    /latents/<name> (n, ...) float64 or int64: the nuisance latents
    attrs: format, format_version, description (JSON), fingerprint, package_version, dtype,
           class_names (JSON), n, completed

Writing goes to ``<path>.partial``; ``completed`` is updated after every batch, so an interrupted
render resumes where it stopped (if the configuration's fingerprint matches), and the file is renamed
to ``path`` only when complete.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from mmphase_bench._version import __version__
from mmphase_bench.validation import check_choice, check_int

logger = logging.getLogger(__name__)

FORMAT = "mmphase-bench/stereo-pairs"
FORMAT_VERSION = 1
DTYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8}


def _encode(values: torch.Tensor, dtype: str) -> np.ndarray:
    array = values.detach().cpu().numpy()
    if dtype == "uint8":
        return np.rint(array * 255.0).astype(np.uint8)
    return array.astype(DTYPES[dtype])


def save_pairs(dataset, path: str | os.PathLike, *, batch_size: int = 2048, dtype: str = "float32", progress: bool = False) -> Path:
    """Render every pair of ``dataset`` (a :class:`~mmphase_bench.data.stereo_pairs.StereoPairs`) to ``path``."""
    check_choice("dtype", dtype, tuple(DTYPES))
    batch_size = check_int("batch_size", batch_size, minimum=1)
    target = Path(path)
    if target.suffix.lower() not in (".h5", ".hdf5"):
        raise ValueError(f"out must end in .h5 or .hdf5, got {str(path)!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    fingerprint = dataset.fingerprint
    completed = 0
    if partial.exists():
        try:
            with h5py.File(partial, "r") as handle:
                if handle.attrs.get("fingerprint") == fingerprint and handle.attrs.get("dtype") == dtype:
                    completed = int(handle.attrs["completed"])
                    logger.info("resuming %s at pair %d of %d", partial, completed, dataset.n)
        except (OSError, KeyError):
            completed = 0
        if completed == 0:
            partial.unlink()
    channels, height, width = dataset.templates.shape[1:]
    mode = "r+" if completed else "w"
    with h5py.File(partial, mode) as handle:
        if not completed:
            handle.attrs.update({
                "format": FORMAT, "format_version": FORMAT_VERSION, "fingerprint": fingerprint,
                "description": json.dumps(dataset.describe(), sort_keys=True), "package_version": __version__,
                "dtype": dtype, "class_names": json.dumps(list(dataset.class_names)), "n": dataset.n, "completed": 0,
            })
            chunk = (min(256, dataset.n), channels, height, width)
            for name in ("x", "y"):
                handle.create_dataset(name, shape=(dataset.n, channels, height, width), dtype=DTYPES[dtype], chunks=chunk)
            handle.create_dataset("label", shape=(dataset.n,), dtype=np.int64)
        with tqdm(total=dataset.n, initial=completed, desc=f"rendering {target.name}", unit="pair", disable=not progress) as bar:
            for batch in dataset.batches(batch_size, start=completed):
                lo, hi = int(batch.index[0]), int(batch.index[-1]) + 1
                handle["x"][lo:hi] = _encode(batch.x, dtype)
                handle["y"][lo:hi] = _encode(batch.y, dtype)
                handle["label"][lo:hi] = batch.label.cpu().numpy()
                group = handle.require_group("latents")
                for name, values in batch.latents.items():
                    if name == "label":
                        continue
                    array = values.cpu().numpy()
                    if name not in group:
                        group.create_dataset(name, shape=(dataset.n, *array.shape[1:]), dtype=array.dtype)
                    group[name][lo:hi] = array
                handle.attrs["completed"] = hi
                handle.flush()
                bar.update(hi - lo)
    os.replace(partial, target)
    return target


class PairsFile(Dataset):
    """Read a pairs file written by :func:`save_pairs`: ``file[i] -> (x, y, label)`` as float tensors in [0, 1].

    The file is validated on opening (format, keys, shapes, dtypes, completeness); nothing is unpickled.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"pairs file not found: {self.path}")
        try:
            handle = h5py.File(self.path, "r")
        except OSError as error:
            raise ValueError(f"{self.path}: not an HDF5 file ({error})") from None
        with handle:
            attrs = dict(handle.attrs)
            if attrs.get("format") != FORMAT:
                raise ValueError(f"{self.path}: not a mmphase-bench pairs file (format {attrs.get('format')!r})")
            if int(attrs.get("format_version", -1)) != FORMAT_VERSION:
                raise ValueError(f"{self.path}: unsupported format_version {attrs.get('format_version')}")
            for key in ("x", "y", "label"):
                if key not in handle or not isinstance(handle[key], h5py.Dataset):
                    raise ValueError(f"{self.path}: missing dataset /{key}")
            n = int(attrs["n"])
            if int(attrs.get("completed", -1)) != n:
                raise ValueError(f"{self.path}: incomplete file ({attrs.get('completed')} of {n} pairs)")
            self.dtype = str(attrs["dtype"])
            if self.dtype not in DTYPES:
                raise ValueError(f"{self.path}: unknown dtype attribute {self.dtype!r}")
            x, y, label = handle["x"], handle["y"], handle["label"]
            if x.ndim != 4 or x.shape != y.shape or x.shape[0] != n or label.shape != (n,):
                raise ValueError(f"{self.path}: inconsistent shapes x {x.shape}, y {y.shape}, label {label.shape}, n {n}")
            if x.dtype != DTYPES[self.dtype] or y.dtype != DTYPES[self.dtype] or label.dtype.kind not in "iu":
                raise ValueError(f"{self.path}: unexpected dtypes x {x.dtype}, y {y.dtype}, label {label.dtype}")
            self.latent_names = tuple(handle["latents"].keys()) if "latents" in handle else ()
            for name in self.latent_names:
                if handle["latents"][name].shape[0] != n:
                    raise ValueError(f"{self.path}: latent {name!r} has {handle['latents'][name].shape[0]} rows, expected {n}")
            self.shape = tuple(x.shape[1:])
        self.n = n
        self.fingerprint = str(attrs["fingerprint"])
        self.description = json.loads(attrs["description"])
        self.class_names = tuple(json.loads(attrs["class_names"]))
        self._handle: h5py.File | None = None

    def _file(self) -> h5py.File:
        if self._handle is None:  # opened lazily, once per process (DataLoader workers get their own)
            self._handle = h5py.File(self.path, "r")
        return self._handle

    def _decode(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        return tensor.float().div_(255.0) if self.dtype == "uint8" else tensor.float()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} pairs")
        index %= self.n
        handle = self._file()
        return self._decode(handle["x"][index]), self._decode(handle["y"][index]), int(handle["label"][index])

    def read(self, start: int = 0, stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A contiguous slice as tensors (x, y, label)."""
        stop = self.n if stop is None else stop
        handle = self._file()
        return self._decode(handle["x"][start:stop]), self._decode(handle["y"][start:stop]), torch.from_numpy(handle["label"][start:stop])

    def latents(self, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        handle = self._file()
        return {name: handle["latents"][name][start:stop] for name in self.latent_names}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handle"] = None
        return state

    def __repr__(self) -> str:
        return f"PairsFile(path={str(self.path)!r}, n={self.n}, shape={self.shape}, dtype={self.dtype!r}, dataset={self.description.get('dataset')!r})"
