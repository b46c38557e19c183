"""The leaderboard's own placements (placements/<suite>__<scale>.json): written, validated as
untrusted input, and shown per cell in place of the results' own placement."""

import json

import pytest

from mmphase_bench.errors import InputError
from mmphase_bench.leaderboard.aggregate import CellColumn, Table
from mmphase_bench.leaderboard.placements import load_placements, placements_path, primary, write_placements
from mmphase_bench.leaderboard.render import placement_agreement, with_placements


def _placement(regime="ca_only", ca=1.3, cp=0.4):
    return {"delta_ca": ca, "delta_cp": cp, "delta_cp_reverse": None, "regime": regime,
            "ci": {"delta_ca": [1.1, "inf"], "delta_cp": [0.2, 0.6], "delta_cp_reverse": None},
            "signal_rules": {"elbow": {"delta_ca": 0.9, "delta_cp": 0.4, "regime": "neither"}}}


def _cells():
    return {"jitter0.5-noise0.5": {"raw": _placement("neither", 0.9, 0.7), "unimodal": _placement()}}


def test_written_placements_read_back(tmp_path):
    path = write_placements(tmp_path, "stereo-dsprites", "small", _cells(), signal_rule="permutation", seed=0)
    assert path == placements_path(tmp_path, "stereo-dsprites", "small")
    found, problems = load_placements(tmp_path)
    assert problems == [] and found == {("stereo-dsprites", "small"): _cells()}
    assert primary(found["stereo-dsprites", "small"]["jitter0.5-noise0.5"])[0] == "unimodal"


def test_nothing_to_read_is_no_problem(tmp_path):
    assert load_placements(tmp_path) == ({}, [])


@pytest.mark.parametrize("edit, reason", [
    (lambda d: d.pop("seed"), "must have exactly the keys"),
    (lambda d: d.update(suite="nope"), "suite 'nope' is not a registered suite"),
    (lambda d: d["cells"].update({"jitter9-noise9": d["cells"]["jitter0.5-noise0.5"]}), "cells/jitter9-noise9: the suite has no such cell"),
    (lambda d: d["cells"]["jitter0.5-noise0.5"]["unimodal"].update(delta_ca=-1.0), "delta_ca must be a finite non-negative number"),
    (lambda d: d["cells"]["jitter0.5-noise0.5"]["unimodal"].update(regime="maybe"), "regime must be one of"),
    (lambda d: d["cells"]["jitter0.5-noise0.5"].update(pixels={}), "must map feature kinds"),
    (lambda d: d["cells"]["jitter0.5-noise0.5"]["raw"]["ci"].update(delta_ca=[1.0]), "must be a \\[low, high\\] pair"),
    (lambda d: d["cells"]["jitter0.5-noise0.5"]["raw"]["signal_rules"]["elbow"].update(delta_cp="x"), "signal_rules/elbow/delta_cp"),
])
def test_a_bad_placements_file_is_one_problem_naming_it(tmp_path, edit, reason):
    write_placements(tmp_path, "stereo-dsprites", "small", _cells(), signal_rule="permutation", seed=0)
    path = placements_path(tmp_path, "stereo-dsprites", "small")
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))
    found, problems = load_placements(tmp_path)
    assert found == {} and len(problems) == 1
    assert problems[0].startswith("placements/stereo-dsprites__small.json: ")
    assert __import__("re").search(reason, problems[0])


def test_other_files_and_bad_json_are_problems(tmp_path):
    folder = tmp_path / "placements"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    (folder / "spiked__small.json").write_text("{not json")
    _, problems = load_placements(tmp_path)
    assert len(problems) == 2 and any("not valid JSON" in p for p in problems) and any("not a placements file" in p for p in problems)


def test_write_refuses_an_invalid_document(tmp_path):
    with pytest.raises(InputError, match="placements of stereo-dsprites \\(small\\): cells/nowhere"):
        write_placements(tmp_path, "stereo-dsprites", "small", {"nowhere": {"raw": _placement()}}, signal_rule="elbow", seed=0)


def test_the_leaderboards_placement_replaces_the_results_own():
    column = CellColumn("jitter0.5-noise0.5", "neither", {"jitter": 0.5, "noise_y": 0.5, "nuisance_alignment": 0.5},
                        {"delta_ca": 0.5, "delta_cp": 0.2, "regime": "neither"})
    table = Table("stereo-dsprites", "small", "spectral_auc", [column], [])
    (placed,) = with_placements([table], {("stereo-dsprites", "small"): _cells()})
    (column,) = placed.columns
    assert column.regime == "ca_only" and column.placement["features"] == "unimodal"
    (row,) = placement_agreement(placed)
    assert row["features"] == "unimodal" and row["delta_ca"] == "1.30 [1.10, inf]"
    assert row["other"].startswith("raw: Neither, Δ_CA 0.90")
