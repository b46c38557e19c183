"""LAMOST low-resolution spectrum FITS files (both data-model layouts), read onto the common LAMOST grid.

A file holds one spectrum of ``N`` native pixels in one of two layouts, told apart by the file's
structure (never its name):

* ``image`` (DR1-DR7): the primary HDU is a float32 image of shape ``(5, N)`` whose rows are the
  flux, the inverse variance, the vacuum wavelength (Angstrom), the ``ANDMASK`` and the ``ORMASK``.
* ``table`` (DR8 on): the primary HDU has the header and no data; the binary-table extension
  ``COADD`` has one row whose columns ``FLUX``, ``IVAR``, ``WAVELENGTH`` (vacuum Angstrom) and
  ``ANDMASK`` are arrays of length ``N`` (``ORMASK`` and ``NORMALIZATION`` are not used).

Either way the primary header gives ``OBSID``, the position ``RA``/``DEC`` (degrees; ``RA_OBS``/
``DEC_OBS`` if those are absent), the redshift ``Z`` and, where present, ``TEFF``, ``LOGG``, ``FEH``.
LAMOST writes -9999 for an unknown value; it is read as NaN.

A native pixel is good when its flux and inverse variance are finite, the inverse variance is
positive and ``ANDMASK`` is 0 (``ORMASK`` flags a problem in any one exposure and is ignored, as
LAMOST advises). The spectrum is then resampled (:func:`resample_to_lamost_grid`) onto the grid of
:func:`~mmphase_bench.data.stellar_file.lamost_grid` (3909 pixels, 3700-9099 Angstrom), in the
observed frame unless ``rest_frame=True`` asks to divide the wavelengths by ``1 + Z`` first.

A file that is missing, not FITS, truncated, without the image or the ``COADD`` table or one of its
columns, of the wrong shape, with a wavelength that is not finite and strictly increasing, with a
negative inverse variance or without a good pixel raises one :class:`FileFormatError` line naming
the file. Astropy reads the files (``memmap=False``); nothing in them is executed or unpickled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmphase_bench.data.stellar_file import lamost_grid
from mmphase_bench.io.fits import astropy_fits, fits_files, open_fits
from mmphase_bench.errors import FileFormatError, InputError, MissingFileError

#: The rows of the image layout's (5, N) primary image, in order.
IMAGE_ROWS = ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK")
#: The COADD table columns the reader needs.
TABLE_COLUMNS = ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK")
#: LAMOST's value for "unknown" in headers and catalogues.
UNKNOWN = -9999.0


@dataclass
class LamostSpectrum:
    """One LAMOST spectrum on the common grid: flux (the file's relative unit) and its inverse variance,
    both (3909,) float32 and 0 where ``mask`` (True where good) is False, with the header's identifiers
    (``obsid``, -1 if absent; ``ra``, ``dec`` in degrees, NaN if absent) and labels (``teff`` K,
    ``logg`` dex, ``feh`` dex; NaN if absent). ``layout`` is ``"table"`` or ``"image"``."""

    obsid: int
    ra: float
    dec: float
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    header_labels: dict[str, float]
    source: str
    layout: str


def _header_float(header, *keys: str) -> float:
    """The first of ``keys`` that holds a finite number other than LAMOST's -9999; NaN if none does."""
    for key in keys:
        try:
            value = float(header.get(key))
        except (TypeError, ValueError):
            continue
        if np.isfinite(value) and value != UNKNOWN:
            return value
    return float("nan")


def _header_obsid(header) -> int:
    value = header.get("OBSID")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return int(value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0 else -1


def resample_to_lamost_grid(wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray,
                            good: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample one native spectrum onto the LAMOST grid. Returns (flux, ivar, mask), each (3909,):
    float32, float32 and bool (True where good); flux and ivar are 0 where the mask is False.

    ``wavelength`` (N,) Angstrom, finite and strictly increasing (N >= 2); ``flux`` (N,) any unit;
    ``ivar`` (N,) the flux's inverse variance; ``good`` (N,) bool (a pixel also counts as bad where
    its flux or ivar is not finite or ivar <= 0).

    A grid wavelength between two native ones gets the linear interpolation (in wavelength) of their
    flux and, with the same weights, of their inverse variance. It is good only if every native pixel
    that enters with a non-zero weight is good (both bracketing pixels, unless the grid wavelength
    falls exactly on a native one), and masked outside the native coverage: no grid value is filled
    from a bad pixel or extrapolated. The interpolated ivar is no larger than the better of the two
    native ones, so resampling does not invent information (formal propagation would claim more, by
    ignoring that neighbouring grid pixels share native pixels)."""
    wavelength, flux, ivar = (np.asarray(a, dtype=np.float64) for a in (wavelength, flux, ivar))
    good = np.asarray(good, dtype=bool)
    if not (wavelength.ndim == 1 and wavelength.shape == flux.shape == ivar.shape == good.shape):
        raise InputError(f"wavelength, flux, ivar and good must be 1-D of one length, got shapes "
                         f"{wavelength.shape}, {flux.shape}, {ivar.shape}, {good.shape}")
    if len(wavelength) < 2 or not np.all(np.isfinite(wavelength)) or np.any(np.diff(wavelength) <= 0):
        raise InputError("wavelength must hold at least 2 finite, strictly increasing values (Angstrom)")
    with np.errstate(invalid="ignore"):
        good = good & np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
    flux, ivar = np.where(good, flux, 0.0), np.where(good, ivar, 0.0)

    grid = lamost_grid()
    left = np.clip(np.searchsorted(wavelength, grid, side="right") - 1, 0, len(wavelength) - 2)
    right = left + 1
    weight = np.clip((grid - wavelength[left]) / (wavelength[right] - wavelength[left]), 0.0, 1.0)
    inside = (grid >= wavelength[0]) & (grid <= wavelength[-1])
    mask = inside & (good[left] | (weight == 1.0)) & (good[right] | (weight == 0.0))
    out_flux = np.where(mask, (1 - weight) * flux[left] + weight * flux[right], 0.0)
    out_ivar = np.where(mask, (1 - weight) * ivar[left] + weight * ivar[right], 0.0)
    return out_flux.astype(np.float32), out_ivar.astype(np.float32), mask


def _native_arrays(handle, where: str, fits) -> tuple[str, dict[str, np.ndarray]]:
    """(layout, {FLUX, IVAR, WAVELENGTH, ANDMASK: 1-D float64}) of an open file, layout by structure."""
    primary = handle[0]
    if primary.data is not None:
        image = np.asarray(primary.data, dtype=np.float64)
        if image.ndim != 2 or image.shape[0] != len(IMAGE_ROWS):
            raise FileFormatError(f"{where}: the primary image has shape {image.shape}; expected (5, N) "
                                  f"rows {', '.join(IMAGE_ROWS)}")
        return "image", dict(zip(TABLE_COLUMNS, image))
    if "COADD" not in handle:
        raise FileFormatError(f"{where}: no spectrum: the primary HDU has no image and there is no COADD extension")
    table = handle["COADD"]
    if not isinstance(table, fits.BinTableHDU) or table.data is None or len(table.data) != 1:
        raise FileFormatError(f"{where}: the COADD extension is not a binary table of one row")
    names = {name.upper() for name in table.columns.names}
    missing = [name for name in TABLE_COLUMNS if name not in names]
    if missing:
        raise FileFormatError(f"{where}: the COADD table lacks the column(s) {', '.join(missing)}")
    arrays = {name: np.atleast_1d(np.asarray(table.data[name][0], dtype=np.float64)) for name in TABLE_COLUMNS}
    if any(array.ndim != 1 for array in arrays.values()):
        raise FileFormatError(f"{where}: the COADD columns {', '.join(TABLE_COLUMNS)} must each hold a 1-D array")
    return "table", arrays


def _good_pixels(where: str, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Check the native arrays (module docstring) and return the good-pixel mask (N,) bool."""
    lengths = [len(array) for array in arrays.values()]
    if len(set(lengths)) > 1:
        raise FileFormatError(f"{where}: {', '.join(arrays)} have lengths {lengths}; expected one length")
    if lengths[0] < 2:
        raise FileFormatError(f"{where}: the spectrum has {lengths[0]} pixel(s); expected at least 2")
    wavelength, flux, ivar = arrays["WAVELENGTH"], arrays["FLUX"], arrays["IVAR"]
    if not np.all(np.isfinite(wavelength)) or np.any(np.diff(wavelength) <= 0):
        raise FileFormatError(f"{where}: WAVELENGTH is not finite and strictly increasing")
    negative = int(np.sum(np.isfinite(ivar) & (np.nan_to_num(ivar) < 0)))
    if negative:
        raise FileFormatError(f"{where}: IVAR has {negative} negative value(s); an inverse variance is >= 0")
    if not np.any(np.isfinite(flux)):
        raise FileFormatError(f"{where}: FLUX has no finite value")
    good = np.isfinite(flux) & np.isfinite(ivar) & (np.nan_to_num(ivar) > 0) & (arrays["ANDMASK"] == 0)
    if not good.any():
        raise FileFormatError(f"{where}: no good pixel (finite FLUX and IVAR, IVAR > 0 and ANDMASK == 0)")
    return good


def read_lamost_spectrum(path: str | os.PathLike, *, rest_frame: bool = False) -> LamostSpectrum:
    """Read one LAMOST low-resolution spectrum file of either layout (module docstring) and resample it
    onto the LAMOST grid (:func:`resample_to_lamost_grid`): observed-frame vacuum wavelengths, or, with
    ``rest_frame=True``, wavelengths divided by ``1 + Z`` (header redshift; refused if absent or not
    finite). A bad file raises one :class:`FileFormatError` line naming the file."""
    fits = astropy_fits()
    where = str(path)
    with open_fits(path) as handle:
        header = handle[0].header
        try:
            layout, arrays = _native_arrays(handle, where, fits)
        except InputError:
            raise
        except (OSError, ValueError, TypeError, KeyError, IndexError) as error:  # astropy on a cut-off file
            raise FileFormatError(f"{where}: the data cannot be read, the file may be truncated "
                                  f"({' '.join(str(error).split())})") from None
        good = _good_pixels(where, arrays)
        wavelength = arrays["WAVELENGTH"]
        if rest_frame:
            z = _header_float(header, "Z")
            if not (np.isfinite(z) and z > -1):
                raise FileFormatError(f"{where}: rest_frame=True needs the header's redshift Z, which is "
                                      f"{header.get('Z', 'absent')!r}")
            wavelength = wavelength / (1.0 + z)
        flux, ivar, mask = resample_to_lamost_grid(wavelength, arrays["FLUX"], arrays["IVAR"], good)
        if not mask.any():
            raise FileFormatError(f"{where}: no good pixel on the LAMOST grid (the native spectrum covers "
                                  f"{wavelength[0]:.0f}-{wavelength[-1]:.0f} Angstrom)")
        labels = {"teff": _header_float(header, "TEFF"), "logg": _header_float(header, "LOGG"),
                  "feh": _header_float(header, "FEH")}
        return LamostSpectrum(_header_obsid(header), _header_float(header, "RA", "RA_OBS"),
                              _header_float(header, "DEC", "DEC_OBS"), flux, ivar, mask, labels, where, layout)


def read_lamost_spectra(folder: str | os.PathLike) -> tuple[list[LamostSpectrum], list[tuple[str, str]]]:
    """Every LAMOST spectrum file under ``folder`` (``*.fits``, ``*.fits.gz``, ``*.fit``; recursive), read
    onto the LAMOST grid in the observed frame. Returns (spectra in file-name order, [(file, reason)] for
    the files that could not be read): a bad file is reported, never silently dropped, and never stops
    the others."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"spectrum folder {folder} is not a folder")
    files = fits_files(folder)
    spectra, failed = [], []
    for path in files:
        try:
            spectra.append(read_lamost_spectrum(path))
        except InputError as error:
            failed.append((str(path), str(error)))
    return spectra, failed

