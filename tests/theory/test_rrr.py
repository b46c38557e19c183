"""RRR (linear CP): OLS at full rank, optimality of the rank-k fit, spectrum, encoder/decoder, errors."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression

from mmphase_bench.theory import RRR, SpikedModel


def inverse_sqrt(matrix):
    values, vectors = np.linalg.eigh(matrix)
    return (vectors / np.sqrt(values)) @ vectors.T


def regression_data(n=300, dx=6, dy=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dx)) @ rng.standard_normal((dx, dx)) + 5.0
    Y = X @ rng.standard_normal((dx, dy)) + rng.standard_normal((n, dy)) - 2.0
    return X, Y


# A spiked model where a naive rank-k truncation of the OLS coefficients goes wrong: two nuisance
# coordinates of x have tiny variance (0.01, 0.02) but large regression coefficients
# nu sqrt(var_y / var_x) = 5, while they explain little of y (xi = 0.5, 0.71). The y noise is
# strongly anisotropic (nuisance variances 0.1 .. 30, gamma_y 0.1 and 5). CP recovers the signal
# (tau = 1.89, 1.36 > max xi = 0.71), so the best rank-2 predictor uses the signal directions.
ANISOTROPIC = SpikedModel(
    d=8, k=2, kappa=(2.0, 1.5), gamma_x=0.5, gamma_y=(0.1, 5.0),
    nuisance_var_x=(0.01, 0.02, 1.0, 1.0, 1.0, 1.0), nuisance_var_y=(1.0, 2.0, 30.0, 0.1, 0.1, 0.1),
    nuisance_corr=(0.5, 0.5, 0.1, 0.3, 0.3, 0.3), seed=2,
)


def ols_coefficients(X, Y):
    x_mean, y_mean = X.mean(axis=0), Y.mean(axis=0)
    return np.linalg.lstsq(X - x_mean, Y - y_mean, rcond=None)[0], x_mean, y_mean


def random_rank_k_predictors(X, Y, k, count, seed):
    """Least-squares fits of Y on k random linear projections of X: rank-k linear predictors."""
    rng = np.random.default_rng(seed)
    x_mean, y_mean = X.mean(axis=0), Y.mean(axis=0)
    for _ in range(count):
        projection = rng.standard_normal((X.shape[1], k))
        coef = np.linalg.lstsq((X - x_mean) @ projection, Y - y_mean, rcond=None)[0]
        yield lambda Z, P=projection, C=coef: y_mean + (Z - x_mean) @ P @ C


@pytest.mark.parametrize(("dx", "dy"), [(6, 4), (3, 5), (5, 5)])
def test_full_rank_equals_ols(dx, dy):
    X, Y = regression_data(dx=dx, dy=dy, seed=dx + dy)
    X_test, _ = regression_data(n=50, dx=dx, dy=dy, seed=99)
    ols = LinearRegression().fit(X, Y)
    rrr = RRR().fit(X, Y)
    assert rrr.encoder_.shape == (dx, min(dx, dy))
    np.testing.assert_allclose(rrr.predict(X), ols.predict(X), atol=1e-9)
    np.testing.assert_allclose(rrr.predict(X_test), ols.predict(X_test), atol=1e-9)
    # Explicit n_components = min(d_x, d_y) is the same fit.
    np.testing.assert_allclose(RRR(min(dx, dy)).fit(X, Y).predict(X_test), ols.predict(X_test), atol=1e-9)


def test_rank_k_is_optimal_in_sample():
    # Eckart-Young in the x-whitened metric: no rank-k linear predictor has smaller training error.
    X, Y, _ = ANISOTROPIC.sample(2000, seed=0)
    k = 2
    rrr_error = np.mean((Y - RRR(k).fit(X, Y).predict(X)) ** 2)
    coef, x_mean, y_mean = ols_coefficients(X, Y)
    u, s, vt = np.linalg.svd(coef, full_matrices=False)
    truncated = (u[:, :k] * s[:k]) @ vt[:k]
    assert rrr_error <= np.mean((Y - y_mean - (X - x_mean) @ truncated) ** 2) + 1e-12
    for predictor in random_rank_k_predictors(X, Y, k, count=50, seed=1):
        assert rrr_error <= np.mean((Y - predictor(X)) ** 2) + 1e-12


def test_rank_k_beats_alternatives_on_held_out_data():
    X, Y, _ = ANISOTROPIC.sample(2000, seed=0)
    X_test, Y_test, _ = ANISOTROPIC.sample(20000, seed=1)
    k = 2

    def held_out(prediction):
        return np.mean((Y_test - prediction) ** 2)

    rrr_error = held_out(RRR(k).fit(X, Y).predict(X_test))
    coef, x_mean, y_mean = ols_coefficients(X, Y)
    u, s, vt = np.linalg.svd(coef, full_matrices=False)
    truncated_error = held_out(y_mean + (X_test - x_mean) @ ((u[:, :k] * s[:k]) @ vt[:k]))
    # Population check of the margin: the truncation keeps the two coefficient-5 nuisance directions
    # (explained variance xi^2 = 0.25 + 0.5) instead of the signal (tau^2 = 3.56 + 1.84); measured
    # held-out MSEs are about 4.92 (RRR) and 5.50 (truncation).
    assert rrr_error < truncated_error - 0.2
    random_errors = [held_out(predictor(X_test)) for predictor in random_rank_k_predictors(X, Y, k, count=8, seed=2)]
    # Random rank-2 projections mix signal and nuisance: measured 5.01 .. 5.45.
    assert rrr_error < min(random_errors) - 0.05


def test_rrr_code_carries_the_signal_where_truncation_does_not():
    # Measured by how much of the shared signal S a linear read-out of the rank-2 code recovers
    # (R^2 per signal coordinate). Note: the *weights* of RRR are not compared with the signal
    # subspace here, because in weight space sampling noise along the tiny-variance x directions is
    # amplified by S_xx^{-1/2} (a factor 10): at n = 2000 the weight-space distance is 0.31 although
    # the code is right (it falls to 0.008 at n = 200000).
    X, Y, S = ANISOTROPIC.sample(2000, seed=0)

    def signal_r2(codes):
        codes, target = codes - codes.mean(axis=0), S - S.mean(axis=0)
        residual = target - codes @ np.linalg.lstsq(codes, target, rcond=None)[0]
        return 1.0 - (residual**2).sum(axis=0) / (target**2).sum(axis=0)

    # Population R^2 of s_i from the signal coordinates of x: kappa^2 / (kappa^2 + gamma_x) = 0.89, 0.82.
    np.testing.assert_allclose(signal_r2(RRR(2).fit(X, Y).transform(X)), [4 / 4.5, 2.25 / 2.75], atol=0.03)
    coef, x_mean, _ = ols_coefficients(X, Y)
    u, _, _ = np.linalg.svd(coef, full_matrices=False)
    assert np.all(signal_r2((X - x_mean) @ u[:, :2]) < 0.2)  # measured 0.06, 0.04


@pytest.mark.parametrize("shape", [(300, 6, 4), (300, 3, 5), (40, 30, 3)])
def test_singular_values_match_direct_computation(shape):
    n, dx, dy = shape
    X, Y = regression_data(n=n, dx=dx, dy=dy, seed=5)
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    sxx, syx = Xc.T @ Xc / (n - 1), Yc.T @ Xc / (n - 1)
    expected = np.linalg.svd(syx @ inverse_sqrt(sxx), compute_uv=False)
    rrr = RRR().fit(X, Y)
    assert rrr.singular_values_.shape == (min(dx, dy),)
    np.testing.assert_allclose(rrr.singular_values_, expected, rtol=1e-8, atol=1e-10)


def test_encoder_and_decoder_structure():
    X, Y = regression_data(seed=7)
    k = 2
    rrr = RRR(k).fit(X, Y)
    codes = rrr.transform(X)
    assert codes.shape == (X.shape[0], k)
    # The code E x is x-whitened: identity covariance.
    np.testing.assert_allclose(np.cov(codes, rowvar=False), np.eye(k), atol=1e-10)
    # The decoder columns are orthogonal with norms = the top singular values.
    np.testing.assert_allclose(rrr.decoder_.T @ rrr.decoder_, np.diag(rrr.singular_values_[:k] ** 2), atol=1e-9)
    # predict = y_mean + D E (x - x_mean); the decoder is the regression of Y on the codes.
    np.testing.assert_allclose(rrr.predict(X), rrr.y_mean_ + codes @ rrr.decoder_.T, atol=1e-12)
    decoder = np.linalg.lstsq(codes, Y - Y.mean(axis=0), rcond=None)[0].T
    np.testing.assert_allclose(decoder, rrr.decoder_, atol=1e-9)
    np.testing.assert_array_equal(RRR(k).fit_transform(X, Y), codes)
    rows = np.argmax(np.abs(rrr.encoder_), axis=0)
    assert np.all(rrr.encoder_[rows, np.arange(k)] > 0)  # deterministic signs


def test_predict_shapes():
    X, Y = regression_data(dx=6, dy=4)
    rrr = RRR(1).fit(X, Y)
    assert rrr.predict(X[:7]).shape == (7, 4)
    assert rrr.transform(X[:7]).shape == (7, 1)
    assert rrr.x_rank_ == 6


def test_rank_one_target():
    X, Y = regression_data(dx=4, dy=1)
    rrr = RRR().fit(X, Y)
    assert rrr.singular_values_.shape == (1,)
    np.testing.assert_allclose(rrr.predict(X), LinearRegression().fit(X, Y).predict(X), atol=1e-9)


def test_prediction_error_decreases_with_rank():
    X, Y = regression_data(dx=6, dy=5, seed=11)
    errors = [np.mean((Y - RRR(k).fit(X, Y).predict(X)) ** 2) for k in range(1, 6)]
    assert np.all(np.diff(errors) < 0)
    # The error drop from rank k-1 to k is sigma_k^2 (n-1)/n / d_y (in mean-squared units).
    values = RRR().fit(X, Y).singular_values_
    n = X.shape[0]
    np.testing.assert_allclose(-np.diff(errors), values[1:] ** 2 * (n - 1) / n / Y.shape[1], rtol=1e-8)


# ------------------------------------------------------------------ errors
def test_errors():
    X, Y = regression_data(dx=6, dy=4)
    with pytest.raises(ValueError, match="same number of rows"):
        RRR().fit(X[:-2], Y)
    with pytest.raises(ValueError, match="n_components must be <= 4"):
        RRR(5).fit(X, Y)
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        RRR(0).fit(X, Y)
    with pytest.raises(TypeError, match="n_components must be an integer"):
        RRR(1.5).fit(X, Y)
    with pytest.raises(ValueError, match="X has no variance"):
        RRR().fit(np.ones_like(X), Y)
    bad = Y.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Y contains 1 NaN"):
        RRR().fit(X, bad)
    with pytest.raises(ValueError, match="ridge must be >= 0"):
        RRR(ridge=-0.1).fit(X, Y)
    with pytest.raises(NotFittedError):
        RRR().transform(X)
    model = RRR(2).fit(X, Y)
    with pytest.raises(ValueError, match="X has 5 features, RRR was fitted with 6"):
        model.predict(X[:, :5])


def test_predict_before_fit_raises_not_fitted():
    X, _ = regression_data()
    with pytest.raises(NotFittedError):
        RRR().predict(X)
