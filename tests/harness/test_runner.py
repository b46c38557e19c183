"""The runner: every built-in model on every suite, resumable runs, isolated failures, deterministic
results, cached placements and the summary table."""

import json
import re
import subprocess
import sys
import textwrap

import pytest
import torch

from mmphase_bench.errors import InputError
from mmphase_bench.harness import runner
from mmphase_bench.harness.results import (
    _plain, protocol_hash, read_result, recompute_metrics, recompute_spectral_auc, result_path, validate_result,
)
from mmphase_bench.harness.runner import (
    RunConfig, cell_placement, headline_metric, resolve_device, run_benchmark, summary_table,
)
from mmphase_bench.harness.scales import SCALES
from mmphase_bench.harness.submission import SubmissionError, load_submission
from mmphase_bench.harness.suites import get_suite
from mmphase_bench.models.registry import REGISTRY
from mmphase_bench.theory.presets import spiked_preset

SMOKE = SCALES["smoke"]


def config(out, models, suite="spiked", cells=None, seeds=(0,), wall_clock_limit_s=None):
    return RunConfig(models=tuple(models), suite=suite, cells=tuple(cells) if cells else None, scale="smoke",
                     seeds=tuple(seeds), out=out, device="cpu", wall_clock_limit_s=wall_clock_limit_s)


def plain(result):
    """A result as it reads back from its JSON file."""
    return json.loads(json.dumps(_plain(result)))


def by_key(results):
    return {(r["submission"]["name"], r["cell"]["name"], r["seed"]): r for r in results}


@pytest.fixture
def count_run_one(monkeypatch):
    """Wraps runner.run_one; the returned list records (model, cell, seed) of each call."""
    calls = []
    original = runner.run_one

    def counting(loaded, suite, cell, scale, seed, *args, **kwargs):
        calls.append((loaded.name, cell.name, seed))
        return original(loaded, suite, cell, scale, seed, *args, **kwargs)

    monkeypatch.setattr(runner, "run_one", counting)
    return calls


FRAGILE = """
    import torch
    import torch.nn.functional as F
    from torch import nn
    from mmphase_bench.harness import Submission


    def noisy_cell(y):
        # The spiked cells ca_only and neither have y nuisance variance 50 (mean y^2 ~ 43); both and
        # cp_only have mean y^2 below 2.
        return float(y.pow(2).mean()) > 10.0


    class Fragile(Submission):
        family = "CP"
        name = "fragile"

        def __init__(self, x_spec, y_spec, task=None):
            super().__init__(x_spec, y_spec, task)
            self.encoder = nn.Linear(x_spec.size, task.embedding_dim)
            self.decoder = nn.Linear(task.embedding_dim, y_spec.size)

        def loss(self, x, y):
            loss = F.mse_loss(self.decoder(self.encoder(x.flatten(1))), y.flatten(1))
            return loss * float("nan") if noisy_cell(y) else loss

        def embed(self, x):
            return self.encoder(x.flatten(1))


    class Raising(Fragile):
        name = "raising"

        def loss(self, x, y):
            if noisy_cell(y):
                raise RuntimeError("custom failure on a noisy cell")
            return super().loss(x, y)
"""


@pytest.fixture
def fragile_file(tmp_path):
    path = tmp_path / "fragile_models.py"
    path.write_text(textwrap.dedent(FRAGILE))
    return path


# ------------------------------------------------------------------ (a) every model on every suite


