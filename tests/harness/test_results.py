"""Result files: the schema, atomic writes, JSON round trips and the protocol hash."""

import copy
import json

import numpy as np
import pytest
import torch

from mmphase_bench.harness.results import (
    HEADLINE_METRIC, PROTOCOL_VERSION, SCHEMA_VERSION, log_rank_auc, protocol_hash, provenance, read_result,
    recompute_spectral_auc, result_path, result_schema, validate_result, write_result,
)
from mmphase_bench.harness.scales import SCALES

HASH = "ab" * 32


#: Per rank of the spectral probe (the curve below): the test sums of squares. The test targets'
#: second column is constant, so its R^2 is 1 (sklearn's convention) and each rank's R^2 is
#: (1 - ss_res[0] + 1) / 2: 0.3, 0.75 and 0.8.
SPECTRAL_EVIDENCE = [{"r": 1, "ss_res": [1.4, 0.0], "ss_tot": [1.0, 0.0]},
                     {"r": 2, "ss_res": [0.5, 0.0], "ss_tot": [1.0, 0.0]},
                     {"r": 4, "ss_res": [0.4, 0.0], "ss_tot": [1.0, 0.0]}]
SPECTRAL_AUC = recompute_spectral_auc({"kind": "regression", "spectral": SPECTRAL_EVIDENCE})


def valid_result() -> dict:
    """A harness/2 (schema version 4) regression result whose metrics agree with its evidence."""
    cell_config = {"preset": "both"}
    return {
        "schema_version": SCHEMA_VERSION, "status": "ok", "error": None,
        "submission": {"name": "toy", "family": "CA", "source": "builtin:toy", "source_hash": HASH, "parameters": 12},
        "suite": "spiked",
        "cell": {"name": "both", "config": cell_config, "placement": {"regime": "both", "delta_ca": 2.9}},
        "scale": "smoke", "scale_config": SCALES["smoke"].to_dict(), "seed": 0,
        "metrics": {"r2": 0.75, "penalty": 1.0, "spectral_auc": SPECTRAL_AUC},
        "evidence": {"kind": "regression", "n": 8, "ss_res": [0.5, 0.0], "ss_tot": [1.0, 0.0],
                     "predictions_sha256": "cd" * 32, "targets_sha256": "ef" * 32,
                     "spectral": copy.deepcopy(SPECTRAL_EVIDENCE)},
        "probes": {
            "spectral": {"metric": "r2", "width": 4, "full": 0.8, "auc": SPECTRAL_AUC, "r90": 2,
                         "curve": [{"r": 1, "r2": 0.3, "penalty": 1.0}, {"r": 2, "r2": 0.75, "penalty": 1.0},
                                   {"r": 4, "r2": 0.8, "penalty": 0.1}]},
            "reference": {"metric": "r2", "variant": "extension", "value": 0.4, "size": 100, "steps": 50,
                          "learning_rate": 1e-3, "curve": [{"n": 100, "val": 0.45, "test": 0.4}]},
            "reference_literal": {"metric": "r2", "value": 0.4, "size": 100, "note": "for reproducing the paper only"},
        },
        "curves": {"probe_size": [{"n": 32, "r2": 0.5}, {"n": 64, "r2": 0.6}], "train_loss": [2.0, 1.5], "val_loss": [2.1, 1.7]},
        "diagnostics": {"effective_rank": 2.5, "canonical_correlations": [0.9, 0.5], "nuisance_r2": {}},
        "training": {"epochs": 2, "stopped": "max_epochs"},
        "provenance": provenance(
            protocol=protocol_hash("spiked", cell_config, SCALES["smoke"].to_dict(), HASH),
            fingerprints={"train": "a", "val": "b", "test": "c"}, device=torch.device("cpu"), wall_time=1.5,
        ),
    }


def test_a_valid_result_validates():
    validate_result(valid_result())


def test_the_schema_is_version_4_and_lists_the_required_keys():
    schema = result_schema()
    assert schema["properties"]["schema_version"] == {"const": 4} and SCHEMA_VERSION == 4
    assert set(schema["required"]) == set(valid_result()) - {"scale_config"}
    assert PROTOCOL_VERSION == "harness/2" and HEADLINE_METRIC == "spectral_auc"
    assert set(schema["properties"]["status"]["enum"]) == {"ok", "failed", "incomplete"}


