"""Kepler / TESS light-curve FITS files: the real Kepler files of ../shared/data/kepler and written fixtures."""

from pathlib import Path

import numpy as np
import pytest

fits = pytest.importorskip("astropy.io.fits")

from mmphase_bench.data.light_curve_fits import read_light_curve, read_star_light_curves, stitch_light_curves  # noqa: E402
from mmphase_bench.errors import FileFormatError, InputError  # noqa: E402

KEPLER = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kepler"
needs_kepler = pytest.mark.skipif(not KEPLER.is_dir(), reason=f"the real Kepler files are not in {KEPLER}")


@needs_kepler
def test_a_real_quarter_keeps_its_columns_header_labels_and_quality_flags():
    path = KEPLER / "kplr002556081-2009166043257_llc.fits"
    segment = read_light_curve(path)
    with fits.open(path) as handle:
        data = handle["LIGHTCURVE"].data
        flagged = int(np.sum(data["SAP_QUALITY"] != 0))
        finite = np.isfinite(data["TIME"]) & np.isfinite(data["PDCSAP_FLUX"])
        expected_good = int(np.sum(finite & (data["SAP_QUALITY"] == 0)))
        header = handle[0].header
    assert segment.survey == "kepler" and segment.star_id == 2556081 and segment.segment == header["QUARTER"]
    assert int(np.sum(segment.quality != 0)) == flagged > 0
    assert int(segment.good.sum()) == expected_good
    assert segment.labels["teff"] == header["TEFF"] and segment.labels["logg"] == pytest.approx(header["LOGG"])


@needs_kepler
def test_the_real_files_stitch_into_three_stars_in_time_order_at_median_one():
    curves, failed = read_star_light_curves(KEPLER)
    assert failed == [] and sorted(curve.star_id for curve in curves) == [2556081, 5899262, 8417738]
    long = next(curve for curve in curves if curve.star_id == 2556081)
    assert len(long.segments) == 17 and long.segments == sorted(long.segments)
    assert np.all(np.diff(long.time) > 0)
    # each quarter divided by its own median of good points: every quarter's median is 1
    edges = np.flatnonzero(np.diff(long.time) > 5)  # quarters are separated by downlink gaps
    for part_time, part_flux, part_mask in zip(np.split(long.time, edges + 1), np.split(long.flux, edges + 1),
                                              np.split(long.mask, edges + 1)):
        if part_mask.sum() > 100:
            assert np.median(part_flux[part_mask]) == pytest.approx(1.0, abs=2e-3)
    assert np.all(np.isfinite(long.flux[long.mask])) and not np.any(np.isfinite(long.flux[~long.mask]))
    assert np.isfinite(long.labels["teff"]) and np.isfinite(long.ra) and np.isfinite(long.dec)


def _write(path, *, telescope="TESS", reference=(2457000, 0.0), columns=("TIME", "PDCSAP_FLUX", "QUALITY"), sector=1,
           time=None, flux=None, tic=1234):
    time = np.arange(100, dtype=float) * 0.02 + 10 * sector if time is None else time
    flux = np.full(time.shape, 500.0) if flux is None else flux
    quality = np.zeros(time.shape, dtype=np.int32)
    quality[:5] = 1
    made = {"TIME": time, "PDCSAP_FLUX": flux, "QUALITY": quality}
    table = fits.BinTableHDU.from_columns([fits.Column(name=name, format="J" if name == "QUALITY" else "D", array=made[name])
                                           for name in columns], name="LIGHTCURVE")
    table.header["BJDREFI"], table.header["BJDREFF"] = reference
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP=telescope, TICID=tic, SECTOR=sector, RA_OBJ=10.0, DEC_OBJ=-20.0, TEFF=5000, LOGG=4.4)
    fits.HDUList([primary, table]).writeto(path)
    return path


def test_tess_sectors_stitch_and_duplicates_are_kept_once(tmp_path):
    second = _write(tmp_path / "b.fits", sector=2, flux=np.full(100, 2000.0))
    first = _write(tmp_path / "a.fits", sector=1)
    again = _write(tmp_path / "c.fits", sector=1, flux=np.full(100, 9.0))
    curve = stitch_light_curves([read_light_curve(p) for p in (second, first, again)])
    assert curve.survey == "tess" and curve.segments == [1, 2] and curve.sources == ["a.fits", "b.fits"]
    assert len(curve.time) == 200 and np.all(np.diff(curve.time) > 0)
    assert np.allclose(curve.flux[curve.mask], 1.0) and curve.mask.sum() == 190


def test_malformed_files_are_one_line_errors_naming_the_file(tmp_path):
    cases = {
        "shifted.fits": dict(reference=(2454833, 0.0)),
        "mission.fits": dict(telescope="Hubble"),
        "columns.fits": dict(columns=("TIME", "QUALITY")),
    }
    for name, options in cases.items():
        path = _write(tmp_path / name, **options)
        with pytest.raises(FileFormatError) as error:
            read_light_curve(path)
        assert str(path) in str(error.value) and "\n" not in str(error.value)
    (tmp_path / "text.fits").write_text("not a FITS file")
    with pytest.raises(FileFormatError, match="text.fits"):
        read_light_curve(tmp_path / "text.fits")
    curves, failed = read_star_light_curves(tmp_path)
    assert curves == [] and len(failed) == 4  # reported, never silently dropped
    with pytest.raises(InputError, match="one star"):
        stitch_light_curves([read_light_curve(_write(tmp_path / "x.fits", tic=1)),
                             read_light_curve(_write(tmp_path / "y.fits", tic=2))])