def _check_ok_results(results, suite_name, cell_name, out):
    suite = get_suite(suite_name)
    assert len(results) == len(REGISTRY)
    assert [r["submission"]["name"] for r in results] == list(REGISTRY)
    for result in results:
        name = result["submission"]["name"]
        assert result["status"] == "ok", (name, result["error"])
        assert result["error"] is None
        validate_result(result)
        on_disk = read_result(result_path(out, suite_name, name, cell_name, 0))
        assert on_disk == plain(result)
        assert result["submission"]["family"] == REGISTRY[name].family
        assert result["suite"] == suite_name and result["cell"]["name"] == cell_name and result["seed"] == 0
        metrics = result["metrics"]
        if suite.task.kind == "classification":
            assert 0 <= metrics["top1"] <= 1 and 0 <= metrics["balanced_accuracy"] <= 1
        else:
            assert "r2" in metrics and "top1" not in metrics
        _check_headline(result)
        assert [p["n"] for p in result["curves"]["probe_size"]] == list(SMOKE.probe_sizes)
        assert result["diagnostics"]["effective_rank"] > 0
        has_y_features = REGISTRY[name].probe_view == "x" and name in ("vicreg", "vicreg-bn", "infonce", "joint", "linear-cca")
        assert (result["diagnostics"]["canonical_correlations"] is not None) == has_y_features, name
        assert bool(result["diagnostics"]["nuisance_r2"]) == (suite_name != "spiked"), name
        training = result["training"]
        if REGISTRY[name].closed_form:
            assert training["stopped"] == "closed_form" and result["submission"]["parameters"] == 0
        else:
            assert 1 <= training["epochs"] <= SMOKE.max_epochs and result["submission"]["parameters"] > 0
            assert len(result["curves"]["train_loss"]) == training["epochs"]
        assert set(result["provenance"]["dataset_fingerprints"]) == {"train", "val", "test"}
        assert result["provenance"]["protocol_hash"] == protocol_hash(
            suite_name, result["cell"]["config"], SMOKE.to_dict(), result["submission"]["source_hash"]
        )


def _check_headline(result):
    """The headline is the spectral probe's AUC, and the result's evidence recomputes it exactly."""
    metrics, evidence, spectral = result["metrics"], result["evidence"], result["probes"]["spectral"]
    assert headline_metric(result) == metrics["spectral_auc"] == spectral["auc"]
    assert "evidence" not in spectral  # moved to the result's evidence
    assert [entry["r"] for entry in evidence["spectral"]] == [point["r"] for point in spectral["curve"]]
    assert recompute_spectral_auc(evidence) == metrics["spectral_auc"]
    key = spectral["metric"]
    for entry, point in zip(evidence["spectral"], spectral["curve"]):
        assert recompute_metrics({"kind": evidence["kind"], **entry})[key] == point[key]
    converged = recompute_metrics(evidence)  # the converged probe's metrics stand beside the headline
    assert all(metrics[name] == pytest.approx(value, abs=1e-12) for name, value in converged.items())


@pytest.mark.parametrize("suite_name", [
    "spiked",
    "stereo-dsprites",  # about 7 s on one core
    pytest.param("stereo-shapes3d", marks=pytest.mark.slow),  # about 11 s on one core
])
def test_every_builtin_model_runs_on_every_suite(tmp_path, suite_name):
    suite = get_suite(suite_name)
    cell = suite.cells[0].name
    results = run_benchmark(config(tmp_path, REGISTRY, suite=suite_name, cells=[cell]))
    _check_ok_results(results, suite_name, cell, tmp_path)


def test_the_example_submission_runs(tmp_path):
    results = run_benchmark(config(tmp_path, ["mmphase_bench.examples.linear_autoencoder:LinearPredictor"], cells=["both", "cp_only"]))
    assert [r["status"] for r in results] == ["ok", "ok"]
    assert all(r["submission"]["family"] == "CP" and r["submission"]["name"] == "linear-predictor" for r in results)
    assert (tmp_path / "spiked" / "linear-predictor" / "both__seed0.json").is_file()


# ------------------------------------------------------------------ (b) resume


RESUME_MODELS = ("unimodal", "linear-cca", "vicreg")


def test_a_second_run_trains_nothing_and_returns_the_same_results(tmp_path, count_run_one):
    first = run_benchmark(config(tmp_path, RESUME_MODELS, cells=["both", "cp_only"], seeds=(0, 1)))
    assert len(count_run_one) == len(first) == 12
    count_run_one.clear()
    second = run_benchmark(config(tmp_path, RESUME_MODELS, cells=["both", "cp_only"], seeds=(0, 1)))
    assert count_run_one == []
    assert [plain(r) for r in first] == second


def test_only_the_missing_result_is_redone(tmp_path, count_run_one):
    first = by_key(run_benchmark(config(tmp_path, RESUME_MODELS, cells=["both", "cp_only"])))
    result_path(tmp_path, "spiked", "vicreg", "cp_only", 0).unlink()
    count_run_one.clear()
    second = run_benchmark(config(tmp_path, RESUME_MODELS, cells=["both", "cp_only"]))
    assert count_run_one == [("vicreg", "cp_only", 0)]
    assert set(by_key(second)) == set(first)
    assert result_path(tmp_path, "spiked", "vicreg", "cp_only", 0).is_file()
    # The redone result is the same as the first one (seeded), up to timing and provenance.
    redone = by_key(second)[("vicreg", "cp_only", 0)]
    assert redone["metrics"] == first[("vicreg", "cp_only", 0)]["metrics"]


