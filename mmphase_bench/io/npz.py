"""Reading ``.npy`` files and ``.npz`` members we did not write: never unpickled, checked before read.

``np.load`` reads a whole member before anything can be checked, and its errors on a damaged file
(``EOFError``, ``zipfile.BadZipFile``, ``zlib.error``) are not input errors. Here an ``.npz`` is
opened as the zip archive it is and each member is read on its own:

* the ``.npy`` header is parsed first (format version 1 or 2; version 3 exists only for structured
  dtypes, which are refused anyway); object, structured, sub-array, string and other non-numeric
  dtypes are refused from the header, so no pickle is ever read (members not asked for, such as
  dSprites' pickled ``metadata``, are never opened);
* the declared size must agree with the header: ``header + prod(shape) * itemsize`` bytes, so a
  truncated or padded file is refused before memory is allocated;
* a member stored uncompressed can be memory-mapped at its offset in the archive
  (:meth:`NpzArchive.memmap`); a compressed one can only be decompressed, in full
  (:meth:`NpzArchive.read`) or as a stream of row chunks (:meth:`NpzArchive.iter_rows`);
* every failure is a :class:`~mmphase_bench.errors.FileFormatError`, one line starting with the
  caller's ``where`` (which names the file).
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

import numpy as np

from mmphase_bench.errors import FileFormatError
from mmphase_bench.io.hdf5 import check_input_file, one_line

#: Largest .npy header accepted (numpy's own limit for untrusted files).
MAX_HEADER_SIZE = 10000
#: dtype kinds accepted by default: bool, integers, floats, complex.
NUMERIC_KINDS = "biufc"
#: What a damaged archive or stream raises while being read.
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError)
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header declares; ``offset`` is the size of the header (where the data start)."""

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    offset: int

    @property
    def nbytes(self) -> int:
        count = 1
        for size in self.shape:
            count *= int(size)
        return count * self.dtype.itemsize


def read_npy_header(stream: BinaryIO, where: str, label: str, *, kinds: str = NUMERIC_KINDS) -> NpyHeader:
    """Parse the ``.npy`` header at the start of ``stream`` and refuse non-numeric dtypes."""
    try:
        begin = stream.tell()
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream, max_header_size=MAX_HEADER_SIZE)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream, max_header_size=MAX_HEADER_SIZE)
        else:
            raise FileFormatError(
                f"{where}: {label} is not a valid .npy array (format version {version[0]}.{version[1]}; expected 1.0 or 2.0)"
            )
        offset = stream.tell() - begin
    except FileFormatError:
        raise
    except Exception as error:  # noqa: BLE001 - numpy parses the header text with tokenize/ast: any failure is the file's
        raise FileFormatError(f"{where}: {label} is not a valid .npy array ({one_line(error)})") from None
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise FileFormatError(f"{where}: {label} holds Python objects (dtype {dtype}); pickled data is never loaded")
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in kinds:
        raise FileFormatError(f"{where}: {label} has non-numeric dtype {dtype}; expected a plain numeric array")
    return NpyHeader(tuple(int(s) for s in shape), bool(fortran_order), dtype, int(offset))


def _check_size(header: NpyHeader, available: int, where: str, label: str) -> None:
    expected = header.offset + header.nbytes
    if available < expected:
        raise FileFormatError(
            f"{where}: {label} is truncated: shape {header.shape} {header.dtype} needs {expected} bytes, found {available}"
        )
    if available > expected:
        raise FileFormatError(f"{where}: {label} has {available - expected} bytes after its data (shape {header.shape} {header.dtype})")


def _read_exactly(stream: BinaryIO, header: NpyHeader, where: str, label: str) -> np.ndarray:
    array = np.empty(header.shape[::-1] if header.fortran_order else header.shape, dtype=header.dtype)
    buffer = memoryview(array.reshape(-1).view(np.uint8)) if array.size else memoryview(b"")
    position, step = 0, 16 << 20
    try:
        while position < len(buffer):
            count = stream.readinto(buffer[position:position + step])
            if not count:
                raise FileFormatError(f"{where}: {label} is truncated: {position} of {len(buffer)} data bytes present")
            position += count
    except FileFormatError:
        raise
    except READ_ERRORS as error:
        raise FileFormatError(f"{where}: {label} is damaged ({one_line(error)})") from None
    return array.T if header.fortran_order else array


def load_npy(path: str | os.PathLike, where: str, *, kinds: str = NUMERIC_KINDS) -> np.ndarray:
    """The array of a ``.npy`` file, checked as described in the module docstring."""
    path = check_input_file(path, where)
    with open(path, "rb") as stream:
        header = read_npy_header(stream, where, "the array", kinds=kinds)
        _check_size(header, path.stat().st_size, where, "the array")
        return _read_exactly(stream, header, where, "the array")


