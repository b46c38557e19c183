"""Building stellar-pairs files from survey files: copies of the real Kepler files of ../shared/data/kepler
beside LAMOST spectra written by tests/lamost_layout.py at the stars' positions (0.5 arcsec off), and a decoy."""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

fits = pytest.importorskip("astropy.io.fits")

from lamost_layout import write_lamost_fits  # noqa: E402

from mmphase_bench.data import lamost_fits, light_curve_fits, stellar_build  # noqa: E402
from mmphase_bench.data.stellar_build import (  # noqa: E402
    LabelCatalogue, build_stellar_pairs, crossmatch_by_position, join_labels, read_label_catalogue)
from mmphase_bench.data.stellar_file import read_stellar_pairs, write_stellar_pairs  # noqa: E402
from mmphase_bench.errors import FileFormatError, InputError  # noqa: E402

KEPLER = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kepler"
needs_kepler = pytest.mark.skipif(not KEPLER.is_dir(), reason=f"the real Kepler files are not in {KEPLER}")
#: Two quarters of the long star and every file of the other two (3 stars, 5 files).
FILES = ("kplr002556081-2009166043257_llc.fits", "kplr002556081-2009259160929_llc.fits",
         "kplr005899262-2009131105131_llc.fits", "kplr005899262-2009166043257_llc.fits",
         "kplr008417738-2009131105131_llc.fits")
ARCSEC = 1 / 3600


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """Light curves, spectra (one per star, 0.5 arcsec north of it, obsid 500000 + k; a decoy 1 deg
    away, obsid 999) and the stars' header values. Tests copy the folders before changing them."""
    root = tmp_path_factory.mktemp("survey")
    (root / "kepler").mkdir()
    (root / "lamost").mkdir()
    stars = {}
    for name in FILES:
        shutil.copy(KEPLER / name, root / "kepler" / name)
        with fits.open(KEPLER / name) as handle:
            header = handle[0].header
            stars[header["KEPLERID"]] = dict(ra=header["RA_OBJ"], dec=header["DEC_OBJ"], teff=header["TEFF"],
                                             logg=header["LOGG"], feh=header["FEH"])
    obsids = {}
    for k, (kic, star) in enumerate(sorted(stars.items())):
        obsids[kic] = 500_000 + k
        write_lamost_fits(root / "lamost" / f"spec-{obsids[kic]}.fits", layout=("table", "image")[k % 2],
                          obsid=obsids[kic], ra=star["ra"], dec=star["dec"] + 0.5 * ARCSEC)
    first = stars[min(stars)]
    write_lamost_fits(root / "lamost" / "spec-decoy.fits", obsid=999, ra=first["ra"] + 1.0, dec=first["dec"])
    return SimpleNamespace(root=root, lc=root / "kepler", spectra=root / "lamost", stars=stars, obsids=obsids)


def copy_inputs(survey, tmp_path):
    shutil.copytree(survey.lc, tmp_path / "kepler")
    shutil.copytree(survey.spectra, tmp_path / "lamost")
    return tmp_path / "kepler", tmp_path / "lamost"