def test_a_result_with_another_protocol_hash_is_redone(tmp_path, count_run_one):
    run_benchmark(config(tmp_path, RESUME_MODELS, cells=["both"]))
    path = result_path(tmp_path, "spiked", "linear-cca", "both", 0)
    edited = json.loads(path.read_text())
    edited["provenance"]["protocol_hash"] = "0" * 64
    path.write_text(json.dumps(edited))
    count_run_one.clear()
    results = run_benchmark(config(tmp_path, RESUME_MODELS, cells=["both"]))
    assert count_run_one == [("linear-cca", "both", 0)]
    assert json.loads(path.read_text())["provenance"]["protocol_hash"] != "0" * 64
    assert len(results) == 3


@pytest.mark.parametrize("damage", ["{truncated", "", '{"valid json": "but not a result"}'])
def test_a_corrupt_result_file_is_redone(tmp_path, count_run_one, damage):
    run_benchmark(config(tmp_path, RESUME_MODELS, cells=["both"]))
    path = result_path(tmp_path, "spiked", "unimodal", "both", 0)
    path.write_text(damage)
    count_run_one.clear()
    results = run_benchmark(config(tmp_path, RESUME_MODELS, cells=["both"]))
    assert count_run_one == [("unimodal", "both", 0)]
    assert read_result(path)["status"] == "ok"
    assert len(results) == 3


def test_a_changed_submission_file_is_redone(tmp_path, fragile_file, count_run_one):
    spec = f"{fragile_file}:Fragile"
    run_benchmark(config(tmp_path, [spec], cells=["both"]))
    count_run_one.clear()
    run_benchmark(config(tmp_path, [spec], cells=["both"]))
    assert count_run_one == []
    fragile_file.write_text(fragile_file.read_text() + "\n# edited\n")
    run_benchmark(config(tmp_path, [spec], cells=["both"]))
    assert count_run_one == [("fragile", "both", 0)]


# ------------------------------------------------------------------ (c) failure isolation


def test_failures_are_isolated(tmp_path, fragile_file, count_run_one):
    models = [f"{fragile_file}:Fragile", f"{fragile_file}:Raising", "unimodal"]
    cells = ["both", "ca_only", "cp_only"]
    results = run_benchmark(config(tmp_path, models, cells=cells))
    assert len(results) == 9
    table = by_key(results)
    for model in ("fragile", "raising", "unimodal"):
        for cell in cells:
            result = table[(model, cell, 0)]
            validate_result(result)
            assert read_result(result_path(tmp_path, "spiked", model, cell, 0)) == plain(result)
            if model != "unimodal" and cell == "ca_only":
                assert result["status"] == "failed"
                assert result["metrics"] == {} and result["diagnostics"] == {}
                assert "Traceback" in result["training"]["traceback"]
            else:
                assert result["status"] == "ok", (model, cell, result["error"])
                assert result["error"] is None and "r2" in result["metrics"]
    assert table[("fragile", "ca_only", 0)]["error"].startswith("TrainingDiverged: loss became nan at epoch 0")
    assert table[("raising", "ca_only", 0)]["error"] == "RuntimeError: custom failure on a noisy cell"
    # Failed results are redone on the next run; the others are reused.
    count_run_one.clear()
    again = run_benchmark(config(tmp_path, models, cells=cells))
    assert sorted(count_run_one) == [("fragile", "ca_only", 0), ("raising", "ca_only", 0)]
    assert len(again) == 9


def test_a_broken_class_stops_the_run_before_any_training(tmp_path, count_run_one):
    path = tmp_path / "bad_init.py"
    path.write_text(textwrap.dedent("""
        from mmphase_bench.harness import Submission

        class BadInit(Submission):
            family = "CA"

            def __init__(self, x_spec, y_spec, task=None):
                raise ValueError("no encoder for this view")
    """))
    with pytest.raises(SubmissionError, match="'badinit' fails its check: building it raised ValueError: no encoder for this view"):
        run_benchmark(config(tmp_path, ["unimodal", f"{path}:BadInit"], cells=["both"]))
    assert count_run_one == [] and not list(tmp_path.rglob("*.json"))  # nothing trained, nothing written