def test_the_example_result_is_consistent():
    result = valid_result()
    assert SPECTRAL_AUC == pytest.approx(((0.3 + 0.75) / 2 + (0.75 + 0.8) / 2) / 2)  # ranks 1, 2, 4: equal log steps
    assert result["metrics"]["spectral_auc"] == result["probes"]["spectral"]["auc"] == recompute_spectral_auc(result["evidence"])
    assert [e["r"] for e in result["evidence"]["spectral"]] == [p["r"] for p in result["probes"]["spectral"]["curve"]]


def test_an_incomplete_result_validates():
    result = valid_result()
    result.update(status="incomplete", error="stopped by the wall-clock limit of 60 s after 3 of 100 epochs")
    result["training"]["stopped"] = "wall_clock_limit"
    validate_result(result)
    record = ResultRecord.from_dict(result)
    assert record.status == "incomplete" and not record.ok and record.to_dict() == json.loads(json.dumps(result))


def test_provenance_fields():
    record = provenance(protocol=HASH, fingerprints={"train": "f"}, device=torch.device("cpu"), wall_time=2.0)
    assert record["protocol_version"] == PROTOCOL_VERSION
    assert record["protocol_hash"] == HASH and record["device"] == "cpu"
    assert record["wall_time_s"] == 2.0 and record["peak_memory_mib"] > 0
    assert record["torch"] == torch.__version__ and record["numpy"] == np.__version__


@pytest.mark.parametrize("key", sorted(result_schema()["required"]))
def test_removing_a_required_key_is_reported(key):
    result = valid_result()
    del result[key]
    with pytest.raises(ValueError, match=rf"at \(top level\): '{key}' is a required property"):
        validate_result(result)


@pytest.mark.parametrize("mutate, where", [
    (lambda r: r["submission"].update(family="XX"), "submission/family"),
    (lambda r: r.update(scale="huge"), "scale"),
    (lambda r: r["submission"].update(source_hash="not-a-hash"), "submission/source_hash"),
    (lambda r: r["submission"].update(source_hash="AB" * 32), "submission/source_hash"),  # upper case is not allowed
    (lambda r: r["provenance"].update(protocol_hash="g" * 64), "provenance/protocol_hash"),
    (lambda r: r.update(status="maybe"), "status"),
    (lambda r: r.update(seed=-1), "seed"),
    (lambda r: r.update(schema_version=1), "schema_version"),
    (lambda r: r["evidence"].update(kind="ranking"), "evidence/kind"),
    (lambda r: r["evidence"].update(ss_res=[-1.0, 0.0]), "evidence/ss_res/0"),
    (lambda r: r["evidence"].update(confusion_matrix=[[1, -2], [0, 3]]), "evidence/confusion_matrix/0/1"),
    (lambda r: r["evidence"].update(predictions_sha256="xyz"), "evidence/predictions_sha256"),
    (lambda r: r["evidence"].update(top1=0.5), "evidence"),
    (lambda r: r["evidence"].pop("n"), "evidence"),
    (lambda r: r["evidence"].update(spectral=[]), "evidence/spectral"),
    (lambda r: r["evidence"].update(spectral=[{"r": 1, "ss_res": [0.5]}] * 65), "evidence/spectral"),
    (lambda r: r["evidence"]["spectral"][0].pop("r"), "evidence/spectral/0"),
    (lambda r: r["evidence"]["spectral"][1].update(r=0), "evidence/spectral/1/r"),
    (lambda r: r["evidence"]["spectral"][1].update(r=1.5), "evidence/spectral/1/r"),
    (lambda r: r["evidence"]["spectral"][2].update(r2=0.8), "evidence/spectral/2"),
    (lambda r: r["evidence"]["spectral"][2].update(ss_res=[-0.4, 0.0]), "evidence/spectral/2/ss_res/0"),
    (lambda r: r["evidence"]["spectral"][0].update(confusion_matrix=[[1, -1]]), "evidence/spectral/0/confusion_matrix/0/1"),
    (lambda r: r["metrics"].update(spectral_auc=1.5), "metrics/spectral_auc"),
    (lambda r: r["metrics"].update(spectral_auc="0.5"), "metrics/spectral_auc"),
    (lambda r: r["probes"]["spectral"].update(width=-1), "probes/spectral/width"),
    (lambda r: r["probes"].pop("spectral"), "probes"),
    (lambda r: r["probes"]["spectral"].update(r90=0), "probes/spectral/r90"),
    (lambda r: r["probes"]["reference"].update(variant="paper"), "probes/reference/variant"),
    (lambda r: r["probes"]["reference_literal"].update(note="headline"), "probes/reference_literal/note"),
    (lambda r: r["probes"]["reference"]["curve"].append({"n": 5}), "probes/reference/curve/1"),
    (lambda r: r["metrics"].update(top1=1.5), "metrics/top1"),
    (lambda r: r["curves"]["probe_size"].append({"r2": 0.1}), "curves/probe_size/2"),
    (lambda r: r.update(extra=1), "(top level)"),
    (lambda r: r["provenance"].pop("device"), "provenance"),
    (lambda r: r["submission"].update(parameters=-3), "submission/parameters"),
])
def test_schema_violations_name_the_place(mutate, where):
    result = valid_result()
    mutate(result)
    with pytest.raises(ValueError, match="result does not match the schema") as error:
        validate_result(result)
    assert f" at {where}: " in str(error.value)


