"""The stereo experiment of ``mmphase reproduce``: crossovers, the summary of real (smoke) harness
results, reuse of existing result files, and the command end to end."""

import json

import numpy as np
import pytest

from mmphase_bench.cli.main import main
from mmphase_bench.reproduction.experiments import stereo
from mmphase_bench.reproduction.experiments.stereo import MODELS, crossover

CELLS = ("jitter0-noise0.5", "jitter0.2-noise0.5", "jitter0.5-noise0.5")


def test_crossover_interpolates_the_sign_change():
    nu = [0.5, 0.8, 1.0]
    # CA - CP = 0.3, 0.1, -0.1: the sign changes halfway between 0.8 and 1.
    assert crossover(nu, [0.8, 0.6, 0.5], [0.5, 0.5, 0.6]) == pytest.approx({"nu_max": 0.9, "status": "crossed"})
    # Unsorted input gives the same answer.
    assert crossover([1.0, 0.5, 0.8], [0.5, 0.8, 0.6], [0.6, 0.5, 0.5])["nu_max"] == pytest.approx(0.9)
    assert crossover(nu, [0.9, 0.9, 0.9], [0.1, 0.2, 0.3]) == {"nu_max": None, "status": "ca_above"}
    assert crossover(nu, [0.1, 0.1, 0.1], [0.5, 0.5, 0.5]) == {"nu_max": None, "status": "cp_above"}
    assert crossover(nu, [0.1, None, 0.1], [0.5, 0.5, 0.5])["status"] == "missing"
    # A tie at the top orders nothing (both at 1.000, say); a tie below the top is CP's side.
    assert crossover(nu, [1.0, 1.0, 1.0], [0.5, 0.9, 1.0]) == {"nu_max": None, "status": "tie_at_nu_max_1"}
    assert crossover(nu, [0.9, 0.5, 0.4], [0.5, 0.5, 0.6])["nu_max"] == pytest.approx(0.8)
    # CA ending above at nu_max 1 is not the paper's shape, whatever happens below.
    for ca in ([0.1, 0.1, 0.9], [0.1, 0.9, 0.9], [0.9, 0.1, 0.9]):  # signs --+, -++, +-+
        assert crossover(nu, ca, [0.5, 0.5, 0.5]) == {"nu_max": None, "status": "ca_above_at_nu_max_1"}
    # +-- crosses between 0.5 and 0.8; -+- crosses between 0.8 and 1 (the highest change).
    assert crossover(nu, [0.7, 0.3, 0.3], [0.5, 0.5, 0.5])["nu_max"] == pytest.approx(0.5 + 0.2 / 0.4 * 0.3)
    assert crossover(nu, [0.3, 0.7, 0.3], [0.5, 0.5, 0.5])["nu_max"] == pytest.approx(0.9)


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """Real smoke results of the two reference models on three Stereo-dSprites cells, seed 0."""
    from mmphase_bench.harness.runner import RunConfig, run_benchmark

    out = tmp_path_factory.mktemp("stereo-smoke")
    results = run_benchmark(RunConfig(models=tuple(MODELS.values()), suite="stereo-dsprites", cells=CELLS,
                                      scale="smoke", seeds=(0,), out=out, device="cpu"))
    assert all(r["status"] == "ok" for r in results)
    return out, results


def test_the_command_summarises_reused_results_without_training(smoke_results, tmp_path, monkeypatch):
    folder, results = smoke_results
    monkeypatch.setattr(stereo, "SUITES", ("stereo-dsprites",))

    def no_training(*args, **kwargs):
        raise AssertionError("a reused result was trained again")

    monkeypatch.setattr("mmphase_bench.harness.runner.train", no_training)
    out = tmp_path / "repro"
    # A result already in runs/ that the runner would not keep (here: unreadable) is replaced by the reused one.
    stale = out / "runs" / "stereo-dsprites" / "vicreg" / "jitter0-noise0.5__seed0.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{ not a result")
    assert main(["reproduce", "--scale", "smoke", "--only", "stereo", "--seeds", "0", "--reuse", str(folder),
                 "--out", str(out), "--device", "cpu"]) == 0
    report = json.loads((out / "reproduction.json").read_text())
    assert report["format"] == "mmphase-reproduction/1" and report["scale"] == "smoke"
    entry = report["experiments"]["stereo"]
    suite = entry["numbers"]["suites"]["stereo-dsprites"]
    # Every number is the result file's own.
    by_key = {(r["submission"]["name"], r["cell"]["name"]): r for r in results}
    family = {model: name for name, model in MODELS.items()}
    at_one = None
    for (model, cell), result in by_key.items():
        row = suite["cells"][cell]["probes"]
        assert row["headline"][family[model]]["values"] == [result["metrics"]["spectral_auc"]]
        assert row["reference_literal"][family[model]]["values"] == [result["probes"]["reference_literal"]["value"]]
        assert row["converged"][family[model]]["mean"] == result["metrics"]["top1"]
    ca = by_key[("vicreg", "jitter0-noise0.5")]["metrics"]["spectral_auc"]
    cp = by_key[("reconstruct", "jitter0-noise0.5")]["metrics"]["spectral_auc"]
    assert suite["ordering"]["headline"]["ca_below_cp_at_nu_max_1"] == int(ca < cp)
    assert suite["ordering"]["headline"]["pairs_at_nu_max_1"] == 1
    curve = suite["curves"]["headline"]["0.5"]
    assert curve["nu_max"] == [0.5, 0.8, 1.0]
    expected = crossover(curve["nu_max"], curve["CA"], curve["CP"])
    assert suite["crossover"]["headline"]["0.5"]["from_means"] == expected
    assert suite["comparison"]["reference_literal"]["1.0"]["CA"]["paper"] == [0.37, 0.40]
    for path in entry["figures"]:
        assert (out / path).stat().st_size > 1000
    assert sorted(p.suffix for p in (out / "figures").iterdir()) == [".png", ".svg"]
    # The copied results are the reused ones, byte for byte.
    copied = out / "runs" / "stereo-dsprites" / "vicreg" / "jitter0-noise0.5__seed0.json"
    assert copied.read_bytes() == (folder / "stereo-dsprites" / "vicreg" / "jitter0-noise0.5__seed0.json").read_bytes()

    # A second run reuses the stored experiment: nothing is recomputed, the numbers are the same.
    monkeypatch.setattr(stereo, "_suite_numbers", lambda *a, **k: pytest.fail("recomputed"))
    assert main(["reproduce", "--scale", "smoke", "--only", "stereo", "--seeds", "0", "--out", str(out)]) == 0
    again = json.loads((out / "reproduction.json").read_text())
    assert again["experiments"]["stereo"]["numbers"] == entry["numbers"]


def test_bad_arguments_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:  # argparse's usage error
        main(["reproduce", "--only", "nonsense", "--out", str(tmp_path)])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--only" in err[0] and "nonsense" in err[0]
    assert main(["reproduce", "--reuse", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reuse" in err[0] and "not a folder" in err[0]


def test_config_is_validated():
    from mmphase_bench.errors import InputError
    from mmphase_bench.reproduction import ReproduceConfig

    for bad in ({"scale": "huge"}, {"only": ()}, {"only": ("stereo", "stereo")}, {"seeds": ()}, {"seeds": (-1,)},
                {"seeds": (0, 0)}, {"out": __file__}):
        with pytest.raises(InputError):
            ReproduceConfig(**{"out": "x", **bad})
    assert ReproduceConfig(out="x", only=("stereo", "linear")).experiments == ("linear", "stereo")
    assert np.isfinite(ReproduceConfig(out="x").seeds).all()
