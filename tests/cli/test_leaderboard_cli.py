"""``mmphase publish`` and ``mmphase leaderboard build | check``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmphase_bench.cli.main import EXIT_BAD_INPUT, main
from mmphase_bench.leaderboard.render import METRIC_NAMES

RENDERED = ("README.md", "leaderboard.csv", "index.html")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """``mmphase run`` itself, at smoke scale: 2 models x 4 cells x 2 seeds."""
    out = tmp_path_factory.mktemp("cli-smoke")
    assert main(["run", "--model", "unimodal,linear-cca", "--suite", "spiked", "--scale", "smoke", "--seeds", "0,1",
                 "--out", str(out), "--device", "cpu"]) == 0
    assert len(list(out.rglob("*.json"))) == 16
    return out


@pytest.fixture
def run_dir(tmp_path, smoke_run):
    """The smoke run relabelled as small scale, so that it may be published."""
    run = tmp_path / "run"
    for source in smoke_run.rglob("*.json"):
        result = json.loads(source.read_text())
        result["scale"] = "small"
        target = run / source.relative_to(smoke_run)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return run


@pytest.fixture
def built(run_dir, tmp_path, capsys):
    board = tmp_path / "board"
    assert main(["publish", str(run_dir), "--leaderboard", str(board), "--create"]) == 0
    assert main(["leaderboard", "build", "--leaderboard", str(board)]) == 0
    capsys.readouterr()
    return board


def test_publish_exits_0_when_everything_is_publishable(run_dir, tmp_path, capsys):
    board = tmp_path / "board"
    code = main(["publish", str(run_dir), "--leaderboard", str(board), "--create"])
    out = capsys.readouterr().out
    assert code == 0
    published = [line for line in out.splitlines() if line.startswith("published ")]
    assert len(published) == 16
    assert "published results/spiked/unimodal/both__seed0.json" in published
    assert "16 published, 0 unchanged, 0 refused" in out and "REFUSED" not in out
    assert len(list((board / "results").rglob("*.json"))) == 16

    assert main(["publish", str(run_dir), "--leaderboard", str(board)]) == 0  # again: nothing new
    out = capsys.readouterr().out
    assert "16 results already published unchanged" in out and "0 published, 16 unchanged, 0 refused" in out


def test_publish_exits_1_listing_the_refused(run_dir, smoke_run, tmp_path, capsys):
    smoke = run_dir / "spiked" / "smoke" / "both__seed0.json"
    smoke.parent.mkdir()
    smoke.write_text((smoke_run / "spiked" / "unimodal" / "both__seed0.json").read_text())  # smoke scale, other name
    (run_dir / "broken.json").write_text("{")
    board = tmp_path / "board"
    code = main(["publish", str(run_dir), "--leaderboard", str(board), "--create"])
    out = capsys.readouterr().out
    assert code == 1
    refused = [line for line in out.splitlines() if line.startswith("REFUSED ")]
    assert len(refused) == 2
    assert any(line.startswith(f"REFUSED {run_dir / 'broken.json'}: not a valid result") for line in refused)
    assert any(line.startswith(f"REFUSED {smoke}: ") and "smoke" in line for line in refused)
    assert "16 published, 0 unchanged, 2 refused" in out  # refused for its scale, the smoke copy shadows nothing
    assert len(list((board / "results").rglob("*.json"))) == 16


def test_publish_of_a_missing_run_dir_is_a_one_line_error(tmp_path, capsys):
    code = main(["publish", str(tmp_path / "nowhere"), "--leaderboard", str(tmp_path / "board")])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert err.splitlines() == [f"mmphase: error: RUN_DIR not found: {tmp_path / 'nowhere'}"]


def test_build_writes_the_three_files(run_dir, tmp_path, capsys):
    board = tmp_path / "board"
    assert main(["publish", str(run_dir), "--leaderboard", str(board), "--create"]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "build", "--leaderboard", str(board)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [f"wrote {board / name}" for name in RENDERED]
    # the headline of harness/2 results is the spectral probe's AUC
    assert f"## spiked (small): {METRIC_NAMES['spectral_auc']}" in (board / "README.md").read_text(encoding="utf-8")
    assert len((board / "leaderboard.csv").read_text().splitlines()) == 1 + 2 * 4
    assert '<table class="leaderboard"' in (board / "index.html").read_text(encoding="utf-8")


def test_check_exits_0_when_clean(built, capsys):
    assert main(["leaderboard", "check", "--leaderboard", str(built)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == f"{built}: OK" and captured.err == ""


def test_check_exits_1_with_problems_after_tampering(built, capsys):
    readme = built / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nedited by hand\n", encoding="utf-8")
    (built / "results" / "spiked" / "unimodal" / "both__seed0.json").rename(
        built / "results" / "spiked" / "unimodal" / "both__seed3.json")
    assert main(["leaderboard", "check", "--leaderboard", str(built)]) == 1
    captured = capsys.readouterr()
    problems = captured.err.splitlines()
    assert all(line.startswith("PROBLEM ") for line in problems)
    assert any(line.startswith("PROBLEM results/spiked/unimodal/both__seed3.json: misnamed") for line in problems)
    assert "PROBLEM README.md: out of date with the results; run `mmphase leaderboard build`" in problems
    assert captured.out.strip() == f"{built}: {len(problems)} problems"


def test_check_of_a_missing_folder_exits_1(tmp_path, capsys):
    assert main(["leaderboard", "check", "--leaderboard", str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().err.splitlines() == [f"PROBLEM {tmp_path / 'nowhere'}: no such leaderboard folder"]


def test_build_on_a_missing_folder_is_a_one_line_error(tmp_path, capsys):
    code = main(["leaderboard", "build", "--leaderboard", str(tmp_path / "nowhere")])
    captured = capsys.readouterr()
    assert code == EXIT_BAD_INPUT
    assert captured.err.splitlines() == [f"mmphase: error: --leaderboard: no such folder: {tmp_path / 'nowhere'}"]
    assert captured.out == ""
    assert not (tmp_path / "nowhere").exists()


def test_build_refuses_a_folder_with_problems(built, capsys):
    (built / "results" / "spiked" / "unimodal" / "both__seed7.json").write_text("not json")
    assert main(["leaderboard", "build", "--leaderboard", str(built)]) == EXIT_BAD_INPUT
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("mmphase: error: cannot build: results/spiked/unimodal/both__seed7.json")


def test_leaderboard_needs_a_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["leaderboard"])
    assert exit_.value.code == 2
    assert "SUBCOMMAND" in capsys.readouterr().err


def test_build_in_one_process_checks_clean_in_another(built):
    """Rendering is deterministic across interpreters (hash seeds, matplotlib ids), not only within one."""
    root = Path(__file__).resolve().parents[2]
    before = {name: (built / name).read_bytes() for name in RENDERED}
    done = subprocess.run([sys.executable, "-m", "mmphase_bench.cli.main", "leaderboard", "build", "--leaderboard",
                           str(built)], capture_output=True, text=True, cwd=root, timeout=120,
                          env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert done.returncode == 0, done.stderr
    assert {name: (built / name).read_bytes() for name in RENDERED} == before
    assert main(["leaderboard", "check", "--leaderboard", str(built)]) == 0


@pytest.mark.parametrize("argv, needle", [
    (["--sample", "0"], "--sample: expected a positive integer, got '0'"),
    (["--seed", "-1"], "--seed: expected a non-negative integer"),
    (["--tolerance", "2"], "--tolerance: expected a finite number >= 0 and <= 1, got '2'"),
    (["--suite", "spiked,nope"], "--suite: expected a comma-separated subset of spiked,stereo-dsprites,stereo-shapes3d"),
    (["--device", "tpu"], "--device: expected auto, cpu, cuda[:N] or mps"),
])
def test_verify_bad_flags_are_usage_errors(usage_error, argv, needle):
    assert needle in usage_error(["leaderboard", "verify", *argv])


def test_verify_outside_git_and_of_a_missing_folder_are_one_line_errors(tmp_path, capsys):
    board = tmp_path / "board"
    (board / "results").mkdir(parents=True)
    assert main(["leaderboard", "verify", "--leaderboard", str(board), "--changed-since", "HEAD~1"]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"mmphase: error: changed_since: {board} is not in a git repository"]
    assert captured.out == ""
    assert main(["leaderboard", "verify", "--leaderboard", str(tmp_path / "nowhere")]) == EXIT_BAD_INPUT
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"mmphase: error: leaderboard: {tmp_path / 'nowhere'} is not a leaderboard folder (no such folder)"