@needs_kepler
def test_position_match_pairs_each_star_with_its_own_spectrum_and_leaves_the_decoy(survey, tmp_path):
    out = tmp_path / "pairs.h5"
    report = build_stellar_pairs(survey.spectra, survey.lc, out, match_radius_arcsec=2.0)
    assert report.pairs == 3 and report.survey == "kepler" and report.unreadable == [] and report.unmatched_stars == []
    assert {m["kic"]: m["obsid"] for m in report.matches} == survey.obsids
    assert all(m["separation_arcsec"] == pytest.approx(0.5, abs=0.01) for m in report.matches)
    [decoy] = report.unmatched_spectra
    assert decoy["obsid"] == 999 and "no light-curve star within 2 arcsec" in decoy["reason"]
    assert json.loads((tmp_path / "pairs.h5.report.json").read_text()) == report.to_json()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.h5", "pairs.h5.report.json"]  # cache removed

    catalogue = read_stellar_pairs(out)
    assert list(catalogue.ids["kic"]) == sorted(survey.stars)
    assert list(catalogue.ids["lamost_obsid"]) == [survey.obsids[kic] for kic in sorted(survey.stars)]
    curves, _ = light_curve_fits.read_star_light_curves(survey.lc)
    for row, (kic, curve) in enumerate(zip(catalogue.ids["kic"], curves)):
        star = survey.stars[kic]
        assert curve.star_id == kic and catalogue.ids["ra"][row] == star["ra"] and catalogue.ids["dec"][row] == star["dec"]
        time, flux, mask = catalogue.light_curve(row)
        assert np.array_equal(time, curve.time) and np.array_equal(mask, curve.mask)
        assert np.array_equal(flux, curve.flux, equal_nan=True)
        spectrum = lamost_fits.read_lamost_spectrum(survey.spectra / f"spec-{survey.obsids[kic]}.fits")
        assert np.array_equal(catalogue.spectra_flux[row], spectrum.flux)
        assert np.array_equal(catalogue.spectra_mask[row], spectrum.mask)
        assert catalogue.labels["teff"][row] == star["teff"] and catalogue.labels["logg"][row] == pytest.approx(star["logg"])
    assert np.all(np.isnan(catalogue.labels["age"]))
    assert catalogue.provenance["label_sources"]["teff"] == {"light-curve header": 3}
    assert catalogue.provenance["match"] == {"method": "position", "radius_arcsec": 2.0}

    from mmphase_bench.data.stellar_pairs import StellarPairs

    pairs = StellarPairs(out, split="all", features="power")
    spectrum, light_curve, labels = pairs[0]
    assert len(pairs) == 3 and spectrum.shape == (3909,) and labels.shape == (5,)


@needs_kepler
def test_a_tiny_radius_matches_nothing_and_the_report_says_why(survey, tmp_path):
    report = build_stellar_pairs(survey.spectra, survey.lc, tmp_path / "none.h5", match_radius_arcsec=0.1)
    assert report.pairs == 0 and len(read_stellar_pairs(tmp_path / "none.h5")) == 0
    assert len(report.unmatched_stars) == 3 and len(report.unmatched_spectra) == 4
    for star in report.unmatched_stars:
        assert "beyond the match radius of 0.1 arcsec" in star["reason"] and "is 0.5 arcsec away" in star["reason"]


@needs_kepler
def test_an_ids_csv_pairs_as_listed_and_reports_unknown_ids(survey, tmp_path):
    a, b, c = sorted(survey.stars)
    ids = tmp_path / "ids.csv"  # a and b swapped: the ids decide, not the positions
    ids.write_text(f"obsid,kic,gaia\n{survey.obsids[b]},{a},42\n{survey.obsids[a]},{b},\n123,{c},\n"
                   f"{survey.obsids[c]},77,\n{survey.obsids[b]},{c},\n")
    report = build_stellar_pairs(survey.spectra, survey.lc, tmp_path / "ids.h5", ids_csv=ids)
    catalogue = read_stellar_pairs(tmp_path / "ids.h5")
    assert list(catalogue.ids["kic"]) == [a, b] and list(catalogue.ids["lamost_obsid"]) == [survey.obsids[b], survey.obsids[a]]
    assert list(catalogue.ids["gaia"]) == [42, -1]
    assert [(r["row"], r["reason"]) for r in report.rejected_id_rows] == [
        (3, "obsid 123 is not among the spectra read"), (4, "KIC 77 is not among the light curves read"),
        (5, f"obsid {survey.obsids[b]} or KIC {c} is already paired by an earlier row")]
    assert [s["star_id"] for s in report.unmatched_stars] == [c]
    assert sorted(s["obsid"] for s in report.unmatched_spectra) == sorted([999, survey.obsids[c]])
    tess = tmp_path / "tess.csv"
    tess.write_text("obsid,tic\n1,2\n")
    with pytest.raises(InputError, match="names tic stars but the light curves are kepler"):
        build_stellar_pairs(survey.spectra, survey.lc, tmp_path / "t.h5", ids_csv=tess)


