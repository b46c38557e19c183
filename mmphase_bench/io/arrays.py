"""Reading arrays named on the command line: ``.npy``, ``file.npz:key`` and ``file.h5:/dataset``.

These files come from users, so they are read as untrusted input (see :mod:`mmphase_bench.io.npz`
and :mod:`mmphase_bench.io.hdf5`): nothing is unpickled; ``.npy`` headers and ``.npz`` members are
checked (numeric dtype, no objects or structured records, size consistent with the header) before
any data is read; in HDF5 files external links, external storage, virtual datasets and plugin
filters are refused. Empty, truncated and damaged files give one line naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mmphase_bench.errors import FileFormatError, InputError
from mmphase_bench.io import hdf5
from mmphase_bench.io.npz import NUMERIC_KINDS, NpzArchive, load_npy

H5_SUFFIXES = (".h5", ".hdf5", ".hdf")


class ArrayFileError(FileFormatError):
    """A named array file is missing, unreadable or malformed."""


def load_array(spec: str | os.PathLike, *, name: str = "array") -> np.ndarray:
    """Load the array named by ``spec``.

    ``spec`` is ``path.npy``, ``path.npz:key`` (``key`` may be omitted when the archive holds one
    array) or ``path.h5:/group/dataset``. Checked: the file exists and is not empty; the array is
    numeric (bool, integer, float or complex; never objects, strings or records); the data are
    complete (not truncated) and, for HDF5, stored inside the file. Any problem raises
    :class:`ArrayFileError` with a one-line message starting with ``name`` and naming the file.
    """
    text = os.fspath(spec)
    path_text, key = _split_spec(text)
    path = Path(path_text)
    where = f"{name}: cannot read {path_text}"
    if not path.exists():
        raise ArrayFileError(f"{name}: file not found: {path_text}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            if key is not None:
                raise ArrayFileError(f"{name}: a .npy file holds one array; drop ':{key}'")
            array = load_npy(path, where)
        elif suffix == ".npz":
            array = _load_npz(path, key, name, where)
        elif suffix in H5_SUFFIXES:
            array = _load_h5(path, key, name, where)
        else:
            raise ArrayFileError(f"{name}: unsupported file type {suffix!r} (use .npy, .npz:key or .h5:/dataset)")
    except ArrayFileError:
        raise
    except InputError as error:
        raise ArrayFileError(str(error)) from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in NUMERIC_KINDS:
        raise ArrayFileError(f"{name}: {text} does not hold a numeric array")
    return array


def _split_spec(text: str) -> tuple[str, str | None]:
    lowered = text.lower()
    for suffix in (".npz", *H5_SUFFIXES, ".npy"):
        marker = suffix + ":"
        position = lowered.rfind(marker)
        if position != -1:
            return text[: position + len(suffix)], text[position + len(marker):] or None
    return text, None


def _load_npz(path: Path, key: str | None, name: str, where: str) -> np.ndarray:
    with NpzArchive(path, where) as archive:
        keys = list(archive.keys)
        if key is None:
            if len(keys) != 1:
                raise ArrayFileError(f"{name}: {path} holds {len(keys)} arrays ({', '.join(keys)}); name one as {path}:KEY")
            key = keys[0]
        if key not in keys:
            raise ArrayFileError(f"{name}: {path} has no array {key!r}; it holds: {', '.join(keys)}")
        return archive.read(key)


def _load_h5(path: Path, key: str | None, name: str, where: str) -> np.ndarray:
    if key is None:
        raise ArrayFileError(f"{name}: name the dataset inside the HDF5 file as {path}:/path/to/dataset")
    with hdf5.open_hdf5_safely(path, where) as handle:
        dataset = hdf5.require_dataset(handle, key, where, label=key, kinds=NUMERIC_KINDS)
        return hdf5.read(dataset, (), where, label=key)
