"""Result files: one JSON per (submission, suite, cell, seed), versioned schema, atomic writes.

A result is written by the harness as a plain dict (validated against ``result.schema.json``) and read
back as a typed, frozen :class:`ResultRecord` (with :class:`SubmissionInfo`, :class:`CellInfo`,
:class:`Metrics`, :class:`Curves`, :class:`Diagnostics` and :class:`Provenance`), so that code reading
results names fields, not string keys. ``ResultRecord.from_dict(data).to_dict() == data`` holds for
every file the harness writes; a test checks that the dataclasses and the JSON Schema list the same
fields with the same types, required-ness and nullability.

Upgrade path: every result carries ``schema_version`` (now :data:`SCHEMA_VERSION`). When the format
changes, bump :data:`SCHEMA_VERSION`, update the schema and the dataclasses, and register in
:data:`MIGRATIONS` a function that turns a version-``n`` dict into a version-``n + 1`` dict.
:func:`upgrade_result` applies them in order whenever a result is read (:func:`read_result`,
:meth:`ResultRecord.from_dict`, and so the leaderboard), so older files stay readable; they are
rewritten in the new version only when re-published or re-run.

Version 2 added :class:`Evidence`: what the headline metrics are recomputed from (the test-split
confusion matrix, or per target column the residual and total sums of squares), with SHA-256 hashes
of the test predictions and targets (:func:`array_sha256`), so that ``mmphase leaderboard check``
recomputes every published metric (:func:`recompute_metrics`) and a re-run can be compared exactly.
The version-1 results had no evidence and were not re-run: the migration sets ``evidence`` to null,
and such a result is accepted on the leaderboard only as a *legacy* result, listed by its exact bytes
in the leaderboard's legacy manifest (see :mod:`mmphase_bench.leaderboard.store`).

Version 3 added :class:`Probes`: two probe protocols beside the headline (converged) probe, computed
from the same frozen features (:mod:`mmphase_bench.harness.probes`): the spectral probe (the converged
probe on the top principal components; the recovery notion of Kamai et al. 2026) and the authors'
short probe (``reference``, size chosen on validation; ``reference_literal``, best over sizes on the
test split, for reproducing the paper only). The headline ``metrics`` and ``evidence`` are unchanged.
The migration from version 2 sets ``probes`` to null; files are migrated when read, never rewritten.

Version 4 (harness protocol 2) made the spectral probe the leaderboard's headline: ``metrics``
gains ``spectral_auc`` (the spectral probe's mean accuracy over log rank; :func:`log_rank_auc`) and
``evidence`` gains ``spectral``, one entry per rank with that rank's test confusion matrix (or sums
of squares), from which ``spectral_auc`` is recomputed exactly (:func:`recompute_spectral_auc`).
``status`` may also be ``incomplete``: a wall-clock guard stopped the training, so the result is
not reused and not published. The migration from version 3 changes nothing else (older results
have no ``spectral_auc``; their headline stays the converged probe's, and the leaderboard never
mixes protocol versions in one table).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import platform
import resource
import subprocess
import types
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import numpy as np
import torch

from mmphase_bench._version import __version__
from mmphase_bench.errors import InputError, InputTypeError
from mmphase_bench.io.atomic import write_text_atomic

SCHEMA_VERSION = 4
#: The harness protocol (training loop, probes, headline, diagnostics). Part of every protocol hash.
#: harness/2: the spectral probe's AUC is the headline; training budgeted in epochs only.
PROTOCOL_VERSION = "harness/2"
#: The leaderboard's headline metric of harness/2 results (``metrics.spectral_auc``).
HEADLINE_METRIC = "spectral_auc"


def _v1_to_v2(result: dict) -> dict:
    """Version 1 had no evidence: it becomes null (a legacy result, unverifiable until re-run)."""
    return {**result, "schema_version": 2, "evidence": None}


def _v2_to_v3(result: dict) -> dict:
    """Version 2 had no extra probes: they become null (the file is not rewritten; re-run to get them)."""
    return {**result, "schema_version": 3, "probes": None}


#: Result-format migrations: ``MIGRATIONS[n]`` takes a schema-version-``n`` result dict and returns
#: the same result as version ``n + 1`` (a new dict; it must set ``schema_version`` to ``n + 1``).
def _v3_to_v4(result: dict) -> dict:
    """Version 4 only added optional fields (``metrics.spectral_auc``, ``evidence.spectral``) and the
    ``incomplete`` status: a version-3 result is a valid version-4 one as it is."""
    return {**result, "schema_version": 4}


MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}

#: The headline metrics each task kind must have (and, with the probe's ``penalty``, the only ones allowed).
TASK_METRICS = {"classification": ("top1", "balanced_accuracy"), "regression": ("r2",)}


# ------------------------------------------------------------------ evidence: metrics from their inputs


def array_sha256(values, kind: str) -> str:
    """SHA-256 of an array's canonical bytes: C-order little-endian int64 (``kind`` classification:
    class labels) or float64 (regression: an (n, columns) array; a 1-d one is one column)."""
    if kind == "classification":
        array = np.ascontiguousarray(np.asarray(values), dtype="<i8")
    else:
        array = np.asarray(values, dtype=np.float64)
        array = np.ascontiguousarray(array.reshape(len(array), -1), dtype="<f8")
    return hashlib.sha256(array.tobytes()).hexdigest()


def classification_evidence(targets, predicted, classes) -> dict:
    """The evidence of a classification probe on the test split: the confusion matrix (rows: true
    class, columns: predicted class, in the sorted order of ``classes`` and of every label seen) and
    the hashes of the predictions and targets."""
    targets, predicted = np.asarray(targets), np.asarray(predicted)
    labels = np.unique(np.concatenate([np.asarray(classes).ravel(), targets.ravel(), predicted.ravel()]))
    index = {label: i for i, label in enumerate(labels.tolist())}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(matrix, ([index[t] for t in targets.tolist()], [index[p] for p in predicted.tolist()]), 1)
    return {"kind": "classification", "n": int(len(targets)), "confusion_matrix": matrix.tolist(),
            "predictions_sha256": array_sha256(predicted, "classification"),
            "targets_sha256": array_sha256(targets, "classification")}


def regression_evidence(targets, predicted) -> dict:
    """The evidence of a regression probe on the test split: per target column the residual sum of
    squares and the total sum of squares about the column mean, computed in float64 as
    :func:`sklearn.metrics.r2_score` does, and the hashes of the predictions and targets."""
    y_true = np.asarray(targets, dtype=np.float64)
    y_pred = np.asarray(predicted, dtype=np.float64)
    y_true, y_pred = y_true.reshape(len(y_true), -1), y_pred.reshape(len(y_pred), -1)
    ss_res = np.sum(1.0 * (y_true - y_pred) ** 2, axis=0)
    ss_tot = np.sum(1.0 * (y_true - np.average(y_true, axis=0)) ** 2, axis=0)
    return {"kind": "regression", "n": int(len(y_true)), "ss_res": ss_res.tolist(), "ss_tot": ss_tot.tolist(),
            "predictions_sha256": array_sha256(y_pred, "regression"),
            "targets_sha256": array_sha256(y_true, "regression")}


def recompute_metrics(evidence: "Evidence | Mapping") -> dict[str, float]:
    """The headline metrics that ``evidence`` gives: top-1 = trace / total and balanced accuracy =
    mean recall over the classes present in the targets (as :func:`sklearn.metrics.balanced_accuracy_score`),
    or R^2 = mean over columns of 1 - ss_res / ss_tot, with :func:`sklearn.metrics.r2_score`'s finite
    convention (a column with ss_res = 0 scores 1; ss_res > 0 and ss_tot = 0 scores 0). Raises
    :class:`InputError` for evidence it cannot recompute from (no counts, a non-square matrix...)."""
    data = evidence.to_dict() if isinstance(evidence, Evidence) else dict(evidence)
    if data.get("kind") == "classification":
        rows = data.get("confusion_matrix")
        if not rows or any(len(row) != len(rows) for row in rows):
            raise InputError("the confusion matrix is not a non-empty square matrix")
        matrix = np.asarray(rows, dtype=np.int64)
        if (matrix < 0).any() or matrix.sum() <= 0:
            raise InputError("the confusion matrix has negative counts or no counts")
        true_counts = matrix.sum(axis=1)
        present = true_counts > 0
        recall = np.diag(matrix)[present] / true_counts[present]
        return {"top1": float(np.trace(matrix) / matrix.sum()), "balanced_accuracy": float(np.mean(recall))}
    if data.get("kind") == "regression":
        ss_res, ss_tot = data.get("ss_res"), data.get("ss_tot")
        if not ss_res or ss_tot is None or len(ss_res) != len(ss_tot):
            raise InputError("ss_res and ss_tot must be non-empty and of one length (one entry per target column)")
        res, tot = np.asarray(ss_res, dtype=np.float64), np.asarray(ss_tot, dtype=np.float64)
        if not (np.all(np.isfinite(res)) and np.all(np.isfinite(tot))) or (res < 0).any() or (tot < 0).any():
            raise InputError("ss_res and ss_tot must be finite and non-negative")
        scores = np.ones(len(res))
        valid = (tot != 0) & (res != 0)
        scores[valid] = 1 - res[valid] / tot[valid]
        scores[(res != 0) & (tot == 0)] = 0.0
        return {"r2": float(np.average(scores))}
    raise InputError(f"evidence kind must be classification or regression, got {data.get('kind')!r}")


def log_rank_auc(ranks, values) -> float:
    """The mean of a curve ``values[i] = m(ranks[i])`` over ``log r``: trapezoids on the (increasing,
    positive) rank grid divided by ``log r_max - log r_min``; ``values[0]`` for a one-point curve."""
    ranks, values = np.asarray(ranks, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if len(ranks) == 0 or len(ranks) != len(values):
        raise InputError("ranks and values must be non-empty and of one length")
    if len(ranks) == 1:
        return float(values[0])
    if ranks[0] < 1 or np.any(np.diff(ranks) <= 0):
        raise InputError("ranks must be increasing positive integers")
    logs = np.log(ranks)
    return float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(logs)) / (logs[-1] - logs[0]))


def rank_evidence(kind: str, targets, predicted, classes=None) -> dict:
    """One rank's entry of ``evidence.spectral`` (without ``r``): the test confusion matrix, or the
    per-column sums of squares, as in :func:`classification_evidence` / :func:`regression_evidence`."""
    if kind == "classification":
        return {"confusion_matrix": classification_evidence(targets, predicted, classes)["confusion_matrix"]}
    full = regression_evidence(targets, predicted)
    return {"ss_res": full["ss_res"], "ss_tot": full["ss_tot"]}


def recompute_spectral_auc(evidence: "Evidence | Mapping") -> float:
    """``spectral_auc`` from ``evidence.spectral``: each rank's top-1 (or R^2) recomputed from its
    entry (:func:`recompute_metrics`), then :func:`log_rank_auc` over the ranks. Raises
    :class:`InputError` when there is no spectral evidence or it is malformed."""
    data = evidence.to_dict() if isinstance(evidence, Evidence) else dict(evidence)
    entries = data.get("spectral")
    kind = data.get("kind")
    if not entries:
        raise InputError("the evidence has no spectral entries")
    key = "top1" if kind == "classification" else "r2"
    ranks, values = [], []
    for entry in entries:
        ranks.append(entry.get("r"))
        values.append(recompute_metrics({**entry, "kind": kind})[key])
    if any(not isinstance(r, int) or r < 1 for r in ranks):
        raise InputError("every spectral entry needs a positive integer rank r")
    return log_rank_auc(ranks, values)


def upgrade_result(result: Any) -> Any:
    """``result`` upgraded to :data:`SCHEMA_VERSION` by the registered :data:`MIGRATIONS` (a new dict;
    the argument is not changed). Anything without an integer ``schema_version`` is returned as it is,
    for :func:`validate_result` to report; a version newer than this package's, or older than the
    oldest migration, raises :class:`InputError`."""
    if not isinstance(result, dict) or type(result.get("schema_version")) is not int:
        return result
    version = result["schema_version"]
    if version > SCHEMA_VERSION:
        raise InputError(f"result has schema_version {version}, newer than the {SCHEMA_VERSION} this mmphase-bench "
                         f"{__version__} reads; upgrade mmphase-bench")
    upgraded = result
    while version < SCHEMA_VERSION:
        migrate = MIGRATIONS.get(version)
        if migrate is None:
            raise InputError(f"result has schema_version {version}, for which no migration to {version + 1} is registered")
        upgraded = migrate(copy.deepcopy(upgraded))
        if not isinstance(upgraded, dict) or upgraded.get("schema_version") != version + 1:
            raise RuntimeError(f"the migration from schema_version {version} did not produce version {version + 1}")
        version += 1
    return upgraded


# ------------------------------------------------------------------ the typed record

#: Field metadata: the key is left out of the JSON when the value is None (an optional, non-nullable
#: key). Other fields typed ``X | None`` are nullable keys and are written as ``null``.
ABSENT_IF_NONE = "absent_if_none"


def _optional() -> Any:
    return field(default=None, metadata={ABSENT_IF_NONE: True})


def split_optional(annotation) -> tuple[Any, bool]:
    """(the annotation without ``None``, whether it allowed ``None``)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(rest) == 1 and len(rest) < len(typing.get_args(annotation)):
            return rest[0], True
    return annotation, False