@needs_kepler
def test_label_catalogues_override_the_headers_in_order_and_headers_fill_gaps(survey, tmp_path):
    a, b, c = sorted(survey.stars)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(f"kic,teff,logg,comment\n{a},5100,,x\n{b},,3.1,y\n")
    second.write_text(f"obsid,teff,age,binarity\n{survey.obsids[a]},6000,3.5,0\n{survey.obsids[b]},4800,nan,1\n")
    report = build_stellar_pairs(survey.spectra, survey.lc, tmp_path / "l.h5", labels=[first, second], match_radius_arcsec=2)
    labels = read_stellar_pairs(tmp_path / "l.h5").labels
    assert list(labels["teff"]) == [5100, 4800, survey.stars[c]["teff"]]  # a: first beats second and the header
    assert list(labels["logg"]) == pytest.approx([survey.stars[a]["logg"], 3.1, survey.stars[c]["logg"]])
    assert np.array_equal(labels["age"], [3.5, np.nan, np.nan], equal_nan=True)
    assert np.array_equal(labels["binarity"], [0, 1, np.nan], equal_nan=True)
    coverage = report.label_coverage
    assert coverage["teff"]["sources"] == {str(first): 1, str(second): 1, "light-curve header": 1}
    assert coverage["logg"]["sources"] == {str(first): 1, "light-curve header": 2}
    assert coverage["age"] == {"known": 1, "missing": 2, "sources": {str(second): 1}}


def test_join_labels_falls_back_to_the_spectrum_header_last_and_ignores_bad_header_values():
    ids = {"lamost_obsid": np.array([5, 6, -1]), "kic": np.array([1, 2, 3]), "tic": np.full(3, -1), "gaia": np.full(3, -1)}
    catalogue = LabelCatalogue("cat.csv", "kic", np.array([3, 1]), {"feh": np.array([0.1, np.nan])})
    labels, counts = join_labels(ids, [catalogue], [
        ("light-curve header", {"feh": np.array([-0.2, np.nan, 0.3]), "teff": np.array([np.nan, 99999.0, 5000.0])}),
        ("spectrum header", {"feh": np.array([0.5, -0.4, 0.5]), "teff": np.array([6000.0, 6100.0, 6200.0])})])
    assert list(labels["feh"]) == [-0.2, -0.4, 0.1] and list(labels["teff"]) == [6000.0, 6100.0, 5000.0]
    assert counts["feh"] == {"cat.csv": 1, "light-curve header": 1, "spectrum header": 1}
    assert counts["teff"] == {"light-curve header": 1, "spectrum header": 2} and counts["age"] == {}


@pytest.mark.parametrize("row, problem", [("2,4800,9.5", "row 2 (line 3), column logg: 9.5 is outside [-1, 6] dex"),
                                          ("2,hot,4.0", "row 2 (line 3), column teff: 'hot' is not a number"),
                                          ("1,4800,4.0", "row 2 (line 3), column kic: 1 repeats row 1")])
def test_a_bad_label_names_the_file_row_and_column(tmp_path, row, problem):
    path = tmp_path / "bad.csv"
    path.write_text(f"kic,teff,logg\n1,5000,4.4\n{row}\n")
    with pytest.raises(FileFormatError) as error:
        read_label_catalogue(path)
    assert str(error.value) == f"{path}: {problem}"
    (tmp_path / "lc").mkdir()
    with pytest.raises(FileFormatError, match="column"):  # before any survey file is read or cached
        build_stellar_pairs(tmp_path, tmp_path / "lc", tmp_path / "p.h5", labels=[path], match_radius_arcsec=2)
    assert not (tmp_path / "p.h5.parts").exists()


