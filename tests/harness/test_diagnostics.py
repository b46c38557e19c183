"""Diagnostics: effective rank, nuisance R^2 and the canonical correlations between the views' features."""

import numpy as np
import pytest

from mmphase_bench.harness.diagnostics import effective_rank, feature_canonical_correlations, nuisance_r2


# ------------------------------------------------------------------ effective rank


@pytest.mark.parametrize("d", [2, 8, 32])
def test_effective_rank_of_isotropic_features_is_close_to_d(d):
    features = np.random.default_rng(d).standard_normal((20_000, d))
    rank = effective_rank(features)
    assert 0.9 * d < rank <= d + 1e-9


def test_effective_rank_of_rank_one_features_is_one():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((500, 1)) @ rng.standard_normal((1, 16)) + 3.0  # an offset is centred away
    assert effective_rank(features) == pytest.approx(1.0, abs=1e-6)


def test_effective_rank_of_a_k_dimensional_subspace():
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.standard_normal((20, 4)))[0]
    features = rng.standard_normal((20_000, 4)) @ basis.T
    assert effective_rank(features) == pytest.approx(4.0, rel=0.05)


def test_effective_rank_of_constant_features_is_zero():
    assert effective_rank(np.ones((10, 3))) == 0.0


def test_effective_rank_is_scale_invariant():
    features = np.random.default_rng(2).standard_normal((300, 6)) * np.array([1, 1, 1, 5, 5, 5])
    assert effective_rank(features * 1000.0) == pytest.approx(effective_rank(features))
    assert effective_rank(features) < 6  # unequal variances lower the effective rank


# ------------------------------------------------------------------ nuisance R^2


def _split(rng, n, d=6):
    features = rng.standard_normal((n, d))
    weights = np.arange(1, d + 1, dtype=float)
    latents = {
        "linear": (features @ weights)[:, None] + 0.01 * rng.standard_normal((n, 1)),
        "independent": rng.standard_normal((n, 2)),
        "constant": np.full((n, 1), 4.0),
    }
    return features, latents


def test_nuisance_r2():
    rng = np.random.default_rng(0)
    train, val, test = (_split(rng, n) for n in (400, 200, 400))
    scores = nuisance_r2(train[0], train[1], val[0], val[1], test[0], test[1])
    assert scores["linear"] > 0.99
    assert scores["independent"] < 0.1
    assert "constant" not in scores  # constant latents are skipped, not scored
    assert all(isinstance(v, float) for v in scores.values())


def test_nuisance_r2_of_no_latents_is_empty():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((50, 3))
    assert nuisance_r2(features, {}, features, {}, features, {}) == {}


# ------------------------------------------------------------------ canonical correlations


def test_canonical_correlations_of_a_linear_map_are_one():
    rng = np.random.default_rng(0)
    mixing = rng.standard_normal((5, 5))
    train_x, test_x = rng.standard_normal((600, 5)), rng.standard_normal((400, 5))
    values = feature_canonical_correlations(train_x, train_x @ mixing, test_x, test_x @ mixing)
    assert len(values) == 5
    assert min(values) > 0.99


def test_canonical_correlations_of_independent_views_are_near_zero():
    rng = np.random.default_rng(1)
    values = feature_canonical_correlations(*(rng.standard_normal((2000, 4)) for _ in range(4)))
    assert len(values) == 4
    assert max(abs(v) for v in values) < 0.1


def test_canonical_correlations_keep_at_most_n_pairs():
    rng = np.random.default_rng(2)
    x_train, x_test = rng.standard_normal((500, 16)), rng.standard_normal((300, 16))
    y_train, y_test = x_train[:, :12] + 0.5 * rng.standard_normal((500, 12)), x_test[:, :12] + 0.5 * rng.standard_normal((300, 12))
    values = feature_canonical_correlations(x_train, y_train, x_test, y_test, n=10)
    assert len(values) == 10
    # 12 shared directions with noise 0.5: correlation 1 / sqrt(1.25) ~ 0.89 each.
    assert np.allclose(values, 1 / np.sqrt(1.25), atol=0.08)
    assert len(feature_canonical_correlations(x_train, y_train[:, :3], x_test, y_test[:, :3])) == 3
