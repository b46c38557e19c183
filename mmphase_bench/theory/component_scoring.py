"""Scoring singular components by how well they predict labels, and the signal/nuisance split."""

from __future__ import annotations

from mmphase_bench.errors import InputError

import numpy as np


def holdout_ridge_r2(
    train_features: np.ndarray, train_targets: np.ndarray, test_features: np.ndarray, test_targets: np.ndarray, alpha: float
) -> np.ndarray:
    """Held-out ridge R^2 for ``m`` small regressions at once, shape (m, L).

    Features are (n, m, p): m independent regressions with p features each. Each is a ridge
    regression with intercept (penalty ``alpha`` on the slopes only, as scikit-learn's ``Ridge``),
    scored on the test rows with scikit-learn's ``r2_score`` convention per target column (a
    constant test target scores 1 if predicted exactly, else 0).
    """
    p = train_features.shape[2]
    x_mean, y_mean = train_features.mean(axis=0), train_targets.mean(axis=0)
    # Batched matrix products over the m regressions: (m, p, n) @ (n, L) runs in BLAS.
    x_centred = (train_features - x_mean).transpose(1, 2, 0)  # (m, p, n)
    gram = x_centred @ x_centred.transpose(0, 2, 1) + alpha * np.eye(p)
    moment = x_centred @ (train_targets - y_mean)  # (m, p, L)
    coef = np.linalg.solve(gram, moment)  # (m, p, L)
    # Held-out squared error from p x p and p x L moments, without forming the (m, n_test, L)
    # predictions: with X~ = X_test - x_mean and Y~ = Y_test - y_mean,
    # SSE = sum Y~^2 - 2 c^T X~^T Y~ + c^T X~^T X~ c.
    x_test = (test_features - x_mean).transpose(1, 2, 0)  # (m, p, n_test)
    y_test = test_targets - y_mean  # (n_test, L)
    test_gram = x_test @ x_test.transpose(0, 2, 1)  # (m, p, p)
    test_moment = x_test @ y_test  # (m, p, L)
    residual = (
        (y_test**2).sum(axis=0)[None, :]
        - 2.0 * (coef * test_moment).sum(axis=1)
        + np.einsum("mal,mab,mbl->ml", coef, test_gram, coef)
    )
    residual = np.clip(residual, 0.0, None)
    spread = ((test_targets - test_targets.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread > 0, 1.0 - residual / spread, np.where(residual <= 1e-12 * (1.0 + (y_test**2).sum(axis=0)), 1.0, 0.0))


def cross_validated_r2(features: np.ndarray, targets: np.ndarray, folds: np.ndarray, n_folds: int, alpha: float) -> np.ndarray:
    """K-fold cross-validated ridge R^2 of ``targets`` (n, L) from each of ``m`` feature sets (n, m, p).

    Returns the mean R^2 over folds, summed over target columns and clamped at 0, shape (m,).
    Matches ``cross_val_score(Ridge(alpha), ..., cv=folds, scoring="r2")`` per target column.
    """
    return np.clip(cross_validated_r2_columns(features, targets, folds, n_folds, alpha).sum(axis=1), 0.0, None)


def cross_validated_r2_columns(features: np.ndarray, targets: np.ndarray, folds: np.ndarray, n_folds: int, alpha: float) -> np.ndarray:
    """Mean over folds of the held-out ridge R^2, per feature set and target column, shape (m, L)."""
    total = np.zeros((features.shape[1], targets.shape[1]))
    used = 0
    for fold in range(n_folds):
        test = folds == fold
        if not test.any() or (~test).sum() < 2:
            continue
        total += holdout_ridge_r2(features[~test], targets[~test], features[test], targets[test], alpha)
        used += 1
    if used == 0:
        raise InputError(f"folds: no usable cross-validation fold (none of the {n_folds} leaves a test set and 2 training rows)")
    return total / used


def classify_components(r2: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Signal/nuisance split of components from their R^2 (boolean mask, same order as ``r2``).

    Components are ranked by R^2 (descending); two straight lines are fitted by least squares to the
    ranked curve, one before and one after each candidate break, and the break with the smallest
    total squared error wins (ties: fewer signal components). Signal = components before the break
    with R^2 above ``threshold`` (values at or below it count as 0). No such value means no signal.
    """
    r2 = np.asarray(r2, dtype=np.float64)
    r2 = np.where(r2 > threshold, r2, 0.0)
    is_signal = np.zeros(r2.size, dtype=bool)
    if r2.size == 0 or not np.any(r2 > 0):
        return is_signal
    if r2.size == 1:
        is_signal[:] = r2 > 0
        return is_signal
    order = np.argsort(-r2, kind="stable")
    errors = two_segment_errors(r2[order])
    best = int(np.argmin(np.round(errors, 12))) + 1
    chosen = order[:best]
    is_signal[chosen[r2[chosen] > 0]] = True
    return is_signal


def two_segment_errors(values: np.ndarray) -> np.ndarray:
    """Total squared error of separate least-squares lines on ``values[:b]`` and ``values[b:]``,
    for every break ``b = 1 .. m-1`` (from prefix sums: all breaks in O(m))."""
    m = values.size
    positions = np.arange(m, dtype=np.float64)
    prefix = [
        np.concatenate([[0.0], np.cumsum(v)])
        for v in (np.ones(m), positions, values, positions**2, positions * values, values**2)
    ]
    breaks = np.arange(1, m)

    def segment_sse(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        count, sx, sy, sxx, sxy, syy = (p[hi] - p[lo] for p in prefix)
        var_x = sxx - sx * sx / count
        cov_xy = sxy - sx * sy / count
        var_y = syy - sy * sy / count
        with np.errstate(divide="ignore", invalid="ignore"):
            sse = var_y - np.where(var_x > 0, cov_xy * cov_xy / var_x, 0.0)
        return np.where(count <= 2, 0.0, np.clip(sse, 0.0, None))

    return segment_sse(np.zeros_like(breaks), breaks) + segment_sse(breaks, np.full_like(breaks, m))
