"""Untrusted result files stay inert (issue 12): ``check``, ``build``, ``publish`` and ``reproduce
--dry-run`` import nothing a result names; ``reproduce`` runs only built-in models, hash-matching
files under ``submissions/`` and sources named with ``--allow-source``, skipping (and reporting)
the rest; a built-in's name is reserved for its own source; one key, one result; submission names
cannot leave ``--out``."""

import hashlib
import json
import shutil
import textwrap
from pathlib import Path

import pytest

from mmphase_bench.cli.main import main
from mmphase_bench.errors import InputError
from mmphase_bench.harness.submission import SubmissionError, load_submission
from mmphase_bench.leaderboard.build import build, check
from mmphase_bench.leaderboard.publish import publish
from mmphase_bench.leaderboard.reproduce import plan_reproduction, reproduce
from mmphase_bench.leaderboard.store import relative_path

EVIL_FILE = "results/spiked/evil/evil.py"
EVIL_MODULE = "mmphase_issue12_evil_module"
#: Imported, the malicious code leaves this file behind.
MALICIOUS = """\
from pathlib import Path
Path({marker!r}).write_text("imported")
from mmphase_bench.examples.linear_autoencoder import LinearPredictor as Evil
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


def forged(template: dict, name: str, source: str, source_hash: str = "0" * 64, **changes) -> dict:
    result = json.loads(json.dumps(template))
    result["submission"].update(name=name, source=source, source_hash=source_hash)
    result.update(changes)
    return result


@pytest.fixture(scope="module")
def template(smoke_run) -> dict:
    """A real smoke-scale result: unimodal on the ``both`` cell, seed 0."""
    return json.loads((smoke_run / "spiked" / "unimodal" / "both__seed0.json").read_text())


@pytest.fixture
def hostile(tmp_path, template, monkeypatch):
    """A leaderboard folder as an adversarial submitter leaves it: one trusted built-in result and
    results whose sources point at a malicious .py beside them, at a module, through a symlink, out
    of submissions/, at a file of another hash, and a foreign ``vicreg``. The working folder is the
    leaderboard, so that every recorded relative path resolves."""
    board = tmp_path / "board"
    marker = tmp_path / "imported.marker"
    code = MALICIOUS.format(marker=str(marker))
    write(board / relative_path(template), template)
    (board / EVIL_FILE).parent.mkdir(parents=True)
    (board / EVIL_FILE).write_text(code)
    digest = sha256(board / EVIL_FILE)
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / f"{EVIL_MODULE}.py").write_text(code)
    monkeypatch.syspath_prepend(str(modules))
    (board / "submissions").mkdir()
    (board / "submissions" / "link.py").symlink_to(board / EVIL_FILE)
    (board / "submissions" / "edited.py").write_text(code + "# edited after the run\n")
    for name, source in (("evil", f"file:{EVIL_FILE}:Evil"), ("evil-module", f"module:{EVIL_MODULE}:Evil"),
                         ("evil-os", "module:os:system"), ("evil-link", "file:submissions/link.py:Evil"),
                         ("evil-escape", f"file:submissions/../{EVIL_FILE}:Evil"),
                         ("evil-edited", "file:submissions/edited.py:Evil"), ("vicreg", f"file:{EVIL_FILE}:Evil")):
        result = forged(template, name, source, digest)
        write(board / relative_path(result), result)
    monkeypatch.chdir(board)
    return board, marker


UNTRUSTED = ("evil", "evil-module", "evil-os", "evil-link", "evil-escape", "evil-edited", "vicreg")


def test_check_build_publish_and_dry_run_never_import_what_a_result_names(hostile, tmp_path, capsys):
    board, marker = hostile
    problems = check(board)
    checked = main(["leaderboard", "check", "--leaderboard", str(board)])
    with pytest.raises(InputError, match="^cannot build"):  # smoke-scale results: refused, and nothing imported
        build(board)
    run = tmp_path / "run"
    shutil.copytree(board / "results", run)
    report = publish(run, tmp_path / "published", create=True)
    planned = main(["leaderboard", "reproduce", "--leaderboard", str(board), "--dry-run", "--out", str(tmp_path / "again")])
    printed = capsys.readouterr().out.splitlines()
    assert not marker.exists(), "a file named by a result was imported"
    assert planned == 0 and printed[-1] == f"1 runs planned (dry run), {len(UNTRUSTED)} skipped"
    assert not (tmp_path / "again").exists()
    assert checked == 1 and [p for p in problems if p.startswith(EVIL_FILE)] == [
        f"{EVIL_FILE}: not a result file (only <cell>__seed<k>.json results belong under results/; "
        "no other files, hidden files or symlinks)"]
    assert not list((tmp_path / "published").rglob("*.py"))  # the .py is not a result: never copied
    assert report.published == []


def test_planning_skips_every_untrusted_source_with_the_reason(hostile, tmp_path):
    board, marker = hostile
    plans = plan_reproduction(board, tmp_path / "again", device="cpu")
    assert [plan.name for plan in plans] == ["unimodal"]
    reasons = {skip.name: skip.reason for skip in plans.skipped}
    assert sorted(reasons) == sorted(UNTRUSTED)
    assert all(reason.startswith(f"untrusted source '{source}'") for reason, source in (
        (reasons["evil"], f"file:{EVIL_FILE}:Evil"), (reasons["evil-os"], "module:os:system")))
    assert "module sources run only when named explicitly" in reasons["evil-module"]
    assert "module sources run only when named explicitly" in reasons["evil-os"]
    assert f"{EVIL_FILE} is not under" in reasons["evil"]
    assert "through a symlink" in reasons["evil-link"]
    assert "is not under" in reasons["evil-escape"]
    assert "the SHA-256 of submissions/edited.py is" in reasons["evil-edited"]
    assert all("pass --allow-source '" in reason for reason in reasons.values())
    assert str(plans.skipped[0]).startswith("skipped: untrusted source ")
    # Named explicitly, a source is planned, and planning still imports nothing.
    allowed = plan_reproduction(board, tmp_path / "again", allow_sources=[f"module:{EVIL_MODULE}:Evil"])
    assert sorted(plan.name for plan in allowed) == ["evil-module", "unimodal"]
    assert not marker.exists()


def test_reproduce_skips_untrusted_sources_and_still_runs_the_trusted_ones(hostile, tmp_path, capsys):
    board, marker = hostile
    report = reproduce(board, tmp_path / "again", device="cpu")
    assert [c.key[2] for c in report.comparisons] == ["unimodal"] and report.failures == []
    assert sorted(skip.name for skip in report.skipped) == sorted(UNTRUSTED)
    assert report.summary().endswith(f"; {len(UNTRUSTED)} results skipped (not run)")
    code = main(["leaderboard", "reproduce", "--leaderboard", str(board), "--out", str(tmp_path / "again"), "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 1  # not everything was reproduced
    assert f"skipped: untrusted source 'file:{EVIL_FILE}:Evil'" in printed
    assert "skipped: untrusted source 'module:os:system'" in printed
    assert "1 results compared: 1 identical" in printed
    assert not marker.exists(), "a file named by a result was imported"


def test_a_builtin_name_with_a_foreign_source_is_refused_by_publish_and_check(template, tmp_path):
    foreign = forged(template, "vicreg", "file:my_vicreg.py:VICReg", scale="small")
    run = tmp_path / "run"
    write(run / "spiked" / "vicreg" / "both__seed0.json", foreign)
    report = publish(run, tmp_path / "board", create=True)
    assert report.published == []
    (_, reason), = report.refused
    assert reason == ("name 'vicreg' is a built-in model but the source is 'file:my_vicreg.py:VICReg' "
                      "(give the submission another `name`)")
    board = tmp_path / "board"
    write(board / relative_path(foreign), foreign)
    assert f"results/spiked/vicreg/both__seed0.json: {reason}" in check(board)
    renamed = forged(template, "not-vicreg", "builtin:vicreg", scale="small")
    write(board / relative_path(renamed), renamed)
    assert ("results/spiked/not-vicreg/both__seed0.json: source 'builtin:vicreg' is a built-in model but the result "
            "is named 'not-vicreg'") in check(board)


def test_every_result_of_a_duplicated_key_is_refused_and_none_published(template, tmp_path):
    real = dict(json.loads(json.dumps(template)), scale="small")
    altered = json.loads(json.dumps(real))
    altered["provenance"]["wall_time_s"] += 1.0
    run = tmp_path / "run"
    write(run / "a" / "both__seed0.json", real)
    write(run / "b" / "both__seed0.json", altered)
    report = publish(run, tmp_path / "board", create=True)
    assert report.published == [] and len(report.refused) == 2
    assert all(reason.startswith("2 results of the run are spiked (small) unimodal / both / seed 0")
               and reason.endswith("none of them is published") for _, reason in report.refused)
    assert not list((tmp_path / "board").rglob("*.json"))


def test_check_reports_every_non_result_file_under_results_once(template, tmp_path):
    board = tmp_path / "board"
    write(board / relative_path(template), template)
    folder = board / "results" / "spiked" / "unimodal"
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "notes.txt").write_text("not a result")
    (folder / ".hidden.json").write_text(json.dumps(template))
    (folder / "elsewhere.json").symlink_to(board / relative_path(template))
    (folder / "linked").symlink_to(outside)
    (folder / "smoke" / "deeper").mkdir(parents=True)
    (board / "results" / "README").write_text("a file at the wrong depth")
    problems = check(board)
    strays = [p for p in problems if ": not a result" in p]
    assert sorted(p.split(":")[0] for p in strays) == sorted(
        f"results/{path}" for path in ("spiked/unimodal/notes.txt", "spiked/unimodal/.hidden.json",
                                       "spiked/unimodal/elsewhere.json", "spiked/unimodal/linked",
                                       "spiked/unimodal/smoke/deeper", "README"))


@pytest.mark.parametrize("name", ["../../evil", "/abs/evil", "Evil", ".hidden", "a" * 65])
def test_an_unsafe_submission_name_is_refused_at_load_time(tmp_path, name, monkeypatch, capsys):
    source = tmp_path / "mine.py"
    source.write_text(textwrap.dedent(f"""\
        from mmphase_bench.examples.linear_autoencoder import LinearPredictor

        class Mine(LinearPredictor):
            name = {name!r}
        """))
    with pytest.raises(SubmissionError) as raised:
        load_submission(f"{source}:Mine")
    (line,) = str(raised.value).splitlines()
    assert line.startswith(f"submission '{source}:Mine' is not a valid submission: its `name` ")
    assert "is not a safe name" in line
    out = tmp_path / "deep" / "out"
    assert main(["run", "--model", f"{source}:Mine", "--suite", "spiked", "--scale", "smoke", "--cells", "both",
                 "--seeds", "0", "--out", str(out), "--device", "cpu"]) == 2
    assert "is not a safe name" in capsys.readouterr().err
    assert not (tmp_path / "deep").exists()  # nothing written, in --out or outside it


def test_a_fifo_named_like_a_result_is_reported_and_never_opened(tmp_path):
    """Opening a FIFO blocks until a writer comes: check must report it without reading it."""
    import os
    import threading

    from mmphase_bench.leaderboard.store import check_results

    (tmp_path / "results" / "spiked" / "x").mkdir(parents=True)
    fifo = tmp_path / "results" / "spiked" / "x" / "both__seed0.json"
    os.mkfifo(fifo)
    found: list = []
    worker = threading.Thread(target=lambda: found.extend(check_results(tmp_path)[1]), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "check blocked on the FIFO"
    assert any("both__seed0.json" in problem and "not a result file" in problem for problem in found), found


def test_json_nested_too_deeply_is_one_problem_not_a_traceback(tmp_path):
    from mmphase_bench.leaderboard.store import check_results

    (tmp_path / "results" / "spiked" / "x").mkdir(parents=True)
    (tmp_path / "results" / "spiked" / "x" / "both__seed0.json").write_text("[" * 100_000)
    _, problems = check_results(tmp_path)
    assert any(p.startswith("results/spiked/x/both__seed0.json: ") and "recursion" in p for p in problems), problems