@needs_kepler
@pytest.mark.filterwarnings("ignore:File may have been truncated")
def test_corrupt_files_are_reported_with_reasons_and_the_build_goes_on(survey, tmp_path):
    lc, spectra = copy_inputs(survey, tmp_path)
    (lc / "kplr000000001-2009131105131_llc.fits").write_bytes(b"this is not FITS" * 100)
    whole = write_lamost_fits(tmp_path / "whole.fits", obsid=7)
    (spectra / "spec-cut.fits").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    report = build_stellar_pairs(spectra, lc, tmp_path / "p.h5", match_radius_arcsec=2)
    assert report.pairs == 3
    reasons = {Path(item["file"]).name: (item["kind"], item["reason"]) for item in report.unreadable}
    assert set(reasons) == {"kplr000000001-2009131105131_llc.fits", "spec-cut.fits"}
    assert reasons["kplr000000001-2009131105131_llc.fits"][0] == "light curve"
    assert "not a readable FITS file" in reasons["kplr000000001-2009131105131_llc.fits"][1]
    assert reasons["spec-cut.fits"][0] == "spectrum" and "spec-cut.fits" in reasons["spec-cut.fits"][1]
    assert json.loads((tmp_path / "p.h5.report.json").read_text())["unreadable"] == report.unreadable


@needs_kepler
def test_kepler_and_tess_light_curves_are_not_mixed(survey, tmp_path):
    lc, spectra = copy_inputs(survey, tmp_path)
    table = fits.BinTableHDU.from_columns([fits.Column(name="TIME", format="D", array=np.arange(10.0)),
                                           fits.Column(name="PDCSAP_FLUX", format="D", array=np.ones(10)),
                                           fits.Column(name="QUALITY", format="J", array=np.zeros(10))], name="LIGHTCURVE")
    table.header.update(BJDREFI=2457000, BJDREFF=0.0)
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="TESS", TICID=5, SECTOR=1, RA_OBJ=1.0, DEC_OBJ=2.0)
    fits.HDUList([primary, table]).writeto(lc / "tess-s0001-5_lc.fits")
    with pytest.raises(InputError) as error:
        build_stellar_pairs(spectra, lc, tmp_path / "p.h5", match_radius_arcsec=2)
    assert "mixes Kepler and TESS light curves (5 kepler, 1 tess files)" in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "p.h5").exists()


def test_arguments_are_checked_first_naming_the_parameter(tmp_path):
    with pytest.raises(InputError, match="exactly one of ids_csv and match_radius_arcsec"):
        build_stellar_pairs(tmp_path, tmp_path, tmp_path / "p.h5")
    with pytest.raises(InputError, match="spectra_dir: no such folder"):
        build_stellar_pairs(tmp_path / "nowhere", tmp_path, tmp_path / "p.h5", match_radius_arcsec=1)
    with pytest.raises(InputError, match="match_radius_arcsec must be > 0"):
        build_stellar_pairs(tmp_path, tmp_path, tmp_path / "p.h5", match_radius_arcsec=0)
    with pytest.raises(InputError, match="out must end in .h5"):
        build_stellar_pairs(tmp_path, tmp_path, tmp_path / "p.txt", match_radius_arcsec=1)
    assert list(tmp_path.iterdir()) == []


def _at(ra, dec, **fields):
    return SimpleNamespace(ra=ra, dec=dec, **fields)