def test_result_path():
    assert result_path("out", "spiked", "vicreg", "both", 3).as_posix() == "out/spiked/vicreg/both__seed3.json"


# ------------------------------------------------------------------ writing and reading


def test_write_result_round_trips(tmp_path):
    result = valid_result()
    path = result_path(tmp_path, "spiked", "toy", "both", 0)
    write_result(path, result)
    assert path.is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == ["both__seed0.json"]  # no temporary files left
    on_disk = json.loads(path.read_text())
    assert on_disk == json.loads(json.dumps(result))
    assert read_result(path) == on_disk
    assert on_disk["scale_config"]["probe_sizes"] == list(SCALES["smoke"].probe_sizes)


def test_write_result_makes_numpy_values_plain(tmp_path):
    result = valid_result()
    result["metrics"]["r2"] = np.float64(0.25)
    result["diagnostics"]["effective_rank"] = np.float32(1.5)
    result["curves"]["train_loss"] = [np.float64(1.0), 0.5]
    write_result(tmp_path / "r.json", result)
    back = read_result(tmp_path / "r.json")
    assert back["metrics"]["r2"] == 0.25 and type(back["metrics"]["r2"]) is float
    assert back["diagnostics"]["effective_rank"] == 1.5
    assert back["curves"]["train_loss"] == [1.0, 0.5]


def test_an_invalid_result_is_not_written(tmp_path):
    result = valid_result()
    result["submission"]["family"] = "XX"
    path = tmp_path / "spiked" / "toy" / "both__seed0.json"
    with pytest.raises(ValueError, match="submission/family"):
        write_result(path, result)
    assert not path.exists()
    assert not path.parent.exists() or list(path.parent.iterdir()) == []


def test_an_invalid_result_does_not_replace_a_previous_one(tmp_path):
    path = tmp_path / "r.json"
    write_result(path, valid_result())
    before = path.read_bytes()
    bad = valid_result()
    bad["scale"] = "huge"
    with pytest.raises(ValueError):
        write_result(path, bad)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    from mmphase_bench.io import atomic

    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_result(tmp_path / "r.json", valid_result())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [b"", b"{not json", b"\xff\xfe\x00garbage", b"[]", b'{"status": "ok"}'])
def test_read_result_returns_none_for_corrupt_or_invalid_files(tmp_path, content):
    path = tmp_path / "r.json"
    path.write_bytes(content)
    assert read_result(path) is None


def test_read_result_returns_none_for_a_missing_file(tmp_path):
    assert read_result(tmp_path / "absent.json") is None


