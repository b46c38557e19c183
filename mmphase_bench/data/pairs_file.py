"""Saving stereo pairs to HDF5 (resumable, atomic) and reading them back (validated).

Layout of a pairs file::

    /x, /y          (n, C, H, W) float32, float16 or uint8 (uint8 stores round(255 v))
    /label          (n,) int64
    /latents/<name> (n, ...) float64 or int64: the nuisance latents
    attrs: format, format_version, description (JSON), fingerprint, package_version, dtype,
           class_names (JSON), n, completed, data_sha256

Writing goes to ``<path>.partial``; ``completed`` is updated after every batch, so an interrupted
render resumes where it stopped (if the configuration's fingerprint matches), and the file is renamed
to ``path`` only when complete. ``data_sha256`` (see :func:`data_digest`) is computed from the
finished file just before the rename; :class:`PairsFile` checks it when opened with ``verify=True``.
The output path is checked before any work (:func:`check_output_path`).
"""

from __future__ import annotations

import hashlib
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
from mmphase_bench.errors import FileFormatError, InputError
from mmphase_bench.io import hdf5
from mmphase_bench.validation import check_choice, check_int

logger = logging.getLogger(__name__)

FORMAT = "mmphase-bench/stereo-pairs"
FORMAT_VERSION = 1
DTYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8}
#: The attribute holding the SHA-256 of the data (hex); see :func:`data_digest`.
HASH_ATTRIBUTE = "data_sha256"


def _encode(values: torch.Tensor, dtype: str) -> np.ndarray:
    array = values.detach().cpu().numpy()
    if dtype == "uint8":
        return np.rint(array * 255.0).astype(np.uint8)
    return array.astype(DTYPES[dtype])


def check_output_path(path: str | os.PathLike, name: str = "out") -> Path:
    """Check, before any work, that a pairs file can be written at ``path``; return it as a Path.

    Checked: the suffix is .h5 or .hdf5; neither ``path`` nor ``<path>.partial`` is a folder; the
    nearest existing ancestor of the parent folder is a folder we may write in (missing folders are
    created when writing). Failures raise :class:`~mmphase_bench.errors.InputError` naming ``name``.
    """
    target = Path(path)
    if target.suffix.lower() not in (".h5", ".hdf5"):
        raise InputError(f"{name} must end in .h5 or .hdf5, got {str(path)!r}")
    partial = target.with_name(target.name + ".partial")
    for candidate in (target, partial):
        if candidate.is_dir():
            raise InputError(f"{name}: {candidate} is a folder; name the .h5 file to write")
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{name}: cannot create the folder {target.parent}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"{name}: cannot write in {ancestor} (permission denied)")
    return target


def save_pairs(dataset, path: str | os.PathLike, *, batch_size: int = 2048, dtype: str = "float32", progress: bool = False) -> Path:
    """Render every pair of ``dataset`` (a :class:`~mmphase_bench.data.stereo_pairs.StereoPairs`) to ``path``.

    The arguments and the output path (:func:`check_output_path`) are checked before rendering. If
    rendering fails before the first batch is stored, no ``.partial`` file is left behind.
    """
    check_choice("dtype", dtype, tuple(DTYPES))
    batch_size = check_int("batch_size", batch_size, minimum=1)
    target = check_output_path(path)
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
        except (OSError, KeyError, TypeError, ValueError):
            completed = 0
        if completed == 0:
            partial.unlink()
    try:
        _write(dataset, target, partial, completed, batch_size, dtype, progress, fingerprint)
    except BaseException:
        if partial.exists() and _completed(partial) == 0:  # nothing worth resuming
            partial.unlink()
        raise
    os.replace(partial, target)
    return target


def _completed(partial: Path) -> int:
    try:
        with h5py.File(partial, "r") as handle:
            return int(handle.attrs.get("completed", 0))
    except (OSError, TypeError, ValueError):
        return 0


def _write(dataset, target: Path, partial: Path, completed: int, batch_size: int, dtype: str, progress: bool, fingerprint: str) -> None:
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
        nodes = {key: handle[key] for key in ("x", "y", "label")}
        nodes.update({f"latents/{name}": handle["latents"][name] for name in handle.get("latents", {})})
        handle.attrs[HASH_ATTRIBUTE] = data_digest(nodes, str(partial))
        handle.flush()