def _from_json(annotation, value):
    """A JSON value as the annotated Python type: sections as dataclasses, arrays as tuples, numbers
    as float where a float is declared, free-form objects as deep copies."""
    if value is None:
        return None
    base, _ = split_optional(annotation)
    if dataclasses.is_dataclass(base):
        return base.from_dict(value)
    origin = typing.get_origin(base)
    if origin is tuple:
        item = typing.get_args(base)[0]
        return tuple(_from_json(item, entry) for entry in value)
    if base is float:
        return float(value)
    if base is dict or origin is dict:
        return copy.deepcopy(dict(value))
    return value


def _to_json(value):
    if dataclasses.is_dataclass(value):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_to_json(entry) for entry in value]
    if isinstance(value, dict):
        return copy.deepcopy(value)
    return value


class _Section:
    """Conversion between a frozen dataclass and its JSON object, driven by the field annotations."""

    @classmethod
    def from_dict(cls, data: Mapping):
        """The section of a schema-valid result (no validation here: :meth:`ResultRecord.from_dict`
        validates the whole result)."""
        return cls._from_fields(data)

    @classmethod
    def _from_fields(cls, data: Mapping):
        hints = typing.get_type_hints(cls)
        return cls(**{f.name: _from_json(hints[f.name], data[f.name]) for f in dataclasses.fields(cls) if f.name in data})

    def to_dict(self) -> dict:
        """The JSON object: None values left out where :data:`ABSENT_IF_NONE`, else written as null; a
        section whose every value is None (a failed run's metrics or diagnostics) is ``{}``."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata.get(ABSENT_IF_NONE):
                continue
            out[f.name] = _to_json(value)
        return out if any(value is not None for value in out.values()) else {}


@dataclass(frozen=True, kw_only=True)
class SubmissionInfo(_Section):
    """Which model produced the result, and from which code."""

    name: str
    family: Literal["CA", "CP", "other"]
    source: str  #: ``builtin:NAME``, ``module:MOD:Class`` or ``file:PATH:Class``
    source_hash: str  #: sha256 of the submission's code
    parameters: int | None  #: trainable parameters (None if the model was never built)


@dataclass(frozen=True, kw_only=True)
class CellInfo(_Section):
    """The regime cell: its name, generator config and phase placement (free-form objects)."""

    name: str
    config: dict
    placement: dict | None


@dataclass(frozen=True, kw_only=True)
class Metrics(_Section):
    """The frozen linear probe's test metrics: top-1 and balanced accuracy (classification) or R^2
    (regression), and the chosen penalty. Empty for a failed run."""

    top1: float | None = _optional()
    balanced_accuracy: float | None = _optional()
    r2: float | None = _optional()
    penalty: float | None = _optional()
    #: the headline since harness/2: the spectral probe's mean top-1 (or R^2) over log rank
    spectral_auc: float | None = _optional()

    @property
    def headline(self) -> tuple[str, float] | None:
        """(name, value) of the leaderboard metric: ``spectral_auc`` (harness/2 results), else the
        converged probe's top-1 accuracy, else its R^2 (older results); None for a failed run."""
        for name in (HEADLINE_METRIC, "top1", "r2"):
            value = getattr(self, name)
            if value is not None:
                return name, value
        return None


