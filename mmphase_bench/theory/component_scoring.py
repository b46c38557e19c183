"""Scoring singular components by how well they predict labels, and the signal/nuisance split.

Two splits are provided. :func:`classify_components` is the reference rule of Kamai et al. (2026):
a two-segment elbow fit of the ranked R^2 curve. :func:`classify_components_permutation` is ours: a
step-down permutation test per component, then the fewest leading components that carry a stated
share of the significant label R^2.
"""

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


def holdout_ridge_r2_wide(
    train_features: np.ndarray, train_targets: np.ndarray, test_features: np.ndarray, test_targets: np.ndarray, alpha: float
) -> np.ndarray:
    """:func:`holdout_ridge_r2` for many target columns (permuted labels): the same values up to
    rounding, with the (m p) x n by n x L moments as single matrix products, several times faster
    when L is in the hundreds."""
    n_train, m, p = train_features.shape
    x_mean, y_mean = train_features.mean(axis=0), train_targets.mean(axis=0)
    x_centred = np.ascontiguousarray((train_features - x_mean).transpose(1, 2, 0))  # (m, p, n)
    gram = x_centred @ x_centred.transpose(0, 2, 1) + alpha * np.eye(p)
    moment = (x_centred.reshape(m * p, n_train) @ (train_targets - y_mean)).reshape(m, p, -1)
    coef = np.linalg.solve(gram, moment)  # (m, p, L)
    x_test = np.ascontiguousarray((test_features - x_mean).transpose(1, 2, 0))  # (m, p, n_test)
    y_test = test_targets - y_mean
    test_gram = x_test @ x_test.transpose(0, 2, 1)
    test_moment = (x_test.reshape(m * p, -1) @ y_test).reshape(m, p, -1)
    residual = (
        (y_test**2).sum(axis=0)[None, :]
        - 2.0 * (coef * test_moment).sum(axis=1)
        + (coef * (test_gram @ coef)).sum(axis=1)
    )
    residual = np.clip(residual, 0.0, None)
    spread = ((test_targets - test_targets.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread > 0, 1.0 - residual / spread, np.where(residual <= 1e-12 * (1.0 + (y_test**2).sum(axis=0)), 1.0, 0.0))


def cross_validated_r2_columns(
    features: np.ndarray, targets: np.ndarray, folds: np.ndarray, n_folds: int, alpha: float, *, wide: bool = False
) -> np.ndarray:
    """Mean over folds of the held-out ridge R^2, per feature set and target column, shape (m, L).

    ``wide`` (for hundreds of target columns, such as permuted labels) gives the same values up to
    rounding from moments of the whole sample minus those of the test fold, which halves the work."""
    if wide:
        return _cross_validated_r2_columns_wide(features, targets, folds, n_folds, alpha)
    holdout = holdout_ridge_r2
    total = np.zeros((features.shape[1], targets.shape[1]))
    used = 0
    for fold in range(n_folds):
        test = folds == fold
        if not test.any() or (~test).sum() < 2:
            continue
        total += holdout(features[~test], targets[~test], features[test], targets[test], alpha)
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


def _cross_validated_r2_columns_wide(features, targets, folds, n_folds, alpha) -> np.ndarray:
    """:func:`cross_validated_r2_columns` from sufficient statistics.

    With both sides centred on the whole sample first (for accuracy), the training fold's centred
    moments are the whole sample's raw moments minus the test fold's, corrected for the training
    mean: ``X~^T Y~ = (X^T Y - X_t^T Y_t) - n_tr a b^T`` with ``a``, ``b`` the training means. The
    test fold, centred on the training means, has ``X_t^T Y_t - a s_y^T - s_x b^T + n_t a b^T``.
    Only the n_t x L test products are formed per fold.
    """
    n, m, p = features.shape
    x = (features - features.mean(axis=0)).reshape(n, m * p)
    y = targets - targets.mean(axis=0)
    blocks = x.reshape(n, m, p)
    all_xy, all_x, all_y = x.T @ y, x.sum(axis=0), y.sum(axis=0)
    all_gram = np.einsum("nmp,nmq->mpq", blocks, blocks)
    total = np.zeros((m, targets.shape[1]))
    used = 0
    for fold in range(n_folds):
        test = folds == fold
        n_test = int(test.sum())
        n_train = n - n_test
        if n_test == 0 or n_train < 2:
            continue
        xt, yt, bt = x[test], y[test], blocks[test]
        t_xy, t_x, t_y, t_yy = xt.T @ yt, xt.sum(axis=0), yt.sum(axis=0), (yt * yt).sum(axis=0)
        t_gram = np.einsum("nmp,nmq->mpq", bt, bt)
        a, b = (all_x - t_x) / n_train, (all_y - t_y) / n_train
        a_blocks, tx_blocks = a.reshape(m, p), t_x.reshape(m, p)
        gram = (all_gram - t_gram) - n_train * np.einsum("mp,mq->mpq", a_blocks, a_blocks) + alpha * np.eye(p)
        moment = ((all_xy - t_xy) - n_train * np.outer(a, b)).reshape(m, p, -1)
        coef = np.linalg.solve(gram, moment)  # (m, p, L)
        test_moment = (t_xy - np.outer(a, t_y) - np.outer(t_x, b) + n_test * np.outer(a, b)).reshape(m, p, -1)
        test_gram = (t_gram - np.einsum("mp,mq->mpq", a_blocks, tx_blocks) - np.einsum("mp,mq->mpq", tx_blocks, a_blocks)
                     + n_test * np.einsum("mp,mq->mpq", a_blocks, a_blocks))
        centred_yy = t_yy - 2.0 * b * t_y + n_test * b * b  # sum over the test fold of (y - b)^2
        residual = centred_yy[None, :] - 2.0 * (coef * test_moment).sum(axis=1) + (coef * (test_gram @ coef)).sum(axis=1)
        residual = np.clip(residual, 0.0, None)
        spread = np.clip(t_yy - t_y * t_y / n_test, 0.0, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            total += np.where(spread > 1e-12 * (1.0 + t_yy), 1.0 - residual / spread,
                              np.where(residual <= 1e-12 * (1.0 + centred_yy), 1.0, 0.0))
        used += 1
    if used == 0:
        raise InputError(f"folds: no usable cross-validation fold (none of the {n_folds} leaves a test set and 2 training rows)")
    return total / used


def permutation_p_values(r2: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Family-wise adjusted permutation p-values of component R^2 (step-down maxT, Westfall and Young 1993).

    ``r2`` (m,) are the components' label R^2; ``null`` (m, B) their R^2 against B label
    permutations (labels shuffled across pairs, the same permutation for every component, so the
    dependence between components is kept). With components ranked by observed R^2,
    ``r_(1) >= ... >= r_(m)``, and ``M_(i)^b = max_{i' >= i} null[(i'), b]`` the largest null R^2
    among the components ranked ``i`` or lower in permutation ``b``:

        p_(i) = max_{i' <= i} (1 + #{b : M_(i')^b >= r_(i')}) / (1 + B)

    Declaring significant every component with ``p <= alpha`` controls the family-wise error rate
    at ``alpha`` (under subset pivotality), and each component is judged against the null of the
    components not yet declared, so strong components do not raise the bar for weaker ones.
    The smallest attainable p-value is ``1 / (1 + B)``; an R^2 of 0 gets ``p = 1``.
    """
    r2 = np.asarray(r2, dtype=np.float64)
    null = np.asarray(null, dtype=np.float64)
    if null.ndim != 2 or null.shape[0] != r2.size:
        raise InputError(f"null must have shape ({r2.size}, B), got {null.shape}")
    if r2.size == 0:
        return np.ones(0)
    order = np.argsort(-r2, kind="stable")
    successive_max = np.maximum.accumulate(null[order][::-1], axis=0)[::-1]  # (m, B)
    exceed = (successive_max >= r2[order][:, None]).sum(axis=1)
    adjusted = np.maximum.accumulate((1.0 + exceed) / (1.0 + null.shape[1]))
    adjusted[r2[order] <= 0] = 1.0
    p = np.empty_like(adjusted)
    p[order] = adjusted
    return p


def classify_components_permutation(
    r2: np.ndarray, null: np.ndarray, significance: float = 0.05, fraction: float = 0.9
) -> tuple[np.ndarray, np.ndarray]:
    """Signal/nuisance split from a permutation test and a share of the label R^2: (mask, p-values).

    1. Significance: a component is a candidate when its step-down permutation p-value
       (:func:`permutation_p_values`) is at most ``significance``.
    2. Share: the candidates are ranked by R^2, and signal is the shortest leading run of them whose
       R^2 adds up to at least ``fraction`` of the candidates' total.

    Why a share of R^2: the component scores of ``C-hat`` (canonical variates) and of ``A-hat``
    (whitened source projections) are mutually uncorrelated in the sample, so the in-sample R^2 of a
    regression of the labels on several components is the sum of their single-component R^2 values;
    their sum is the label variance the components explain together. The signal subspace is taken as
    the fewest components explaining the share ``fraction`` of it, like choosing a PCA dimension by
    explained variance. A component carrying a small, significant amount of label information (a
    nuisance direction that leaks label information through the features, or a weak label
    direction) is then a nuisance component: it cannot pull the weakest signal value, and so the
    separation ratio, down, as it does under the elbow rule when its R^2 lies on the elbow's first
    segment. ``fraction = 1`` keeps every significant component.
    """
    r2 = np.asarray(r2, dtype=np.float64)
    if not 0.0 < significance < 1.0:
        raise InputError(f"significance must be in (0, 1), got {significance}")
    if not 0.0 < fraction <= 1.0:
        raise InputError(f"fraction must be in (0, 1], got {fraction}")
    p = permutation_p_values(r2, null)
    candidate = (p <= significance) & (r2 > 0)
    is_signal = np.zeros(r2.size, dtype=bool)
    if not candidate.any():
        return is_signal, p
    ranked = np.flatnonzero(candidate)[np.argsort(-r2[candidate], kind="stable")]
    cumulative = np.cumsum(r2[ranked])
    # The relative slack absorbs rounding when fraction = 1 (the last partial sum must qualify).
    count = int(np.argmax(cumulative >= fraction * cumulative[-1] * (1.0 - 1e-12))) + 1
    is_signal[ranked[:count]] = True
    return is_signal, p