class PairsFile(Dataset):
    """Read a pairs file written by :func:`save_pairs`: ``file[i] -> (x, y, label)`` as float tensors in [0, 1].

    A pairs file may come from someone else, so it is read as untrusted input
    (:mod:`mmphase_bench.io.hdf5`); nothing is unpickled. Checked on opening, each failure a
    :class:`~mmphase_bench.errors.FileFormatError` (or :class:`~mmphase_bench.errors.MissingFileError`)
    with one line naming the file:

    * the file is HDF5 with ``format`` and ``format_version`` as written here, and the attributes
      ``n``, ``completed`` (integers, ``completed == n``), ``dtype`` (float32, float16 or uint8),
      ``fingerprint`` (text), ``description`` (a JSON object) and ``class_names`` (a JSON list of
      at least one name);
    * ``/x``, ``/y``, ``/label`` and each ``/latents/<name>`` are datasets reached through links
      inside the file (external links are refused), with their data inside the file (no external
      storage, virtual datasets or plugin filters) and numeric dtypes; ``x`` and ``y`` are
      (n, C, H, W) of the stored ``dtype``, ``label`` is integer (n,) with every value in
      0 .. len(class_names) - 1, every latent has n rows and finite values;
    * with ``verify=True`` (the default) the SHA-256 of the data bytes is recomputed (in chunks of
      about 64 MB) and compared with the one :func:`save_pairs` stored, and every float pixel is
      checked to be finite and in [0, 1]. This reads the whole file once (roughly 1-3 s per GB),
      which is small next to training on it and catches a damaged or altered file; pass
      ``verify=False`` to skip it (e.g. for a file written before the hash was stored, or when
      reopening a file already verified). The hash catches damage, not a deliberate forgery: whoever
      rewrites the data can rewrite the hash, which is why the checks above always run.

    Whatever ``verify`` says, every read checks that float pixels are finite and in [0, 1].

    One read-only handle is kept, opened lazily in each process (DataLoader workers, pickled or
    forked, open their own and re-check the file's structure); ``close()`` or ``with PairsFile(p)
    as pairs:`` releases it (a later read reopens it).
    """

    def __init__(self, path: str | os.PathLike, *, verify: bool = True):
        self.path = Path(path)
        self._where = where = str(self.path)
        self._handle: h5py.File | None = None
        self._pid: int | None = None
        self._nodes: dict[str, h5py.Dataset] = {}
        with hdf5.open_hdf5_safely(self.path, where) as handle:
            attrs = handle.attrs
            file_format = _attribute(attrs, "format", where, required=False)
            if file_format != FORMAT:
                raise FileFormatError(f"{where}: not a mmphase-bench pairs file (format {file_format!r})")
            version = _attribute(attrs, "format_version", where, required=False)
            if not _is_int(version) or int(version) != FORMAT_VERSION:
                raise FileFormatError(f"{where}: unsupported format_version {version!r} (this version reads {FORMAT_VERSION})")
            nodes = self._datasets(handle)
            n = _int_attribute(attrs, "n", where)
            completed = _int_attribute(attrs, "completed", where)
            if completed != n:
                raise FileFormatError(f"{where}: incomplete file ({completed} of {n} pairs)")
            self.dtype = _text_attribute(attrs, "dtype", where)
            if self.dtype not in DTYPES:
                raise FileFormatError(f"{where}: unknown dtype attribute {self.dtype!r} (expected one of {', '.join(DTYPES)})")
            self.fingerprint = _text_attribute(attrs, "fingerprint", where)
            self.description = _json_attribute(attrs, "description", where, dict)
            class_names = _json_attribute(attrs, "class_names", where, list)
            if not class_names or not all(isinstance(name, str) for name in class_names):
                raise FileFormatError(f"{where}: attribute 'class_names' must be a JSON list of one or more names")
            self.class_names = tuple(class_names)
            x, y, label = nodes["x"], nodes["y"], nodes["label"]
            if x.ndim != 4 or x.shape != y.shape or x.shape[0] != n or label.shape != (n,) or 0 in x.shape[1:]:
                raise FileFormatError(f"{where}: inconsistent shapes x {x.shape}, y {y.shape}, label {label.shape}, n {n}")
            if x.dtype != DTYPES[self.dtype] or y.dtype != DTYPES[self.dtype] or label.dtype.kind not in "iu":
                raise FileFormatError(f"{where}: unexpected dtypes x {x.dtype}, y {y.dtype}, label {label.dtype} (dtype attribute {self.dtype})")
            self.n = n
            self.shape = tuple(x.shape[1:])
            self.latent_names = tuple(name.split("/", 1)[1] for name in nodes if name.startswith("latents/"))
            for name in self.latent_names:
                self._check_latent(name, nodes[f"latents/{name}"])
            self._check_labels(label)
            if verify:
                self._verify(handle, nodes)

    # ------------------------------------------------------------------ checks
    def _datasets(self, handle: h5py.File) -> dict[str, h5py.Dataset]:
        where = self._where
        nodes = {}
        for key in ("x", "y", "label"):
            if handle.get(key, getlink=True) is None:
                raise FileFormatError(f"{where}: missing dataset /{key}")
            nodes[key] = hdf5.require_dataset(handle, key, where, label=f"/{key}")
        if handle.get("latents", getlink=True) is not None:
            group = hdf5.resolve(handle, "latents", where)
            if not isinstance(group, h5py.Group):
                raise FileFormatError(f"{where}: /latents must be a group")
            for name in sorted(group.keys()):  # keys() reads link names only; each link is checked
                nodes[f"latents/{name}"] = hdf5.require_dataset(handle, f"latents/{name}", where, label=f"latent {name!r}")
        return nodes

    def _check_latent(self, name: str, dataset: h5py.Dataset) -> None:
        where = self._where
        if dataset.ndim == 0 or dataset.shape[0] != self.n:
            raise FileFormatError(f"{where}: latent {name!r} has shape {dataset.shape}, expected {self.n} rows")
        if dataset.dtype.kind == "f":
            step = hdf5.rows_per_chunk(dataset)
            for lo in range(0, self.n, step):
                block = hdf5.read(dataset, slice(lo, lo + step), where, label=f"latent {name!r}")
                if not np.all(np.isfinite(block)):
                    raise FileFormatError(f"{where}: latent {name!r} holds NaN or infinite values")

    def _check_labels(self, label: h5py.Dataset) -> None:
        where, classes = self._where, len(self.class_names)
        step = hdf5.rows_per_chunk(label)
        for lo in range(0, self.n, step):
            block = hdf5.read(label, slice(lo, lo + step), where, label="/label")
            if block.size and (int(block.min()) < 0 or int(block.max()) >= classes):
                bad = block[(block < 0) | (block >= classes)]
                raise FileFormatError(
                    f"{where}: /label holds {int(bad[0])}, outside 0..{classes - 1} (the {classes} class names)"
                )

    def _verify(self, handle: h5py.File, nodes: dict[str, h5py.Dataset]) -> None:
        stored = handle.attrs.get(HASH_ATTRIBUTE)
        if stored is None:
            raise FileFormatError(
                f"{self._where}: has no stored data hash ({HASH_ATTRIBUTE}; written before mmphase-bench stored one?); "
                "open it with verify=False to skip the check"
            )
        found = data_digest(nodes, self._where, check=self._check_pixels)
        if not isinstance(stored, str) or stored != found:
            raise FileFormatError(
                f"{self._where}: the data do not match the stored SHA-256 (the file is damaged or was altered after writing)"
            )

    def _check_pixels(self, key: str, lo: int, array: np.ndarray) -> None:
        """Float pixels must be finite and in [0, 1] (uint8 pixels always decode into [0, 1])."""
        if key not in ("x", "y") or array.dtype.kind != "f" or array.size == 0:
            return
        hi = lo + array.shape[0] - 1
        if not np.all(np.isfinite(array)):
            raise FileFormatError(f"{self._where}: /{key} holds NaN or infinite pixels (rows {lo}..{hi})")
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise FileFormatError(f"{self._where}: /{key} holds pixels outside [0, 1] (min {low:g}, max {high:g}; rows {lo}..{hi})")

    # ------------------------------------------------------------------ handle
    def _file(self) -> h5py.File:
        """The process's handle, opened (and its structure re-checked) on first use in each process."""
        if self._handle is None or self._pid != os.getpid():
            self._handle = None  # a handle inherited through fork is not used (nor closed) here
            handle = hdf5.open_hdf5_safely(self.path, self._where)
            try:
                nodes = self._datasets(handle)
                if nodes["x"].shape != (self.n, *self.shape) or nodes["x"].dtype != DTYPES[self.dtype] \
                        or nodes["y"].shape != nodes["x"].shape or nodes["label"].shape != (self.n,):
                    raise FileFormatError(f"{self._where}: the file changed since it was opened")
            except BaseException:
                handle.close()
                raise
            self._handle, self._pid, self._nodes = handle, os.getpid(), nodes
        return self._handle

    def close(self) -> None:
        """Close the file (if open in this process); the next read reopens it."""
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle, self._pid, self._nodes = None, None, {}

    def __enter__(self) -> "PairsFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _node(self, key: str) -> h5py.Dataset:
        self._file()
        return self._nodes[key]

    # ------------------------------------------------------------------ reading
    def _decode(self, key: str, lo: int, array: np.ndarray) -> torch.Tensor:
        self._check_pixels(key, lo, array)
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        return tensor.float().div_(255.0) if self.dtype == "uint8" else tensor.float()

    def _range(self, start: int, stop: int | None) -> tuple[int, int]:
        start, stop, _ = slice(start, stop).indices(self.n)
        return start, max(start, stop)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} pairs")
        index = int(index) % self.n
        x = hdf5.read(self._node("x"), index, self._where, label="/x")
        y = hdf5.read(self._node("y"), index, self._where, label="/y")
        label = hdf5.read(self._node("label"), index, self._where, label="/label")
        return self._decode("x", index, x[None])[0], self._decode("y", index, y[None])[0], int(label)

    def read(self, start: int = 0, stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A contiguous slice as tensors (x, y, label)."""
        start, stop = self._range(start, stop)
        part = slice(start, stop)
        x = hdf5.read(self._node("x"), part, self._where, label="/x")
        y = hdf5.read(self._node("y"), part, self._where, label="/y")
        label = hdf5.read(self._node("label"), part, self._where, label="/label")
        return self._decode("x", start, x), self._decode("y", start, y), torch.from_numpy(label)

    def latents(self, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        start, stop = self._range(start, stop)
        return {
            name: hdf5.read(self._node(f"latents/{name}"), slice(start, stop), self._where, label=f"latent {name!r}")
            for name in self.latent_names
        }

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handle"], state["_pid"], state["_nodes"] = None, None, {}
        return state

    def __repr__(self) -> str:
        return f"PairsFile(path={str(self.path)!r}, n={self.n}, shape={self.shape}, dtype={self.dtype!r}, dataset={self.description.get('dataset')!r})"


# ---------------------------------------------------------------------------- helpers
def data_digest(nodes: dict[str, h5py.Dataset], where: str, *, check=None) -> str:
    """SHA-256 (hex) of a pairs file's data, read in chunks of about 64 MB.

    Covered, in this order: ``x``, ``y``, ``label``, then ``latents/<name>`` by name. For each, the
    text ``"<name>\\n<dtype, little-endian>\\n<shape>\\n"`` and then its values as little-endian
    C-ordered bytes. ``check(name, first_row, block)``, if given, sees every block as it is read.
    """
    digest = hashlib.sha256()
    order = ["x", "y", "label"] + sorted(name for name in nodes if name.startswith("latents/"))
    for name in order:
        dataset = nodes[name]
        dtype = dataset.dtype.newbyteorder("<")
        digest.update(f"{name}\n{dtype.str}\n{tuple(dataset.shape)}\n".encode())
        if dataset.ndim == 0:
            digest.update(np.asarray(hdf5.read(dataset, (), where, label=name), dtype=dtype).tobytes())
            continue
        step = hdf5.rows_per_chunk(dataset)
        for lo in range(0, dataset.shape[0], step):
            block = hdf5.read(dataset, slice(lo, lo + step), where, label=f"/{name}")
            if check is not None:
                check(name, lo, block)
            digest.update(np.ascontiguousarray(block, dtype=dtype).tobytes())
    return digest.hexdigest()


def _attribute(attrs, key: str, where: str, *, required: bool = True):
    if key not in attrs:
        if required:
            raise FileFormatError(f"{where}: missing attribute {key!r}")
        return None
    try:
        value = attrs[key]
    except (OSError, TypeError, ValueError) as error:
        raise FileFormatError(f"{where}: cannot read attribute {key!r} ({hdf5.one_line(error)})") from None
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise FileFormatError(f"{where}: attribute {key!r} is not UTF-8 text") from None
    return value


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _int_attribute(attrs, key: str, where: str) -> int:
    value = _attribute(attrs, key, where)
    if not _is_int(value) or int(value) < 0:
        raise FileFormatError(f"{where}: attribute {key!r} must be a non-negative integer, got {value!r}")
    return int(value)


def _text_attribute(attrs, key: str, where: str) -> str:
    value = _attribute(attrs, key, where)
    if not isinstance(value, str):
        raise FileFormatError(f"{where}: attribute {key!r} must be text, got {type(value).__name__}")
    return value


def _json_attribute(attrs, key: str, where: str, kind: type):
    text = _text_attribute(attrs, key, where)
    try:
        value = json.loads(text)
    except ValueError as error:
        raise FileFormatError(f"{where}: attribute {key!r} is not valid JSON ({hdf5.one_line(error)})") from None
    if not isinstance(value, kind):
        raise FileFormatError(f"{where}: attribute {key!r} must be a JSON {'object' if kind is dict else 'list'}")
    return value
