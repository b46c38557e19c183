"""``verify``: re-running a seeded sample of results, or those changed since a git ref, finds
tampered metrics and names their files."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mmphase_bench.cli.main import main
from mmphase_bench.errors import InputError
from mmphase_bench.leaderboard.store import relative_path
from mmphase_bench.leaderboard.verify import changed_results, remeasured, select_results, select_sample, verify

TAMPERED = "results/spiked/linear-cca/smoke/both__seed1.json"  # other scales than small get a subfolder


@pytest.fixture(scope="module")
def fresh(smoke_run, tmp_path_factory):
    """A fresh leaderboard of the shared smoke run (2 models x 4 spiked cells x 2 seeds). ``publish``
    refuses smoke-scale results, so they are filed where it would put them; re-runs stay at smoke scale."""
    board = tmp_path_factory.mktemp("verify") / "leaderboard"
    for source in sorted(smoke_run.rglob("*.json")):
        if "_placement" in source.parts:
            continue
        result = json.loads(source.read_text())
        target = board / relative_path(result)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text())
    assert len(list((board / "results").rglob("*.json"))) == 16
    return board


@pytest.fixture
def board(fresh, tmp_path):
    """A copy of the fresh leaderboard, to edit."""
    copy = tmp_path / "leaderboard"
    shutil.copytree(fresh, copy)
    return copy


def tamper(board: Path, path: str = TAMPERED, by: float = -0.1) -> None:
    file = board / path
    result = json.loads(file.read_text())
    result["metrics"]["spectral_auc"] += by  # the headline (harness/2); still a valid result: only the number is wrong
    file.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.org", "-c", "commit.gpgsign=false",
                           *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def test_verify_of_a_fresh_leaderboard_matches_exactly(fresh, capsys):
    code = main(["leaderboard", "verify", "--leaderboard", str(fresh), "--sample", "3", "--seed", "1", "--tolerance", "0"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    sample = select_sample(fresh, 3, seed=1)
    assert lines[:-1] == [f"{path}: matched (difference 0.00e+00)" for path in sample]
    assert lines[-1] == "3 results verified within 0: 3 matched, 0 differ, 0 failed, 0 skipped"


def test_a_tampered_metric_fails_and_names_the_file(board):
    tamper(board)
    others = "results/spiked/unimodal/smoke/neither__seed0.json"
    report = verify(board, [TAMPERED, others], tolerance=0.01)
    assert [(v.path, v.status) for v in report.verdicts] == [(TAMPERED, "differs"), (others, "matched")]
    (failure,) = report.failures
    assert failure.difference == pytest.approx(0.1, abs=1e-9)
    assert failure.line() == f"{TAMPERED}: DIFFERS by 0.1"
    assert not (board / "runs").exists() and len(list(board.rglob("*.json"))) == 16  # nothing written into the leaderboard
    # a tolerance above the tampering lets it pass
    assert verify(board, [TAMPERED], tolerance=0.2).failures == []


def test_a_result_whose_code_changed_is_stale_unless_strict(board):
    tamper(board)
    for file in (board / TAMPERED).parent.glob("*.json"):  # the row, published from other code than today's
        result = json.loads(file.read_text())
        result["submission"]["source_hash"] = "0" * 64
        file.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (verdict,) = verify(board, [TAMPERED]).verdicts
    assert verdict.status == "stale" and verdict.ok
    assert verdict.line() == f"{TAMPERED}: differs by 0.1, not counted (its code changed since publication)"
    report = verify(board, [TAMPERED], strict=True)
    assert [v.line() for v in report.failures] == [f"{TAMPERED}: DIFFERS by 0.1 (its code changed since publication)"]


def test_changed_since_picks_exactly_the_changed_files(board, tmp_path):
    repo = board.parent
    git(repo, "init", "-q")
    (repo / "README.md").write_text("outside the results\n")
    commit_all(repo, "published")
    results = board / "results" / "spiked"
    added = results / "linear-cca" / "smoke" / "both__seed7.json"  # committed in a second commit
    added.write_text((results / "linear-cca" / "smoke" / "both__seed0.json").read_text().replace('"seed": 0', '"seed": 7'))
    commit_all(repo, "a new seed")
    tamper(board)  # modified, not committed
    (results / "unimodal" / "smoke" / "both__seed0.json").unlink()  # deleted
    (results / "unimodal" / "smoke" / "neither__seed5.json").write_text("{}")  # new, untracked
    (repo / "README.md").write_text("changed, but not a result\n")

    assert changed_results(board, "HEAD") == sorted([TAMPERED, "results/spiked/unimodal/smoke/both__seed0.json",
                                                     "results/spiked/unimodal/smoke/neither__seed5.json"])
    assert changed_results(board, "HEAD~1") == sorted([TAMPERED, "results/spiked/linear-cca/smoke/both__seed7.json",
                                                       "results/spiked/unimodal/smoke/both__seed0.json",
                                                       "results/spiked/unimodal/smoke/neither__seed5.json"])
    assert select_results(board, changed_since="HEAD", suites=("stereo-dsprites",)) == []
    assert len(select_results(board, changed_since="HEAD~1", sample=2, seed=4)) == 2

    report = verify(board, changed_results(board, "HEAD"))
    assert [(v.path, v.status) for v in report.verdicts] == [
        (TAMPERED, "differs"), ("results/spiked/unimodal/smoke/both__seed0.json", "skipped"),
        ("results/spiked/unimodal/smoke/neither__seed5.json", "failed")]
    assert report.verdicts[1].line() == "results/spiked/unimodal/smoke/both__seed0.json: skipped: deleted (nothing to re-run)"
    assert report.verdicts[2].line().startswith("results/spiked/unimodal/smoke/neither__seed5.json: FAILED: not a valid result: ")


def test_cli_changed_since_exits_1_naming_the_tampered_file(board, monkeypatch, capsys):
    repo = board.parent
    git(repo, "init", "-q")
    commit_all(repo, "published")
    monkeypatch.chdir(repo.parent)  # not inside the repository: git is asked about the leaderboard's folder
    code = main(["leaderboard", "verify", "--leaderboard", str(board), "--changed-since", "HEAD"])
    assert (code, capsys.readouterr().out) == (0, f"no result files changed since HEAD under {board}; nothing to verify\n")
    tamper(board)
    code = main(["leaderboard", "verify", "--leaderboard", str(board), "--changed-since", "HEAD"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines == [f"{TAMPERED}: DIFFERS by 0.1", "1 results verified within 0.01: 0 matched, 1 differ, 0 failed, 0 skipped"]


def test_changed_since_needs_a_git_repository_and_a_known_ref(board):
    with pytest.raises(InputError, match=f"^changed_since: {board} is not in a git repository$"):
        changed_results(board, "HEAD")
    git(board.parent, "init", "-q")
    commit_all(board.parent, "published")
    for ref in ("no-such-branch", "HEAD~5", "--output=x"):
        with pytest.raises(InputError, match="^changed_since: unknown git ref "):
            changed_results(board, ref)


def test_same_seed_same_sample(fresh, capsys):
    first = select_sample(fresh, 5, seed=3)
    assert select_sample(fresh, 5, seed=3) == first and len(set(first)) == 5 and first == sorted(first)
    assert len({tuple(select_sample(fresh, 5, seed=seed)) for seed in range(10)}) > 1  # the seed matters
    assert select_sample(fresh, 100) == sorted(str(p.relative_to(fresh)) for p in (fresh / "results").rglob("*.json"))
    assert main(["leaderboard", "verify", "--leaderboard", str(fresh), "--sample", "5", "--seed", "3", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [*first, "5 results selected (dry run)"]
    with pytest.raises(InputError, match="^suites: nothing published for stereo-dsprites"):
        select_sample(fresh, 2, suites=("stereo-dsprites",))
    with pytest.raises(InputError, match="^k must be a positive"):
        select_sample(fresh, 0)


def test_changed_since_is_strict_for_remeasured_files_only(board, monkeypatch, capsys):
    """A commit that rewrites results with the same numbers (a migration) is checked like published
    results; a commit that changes a metric must reproduce, even from a stale source hash."""
    repo = board.parent
    for file in (board / "results" / "spiked").rglob("*.json"):
        result = json.loads(file.read_text())
        result["submission"]["source_hash"] = "0" * 64  # all published from older code
        file.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    git(repo, "init", "-q")
    commit_all(repo, "published")
    migrated = board / "results/spiked/unimodal/smoke/neither__seed0.json"
    migrated.write_text(json.dumps(json.loads(migrated.read_text()), indent=1) + "\n")  # same numbers, new layout
    tamper(board)
    changed = changed_results(board, "HEAD")
    assert changed == [TAMPERED, "results/spiked/unimodal/smoke/neither__seed0.json"]
    assert remeasured(board, "HEAD", changed) == {TAMPERED}
    monkeypatch.chdir(repo)
    assert main(["leaderboard", "verify", "--leaderboard", "leaderboard", "--changed-since", "HEAD"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{TAMPERED}: DIFFERS by 0.1 (its code changed since publication)"
    assert lines[1].startswith("results/spiked/unimodal/smoke/neither__seed0.json: matched")


def test_a_row_published_from_two_sources_is_skipped_with_the_reason(board):
    file = board / TAMPERED
    result = json.loads(file.read_text())
    result["submission"]["source_hash"] = "0" * 64  # one result of the row from other code
    file.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (verdict,) = verify(board, [TAMPERED]).verdicts
    assert verdict.status == "skipped" and verdict.ok
    assert verdict.line().startswith(f"{TAMPERED}: skipped: cannot re-run: ") and "more than one source" in verdict.line()


def test_a_strict_result_that_cannot_be_re_run_fails(board):
    """A new or re-measured result from a source nobody may run is not verified: it must fail, or a
    pull request could add self-consistent evidence under an untrusted source and pass."""
    file = board / TAMPERED
    result = json.loads(file.read_text())
    result["submission"]["source_hash"] = "0" * 64
    file.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (verdict,) = verify(board, [TAMPERED], strict={TAMPERED}).verdicts
    assert verdict.status == "failed" and not verdict.ok
    assert verdict.line().startswith(f"{TAMPERED}: FAILED: cannot re-run: ")
