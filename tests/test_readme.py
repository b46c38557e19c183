"""The README as a new user follows it: every bash and Python block, in README order, in one scratch
folder outside the repository, and what the README says they print or write."""

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
#: Sections whose blocks need the repository itself (an editable install, the test suite, the
#: benchmark scripts); they say so, CI runs the test command, and the rest runs anywhere.
REPOSITORY_SECTIONS = ("Quick start", "Benchmarks")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def _sections() -> dict[str, str]:
    """The README's ``## `` sections (with their ``###`` subsections), by title, in order."""
    parts = re.split(r"^## ", README.read_text(), flags=re.M)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def _ordered_blocks() -> list[tuple[str, str, str]]:
    """(section, language, text) of every bash and python block, in README order."""
    return [(title, language, text) for title, body in _sections().items()
            for language, text in re.findall(r"```(bash|python)\n(.*?)```", body, flags=re.S)]


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


def _saved_as(block: str) -> str | None:
    """The file name a Python block asks to be saved as (its first line: ``# name.py: ...``)."""
    match = re.match(r"# (\w+\.py):", block)
    return match.group(1) if match else None


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_readme_blocks_run_in_order_in_one_scratch_folder(tmp_path, monkeypatch):
    """Python blocks run in-process (each in a fresh namespace), or are saved as the file they name;
    bash blocks run command by command in a shell. All in ``tmp_path``: no repository, no
    ``leaderboard/`` folder, nothing copied in."""
    monkeypatch.chdir(tmp_path)
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    printed: dict[str, str] = {}  # command (or Python block) -> its stdout
    ran = []
    for section, language, block in _ordered_blocks():
        if section in REPOSITORY_SECTIONS:
            continue
        ran.append(section)
        if language == "python" and _saved_as(block):
            (tmp_path / _saved_as(block)).write_text(block)
        elif language == "python":
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(block, f"README.md python block in {section!r}", "exec"), {})
            printed[block] = out.getvalue()
        else:
            for command in _commands(block):
                result = subprocess.run(command, shell=True, cwd=tmp_path, env=environment, capture_output=True, text=True,
                                        timeout=600)
                assert result.returncode == 0, f"{command!r} failed:\n{result.stdout}\n{result.stderr}"
                printed[command] = result.stdout
    assert ran.count("Python API") == 4 and "Command line" in ran and "The leaderboard" in ran

    def output(fragment: str) -> str:
        (key,) = [key for key in printed if fragment in key]
        return printed[key]

    # Python API: the values its comments promise.
    api = output("model.separation_ratios()").splitlines()
    assert re.fullmatch(r"\(2\.98\d*, 0\.639\d*\) ca_only", api[0]), api[0]
    ca_error, cp_error = (float(line.rsplit(" ", 1)[1]) for line in api if "recovery error" in line)
    assert ca_error < 0.01 and cp_error > 0.3, (ca_error, cp_error)  # "~0" and "large"
    dsprites = output("StereoDSprites(split=").splitlines()
    assert dsprites[0].endswith(" [nu_max=0.8, classes=square, ellipse, heart]") and dsprites[-1] == "True"
    assert (tmp_path / "val.h5").is_file()

    # Command line: the readable table, the JSON estimate, the figures and the rendered pairs.
    table = output("--labels labels.npy            # readable table")
    assert re.search(r"^ratio +estimate +cross-fit +95% interval", table, flags=re.M) and "regime (CP x -> y): CP only" in table
    assert json.loads((tmp_path / "phase.json").read_text())["regime"] == "cp_only"
    for name in ("diagram.png", "phase.png", "demo.png", "grid.png", "grid3d.png", "pairs.h5", "pairs3d.h5"):
        assert (tmp_path / name).is_file(), name
    assert not list(tmp_path.glob("*.partial"))

    # The harness: smoke runs in their own folder, the shipped example by module name and a copy of it.
    assert "linear-cca" in output("mmphase models list") and "stereo-dsprites" in output("mmphase suites list")
    assert len(list((tmp_path / "runs-smoke" / "stereo-dsprites").glob("[!_]*/*.json"))) == 4  # _placement/ is a cache
    assert len(list((tmp_path / "runs-smoke" / "spiked" / "linear-predictor").glob("*.json"))) == 8
    # Sweeps on a cluster: the same smoke sweep on a local 2-CPU Ray cluster.
    assert len(list((tmp_path / "runs-ray" / "spiked").glob("[!_]*/*.json"))) == 8
    from mmphase_bench.examples import linear_autoencoder
    assert (tmp_path / "my_predictor.py").read_text().rstrip() == Path(linear_autoencoder.__file__).read_text().rstrip()

    # The submission: published into a leaderboard of one's own, rendered, and (below) reproduced.
    board = tmp_path / "my-leaderboard"
    aligner = [json.loads(p.read_text()) for p in (board / "results" / "spiked" / "linear-aligner").glob("*.json")]
    assert len(aligner) == 12 and {r["submission"]["family"] for r in aligner} == {"CA"}
    assert {r["submission"]["source"] for r in aligner} == {"file:my_aligner.py:LinearAligner"}
    # A CA model recovers the shared signal where the theory says it can (both) and not where neither family can.
    r2 = {cell: [r["metrics"]["r2"] for r in aligner if r["cell"]["name"] == cell] for cell in ("both", "neither")}
    assert min(r2["both"]) > 0.4 and max(r2["neither"]) < 0.1, r2
    assert "12 published, 0 unchanged, 0 refused" in output("mmphase publish runs-aligner")

    # The leaderboard: the reference models added to the same folder, rendered and checked.
    assert "24 published, 0 unchanged, 0 refused" in output("mmphase publish runs-reference")
    assert sorted(p.name for p in (board / "results" / "spiked").iterdir()) == ["linear-aligner", "linear-cca", "linear-rrr"]
    assert len(list((board / "results").rglob("*.json"))) == 36
    rendered = (board / "README.md").read_text()
    assert all(name in rendered for name in ("linear-aligner", "linear-cca", "linear-rrr"))
    assert (board / "leaderboard.csv").is_file() and (board / "index.html").is_file()
    assert "my-leaderboard: OK" in output("mmphase leaderboard check")
    # Reproduction: the README's "36 results of my-leaderboard/", bit for bit on the same machine.
    assert "36 results compared: 36 identical" in output("mmphase leaderboard reproduce")
    assert not (tmp_path / "leaderboard").exists() and not (tmp_path / "runs").exists()  # nothing fell back to the defaults


def test_repository_sections_say_so_and_hold_only_their_commands():
    sections = _sections()
    for title in REPOSITORY_SECTIONS:
        assert "from the repository root" in sections[title].lower(), title
    assert "works in any folder" in sections["Quick start"]
    skipped = [c for title, language, block in _ordered_blocks() if title in REPOSITORY_SECTIONS for c in _commands(block)]
    assert len(skipped) == 3 and skipped[-1].startswith("python benchmarks/bench_linear.py")


def test_quick_start_has_exactly_the_two_commands():
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [c for block in re.findall(r"```bash\n(.*?)```", quick_start, flags=re.S) for c in _commands(block)]
    assert commands == [
        "pip install -e . && mmphase run --model linear-cca,linear-rrr,vicreg,reconstruct,unimodal --suite spiked --scale small --seeds 0",
        'pip install -e ".[test]" && pytest',
    ]
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1] in ci


def test_no_reference_to_the_old_examples_folder():
    """The example submission ships with the package (``mmphase_bench.examples``); no path into a
    repository-only ``examples/`` folder is left in the README."""
    text = README.read_text()
    assert "examples/linear_autoencoder.py" not in text
    assert "mmphase_bench.examples.linear_autoencoder:LinearPredictor" in text
