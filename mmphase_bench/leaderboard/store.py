"""The leaderboard folder: ``results/<suite>/<submission>/<cell>__seed<k>.json`` plus rendered files.

Results are grouped into tables by (suite, scale); every result of a table must share one harness
protocol version. This module reads and checks the results only; rendering is
:mod:`mmphase_bench.leaderboard.render`, and :mod:`mmphase_bench.leaderboard.build` composes the two
(a lower layer never imports a higher one).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from mmphase_bench.errors import MissingFileError
from mmphase_bench.harness.results import ResultRecord, as_record

RESULTS_DIR = "results"
RENDERED_FILES = ("README.md", "leaderboard.csv", "index.html")
#: The leaderboard's main scale: its results sit directly in the submission folder; other scales
#: get a subfolder (``results/<suite>/<submission>/paper/<cell>__seed<k>.json``).
DEFAULT_SCALE = "small"
#: Suite, submission and cell names become folder and file names: no separators, no "..".
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class StoredResult:
    """A result file of the leaderboard and its typed content."""

    path: Path
    record: ResultRecord

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        return self.record.key

    @property
    def table(self) -> tuple[str, str]:
        return self.record.table


def not_a_leaderboard(root: str | Path) -> str | None:
    """Why ``root`` is not a leaderboard folder (a folder with a ``results/`` folder in it), or None."""
    root = Path(root)
    if not root.is_dir():
        return "no such folder"
    if not (root / RESULTS_DIR).is_dir():
        return f"it has no {RESULTS_DIR}/ folder"
    return None


def require_leaderboard(root: str | Path, parameter: str = "root") -> Path:
    """``root`` as a Path, or :class:`MissingFileError` (one line naming ``parameter``) when it is not
    a leaderboard folder, so that nothing is written into a folder that is not one."""
    reason = not_a_leaderboard(root)
    if reason:
        raise MissingFileError(f"{parameter}: {root} is not a leaderboard folder ({reason})")
    return Path(root)


def result_key(result: ResultRecord | Mapping) -> tuple[str, str, str, str, int]:
    """(suite, scale, submission, cell, seed): what may appear once on the leaderboard."""
    return as_record(result).key


def relative_path(result: ResultRecord | Mapping) -> Path:
    """Where ``result`` belongs, relative to the leaderboard folder."""
    suite, scale, submission, cell, seed = result_key(result)
    folder = Path(RESULTS_DIR) / suite / submission
    if scale != DEFAULT_SCALE:
        folder = folder / scale
    return folder / f"{cell}__seed{seed}.json"


def publishable_problem(result: ResultRecord | Mapping) -> str | None:
    """Why a valid result may not go on the leaderboard, or None."""
    record = as_record(result)
    for what, name in (("suite", record.suite), ("submission", record.submission.name), ("cell", record.cell.name)):
        if not SAFE_NAME.match(name) or ".." in name:
            return f"{what} name {name!r} is not a safe file name (letters, digits, '.', '_', '+', '-')"
    if record.scale == "smoke":
        return "smoke-scale results are for tests only"
    if not record.ok:
        return f"the run failed ({record.error})"
    return None


def load_folder(root: Path) -> tuple[list[StoredResult], list[str]]:
    """Every result file below ``root/results`` and the problems found while reading them."""
    stored, problems = [], []
    base = Path(root) / RESULTS_DIR
    for path in sorted(base.rglob("*.json")) if base.is_dir() else []:
        where = path.relative_to(root)
        try:
            record = ResultRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as error:
            problems.append(f"{where}: {str(error).splitlines()[0]}")
            continue
        if where != relative_path(record):
            problems.append(f"{where}: misnamed; its content says it belongs at {relative_path(record)}")
        reason = publishable_problem(record)
        if reason:
            problems.append(f"{where}: {reason}")
        stored.append(StoredResult(path, record))
    return stored, problems


def table_protocols(stored: list[StoredResult]) -> dict[tuple[str, str], set[str]]:
    """(suite, scale) -> the harness protocol versions of its results."""
    protocols: dict[tuple[str, str], set[str]] = {}
    for item in stored:
        protocols.setdefault(item.table, set()).add(item.record.provenance.protocol_version)
    return protocols


def check_results(root: str | Path) -> tuple[list[StoredResult], list[str]]:
    """The readable results of a leaderboard folder and the problems of its results: schema, naming,
    duplicates, publishability and one protocol version per table (the rendered files are checked by
    :func:`mmphase_bench.leaderboard.build.check`)."""
    root = Path(root)
    if not root.is_dir():
        return [], [f"{root}: no such leaderboard folder"]
    reason = not_a_leaderboard(root)
    if reason:
        return [], [f"{root}: not a leaderboard folder ({reason})"]
    stored, problems = load_folder(root)
    seen: dict[tuple, Path] = {}
    for item in stored:
        if item.key in seen:
            problems.append(f"{item.path.relative_to(root)}: duplicate of {seen[item.key].relative_to(root)}")
        seen.setdefault(item.key, item.path)
    for (suite, scale), versions in table_protocols(stored).items():
        if len(versions) > 1:
            problems.append(f"table {suite} ({scale}) mixes protocol versions: {', '.join(sorted(versions))}")
    return stored, problems
