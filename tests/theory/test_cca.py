"""CCA (linear CA): agreement with scikit-learn, properties of the variates, signs, edge cases, errors."""

import warnings

import numpy as np
import pytest
from sklearn.cross_decomposition import CCA as SklearnCCA
from sklearn.exceptions import NotFittedError

import mmphase_bench.theory._whitening as whitening
from mmphase_bench.theory import CCA


def paired_data(n=500, seed=0):
    """Well-conditioned views sharing three latent factors with correlations well apart."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 3))
    X = np.c_[latent, rng.standard_normal((n, 3))] @ rng.standard_normal((6, 6)) + 0.5 * rng.standard_normal((n, 6))
    Y = np.c_[latent * [1.0, 0.7, 0.4], rng.standard_normal((n, 2))] @ rng.standard_normal((5, 5))
    Y = Y + 0.5 * rng.standard_normal((n, 5)) + 3.0  # an offset: CCA must centre
    return X, Y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn(seed):
    X, Y = paired_data(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = SklearnCCA(n_components=3, tol=1e-10, max_iter=2000, scale=False).fit(X, Y)
    x_scores, y_scores = reference.transform(X, Y)
    expected = [np.corrcoef(x_scores[:, i], y_scores[:, i])[0, 1] for i in range(3)]
    ours = CCA(3).fit(X, Y)
    np.testing.assert_allclose(ours.canonical_correlations_, expected, atol=1e-6, rtol=0)
    # Each canonical direction is unique up to scale (distinct correlations); with scale=False
    # sklearn's rotations act on the centred data, like our weights.
    sk_directions = reference.x_rotations_
    for i in range(3):
        cosine = abs(sk_directions[:, i] @ ours.x_weights_[:, i]) / (
            np.linalg.norm(sk_directions[:, i]) * np.linalg.norm(ours.x_weights_[:, i])
        )
        assert cosine == pytest.approx(1.0, abs=1e-6)


def test_transform_gives_canonical_variates():
    X, Y = paired_data(n=400, seed=3)
    model = CCA(4).fit(X, Y)
    u, v = model.transform(X, Y)
    assert u.shape == v.shape == (400, 4)
    np.testing.assert_allclose(u.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(v.mean(axis=0), 0.0, atol=1e-10)
    # Unit variance (ddof=1) and uncorrelated within each view.
    np.testing.assert_allclose(np.cov(u, rowvar=False), np.eye(4), atol=1e-10)
    np.testing.assert_allclose(np.cov(v, rowvar=False), np.eye(4), atol=1e-10)
    # Pairwise correlations = canonical correlations; zero across different components.
    cross = (u.T @ v) / (u.shape[0] - 1)
    np.testing.assert_allclose(np.diag(cross), model.canonical_correlations_, atol=1e-10)
    np.testing.assert_allclose(cross - np.diag(np.diag(cross)), 0.0, atol=1e-10)
    # Descending, in [0, 1], and the kept ones are the first singular values.
    values = model.singular_values_
    assert np.all(np.diff(values) <= 0) and values.min() >= 0 and values.max() <= 1
    np.testing.assert_array_equal(model.canonical_correlations_, values[:4])
    np.testing.assert_array_equal(model.transform(X), u)
    np.testing.assert_array_equal(model.transform_y(Y), v)
    fu, fv = CCA(4).fit_transform(X, Y)
    np.testing.assert_array_equal(fu, u)
    np.testing.assert_array_equal(fv, v)


def test_default_keeps_all_components():
    X, Y = paired_data(seed=1)  # d_x = 6, d_y = 5
    model = CCA().fit(X, Y)
    assert model.x_weights_.shape == (6, 5) and model.y_weights_.shape == (5, 5)
    assert model.singular_values_.shape == (5,)
    assert model.x_rank_ == 6 and model.y_rank_ == 5


def test_signs_are_deterministic():
    X, Y = paired_data(seed=4)
    model = CCA(3).fit(X, Y)
    # The largest-magnitude entry of each x weight column is positive.
    rows = np.argmax(np.abs(model.x_weights_), axis=0)
    assert np.all(model.x_weights_[rows, np.arange(3)] > 0)
    # Refitting gives bit-identical weights.
    again = CCA(3).fit(X, Y)
    np.testing.assert_array_equal(again.x_weights_, model.x_weights_)
    np.testing.assert_array_equal(again.y_weights_, model.y_weights_)
    # Negating X: the x weights keep their (normalised) sign, the y weights flip so that the paired
    # variates stay positively correlated; the correlations do not change.
    flipped = CCA(3).fit(-X, Y)
    np.testing.assert_allclose(flipped.x_weights_, model.x_weights_, atol=1e-10)
    np.testing.assert_allclose(flipped.y_weights_, -model.y_weights_, atol=1e-10)
    np.testing.assert_allclose(flipped.singular_values_, model.singular_values_, atol=1e-12)
    both = CCA(3).fit(-X, -Y)
    np.testing.assert_allclose(both.x_weights_, model.x_weights_, atol=1e-10)
    np.testing.assert_allclose(both.y_weights_, model.y_weights_, atol=1e-10)
    u, v = both.transform(-X, -Y)
    assert np.all(np.sum(u * v, axis=0) > 0)


def test_invariant_to_shift_and_scale():
    X, Y = paired_data(seed=5)
    base = CCA(3).fit(X, Y)
    moved = CCA(3).fit(10.0 * X + 100.0, Y - 7.0)
    np.testing.assert_allclose(moved.singular_values_, base.singular_values_, atol=1e-10)
    np.testing.assert_allclose(moved.transform(10.0 * X + 100.0), base.transform(X), atol=1e-9)


def test_wide_data_with_ridge():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 50))
    Y = X[:, :5] + rng.standard_normal((30, 5))
    model = CCA(3, ridge=0.1).fit(X, Y)
    values = model.singular_values_
    assert np.all((values >= 0) & (values <= 1))
    assert values.max() < 0.999  # the ridge keeps the fit away from perfect in-sample correlation
    assert model.x_rank_ == 29  # 30 centred rows span at most 29 directions
    assert model.x_weights_.shape == (50, 3)
    assert np.all(np.isfinite(model.transform(X)))
    # Without a ridge, 29 directions can fit any 5 columns of Y perfectly (n - 1 >= d_x + d_y is violated).
    unregularised = CCA(ridge=0.0).fit(X, Y)
    np.testing.assert_allclose(unregularised.singular_values_, 1.0, atol=1e-8)


def test_duplicate_columns_are_dropped_by_the_relative_cutoff():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 4))
    Y = X @ rng.standard_normal((4, 3)) + rng.standard_normal((200, 3))
    base = CCA().fit(X, Y)
    duplicated = np.c_[X, X[:, 1], 2.0 * X[:, 3]]
    model = CCA().fit(duplicated, Y)
    assert model.x_rank_ == 4
    np.testing.assert_allclose(model.singular_values_, base.singular_values_, atol=1e-10)
    # Same variates (weights are minimum-norm on the duplicated columns, but project identically).
    np.testing.assert_allclose(model.transform(duplicated), base.transform(X), atol=1e-8)
    u, v = model.transform(duplicated, Y)
    np.testing.assert_allclose(np.cov(u, rowvar=False), np.eye(3), atol=1e-8)
    # A column of a different scale does not fool a relative cut-off.
    scaled = CCA().fit(np.c_[1e6 * X[:, :1], X[:, 1:]], Y)
    np.testing.assert_allclose(scaled.singular_values_, base.singular_values_, atol=1e-10)
    assert scaled.x_rank_ == 4


def test_explicit_rcond_drops_weak_directions():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 3)) * [1.0, 1.0, 1e-4]
    Y = X[:, :2] + 0.1 * rng.standard_normal((300, 2))
    assert CCA(rcond=None).fit(X, Y).x_rank_ == 3
    assert CCA(rcond=1e-2).fit(X, Y).x_rank_ == 2


@pytest.mark.parametrize("shape", [(500, 6), (60, 8)])
def test_gram_and_svd_routes_agree(shape, monkeypatch):
    rng = np.random.default_rng(7)
    n, d = shape
    X = rng.standard_normal((n, d)) @ rng.standard_normal((d, d))
    Y = X[:, :3] @ rng.standard_normal((3, 4)) + rng.standard_normal((n, 4))
    gram = CCA(3).fit(X, Y)
    monkeypatch.setattr(whitening, "GRAM_ROUTE_MIN_RATIO", 2.0)  # s_min / s_max never reaches 2: SVD route
    svd = CCA(3).fit(X, Y)
    np.testing.assert_allclose(svd.singular_values_, gram.singular_values_, atol=1e-10, rtol=0)
    scale = np.abs(gram.x_weights_).max()
    np.testing.assert_allclose(svd.x_weights_, gram.x_weights_, atol=1e-10 * max(scale, 1.0), rtol=0)
    np.testing.assert_allclose(svd.y_weights_, gram.y_weights_, atol=1e-10 * max(np.abs(gram.y_weights_).max(), 1.0), rtol=0)


def test_svd_route_is_actually_taken(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3))
    assert whitening.whiten_view(X, name="X", rcond=None, ridge=0.0)._left is None  # Gram route
    monkeypatch.setattr(whitening, "GRAM_ROUTE_MIN_RATIO", 2.0)
    assert whitening.whiten_view(X, name="X", rcond=None, ridge=0.0)._left is not None


def test_ridge_shrinks_correlations():
    X, Y = paired_data(seed=6)
    ridges = [0.0, 0.01, 0.1, 1.0, 10.0]
    spectra = np.array([CCA(ridge=ridge).fit(X, Y).singular_values_ for ridge in ridges])
    assert np.all(np.diff(spectra, axis=0) < 0)  # every correlation decreases strictly with the ridge
    assert spectra[-1].max() < 0.5 * spectra[0].max()


def test_exact_linear_relation_gives_correlation_one():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((100, 3))
    Y = np.c_[X[:, 0] - 2 * X[:, 1], rng.standard_normal(100)]
    model = CCA(1).fit(X, Y)
    assert model.canonical_correlations_[0] == pytest.approx(1.0, abs=1e-10)
    direction = model.x_weights_[:, 0] / np.linalg.norm(model.x_weights_[:, 0])
    np.testing.assert_allclose(np.abs(direction), np.array([1.0, 2.0, 0.0]) / np.sqrt(5), atol=1e-8)


# ------------------------------------------------------------------ errors
def test_mismatched_rows():
    X, Y = paired_data()
    with pytest.raises(ValueError, match="same number of rows"):
        CCA().fit(X, Y[:-1])


def test_nan_input():
    X, Y = paired_data()
    X = X.copy()
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains 1 NaN"):
        CCA().fit(X, Y)
    with pytest.raises(ValueError, match="Y contains"):
        CCA().fit(Y, np.where(np.isnan(X), np.inf, X))


def test_constant_view():
    X, Y = paired_data()
    with pytest.raises(ValueError, match="X has no variance"):
        CCA().fit(np.ones((X.shape[0], 3)) * [1.0, 2.0, 3.0], Y)
    with pytest.raises(ValueError, match="Y has no variance"):
        CCA().fit(X, np.zeros_like(Y))


@pytest.mark.parametrize("n_components", [0, 6, -1])
def test_n_components_out_of_range(n_components):
    X, Y = paired_data()  # 5 canonical pairs at most
    with pytest.raises(ValueError, match="n_components must be"):
        CCA(n_components).fit(X, Y)


def test_n_components_at_the_limit_is_fine():
    X, Y = paired_data()
    assert CCA(5).fit(X, Y).x_weights_.shape == (6, 5)


@pytest.mark.parametrize(("kwargs", "match"), [(dict(ridge=-1.0), "ridge must be >= 0"), (dict(rcond=1.0), "rcond must be < 1")])
def test_bad_regularisation(kwargs, match):
    X, Y = paired_data()
    with pytest.raises(ValueError, match=match):
        CCA(**kwargs).fit(X, Y)


def test_transform_before_fit():
    X, Y = paired_data()
    with pytest.raises(NotFittedError):
        CCA().transform(X)
    with pytest.raises(NotFittedError):
        CCA().transform_y(Y)
    with pytest.raises(NotFittedError):
        CCA().canonical_correlations_


def test_wrong_feature_count_in_transform():
    X, Y = paired_data()
    model = CCA(2).fit(X, Y)
    with pytest.raises(ValueError, match="X has 5 features, CCA was fitted with 6"):
        model.transform(X[:, :5])
    with pytest.raises(ValueError, match="Y has 6 features, CCA was fitted with 5"):
        model.transform(X, np.c_[Y, Y[:, :1]])


def test_too_few_rows_and_bad_shapes():
    with pytest.raises(ValueError, match="at least 2 rows"):
        CCA().fit(np.ones((1, 3)), np.ones((1, 2)))
    with pytest.raises(ValueError, match="2-D"):
        CCA().fit(np.arange(10.0), np.arange(10.0)[:, None])
