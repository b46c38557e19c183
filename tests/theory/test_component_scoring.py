"""Component scoring: cross-validated ridge R^2 (against scikit-learn), the elbow split, the
two-segment errors (against a brute-force np.polyfit)."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import PredefinedSplit, cross_val_score

from mmphase_bench.errors import InputError
from mmphase_bench.theory.component_scoring import (
    classify_components, cross_validated_r2, holdout_ridge_r2, two_segment_errors,
)


def scoring_problem(n=120, m=6, p=1, n_targets=2, seed=0):
    """m feature sets of p features; some predictive of the targets, some not."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, m, p)) * rng.uniform(0.5, 3.0, size=(1, m, p)) + rng.standard_normal((1, m, p))
    weights = np.zeros((m, p, n_targets))
    shape = (m // 2, p, n_targets)
    weights[: m // 2] = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 1.0, size=shape)  # signal half
    targets = np.einsum("nmp,mpl->nl", features, weights) + rng.standard_normal((n, n_targets)) + 4.0
    folds = rng.permutation(n) % 5
    return features, targets, folds


def sklearn_cv_r2(features, targets, folds, alpha):
    """The reference: per feature set, per target column, mean of the fold R^2; summed; clamped."""
    out = []
    for j in range(features.shape[1]):
        total = 0.0
        for column in range(targets.shape[1]):
            scores = cross_val_score(
                Ridge(alpha=alpha), features[:, j, :], targets[:, column], cv=PredefinedSplit(folds), scoring="r2"
            )
            total += scores.mean()
        out.append(max(total, 0.0))
    return np.array(out)


@pytest.mark.parametrize(
    ("p", "n_targets", "alpha", "seed"),
    [(1, 1, 1.0, 0), (1, 3, 1.0, 1), (2, 2, 1.0, 2), (2, 1, 10.0, 3), (1, 2, 0.0, 4), (2, 3, 0.1, 5)],
)
def test_cross_validated_r2_matches_sklearn(p, n_targets, alpha, seed):
    features, targets, folds = scoring_problem(p=p, n_targets=n_targets, seed=seed)
    ours = cross_validated_r2(features, targets, folds, 5, alpha)
    expected = sklearn_cv_r2(features, targets, folds, alpha)
    np.testing.assert_allclose(ours, expected, atol=1e-10, rtol=0)
    assert ours.shape == (features.shape[1],)
    # The comparison is informative: a signal set scores clearly, and a pure-noise one clamps to 0.
    assert ours[:3].max() > 0.1
    assert np.any(ours[3:] == 0.0)


def test_cross_validated_r2_with_one_hot_targets():
    rng = np.random.default_rng(6)
    n = 150
    labels = rng.integers(0, 3, size=n)
    targets = np.eye(3)[labels]
    features = np.stack([labels + 0.5 * rng.standard_normal(n), rng.standard_normal(n)], axis=1)[:, :, None]
    folds = rng.permutation(n) % 5
    ours = cross_validated_r2(features, targets, folds, 5, 1.0)
    np.testing.assert_allclose(ours, sklearn_cv_r2(features, targets, folds, 1.0), atol=1e-10)
    assert ours[0] > 0.5 and ours[1] == 0.0


def test_cross_validated_r2_skips_empty_folds():
    features, targets, folds = scoring_problem(seed=7)
    # Declaring 7 folds where only 5 exist: the empty ones are skipped, result unchanged.
    np.testing.assert_array_equal(
        cross_validated_r2(features, targets, folds, 7, 1.0), cross_validated_r2(features, targets, folds, 5, 1.0)
    )
    with pytest.raises(InputError, match="folds: no usable cross-validation fold"):
        cross_validated_r2(features, targets, np.zeros(features.shape[0], dtype=int), 1, 1.0)


def test_holdout_r2_constant_target_convention():
    rng = np.random.default_rng(8)
    train, test = rng.standard_normal((30, 2, 1)), rng.standard_normal((10, 2, 1))
    # Constant targets everywhere: predicted exactly (intercept only, zero slope) -> R^2 = 1 (sklearn).
    ones = np.ones((30, 1))
    np.testing.assert_allclose(holdout_ridge_r2(train, ones, test, np.ones((10, 1)), 1.0), 1.0)
    # Constant test target not predicted exactly -> 0.
    r2 = holdout_ridge_r2(train, rng.standard_normal((30, 1)), test, np.full((10, 1), 5.0), 1.0)
    np.testing.assert_array_equal(r2, 0.0)


# ------------------------------------------------------------------ classification of components
def test_three_big_then_zeros():
    r2 = np.array([0.9, 0.85, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(classify_components(r2), [True] * 3 + [False] * 7)


def test_three_big_then_small_noise():
    r2 = np.array([0.61, 0.6, 0.58, 0.02, 0.01, 0.015, 0.0, 0.005, 0.0, 0.01, 0.0, 0.0])
    np.testing.assert_array_equal(classify_components(r2), [True] * 3 + [False] * 9)


def test_all_zero_means_no_signal():
    assert not classify_components(np.zeros(20)).any()
    assert classify_components(np.zeros(20)).shape == (20,)
    assert classify_components(np.array([])).shape == (0,)


def test_single_positive_component():
    r2 = np.zeros(15)
    r2[6] = 0.4
    expected = np.zeros(15, dtype=bool)
    expected[6] = True
    np.testing.assert_array_equal(classify_components(r2), expected)
    np.testing.assert_array_equal(classify_components(np.array([0.3])), [True])
    np.testing.assert_array_equal(classify_components(np.array([0.0])), [False])


def test_zero_r2_is_never_signal():
    # Two positive components and zeros: whatever the break, zeros are nuisance.
    r2 = np.array([0.5, 0.0, 0.3, 0.0])
    mask = classify_components(r2)
    assert not mask[[1, 3]].any()
    assert mask[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_order_independent(seed):
    rng = np.random.default_rng(seed)
    r2 = np.concatenate([[0.9, 0.82, 0.77, 0.7], rng.uniform(0.0, 0.05, size=16)])
    base = classify_components(r2)
    np.testing.assert_array_equal(base, [True] * 4 + [False] * 16)
    permutation = rng.permutation(r2.size)
    np.testing.assert_array_equal(classify_components(r2[permutation]), base[permutation])


def test_elbow_picks_the_break_of_least_two_segment_error():
    rng = np.random.default_rng(3)
    for _ in range(20):
        r2 = np.clip(np.sort(rng.uniform(-0.2, 1.0, size=12))[::-1], 0.0, None)
        if not (r2 > 0).any():
            continue
        errors = [_brute_force_errors(r2)[b - 1] for b in range(1, r2.size)]
        best = int(np.argmin(np.round(errors, 12))) + 1
        mask = classify_components(r2)
        np.testing.assert_array_equal(mask, (np.arange(r2.size) < best) & (r2 > 0))


# ------------------------------------------------------------------ two-segment errors
def _segment_sse(x, y):
    if x.size <= 2:
        return 0.0  # a line through at most two points is exact
    slope, intercept = np.polyfit(x, y, 1)
    return float(np.sum((y - (slope * x + intercept)) ** 2))


def _brute_force_errors(values):
    positions = np.arange(values.size, dtype=np.float64)
    return np.array([
        _segment_sse(positions[:b], values[:b]) + _segment_sse(positions[b:], values[b:]) for b in range(1, values.size)
    ])


@pytest.mark.parametrize("m", [2, 3, 4, 10, 50])
def test_two_segment_errors_match_polyfit(m):
    rng = np.random.default_rng(m)
    values = np.sort(rng.uniform(0.0, 1.0, size=m))[::-1]
    errors = two_segment_errors(values)
    assert errors.shape == (m - 1,)
    np.testing.assert_allclose(errors, _brute_force_errors(values), atol=1e-10, rtol=0)


def test_two_segment_errors_unsorted_and_scaled():
    rng = np.random.default_rng(11)
    values = 100.0 * rng.standard_normal(30)
    np.testing.assert_allclose(two_segment_errors(values), _brute_force_errors(values), atol=1e-8, rtol=1e-10)


def test_two_segment_errors_zero_for_a_clean_elbow():
    values = np.array([0.9, 0.8, 0.7, 0.0, 0.0, 0.0, 0.0])
    errors = two_segment_errors(values)
    assert errors[2] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.delete(errors, 2) > 1e-3)
