"""Opening HDF5 files we did not write without letting them read anything outside themselves.

An HDF5 file can make the library read other files: an external link (``/x`` names a dataset in
another file), a dataset with external raw storage (``dataset.external``: its bytes live in, say,
``/etc/passwd``), a virtual dataset (``dataset.is_virtual``: assembled from other files) or a filter
that is not built in (HDF5 then loads a plugin). Every reader of a file we did not write goes
through this module, which checks each link on the path to a node *before* h5py follows it:

* :func:`open_hdf5_safely` opens the file read-only (missing, empty or non-HDF5 files: one line);
* :func:`resolve` walks a path link by link: hard links and soft links (which stay inside the file;
  followed at most :data:`MAX_SOFT_LINK_HOPS` times) are allowed, external and user-defined links
  are refused;
* :func:`check_dataset` refuses external storage, virtual datasets, filters other than
  :data:`SAFE_FILTERS`, and object, variable-length, string, compound (structured), opaque and
  reference dtypes (numeric kinds only), and checks ``ndim``, ``dtype`` and ``shape`` when asked;
* :func:`read` turns a read failure (a truncated file, a corrupt chunk) into a one-line error.

Every error is a :class:`~mmphase_bench.errors.FileFormatError` (an ``InputError``) whose message
starts with the caller's ``where`` (which names the file) and says what is wrong, on one line.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any

import numpy as np

from mmphase_bench.errors import FileFormatError, InputError, MissingFileError

#: Soft links followed in a row before the path is refused (a loop otherwise never ends).
MAX_SOFT_LINK_HOPS = 8
#: HDF5 filter codes that need no plugin: deflate, shuffle, fletcher32, szip, nbit, scaleoffset, lzf.
SAFE_FILTERS = frozenset({1, 2, 3, 4, 5, 6, 32000})
#: dtype kinds accepted by default: bool, signed and unsigned integers, floats.
NUMERIC_KINDS = "biuf"


def one_line(error: BaseException | str) -> str:
    """An exception's message collapsed to one line (h5py's messages can span several)."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def check_input_file(path: str | os.PathLike, where: str) -> Path:
    """``path`` names an existing, non-empty regular file; otherwise one line starting with ``where``
    (which, by the convention of this module, names the file)."""
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{where}: file not found")
    if not path.is_file():
        raise InputError(f"{where}: not a regular file (a directory?)")
    if path.stat().st_size == 0:
        raise FileFormatError(f"{where}: the file is empty (0 bytes)")
    return path


def open_hdf5_safely(path: str | os.PathLike, where: str):
    """Open ``path`` read-only as HDF5. Checks: the file exists, is not empty and is HDF5.

    Nothing in the file is followed yet: reach its nodes through :func:`resolve` /
    :func:`require_dataset`, never ``handle[name]`` on a path that came from the file or the user.
    """
    import h5py

    path = check_input_file(path, where)
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise FileFormatError(f"{where}: not a readable HDF5 file ({one_line(error)})") from None


def resolve(handle, name: str, where: str):
    """The node at ``name`` (absolute or relative to the root), reached through hard links and soft
    links inside the file only. External links, user-defined links and soft-link chains longer than
    :data:`MAX_SOFT_LINK_HOPS` are refused; a missing node is a :class:`FileFormatError` too."""
    return handle[_resolve_path(handle, name, where, followed=[0])]


def _resolve_path(handle, name: str, where: str, *, followed: list[int]) -> str:
    """``followed`` counts the soft links followed in the whole resolution (not only their nesting),
    so a crafted tree of links cannot make the lookup take exponential time."""
    import h5py

    current = "/"
    for part in (p for p in name.split("/") if p not in ("", ".")):
        group = handle[current]  # reached through hard links only
        if not isinstance(group, h5py.Group):
            raise FileFormatError(f"{where}: {current} is a dataset, not a group, so {name} does not exist")
        try:
            link = group.get(part, getlink=True)
        except (KeyError, OSError, RuntimeError) as error:
            raise FileFormatError(f"{where}: cannot read the link {posixpath.join(current, part)} ({one_line(error)})") from None
        here = posixpath.join(current, part)
        if link is None:
            raise FileFormatError(f"{where}: no dataset or group at {here}")
        if isinstance(link, h5py.ExternalLink):
            raise FileFormatError(
                f"{where}: {here} is an external link to {link.filename}:{link.path}; links out of the file are refused"
            )
        if isinstance(link, h5py.SoftLink):
            followed[0] += 1
            if followed[0] > MAX_SOFT_LINK_HOPS:
                raise FileFormatError(f"{where}: reaching {name} takes more than {MAX_SOFT_LINK_HOPS} soft links (a loop?)")
            target = link.path if link.path.startswith("/") else posixpath.join(current, link.path)
            current = _resolve_path(handle, target, where, followed=followed)
        elif isinstance(link, h5py.HardLink):
            current = here
        else:
            raise FileFormatError(f"{where}: {here} is a {type(link).__name__}; only hard and soft links are accepted")
    return current