class NpzArchive:
    """An ``.npz`` file read member by member (``with NpzArchive(path, where) as archive:``).

    ``keys`` are the member names without ``.npy``. Opening checks that the file exists, is not
    empty and is a zip archive; each member is checked when it is read.
    """

    def __init__(self, path: str | os.PathLike, where: str):
        self.path = check_input_file(path, where)
        self.where = where
        try:
            self._zip = zipfile.ZipFile(self.path)
        except READ_ERRORS as error:
            raise FileFormatError(f"{where}: not a readable .npz (zip) archive ({one_line(error)})") from None
        self.keys = tuple(name[:-4] for name in self._zip.namelist() if name.endswith(".npy"))

    def __enter__(self) -> "NpzArchive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def _info(self, key: str) -> zipfile.ZipInfo:
        try:
            info = self._zip.getinfo(key + ".npy")
        except KeyError:
            raise FileFormatError(f"{self.where}: has no array {key!r} (it holds: {', '.join(self.keys) or 'nothing'})") from None
        if info.flag_bits & 0x1:
            raise FileFormatError(f"{self.where}: member {key!r} is encrypted")
        return info

    def _open(self, key: str):
        info = self._info(key)
        try:
            return info, self._zip.open(info)
        except READ_ERRORS as error:
            raise FileFormatError(f"{self.where}: cannot open member {key!r} ({one_line(error)})") from None

    def header(self, key: str, *, kinds: str = NUMERIC_KINDS) -> NpyHeader:
        """The member's checked header (its dtype kind and its size against the archive's record)."""
        info, stream = self._open(key)
        with stream:
            header = read_npy_header(stream, self.where, key, kinds=kinds)
        _check_size(header, info.file_size, self.where, key)
        return header

    def read(self, key: str, *, kinds: str = NUMERIC_KINDS) -> np.ndarray:
        """The whole member (decompressed), checked; its CRC is checked by ``zipfile`` at the end."""
        info, stream = self._open(key)
        with stream:
            header = read_npy_header(stream, self.where, key, kinds=kinds)
            _check_size(header, info.file_size, self.where, key)
            array = _read_exactly(stream, header, self.where, key)
            try:
                stream.read(1)  # reach the end of the stream, where zipfile checks the CRC
            except READ_ERRORS as error:
                raise FileFormatError(f"{self.where}: {key} is damaged ({one_line(error)})") from None
        return array

    def iter_rows(self, key: str, rows: int, *, kinds: str = NUMERIC_KINDS) -> Iterator[tuple[int, np.ndarray]]:
        """``(first_row, block)`` pairs over a C-ordered member, ``rows`` leading-axis rows at a time,
        decompressing as it goes (memory: one block)."""
        info, stream = self._open(key)
        with stream:
            header = read_npy_header(stream, self.where, key, kinds=kinds)
            _check_size(header, info.file_size, self.where, key)
            if header.fortran_order or not header.shape:
                raise FileFormatError(f"{self.where}: {key} must be a C-ordered array with a leading axis")
            total = header.shape[0]
            for start in range(0, total, rows):
                block = NpyHeader((min(rows, total - start), *header.shape[1:]), False, header.dtype, 0)
                yield start, _read_exactly(stream, block, self.where, key)
            try:
                stream.read(1)
            except READ_ERRORS as error:
                raise FileFormatError(f"{self.where}: {key} is damaged ({one_line(error)})") from None

    def is_stored(self, key: str) -> bool:
        """Whether the member is stored uncompressed (and so can be memory-mapped)."""
        return self._info(key).compress_type == zipfile.ZIP_STORED

    def memmap(self, key: str, *, kinds: str = NUMERIC_KINDS) -> np.ndarray:
        """A read-only memory map of an uncompressed member at its offset inside the archive.

        The map reads the file lazily; the member's CRC is not checked (that would read it all).
        """
        info = self._info(key)
        if info.compress_type != zipfile.ZIP_STORED:
            raise FileFormatError(f"{self.where}: member {key!r} is compressed and cannot be memory-mapped")
        size = self.path.stat().st_size
        with open(self.path, "rb") as stream:
            stream.seek(info.header_offset)
            raw = stream.read(_LOCAL_HEADER.size)
            if len(raw) != _LOCAL_HEADER.size or raw[:4] != b"PK\x03\x04":
                raise FileFormatError(f"{self.where}: the zip entry of {key!r} is damaged")
            fields = _LOCAL_HEADER.unpack(raw)
            start = info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1]
            stream.seek(start)
            header = read_npy_header(stream, self.where, key, kinds=kinds)
        _check_size(header, info.file_size, self.where, key)
        if start + header.offset + header.nbytes > size:
            raise FileFormatError(f"{self.where}: {key} is truncated (the archive ends before its data)")
        if header.nbytes == 0:
            return np.empty(header.shape, dtype=header.dtype)
        order = "F" if header.fortran_order else "C"
        try:
            return np.memmap(self.path, dtype=header.dtype, mode="r", offset=start + header.offset, shape=header.shape, order=order)
        except (OSError, ValueError) as error:
            raise FileFormatError(f"{self.where}: cannot map {key} ({one_line(error)})") from None
