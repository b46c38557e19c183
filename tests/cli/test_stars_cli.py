"""``mmphase stars build`` and ``mmphase stars simulate``."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmphase_bench.cli.main import main
from mmphase_bench.cli.stars import angle_arcsec

KEPLER = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kepler"
needs_kepler = pytest.mark.skipif(not KEPLER.is_dir(), reason=f"the real Kepler files are not in {KEPLER}")
FILES = ("kplr005899262-2009131105131_llc.fits", "kplr008417738-2009131105131_llc.fits")


@pytest.fixture
def inputs(tmp_path):
    """Two real Kepler stars and a LAMOST spectrum 0.5 arcsec from each: (light curves, spectra)."""
    fits = pytest.importorskip("astropy.io.fits")
    from lamost_layout import write_lamost_fits

    (tmp_path / "kepler").mkdir()
    (tmp_path / "lamost").mkdir()
    for k, name in enumerate(FILES):
        shutil.copy(KEPLER / name, tmp_path / "kepler" / name)
        header = fits.getheader(KEPLER / name)
        write_lamost_fits(tmp_path / "lamost" / f"spec-{k}.fits", obsid=100 + k, ra=header["RA_OBJ"],
                          dec=header["DEC_OBJ"] + 0.5 / 3600)
    return tmp_path / "kepler", tmp_path / "lamost"


@needs_kepler
def test_build_writes_the_pairs_and_the_report_and_says_where(inputs, tmp_path, capsys):
    lc, spectra = inputs
    (tmp_path / "labels.csv").write_text("obsid,age\n100,2.5\n")
    code = main(["stars", "build", "--spectra", str(spectra), "--light-curves", str(lc), "--match-radius", "0.05arcmin",
                 "--labels", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "out" / "pairs.h5")])
    assert code == 0
    out = capsys.readouterr().out
    report = tmp_path / "out" / "pairs.h5.report.json"
    assert "2 kepler pairs" in out and "unreadable files: 0; unmatched: 0 spectra, 0 stars" in out and str(report) in out
    assert json.loads(report.read_text())["match"] == {"method": "position", "radius_arcsec": pytest.approx(3.0)}
    from mmphase_bench.data.stellar_pairs import StellarPairs

    pairs = StellarPairs(tmp_path / "out" / "pairs.h5", split="all")
    assert len(pairs) == 2 and pairs.label("age")[0] == 2.5
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["pairs.h5", "pairs.h5.report.json"]


@needs_kepler
def test_build_by_ids(inputs, tmp_path, capsys):
    lc, spectra = inputs
    (tmp_path / "ids.csv").write_text("obsid,kic\n101,5899262\n5,8417738\n")
    code = main(["stars", "build", "--spectra", str(spectra), "--light-curves", str(lc), "--crossmatch",
                 str(tmp_path / "ids.csv"), "--out", str(tmp_path / "ids.h5")])
    assert code == 0
    out = capsys.readouterr().out
    assert "1 kepler pairs" in out and "unmatched: 1 spectra, 1 stars; rejected id rows: 1" in out
    report = json.loads((tmp_path / "ids.h5.report.json").read_text())
    assert report["matches"] == [{"obsid": 101, "kic": 5899262, "separation_arcsec": report["matches"][0]["separation_arcsec"]}]
    assert report["rejected_id_rows"] == [{"row": 2, "reason": "obsid 5 is not among the spectra read"}]


def test_simulate_writes_what_the_simulator_draws_in_chunks(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["stars", "simulate", "--survey", "tess", "--n", "4", "--seed", "0", "--chunk", "3", "--out", "x.h5"]) == 0
    assert "x.h5" in capsys.readouterr().out
    from mmphase_bench.data.stellar_file import read_stellar_pairs
    from mmphase_bench.data.stellar_pairs import StellarPairs
    from mmphase_bench.data.stellar_sim import SimulatedStars

    pairs = StellarPairs(tmp_path / "x.h5", split="all", features="acf")
    assert len(pairs) == 4 and pairs[3][0].shape == (3909,)
    written, expected = read_stellar_pairs(tmp_path / "x.h5"), SimulatedStars("tess", 4, 0).catalogue()
    for name in ("spectra_flux", "spectra_ivar", "lc_time", "lc_flux", "lc_mask", "lc_offsets"):
        assert np.array_equal(getattr(written, name), getattr(expected, name), equal_nan=name != "lc_mask"), name
    assert written.provenance == expected.provenance and list(written.ids["tic"]) == list(expected.ids["tic"])
    assert [p.name for p in tmp_path.iterdir()] == ["x.h5"]


@pytest.mark.parametrize("text, arcsec", [("2arcsec", 2.0), ("2", 2.0), ("0.5arcmin", 30.0), ("300mas", 0.3),
                                          ("1e-3 deg", 3.6), ('1.5"', 1.5)])
def test_match_radius_units(text, arcsec):
    assert angle_arcsec(text) == pytest.approx(arcsec)


@pytest.mark.parametrize("argv, needle", [
    (["--crossmatch", "ids.csv", "--match-radius", "2"], "argument --match-radius: not allowed with argument --crossmatch"),
    (["--match-radius", "2parsec"], "argument --match-radius: expected an angle such as 2arcsec"),
    (["--match-radius=-1arcsec"], "argument --match-radius: expected a positive angle"),
    (["--match-radius", "0arcmin"], "argument --match-radius: expected a positive angle"),
    ([], "one of the arguments --crossmatch --match-radius is required"),
])
def test_bad_flags_are_usage_errors_of_one_line(tmp_path, monkeypatch, usage_error, argv, needle):
    monkeypatch.chdir(tmp_path)
    line = usage_error(["stars", "build", "--spectra", ".", "--light-curves", ".", "--out", "p.h5", *argv])
    assert line.startswith("mmphase stars build: error: ") and needle in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["--spectra", "nowhere", "--light-curves", ".", "--match-radius", "2"], "--spectra: no such folder: nowhere"),
    (["--spectra", ".", "--light-curves", "nowhere", "--match-radius", "2"], "--light-curves: no such folder: nowhere"),
    (["--spectra", ".", "--light-curves", ".", "--crossmatch", "ids.csv"], "--crossmatch: file not found: ids.csv"),
    (["--spectra", ".", "--light-curves", ".", "--match-radius", "2", "--labels", "l.csv"], "--labels: file not found: l.csv"),
])
def test_missing_inputs_exit_2_with_one_line_naming_the_flag(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["stars", "build", *argv, "--out", "p.h5"]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"mmphase: error: {message}"] and captured.out == ""
    assert list(tmp_path.iterdir()) == []
