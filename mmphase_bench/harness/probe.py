"""The frozen linear probe (after CLIP_benchmark): features cached, regularisation chosen on the
validation split only, refit on train + validation, scored once on the test split.

The headline score comes with its evidence (:func:`mmphase_bench.harness.results.classification_evidence`
or :func:`~mmphase_bench.harness.results.regression_evidence`): the test confusion matrix, or the sums
of squares per target column, from which the metrics are recomputed exactly, and hashes of the test
predictions and targets. The headline regression score is computed on float64 copies of the targets
and predictions (the canonical dtype of the evidence), so that it and its evidence agree bit for bit."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import balanced_accuracy_score, r2_score
from sklearn.preprocessing import StandardScaler

from mmphase_bench.harness.results import classification_evidence, regression_evidence

#: Inverse regularisation strengths tried for the logistic probe, ridge penalties for regression.
C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
ALPHA_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


@dataclass
class ProbeResult:
    metrics: dict  #: top1 and balanced_accuracy (classification) or r2 (regression), and the chosen penalty
    curve: list[dict]  #: the probe-size curve: one entry per labelled training-set size
    #: what the headline metrics are recomputed from (the result's ``evidence`` section)
    evidence: dict | None = None


def _fit(kind: str, penalty: float, features: np.ndarray, targets: np.ndarray):
    if kind == "classification":
        model = LogisticRegression(C=penalty, max_iter=500)
    else:
        model = Ridge(alpha=penalty)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(features, targets)


def _score(kind: str, model, features: np.ndarray, targets: np.ndarray) -> dict:
    predicted = model.predict(features)
    if kind == "classification":
        return {"top1": float(np.mean(predicted == targets)), "balanced_accuracy": float(balanced_accuracy_score(targets, predicted))}
    return {"r2": float(r2_score(targets, predicted))}


def _headline(kind: str, model, features: np.ndarray, targets: np.ndarray) -> tuple[dict, dict]:
    """The test metrics of the final probe and their evidence."""
    predicted = model.predict(features)
    if kind == "classification":
        return _score(kind, model, features, targets), classification_evidence(targets, predicted, model.classes_)
    y_true, y_pred = np.asarray(targets, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    return {"r2": float(r2_score(y_true, y_pred))}, regression_evidence(y_true, y_pred)


def _select(kind: str, train_f, train_t, val_f, val_t) -> tuple[float, object]:
    """The penalty with the best validation score (top-1 or R^2); ties go to stronger regularisation."""
    grid = C_GRID if kind == "classification" else ALPHA_GRID[::-1]
    key = "top1" if kind == "classification" else "r2"
    best_score, best_penalty, best_model = -np.inf, None, None
    for penalty in grid:
        model = _fit(kind, penalty, train_f, train_t)
        score = _score(kind, model, val_f, val_t)[key]
        if score > best_score + 1e-12:
            best_score, best_penalty, best_model = score, penalty, model
    return best_penalty, best_model


def linear_probe(train_f, train_t, val_f, val_t, test_f, test_t, *, kind: str, sizes: tuple[int, ...], seed: int) -> ProbeResult:
    """Headline metrics (penalty chosen on validation, refit on train + validation, tested once) and
    the probe-size curve (for each size: a seeded subsample of train, penalty chosen on validation,
    scored on test)."""
    scaler = StandardScaler().fit(train_f)
    train_f, val_f, test_f = (scaler.transform(f) for f in (train_f, val_f, test_f))
    penalty, _ = _select(kind, train_f, train_t, val_f, val_t)
    refit = _fit(kind, penalty, np.concatenate([train_f, val_f]), np.concatenate([train_t, val_t]))
    metrics, evidence = _headline(kind, refit, test_f, test_t)
    metrics["penalty"] = penalty
    rng = np.random.default_rng(seed)
    curve = []
    for size in sorted({min(s, len(train_f)) for s in sizes}):
        index = rng.choice(len(train_f), size=size, replace=False)
        if kind == "classification" and len(np.unique(train_t[index])) < 2:
            continue
        chosen, model = _select(kind, train_f[index], train_t[index], val_f, val_t)
        curve.append({"n": int(size), **_score(kind, model, test_f, test_t), "penalty": chosen})
    return ProbeResult(metrics, curve, evidence)