PLAIN_MODULE = """
    import torch
    import torch.nn.functional as F
    from torch import nn


    class PlainPredictor(nn.Module):
        family = "CP"

        def __init__(self, x_spec, y_spec, task=None):
            super().__init__()
            self.encoder = nn.Linear(x_spec.size, task.embedding_dim)
            self.decoder = nn.Linear(task.embedding_dim, y_spec.size)

        def loss(self, x, y):
            return F.mse_loss(self.decoder(self.encoder(x.flatten(1))), y.flatten(1))

        def embed(self, x):
            return self.encoder(x.flatten(1))
"""


def test_a_plain_module_runs_on_every_cell(tmp_path):
    path = tmp_path / "plain_predictor.py"
    path.write_text(textwrap.dedent(PLAIN_MODULE))
    results = run_benchmark(config(tmp_path, [f"{path}:PlainPredictor"]))
    assert len(results) == 4 and all(r["status"] == "ok" for r in results), [r["error"] for r in results]
    assert {r["submission"]["family"] for r in results} == {"CP"}


def test_concurrent_runs_on_one_folder_share_the_cells(tmp_path):
    """Two processes on the same out folder: each result is trained once, both end with all of them."""
    script = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from mmphase_bench.harness import runner
        trained = []
        original = runner.run_one
        def counting(loaded, suite, cell, *args, **kwargs):
            trained.append(cell.name)
            return original(loaded, suite, cell, *args, **kwargs)
        runner.run_one = counting
        config = runner.RunConfig(models=("linear-rrr", "unimodal"), suite="spiked", scale="smoke", seeds=(0, 1),
                                  out=Path({str(tmp_path)!r}), device="cpu")
        results = runner.run_benchmark(config)
        print(json.dumps({{"trained": trained, "results": len(results)}}))
    """)
    processes = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [json.loads(process.communicate(timeout=600)[0].strip().splitlines()[-1]) for process in processes]
    assert all(process.returncode == 0 for process in processes)
    assert [output["results"] for output in outputs] == [16, 16]  # 4 cells x 2 seeds x 2 models each
    assert sum(len(output["trained"]) for output in outputs) == 16  # every result trained exactly once
    assert len(list(tmp_path.glob("spiked/*/*.json"))) == 16


# ------------------------------------------------------------------ (d) determinism


def _comparable(result):
    return {key: result[key] for key in ("metrics", "curves", "diagnostics")} | {"epochs": result["training"].get("epochs")}


def test_the_same_run_twice_gives_identical_metrics(tmp_path):
    models = ("vicreg", "infonce", "supervised", "reconstruct-reverse")
    first = run_benchmark(config(tmp_path / "a", models, cells=["both", "ca_only"], seeds=(0, 1)))
    second = run_benchmark(config(tmp_path / "b", models, cells=["both", "ca_only"], seeds=(0, 1)))
    assert len(first) == len(second) == 16
    for a, b in zip(first, second):
        assert (a["submission"]["name"], a["cell"]["name"], a["seed"]) == (b["submission"]["name"], b["cell"]["name"], b["seed"])
        assert a["status"] == b["status"] == "ok"
        assert _comparable(a) == _comparable(b)
        assert a["provenance"]["protocol_hash"] == b["provenance"]["protocol_hash"]
        assert a["provenance"]["dataset_fingerprints"] == b["provenance"]["dataset_fingerprints"]
    # ... while another seed gives other data and other numbers.
    table = by_key(first)
    assert table[("vicreg", "both", 0)]["curves"]["train_loss"] != table[("vicreg", "both", 1)]["curves"]["train_loss"]


def test_an_image_run_is_deterministic(tmp_path):
    cell = get_suite("stereo-dsprites").cells[0].name
    first = run_benchmark(config(tmp_path / "a", ["reconstruct"], suite="stereo-dsprites", cells=[cell]))
    second = run_benchmark(config(tmp_path / "b", ["reconstruct"], suite="stereo-dsprites", cells=[cell]))
    assert first[0]["status"] == "ok"
    assert _comparable(first[0]) == _comparable(second[0])
    assert first[0]["cell"]["placement"] == second[0]["cell"]["placement"]


def test_models_run_together_or_alone_give_the_same_numbers(tmp_path):
    together = by_key(run_benchmark(config(tmp_path / "a", ["vicreg", "supervised"], cells=["both"])))
    alone = by_key(run_benchmark(config(tmp_path / "b", ["supervised"], cells=["both"])))
    assert _comparable(together[("supervised", "both", 0)]) == _comparable(alone[("supervised", "both", 0)])


# ------------------------------------------------------------------ (e) placements


def test_stereo_placement_is_cached_and_reused(tmp_path, monkeypatch):
    suite = get_suite("stereo-dsprites")
    cell = suite.cells[0].name
    calls = []
    original = runner.estimate_placement

    def counting(*args, **kwargs):
        calls.append(args[1].name)
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "estimate_placement", counting)
    first = run_benchmark(config(tmp_path, ["unimodal"], suite="stereo-dsprites", cells=[cell]))
    assert calls == [cell]
    cache = tmp_path / "stereo-dsprites" / "_placement" / f"{cell}__smoke.json"
    assert cache.is_file()
    placement = first[0]["cell"]["placement"]
    assert json.loads(cache.read_text()) == placement
    assert placement["method"] == "estimate_phase"
    assert placement["pairs"] == SMOKE.placement_pairs and placement["resamples"] == SMOKE.placement_resamples
    assert placement["pca"] == suite.placement_pca
    assert placement["regime"] in ("both", "ca_only", "cp_only", "neither")
    # A second run (a new seed, so it trains) reads the cache instead of estimating again.
    second = run_benchmark(config(tmp_path, ["unimodal"], suite="stereo-dsprites", cells=[cell], seeds=(1,)))
    assert calls == [cell]
    assert second[0]["cell"]["placement"] == placement


def test_cell_placement_cache_is_per_scale_and_survives_corruption(tmp_path, monkeypatch):
    suite = get_suite("stereo-dsprites")
    cell = suite.cells[1]
    calls = []

    def fake(suite_, cell_, pairs, resamples, seed=0):
        calls.append((cell_.name, pairs, resamples))
        return {"method": "estimate_phase", "regime": "both", "pairs": pairs}

    monkeypatch.setattr(runner, "estimate_placement", fake)
    for scale in (SCALES["smoke"], SCALES["small"], SCALES["smoke"], SCALES["small"]):
        cell_placement(suite, cell, scale, tmp_path)
    assert calls == [(cell.name, 200, 5), (cell.name, 1000, 50)]
    folder = tmp_path / "stereo-dsprites" / "_placement"
    assert sorted(p.name for p in folder.glob("*.json")) == [f"{cell.name}__small.json", f"{cell.name}__smoke.json"]
    (folder / f"{cell.name}__smoke.json").write_text("{broken")
    assert cell_placement(suite, cell, SCALES["smoke"], tmp_path) == {"method": "estimate_phase", "regime": "both", "pairs": 200}
    assert len(calls) == 3
    assert json.loads((folder / f"{cell.name}__smoke.json").read_text())["pairs"] == 200


def test_spiked_cells_have_exact_placements(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("spiked cells must not be estimated")

    monkeypatch.setattr(runner, "estimate_placement", refuse)
    results = run_benchmark(config(tmp_path, ["unimodal"]))
    assert [r["cell"]["name"] for r in results] == ["both", "ca_only", "cp_only", "neither"]
    for result in results:
        placement = result["cell"]["placement"]
        delta_ca, delta_cp = spiked_preset(result["cell"]["name"]).separation_ratios()
        assert placement["method"] == "exact"
        assert placement["regime"] == result["cell"]["name"]
        assert placement["delta_ca"] == pytest.approx(delta_ca) and placement["delta_cp"] == pytest.approx(delta_cp)
    assert not (tmp_path / "spiked" / "_placement").exists()


# ------------------------------------------------------------------ (f) the summary table


def test_summary_table_lists_models_cells_and_mean_sd(tmp_path, fragile_file):
    models = ["unimodal", "linear-cca", f"{fragile_file}:Fragile"]
    results = run_benchmark(config(tmp_path, models, cells=["both", "ca_only"], seeds=(0, 1)))
    table = summary_table(results)
    lines = table.splitlines()
    assert lines[0] == ("spectral AUC (mean R^2 over log rank) of the frozen linear probe, mean +- sd over seeds "
                        "(number of seeds; F failed, I incomplete)")
    for name in ("unimodal", "linear-cca", "fragile"):
        assert name in lines[1]
    both = next(line for line in lines if line.startswith("both"))
    ca_only = next(line for line in lines if line.startswith("ca_only"))
    assert "failed (2)" in ca_only and "failed" not in both  # fragile diverges on ca_only, both seeds
    values = [headline_metric(r) for r in results if r["submission"]["name"] == "unimodal" and r["cell"]["name"] == "both"]
    mean = sum(values) / 2
    sd = (sum((v - mean) ** 2 for v in values)) ** 0.5  # ddof = 1 with two values
    assert f"{mean:.3f} +- {sd:.3f} (2)" in both
    assert len(re.findall(r"\+- ", both)) == 3 and len(re.findall(r"\+- ", ca_only)) == 2


def test_summary_table_for_classification_and_empty_input():
    assert summary_table([]) == "(no results)"
    result = {"submission": {"name": "m"}, "cell": {"name": "c", "placement": {"regime": "both"}}, "status": "ok",
              "metrics": {"top1": 0.5}}
    table = summary_table([result])
    assert table.splitlines()[0].startswith("top-1 of the frozen linear probe")  # an older (harness/1) result
    assert "0.500 +- 0.000 (1)" in table and "both" in table
    result["metrics"]["spectral_auc"] = 0.25
    table = summary_table([result])
    assert table.splitlines()[0].startswith("spectral AUC (mean top-1 over log rank) of the frozen linear probe")
    assert "0.250 +- 0.000 (1)" in table


def test_summary_table_columns_are_separated():
    def result(model, seed, value):
        return {"submission": {"name": model}, "cell": {"name": "both", "placement": {"regime": "both"}},
                "status": "ok", "seed": seed, "metrics": {"r2": value}}

    results = [result(m, s, v) for m in ("unimodal", "linear-cca") for s, v in ((0, 0.85), (1, -0.9))]
    lines = summary_table(results).splitlines()
    header, row = lines[1], lines[3]
    assert len(row.split()) == 2 + 2 * 4  # cell, regime, then "mean +- sd (n)" per model
    assert len(row) == len(header)


def test_headline_metric():
    assert headline_metric({"metrics": {"top1": 0.7, "r2": 0.1, "spectral_auc": 0.4}}) == 0.4
    assert headline_metric({"metrics": {"r2": 0.1, "spectral_auc": -0.5}}) == -0.5
    assert headline_metric({"metrics": {"top1": 0.7, "r2": 0.1}}) == 0.7
    assert headline_metric({"metrics": {"r2": -0.25}}) == -0.25
    assert headline_metric({"metrics": {}}) is None
    assert headline_metric({}) is None


# ------------------------------------------------------------------ configuration errors


def test_bad_configurations_raise_input_errors_naming_the_parameter(tmp_path):
    with pytest.raises(InputError, match="^suite must be one of"):
        run_benchmark(config(tmp_path, ["unimodal"], suite="nope"))
    with pytest.raises(InputError, match="^cell: suite 'spiked' has no cell 'nope'"):
        run_benchmark(config(tmp_path, ["unimodal"], cells=["nope"]))
    with pytest.raises(InputError, match="^seeds must name at least one seed"):
        run_benchmark(config(tmp_path, ["unimodal"], seeds=()))
    with pytest.raises(InputError, match="^model 'nope' is neither a built-in model"):
        run_benchmark(config(tmp_path, ["nope"]))
    with pytest.raises(InputError, match="^scale must be one of"):
        run_benchmark(RunConfig(models=("unimodal",), suite="spiked", scale="huge", out=tmp_path))
    assert not any(tmp_path.iterdir())


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError, match="^device must be auto, cpu or cuda"):
        resolve_device("toaster")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA device"):
            resolve_device("cuda")


def test_run_one_records_identity_and_provenance(tmp_path):
    suite = get_suite("spiked")
    cell = suite.cell("both")
    data = {split: suite.make_split(cell, split, getattr(SMOKE, f"n_{split}"), 3) for split in ("train", "val", "test")}
    loaded = load_submission("linear-rrr")
    result = runner.run_one(loaded, suite, cell, SMOKE, 3, data, {"regime": "both"}, "f" * 64, torch.device("cpu"))
    validate_result(result)
    assert result["seed"] == 3 and result["scale"] == "smoke" and result["scale_config"] == SMOKE.to_dict()
    assert result["submission"] == {"name": "linear-rrr", "family": "CP", "source": "builtin:linear-rrr",
                                    "source_hash": loaded.source_hash, "parameters": 0}
    assert result["cell"] == {"name": "both", "config": cell.config, "placement": {"regime": "both"}}
    assert result["provenance"]["protocol_hash"] == "f" * 64
    assert result["provenance"]["dataset_fingerprints"] == {s: data[s].fingerprint for s in data}
    assert "draw9" in result["provenance"]["dataset_fingerprints"]["train"]  # seed 3, split train: 3 * 3 + 0


def test_two_submissions_of_one_name_are_refused(tmp_path, monkeypatch):
    """Results are filed by name: a different class of the same name must not overwrite them."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.py").write_text(textwrap.dedent(PLAIN_MODULE).replace("class PlainPredictor", "class Unimodal"))
    run_benchmark(config(tmp_path / "runs", ["mmphase_bench.examples.linear_autoencoder:LinearPredictor"], cells=["both"]))
    (tmp_path / "other.py").write_text(textwrap.dedent(PLAIN_MODULE) + '\nPlainPredictor.name = "linear-predictor"\n')
    with pytest.raises(InputError, match="holds results of module:mmphase_bench.examples.linear_autoencoder:LinearPredictor"):
        run_benchmark(config(tmp_path / "runs", ["other.py:PlainPredictor"], cells=["both"]))
    with pytest.raises(InputError, match="are both named 'unimodal'"):
        run_benchmark(config(tmp_path / "runs", ["unimodal", "mine.py:Unimodal"], cells=["both"]))
    # The same file named by another path is the same submission: it reuses its results.
    first = run_benchmark(config(tmp_path / "runs", ["mine.py:Unimodal"], cells=["both"]))
    again = run_benchmark(config(tmp_path / "runs", [f"{tmp_path}/./mine.py:Unimodal"], cells=["both"]))
    assert [r["metrics"] for r in again] == [r["metrics"] for r in first]


