"""Canonical correlation analysis: the closed-form linear cross-alignment (CA) solution."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from mmphase_bench.errors import InputError
from mmphase_bench.theory._whitening import flip_signs, prepare_pair, whitened_cross_covariance
from mmphase_bench.validation import check_int, check_matrix


class CCA(BaseEstimator):
    """Linear CA through the SVD of the coupling matrix ``C = S_xx^{-1/2} S_xy S_yy^{-1/2}``.

    ``C = P diag(rho) Q^T``; the canonical weights are ``W = S_xx^{-1/2} P_k`` and
    ``V = S_yy^{-1/2} Q_k`` so that ``transform`` returns unit-variance canonical variates whose
    pairwise correlations are ``rho`` (the paper's CA solution rescales them by ``rho^{-1/2}``,
    which spans the same subspace).

    Parameters
    ----------
    n_components:
        Number of canonical pairs kept for ``transform`` (``None``: all of them).
    ridge:
        Additive ridge on both covariances, ``S + ridge * I`` (same units as the data variance).
    rcond:
        Relative singular-value cut-off of the whitening SVD (``None``: ``max(n, d) * eps``).

    Attributes
    ----------
    singular_values_ : (min(r_x, r_y),) the full spectrum of ``C-hat`` (canonical correlations).
    x_weights_, y_weights_ : (d_x, k), (d_y, k) canonical weights.
    x_mean_, y_mean_ : column means.
    x_rank_, y_rank_ : ranks kept by the whitening.
    """

    def __init__(self, n_components: int | None = None, *, ridge: float = 0.0, rcond: float | None = None):
        self.n_components = n_components
        self.ridge = ridge
        self.rcond = rcond

    def fit(self, X, Y) -> "CCA":
        wx, wy, X, Y = prepare_pair(X, Y, self.rcond, self.ridge)
        coupling = whitened_cross_covariance(wx, wy)
        left, singular, right_t = np.linalg.svd(coupling, full_matrices=False)
        n_keep = singular.size if self.n_components is None else check_int(
            "n_components", self.n_components, minimum=1, maximum=singular.size
        )
        x_weights = wx.inverse_sqrt_times(left[:, :n_keep])
        y_weights = wy.inverse_sqrt_times(right_t[:n_keep].T)
        self.x_weights_, self.y_weights_ = flip_signs(x_weights, y_weights)
        self.singular_values_ = singular
        self.x_mean_, self.y_mean_ = wx.mean, wy.mean
        self.x_rank_, self.y_rank_ = wx.rank, wy.rank
        self.n_features_in_ = X.shape[1]
        return self

    @property
    def canonical_correlations_(self) -> np.ndarray:
        """The kept canonical correlations (the first ``n_components`` singular values)."""
        check_is_fitted(self, "singular_values_")
        return self.singular_values_[: self.x_weights_.shape[1]]

    def transform(self, X, Y=None):
        """Canonical variates of X, or ``(x_scores, y_scores)`` when Y is given."""
        check_is_fitted(self, "x_weights_")
        X = check_matrix("X", X)
        if X.shape[1] != self.x_weights_.shape[0]:
            raise InputError(f"X has {X.shape[1]} features, CCA was fitted with {self.x_weights_.shape[0]}")
        x_scores = (X - self.x_mean_) @ self.x_weights_
        if Y is None:
            return x_scores
        return x_scores, self.transform_y(Y)

    def transform_y(self, Y) -> np.ndarray:
        check_is_fitted(self, "y_weights_")
        Y = check_matrix("Y", Y)
        if Y.shape[1] != self.y_weights_.shape[0]:
            raise InputError(f"Y has {Y.shape[1]} features, CCA was fitted with {self.y_weights_.shape[0]}")
        return (Y - self.y_mean_) @ self.y_weights_

    def fit_transform(self, X, Y):
        return self.fit(X, Y).transform(X, Y)