@dataclass(frozen=True, kw_only=True)
class Evidence(_Section):
    """What the headline metrics are recomputed from (:func:`recompute_metrics`), from the final
    refit probe on the test split: the confusion matrix (classification) or per target column the
    residual and total sums of squares (regression), and SHA-256 hashes of the test predictions and
    targets (:func:`array_sha256`)."""

    kind: Literal["classification", "regression"]
    n: int  #: test examples
    predictions_sha256: str
    targets_sha256: str
    #: counts, n_classes x n_classes, rows the true class, columns the predicted class
    confusion_matrix: tuple[tuple[int, ...], ...] | None = _optional()
    ss_res: tuple[float, ...] | None = _optional()  #: per target column: sum of (target - prediction)^2
    ss_tot: tuple[float, ...] | None = _optional()  #: per target column: sum of (target - column mean)^2
    #: per rank of the spectral probe: ``r`` and that rank's confusion_matrix (or ss_res and ss_tot)
    spectral: tuple[dict, ...] | None = _optional()


@dataclass(frozen=True, kw_only=True)
class SpectralProbe(_Section):
    """The converged probe on the top-``r`` principal components of the training features, ``r``
    log-spaced from 1 to ``width`` (:func:`mmphase_bench.harness.probes.spectral_probe`)."""

    metric: Literal["top1", "r2"]
    width: int  #: the numerical rank of the centred training features (the feature width, usually)
    full: float  #: the metric on all ``width`` components
    auc: float  #: the mean of the metric over log r (trapezoids on the rank grid)
    r90: int | None  #: the smallest rank reaching 0.9 ``full``; null when ``full <= 0``
    curve: tuple[dict, ...]  #: per rank: ``r``, the test metrics, ``penalty``


