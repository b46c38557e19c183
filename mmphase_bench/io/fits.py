"""FITS files opened the one way the package reads survey files: astropy, no memory map, errors as one line.

Astropy parses the headers and tables; nothing in a file is executed or unpickled. Astropy is an
optional dependency (the ``stars`` extra): without it the error says how to install it.
"""

from __future__ import annotations

import os
from pathlib import Path

from mmphase_bench.errors import FileFormatError, InputError, MissingFileError

#: File names read as FITS when a folder is searched.
FITS_SUFFIXES = (".fits", ".fits.gz", ".fit")


def astropy_fits():
    """The ``astropy.io.fits`` module, or an :class:`InputError` saying how to install it."""
    try:
        from astropy.io import fits
    except ImportError:
        raise InputError('reading FITS files needs astropy: pip install "mmphase-bench[stars]"') from None
    return fits


def open_fits(path: str | os.PathLike):
    """The HDU list of the file ``path`` (use it as a context manager). A missing file raises
    :class:`MissingFileError`, a file astropy cannot parse :class:`FileFormatError`, each one line
    naming the file."""
    fits = astropy_fits()
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: file not found")
    try:
        return fits.open(path, memmap=False)
    except (OSError, ValueError) as error:
        raise FileFormatError(f"{path}: not a readable FITS file ({' '.join(str(error).split())})") from None


def fits_files(folder: Path) -> list[Path]:
    """Every FITS file under ``folder`` (recursive; :data:`FITS_SUFFIXES`), ordered by file name, then path."""
    files = [p for p in Path(folder).rglob("*") if p.is_file() and p.name.lower().endswith(FITS_SUFFIXES)]
    return sorted(files, key=lambda p: (p.name, str(p)))
