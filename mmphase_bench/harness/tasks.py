"""Probe tasks of a suite with several labels: one frozen-feature probe per task, beside the headline.

The stellar suite scores every representation on three labels at once, as in Kamai et al. 2026
(LAMOST x Kepler / TESS table): binarity (balanced accuracy of a class-balanced logistic
regression), log g and age (R^2 of a ridge regression). Each :class:`ProbeTask` is probed on the same
frozen features as the headline, with the protocol of :mod:`mmphase_bench.harness.probe` (features
standardised on the training split, penalty chosen on validation only, refit on train + validation,
scored once on test) and of the spectral probe of :mod:`mmphase_bench.harness.probes` (the same
probe on the top ``r`` principal components of the centred training features, ``r`` log-spaced from
1 to the numerical rank; ``spectral_auc`` is the mean score over ``log r``).

Stars whose label is unknown (NaN) are left out of that task's probe, split by split.

Classification tasks use ``LogisticRegression(class_weight="balanced")``: each class weighs
``n / (n_classes n_c)``, so a probe cannot score by predicting the majority class (its balanced
accuracy is ``1 / n_classes``); the penalty is chosen by validation balanced accuracy.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import balanced_accuracy_score, r2_score
from sklearn.preprocessing import StandardScaler

from mmphase_bench.errors import InputError
from mmphase_bench.harness.probe import ALPHA_GRID, C_GRID
from mmphase_bench.harness.probes import principal_directions, spectral_ranks, spectral_summary

#: Fewest labelled examples per split (and, for classification, per class in training) a task probe needs.
MIN_LABELLED = 10
METRICS = {"classification": "balanced_accuracy", "regression": "r2"}


@dataclass(frozen=True)
class ProbeTask:
    """One label a suite's representations are probed on: ``name`` (the key of
    ``SplitData.task_labels``), ``kind`` ("classification" or "regression") and what it is."""

    name: str
    kind: str
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in METRICS:
            raise InputError(f"kind must be one of {', '.join(METRICS)}, got {self.kind!r}")

    @property
    def metric(self) -> str:
        return METRICS[self.kind]

    def to_dict(self) -> dict:
        return {**asdict(self), "metric": self.metric}


def _fit(kind: str, penalty: float, features: np.ndarray, targets: np.ndarray):
    model = (LogisticRegression(C=penalty, class_weight="balanced", max_iter=1000) if kind == "classification"
             else Ridge(alpha=penalty))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(features, targets)


def _score(kind: str, model, features: np.ndarray, targets: np.ndarray) -> float:
    predicted = model.predict(features)
    if kind == "classification":
        return float(balanced_accuracy_score(targets, predicted))
    return float(r2_score(np.asarray(targets, dtype=np.float64), np.asarray(predicted, dtype=np.float64)))


def _probe(kind: str, train, val, test) -> tuple[float, float]:
    """(test score, penalty): standardise on train, choose the penalty on val (ties: stronger
    regularisation), refit on train + val, score on test."""
    scaler = StandardScaler().fit(train[0])
    (train_f, train_t), (val_f, val_t), (test_f, test_t) = ((scaler.transform(f), t) for f, t in (train, val, test))
    grid = C_GRID if kind == "classification" else ALPHA_GRID[::-1]
    best, penalty = -np.inf, grid[0]
    for candidate in grid:
        score = _score(kind, _fit(kind, candidate, train_f, train_t), val_f, val_t)
        if score > best + 1e-12:
            best, penalty = score, candidate
    model = _fit(kind, penalty, np.concatenate([train_f, val_f]), np.concatenate([train_t, val_t]))
    return _score(kind, model, test_f, test_t), float(penalty)


def _labelled(features: np.ndarray, targets: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    targets = np.asarray(targets, dtype=np.float64).reshape(len(targets))
    keep = np.isfinite(targets)
    values = targets[keep]
    return np.asarray(features, dtype=np.float64)[keep], (values.astype(np.int64) if kind == "classification" else values)


def task_probe(task: ProbeTask, train_f, train_t, val_f, val_t, test_f, test_t) -> dict:
    """The converged and the spectral probe of one task (module docstring).

    Returns ``{"kind", "metric", "value", "penalty", "spectral_auc", "spectral_full", "spectral_r90",
    "spectral_curve": [{"r", "value"}], "n": {"train", "val", "test"}}``; ``value`` and the spectral
    entries are None (with a ``reason``) when a split has fewer than :data:`MIN_LABELLED` labelled
    examples or the training labels hold one class only."""
    splits = [_labelled(f, t, task.kind) for f, t in ((train_f, train_t), (val_f, val_t), (test_f, test_t))]
    counts = {name: int(len(t)) for name, (_, t) in zip(("train", "val", "test"), splits)}
    record = {"kind": task.kind, "metric": task.metric, "value": None, "penalty": None, "spectral_auc": None,
              "spectral_full": None, "spectral_r90": None, "spectral_curve": [], "n": counts}
    reason = None
    if min(counts.values()) < MIN_LABELLED:
        reason = f"fewer than {MIN_LABELLED} labelled examples in a split ({counts})"
    elif task.kind == "classification":
        classes, sizes = np.unique(splits[0][1], return_counts=True)
        if len(classes) < 2 or sizes.min() < 2:
            reason = f"the training labels need two classes with at least 2 examples each, got {dict(zip(classes.tolist(), sizes.tolist()))}"
    if reason:
        return {**record, "reason": reason}
    record["value"], record["penalty"] = _probe(task.kind, *splits)
    # The spectral probe: principal directions of the centred training features (not standardised).
    mean, directions = principal_directions(splits[0][0], task.kind)
    width = len(directions)
    if width == 0:
        return {**record, "reason": "the training features are constant"}
    scores = [((f - mean) @ directions.T, t) for f, t in splits]
    curve = []
    for r in spectral_ranks(width):
        value, _ = _probe(task.kind, *((z[:, :r], t) for z, t in scores))
        curve.append({"r": int(r), "value": value})
    auc, r90 = spectral_summary([point["r"] for point in curve], [point["value"] for point in curve])
    record.update(spectral_auc=float(auc), spectral_full=curve[-1]["value"], spectral_r90=r90, spectral_curve=curve)
    return record


def task_probes(tasks, features: dict[str, np.ndarray], labels: dict[str, dict[str, np.ndarray]]) -> dict:
    """``{task.name: task_probe(...)}`` for every task, from cached ``features[split]`` and
    ``labels[split][task.name]`` (splits train, val, test)."""
    out = {}
    for task in tasks:
        args = []
        for split in ("train", "val", "test"):
            args += [features[split], labels[split][task.name]]
        out[task.name] = task_probe(task, *args)
    return out