def check_dataset(
    dataset,
    where: str,
    *,
    label: str | None = None,
    kinds: str = NUMERIC_KINDS,
    dtype: Any = None,
    ndim: int | None = None,
    shape: tuple[int | None, ...] | None = None,
):
    """Refuse external storage, virtual datasets, plugin filters and non-numeric dtypes; check
    ``dtype`` (exact), ``ndim`` and ``shape`` (``None`` entries match any size) when given."""
    label = label or dataset.name
    if dataset.is_virtual:
        raise FileFormatError(f"{where}: {label} is a virtual dataset (it reads other files); refused")
    if dataset.external:
        files = ", ".join(str(entry[0]) for entry in dataset.external)
        raise FileFormatError(f"{where}: {label} keeps its data in external files ({files}); refused")
    plist = dataset.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code, _, _, filter_name = plist.get_filter(i)
        if code not in SAFE_FILTERS:
            raise FileFormatError(f"{where}: {label} uses the filter {filter_name.decode(errors='replace')!r} ({code}), which needs a plugin; refused")
    found = dataset.dtype
    if found.fields is not None or found.subdtype is not None or found.kind not in kinds:
        raise FileFormatError(f"{where}: {label} has dtype {_describe_dtype(found)}; expected {_describe_kinds(kinds)}")
    if dtype is not None and found != np.dtype(dtype):
        raise FileFormatError(f"{where}: {label} must be {np.dtype(dtype)}, got {found}")
    if ndim is not None and dataset.ndim != ndim:
        raise FileFormatError(f"{where}: {label} must be {ndim}-D, got shape {dataset.shape}")
    if shape is not None and (len(shape) != dataset.ndim or any(s is not None and s != d for s, d in zip(shape, dataset.shape))):
        wanted = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise FileFormatError(f"{where}: {label} must have shape {wanted}, got {dataset.shape}")
    return dataset


def require_dataset(handle, name: str, where: str, **checks):
    """:func:`resolve` ``name``, require a dataset there and :func:`check_dataset` it."""
    import h5py

    node = resolve(handle, name, where)
    if not isinstance(node, h5py.Dataset):
        raise FileFormatError(f"{where}: {checks.get('label') or name} is a group, not a dataset")
    return check_dataset(node, where, **checks)


def read(dataset, selection, where: str, *, label: str | None = None) -> np.ndarray:
    """``dataset[selection]``; a read failure (truncated file, corrupt chunk) is a one-line error."""
    try:
        return dataset[selection]
    except OSError as error:
        raise FileFormatError(f"{where}: cannot read {label or dataset.name} ({one_line(error)})") from None


def rows_per_chunk(dataset, budget_bytes: int = 64 << 20) -> int:
    """How many leading-axis rows of ``dataset`` fit in ``budget_bytes`` (at least 1)."""
    row = int(np.prod(dataset.shape[1:], dtype=np.int64)) * dataset.dtype.itemsize
    return max(1, budget_bytes // max(1, row))


def _describe_dtype(dtype: np.dtype) -> str:
    if dtype.fields is not None:
        return f"{dtype} (structured)"
    if dtype.kind == "O":
        return "object / variable-length"
    return str(dtype)


def _describe_kinds(kinds: str) -> str:
    names = {"b": "bool", "i": "signed integer", "u": "unsigned integer", "f": "float", "c": "complex"}
    return "a numeric dtype (" + ", ".join(names[k] for k in kinds if k in names) + ")"
