"""The README's examples are copy-paste runnable: its Python blocks and its command-line block."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def _commands(block: str) -> list[str]:
    """Shell commands of a block: comments dropped, backslash-free multi-line strings joined."""
    commands, current = [], ""
    for line in block.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current = f"{current}\n{line}" if current else line
        if current.count('"') % 2 == 0:
            commands.append(current)
            current = ""
    return commands


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_examples_run(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(_blocks("python")[index], f"README.md python block {index}", "exec"), {})


@pytest.mark.slow
def test_command_line_examples_run(tmp_path):
    block = next(b for b in _blocks("bash") if "mmphase phase estimate" in b)
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command in _commands(block):
        result = subprocess.run(command, shell=True, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{command!r} failed:\n{result.stderr}"
    assert (tmp_path / "phase.json").exists() and (tmp_path / "demo.png").exists()


@pytest.mark.slow
def test_harness_examples_run(tmp_path):
    block = next(b for b in _blocks("bash") if "mmphase run --model" in b and "mmphase models list" in b)
    shutil.copytree(README.parent / "examples", tmp_path / "examples")
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command in _commands(block):
        result = subprocess.run(command, shell=True, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{command!r} failed:\n{result.stdout}\n{result.stderr}"
    assert len(list((tmp_path / "runs" / "spiked").glob("[!_]*/*.json"))) == 8
    assert len(list((tmp_path / "runs" / "stereo-dsprites").glob("[!_]*/*.json"))) == 4  # _placement/ is a cache


@pytest.mark.slow
def test_leaderboard_examples_run(tmp_path):
    block = next(b for b in _blocks("bash") if "mmphase publish runs" in b and "mmphase leaderboard check" in b)
    (tmp_path / "leaderboard").mkdir()
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command in _commands(block):
        result = subprocess.run(command, shell=True, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{command!r} failed:\n{result.stdout}\n{result.stderr}"
    assert len(list((tmp_path / "leaderboard" / "results" / "spiked").glob("*/*.json"))) == 24
    assert "linear-cca" in (tmp_path / "leaderboard" / "README.md").read_text()


@pytest.mark.slow
def test_submission_example_runs_publishes_and_reproduces(tmp_path):
    """The README's complete submission file, run with its commands at the small scale, published,
    rendered, and reproduced bit for bit by the reproduction command."""
    code = next(b for b in _blocks("python") if b.startswith("# my_aligner.py"))
    (tmp_path / "my_aligner.py").write_text(code)
    (tmp_path / "leaderboard").mkdir()
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    submit = next(b for b in _blocks("bash") if "my_aligner.py:LinearAligner" in b)
    reproduce = next(b for b in _blocks("bash") if "mmphase leaderboard reproduce" in b)
    for command in _commands(submit) + _commands(reproduce):
        result = subprocess.run(command, shell=True, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{command!r} failed:\n{result.stdout}\n{result.stderr}"
    published = [json.loads(p.read_text()) for p in (tmp_path / "leaderboard" / "results" / "spiked" / "linear-aligner").glob("*.json")]
    assert len(published) == 12 and {r["submission"]["family"] for r in published} == {"CA"}
    assert "linear-aligner" in (tmp_path / "leaderboard" / "README.md").read_text()
    # A CA model recovers the shared signal where the theory says it can (both) and not where neither family can.
    r2 = {cell: [r["metrics"]["r2"] for r in published if r["cell"]["name"] == cell] for cell in ("both", "neither")}
    assert min(r2["both"]) > 0.4 and max(r2["neither"]) < 0.1, r2
    assert "12 results compared: 12 identical" in result.stdout


def test_quick_start_has_exactly_the_two_commands():
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [c for block in re.findall(r"```bash\n(.*?)```", quick_start, flags=re.S) for c in _commands(block)]
    assert commands == [
        "pip install -e . && mmphase run --model linear-cca,linear-rrr,vicreg,reconstruct,unimodal --suite spiked --scale small --seeds 0",
        'pip install -e ".[test]" && pytest',
    ]
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1] in ci