@dataclass(frozen=True, kw_only=True)
class ReferenceProbe(_Section):
    """The authors' short probe (a linear layer, few Adam steps, raw features), the probe size chosen
    on validation and scored on test (:func:`mmphase_bench.harness.probes.reference_probe`);
    ``variant`` ``extension`` for regression (MSE, R^2: not in the paper)."""

    metric: Literal["top1", "r2"]
    variant: Literal["authors", "extension"]
    value: float  #: the test score at the chosen size
    size: int
    steps: int
    learning_rate: float
    curve: tuple[dict, ...]  #: per probe size: ``n``, ``val`` and ``test`` scores


@dataclass(frozen=True, kw_only=True)
class ReferenceLiteral(_Section):
    """The authors' short probe as their figure reports it: the best score over the probe sizes on
    the split it is reported on (here test). For reproducing the paper only."""

    metric: Literal["top1", "r2"]
    value: float
    size: int
    note: Literal["for reproducing the paper only"]


@dataclass(frozen=True, kw_only=True)
class Probes(_Section):
    """The probe protocols recorded beside the headline (converged) probe."""

    spectral: SpectralProbe
    reference: ReferenceProbe
    reference_literal: ReferenceLiteral
    #: task name -> its probes (:mod:`mmphase_bench.harness.tasks`), for suites with several labels
    tasks: dict | None = _optional()


