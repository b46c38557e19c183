"""Reading arrays named on the command line: ``.npy``, ``file.npz:key`` and ``file.h5:/dataset``.

Nothing is unpickled (``allow_pickle=False``); every array is checked before use.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mmphase_bench.errors import FileFormatError

H5_SUFFIXES = (".h5", ".hdf5", ".hdf")


class ArrayFileError(FileFormatError):
    """A named array file is missing, unreadable or malformed."""


def load_array(spec: str | os.PathLike, *, name: str = "array") -> np.ndarray:
    """Load the array named by ``spec``.

    ``spec`` is ``path.npy``, ``path.npz:key`` (``key`` may be omitted when the archive holds one
    array) or ``path.h5:/group/dataset``. Raises :class:`ArrayFileError` with a one-line message.
    """
    text = os.fspath(spec)
    path_text, key = _split_spec(text)
    path = Path(path_text)
    if not path.is_file():
        raise ArrayFileError(f"{name}: file not found: {path_text}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            if key is not None:
                raise ArrayFileError(f"{name}: a .npy file holds one array; drop ':{key}'")
            array = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            array = _load_npz(path, key, name)
        elif suffix in H5_SUFFIXES:
            array = _load_h5(path, key, name)
        else:
            raise ArrayFileError(f"{name}: unsupported file type {suffix!r} (use .npy, .npz:key or .h5:/dataset)")
    except ArrayFileError:
        raise
    except ValueError as error:  # numpy refuses object arrays without allow_pickle
        raise ArrayFileError(f"{name}: cannot read {path_text}: {error}") from None
    except OSError as error:
        raise ArrayFileError(f"{name}: cannot read {path_text}: {error}") from None
    if not isinstance(array, np.ndarray) or array.dtype == object:
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


def _load_npz(path: Path, key: str | None, name: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.files)
        if key is None:
            if len(keys) != 1:
                raise ArrayFileError(f"{name}: {path} holds {len(keys)} arrays ({', '.join(keys)}); name one as {path}:KEY")
            key = keys[0]
        if key not in keys:
            raise ArrayFileError(f"{name}: {path} has no array {key!r}; it holds: {', '.join(keys)}")
        return archive[key]


def _load_h5(path: Path, key: str | None, name: str) -> np.ndarray:
    import h5py

    if key is None:
        raise ArrayFileError(f"{name}: name the dataset inside the HDF5 file as {path}:/path/to/dataset")
    with h5py.File(path, "r") as handle:
        if key not in handle:
            raise ArrayFileError(f"{name}: {path} has no dataset {key!r}")
        node = handle[key]
        if not isinstance(node, h5py.Dataset):
            raise ArrayFileError(f"{name}: {path}:{key} is a group, not a dataset")
        if node.dtype.kind not in "biuf":
            raise ArrayFileError(f"{name}: {path}:{key} has non-numeric dtype {node.dtype}")
        return node[()]
