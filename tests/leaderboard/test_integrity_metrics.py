"""Results that verify themselves: ``check`` recomputes every headline metric from the result's
evidence and refuses forged, out-of-range, missing or extra metrics, oversized files and edited
legacy results, each with one line naming the file."""

import copy
import re
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, r2_score

from mmphase_bench.cli.main import main
from mmphase_bench.harness import probe as probe_module
from mmphase_bench.harness.results import array_sha256, log_rank_auc, recompute_metrics, recompute_spectral_auc
from mmphase_bench.leaderboard.integrity import LEGACY_MANIFEST, MAX_RESULT_BYTES, read_legacy_manifest, sha256_bytes
from mmphase_bench.leaderboard.publish import publish
from mmphase_bench.leaderboard.store import check_results, relative_path, write_legacy_manifest

from leaderboard_evidence import as_harness1, rehash  # noqa: E402  (tests/leaderboard helper)

REPO_BOARD = Path(__file__).resolve().parents[2] / "leaderboard"
#: One of the 594 legacy (version-1, evidence-less) results retired from the public record, kept as a
#: fixture with its manifest line (copied from the repository's history, commit 4eca908).
LEGACY_BOARD = Path(__file__).resolve().parent / "fixtures" / "legacy"
LEGACY = "results/spiked/vicreg/both__seed2.json"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Real smoke results (2 spiked regression, 1 stereo-dsprites classification) with the test
    targets and predictions the probe scored them on, captured from the probe."""
    from mmphase_bench.harness.runner import RunConfig, run_benchmark

    captured = []
    original = probe_module._headline

    def spy(kind, model, features, targets):
        captured.append((kind, np.array(targets), np.array(model.predict(features))))
        return original(kind, model, features, targets)

    out = tmp_path_factory.mktemp("integrity-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(probe_module, "_headline", spy)
        results = run_benchmark(RunConfig(models=("linear-cca", "unimodal"), suite="spiked", cells=("both",), scale="smoke",
                                          seeds=(0,), out=out, device="cpu"))
        results += run_benchmark(RunConfig(models=("linear-cca",), suite="stereo-dsprites", cells=("jitter0.5-noise0.9",),
                                           scale="smoke", seeds=(0,), out=out, device="cpu"))
    assert [r["status"] for r in results] == ["ok"] * 3 and len(captured) == 3
    return list(zip(results, captured))


def publishable(result: dict) -> dict:
    """A smoke result as a leaderboard result (smoke scale is refused for another reason)."""
    return dict(copy.deepcopy(result), scale="small")


def write(board: Path, result: dict) -> Path:
    """Write ``result`` where a small-scale result belongs (without validating it: forged ones too)."""
    assert result["scale"] == "small"
    path = board / "results" / result["suite"] / result["submission"]["name"] / f"{result['cell']['name']}__seed{result['seed']}.json"
    assert path == board / relative_path(json.loads(json.dumps(fresh_layout(result))))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return path


def fresh_layout(result: dict) -> dict:
    """A valid stand-in of ``result`` with its key (to check where :func:`write` puts files)."""
    return {**result, "metrics": {}, "evidence": None, "status": "failed"}


@pytest.fixture
def board(tmp_path, fresh):
    board = tmp_path / "board"
    (board / "results").mkdir(parents=True)
    for result, _ in fresh:
        write(board, publishable(result))
    return board


def regression(fresh) -> dict:
    return publishable(fresh[0][0])


def classification(fresh) -> dict:
    return publishable(fresh[2][0])


def problems_of(board: Path) -> list[str]:
    return check_results(board)[1]


def only_problem(board: Path, path: Path) -> str:
    problems = problems_of(board)
    where = str(path.relative_to(board))
    assert len(problems) == 1 and problems[0].startswith(f"{where}: "), problems
    assert "\n" not in problems[0]
    return problems[0]


# ------------------------------------------------------------------ fresh results verify themselves


def test_fresh_results_pass_and_recompute_exactly_against_sklearn(board, fresh):
    assert problems_of(board) == []
    for result, (kind, targets, predicted) in fresh:
        evidence, metrics = result["evidence"], result["metrics"]
        assert evidence["kind"] == kind and evidence["n"] == len(targets) == result["scale_config"]["n_test"]
        assert evidence["predictions_sha256"] == array_sha256(predicted, kind)
        assert evidence["targets_sha256"] == array_sha256(targets, kind)
        recomputed = recompute_metrics(evidence)
        if kind == "classification":
            assert np.asarray(evidence["confusion_matrix"]).sum() == len(targets)
            expected = {"top1": float(np.mean(predicted == targets)),
                        "balanced_accuracy": float(balanced_accuracy_score(targets, predicted))}
        else:
            expected = {"r2": float(r2_score(targets.astype(np.float64), predicted.astype(np.float64)))}
        assert recomputed == expected == {name: metrics[name] for name in expected}  # bit for bit


def test_fresh_results_hold_the_spectral_headline_and_its_evidence(fresh):
    """harness/2: metrics.spectral_auc is the spectral probe's AUC, recomputed exactly from one
    confusion matrix (or sums of squares) per rank of the probe's curve."""
    for result, (kind, targets, _) in fresh:
        assert result["provenance"]["protocol_version"] == "harness/2" and result["schema_version"] == 4
        evidence, metrics, spectral = result["evidence"], result["metrics"], result["probes"]["spectral"]
        assert "evidence" not in spectral  # moved to evidence.spectral
        key = "top1" if kind == "classification" else "r2"
        assert [entry["r"] for entry in evidence["spectral"]] == [point["r"] for point in spectral["curve"]]
        for entry, point in zip(evidence["spectral"], spectral["curve"]):
            if kind == "classification":
                assert set(entry) == {"r", "confusion_matrix"}
                assert np.asarray(entry["confusion_matrix"]).sum() == len(targets) == evidence["n"]
            else:
                assert set(entry) == {"r", "ss_res", "ss_tot"}
            assert recompute_metrics({"kind": kind, **entry})[key] == point[key]  # bit for bit
        ranks, values = [p["r"] for p in spectral["curve"]], [p[key] for p in spectral["curve"]]
        assert metrics["spectral_auc"] == spectral["auc"] == recompute_spectral_auc(evidence) == log_rank_auc(ranks, values)


