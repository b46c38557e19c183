"""Results that verify themselves: the checks behind ``mmphase leaderboard check`` on the metrics of
each result file (used by :mod:`mmphase_bench.leaderboard.store`, so by ``check``, ``build`` and
``publish``).

* Every headline metric is recomputed from the result's ``evidence`` (the test confusion matrix, or
  the sums of squares per target column; :func:`mmphase_bench.harness.results.recompute_metrics`)
  and must agree to :data:`METRIC_TOLERANCE`.
* The metrics must be exactly the task's (:data:`~mmphase_bench.harness.results.TASK_METRICS`) plus
  the probe's ``penalty`` (one of the probe's grid), in range and finite; ``ok`` with empty metrics
  is refused.
* A file above :data:`MAX_RESULT_BYTES` is refused before it is read or parsed.
* Legacy results (schema version 1, migrated to version 2 with ``evidence: null``; they were not
  re-run) cannot be recomputed: one is accepted only if its exact bytes, as they are in the folder
  (after the migration), are listed in the folder's :data:`LEGACY_MANIFEST`: ``sha256  results/...json``
  lines, the format of ``sha256sum``, so ``cd leaderboard && sha256sum -c legacy-results.sha256``
  checks it too. The manifest was written once, by
  :func:`mmphase_bench.leaderboard.store.write_legacy_manifest`, when the version-1 results were
  migrated, and is never extended: new and re-run results carry evidence, and a listed file that is
  edited no longer matches its line. The leaderboard marks legacy results as unverified.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from functools import lru_cache
from pathlib import Path

from mmphase_bench.errors import FileFormatError, InputError
from mmphase_bench.harness.probe import ALPHA_GRID, C_GRID
from mmphase_bench.harness.results import (
    HEADLINE_METRIC, TASK_METRICS, ResultRecord, protocol_hash, recompute_metrics, recompute_spectral_auc,
)

#: Largest result file accepted, checked before the file is read. The largest of the 594 published
#: (version-1) results is 4,641 bytes, and one with evidence about 5 kB; this leaves room for
#: paper-scale results with long loss curves and refuses padded or junk files.
MAX_RESULT_BYTES = 1_048_576
#: Largest difference between a stored headline metric and the one its evidence gives.
METRIC_TOLERANCE = 1e-12
#: The legacy manifest, in the leaderboard folder: the exact bytes of the evidence-less results.
LEGACY_MANIFEST = "legacy-results.sha256"
#: The penalties the probe chooses from, per task kind.
PENALTY_GRIDS = {"classification": C_GRID, "regression": ALPHA_GRID}
_MANIFEST_LINE = re.compile(r"^([0-9a-f]{64})  (\S.*)$")


def sha256_bytes(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def read_legacy_manifest(root: str | Path) -> dict[str, str]:
    """``results/...json -> sha256`` of the folder's legacy manifest ({} when there is none);
    :class:`FileFormatError` (one line naming the file and the line) for a malformed one."""
    path = Path(root) / LEGACY_MANIFEST
    if not path.is_file():
        return {}
    listed: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _MANIFEST_LINE.match(line)
        if not match or match.group(2) in listed:
            raise FileFormatError(f"{LEGACY_MANIFEST}: line {number} is not a 'sha256  results/...json' line of a new path")
        listed[match.group(2)] = match.group(1)
    return listed


@lru_cache(maxsize=None)
def _suite_kind(suite: str) -> str | None:
    from mmphase_bench.harness.suites import SUITE_TASK_KINDS

    return SUITE_TASK_KINDS.get(suite)


def task_kind(record: ResultRecord) -> str:
    """classification or regression: the registered suite's task, else the evidence's, else the metrics'."""
    kind = _suite_kind(record.suite)
    if kind is not None:
        return kind
    if record.evidence is not None:
        return record.evidence.kind
    return "regression" if record.metrics.r2 is not None else "classification"


#: The harness protocols whose results this package can check.
KNOWN_PROTOCOLS = ("harness/1", "harness/2")
#: Largest spectral-probe width accepted (the widest embedding of any suite is 128).
MAX_SPECTRAL_WIDTH = 4096


