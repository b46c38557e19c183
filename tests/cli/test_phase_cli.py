import json

import h5py
import numpy as np
import pytest

from mmphase_bench.cli.main import main
from mmphase_bench.theory import spiked_preset


@pytest.fixture
def paired_files(tmp_path):
    model = spiked_preset("cp_only")
    x, y, signal = model.sample(600, seed=4)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "y.npz", features=y)
    with h5py.File(tmp_path / "labels.h5", "w") as handle:
        handle.create_dataset("targets/signal", data=signal)
    return tmp_path, model


def test_estimate_json_matches_the_python_api(paired_files, capsys):
    folder, model = paired_files
    code = main([
        "phase", "estimate", "--x", str(folder / "x.npy"), "--y", f"{folder}/y.npz:features",
        "--labels", f"{folder}/labels.h5:/targets/signal", "--json", "--n-resamples", "30", "--out", str(folder / "r.json"),
    ])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    for key in ("delta_ca", "delta_cp", "delta_cp_reverse", "regime", "ci", "regime_probabilities"):
        assert key in printed
    assert printed["regime"] == model.regime().value == "cp_only"
    assert printed["ci"]["delta_ca"][0] <= printed["delta_ca"] <= printed["ci"]["delta_ca"][1] or printed["ci"]["delta_ca"] is None
    assert abs(sum(printed["regime_probabilities"].values()) - 1) < 1e-9
    assert json.loads((folder / "r.json").read_text()) == printed


def test_estimate_table_and_figure(paired_files, capsys):
    folder, _ = paired_files
    code = main([
        "phase", "estimate", "--x", str(folder / "x.npy"), "--y", f"{folder}/y.npz:features",
        "--labels", f"{folder}/labels.h5:/targets/signal", "--n-resamples", "0", "--figure", str(folder / "f.png"),
    ])
    out = capsys.readouterr().out
    assert code == 0
    assert "delta_ca" in out and "regime (CP x -> y): CP only" in out
    assert (folder / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _write(folder, name, array):
    np.save(folder / name, array)
    return str(folder / name)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "file not found"),
        ("nan", "NaN or infinite"),
        ("rows", "same number of rows"),
        ("few", "at least 50 labelled pairs"),
        ("shape", "must be 2-D"),
        ("object", "cannot read"),
    ],
)
def test_estimate_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case, message):
    rng = np.random.default_rng(0)
    x, y, labels = rng.normal(size=(100, 5)), rng.normal(size=(100, 4)), rng.integers(0, 2, 100)
    files = {"x": _write(tmp_path, "x.npy", x), "y": _write(tmp_path, "y.npy", y), "labels": _write(tmp_path, "l.npy", labels)}
    if case == "missing":
        files["y"] = str(tmp_path / "absent.npy")
    elif case == "nan":
        x[3, 2] = np.nan
        files["x"] = _write(tmp_path, "x.npy", x)
    elif case == "rows":
        files["labels"] = _write(tmp_path, "l.npy", labels[:90])
    elif case == "few":
        files = {key: _write(tmp_path, f"{key}.npy", value[:30]) for key, value in (("x", x), ("y", y), ("labels", labels))}
    elif case == "shape":
        files["x"] = _write(tmp_path, "x.npy", x.reshape(100, 5, 1))
    elif case == "object":
        np.save(tmp_path / "x.npy", np.array([{"a": 1}], dtype=object))  # an object array: stored as a pickle
    code = main(["phase", "estimate", "--x", files["x"], "--y", files["y"], "--labels", files["labels"], "--n-resamples", "0"])
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert captured.err.startswith("mmphase: error: ") and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err


def test_diagram_writes_figure_and_reports_points(tmp_path, capsys):
    out = tmp_path / "diagram.svg"
    code = main(["phase", "diagram", "--out", str(out), "--point", "1.5,0.3,weak", "--point", "1.5,0.1", "--point", "0.3,0.9"])
    text = capsys.readouterr().out
    assert code == 0 and out.read_text().lstrip().startswith("<?xml")
    # Reference sweep: rho(1.5) = 0.895 and the CP bound = 1.357 / sqrt(50) = 0.192.
    assert "(1.5, 0.3) weak: CA only" in text
    assert "(1.5, 0.1) : Both" in text
    assert "(0.3, 0.9) : Neither" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["phase", "diagram", "--out", "x.png", "--gamma-x", "-1"], "gamma_x must be >= 0"),
        (["phase", "demo", "--n", "10", "--out", "d.png"], "at least 50 labelled pairs"),
    ],
)
def test_bad_arguments(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmphase: error: ") and err.count("\n") == 1 and message in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["phase", "diagram", "--out", "x.gif"], "argument --out: a figure path must end in .png, .svg or .pdf, got 'x.gif'"),
        (["phase", "diagram", "--out", "x.png", "--point", "a,b"], "argument --point: expected KAPPA,NU[,LABEL], got 'a,b'"),
        (["phase", "diagram", "--out", "x.png", "--point", "1,2"], "argument --point: expected kappa > 0 and 0 <= nu <= 1"),
        (["phase", "diagram", "--out", "x.png", "--kappa-max", "0.01"], "argument --kappa-max: expected a finite number > 0.05"),
        (["phase", "demo", "--presets", "both,sideways"],
         "argument --presets: expected a comma-separated subset of both,ca_only,cp_only,neither; sideways is not one"),
        (["phase", "demo", "--n", "many"], "argument --n: expected a positive integer, got 'many'"),
        (["phase", "estimate", "--x", "x.npy", "--y", "y.npy", "--labels", "l.npy", "--confidence", "1.5"],
         "argument --confidence: expected a finite number > 0 and < 1"),
    ],
)
def test_bad_flags_are_usage_errors_of_one_line(tmp_path, monkeypatch, usage_error, argv, message):
    monkeypatch.chdir(tmp_path)
    line = usage_error(argv)
    assert line.startswith(f"mmphase phase {argv[1]}: error: ") and message in line
    assert not list(tmp_path.iterdir())


def test_demo_places_each_preset_in_its_regime(tmp_path, capsys):
    out = tmp_path / "demo.png"
    code = main(["phase", "demo", "--out", str(out), "--n-resamples", "10", "--json", "--presets", "ca_only,neither"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and out.exists()
    assert [row["preset"] for row in rows] == ["ca_only", "neither"]
    for row in rows:
        assert row["estimate"]["regime"] == row["exact"]["regime"] == row["preset"]


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert "mmphase-bench" in capsys.readouterr().out
