"""Layers that do not leak: the leaderboard modules' imports go downwards only, rendering leaves
matplotlib's global settings alone, the typed record reads every published file, and the commands
refuse folders that are not what they should be."""

import ast
import json
import os
import stat
from pathlib import Path

import pytest

from mmphase_bench.cli.main import main
from mmphase_bench.harness.results import ResultRecord, upgrade_result

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mmphase_bench" / "leaderboard"
#: module -> the leaderboard modules it may import (a lower layer never imports a higher one)
ALLOWED = {
    "integrity": set(),
    "aggregate": set(),
    "placements": set(),  # the leaderboard's own cell placements (placements/): reads and checks files only
    "render": {"aggregate", "placements"},
    "store": {"integrity"},
    "publish": {"store"},
    "build": {"store", "render", "aggregate", "placements"},
    "reproduce": {"store"},
    "verify": {"reproduce", "store"},
}


def leaderboard_imports(path: Path) -> set[str]:
    """The ``mmphase_bench.leaderboard.*`` modules a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] if node.level == 0 else [f"mmphase_bench.leaderboard.{node.module}"]
            if node.module == "mmphase_bench.leaderboard":
                names = [f"mmphase_bench.leaderboard.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {name.split(".")[2] for name in names if name.startswith("mmphase_bench.leaderboard.")}
    return found


def test_every_leaderboard_module_is_layered():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set(ALLOWED)


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_imports_go_downwards_only(module):
    imported = leaderboard_imports(PACKAGE / f"{module}.py")
    assert imported <= ALLOWED[module], f"{module} imports {sorted(imported - ALLOWED[module])}"


def test_the_import_scanner_sees_function_level_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from mmphase_bench.leaderboard.render import render_all\n")
    assert leaderboard_imports(source) == {"render"}


def test_rendering_leaves_the_global_matplotlib_settings_alone():
    import matplotlib

    from mmphase_bench.leaderboard.build import check  # renders the committed leaderboard's tables

    matplotlib.rcParams["svg.hashsalt"] = "someone else's"
    matplotlib.rcParams["lines.linewidth"] = 7.0
    try:
        before = dict(matplotlib.rcParams)
        assert check(ROOT / "leaderboard") == []  # the caller's settings do not change the page either
        assert dict(matplotlib.rcParams) == before
    finally:
        matplotlib.rcdefaults()


def test_the_templates_are_package_data():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"mmphase_bench.leaderboard" = ["templates/*"]' in pyproject and '"jinja2' in pyproject
    assert {p.name for p in (PACKAGE / "templates").iterdir()} >= {"index.html.j2", "leaderboard.css", "sort.js"}


def test_every_published_result_round_trips_through_the_record():
    paths = sorted((ROOT / "leaderboard" / "results").rglob("*.json"))
    assert paths
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        # read back at the current schema version (files are migrated on read, never rewritten)
        assert ResultRecord.from_dict(data).to_dict() == upgrade_result(data), path


# ------------------------------------------------------------------ the commands refuse wrong folders


def _a_result(tmp_path: Path) -> Path:
    """A run folder with one publishable result: a fresh one, so it carries the evidence that check
    recomputes its metrics from (a committed legacy result is publishable only where it is listed)."""
    from mmphase_bench.harness.runner import RunConfig, run_benchmark

    run = tmp_path / "run"
    run_benchmark(RunConfig(models=("linear-cca",), suite="spiked", cells=("both",), scale="small", seeds=(0,),
                            out=run, device="cpu"))
    return run


def test_publish_of_an_empty_run_folder_says_so_and_exits_1(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "board" / "results").mkdir(parents=True)
    assert main(["publish", str(tmp_path / "run"), "--leaderboard", str(tmp_path / "board")]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"nothing to publish: no result files (*.json) under {tmp_path / 'run'}"]
    assert list((tmp_path / "board").rglob("*")) == [tmp_path / "board" / "results"]


def test_publish_outside_the_repository_does_not_start_a_leaderboard(tmp_path, capsys, monkeypatch):
    run = _a_result(tmp_path)
    monkeypatch.chdir(tmp_path)  # no leaderboard/ here
    assert main(["publish", str(run)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == ("mmphase: error: --leaderboard: no such folder: leaderboard "
                    "(run from the repository, or pass --create to start a new leaderboard)")
    assert not (tmp_path / "leaderboard").exists()
    old = os.umask(0o022)
    try:
        assert main(["publish", str(run), "--create"]) == 0
        assert main(["leaderboard", "build"]) == 0
    finally:
        os.umask(old)
    written = [p for p in (tmp_path / "leaderboard").rglob("*") if p.is_file()]
    assert len(written) == 4 and {stat.S_IMODE(p.stat().st_mode) for p in written} == {0o644}


@pytest.mark.parametrize("make", ["empty", "unrelated"])
def test_build_refuses_a_folder_that_is_not_a_leaderboard(tmp_path, capsys, make):
    folder = tmp_path / "folder"
    folder.mkdir()
    if make == "unrelated":
        (folder / "notes.txt").write_text("mine")
    before = sorted(folder.iterdir())
    assert main(["leaderboard", "build", "--leaderboard", str(folder)]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"mmphase: error: --leaderboard: {folder} is not a leaderboard folder (it has no results/ folder)"]
    assert captured.out == "" and sorted(folder.iterdir()) == before
