"""The leaderboard folder: ``results/<suite>/<submission>/<cell>__seed<k>.json`` plus rendered files.

Results are grouped into tables by (suite, scale); every result of a table must share one harness
protocol version. This module reads and checks the results only; rendering is
:mod:`mmphase_bench.leaderboard.render`, and :mod:`mmphase_bench.leaderboard.build` composes the two
(a lower layer never imports a higher one).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from mmphase_bench.errors import MissingFileError
from mmphase_bench.harness.results import ResultRecord, as_record
from mmphase_bench.io.atomic import write_text_atomic
from mmphase_bench.leaderboard.integrity import (
    LEGACY_MANIFEST, MAX_RESULT_BYTES, integrity_problem, read_legacy_manifest, sha256_bytes,
)
from mmphase_bench.models.registry import BUILTIN_MODELS
from mmphase_bench.validation import safe_name_problem

RESULTS_DIR = "results"
RENDERED_FILES = ("README.md", "leaderboard.csv", "index.html")
#: The leaderboard's main scale: its results sit directly in the submission folder; other scales
#: get a subfolder (``results/<suite>/<submission>/paper/<cell>__seed<k>.json``).
DEFAULT_SCALE = "small"


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


def publishable_problem(result: ResultRecord | Mapping, *, legacy: bool = False) -> str | None:
    """Why a valid result may not go on the leaderboard, or None; the metrics are checked by
    :func:`~mmphase_bench.leaderboard.integrity.integrity_problem` (``legacy``: the file is listed in
    the legacy manifest, so it may lack evidence)."""
    record = as_record(result)
    for what, name in (("suite", record.suite), ("submission", record.submission.name), ("cell", record.cell.name)):
        problem = safe_name_problem(name)  # suite, submission and cell names become folder and file names
        if problem:
            return f"{what} name {problem}"
    problem = builtin_source_problem(record.submission.name, record.submission.source)
    if problem:
        return problem
    if record.scale == "smoke":
        return "smoke-scale results are for tests only"
    if record.status == "incomplete":
        return f"the run is incomplete ({record.error})"
    if not record.ok:
        return f"the run failed ({record.error})"
    if (record.training or {}).get("data_parallel"):
        return ("the run was trained data-parallel (training.data_parallel); the leaderboard holds single-process "
                "runs, which verify re-runs bit for bit")
    return integrity_problem(record, legacy=legacy)


def builtin_source_problem(name: str, source: str) -> str | None:
    """Why a result's submission ``name`` and ``source`` do not agree about the built-in models, or
    None: a built-in's name is reserved for its own source, and a ``builtin:`` source for its name."""
    if name in BUILTIN_MODELS and source != f"builtin:{name}":
        return f"name {name!r} is a built-in model but the source is {source!r} (give the submission another `name`)"
    if source.startswith("builtin:") and source != f"builtin:{name}":
        return f"source {source!r} is a built-in model but the result is named {name!r}"
    return None


def stray_files(root: Path) -> list[str]:
    """One line per entry under ``root/results`` that is not a result file or folder: anything but
    ``results/<suite>/<submission>/[<scale>/]<file>.json``, hidden files, symlinks and non-regular
    files included (a ``*.json`` file at another depth is reported as misnamed by :func:`load_folder`)."""
    base = Path(root) / RESULTS_DIR
    if base.is_symlink():
        return [f"{RESULTS_DIR}: a symlink, not a folder of results"]
    problems = []
    for folder, folders, files in os.walk(base):  # symlinked folders are listed, not followed
        here = Path(folder)
        depth = len(here.relative_to(base).parts)
        for name in sorted(folders):
            path = here / name
            if name.startswith(".") or path.is_symlink() or depth >= 3:
                problems.append(f"{path.relative_to(root)}: not a result folder (only results/<suite>/<submission>/[<scale>/] "
                                "folders belong under results/; no hidden folders or symlinks)")
                folders.remove(name)
        for name in sorted(files):
            path = here / name
            result_like = name.endswith(".json") and not name.startswith(".")
            if not result_like or path.is_symlink() or not path.is_file():
                problems.append(f"{path.relative_to(root)}: not a result file (only <cell>__seed<k>.json results belong "
                                "under results/; no other files, hidden files or symlinks)")
    return problems


def load_folder(root: Path) -> tuple[list[StoredResult], list[str]]:
    """Every result file below ``root/results`` and the problems found while reading them (a file
    above :data:`~mmphase_bench.leaderboard.integrity.MAX_RESULT_BYTES` is not read; an evidence-less
    result must be listed, with its exact bytes, in the legacy manifest)."""
    stored, problems = [], []
    base = Path(root) / RESULTS_DIR
    try:
        legacy = read_legacy_manifest(root)
    except (OSError, ValueError) as error:
        problems.append(str(error).splitlines()[0])
        legacy = {}
    for path in sorted(base.rglob("*.json")) if base.is_dir() else []:
        where = path.relative_to(root)
        try:
            status = path.lstat()
            if not stat.S_ISREG(status.st_mode):  # a link, FIFO or device: never opened (a FIFO would block)
                continue  # check_results reports it as a stray file
            size = status.st_size
            if size > MAX_RESULT_BYTES:
                problems.append(f"{where}: {size} bytes, above the {MAX_RESULT_BYTES}-byte size limit of a result file")
                continue
            content = path.read_bytes()
            record = ResultRecord.from_dict(json.loads(content.decode("utf-8")))
        except (OSError, ValueError, TypeError, RecursionError) as error:  # RecursionError: JSON nested too deeply
            problems.append(f"{where}: {str(error).splitlines()[0]}")
            continue
        if where != relative_path(record):
            problems.append(f"{where}: misnamed; its content says it belongs at {relative_path(record)}")
        listed = legacy.get(where.as_posix())
        is_legacy = listed is not None and listed == sha256_bytes(content)
        reason = publishable_problem(record, legacy=is_legacy)
        if reason and record.ok and record.evidence is None and listed is not None and not is_legacy:
            reason = f"no evidence, and its bytes differ from its line in {LEGACY_MANIFEST} (an edited legacy result)"
        if reason:
            problems.append(f"{where}: {reason}")
        stored.append(StoredResult(path, record))
    return stored, problems


def write_legacy_manifest(root: str | Path = "leaderboard") -> Path:
    """Write (atomically) ``root``'s legacy manifest: one ``sha256  results/...json`` line per ``ok``
    result file without evidence, sorted by path. It was run once, when the version-1 results were
    migrated: ``python -c "from mmphase_bench.leaderboard.store import write_legacy_manifest;
    write_legacy_manifest('leaderboard')"``. Running it again would list whatever is in the folder,
    so the committed manifest is the reference and a change to it is reviewed like code."""
    root = require_leaderboard(root)
    lines = []
    for path in sorted((root / RESULTS_DIR).rglob("*.json")):
        record = ResultRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
        if record.ok and record.evidence is None:
            lines.append(f"{sha256_bytes(path.read_bytes())}  {path.relative_to(root).as_posix()}")
    target = root / LEGACY_MANIFEST
    write_text_atomic(target, "".join(line + "\n" for line in lines))
    return target


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
    problems += stray_files(root)
    seen: dict[tuple, Path] = {}
    for item in stored:
        if item.key in seen:
            problems.append(f"{item.path.relative_to(root)}: duplicate of {seen[item.key].relative_to(root)}")
        seen.setdefault(item.key, item.path)
    for (suite, scale), versions in table_protocols(stored).items():
        if len(versions) > 1:
            problems.append(f"table {suite} ({scale}) mixes protocol versions: {', '.join(sorted(versions))}")
    return stored, problems