def test_a_consistent_harness1_result_passes_without_the_spectral_headline(board, fresh):
    """Older results keep their converged headline: no spectral_auc, no evidence.spectral, still verified."""
    for result, _ in fresh:
        write(board, as_harness1(publishable(result)))
    assert problems_of(board) == []
    stored, _ = check_results(board)
    assert {item.record.provenance.protocol_version for item in stored} == {"harness/1"}
    assert all(item.record.metrics.headline[0] in ("top1", "r2") for item in stored)


def test_the_cli_check_passes_on_fresh_results_once_built(board, capsys):
    assert main(["leaderboard", "build", "--leaderboard", str(board)]) == 0
    assert main(["leaderboard", "check", "--leaderboard", str(board)]) == 0


# ------------------------------------------------------------------ the probes of an adversarial submitter


def _edit(edit):
    def apply(result):
        edit(result)
        return result
    return apply


@pytest.mark.parametrize("which, edit, reason", [
    ("regression", lambda r: r["metrics"].update(r2=0.999), r"metrics/r2 = 0\.999 mismatches the .* its evidence gives"),
    ("regression", lambda r: r["metrics"].update(r2=12345.0), r"metrics/r2 = 12345\.0 is out of range \(R\^2 is at most 1\)"),
    ("regression", lambda r: r.update(metrics={}), r"status ok but the metrics are empty"),
    ("regression", lambda r: r["metrics"].update(top1=0.9),
     r"extra metric\(s\) top1 for a regression result \(allowed: r2, spectral_auc, penalty\)"),
    ("regression", lambda r: r["metrics"].update(penalty=0.5), r"metrics/penalty = 0\.5 is not one the probe tries"),
    ("regression", lambda r: r["evidence"].update(ss_res=[0.0 for _ in r["evidence"]["ss_res"]]),
     r"metrics/r2 = .* mismatches the 1\.0 its evidence gives"),
    ("regression", lambda r: r.update(evidence=None), r"no evidence to recompute its metrics from \(only legacy results listed"),
    ("regression", lambda r: r["evidence"].update(kind="classification", confusion_matrix=[[5]]),
     r"evidence is for classification but the result is regression"),
    ("classification", lambda r: r["metrics"].pop("balanced_accuracy"),
     r"missing metric\(s\) balanced_accuracy for a classification result"),
    ("classification", lambda r: r["metrics"].update(r2=0.5), r"extra metric\(s\) r2 for a classification result"),
    ("classification", lambda r: r["metrics"].update(top1=1.5), r"metrics/top1: 1\.5 is greater than the maximum of 1"),
    ("classification", lambda r: r["evidence"]["confusion_matrix"][0].__setitem__(0, r["evidence"]["confusion_matrix"][0][0] + 7),
     r"evidence/confusion_matrix sums to \d+, not to the test size 128"),
    ("classification", lambda r: r["evidence"].update(n=r["evidence"]["n"] + 7),
     r"evidence/n = 135 differs from the scale's test size 128"),
    ("classification", lambda r: r["evidence"].update(confusion_matrix=_moved(r["evidence"]["confusion_matrix"])),
     r"metrics/top1 = .* mismatches the .* its evidence gives"),
    ("classification", lambda r: r["metrics"].update(top1=0.999), r"metrics/top1 = 0\.999 mismatches"),
    # Fabricated provenance: a made-up protocol hash, or a made-up source hash with the old protocol hash.
    ("regression", lambda r: r["provenance"].update(protocol_hash="0" * 64),
     r"provenance/protocol_hash does not match the protocol version, suite, cell, scale and source hash"),
    ("classification", lambda r: r["submission"].update(source_hash="f" * 64),
     r"provenance/protocol_hash does not match"),
    # The spectral headline (harness/2): required, range-checked, recomputed from evidence.spectral.
    ("regression", lambda r: r["metrics"].pop("spectral_auc"), r"missing metric\(s\) spectral_auc for a regression result"),
    ("classification", lambda r: r["metrics"].pop("spectral_auc"),
     r"missing metric\(s\) spectral_auc for a classification result"),
    ("regression", lambda r: r["evidence"].pop("spectral"), r"evidence/spectral is missing: spectral_auc cannot be recomputed"),
    ("classification", lambda r: r["evidence"].pop("spectral"),
     r"evidence/spectral is missing: spectral_auc cannot be recomputed"),
    ("classification", lambda r: r["metrics"].update(spectral_auc=1.5),
     r"metrics/spectral_auc: 1\.5 is greater than the maximum of 1"),
    ("classification", lambda r: r["metrics"].update(spectral_auc=-0.1),
     r"metrics/spectral_auc = -0\.1 is out of range \(\[0, 1\]\)"),
    ("regression", lambda r: r["metrics"].update(spectral_auc=1.5), r"metrics/spectral_auc: 1\.5 is greater than the maximum of 1"),
    # a regression AUC is a mean of R^2, which may be negative: in range, but not what the evidence gives
    ("regression", lambda r: r["metrics"].update(spectral_auc=-0.5), r"metrics/spectral_auc = -0\.5 mismatches the .* its evidence gives"),
    ("classification", lambda r: r["metrics"].update(spectral_auc=0.999), r"metrics/spectral_auc = 0\.999 mismatches"),
    # a tampered rank: one correct prediction of the last rank moved off the diagonal (the same total)
    # (the plotted curve point no longer matches its evidence: refused before the AUC is compared)
    ("classification", lambda r: _tamper_rank(r, -1, _moved),
     r"probes/spectral/curve at r = \d+: .* is not the .* its evidence gives"),
    ("classification", lambda r: _tamper_rank(r, 0, _seven_more),
     r"evidence/spectral at r = 1: the true-class counts differ from the headline confusion matrix's"),
    ("regression", lambda r: [entry.update(ss_res=[0.0 for _ in entry["ss_res"]]) for entry in r["evidence"]["spectral"]],
     r"probes/spectral/curve at r = 1: .* is not the 1\.0 its evidence gives"),
    ("regression", lambda r: r["evidence"]["spectral"].reverse(), r"evidence/spectral ranks \[3, 2, 1\] .* are not the spectral probe.s ranks \[1, 2, 3\]"),
    ("classification", lambda r: r["probes"]["spectral"].update(auc=r["probes"]["spectral"]["auc"] - 0.01),
     r"probes/spectral/auc = .* differs from metrics/spectral_auc"),
    # protocol versions: harness/1 has no spectral headline; any other version must have it (the
    # classification result is alone in its table, so no table mixes versions)
    ("classification", lambda r: _as_version(r, "harness/1", drop=("metrics",)),
     r"evidence/spectral in a harness/1 result, which has no spectral headline"),
    ("classification", lambda r: _as_version(r, "harness/1", drop=("evidence",)),
     r"extra metric\(s\) spectral_auc for a classification result \(allowed: top1, balanced_accuracy, penalty\)"),
    ("classification", lambda r: _as_version(r, "harness/3", drop=("evidence",)),
     r"provenance/protocol_version 'harness/3' is not one this package knows \(harness/1, harness/2\)"),
])
def test_each_forgery_is_refused_with_one_line_naming_the_file(board, fresh, which, edit, reason):
    result = regression(fresh) if which == "regression" else classification(fresh)
    edit(result)
    path = write(board, result)
    assert re.search(reason, only_problem(board, path))


