"""``publish``: validated results from a run folder go into the leaderboard, the rest is refused with a reason."""

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from mmphase_bench.errors import InputError, MissingFileError
from mmphase_bench.harness.results import validate_result
from mmphase_bench.leaderboard.publish import publish as publish_into
from mmphase_bench.leaderboard.store import relative_path

from leaderboard_evidence import as_harness1, rehash  # noqa: E402  (tests/leaderboard helper)


def publish(run_dir, board):
    """Most tests start a new leaderboard: ``create=True`` (the default, False, has its own tests)."""
    return publish_into(run_dir, board, create=True)


@pytest.fixture
def run_dir(tmp_path, smoke_run):
    """The smoke run relabelled as small scale (publishable), with a placement cache file beside it."""
    run = tmp_path / "run"
    for source in smoke_run.rglob("*.json"):
        result = json.loads(source.read_text())
        result["scale"] = "small"
        validate_result(result)
        write(run / source.relative_to(smoke_run), result)
    placement = run / "spiked" / "_placement" / "both__small.json"
    placement.parent.mkdir(parents=True)
    placement.write_text(json.dumps({"regime": "both", "delta_ca": 3.0, "delta_cp": 4.5}) + "\n")
    return run


def write(path: Path, result: dict, newline: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + ("\n" if newline else ""))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def results_in(run: Path) -> list[Path]:
    return sorted(p for p in run.rglob("*.json") if "_placement" not in p.relative_to(run).parts)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below ``folder`` (temporary files included) with its bytes and mtime."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def reasons(report) -> dict[str, str]:
    return {Path(path).name: reason for path, reason in report.refused}


def test_publishes_valid_results_with_identical_content(run_dir, tmp_path):
    board = tmp_path / "board"
    report = publish(run_dir, board)
    sources = results_in(run_dir)
    assert len(sources) == 16
    assert report.refused == [] and report.unchanged == []
    expected = {}
    for source in sources:
        result = load(source)
        name = f"results/spiked/{result['submission']['name']}/{result['cell']['name']}__seed{result['seed']}.json"
        assert str(relative_path(result)) == name
        expected[name] = source.read_bytes()
    assert sorted(report.published) == sorted(expected)
    written = {str(p.relative_to(board)): p.read_bytes() for p in board.rglob("*") if p.is_file()}
    assert written == expected  # byte-identical, and nothing else (no temporary files, no placement cache)


def test_a_missing_trailing_newline_is_added(run_dir, tmp_path):
    source = run_dir / "spiked" / "unimodal" / "both__seed0.json"
    compact = json.dumps(load(source), separators=(",", ":"))
    source.write_text(compact)
    report = publish(run_dir, tmp_path / "board")
    assert "results/spiked/unimodal/both__seed0.json" in report.published
    assert (tmp_path / "board/results/spiked/unimodal/both__seed0.json").read_text() == compact + "\n"


def test_placement_files_are_ignored(run_dir, tmp_path):
    report = publish(run_dir, tmp_path / "board")
    assert report.refused == []
    assert not any("_placement" in path for path in report.published)
    assert not list((tmp_path / "board").rglob("*_placement*"))


def test_refuses_smoke_scale(run_dir, tmp_path):
    source = run_dir / "spiked" / "unimodal" / "both__seed0.json"
    write(source, dict(load(source), scale="smoke"))
    report = publish(run_dir, tmp_path / "board")
    assert [path for path, _ in report.refused] == [str(source)]
    assert "smoke" in reasons(report)["both__seed0.json"]
    assert len(report.published) == 15
    assert not (tmp_path / "board/results/spiked/unimodal/both__seed0.json").exists()


def test_refuses_failed_results(run_dir, tmp_path):
    source = run_dir / "spiked" / "linear-cca" / "neither__seed1.json"
    write(source, dict(load(source), status="failed", error="FloatingPointError: NaN features", metrics={}))
    report = publish(run_dir, tmp_path / "board")
    assert [path for path, _ in report.refused] == [str(source)]
    reason = reasons(report)["neither__seed1.json"]
    assert "failed" in reason and "NaN features" in reason
    assert not (tmp_path / "board/results/spiked/linear-cca/neither__seed1.json").exists()


@pytest.mark.parametrize("content", ["{not json", "[]", json.dumps({"schema_version": 1})])
def test_refuses_invalid_files(run_dir, tmp_path, content):
    (run_dir / "notes.json").write_text(content)
    report = publish(run_dir, tmp_path / "board")
    assert [path for path, _ in report.refused] == [str(run_dir / "notes.json")]
    assert reasons(report)["notes.json"].startswith("not a valid result: ")
    assert len(report.published) == 16


