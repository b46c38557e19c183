"""``mmphase data preview`` and ``mmphase data render``."""

import struct

import pytest
import torch

from mmphase_bench.cli.main import main
from mmphase_bench.data.pairs_file import PairsFile
from mmphase_bench.data.stereo_dsprites import StereoDSprites

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_preview_writes_a_tall_png(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["data", "preview", "stereo-dsprites", "--out", "grid.png", "--pairs", "2"])
    assert code == 0
    path = tmp_path / "grid.png"
    width, height = png_size(path)
    assert height > width  # 9 grid rows, 2 pairs x 2 views per row
    assert width > 100 and height > 300
    assert "grid.png" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temporary files left


def test_render_writes_a_readable_pairs_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main([
        "data", "render", "stereo-dsprites", "--n", "200", "--out", "p.h5", "--cell", "jitter0.5-noise0.9",
        "--dtype", "uint8",
    ])
    assert code == 0
    out = capsys.readouterr().out
    assert "p.h5" in out and "nu_max=0.5" in out
    pairs = PairsFile(tmp_path / "p.h5")
    assert len(pairs) == 200 and pairs.dtype == "uint8"
    config = pairs.description["config"]
    assert config["jitter"] == 0.5 and config["noise_y"] == 0.9 and config["noise_x"] == 0.1
    assert pairs.description["n"] == 200 and pairs.description["split"] == "train"
    expected = StereoDSprites.from_grid("jitter0.5-noise0.9", n=200)
    assert pairs.fingerprint == expected.fingerprint
    assert pairs.fingerprint in out
    x, y, label = pairs.read()
    batch = expected.generate(0, 200)
    assert (x - batch.x).abs().max().item() <= 0.5 / 255 + 1e-6
    assert (y - batch.y).abs().max().item() <= 0.5 / 255 + 1e-6
    assert torch.equal(label, batch.label)
    assert not (tmp_path / "p.h5.partial").exists()


def test_render_explicit_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main([
        "data", "render", "stereo-dsprites", "--n", "30", "--out", "sub/q.hdf5", "--jitter", "0.3", "--noise-y", "0.7",
        "--split", "val", "--seed", "5", "--batch-size", "16",
    ])
    assert code == 0
    pairs = PairsFile(tmp_path / "sub" / "q.hdf5")
    assert pairs.description["config"]["jitter"] == 0.3 and pairs.description["config"]["noise_y"] == 0.7
    assert pairs.description["split"] == "val" and pairs.description["seed"] == 5
    x, _, _ = pairs.read()
    assert torch.equal(x, StereoDSprites(split="val", n=30, jitter=0.3, noise_y=0.7, seed=5).generate(0, 30).x)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["data", "render", "stereo-dsprites", "--n", "10", "--out", "p.txt"], "p.txt"),
        (["data", "render", "stereo-dsprites", "--n", "10", "--out", "p.h5", "--jitter", "-1"], "jitter"),
        (["data", "render", "stereo-dsprites", "--n", "10", "--out", "p.h5", "--noise-y", "-0.5"], "noise_y"),
        (["data", "render", "stereo-dsprites", "--n", "10", "--out", "p.h5", "--cell", "nope"], "cell"),
        (["data", "render", "stereo-dsprites", "--n", "10", "--out", "p.h5", "--source", "missing.npz"], "missing.npz"),
        (["data", "render", "stereo-dsprites", "--n", "10", "--out", "p.h5", "--source", "notes.txt"], "source"),
        (["data", "preview", "stereo-dsprites", "--out", "grid.png", "--source", "missing.npz"], "missing.npz"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, monkeypatch, capsys, argv, needle):
    monkeypatch.chdir(tmp_path)
    code = main(argv)
    assert code == 2
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mmphase: error:")
    assert needle in lines[0]
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["data", "render", "stereo-dsprites", "--n", "0", "--out", "p.h5"], "argument --n: expected a positive integer, got '0'"),
        (["data", "render", "stereo-dsprites", "--n", "ten", "--out", "p.h5"], "argument --n: expected a positive integer"),
        (["data", "render", "stereo-dsprites", "--n", "10", "--out", "p.h5", "--jitter", "nan"], "argument --jitter: expected a finite number"),
        (["data", "render", "stereo-dsprites", "--n", "10", "--out", "p.h5", "--device", "warp-drive"], "argument --device: expected cpu, cuda[:N] or mps"),
        (["data", "render", "stereo-dsprites", "--n", "10", "--out", "p.h5", "--batch-size", "0"], "argument --batch-size"),
        (["data", "render", "stereo-dsprites", "--n", "10", "--out", "p.h5", "--dtype", "int7"], "argument --dtype: invalid choice"),
        (["data", "preview", "stereo-dsprites", "--out", "grid.txt"], "argument --out: a figure path must end in .png, .svg or .pdf"),
        (["data", "preview", "stereo-dsprites", "--out", "grid.png", "--pairs", "0"], "argument --pairs: expected an integer from 1 to 16"),
    ],
)
def test_bad_flags_are_usage_errors_of_one_line(tmp_path, monkeypatch, usage_error, argv, needle):
    monkeypatch.chdir(tmp_path)
    line = usage_error(argv)
    assert line.startswith(f"mmphase data {argv[1]}: error: ") and needle in line
    assert not list(tmp_path.iterdir())  # nothing written


def test_unknown_dataset_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["data", "render", "stereo-3dshapes", "--n", "10", "--out", "p.h5"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