COLLAPSED = """
    import torch
    from torch import nn


    class Collapsed(nn.Module):
        family = "CA"

        def __init__(self, x_spec, y_spec, task=None):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(1))

        def loss(self, x, y):
            return (self.weight * x.flatten(1).mean()).pow(2)

        def embed(self, x):  # constant features: a fully collapsed representation
            return torch.zeros(x.shape[0], 3) * self.weight
"""


def test_a_collapsed_representation_is_scored_not_failed(tmp_path):
    """Constant features are scored at chance: the converged probe predicts the prior, the spectral
    probe has no principal component (width 0) and scores one point, r = 1, of the probe on one
    constant column; the result is ok and its headline recomputes from its evidence."""
    path = tmp_path / "collapsed.py"
    path.write_text(textwrap.dedent(COLLAPSED))
    (result,) = run_benchmark(config(tmp_path, [f"{path}:Collapsed"], cells=["both"]))
    assert result["status"] == "ok", result["error"]
    validate_result(result)
    assert read_result(result_path(tmp_path, "spiked", "collapsed", "both", 0)) == plain(result)
    assert result["metrics"]["r2"] <= 1e-6
    spectral = result["probes"]["spectral"]
    assert spectral["width"] == 0 and [point["r"] for point in spectral["curve"]] == [1]
    assert spectral["r90"] == (None if spectral["full"] <= 0 else 1)
    assert result["metrics"]["spectral_auc"] == spectral["auc"] == spectral["full"] == spectral["curve"][0]["r2"] <= 1e-6
    # the prior prediction on one constant column is the converged probe's prediction on all three
    assert spectral["auc"] == pytest.approx(result["metrics"]["r2"], abs=1e-9)
    _check_headline(result)