@dataclass(frozen=True, kw_only=True)
class Curves(_Section):
    """Per-epoch losses and the probe-size curve (one object per probe size, with ``n``)."""

    probe_size: tuple[dict, ...] | None = _optional()
    train_loss: tuple[float, ...] | None = _optional()
    val_loss: tuple[float, ...] | None = _optional()


@dataclass(frozen=True, kw_only=True)
class Diagnostics(_Section):
    """Representation diagnostics; ``canonical_correlations`` is null for models without a y encoder."""

    nuisance_r2: dict[str, float] | None = _optional()
    effective_rank: float | None = _optional()
    canonical_correlations: tuple[float, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class Provenance(_Section):
    """What produced the result: versions, protocol, data, device and cost."""

    package_version: str
    git_commit: str | None = None
    protocol_version: str
    protocol_hash: str
    dataset_fingerprints: dict[str, str]
    torch: str
    numpy: str
    python: str
    device: str
    wall_time_s: float
    peak_memory_mib: float
    finished_at: str
    host_cpus: int | None = None
    #: torch intra-op threads (CPU results are bit-identical only at the same count); older results lack it
    torch_threads: int | None = _optional()


@dataclass(frozen=True, kw_only=True)
class ResultRecord(_Section):
    """One result file, typed. Build it with :meth:`from_dict` (upgrades and validates), write it
    with :meth:`to_dict`."""

    schema_version: int
    status: Literal["ok", "failed", "incomplete"]
    error: str | None
    submission: SubmissionInfo
    suite: str
    cell: CellInfo
    scale: Literal["smoke", "small", "paper"]
    scale_config: dict | None = _optional()
    seed: int
    metrics: Metrics
    #: what the metrics are recomputed from; null for a failed run and for legacy (version-1) results
    evidence: Evidence | None
    #: the extra probe protocols; null for a failed run and for results older than version 3
    probes: Probes | None
    curves: Curves
    diagnostics: Diagnostics
    training: dict
    provenance: Provenance

    @classmethod
    def from_dict(cls, data: Mapping) -> "ResultRecord":
        """The record of a result dict (as read from JSON): upgraded to the current schema version
        (:func:`upgrade_result`), validated (:func:`validate_result`, raising :class:`InputError`), typed."""
        if not isinstance(data, Mapping):
            raise InputTypeError(f"result must be a JSON object, got {type(data).__name__}")
        # _plain: also takes the harness's in-memory dicts (numpy scalars, tuples)
        upgraded = upgrade_result(_plain(data, strings_for_non_finite=False))
        validate_result(upgraded)
        return cls._from_fields(upgraded)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def verified(self) -> bool:
        """Whether the result carries evidence its metrics can be recomputed from (legacy results,
        migrated from version 1, do not: the leaderboard marks them unverified)."""
        return self.evidence is not None

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        """(suite, scale, submission, cell, seed): what may appear once on the leaderboard."""
        return self.suite, self.scale, self.submission.name, self.cell.name, self.seed

    @property
    def table(self) -> tuple[str, str]:
        """(suite, scale): the leaderboard table the result belongs to."""
        return self.suite, self.scale


def as_record(result: ResultRecord | Mapping) -> ResultRecord:
    """``result`` itself if it is a record, else :meth:`ResultRecord.from_dict` of it."""
    return result if isinstance(result, ResultRecord) else ResultRecord.from_dict(result)


@lru_cache(maxsize=1)
def result_schema() -> dict:
    """The JSON Schema of result files (shipped in the package)."""
    return json.loads(resources.files("mmphase_bench.harness").joinpath("result.schema.json").read_text())


def _non_finite(value, where: str = "") -> str | None:
    """The location of the first NaN or infinite number (JSON Schema lets NaN through)."""
    if isinstance(value, float) and not np.isfinite(value):
        return where or "(top level)"
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f"{where}/{key}" if where else str(key))
        if found:
            return found
    return None


