"""Component scoring: cross-validated ridge R^2 (against scikit-learn), the elbow split, the
two-segment errors (against a brute-force np.polyfit)."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import PredefinedSplit, cross_val_score

from mmphase_bench.errors import InputError
from mmphase_bench.theory.component_scoring import (
    classify_components, classify_components_permutation, cross_validated_r2, cross_validated_r2_columns,
    holdout_ridge_r2, holdout_ridge_r2_wide, permutation_p_values, two_segment_errors,
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


# ------------------------------------------------------------------ wide targets (permuted labels)
@pytest.mark.parametrize(("p", "n_targets", "alpha", "seed"), [(1, 40, 1.0, 0), (2, 30, 0.1, 1), (2, 3, 0.0, 2)])
def test_wide_paths_match_the_reference(p, n_targets, alpha, seed):
    features, targets, folds = scoring_problem(n=150, m=7, p=p, n_targets=n_targets, seed=seed)
    targets = targets * 50.0 + 1e3  # far from centred and unit scale: the moment updates must stay exact
    reference = cross_validated_r2_columns(features, targets, folds, 5, alpha)
    np.testing.assert_allclose(cross_validated_r2_columns(features, targets, folds, 5, alpha, wide=True), reference,
                               atol=1e-9, rtol=0)
    test = folds == 0
    np.testing.assert_allclose(
        holdout_ridge_r2_wide(features[~test], targets[~test], features[test], targets[test], alpha),
        holdout_ridge_r2(features[~test], targets[~test], features[test], targets[test], alpha), atol=1e-9, rtol=0,
    )
    assert reference.max() > 0.1  # informative: some feature sets predict


def test_wide_path_constant_target_in_a_fold():
    rng = np.random.default_rng(4)
    features = rng.standard_normal((100, 3, 2))
    targets = np.eye(3)[rng.integers(0, 3, 100)]
    targets[:, 2] = 0.0
    targets[:20, 2] = 1.0  # column 2 is constant inside fold 0 and in folds 1-4
    folds = np.repeat(np.arange(5), 20)
    np.testing.assert_allclose(cross_validated_r2_columns(features, targets, folds, 5, 1.0, wide=True),
                               cross_validated_r2_columns(features, targets, folds, 5, 1.0), atol=1e-12)


# ------------------------------------------------------------------ permutation rule
def _brute_force_step_down(r2, null):
    """Westfall-Young step-down maxT written out literally."""
    order = sorted(range(r2.size), key=lambda j: -r2[j])
    p, running = np.empty(r2.size), 0.0
    for rank, j in enumerate(order):
        rest = order[rank:]
        count = sum(max(null[i, b] for i in rest) >= r2[j] for b in range(null.shape[1]))
        running = max(running, (1 + count) / (1 + null.shape[1]))
        p[j] = 1.0 if r2[j] <= 0 else running
    return p


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_step_down_p_values_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    null = np.clip(rng.normal(0.0, 0.02, size=(8, 19)), 0.0, None)
    r2 = np.clip(np.concatenate([[0.5, 0.04, 0.03], rng.normal(0.0, 0.02, size=5)]), 0.0, None)
    np.testing.assert_allclose(permutation_p_values(r2, null), _brute_force_step_down(r2, null))


def test_step_down_is_more_powerful_than_single_step():
    # One component per permutation reaches 0.1 by chance; the weak real component (0.05) only has to
    # beat the null of the components below it once the strong one (index 0) is declared.
    null = np.full((3, 19), 0.01)
    null[0, :] = 0.1  # the strong component's own null is high (say, a heavy-tailed score)
    r2 = np.array([0.8, 0.05, 0.0])
    p = permutation_p_values(r2, null)
    assert p[0] == pytest.approx(1 / 20) and p[1] == pytest.approx(1 / 20) and p[2] == 1.0
    single_step = (1 + (null.max(axis=0)[None, :] >= r2[:, None]).sum(axis=1)) / 20
    assert single_step[1] == 1.0  # the max over all components would have hidden it


def test_permutation_rule_drops_a_weak_significant_component():
    null = np.full((6, 49), 0.004)
    # strong, strong, weak but significant (7.5 % of the R^2) on the same line, then chance level.
    r2 = np.array([0.55, 0.31, 0.07, 0.002, 0.0, 0.001])
    mask, p = classify_components_permutation(r2, null, significance=0.05, fraction=0.9)
    np.testing.assert_array_equal(mask, [True, True, False, False, False, False])
    assert p[2] == pytest.approx(1 / 50) and p[3] == 1.0  # significant, then excluded by the share rule
    everything, _ = classify_components_permutation(r2, null, significance=0.05, fraction=1.0)
    np.testing.assert_array_equal(everything, [True, True, True, False, False, False])
    # A share rule at 0.95 needs the weak one too (0.86 < 0.95 * 0.93).
    np.testing.assert_array_equal(classify_components_permutation(r2, null, fraction=0.95)[0], everything)
    # The elbow keeps it: 0.55, 0.31, 0.07 lie on the first line, and 0.07 beats the chance level.
    np.testing.assert_array_equal(classify_components(r2, threshold=0.004), everything)


def test_permutation_rule_order_independent_and_no_signal():
    rng = np.random.default_rng(5)
    null = np.clip(rng.normal(0.0, 0.01, size=(12, 49)), 0.0, None)
    r2 = np.concatenate([[0.3, 0.5, 0.2], np.clip(rng.normal(0.0, 0.01, 9), 0.0, None)])
    mask, p = classify_components_permutation(r2, null)
    np.testing.assert_array_equal(np.flatnonzero(mask), [0, 1, 2])
    shuffle = rng.permutation(r2.size)
    mask_shuffled, p_shuffled = classify_components_permutation(r2[shuffle], null[shuffle])
    np.testing.assert_array_equal(mask_shuffled, mask[shuffle])
    np.testing.assert_allclose(p_shuffled, p[shuffle])
    # Real R^2 no higher than chance: nothing is significant, no signal.
    none, p_none = classify_components_permutation(null[:, 0], null[:, 1:])
    assert not none.any() and p_none.min() > 0.05


def test_permutation_rule_validation():
    with pytest.raises(InputError, match="significance must be in"):
        classify_components_permutation(np.ones(3), np.zeros((3, 9)), significance=1.0)
    with pytest.raises(InputError, match="fraction must be in"):
        classify_components_permutation(np.ones(3), np.zeros((3, 9)), fraction=0.0)
    with pytest.raises(InputError, match=r"null must have shape \(3, B\)"):
        permutation_p_values(np.ones(3), np.zeros((2, 9)))
