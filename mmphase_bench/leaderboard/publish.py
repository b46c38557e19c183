"""``mmphase publish``: copy validated results from a run folder into the leaderboard."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from mmphase_bench.errors import InputError, MissingFileError
from mmphase_bench.harness.results import PROTOCOL_VERSION, ResultRecord
from mmphase_bench.io.atomic import write_text_atomic
from mmphase_bench.leaderboard.store import (
    RESULTS_DIR, load_folder, not_a_leaderboard, publishable_problem, relative_path, table_protocols,
)


@dataclass
class PublishReport:
    published: list[str] = field(default_factory=list)  #: leaderboard paths written
    unchanged: list[str] = field(default_factory=list)  #: identical results already there
    refused: list[tuple[str, str]] = field(default_factory=list)  #: (run path, reason)

    @property
    def found(self) -> int:
        """How many result files the run folder held (0: there was nothing to publish)."""
        return len(self.published) + len(self.unchanged) + len(self.refused)


def publish(run_dir: str | Path, leaderboard: str | Path = "leaderboard", *, create: bool = False) -> PublishReport:
    """Validate every result under ``run_dir`` and copy the publishable ones (atomically).

    ``leaderboard`` must be an existing folder (a leaderboard, or an empty folder to start one);
    with ``create=True`` a missing one is created when something is published. This keeps a mistyped
    path, or a run outside the repository, from silently starting a new leaderboard. Nothing is
    written unless a result is published.

    Refused, with the reason: files that are not valid results, smoke-scale or failed results,
    unsafe names, a built-in model's name with another source, every result of a key that appears
    more than once in the run (none of them is published), results whose key is already on the
    leaderboard with other content, and results whose protocol version differs from the one of
    their (suite, scale) table.
    A run folder without result files gives an empty report (``report.found == 0``).
    """
    run_dir, leaderboard = Path(run_dir), Path(leaderboard)
    if not run_dir.is_dir():
        raise MissingFileError(f"RUN_DIR not found: {run_dir}")
    if leaderboard.exists() and not leaderboard.is_dir():
        raise InputError(f"leaderboard: {leaderboard} is not a folder")
    if not leaderboard.is_dir() and not create:
        raise MissingFileError(f"leaderboard: no such folder: {leaderboard} (pass create=True to start a new leaderboard)")
    if not_a_leaderboard(leaderboard) and leaderboard.is_dir() and any(leaderboard.iterdir()):
        raise InputError(f"leaderboard: {leaderboard} is not a leaderboard folder (it has files but no {RESULTS_DIR}/ folder)")
    report = PublishReport()
    existing, _ = load_folder(leaderboard)
    protocols = table_protocols(existing)
    on_board = {item.key: item for item in existing}
    accepted: dict[tuple, tuple[Path, ResultRecord, str]] = {}
    readable: list[tuple[str, ResultRecord, str]] = []
    # The runner's own files beside the results (the placement cache, the saved tokenizers) are not results.
    for path in sorted(p for p in run_dir.rglob("*.json") if not {"_placement", "_tokenizer"} & set(p.relative_to(run_dir).parts)):
        try:
            text = path.read_text(encoding="utf-8")
            readable.append((str(path), ResultRecord.from_dict(json.loads(text)), text))
        except (OSError, ValueError, TypeError, RecursionError) as error:  # RecursionError: JSON nested too deeply
            report.refused.append((str(path), f"not a valid result: {str(error).splitlines()[0]}"))
    # One key, one result: when the run holds several results of one key, none of them is published
    # (which one is the real one cannot be told from the files).
    runs_of: dict[tuple, list[str]] = {}
    for shown, record, _ in readable:
        runs_of.setdefault(record.key, []).append(shown)
    for shown, record, text in readable:
        reason = publishable_problem(record)
        key = record.key
        version = record.provenance.protocol_version
        if reason is None and version != PROTOCOL_VERSION:
            reason = f"protocol version {version} is not the current {PROTOCOL_VERSION} (re-run it to publish it)"
        if reason is None and len(runs_of[key]) > 1:
            suite, scale, name, cell, seed = key
            others = [other for other in runs_of[key] if other != shown]
            reason = (f"{len(runs_of[key])} results of the run are {suite} ({scale}) {name} / {cell} / seed {seed} "
                      f"(also {', '.join(others)}); none of them is published")
        if reason is None and record.table in protocols and version not in protocols[record.table]:
            suite, scale = record.table
            reason = (f"protocol version {version} differs from the {', '.join(sorted(protocols[record.table]))} "
                      f"of the {suite} ({scale}) table")
        if reason is None and key in on_board:
            if on_board[key].record == record:
                report.unchanged.append(str(relative_path(record)))
                continue
            reason = f"{relative_path(record)} is already published with other content (delete it first to replace it)"
        if reason:
            report.refused.append((shown, reason))
            continue
        accepted[key] = (Path(shown), record, text)
        protocols.setdefault(record.table, set()).add(version)
    for path, record, text in accepted.values():
        target = leaderboard / relative_path(record)
        write_text_atomic(target, text if text.endswith("\n") else text + "\n")
        report.published.append(str(relative_path(record)))
    return report