def _rank_entry_problem(entry: dict, evidence, kind: str) -> str | None:
    """Why one rank's evidence does not fit the headline evidence: another shape, other true-class
    counts (classification), other total sums of squares (regression), or other keys."""
    rank = entry.get("r")
    if kind == "classification":
        matrix = entry.get("confusion_matrix")
        if set(entry) != {"r", "confusion_matrix"} or not matrix:
            return f"evidence/spectral at r = {rank} must hold r and a confusion_matrix only"
        headline = [list(row) for row in evidence.confusion_matrix]
        if len(matrix) != len(headline) or any(len(row) != len(headline) for row in matrix):
            return f"evidence/spectral at r = {rank}: the confusion matrix is not {len(headline)} x {len(headline)}"
        if [sum(row) for row in matrix] != [sum(row) for row in headline]:
            return f"evidence/spectral at r = {rank}: the true-class counts differ from the headline confusion matrix's"
        return None
    if set(entry) != {"r", "ss_res", "ss_tot"}:
        return f"evidence/spectral at r = {rank} must hold r, ss_res and ss_tot only"
    if list(entry["ss_tot"]) != list(evidence.ss_tot):
        return f"evidence/spectral at r = {rank}: ss_tot differs from the headline evidence's (the same test targets)"
    return None