def _tamper_rank(result, index, edit):
    entry = result["evidence"]["spectral"][index]
    entry["confusion_matrix"] = edit(entry["confusion_matrix"])


def _seven_more(matrix):
    return [[row[0] + 7, *row[1:]] if i == 0 else row for i, row in enumerate(matrix)]


def _as_version(result, version, drop=()):
    """``result`` (edited) of another protocol version with a consistent hash, without its
    ``spectral_auc`` ("metrics") and / or its ``evidence.spectral`` ("evidence")."""
    if "metrics" in drop:
        result["metrics"].pop("spectral_auc")
    if "evidence" in drop:
        result["evidence"].pop("spectral")
    result["provenance"]["protocol_version"] = version
    rehash(result)


def _moved(matrix):
    """The same total, one correct prediction moved off the diagonal: the recomputed top-1 drops."""
    moved = copy.deepcopy(matrix)
    row = next(i for i, values in enumerate(moved) if values[i] > 0)
    moved[row][row] -= 1
    moved[row][(row + 1) % len(moved)] += 1
    return moved


def test_non_finite_metrics_are_refused(board, fresh):
    result = regression(fresh)
    path = write(board, result)
    path.write_text(path.read_text().replace(f'"r2": {result["metrics"]["r2"]!r}', '"r2": NaN'))
    assert "NaN or infinite number at metrics/r2" in only_problem(board, path)