def validate_result(result: dict) -> None:
    """Raise :class:`InputError` (a ``ValueError``) naming the first schema violation or non-finite number."""
    import jsonschema

    where = _non_finite(result)
    if where:
        raise InputError(f"result holds a NaN or infinite number at {where}")
    error = jsonschema.exceptions.best_match(_validator().iter_errors(result))  # as jsonschema.validate does
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise InputError(f"result does not match the schema at {where}: {error.message}") from None


@lru_cache(maxsize=1)
def _validator():
    """The schema's validator, the schema checked once (``jsonschema.validate`` re-checks it every call)."""
    import jsonschema

    schema = result_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def protocol_hash(suite: str, cell: dict, scale: dict, submission_hash: str, protocol: str = PROTOCOL_VERSION) -> str:
    """What a result depends on besides the seed: harness protocol, suite, cell, scale and the submission's code."""
    payload = {"protocol": protocol, "suite": suite, "cell": cell, "scale": scale, "submission": submission_hash}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def result_path(out: Path, suite: str, submission: str, cell: str, seed: int) -> Path:
    return Path(out) / suite / submission / f"{cell}__seed{seed}.json"


def read_result(path: Path) -> dict | None:
    """A previous result, upgraded to the current schema version, or None if it is missing,
    unreadable or invalid (it is then redone)."""
    try:
        result = upgrade_result(json.loads(Path(path).read_text()))
        validate_result(result)
        return result
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deeply
        return None


def write_result(path: Path, result: dict) -> None:
    """Validate what will be on disk (non-finite numbers become strings, which the schema rejects
    where a number is required), then write it atomically."""
    plain = _plain(result)
    validate_result(plain)
    write_text_atomic(path, json.dumps(plain, indent=2, sort_keys=True) + "\n")


def _plain(value, strings_for_non_finite: bool = True):
    """JSON-ready copy: numpy scalars to Python, non-finite floats to strings (or kept, for
    :func:`validate_result` to name where they are)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v, strings_for_non_finite) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, strings_for_non_finite) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if np.isfinite(value) or not strings_for_non_finite else str(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[2]
        output = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return output.stdout.strip() or None if output.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def provenance(*, protocol: str, fingerprints: dict, device: torch.device, wall_time: float) -> dict:
    from datetime import datetime, timezone

    name = str(device)
    if device.type == "cuda":
        name = f"{device} ({torch.cuda.get_device_name(device)})"
    return {
        "package_version": __version__, "git_commit": git_commit(), "protocol_version": PROTOCOL_VERSION,
        "protocol_hash": protocol, "dataset_fingerprints": fingerprints, "torch": torch.__version__,
        "numpy": np.__version__, "python": platform.python_version(), "device": name,
        "wall_time_s": float(wall_time), "peak_memory_mib": float(peak_memory_mib(device)),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host_cpus": os.cpu_count(),
        # CPU results are bit-identical only at the same intra-op thread count (reduction order).
        "torch_threads": torch.get_num_threads(),
    }