# ------------------------------------------------------------------ (g) the wall-clock guard


def test_a_run_stopped_by_the_wall_clock_limit_is_incomplete_and_redone(tmp_path, count_run_one):
    models = ("vicreg", "unimodal")
    results = by_key(run_benchmark(config(tmp_path, models, cells=["both"], wall_clock_limit_s=0)))
    stopped, closed_form = results[("vicreg", "both", 0)], results[("unimodal", "both", 0)]
    assert stopped["status"] == "incomplete" and stopped["training"]["stopped"] == "wall_clock_limit"
    assert stopped["training"]["epochs"] == 1 < SMOKE.max_epochs
    assert stopped["error"] == f"stopped by the wall-clock limit of 0 s after 1 of {SMOKE.max_epochs} epochs"
    validate_result(stopped)
    assert read_result(result_path(tmp_path, "spiked", "vicreg", "both", 0)) == plain(stopped)
    _check_headline(stopped)  # scored all the same: what it reached is on record
    # a closed-form model does not train by epochs: the guard has nothing to stop
    assert closed_form["status"] == "ok" and closed_form["training"]["stopped"] == "closed_form"
    # the guard is not part of the protocol: an incomplete result has the same protocol hash ...
    assert stopped["provenance"]["protocol_hash"] == protocol_hash(
        "spiked", stopped["cell"]["config"], SMOKE.to_dict(), stopped["submission"]["source_hash"])
    # ... but it is never reused: the next run (with the limit or without) trains it again
    count_run_one.clear()
    again = by_key(run_benchmark(config(tmp_path, models, cells=["both"], wall_clock_limit_s=0)))
    assert count_run_one == [("vicreg", "both", 0)] and again[("vicreg", "both", 0)]["status"] == "incomplete"
    count_run_one.clear()
    finished = by_key(run_benchmark(config(tmp_path, models, cells=["both"])))
    assert count_run_one == [("vicreg", "both", 0)]
    redone = finished[("vicreg", "both", 0)]
    assert redone["status"] == "ok" and redone["error"] is None and redone["training"]["stopped"] != "wall_clock_limit"
    assert read_result(result_path(tmp_path, "spiked", "vicreg", "both", 0))["status"] == "ok"
    count_run_one.clear()
    run_benchmark(config(tmp_path, models, cells=["both"], wall_clock_limit_s=0))
    assert count_run_one == []  # a complete result is reused, whatever the guard of the new run