def test_read_result_returns_none_for_a_truncated_file(tmp_path):
    path = tmp_path / "r.json"
    write_result(path, valid_result())
    path.write_text(path.read_text()[:-40])
    assert read_result(path) is None


def test_every_written_result_can_be_read_back(tmp_path):
    result = valid_result()
    result["metrics"]["r2"] = float("nan")
    path = tmp_path / "r.json"
    try:
        write_result(path, result)
    except ValueError:
        return  # refusing to write it is also consistent
    assert read_result(path) is not None


# ------------------------------------------------------------------ protocol hash


def _hash(**changes):
    arguments = {"suite": "spiked", "cell": {"preset": "both", "model": "m"}, "scale": SCALES["smoke"].to_dict(), "submission_hash": HASH}
    arguments.update(changes)
    return protocol_hash(arguments["suite"], arguments["cell"], arguments["scale"], arguments["submission_hash"])


def test_protocol_hash_is_stable_and_hex():
    value = _hash()
    assert len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    assert value == _hash()
    assert _hash(cell={"model": "m", "preset": "both"}) == value  # key order does not matter
    assert _hash(cell=copy.deepcopy({"preset": "both", "model": "m"})) == value
    assert _hash(scale=SCALES["smoke"].to_dict() | {}) == value


@pytest.mark.parametrize("changes", [
    {"cell": {"preset": "ca_only", "model": "m"}},
    {"cell": {"preset": "both", "model": "m", "jitter": 0.2}},
    {"scale": SCALES["small"].to_dict()},
    {"scale": {**SCALES["smoke"].to_dict(), "max_epochs": 3}},
    {"submission_hash": "cd" * 32},
    {"suite": "stereo-dsprites"},
])
def test_protocol_hash_changes_with_what_a_result_depends_on(changes):
    assert _hash(**changes) != _hash()


# ------------------------------------------------------------------ the typed record and the schema


import dataclasses  # noqa: E402
import os  # noqa: E402
import stat  # noqa: E402
import typing  # noqa: E402

from mmphase_bench.errors import InputError, InputTypeError  # noqa: E402
from mmphase_bench.harness import results as results_module  # noqa: E402
from mmphase_bench.harness.results import (  # noqa: E402
    ABSENT_IF_NONE, Metrics, ResultRecord, split_optional, upgrade_result,
)

JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", tuple: "array"}


def _schema_types(prop: dict) -> set[str]:
    """The JSON types a schema property allows (from ``type``, ``enum`` or ``const``)."""
    def of(value):
        return "null" if value is None else {str: "string", int: "integer", float: "number", bool: "boolean"}[type(value)]
    if "type" in prop:
        return set([prop["type"]] if isinstance(prop["type"], str) else prop["type"])
    if "enum" in prop:
        return {of(value) for value in prop["enum"]}
    return {of(prop["const"])}


def _python_type(annotation) -> str:
    if dataclasses.is_dataclass(annotation):
        return "object"
    if typing.get_origin(annotation) is typing.Literal:
        return _schema_types({"enum": list(typing.get_args(annotation))}).pop()
    return JSON_TYPES[typing.get_origin(annotation) or annotation]


