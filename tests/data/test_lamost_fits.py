"""LAMOST low-resolution spectrum FITS files of both layouts, read onto the common LAMOST grid; the
files are written by tests/lamost_layout.py."""

import sys

import numpy as np
import pytest

fits = pytest.importorskip("astropy.io.fits")

from lamost_layout import native_wavelength, stellar_flux, write_lamost_fits  # noqa: E402
from mmphase_bench.data.lamost_fits import (  # noqa: E402
    read_lamost_spectra, read_lamost_spectrum, resample_to_lamost_grid,
)
from mmphase_bench.data.stellar_file import LAMOST_PIXELS, lamost_grid  # noqa: E402
from mmphase_bench.errors import FileFormatError, InputError, MissingFileError  # noqa: E402

GRID = lamost_grid()
NATIVE = native_wavelength()
STORED = NATIVE.astype(np.float32).astype(np.float64)  # the wavelengths as the files hold them (float32)


def test_both_layouts_give_the_same_spectrum_on_the_grid(tmp_path):
    table = read_lamost_spectrum(write_lamost_fits(tmp_path / "t.fits", layout="table"))
    image = read_lamost_spectrum(write_lamost_fits(tmp_path / "i.fits", layout="image"))
    assert (table.layout, image.layout) == ("table", "image")
    for name in ("flux", "ivar", "mask"):
        assert getattr(table, name).shape == (LAMOST_PIXELS,)
        assert np.array_equal(getattr(table, name), getattr(image, name)), name
    assert table.flux.dtype == table.ivar.dtype == np.float32 and table.mask.dtype == bool
    assert table.mask.all()  # the native 3690-9110 Angstrom covers the whole grid
    assert np.allclose(table.flux, stellar_flux(GRID), atol=0.03) and np.allclose(table.ivar, 400.0)


@pytest.mark.parametrize("layout", ["table", "image"])
def test_a_linear_flux_and_ivar_are_reproduced_exactly(tmp_path, layout):
    path = write_lamost_fits(tmp_path / "linear.fits", layout=layout, flux=2.0 + 3e-4 * STORED,
                             ivar=100.0 + 0.01 * STORED)
    spectrum = read_lamost_spectrum(path)
    assert spectrum.mask.all()
    # nearest-pixel resampling would be off by up to 3e-4 * 0.8 Angstrom, i.e. ~6e-5 relative
    np.testing.assert_allclose(spectrum.flux, 2.0 + 3e-4 * GRID, rtol=3e-7)
    np.testing.assert_allclose(spectrum.ivar, 100.0 + 0.01 * GRID, rtol=3e-7)


def test_grid_pixels_beyond_the_native_range_are_masked(tmp_path):
    keep = (NATIVE > 4000) & (NATIVE < 8000)
    spectrum = read_lamost_spectrum(write_lamost_fits(tmp_path / "short.fits", wavelength=NATIVE[keep]))
    inside = (GRID >= STORED[keep][0]) & (GRID <= STORED[keep][-1])
    assert 2000 < inside.sum() < LAMOST_PIXELS - 500 and np.array_equal(spectrum.mask, inside)
    assert np.all(spectrum.flux[~inside] == 0) and np.all(spectrum.ivar[~inside] == 0)
    assert np.all(spectrum.ivar[inside] > 0)


@pytest.mark.parametrize("flaw", ["andmask", "nan_flux", "zero_ivar"])
def test_a_bad_native_pixel_masks_the_grid_pixels_it_brackets(tmp_path, flaw):
    k = 2000
    andmask, flux, ivar = np.zeros(len(NATIVE), int), stellar_flux(NATIVE), np.full(len(NATIVE), 400.0)
    array, value = {"andmask": (andmask, 4), "nan_flux": (flux, np.nan), "zero_ivar": (ivar, 0.0)}[flaw]
    array[k] = value
    spectrum = read_lamost_spectrum(write_lamost_fits(tmp_path / "flagged.fits", andmask=andmask, flux=flux, ivar=ivar))
    bad = (GRID > STORED[k - 1]) & (GRID < STORED[k + 1])  # the grid pixels that interpolate from pixel k
    assert bad.sum() == 2 and np.array_equal(spectrum.mask, ~bad)
    assert np.all(spectrum.flux[bad] == 0) and np.all(spectrum.ivar[bad] == 0)


def _line_centre(spectrum, near):
    """The wavelength (Angstrom) of the flux minimum within 20 Angstrom of ``near``, refined by a parabola."""
    window = np.flatnonzero(np.abs(GRID - near) < 20)
    i = window[np.argmin(spectrum.flux[window])]
    y0, y1, y2 = spectrum.flux[i - 1:i + 2].astype(np.float64)
    offset = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    return 10.0 ** (np.log10(3700.0) + 1e-4 * (i + offset))


def test_rest_frame_divides_the_wavelengths_by_one_plus_z(tmp_path):
    z = 0.003
    path = write_lamost_fits(tmp_path / "moving.fits", z=z)
    observed, rest = read_lamost_spectrum(path), read_lamost_spectrum(path, rest_frame=True)
    for centre in (4862.7, 6564.6):  # H-beta and H-alpha, vacuum
        seen, restored = _line_centre(observed, centre * (1 + z)), _line_centre(rest, centre)
        assert seen / restored == pytest.approx(1 + z, abs=3e-5)
        assert restored == pytest.approx(centre, abs=0.2)
    for z_value, name in ((None, "absent.fits"), (-9999.0, "unknown.fits")):
        with pytest.raises(FileFormatError, match=f"{name}.*redshift Z"):
            read_lamost_spectrum(write_lamost_fits(tmp_path / name, z=z_value), rest_frame=True)


