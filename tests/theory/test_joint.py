"""JointCAPCP: lambda = 0 is RRR (CP), lambda -> infinity is CCA (CA), monotone in between."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from mmphase_bench.theory import CCA, RRR, JointCAPCP, spiked_preset, subspace_distance


@pytest.fixture(scope="module")
def ca_only_fit():
    # In the CA-only preset, RRR picks the high-variance nuisance of y and CCA the signal, so the two
    # endpoint subspaces are far apart (distance about 0.77 at n = 5000).
    model = spiked_preset("ca_only")
    X, Y, _ = model.sample(5000, seed=0)
    k = model.k
    return model, X, Y, RRR(k).fit(X, Y), CCA(k).fit(X, Y)


def test_endpoints_are_far_apart(ca_only_fit):
    _, _, _, rrr, cca = ca_only_fit
    assert subspace_distance(rrr.encoder_, cca.x_weights_) > 0.5


def test_lambda_zero_is_rrr(ca_only_fit):
    model, X, Y, rrr, _ = ca_only_fit
    joint = JointCAPCP(lam=0.0, n_components=model.k).fit(X, Y)
    assert subspace_distance(joint.x_weights_, rrr.encoder_) < 1e-8
    # M = A^T A at lambda = 0: its eigenvalues are the squared singular values of A-hat.
    np.testing.assert_allclose(joint.eigenvalues_[: rrr.singular_values_.size], rrr.singular_values_**2, rtol=1e-8)


def test_large_lambda_is_cca(ca_only_fit):
    model, X, Y, _, cca = ca_only_fit
    joint = JointCAPCP(lam=1e6, n_components=model.k).fit(X, Y)
    assert subspace_distance(joint.x_weights_, cca.x_weights_) < 1e-3
    assert subspace_distance(joint.y_weights_, cca.y_weights_) < 1e-3
    # M / lambda -> C C^T - I: eigenvalues approach rho^2 - 1.
    np.testing.assert_allclose(joint.eigenvalues_[: model.k] / 1e6, cca.singular_values_[: model.k] ** 2 - 1, atol=1e-4)


def test_intermediate_lambda_moves_monotonically(ca_only_fit):
    model, X, Y, rrr, cca = ca_only_fit
    lams = [0.0, 0.1, 1.0, 3.0, 10.0, 30.0, 100.0, 1e4]
    to_rrr, to_cca = [], []
    for lam in lams:
        weights = JointCAPCP(lam=lam, n_components=model.k).fit(X, Y).x_weights_
        to_rrr.append(subspace_distance(weights, rrr.encoder_))
        to_cca.append(subspace_distance(weights, cca.x_weights_))
    assert np.all(np.diff(to_rrr) > 0)
    assert np.all(np.diff(to_cca) < 0)
    # lambda = 3 and 10 are genuinely in between (measured about 0.15/0.66 and 0.65/0.10).
    for index in (lams.index(3.0), lams.index(10.0)):
        assert 0.05 < to_rrr[index] < to_rrr[-1] - 0.05
        assert 0.05 < to_cca[index] < to_cca[0] - 0.05
    # The CA end recovers the signal, the CP end does not (this is the CA-only regime).
    assert subspace_distance(JointCAPCP(lam=1e4, n_components=model.k).fit(X, Y).x_weights_, model.signal_subspace_x) < 0.05


def test_y_weights_are_the_regression_of_the_code_on_y(ca_only_fit):
    model, X, Y, _, _ = ca_only_fit
    joint = JointCAPCP(lam=2.0, n_components=model.k).fit(X, Y)
    n = X.shape[0]
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    syy, syx = Yc.T @ Yc / (n - 1), Yc.T @ Xc / (n - 1)
    # V^T = S_yy^{-1} S_yx W^T (same sign flips on both sides).
    expected = np.linalg.solve(syy, syx @ joint.x_weights_)
    np.testing.assert_allclose(joint.y_weights_, expected, rtol=1e-8, atol=1e-10 * np.abs(expected).max())
    u, v = joint.transform(X, Y)
    assert u.shape == v.shape == (n, model.k)
    # The codes of x are x-whitened (W S_xx W^T = I).
    np.testing.assert_allclose(np.cov(u, rowvar=False), np.eye(model.k), atol=1e-10)
    np.testing.assert_array_equal(joint.transform(X), u)
    fu, fv = JointCAPCP(lam=2.0, n_components=model.k).fit_transform(X, Y)
    np.testing.assert_array_equal(fu, u)
    np.testing.assert_array_equal(fv, v)


def test_errors():
    model = spiked_preset("both")
    X, Y, _ = model.sample(200, seed=0)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        JointCAPCP(lam=-0.1).fit(X, Y)
    with pytest.raises(ValueError, match="lam must be finite"):
        JointCAPCP(lam=np.inf).fit(X, Y)
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        JointCAPCP(n_components=0).fit(X, Y)
    with pytest.raises(ValueError, match="n_components must be <= 20"):
        JointCAPCP(n_components=21).fit(X, Y)
    with pytest.raises(ValueError, match="same number of rows"):
        JointCAPCP().fit(X, Y[:10])
    with pytest.raises(NotFittedError):
        JointCAPCP().transform(X)
    joint = JointCAPCP(n_components=2).fit(X, Y)
    with pytest.raises(ValueError, match="X has 19 features"):
        joint.transform(X[:, 1:])
    with pytest.raises(ValueError, match="Y has 19 features"):
        joint.transform(X, Y[:, 1:])
