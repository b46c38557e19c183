"""Result files: the schema, atomic writes, JSON round trips and the protocol hash."""

import copy
import json

import numpy as np
import pytest
import torch

from mmphase_bench.harness.results import (
    PROTOCOL_VERSION, SCHEMA_VERSION, protocol_hash, provenance, read_result, result_path, result_schema,
    validate_result, write_result,
)
from mmphase_bench.harness.scales import SCALES

HASH = "ab" * 32


def valid_result() -> dict:
    cell_config = {"preset": "both"}
    return {
        "schema_version": SCHEMA_VERSION, "status": "ok", "error": None,
        "submission": {"name": "toy", "family": "CA", "source": "builtin:toy", "source_hash": HASH, "parameters": 12},
        "suite": "spiked",
        "cell": {"name": "both", "config": cell_config, "placement": {"regime": "both", "delta_ca": 2.9}},
        "scale": "smoke", "scale_config": SCALES["smoke"].to_dict(), "seed": 0,
        "metrics": {"r2": 0.75, "penalty": 1.0},
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


def test_the_schema_is_version_1_and_lists_the_required_keys():
    schema = result_schema()
    assert schema["properties"]["schema_version"] == {"const": 1} and SCHEMA_VERSION == 1
    assert set(schema["required"]) == set(valid_result()) - {"scale_config"}


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
    (lambda r: r.update(schema_version=2), "schema_version"),
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