def test_refuses_a_schema_invalid_result(run_dir, tmp_path):
    source = run_dir / "spiked" / "unimodal" / "ca_only__seed1.json"
    result = load(source)
    result["metrics"]["top1"] = 1.5
    write(source, result)
    report = publish(run_dir, tmp_path / "board")
    reason = reasons(report)["ca_only__seed1.json"]
    assert reason.startswith("not a valid result") and "metrics/top1" in reason


def test_refuses_every_result_of_a_key_that_appears_twice_in_the_run(run_dir, tmp_path):
    original = run_dir / "spiked" / "unimodal" / "both__seed0.json"
    copy = run_dir / "again" / "copy.json"
    copy.parent.mkdir()
    shutil.copy(original, copy)
    report = publish(run_dir, tmp_path / "board")
    assert sorted(path for path, _ in report.refused) == sorted([str(original), str(copy)])
    for refused, reason in report.refused:
        other = ({str(original), str(copy)} - {refused}).pop()
        assert reason == (f"2 results of the run are spiked (small) unimodal / both / seed 0 (also {other}); "
                          "none of them is published")
    assert len(report.published) == 15 and "results/spiked/unimodal/both__seed0.json" not in report.published
    assert len(list((tmp_path / "board").rglob("*.json"))) == 15


def test_refuses_a_key_already_published_with_other_content(run_dir, tmp_path):
    board = tmp_path / "board"
    publish(run_dir, board)
    target = board / "results/spiked/unimodal/both__seed0.json"
    before = target.read_bytes()
    source = run_dir / "spiked" / "unimodal" / "both__seed0.json"
    result = load(source)
    result["provenance"]["wall_time_s"] += 1.0  # other content that is still a valid result
    write(source, result)
    report = publish(run_dir, board)
    assert report.published == []
    assert [path for path, _ in report.refused] == [str(source)]
    assert "already published with other content" in reasons(report)["both__seed0.json"]
    assert len(report.unchanged) == 15
    assert target.read_bytes() == before


def test_refuses_a_protocol_version_other_than_the_tables(run_dir, tmp_path):
    board = tmp_path / "board"
    publish(run_dir, board)  # fresh results: harness/2
    # a consistent result of the older protocol (no spectral headline), not a forged hash
    newcomer = as_harness1(dict(load(run_dir / "spiked" / "unimodal" / "both__seed0.json"), seed=5))
    second = tmp_path / "second-run"
    write(second / "spiked" / "unimodal" / "both__seed5.json", newcomer)
    report = publish(second, board)
    assert report.published == []
    reason = reasons(report)["both__seed5.json"]
    assert "protocol version harness/1 is not the current harness/2 (re-run it to publish it)" == reason
    assert not (board / "results/spiked/unimodal/both__seed5.json").exists()
    # not in another table either: publish takes the current protocol only (check still reads older tables)
    write(second / "spiked" / "unimodal" / "both__seed5.json", rehash(dict(newcomer, scale="paper")))
    assert publish(second, board).published == []


def test_an_older_protocol_cannot_open_a_new_table(run_dir, tmp_path):
    """A consistent harness/1 file (no spectral headline) cannot start a table and lock the current
    protocol's results out of it: publish takes the current protocol only."""
    for source in results_in(run_dir):
        if "linear-cca" in source.parts:
            write(source, as_harness1(load(source)))
    report = publish(run_dir, tmp_path / "board")
    assert len(report.published) == 8 and not any("/linear-cca/" in path for path in report.published)
    assert len(report.refused) == 8
    assert all("protocol version harness/1 is not the current harness/2" in reason for _, reason in report.refused)


def test_refuses_incomplete_results(run_dir, tmp_path):
    """A run the wall-clock guard stopped is scored but marked incomplete: never published."""
    source = run_dir / "spiked" / "linear-cca" / "ca_only__seed0.json"
    error = "stopped by the wall-clock limit of 30 s after 1 of 2 epochs"
    write(source, dict(load(source), status="incomplete", error=error))
    report = publish(run_dir, tmp_path / "board")
    assert [path for path, _ in report.refused] == [str(source)]
    assert reasons(report)["ca_only__seed0.json"] == f"the run is incomplete ({error})"
    assert len(report.published) == 15
    assert not (tmp_path / "board/results/spiked/linear-cca/ca_only__seed0.json").exists()


def test_republishing_identical_results_changes_nothing(run_dir, tmp_path):
    board = tmp_path / "board"
    first = publish(run_dir, board)
    assert len(first.published) == 16
    before = snapshot(board)
    again = publish(run_dir, board)
    assert again.published == [] and again.refused == []
    assert sorted(again.unchanged) == sorted(first.published)
    assert snapshot(board) == before


