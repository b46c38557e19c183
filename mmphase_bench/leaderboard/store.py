"""The leaderboard folder: ``results/<suite>/<submission>/<cell>__seed<k>.json`` plus rendered files.

Results are grouped into tables by (suite, scale); every result of a table must share one harness
protocol version.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mmphase_bench.harness.results import validate_result

RESULTS_DIR = "results"
RENDERED_FILES = ("README.md", "leaderboard.csv", "index.html")
#: The leaderboard's main scale: its results sit directly in the submission folder; other scales
#: get a subfolder (``results/<suite>/<submission>/paper/<cell>__seed<k>.json``).
DEFAULT_SCALE = "small"
#: Suite, submission and cell names become folder and file names: no separators, no "..".
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class StoredResult:
    path: Path
    result: dict

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        return result_key(self.result)

    @property
    def table(self) -> tuple[str, str]:
        return self.result["suite"], self.result["scale"]


def result_key(result: dict) -> tuple[str, str, str, str, int]:
    """(suite, scale, submission, cell, seed): what may appear once on the leaderboard."""
    return result["suite"], result["scale"], result["submission"]["name"], result["cell"]["name"], int(result["seed"])


def relative_path(result: dict) -> Path:
    suite, scale, submission, cell, seed = result_key(result)
    folder = Path(RESULTS_DIR) / suite / submission
    if scale != DEFAULT_SCALE:
        folder = folder / scale
    return folder / f"{cell}__seed{seed}.json"


def publishable_problem(result: dict) -> str | None:
    """Why a valid result may not go on the leaderboard, or None."""
    for what, name in (("suite", result["suite"]), ("submission", result["submission"]["name"]), ("cell", result["cell"]["name"])):
        if not SAFE_NAME.match(name) or ".." in name:
            return f"{what} name {name!r} is not a safe file name (letters, digits, '.', '_', '+', '-')"
    if result["scale"] == "smoke":
        return "smoke-scale results are for tests only"
    if result["status"] != "ok":
        return f"the run failed ({result.get('error')})"
    return None


def load_folder(root: Path) -> tuple[list[StoredResult], list[str]]:
    """Every result file below ``root/results`` and the problems found while reading them."""
    stored, problems = [], []
    base = Path(root) / RESULTS_DIR
    for path in sorted(base.rglob("*.json")) if base.is_dir() else []:
        where = path.relative_to(root)
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
            validate_result(result)
        except (OSError, ValueError) as error:
            problems.append(f"{where}: {str(error).splitlines()[0]}")
            continue
        if where != relative_path(result):
            problems.append(f"{where}: misnamed; its content says it belongs at {relative_path(result)}")
        reason = publishable_problem(result)
        if reason:
            problems.append(f"{where}: {reason}")
        stored.append(StoredResult(path, result))
    return stored, problems


def table_protocols(stored: list[StoredResult]) -> dict[tuple[str, str], set[str]]:
    protocols: dict[tuple[str, str], set[str]] = {}
    for item in stored:
        protocols.setdefault(item.table, set()).add(item.result["provenance"]["protocol_version"])
    return protocols


def check(root: str | Path) -> list[str]:
    """All problems of a leaderboard folder (empty when it is sound): schema, naming, duplicates,
    publishability, one protocol version per table, and rendered files up to date with the results."""
    from mmphase_bench.leaderboard.render import render_all

    root = Path(root)
    if not root.is_dir():
        return [f"{root}: no such leaderboard folder"]
    stored, problems = load_folder(root)
    seen: dict[tuple, Path] = {}
    for item in stored:
        if item.key in seen:
            problems.append(f"{item.path.relative_to(root)}: duplicate of {seen[item.key].relative_to(root)}")
        seen.setdefault(item.key, item.path)
    for (suite, scale), versions in table_protocols(stored).items():
        if len(versions) > 1:
            problems.append(f"table {suite} ({scale}) mixes protocol versions: {', '.join(sorted(versions))}")
    expected = render_all([item.result for item in stored])
    for name, content in expected.items():
        path = root / name
        if not path.is_file():
            problems.append(f"{name}: missing; run `mmphase leaderboard build`")
        elif path.read_text(encoding="utf-8") != content:
            problems.append(f"{name}: out of date with the results; run `mmphase leaderboard build`")
    return problems