def test_a_generous_wall_clock_limit_changes_nothing(tmp_path):
    plain_run = run_benchmark(config(tmp_path / "a", ["vicreg"], cells=["both"]))
    guarded = run_benchmark(config(tmp_path / "b", ["vicreg"], cells=["both"], wall_clock_limit_s=3600))
    assert guarded[0]["status"] == "ok" and _comparable(guarded[0]) == _comparable(plain_run[0])


def test_an_incomplete_result_is_refused_by_publish(tmp_path):
    from mmphase_bench.leaderboard.store import publishable_problem

    (result,) = run_benchmark(config(tmp_path, ["vicreg"], cells=["both"], wall_clock_limit_s=0))
    assert result["status"] == "incomplete"
    as_small = dict(plain(result), scale="small")  # smoke results are refused for their scale first
    problem = publishable_problem(as_small)
    assert problem is not None and problem.startswith("the run is incomplete (stopped by the wall-clock limit")


# ------------------------------------------------------------------ suites


def test_stereo_cells_record_their_data_protocol():
    from mmphase_bench.data.stereo_dsprites import PROTOCOL_VERSION
    from mmphase_bench.data.stereo_shapes3d import PROTOCOL_VERSIONS

    assert PROTOCOL_VERSION == "stereo-dsprites/2" and PROTOCOL_VERSIONS["paper"] == "stereo-shapes3d/paper/3"
    for name, protocol in (("stereo-dsprites", PROTOCOL_VERSION), ("stereo-shapes3d", PROTOCOL_VERSIONS["paper"])):
        suite = get_suite(name)
        assert suite.cells and all(cell.config["data_protocol"] == protocol for cell in suite.cells)
    assert all("data_protocol" not in cell.config for cell in get_suite("spiked").cells)
    # the cell config is part of the protocol hash: a new data protocol re-runs every stereo result
    cell = get_suite("stereo-dsprites").cells[0]
    old = {**cell.config, "data_protocol": "stereo-dsprites/1"}
    assert protocol_hash("stereo-dsprites", old, SMOKE.to_dict(), "ab" * 32) != protocol_hash(
        "stereo-dsprites", cell.config, SMOKE.to_dict(), "ab" * 32)


@pytest.mark.parametrize("limit", [-1.0, float("nan"), float("inf"), "60", True])
def test_a_bad_wall_clock_limit_is_one_clear_error(tmp_path, limit):
    with pytest.raises(InputError, match="wall_clock_limit_s must be a finite number of seconds >= 0 or None"):
        run_benchmark(config(tmp_path, ["unimodal"], cells=["both"], wall_clock_limit_s=limit))


def test_the_summary_table_marks_incomplete_results(tmp_path):
    (result,) = run_benchmark(config(tmp_path, ["vicreg"], cells=["both"], wall_clock_limit_s=0))
    assert result["status"] == "incomplete"
    table = summary_table([result])
    assert "incomplete (1)" in table and "failed" not in table.splitlines()[-1]