def test_position_match_is_one_to_one_spherical_and_reports_missing_positions():
    stars = [_at(10.0, 20.0, star_id=1, survey="kepler"), _at(10.0, 20.0 + 1.5 * ARCSEC, star_id=2, survey="kepler"),
             _at(np.nan, 20.0, star_id=3, survey="kepler"), _at(359.9999, 0.0, star_id=4, survey="kepler")]
    spectra = [_at(10.0, 20.0 + 0.5 * ARCSEC, obsid=11, source="s11.fits"), _at(0.0001, 0.0, obsid=14, source="s14.fits"),
               _at(10.0, np.nan, obsid=15, source="s15.fits")]
    match = crossmatch_by_position(spectra, stars, 2.0)
    assert match.pairs == [(0, 0), (1, 3)]  # across RA = 0: 0.72 arcsec on the sky
    assert match.separation_arcsec == pytest.approx([0.5, 0.72], abs=0.01)
    assert match.unmatched_stars[1].startswith("its nearest spectrum, s11.fits (obsid 11) (1 arcsec), went to the nearer KIC 1")
    assert "no position" in match.unmatched_stars[2] and "no position" in match.unmatched_spectra[2]
    with pytest.raises(InputError, match="radius_arcsec must be > 0"):
        crossmatch_by_position(spectra, stars, -1)


@needs_kepler
def test_an_interrupted_build_rereads_only_uncached_files_and_writes_the_same_arrays(survey, tmp_path, monkeypatch):
    calls = []

    def counting(real, stop_after=None):
        def read(path, **options):
            if stop_after is not None and sum(name.startswith("spec") for name in calls) >= stop_after:
                raise KeyboardInterrupt  # as Ctrl-C would, in the middle of the reading
            calls.append(Path(path).name)
            return real(path, **options)
        return read

    read_light_curve, read_spectrum = light_curve_fits.read_light_curve, lamost_fits.read_lamost_spectrum
    monkeypatch.setattr(light_curve_fits, "read_light_curve", counting(read_light_curve))
    monkeypatch.setattr(lamost_fits, "read_lamost_spectrum", counting(read_spectrum, stop_after=2))
    out = tmp_path / "resumed" / "pairs.h5"
    parts = out.parent / "pairs.h5.parts"

    def build():
        return build_stellar_pairs(survey.spectra, survey.lc, out, match_radius_arcsec=2.0)

    with pytest.raises(KeyboardInterrupt):
        build()
    assert len(calls) == len(FILES) + 2 and len(list(parts.glob("*.npz"))) == len(FILES) + 2 and not out.exists()

    calls.clear()  # 2: every file read, then interrupted while writing
    monkeypatch.setattr(lamost_fits, "read_lamost_spectrum", counting(read_spectrum))

    def interrupted_writer(catalogue, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(stellar_build, "write_stellar_pairs", interrupted_writer)
    with pytest.raises(KeyboardInterrupt):
        build()
    assert calls == ["spec-500002.fits", "spec-decoy.fits"]  # the cached files were not read again
    assert not out.exists()

    calls.clear()  # 3: a corrupt entry and one of another file's key are read again, not trusted
    entries = sorted(parts.glob("light-curves-*.npz"))
    entries[0].write_bytes(b"PK\x03\x04 truncated")
    shutil.copy(entries[2], entries[1])
    monkeypatch.setattr(stellar_build, "write_stellar_pairs", write_stellar_pairs)
    report = build()
    assert len(calls) == 2 and all(name.startswith("kplr") for name in calls)
    assert report.files == {"light_curves": len(FILES), "spectra": 4, "from_cache": len(FILES) + 4 - 2}
    assert not parts.exists()

    fresh = build_stellar_pairs(survey.spectra, survey.lc, tmp_path / "fresh.h5", match_radius_arcsec=2.0)
    assert fresh.files["from_cache"] == 0
    resumed, expected = read_stellar_pairs(out), read_stellar_pairs(tmp_path / "fresh.h5")
    for name in ("wavelength", "spectra_flux", "spectra_ivar", "spectra_mask", "lc_time", "lc_flux", "lc_mask", "lc_offsets"):
        a, b = getattr(resumed, name), getattr(expected, name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
    for group in ("labels", "ids"):
        for name, value in getattr(expected, group).items():
            assert getattr(resumed, group)[name].tobytes() == value.tobytes(), f"{group}/{name}"