def integrity_problem(record: ResultRecord, *, legacy: bool = False) -> str | None:
    """Why the metrics of an ``ok`` result cannot be trusted, or None: empty metrics, metrics missing
    for the task or not the task's, values out of range or not finite, a penalty the probe does not
    try, evidence missing (allowed only when ``legacy``: the file is listed in the legacy manifest),
    evidence inconsistent with the test size, or giving other metrics than the stored ones; and, for
    every result, a protocol hash that is not the hash of what the record says it covers."""
    if not record.ok:
        return None
    if record.scale_config is not None:  # the hash is recomputable from what the record says it covers
        expected = protocol_hash(record.suite, record.cell.config, record.scale_config, record.submission.source_hash,
                                 protocol=record.provenance.protocol_version)
        if expected != record.provenance.protocol_hash:
            return ("provenance/protocol_hash does not match the protocol version, suite, cell, scale and source "
                    "hash the result records")
    metrics = {name: value for name, value in record.metrics.to_dict().items() if value is not None}
    if not metrics:
        return "status ok but the metrics are empty"
    kind = task_kind(record)
    # harness/1 results (schema 3 and older) have no spectral headline; harness/2 ones must have it.
    if record.provenance.protocol_version not in KNOWN_PROTOCOLS:
        return (f"provenance/protocol_version {record.provenance.protocol_version!r} is not one this package knows "
                f"({', '.join(KNOWN_PROTOCOLS)})")
    spectral = record.provenance.protocol_version != "harness/1"

    required = TASK_METRICS[kind] + ((HEADLINE_METRIC,) if spectral else ())
    extra = sorted(set(metrics) - set(required) - {"penalty"})
    if extra:
        return f"extra metric(s) {', '.join(extra)} for a {kind} result (allowed: {', '.join(required)}, penalty)"
    missing = [name for name in required if name not in metrics]
    if missing:
        return f"missing metric(s) {', '.join(missing)} for a {kind} result"
    for name, value in metrics.items():
        if not math.isfinite(value):
            return f"metrics/{name} = {value} is not finite"
    for name in required:
        regression_like = name == "r2" or (name == HEADLINE_METRIC and kind == "regression")
        low, text = (-math.inf, "R^2 is at most 1") if regression_like else (0.0, "[0, 1]")
        if not low <= metrics[name] <= 1.0:
            return f"metrics/{name} = {metrics[name]!r} is out of range ({text})"
    if "penalty" in metrics and metrics["penalty"] not in PENALTY_GRIDS[kind]:
        grid = ", ".join(f"{value:g}" for value in PENALTY_GRIDS[kind])
        return f"metrics/penalty = {metrics['penalty']!r} is not one the probe tries ({grid})"
    evidence = record.evidence
    if evidence is None:
        if legacy:
            return None
        return f"no evidence to recompute its metrics from (only legacy results listed in {LEGACY_MANIFEST} may lack it)"
    if evidence.kind != kind:
        return f"evidence is for {evidence.kind} but the result is {kind}"
    n_test = (record.scale_config or {}).get("n_test")
    if isinstance(n_test, int) and evidence.n != n_test:
        return f"evidence/n = {evidence.n} differs from the scale's test size {n_test}"
    if kind == "classification":
        if evidence.confusion_matrix is None or evidence.ss_res is not None or evidence.ss_tot is not None:
            return "classification evidence must hold a confusion_matrix and no sums of squares"
        total = sum(sum(row) for row in evidence.confusion_matrix)
        if total != evidence.n:
            return f"evidence/confusion_matrix sums to {total}, not to the test size {evidence.n}"
    else:
        if evidence.ss_res is None or evidence.ss_tot is None or evidence.confusion_matrix is not None:
            return "regression evidence must hold ss_res and ss_tot and no confusion matrix"
        if evidence.n < 2:
            return f"evidence/n = {evidence.n}: R^2 needs at least 2 test examples"
    if spectral and not evidence.spectral:
        return f"evidence/spectral is missing: {HEADLINE_METRIC} cannot be recomputed"
    if spectral:
        from mmphase_bench.harness.probes import spectral_ranks

        # The ranks are the protocol's, not the submitter's: those of the spectral probe's width.
        if record.probes is None:
            return f"probes are missing: a {record.provenance.protocol_version} result records the spectral probe"
        probe = record.probes.spectral
        width = probe.width
        if not (isinstance(width, int) and 0 <= width <= MAX_SPECTRAL_WIDTH):
            return f"probes/spectral/width = {width!r} is not an integer in [0, {MAX_SPECTRAL_WIDTH}]"
        key = "top1" if kind == "classification" else "r2"
        if probe.metric != key or any(not isinstance(point.get(key), (int, float)) for point in probe.curve):
            return f"probes/spectral must score {key} at every rank of a {kind} result"
        expected_ranks = list(spectral_ranks(width)) if width > 0 else [1]
        ranks = [entry.get("r") for entry in evidence.spectral]
        curve_ranks = [point.get("r") for point in record.probes.spectral.curve]
        if ranks != expected_ranks or curve_ranks != expected_ranks:
            return (f"evidence/spectral ranks {ranks} (curve {curve_ranks}) are not the spectral probe's ranks "
                    f"{expected_ranks} for width {width}")
    if not spectral and evidence.spectral is not None:
        return f"evidence/spectral in a {record.provenance.protocol_version} result, which has no spectral headline"
    try:
        recomputed = recompute_metrics(evidence)
        if spectral:
            for entry in evidence.spectral:
                problem = _rank_entry_problem(entry, evidence, kind)
                if problem:
                    return problem
            recomputed[HEADLINE_METRIC] = recompute_spectral_auc(evidence)
            # The plotted curve is the evidence's: each rank's score, and its last point.
            key = "top1" if kind == "classification" else "r2"
            for entry, point in zip(evidence.spectral, record.probes.spectral.curve):
                value = recompute_metrics({**entry, "kind": kind})[key]
                if not abs(point[key] - value) <= METRIC_TOLERANCE:
                    return f"probes/spectral/curve at r = {entry['r']}: {point[key]!r} is not the {value!r} its evidence gives"
            if not abs(record.probes.spectral.full - value) <= METRIC_TOLERANCE:
                return f"probes/spectral/full = {record.probes.spectral.full!r} is not the last rank's {value!r}"
    except InputError as error:
        return f"evidence: {error}"
    for name in required:
        if not abs(metrics[name] - recomputed[name]) <= METRIC_TOLERANCE:
            return f"metrics/{name} = {metrics[name]!r} mismatches the {recomputed[name]!r} its evidence gives"
    if spectral and record.probes is not None and not abs(record.probes.spectral.auc - metrics[HEADLINE_METRIC]) <= METRIC_TOLERANCE:
        return f"probes/spectral/auc = {record.probes.spectral.auc!r} differs from metrics/{HEADLINE_METRIC}"
    return None
