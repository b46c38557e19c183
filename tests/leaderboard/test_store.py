"""The leaderboard folder and ``check``: every kind of problem is reported and names its file."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mmphase_bench.harness.results import validate_result
from mmphase_bench.errors import MissingFileError

from leaderboard_evidence import as_harness1, rehash  # noqa: E402  (tests/leaderboard helper)
from mmphase_bench.leaderboard.build import build, check
from mmphase_bench.leaderboard.store import RENDERED_FILES, load_folder, relative_path


@pytest.fixture(scope="module")
def built_board(tmp_path_factory, smoke_run):
    """A rendered leaderboard of real harness results (smoke runs relabelled as small scale)."""
    board = tmp_path_factory.mktemp("store-board")
    for path in sorted(smoke_run.glob("spiked/[!_]*/*.json")):
        result = dict(json.loads(path.read_text()), scale="small")
        validate_result(result)
        write(board / relative_path(result), result)
    assert build(board) == list(RENDERED_FILES)
    return board


@pytest.fixture
def board(tmp_path, built_board):
    """A private copy of the built leaderboard, to tamper with."""
    return Path(shutil.copytree(built_board, tmp_path / "board"))


def write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


def a_result(board: Path, name="results/spiked/unimodal/both__seed0.json") -> tuple[Path, dict]:
    path = board / name
    return path, json.loads(path.read_text())


def problems_naming(problems: list[str], name: str) -> list[str]:
    return [p for p in problems if p.startswith(f"{name}:")]


def test_fresh_board_checks_clean(board):
    assert check(board) == []
    assert check(str(board)) == []
    stored, problems = load_folder(board)
    assert problems == [] and len(stored) == 16
    assert {item.table for item in stored} == {("spiked", "small")}
    assert all((board / name).is_file() for name in RENDERED_FILES)


# One tampered copy holds every kind of bad result file, each in its own file; ``check`` runs once.
NOT_JSON = "results/spiked/unimodal/both__seed7.json"
SCHEMA_INVALID = "results/spiked/unimodal/ca_only__seed0.json"
MISSING_FIELD = "results/spiked/unimodal/ca_only__seed1.json"
MISNAMED = "results/spiked/unimodal/both__seed9.json"  # holds both__seed0's content
WRONG_FOLDER = "results/spiked/linear-cca/both__seed5.json"  # holds a unimodal result
SMOKE = "results/spiked/unimodal/cp_only__seed0.json"
FAILED = "results/spiked/unimodal/neither__seed0.json"
OTHER_PROTOCOL = "results/spiked/linear-cca/both__seed1.json"


@pytest.fixture(scope="module")
def tampered(built_board, tmp_path_factory):
    board = Path(shutil.copytree(built_board, tmp_path_factory.mktemp("tampered") / "board"))
    (board / NOT_JSON).write_text("{this is not json")
    path, result = a_result(board, SCHEMA_INVALID)
    write(path, dict(result, scale="huge"))
    path, result = a_result(board, MISSING_FIELD)
    del result["provenance"]["protocol_version"]
    write(path, result)
    _, result = a_result(board)
    write(board / MISNAMED, result)
    write(board / WRONG_FOLDER, dict(result, seed=5))
    path, result = a_result(board, SMOKE)
    write(path, dict(result, scale="smoke"))
    path, result = a_result(board, FAILED)
    write(path, dict(result, status="failed", error="RuntimeError: boom", metrics={}))
    path, result = a_result(board, OTHER_PROTOCOL)
    write(path, as_harness1(result))  # a consistent result of the older protocol
    return check(board)


def test_not_json_is_reported(tampered):
    assert len(problems_naming(tampered, NOT_JSON)) == 1


def test_schema_invalid_result_is_reported(tampered):
    (problem,) = problems_naming(tampered, SCHEMA_INVALID)
    assert "schema" in problem and "scale" in problem


def test_a_result_missing_a_required_field_is_reported(tampered):
    (problem,) = problems_naming(tampered, MISSING_FIELD)
    assert "protocol_version" in problem


def test_misnamed_file_is_reported_with_where_it_belongs(tampered):
    assert f"{MISNAMED}: misnamed; its content says it belongs at results/spiked/unimodal/both__seed0.json" in tampered
    assert f"{MISNAMED}: duplicate of results/spiked/unimodal/both__seed0.json" in tampered


def test_file_in_the_wrong_submission_folder_is_misnamed(tampered):
    assert f"{WRONG_FOLDER}: misnamed; its content says it belongs at results/spiked/unimodal/both__seed5.json" in tampered


def test_smoke_scale_result_is_reported(tampered):
    # A smoke result is also misnamed: scales other than small live in a subfolder.
    assert any("smoke-scale results are for tests only" in problem for problem in problems_naming(tampered, SMOKE))


def test_failed_result_is_reported(tampered):
    (problem,) = problems_naming(tampered, FAILED)
    assert "failed" in problem and "boom" in problem


def test_two_protocol_versions_in_one_table_are_reported(tampered):
    # a table-level problem: it names the table and the versions (not the files that carry them)
    assert "table spiked (small) mixes protocol versions: harness/1, harness/2" in tampered


def test_only_the_bad_files_are_blamed(tampered):
    # only the tampered files are named; the readable ones among them (smoke, failed, misnamed, other
    # protocol) change the tables, so the rendered files are out of date too
    files = {p.split(":")[0] for p in tampered if p.startswith("results/")}
    assert files == {NOT_JSON, SCHEMA_INVALID, MISSING_FIELD, MISNAMED, WRONG_FOLDER, SMOKE, FAILED}
    assert {p.split(":")[0] for p in tampered if not p.startswith(("results/", "table "))} == set(RENDERED_FILES)


def test_protocol_versions_may_differ_between_tables(board):
    path, result = a_result(board)
    path.unlink()
    write(board / relative_path(dict(result, scale="paper")), as_harness1(dict(result, scale="paper")))
    build(board)
    assert check(board) == []
    versions = {item.table: {item.record.provenance.protocol_version} for item in load_folder(board)[0]}
    assert versions == {("spiked", "small"): {"harness/2"}, ("spiked", "paper"): {"harness/1"}}


def test_an_invented_protocol_version_is_refused(board):
    """A version this package does not know cannot be checked: the file is refused, naming it."""
    path, result = a_result(board)
    result["provenance"]["protocol_version"] = "harness/9"
    write(path, rehash(result))
    problems = check(board)
    assert any(problem.startswith("results/spiked/unimodal/both__seed0.json: provenance/protocol_version 'harness/9' "
                                  "is not one this package knows") for problem in problems)


def edit_by_hand(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "unimodal" in text
    path.write_text(text.replace("unimodal", "unimodal (best!)", 1), encoding="utf-8")


OUT_OF_DATE = "{}: out of date with the results; run `mmphase leaderboard build`"
MISSING = "{}: missing; run `mmphase leaderboard build`"


def test_rendered_files_edited_by_hand_or_missing_are_reported(board):
    edit_by_hand(board / "README.md")
    edit_by_hand(board / "leaderboard.csv")
    (board / "index.html").unlink()
    assert sorted(check(board)) == sorted([OUT_OF_DATE.format("README.md"), OUT_OF_DATE.format("leaderboard.csv"),
                                           MISSING.format("index.html")])


def test_rendered_files_edited_by_hand_or_missing_are_reported_the_other_way_round(board):
    edit_by_hand(board / "index.html")
    (board / "README.md").unlink()
    (board / "leaderboard.csv").unlink()
    assert sorted(check(board)) == sorted([OUT_OF_DATE.format("index.html"), MISSING.format("README.md"),
                                           MISSING.format("leaderboard.csv")])


def test_new_result_makes_rendered_files_out_of_date(board):
    _, result = a_result(board)
    result = dict(result, seed=2)
    write(board / relative_path(result), result)
    problems = check(board)
    assert sorted(p.split(":")[0] for p in problems) == sorted(RENDERED_FILES)
    build(board)
    assert check(board) == []


def test_non_existent_folder_is_reported(tmp_path):
    missing = tmp_path / "nowhere"
    assert check(missing) == [f"{missing}: no such leaderboard folder"]


def test_a_folder_without_results_is_not_a_leaderboard(tmp_path):
    assert check(tmp_path) == [f"{tmp_path}: not a leaderboard folder (it has no results/ folder)"]


@pytest.mark.parametrize("make", [lambda root: None, lambda root: root.mkdir(), lambda root: (root.mkdir(), (root / "notes.txt").write_text("x"))],
                         ids=["missing", "empty", "unrelated"])
def test_build_refuses_a_folder_that_is_not_a_leaderboard_and_writes_nothing(tmp_path, make):
    root = tmp_path / "somewhere"
    make(root)
    before = sorted(root.rglob("*")) if root.exists() else None
    reason = "no such folder" if before is None else "it has no results/ folder"
    with pytest.raises(MissingFileError, match=rf"^root: {re.escape(str(root))} is not a leaderboard folder \({reason}\)$"):
        build(root)
    assert (sorted(root.rglob("*")) if root.exists() else None) == before


def test_a_leaderboard_without_results_lacks_only_the_rendered_files(tmp_path):
    (tmp_path / "results").mkdir()
    assert sorted(check(tmp_path)) == sorted(f"{name}: missing; run `mmphase leaderboard build`" for name in RENDERED_FILES)
    build(tmp_path)
    assert check(tmp_path) == []
    assert "No results have been published yet." in (tmp_path / "README.md").read_text(encoding="utf-8")


def test_build_refuses_a_folder_with_problems(board):
    (board / "results/spiked/unimodal/both__seed7.json").write_text("[]")
    before = (board / "README.md").read_bytes()
    with pytest.raises(ValueError, match="cannot build: results/spiked/unimodal/both__seed7.json"):
        build(board)
    assert (board / "README.md").read_bytes() == before


def test_check_does_not_depend_on_the_locale(board):
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    code = "import sys; from mmphase_bench.leaderboard import check; print(check(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, str(board)], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1]
    assert done.stdout.strip() == "[]"
