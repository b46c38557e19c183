"""``mmphase leaderboard build | check``: the top layer that composes the folder (:mod:`.store`) and
the rendering (:mod:`.render`). Neither of those imports this module or each other."""

from __future__ import annotations

from pathlib import Path

from mmphase_bench.errors import InputError
from mmphase_bench.io.atomic import write_text_atomic
from mmphase_bench.leaderboard.placements import load_placements
from mmphase_bench.leaderboard.render import render_all
from mmphase_bench.leaderboard.store import check_results, load_folder, not_a_leaderboard, require_leaderboard


def check(root: str | Path) -> list[str]:
    """All problems of a leaderboard folder (empty when it is sound): schema, naming, duplicates,
    publishability, one protocol version per table, and rendered files up to date with the results."""
    if not_a_leaderboard(root):
        return check_results(root)[1]  # the one problem: nothing to compare the rendered files with
    root = Path(root)
    stored, problems = check_results(root)
    placements, placement_problems = load_placements(root)
    problems += placement_problems
    expected = render_all([item.record for item in stored], placements)
    for name, content in expected.items():
        path = root / name
        if not path.is_file():
            problems.append(f"{name}: missing; run `mmphase leaderboard build`")
        elif path.read_text(encoding="utf-8") != content:
            problems.append(f"{name}: out of date with the results; run `mmphase leaderboard build`")
    return problems


def build(root: str | Path = "leaderboard") -> list[str]:
    """Render the three files from ``root/results`` (atomically); returns the names written. Refuses
    (:class:`InputError`) a folder that is not a leaderboard folder or whose results have problems."""
    root = require_leaderboard(root)
    stored, problems = load_folder(root)
    placements, placement_problems = load_placements(root)
    problems += placement_problems
    if problems:
        raise InputError("cannot build: " + "; ".join(problems))
    rendered = render_all([item.record for item in stored], placements)
    for name, content in rendered.items():
        write_text_atomic(root / name, content)
    return list(rendered)
