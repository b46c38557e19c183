"""LAMOST low-resolution spectrum files the tests write themselves (never copied from real data), in
either layout of the LAMOST data model: ``image`` (DR1-DR7, a (5, N) primary image) or ``table``
(DR8 on, a one-row ``COADD`` binary table)."""

import numpy as np
from astropy.io import fits

#: Absorption lines of the default spectrum: vacuum rest wavelength (Angstrom) -> (depth, sigma in Angstrom).
LINES = {4862.7: (0.5, 3.0), 5176.7: (0.3, 2.0), 6564.6: (0.6, 3.0), 8544.4: (0.4, 2.5)}


def native_wavelength() -> np.ndarray:
    """A LAMOST-like native grid (Angstrom): log-linear, step 1e-4 in log10, 3690.3 to about 9110
    Angstrom; it starts off the common grid by a fraction of a pixel, so resampling has work to do."""
    return 10.0 ** (np.log10(3690.3) + 1e-4 * np.arange(3925))


def stellar_flux(wavelength: np.ndarray, z: float = 0.0) -> np.ndarray:
    """A smooth continuum (a peak near 5500 Angstrom) times the :data:`LINES`, seen at redshift ``z``."""
    rest = np.asarray(wavelength, dtype=np.float64) / (1.0 + z)
    flux = 1.0 + 0.3 * np.exp(-0.5 * ((rest - 5500.0) / 2000.0) ** 2)
    for centre, (depth, sigma) in LINES.items():
        flux *= 1.0 - depth * np.exp(-0.5 * ((rest - centre) / sigma) ** 2)
    return flux


def write_lamost_fits(path, layout="table", obsid=101, ra=280.5, dec=44.25, z=0.0, wavelength=None, flux=None,
                      ivar=None, andmask=None, extra_header=None):
    """Write one spectrum file. Defaults: :func:`native_wavelength`, :func:`stellar_flux` at ``z``, ivar
    400 (S/N 20 at flux 1), andmask 0. ``obsid`` or ``z`` None leaves the key out; ``extra_header`` adds
    keys (TEFF, ...). The arrays may differ in length in the table layout (to write malformed files).
    Returns the path."""
    wavelength = native_wavelength() if wavelength is None else np.asarray(wavelength, dtype=np.float64)
    flux = stellar_flux(wavelength, z or 0.0) if flux is None else np.asarray(flux, dtype=np.float64)
    ivar = np.full(len(wavelength), 400.0) if ivar is None else np.asarray(ivar, dtype=np.float64)
    andmask = np.zeros(len(wavelength), dtype=np.int32) if andmask is None else np.asarray(andmask, dtype=np.int32)
    ormask = andmask.copy()
    header = {"OBSID": obsid, "RA": ra, "DEC": dec, "Z": z, "DATA_V": "LAMOST LRS", **(extra_header or {})}
    if layout == "image":
        image = np.stack([flux, ivar, wavelength, andmask, ormask]).astype(np.float32)
        primary = fits.PrimaryHDU(image)
        header["COEFF0"], header["COEFF1"] = float(np.log10(wavelength[0])), 1e-4
        hdus = [primary]
    elif layout == "table":
        primary = fits.PrimaryHDU()
        made = {"FLUX": flux, "IVAR": ivar, "WAVELENGTH": wavelength, "ANDMASK": andmask, "ORMASK": ormask,
                "NORMALIZATION": np.ones(len(flux))}
        columns = [fits.Column(name=name, format=f"{len(array)}{'J' if 'MASK' in name else 'E'}",
                               array=np.asarray(array)[None, :]) for name, array in made.items()]
        hdus = [primary, fits.BinTableHDU.from_columns(columns, name="COADD")]
    else:
        raise ValueError(f"layout must be 'table' or 'image', got {layout!r}")
    primary.header.update({key: value for key, value in header.items() if value is not None})
    fits.HDUList(hdus).writeto(path)
    return path
