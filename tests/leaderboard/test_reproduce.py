"""``reproduce``: re-running published results recreates them bit for bit, and tampered or
unreproducible results are reported."""

import copy
import json
import shutil
from pathlib import Path

import pytest
import torch

from mmphase_bench.cli.main import main
from mmphase_bench.errors import InputError, MissingFileError
from mmphase_bench.harness.runner import RunConfig, run_benchmark
from mmphase_bench.leaderboard.reproduce import compare_results, model_spec, plan_reproduction, reproduce
from mmphase_bench.leaderboard.store import relative_path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "mmphase_bench/examples/linear_autoencoder.py:LinearPredictor"  # a file submission, by relative path
#: The example as a submission of the leaderboard: its file under ``submissions/``, recorded relative to the folder.
SUBMITTED = "submissions/linear_autoencoder.py:LinearPredictor"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A leaderboard folder holding real smoke-scale results: two built-ins and the example file
    submission (under the leaderboard's ``submissions/``), on two spiked cells and two seeds."""
    run = tmp_path_factory.mktemp("reproduce-run")
    board = tmp_path_factory.mktemp("reproduce-board")
    (board / "submissions").mkdir()
    shutil.copy(ROOT / EXAMPLE.split(":")[0], board / "submissions")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(board)  # the submission's recorded source is relative to the leaderboard folder
        results = run_benchmark(RunConfig(models=("linear-cca", "unimodal", SUBMITTED), suite="spiked", cells=("both", "neither"),
                                          scale="smoke", seeds=(0, 1), out=run, device="cpu"))
    assert len(results) == 12 and all(r["status"] == "ok" for r in results)
    for result in results:
        path = board / relative_path(result)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return board


def stored(board: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((board / "results").rglob("*.json"))]


def test_model_spec_from_recorded_sources():
    assert model_spec("builtin:vicreg") == "vicreg"
    assert model_spec("module:my_pkg.models:Aligner") == "my_pkg.models:Aligner"
    assert model_spec("file:mmphase_bench/examples/linear_autoencoder.py:LinearPredictor") == EXAMPLE
    for bad in ("vicreg", "builtin:", "file:model.py", "http:x:y"):
        with pytest.raises(ValueError, match="unrecognised submission source"):
            model_spec(bad)


def test_plan_has_one_run_per_submission_with_its_cells_and_seeds(published, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    plans = plan_reproduction(published, tmp_path / "again", device="cpu")
    assert sorted(plan.name for plan in plans) == ["linear-cca", "linear-predictor", "unimodal"]
    for plan in plans:
        assert sorted(plan.config.cells) == ["both", "neither"] and plan.config.seeds == (0, 1)
        assert plan.config.scale == "smoke" and plan.config.out == tmp_path / "again" / "smoke"
        assert not plan.source_changed
        assert f"--model {plan.model_spec} --suite spiked" in plan.command
    assert {plan.model_spec for plan in plans} == {"linear-cca", "unimodal", f"{published.resolve() / SUBMITTED}"}
    assert plans.skipped == []
    only = plan_reproduction(published, tmp_path, models=("unimodal",))
    assert [plan.name for plan in only] == ["unimodal"]


def test_plan_refuses_selections_with_nothing_published(published, tmp_path):
    for selection in ({"suites": ("stereo-dsprites",)}, {"models": ("vicreg",)}, {"scales": ("paper",)}):
        (parameter,) = selection
        with pytest.raises(InputError, match=f"^{parameter}: nothing published for"):
            plan_reproduction(published, tmp_path, **selection)
    with pytest.raises(MissingFileError, match="^leaderboard: no such folder"):
        plan_reproduction(tmp_path / "missing", tmp_path)


def test_plan_flags_submissions_whose_code_changed(published, tmp_path):
    board = tmp_path / "board"
    for result in stored(published):
        if result["submission"]["name"] == "unimodal":
            result["submission"]["source_hash"] = "0" * 64
        path = board / relative_path(result)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result))
    changed = {plan.name: plan.source_changed for plan in plan_reproduction(board, tmp_path / "again", models=("unimodal", "linear-cca"))}
    assert changed == {"unimodal": True, "linear-cca": False}