def test_a_50_mb_file_is_refused_before_it_is_parsed(board, fresh, monkeypatch):
    result = regression(fresh)
    path = write(board, result)
    text = path.read_text()
    path.write_text(text[:-2] + " " * 50_000_000 + text[-2:])  # still valid JSON, still the same result
    assert json.loads(path.read_text()) == json.loads(json.dumps(result))

    parse = json.loads

    def no_parsing(text, *args, **kwargs):
        assert len(text) <= MAX_RESULT_BYTES, "an oversized file was parsed"
        return parse(text, *args, **kwargs)

    monkeypatch.setattr("mmphase_bench.leaderboard.store.json.loads", no_parsing)
    problem = only_problem(board, path)
    assert f": {path.stat().st_size} bytes, above the {MAX_RESULT_BYTES}-byte size limit" in problem


def test_the_size_limit_is_well_above_the_real_results():
    largest = max(path.stat().st_size for path in (REPO_BOARD / "results").rglob("*.json"))
    assert 4000 < largest < MAX_RESULT_BYTES // 50


def test_the_cli_check_prints_the_reason_and_exits_1(board, fresh, capsys):
    main(["leaderboard", "build", "--leaderboard", str(board)])
    result = regression(fresh)
    result["metrics"]["r2"] = 0.999
    path = write(board, result)
    capsys.readouterr()
    assert main(["leaderboard", "check", "--leaderboard", str(board)]) == 1
    assert f"PROBLEM {path.relative_to(board)}: metrics/r2 = 0.999 mismatches" in capsys.readouterr().err


