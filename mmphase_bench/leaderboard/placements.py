"""The leaderboard's cell placements: ``placements/<suite>__<scale>.json`` in the leaderboard folder.

A result records the placement its run computed (raw-pixel PCA, the reference signal rule). The
leaderboard can instead place each cell once, from several feature kinds (raw pixels, and frozen
encoders trained on one view each: :func:`mmphase_bench.harness.placement.place_suite`), with the
signal rule it names; ``mmphase leaderboard place`` writes the file and ``build`` shows, per cell,
every kind's placement next to the family that wins the cell. The first kind of
:data:`PRIMARY_ORDER` present is the cell's regime in the tables.

The file is untrusted input like a result: :func:`load_placements` checks its size, its JSON, its
keys and types, that the suite and cells exist, and that every ratio is a finite non-negative number
or null (no signal detected), each problem one line naming the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mmphase_bench.errors import InputError
from mmphase_bench.io.atomic import write_text_atomic

PLACEMENTS_DIR = "placements"
#: Which feature kind's placement gives a cell its regime on the leaderboard, when several exist.
PRIMARY_ORDER = ("unimodal", "raw")
FEATURE_KINDS = ("raw", "unimodal")
REGIMES = ("both", "ca_only", "cp_only", "neither")
RATIOS = ("delta_ca", "delta_cp", "delta_cp_reverse")
MAX_BYTES = 2_097_152
FORMAT_VERSION = 1


def placements_path(root: str | Path, suite: str, scale: str) -> Path:
    return Path(root) / PLACEMENTS_DIR / f"{suite}__{scale}.json"


def write_placements(root: str | Path, suite: str, scale: str, cells: dict[str, dict[str, dict]], *,
                     signal_rule: str, seed: int) -> Path:
    """Write (atomically) the placements ``{cell: {features: placement}}`` of one table."""
    path = placements_path(root, suite, scale)
    document = {"format_version": FORMAT_VERSION, "suite": suite, "scale": scale, "signal_rule": signal_rule,
                "seed": seed, "cells": cells}
    problem = _document_problem(document)
    if problem:
        raise InputError(f"placements of {suite} ({scale}): {problem}")
    write_text_atomic(path, json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return path


def _number_problem(value: Any, where: str) -> str | None:
    if value is None or value == "inf":  # "inf": estimate_phase's JSON for a zero nuisance floor
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return f"{where} must be a finite non-negative number or null, got {value!r}"
    return None


def _placement_problem(placement: Any, where: str) -> str | None:
    if not isinstance(placement, dict):
        return f"{where} must be an object"
    for name in ("delta_ca", "delta_cp"):
        if name not in placement:
            return f"{where} lacks {name}"
    for name in RATIOS:
        problem = _number_problem(placement.get(name), f"{where}/{name}")
        if problem:
            return problem
    if placement.get("regime") not in REGIMES:
        return f"{where}/regime must be one of {', '.join(REGIMES)}, got {placement.get('regime')!r}"
    ci = placement.get("ci")
    if ci is not None:
        if not isinstance(ci, dict):
            return f"{where}/ci must be an object or null"
        for name, interval in ci.items():
            if interval is None:
                continue
            if not (isinstance(interval, list) and len(interval) == 2):
                return f"{where}/ci/{name} must be a [low, high] pair or null"
            for bound in interval:  # an unbounded interval is written as the string "inf"
                problem = _number_problem(bound, f"{where}/ci/{name}")
                if problem:
                    return problem
    rules = placement.get("signal_rules")
    if rules is not None:
        if not isinstance(rules, dict):
            return f"{where}/signal_rules must be an object"
        for rule, values in rules.items():
            problem = _placement_problem(values, f"{where}/signal_rules/{rule}")
            if problem:
                return problem
    return None


def _document_problem(document: Any) -> str | None:
    from mmphase_bench.harness.scales import SCALES
    from mmphase_bench.harness.suites import SUITE_BUILDERS, suite_cell_names

    if not isinstance(document, dict):
        return "must be a JSON object"
    expected = {"format_version", "suite", "scale", "signal_rule", "seed", "cells"}
    if set(document) != expected:
        return f"must have exactly the keys {', '.join(sorted(expected))}"
    if document["format_version"] != FORMAT_VERSION:
        return f"format_version must be {FORMAT_VERSION}"
    if not isinstance(document["suite"], str) or not isinstance(document["scale"], str):
        return "suite and scale must be strings"
    if document["suite"] not in SUITE_BUILDERS:
        return f"suite {document['suite']!r} is not a registered suite"
    if document["scale"] not in SCALES:
        return f"scale {document['scale']!r} is not a scale"
    if not isinstance(document["signal_rule"], str) or not isinstance(document["seed"], int):
        return "signal_rule must be a string and seed an integer"
    names = set(suite_cell_names(document["suite"]))
    cells = document["cells"]
    if not isinstance(cells, dict) or not cells:
        return "cells must be a non-empty object"
    for cell, kinds in cells.items():
        if cell not in names:
            return f"cells/{cell}: the suite has no such cell"
        if not isinstance(kinds, dict) or not kinds or set(kinds) - set(FEATURE_KINDS):
            return f"cells/{cell} must map feature kinds ({', '.join(FEATURE_KINDS)}) to placements"
        for kind, placement in kinds.items():
            problem = _placement_problem(placement, f"cells/{cell}/{kind}")
            if problem:
                return problem
    return None


def load_placements(root: str | Path) -> tuple[dict[tuple[str, str], dict[str, dict[str, dict]]], list[str]]:
    """``{(suite, scale): {cell: {features: placement}}}`` of a leaderboard folder, and its problems
    (one line per bad file, naming it). No ``placements/`` folder: nothing, no problem."""
    folder = Path(root) / PLACEMENTS_DIR
    found: dict[tuple[str, str], dict[str, dict[str, dict]]] = {}
    problems: list[str] = []
    if not folder.is_dir():
        return found, problems
    for path in sorted(folder.iterdir()):
        shown = f"{PLACEMENTS_DIR}/{path.name}"
        if path.is_symlink() or not path.is_file() or path.suffix != ".json":
            problems.append(f"{shown}: not a placements file (expected <suite>__<scale>.json files only)")
            continue
        if path.stat().st_size > MAX_BYTES:
            problems.append(f"{shown}: larger than {MAX_BYTES} bytes")
            continue
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as error:
            problems.append(f"{shown}: not valid JSON ({str(error).splitlines()[0]})")
            continue
        problem = _document_problem(document)
        if problem is None and path.name != f"{document['suite']}__{document['scale']}.json":
            problem = f"the file name must be {document['suite']}__{document['scale']}.json"
        if problem:
            problems.append(f"{shown}: {problem}")
            continue
        found[document["suite"], document["scale"]] = document["cells"]
    return found, problems


def primary(kinds: dict[str, dict]) -> tuple[str, dict] | None:
    """(kind, placement) of the first kind of :data:`PRIMARY_ORDER` that ``kinds`` has."""
    for kind in PRIMARY_ORDER:
        if kind in kinds:
            return kind, kinds[kind]
    return None