def test_reproduce_recreates_published_results_bit_for_bit(published, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    before = {p: p.read_bytes() for p in published.rglob("*") if p.is_file()}
    report = reproduce(published, tmp_path / "again", device="cpu", tolerance=0.0)
    assert len(report.comparisons) == 12
    assert all(c.identical for c in report.comparisons) and report.max_difference == 0.0
    assert report.failures == [] and report.thread_mismatch is None
    assert {p: p.read_bytes() for p in published.rglob("*") if p.is_file()} == before  # the leaderboard is untouched
    assert len(list((tmp_path / "again" / "smoke" / "spiked").glob("*/*.json"))) == 12


def test_cli_reports_a_tampered_result_and_exits_1(published, tmp_path, monkeypatch, capsys):
    board = tmp_path / "board"
    for result in stored(published):
        if result["submission"]["name"] == "linear-cca" and result["cell"]["name"] == "both" and result["seed"] == 1:
            result["metrics"]["spectral_auc"] -= 0.1  # the headline (harness/2)
        path = board / relative_path(result)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result))
    monkeypatch.chdir(ROOT)
    code = main(["leaderboard", "reproduce", "--leaderboard", str(board), "--model", "linear-cca", "--out", str(tmp_path / "again"),
                 "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "NOT REPRODUCED spiked (smoke) linear-cca / both / seed 1" in printed
    assert "4 results compared: 3 identical, 3 within 0.01, 1 not reproduced; largest difference 1.00e-01" in printed


def test_cli_dry_run_prints_runnable_commands(published, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert main(["leaderboard", "reproduce", "--leaderboard", str(published), "--dry-run", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "3 runs planned (dry run)"
    assert not (tmp_path / "smoke").exists()  # nothing ran
    command = next(line for line in lines if "--model unimodal" in line)
    assert command.startswith("mmphase run ") and "--cells both,neither" in command and "--seeds 0,1" in command


def test_compare_flags_missing_failed_and_thread_mismatched_reruns(published):
    results = [r for r in stored(published) if r["submission"]["name"] == "unimodal"]
    rerun = copy.deepcopy(results)
    rerun[0]["status"], rerun[0]["metrics"] = "failed", {}
    del rerun[1]
    report = compare_results(results, rerun)
    assert [c.key for c in report.failures] == [tuple(_key(results[0])), tuple(_key(results[1]))]
    assert report.thread_mismatch is None
    for result in rerun:
        result["provenance"]["torch_threads"] = result["provenance"]["torch_threads"] + 3
    assert "torch threads" in compare_results(results, rerun).thread_mismatch
    rerun[-1]["training"]["stopped"] = "time_budget"
    report = compare_results(results, rerun)
    assert [c.time_limited for c in report.comparisons] == [False, False, False, True]
    assert report.summary().endswith("; 1 stopped at the time budget (machine-speed dependent)")
    with pytest.raises(InputError, match=r"^tolerance must be in \[0, 1\]"):
        compare_results(results, rerun, tolerance=-0.1)


def test_provenance_records_the_torch_thread_count(published):
    assert {r["provenance"]["torch_threads"] for r in stored(published)} == {torch.get_num_threads()}


def _key(result: dict) -> tuple:
    return result["suite"], result["scale"], result["submission"]["name"], result["cell"]["name"], result["seed"]


def test_a_file_source_outside_submissions_runs_only_when_allowed(published, tmp_path, monkeypatch, capsys):
    board = tmp_path / "board"
    shutil.copytree(published / "results", board / "results")  # the results without their submissions/ folder
    monkeypatch.chdir(published)  # where the recorded relative path still finds the file
    source = f"file:{SUBMITTED}"
    (skipped,) = plan_reproduction(board, tmp_path / "again", models=("linear-predictor",)).skipped
    assert skipped.reason.startswith(f"untrusted source {source!r}: not a built-in model") and skipped.results == 4
    (plan,) = plan_reproduction(board, tmp_path / "again", models=("linear-predictor",), allow_sources=[source])
    assert plan.model_spec == SUBMITTED and plan.source_changed is False
    code = main(["leaderboard", "reproduce", "--leaderboard", str(board), "--model", "linear-predictor", "--out",
                 str(tmp_path / "again"), "--device", "cpu", "--allow-source", source])
    assert code == 0 and "4 results compared: 4 identical" in capsys.readouterr().out