def _compare(cls, schema: dict, where: str) -> int:
    """Assert that the dataclass and the schema object agree; returns how many fields were compared."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert set(fields) == set(schema["properties"]), where
    assert schema.get("additionalProperties") is False, f"{where}: the schema must not allow fields the record drops"
    required = {name for name, f in fields.items() if f.default is dataclasses.MISSING}
    assert set(schema.get("required", [])) == required, where
    compared = 0
    for name, f in fields.items():
        prop, base_nullable = schema["properties"][name], split_optional(hints[name])
        base, nullable = base_nullable
        allowed = _schema_types(prop)
        absent = f.metadata.get(ABSENT_IF_NONE, False)
        expected = {_python_type(base)} | ({"null"} if nullable and not absent else set())
        assert allowed == expected, f"{where}/{name}: schema {sorted(allowed)}, dataclass {sorted(expected)}"
        if absent:
            assert nullable and name not in required, f"{where}/{name}"
        if typing.get_origin(base) is typing.Literal:
            assert set(typing.get_args(base)) == set(prop.get("enum", [prop.get("const")])), f"{where}/{name}"
        if dataclasses.is_dataclass(base):
            compared += _compare(base, prop, f"{where}/{name}")
        compared += 1
    return compared


def test_the_record_and_the_schema_list_the_same_fields_and_types():
    # top level, submission, cell, metrics, evidence, probes (itself, spectral, reference, literal), curves,
    # diagnostics, provenance
    # metrics: top1, balanced_accuracy, r2, penalty, spectral_auc; evidence: kind, n, the two hashes,
    # confusion_matrix, ss_res, ss_tot, spectral; probes: spectral, reference, reference_literal, tasks
    assert _compare(ResultRecord, result_schema(), "(top level)") == 16 + 5 + 3 + 5 + 8 + 4 + 6 + 7 + 4 + 3 + 3 + 14


def test_the_schema_check_would_catch_a_disagreement(monkeypatch):
    schema = copy.deepcopy(result_schema())
    schema["properties"]["metrics"]["properties"]["top5"] = {"type": "number"}
    with pytest.raises(AssertionError, match="metrics"):
        _compare(ResultRecord, schema, "(top level)")
    schema = copy.deepcopy(result_schema())
    schema["properties"]["provenance"]["properties"]["git_commit"] = {"type": "string"}  # null no longer allowed
    with pytest.raises(AssertionError, match="git_commit"):
        _compare(ResultRecord, schema, "(top level)")
    schema = copy.deepcopy(result_schema())
    schema["properties"]["evidence"]["type"] = "object"  # null (failed and legacy results) no longer allowed
    with pytest.raises(AssertionError, match="evidence"):
        _compare(ResultRecord, schema, "(top level)")
    schema = copy.deepcopy(result_schema())
    schema["properties"]["evidence"]["required"].append("ss_res")
    with pytest.raises(AssertionError, match="evidence"):
        _compare(ResultRecord, schema, "(top level)")
    schema = copy.deepcopy(result_schema())
    del schema["properties"]["evidence"]["properties"]["spectral"]
    with pytest.raises(AssertionError, match="evidence"):
        _compare(ResultRecord, schema, "(top level)")
    schema = copy.deepcopy(result_schema())
    schema["properties"]["status"]["enum"].remove("incomplete")
    with pytest.raises(AssertionError, match="status"):
        _compare(ResultRecord, schema, "(top level)")
    schema = copy.deepcopy(result_schema())
    schema["properties"]["probes"]["properties"]["spectral"]["properties"]["r90"]["type"] = "integer"
    with pytest.raises(AssertionError, match="probes/spectral/r90"):
        _compare(ResultRecord, schema, "(top level)")


def test_record_round_trips_and_types_fields():
    result = json.loads(json.dumps(valid_result()))
    record = ResultRecord.from_dict(result)
    assert record.to_dict() == result
    assert ResultRecord.from_dict(record.to_dict()) == record
    assert record.submission.name == "toy" and record.cell.placement["regime"] == "both"
    assert record.metrics == Metrics(r2=0.75, penalty=1.0, spectral_auc=SPECTRAL_AUC)
    assert record.metrics.headline == ("spectral_auc", SPECTRAL_AUC)  # the headline since harness/2
    assert Metrics(r2=0.75, penalty=1.0).headline == ("r2", 0.75)  # older results: the converged probe's
    assert Metrics(top1=0.5, balanced_accuracy=0.4).headline == ("top1", 0.5)
    assert record.evidence.spectral == tuple(SPECTRAL_EVIDENCE)
    assert record.curves.train_loss == (2.0, 1.5) and record.diagnostics.canonical_correlations == (0.9, 0.5)
    assert record.evidence.ss_res == (0.5, 0.0) and record.evidence.confusion_matrix is None and record.verified
    assert record.probes.spectral.r90 == 2 and record.probes.spectral.curve[1]["r2"] == 0.75
    assert record.probes.reference.variant == "extension" and record.probes.reference_literal.size == 100
    assert record.key == ("spiked", "smoke", "toy", "both", 0) and record.table == ("spiked", "smoke") and record.ok
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.seed = 3


def test_record_keeps_null_and_absent_apart():
    result = json.loads(json.dumps(valid_result()))
    result["diagnostics"]["canonical_correlations"] = None  # nullable: written as null
    del result["provenance"]["torch_threads"]  # optional, as in older results: stays absent
    del result["scale_config"]
    assert ResultRecord.from_dict(result).to_dict() == result


def test_a_failed_result_round_trips_with_empty_sections():
    result = json.loads(json.dumps(valid_result()))
    result.update(status="failed", error="RuntimeError: boom", metrics={}, evidence=None, probes=None, diagnostics={},
                  curves={"train_loss": [1.0]})
    result["submission"]["parameters"] = None
    record = ResultRecord.from_dict(result)
    assert record.to_dict() == result and not record.ok and record.metrics.headline is None
    assert record.evidence is None and not record.verified and record.probes is None


def test_record_accepts_the_harness_in_memory_dicts():
    result = valid_result()
    result["metrics"]["r2"] = np.float32(0.5)
    assert ResultRecord.from_dict(result).metrics.r2 == 0.5


def test_record_refuses_invalid_results():
    result = valid_result()
    result["metrics"]["top5"] = 0.5  # the sections are closed: a typo is not silently dropped
    with pytest.raises(InputError, match="at metrics: Additional properties are not allowed"):
        ResultRecord.from_dict(result)
    with pytest.raises(InputTypeError, match="must be a JSON object, got list"):
        ResultRecord.from_dict([])
    result = valid_result()
    result["metrics"]["r2"] = np.float64("nan")
    with pytest.raises(InputError, match="NaN or infinite number at metrics/r2"):
        ResultRecord.from_dict(result)


# ------------------------------------------------------------------ upgrading older schema versions


def _version_0(result: dict) -> dict:
    """A made-up version 0: the headline metric was called "score" (and, as in version 1, no evidence)."""
    old = json.loads(json.dumps(result))
    old["schema_version"] = 0
    old["metrics"]["score"] = old["metrics"].pop("r2")
    del old["evidence"]
    del old["probes"]
    return old


def _migrate_0_to_1(result: dict) -> dict:
    result["metrics"]["r2"] = result["metrics"].pop("score")
    return dict(result, schema_version=1)


def test_older_results_are_upgraded_when_read(monkeypatch, tmp_path):
    monkeypatch.setitem(results_module.MIGRATIONS, 0, _migrate_0_to_1)
    current = json.loads(json.dumps(dict(harness_1(valid_result()), evidence=None, probes=None)))  # 0 -> ... -> 4: neither
    old = _version_0(current)
    before = copy.deepcopy(old)
    assert upgrade_result(old) == current
    assert old == before  # the argument is not changed
    assert ResultRecord.from_dict(old).to_dict() == current
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    assert read_result(path) == current


def test_upgrade_refuses_versions_it_cannot_read(monkeypatch):
    old = _version_0(valid_result())
    with pytest.raises(InputError, match="schema_version 0, for which no migration to 1 is registered"):
        upgrade_result(old)
    with pytest.raises(InputError, match="schema_version 5, newer than the 4"):
        ResultRecord.from_dict(dict(valid_result(), schema_version=5))
    monkeypatch.setitem(results_module.MIGRATIONS, 0, lambda result: result)  # forgets to bump the version
    with pytest.raises(RuntimeError, match="did not produce version 1"):
        upgrade_result(old)
    assert upgrade_result({"status": "ok"}) == {"status": "ok"}  # no version: left to the schema to report


def test_the_current_version_needs_no_migration():
    assert set(results_module.MIGRATIONS) == set(range(min(results_module.MIGRATIONS, default=SCHEMA_VERSION), SCHEMA_VERSION))
    result = valid_result()
    assert upgrade_result(result) is result


# ------------------------------------------------------------------ file modes


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_umask_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_result(tmp_path / "r.json", valid_result())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == mode


def test_rewriting_a_file_keeps_its_mode(tmp_path):
    path = tmp_path / "r.json"
    write_result(path, valid_result())
    path.chmod(0o640)
    write_result(path, valid_result())
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


# ------------------------------------------------------------------ version 2: evidence


def harness_1(result: dict) -> dict:
    """``result`` as the harness/1 protocol wrote it (schema versions up to 3): no spectral headline,
    no spectral evidence (still at the current schema version; the callers set an older one)."""
    old = json.loads(json.dumps(result))
    del old["metrics"]["spectral_auc"]
    if old.get("evidence"):
        del old["evidence"]["spectral"]
    old["provenance"]["protocol_version"] = "harness/1"
    return old


def test_version_1_results_migrate_to_evidence_null():
    """A version-1 result (as the 594 of the leaderboard were) reads as version 4 without evidence or probes."""
    current = harness_1(valid_result())
    old = dict(current, schema_version=1)
    del old["evidence"], old["probes"]
    upgraded = upgrade_result(old)
    assert upgraded == dict(current, evidence=None, probes=None) and "evidence" not in old
    record = ResultRecord.from_dict(old)
    assert record.schema_version == 4 and record.evidence is None and not record.verified and record.ok
    assert record.metrics.headline == ("r2", 0.75)


def test_version_2_results_migrate_to_probes_null():
    current = harness_1(valid_result())
    old = dict(current, schema_version=2)
    del old["probes"]
    before = copy.deepcopy(old)
    upgraded = upgrade_result(old)
    assert upgraded == dict(current, probes=None) and old == before
    record = ResultRecord.from_dict(old)
    assert record.schema_version == 4 and record.probes is None and record.verified  # the evidence stays
    assert record.to_dict() == upgraded
    with pytest.raises(InputError, match="'probes' is a required property"):
        ResultRecord.from_dict({key: value for key, value in current.items() if key != "probes"})  # a version 4 must state it


def test_version_3_results_migrate_by_bumping_the_version_only():
    current = harness_1(valid_result())
    old = dict(current, schema_version=3)
    before = copy.deepcopy(old)
    upgraded = upgrade_result(old)
    assert upgraded == current and upgraded["schema_version"] == 4 and old == before
    assert results_module.MIGRATIONS[3](old) == upgraded
    record = ResultRecord.from_dict(old)
    assert record.to_dict() == upgraded and record.verified and record.probes.spectral.auc == SPECTRAL_AUC
    # a harness/1 result has no spectral headline: its headline stays the converged probe's
    assert record.metrics.spectral_auc is None and record.evidence.spectral is None
    assert record.metrics.headline == ("r2", 0.75)
    # a version-3 file could not hold the version-4 fields: an old file is not silently made a new one
    assert "spectral_auc" not in upgraded["metrics"] and "spectral" not in upgraded["evidence"]


def test_a_version_2_result_must_state_its_evidence():
    result = valid_result()
    del result["evidence"]
    with pytest.raises(InputError, match="'evidence' is a required property"):
        ResultRecord.from_dict(result)


def test_recompute_metrics_follows_the_definitions():
    from mmphase_bench.harness.results import recompute_metrics

    metrics = recompute_metrics({"kind": "classification", "confusion_matrix": [[3, 1, 0], [0, 2, 2], [0, 0, 0]]})
    assert metrics == {"top1": 5 / 8, "balanced_accuracy": (3 / 4 + 2 / 4) / 2}  # the empty class has no recall
    assert recompute_metrics({"kind": "regression", "ss_res": [1.0, 0.0, 2.0, 0.0], "ss_tot": [4.0, 0.0, 0.0, 3.0]}) == \
        {"r2": (0.75 + 1.0 + 0.0 + 1.0) / 4}  # sklearn's finite convention for constant columns
    for bad, message in [({"kind": "classification", "confusion_matrix": [[1, 2]]}, "square"),
                         ({"kind": "classification", "confusion_matrix": [[0, 0], [0, 0]]}, "no counts"),
                         ({"kind": "regression", "ss_res": [1.0], "ss_tot": [1.0, 2.0]}, "one length"),
                         ({"kind": "regression", "ss_res": [float("inf")], "ss_tot": [1.0]}, "finite"),
                         ({"kind": "other"}, "kind")]:
        with pytest.raises(InputError, match=message):
            recompute_metrics(bad)


def test_recompute_spectral_auc_follows_the_definitions():
    confusion = {1: [[2, 2], [2, 2]], 3: [[3, 1], [1, 3]], 9: [[4, 0], [0, 4]]}  # top-1 0.5, 0.75, 1
    evidence = {"kind": "classification", "spectral": [{"r": r, "confusion_matrix": m} for r, m in confusion.items()]}
    # trapezoids on log r: log 3 and log 3 again, so the two intervals weigh equally
    assert recompute_spectral_auc(evidence) == pytest.approx(((0.5 + 0.75) / 2 + (0.75 + 1.0) / 2) / 2)
    assert recompute_spectral_auc(evidence) == log_rank_auc([1, 3, 9], [0.5, 0.75, 1.0])
    single = {"kind": "regression", "spectral": [{"r": 1, "ss_res": [3.0], "ss_tot": [4.0]}]}
    assert recompute_spectral_auc(single) == 0.25
    from mmphase_bench.harness.results import Evidence

    record = ResultRecord.from_dict(valid_result())
    assert isinstance(record.evidence, Evidence) and recompute_spectral_auc(record.evidence) == SPECTRAL_AUC
    for bad, message in [({"kind": "classification"}, "no spectral entries"),
                         ({"kind": "classification", "spectral": []}, "no spectral entries"),
                         ({"kind": "regression", "spectral": [{"r": 0, "ss_res": [1.0], "ss_tot": [1.0]}]}, "positive integer rank"),
                         ({"kind": "regression", "spectral": [{"r": 2.0, "ss_res": [1.0], "ss_tot": [1.0]},
                                                              {"r": 3, "ss_res": [1.0], "ss_tot": [1.0]}]}, "positive integer rank"),
                         ({"kind": "regression", "spectral": [{"r": 2, "ss_res": [1.0], "ss_tot": [1.0]},
                                                              {"r": 1, "ss_res": [1.0], "ss_tot": [1.0]}]}, "increasing"),
                         ({"kind": "classification", "spectral": [{"r": 1, "confusion_matrix": [[1, 2]]}]}, "square"),
                         ({"kind": "regression", "spectral": [{"r": 1, "ss_res": [1.0], "ss_tot": [1.0, 2.0]}]}, "one length")]:
        with pytest.raises(InputError, match=message):
            recompute_spectral_auc(bad)


def test_rank_evidence_is_the_test_confusion_matrix_or_the_sums_of_squares():
    from mmphase_bench.harness.results import rank_evidence, recompute_metrics

    entry = rank_evidence("classification", np.array([0, 1, 2, 2]), np.array([0, 2, 2, 2]), np.array([0, 1, 2]))
    assert entry == {"confusion_matrix": [[1, 0, 0], [0, 0, 1], [0, 0, 2]]}
    assert recompute_metrics({"kind": "classification", **entry})["top1"] == 0.75
    targets, predicted = np.array([[1.0, 0.0], [3.0, 2.0]]), np.array([[1.5, 0.0], [2.0, 2.0]])
    entry = rank_evidence("regression", targets, predicted)
    assert set(entry) == {"ss_res", "ss_tot"}
    assert entry["ss_res"] == pytest.approx([1.25, 0.0]) and entry["ss_tot"] == pytest.approx([2.0, 2.0])


def test_array_hashes_use_canonical_bytes():
    import hashlib

    from mmphase_bench.harness.results import array_sha256

    labels = np.array([2, 0, 1], dtype=np.int32)
    assert array_sha256(labels, "classification") == hashlib.sha256(np.array([2, 0, 1], dtype="<i8").tobytes()).hexdigest()
    values = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(3, 2))
    assert array_sha256(values, "regression") == hashlib.sha256(np.arange(6, dtype="<f8").tobytes()).hexdigest()
    assert array_sha256(np.arange(3.0), "regression") == array_sha256(np.arange(3.0).reshape(3, 1), "regression")
    assert array_sha256(values, "regression") != array_sha256(values[::-1], "regression")
