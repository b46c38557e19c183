"""``mmphase publish``: copy validated results from a run folder into the leaderboard."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from mmphase_bench.harness.results import validate_result
from mmphase_bench.io.atomic import write_text_atomic
from mmphase_bench.leaderboard.store import load_folder, publishable_problem, relative_path, result_key, table_protocols


@dataclass
class PublishReport:
    published: list[str] = field(default_factory=list)  #: leaderboard paths written
    unchanged: list[str] = field(default_factory=list)  #: identical results already there
    refused: list[tuple[str, str]] = field(default_factory=list)  #: (run path, reason)


def publish(run_dir: str | Path, leaderboard: str | Path = "leaderboard") -> PublishReport:
    """Validate every result under ``run_dir`` and copy the publishable ones (atomically).

    Refused, with the reason: files that are not valid results, smoke-scale or failed results,
    results that appear twice in the run, results whose key is already on the leaderboard with other
    content, and results whose protocol version differs from the one of their (suite, scale) table.
    """
    run_dir, leaderboard = Path(run_dir), Path(leaderboard)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"RUN_DIR not found: {run_dir}")
    report = PublishReport()
    existing, _ = load_folder(leaderboard)
    protocols = table_protocols(existing)
    on_board = {item.key: item for item in existing}
    accepted: dict[tuple, tuple[Path, dict, str]] = {}
    for path in sorted(p for p in run_dir.rglob("*.json") if "_placement" not in p.relative_to(run_dir).parts):
        shown = str(path)
        try:
            text = path.read_text(encoding="utf-8")
            result = json.loads(text)
            validate_result(result)
        except (OSError, ValueError) as error:
            report.refused.append((shown, f"not a valid result: {str(error).splitlines()[0]}"))
            continue
        reason = publishable_problem(result)
        key = result_key(result)
        table = (result["suite"], result["scale"])
        version = result["provenance"]["protocol_version"]
        if reason is None and key in accepted:
            reason = f"duplicate of {accepted[key][0]} in the same run"
        if reason is None and table in protocols and version not in protocols[table]:
            reason = (f"protocol version {version} differs from the {', '.join(sorted(protocols[table]))} "
                      f"of the {table[0]} ({table[1]}) table")
        if reason is None and key in on_board:
            if on_board[key].result == result:
                report.unchanged.append(str(relative_path(result)))
                continue
            reason = f"{relative_path(result)} is already published with other content (delete it first to replace it)"
        if reason:
            report.refused.append((shown, reason))
            continue
        accepted[key] = (path, result, text)
        protocols.setdefault(table, set()).add(version)
    for path, result, text in accepted.values():
        target = leaderboard / relative_path(result)
        write_text_atomic(target, text if text.endswith("\n") else text + "\n")
        report.published.append(str(relative_path(result)))
    return report