def test_identical_content_in_other_formatting_is_unchanged(run_dir, tmp_path):
    board = tmp_path / "board"
    publish(run_dir, board)
    before = snapshot(board)
    source = run_dir / "spiked" / "unimodal" / "both__seed0.json"
    source.write_text(json.dumps(load(source)))  # same result, other whitespace and key order
    report = publish(run_dir, board)
    assert report.refused == [] and report.published == [] and len(report.unchanged) == 16
    assert snapshot(board) == before


def test_missing_run_dir_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="RUN_DIR not found"):
        publish(tmp_path / "nowhere", tmp_path / "board")
    assert not (tmp_path / "board").exists()


def test_empty_run_dir_publishes_nothing_and_creates_nothing(tmp_path):
    (tmp_path / "run").mkdir()
    report = publish(tmp_path / "run", tmp_path / "board")
    assert (report.published, report.unchanged, report.refused) == ([], [], [])
    assert report.found == 0
    assert not (tmp_path / "board").exists()


def test_found_counts_every_result_file(run_dir, tmp_path):
    (run_dir / "notes.json").write_text("{")
    report = publish(run_dir, tmp_path / "board")
    assert (report.found, len(report.published), len(report.refused)) == (17, 16, 1)


def test_a_missing_leaderboard_is_refused_without_create(run_dir, tmp_path):
    board = tmp_path / "board"
    with pytest.raises(MissingFileError, match=rf"^leaderboard: no such folder: {board} \(pass create=True"):
        publish_into(run_dir, board)
    assert not board.exists()
    assert len(publish_into(run_dir, board, create=True).published) == 16


def test_an_existing_empty_folder_needs_no_create(run_dir, tmp_path):
    board = tmp_path / "board"
    board.mkdir()
    assert len(publish_into(run_dir, board).published) == 16
    assert len(publish_into(run_dir, board).unchanged) == 16  # now a leaderboard folder


@pytest.mark.parametrize("create", [False, True])
def test_a_folder_that_is_not_a_leaderboard_is_refused(run_dir, tmp_path, create):
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"^leaderboard: .* is not a leaderboard folder \(it has files but no results/ folder\)$"):
        publish_into(run_dir, folder, create=create)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_published_files_get_the_umask_mode(run_dir, tmp_path):
    old = os.umask(0o022)
    try:
        report = publish(run_dir, tmp_path / "board")
    finally:
        os.umask(old)
    modes = {stat.S_IMODE((tmp_path / "board" / path).stat().st_mode) for path in report.published}
    assert modes == {0o644}


def test_names_cannot_escape_the_leaderboard_folder(run_dir, tmp_path):
    source = run_dir / "spiked" / "unimodal" / "both__seed0.json"
    result = load(source)
    result["submission"]["name"] = "../../../escaped"
    validate_result(result)
    run = tmp_path / "evil-run"
    write(run / "x.json", result)
    sandbox = tmp_path / "sandbox"
    board = sandbox / "deep" / "board"
    report = publish(run, board)
    outside = [p for p in sandbox.rglob("*.json") if board not in p.parents]
    assert outside == [], f"written outside the leaderboard: {outside}"
    assert report.published == [] and len(report.refused) == 1


def test_a_run_dir_below_a_folder_named_placement_is_published(run_dir, tmp_path):
    moved = tmp_path / "_placement" / "run"
    shutil.copytree(run_dir, moved)
    report = publish(moved, tmp_path / "board")
    assert len(report.published) == 16


def test_refuses_non_finite_metrics(run_dir, tmp_path):
    source = run_dir / "spiked" / "unimodal" / "both__seed0.json"
    result = load(source)
    result["metrics"]["r2"] = float("nan")
    source.write_text(json.dumps(result))  # json.dumps writes the non-standard NaN literal
    report = publish(run_dir, tmp_path / "board")
    assert [path for path, _ in report.refused] == [str(source)]


def test_the_same_submission_can_be_published_at_two_scales(run_dir, tmp_path):
    from mmphase_bench.leaderboard.store import load_folder

    board = tmp_path / "board"
    assert len(publish(run_dir, board).published) == 16
    paper = tmp_path / "paper-run"
    for source in results_in(run_dir):
        write(paper / source.relative_to(run_dir), dict(load(source), scale="paper"))
    report = publish(paper, board)
    assert report.refused == [] and len(report.published) == 16
    stored, _ = load_folder(board)
    assert sorted(item.table for item in stored) == [("spiked", "paper")] * 16 + [("spiked", "small")] * 16


def test_saved_tokenizers_are_ignored(run_dir, tmp_path):
    from mmphase_bench.data.tokenizer import WordTokenizer

    WordTokenizer.fit(["a red cube", "a red ball"], min_frequency=1).save(run_dir / "spiked" / "_tokenizer" / "abc.json")
    report = publish(run_dir, tmp_path / "board")
    assert report.refused == [] and not any("_tokenizer" in path for path in report.published)