def test_publish_refuses_a_forged_result(board, fresh, tmp_path):
    run = tmp_path / "run"
    result = regression(fresh)
    result["metrics"]["r2"] = 0.999
    result["seed"] = 7
    write(run, result)
    report = publish(run, board)
    assert report.published == [] and "mismatches" in report.refused[0][1]


# ------------------------------------------------------------------ legacy results


@pytest.fixture
def legacy_board(tmp_path):
    """A leaderboard with one of the retired legacy results and its manifest line."""
    board = tmp_path / "legacy"
    target = board / LEGACY
    target.parent.mkdir(parents=True)
    shutil.copyfile(LEGACY_BOARD / LEGACY, target)
    line = next(line for line in (LEGACY_BOARD / LEGACY_MANIFEST).read_text().splitlines() if line.endswith(f"  {LEGACY}"))
    (board / LEGACY_MANIFEST).write_text(line + "\n")
    return board


def test_the_public_record_has_no_evidence_less_results_left():
    """The legacy results were retired when the leaderboard was re-seeded at harness/2."""
    assert read_legacy_manifest(REPO_BOARD) == {}
    assert all(json.loads(path.read_text())["evidence"] is not None for path in (REPO_BOARD / "results").rglob("*.json"))


def test_a_listed_legacy_result_passes_and_is_marked_unverified(legacy_board):
    stored, problems = check_results(legacy_board)
    assert problems == [] and len(stored) == 1
    assert stored[0].record.evidence is None and not stored[0].record.verified


@pytest.mark.parametrize("edit", [
    lambda text: text.replace('"r2": 0.', '"r2": 0.9', 1),  # a better score
    lambda text: text.replace('\n}', '\n}\n'),  # the same content, other bytes
])
def test_an_edited_legacy_result_is_refused(legacy_board, edit):
    path = legacy_board / LEGACY
    text = path.read_text()
    path.write_text(edit(text))
    assert path.read_text() != text
    assert "its bytes differ from its line in legacy-results.sha256 (an edited legacy result)" in only_problem(legacy_board, path)


def test_an_unlisted_evidence_less_result_is_refused(legacy_board):
    result = json.loads((legacy_board / LEGACY).read_text())
    result["seed"] = 5  # a forged "legacy" result: no evidence, not in the manifest
    path = write(legacy_board, result)
    assert "no evidence to recompute its metrics from" in only_problem(legacy_board, path)


def test_a_malformed_manifest_is_one_problem(legacy_board):
    (legacy_board / LEGACY_MANIFEST).write_text("not a line\n")
    problems = problems_of(legacy_board)
    assert problems[0] == f"{LEGACY_MANIFEST}: line 1 is not a 'sha256  results/...json' line of a new path"
    assert any("no evidence" in problem for problem in problems[1:])  # nothing is blessed by a broken manifest


def test_write_legacy_manifest_lists_only_evidence_less_results(board, legacy_board):
    for path in (board / "results").rglob("*.json"):
        target = legacy_board / path.relative_to(board)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    write_legacy_manifest(legacy_board)
    assert list(read_legacy_manifest(legacy_board)) == [LEGACY]


def test_spectral_evidence_at_other_ranks_than_the_protocols_is_refused(board, fresh):
    """A forger cannot replace the per-rank evidence by one full-width entry (the converged probe's
    confusion matrix) with a matching AUC: the ranks must be those of the probe's width."""
    result = classification(fresh)
    full = result["evidence"]["spectral"][-1]
    result["evidence"]["spectral"] = [{"r": 1, "confusion_matrix": full["confusion_matrix"]}]
    from mmphase_bench.harness.results import recompute_spectral_auc

    result["metrics"]["spectral_auc"] = recompute_spectral_auc(result["evidence"])
    result["probes"]["spectral"]["auc"] = result["metrics"]["spectral_auc"]
    path = write(board, result)
    assert re.search(r"evidence/spectral ranks \[1\] .* are not the spectral probe's ranks", only_problem(board, path))