def test_header_identifiers_and_labels_come_through(tmp_path):
    path = write_lamost_fits(tmp_path / "sun.fits", layout="image", obsid=123456789, ra=291.25, dec=-12.5,
                             extra_header={"TEFF": 5777.0, "LOGG": 4.44})
    spectrum = read_lamost_spectrum(path)
    assert (spectrum.obsid, spectrum.ra, spectrum.dec, spectrum.source) == (123456789, 291.25, -12.5, str(path))
    assert spectrum.header_labels["teff"] == 5777.0 and spectrum.header_labels["logg"] == pytest.approx(4.44)
    assert np.isnan(spectrum.header_labels["feh"])
    bare = read_lamost_spectrum(write_lamost_fits(tmp_path / "bare.fits", obsid=None, ra=None, dec=None,
                                                  extra_header={"RA_OBS": 10.5, "DEC_OBS": -3.25, "FEH": -9999}))
    assert (bare.obsid, bare.ra, bare.dec) == (-1, 10.5, -3.25) and np.isnan(bare.header_labels["feh"])


def _without_flux_column(path):
    write_lamost_fits(path)
    with fits.open(path, memmap=False) as handle:
        kept = [column for column in handle["COADD"].columns if column.name != "FLUX"]
        fits.HDUList([fits.PrimaryHDU(header=handle[0].header),
                      fits.BinTableHDU.from_columns(kept, name="COADD")]).writeto(path, overwrite=True)


def _truncated(path):
    write_lamost_fits(path, layout="image")
    path.write_bytes(path.read_bytes()[:20000])


n = len(NATIVE)
MALFORMED = {  # case -> (writer, a word the message must hold)
    "image_shape": (lambda p: fits.PrimaryHDU(np.ones((4, n), np.float32)).writeto(p), "(5, N)"),
    "no_coadd": (lambda p: fits.PrimaryHDU().writeto(p), "COADD"),
    "no_flux_column": (_without_flux_column, "FLUX"),
    "unequal_columns": (lambda p: write_lamost_fits(p, flux=np.ones(n - 5)), "one length"),
    "one_pixel": (lambda p: write_lamost_fits(p, wavelength=[5000.0], flux=[1.0], ivar=[1.0]), "at least 2"),
    "all_nan_flux": (lambda p: write_lamost_fits(p, layout="image", flux=np.full(n, np.nan)), "FLUX"),
    "no_good_pixel": (lambda p: write_lamost_fits(p, andmask=np.ones(n)), "no good pixel"),
    "decreasing_wavelength": (lambda p: write_lamost_fits(p, layout="image", wavelength=NATIVE[::-1]), "WAVELENGTH"),
    "negative_ivar": (lambda p: write_lamost_fits(p, ivar=np.where(np.arange(n) == 7, -1.0, 400.0)), "negative"),
    "text_file": (lambda p: p.write_text("OBSID = 1\nthis is not a FITS file\n"), "FITS"),
    "truncated": (_truncated, "truncated"),
    "off_the_grid": (lambda p: write_lamost_fits(p, wavelength=NATIVE[:100] * 3), "LAMOST grid"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.filterwarnings("ignore:File may have been truncated")
def test_malformed_files_are_one_line_errors_naming_the_file(tmp_path, case):
    make, word = MALFORMED[case]
    path = tmp_path / f"{case}.fits"
    make(path)
    with pytest.raises(FileFormatError) as error:
        read_lamost_spectrum(path)
    message = str(error.value)
    assert str(path) in message and "\n" not in message and word in message


def test_a_folder_reads_the_good_files_and_reports_the_bad_one(tmp_path):
    (tmp_path / "night2").mkdir()
    write_lamost_fits(tmp_path / "b.fits", obsid=2)
    write_lamost_fits(tmp_path / "night2" / "a.fits.gz", layout="image", obsid=1)
    (tmp_path / "c.fits").write_text("not FITS")
    (tmp_path / "notes.txt").write_text("not a spectrum, not looked at")
    spectra, failed = read_lamost_spectra(tmp_path)
    assert [(s.obsid, s.layout) for s in spectra] == [(1, "image"), (2, "table")]  # file-name order
    assert len(failed) == 1 and failed[0][0] == str(tmp_path / "c.fits") and "c.fits" in failed[0][1]
    with pytest.raises(MissingFileError):
        read_lamost_spectra(tmp_path / "absent")
    with pytest.raises(MissingFileError, match="absent.fits"):
        read_lamost_spectrum(tmp_path / "absent.fits")


def test_resampling_refuses_bad_arguments_and_a_missing_astropy_is_one_line(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="increasing"):
        resample_to_lamost_grid(NATIVE[::-1], np.ones(n), np.ones(n), np.ones(n, bool))
    with pytest.raises(InputError, match="one length"):
        resample_to_lamost_grid(NATIVE, np.ones(n - 1), np.ones(n), np.ones(n, bool))
    path = write_lamost_fits(tmp_path / "fine.fits")
    monkeypatch.setitem(sys.modules, "astropy.io", None)
    with pytest.raises(InputError, match=r'pip install "mmphase-bench\[stars\]"'):
        read_lamost_spectrum(path)
