"""Reduced-rank regression: the closed-form linear cross-prediction (CP) solution."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from mmphase_bench.errors import InputError
from mmphase_bench.theory._whitening import flip_signs, prepare_pair, whitened_cross_product
from mmphase_bench.validation import check_int, check_matrix


class RRR(BaseEstimator):
    """Linear CP (x -> y) through the SVD of ``A = S_yx S_xx^{-1/2}`` (d_y x d_x).

    ``A = U_A diag(sigma) V_A^T``; encoder ``E = V_{A,k}^T S_xx^{-1/2}`` (k x d_x), decoder
    ``D = U_{A,k} diag(sigma_k)`` (d_y x k). ``predict(x) = mean_y + D E (x - mean_x)`` is the rank-k
    least-squares predictor of y (the rank-k projection of the OLS fit). Singular values are in the
    units of y.

    Parameters are those of :class:`~mmphase_bench.theory.CCA` (only X is whitened).

    Attributes
    ----------
    singular_values_ : (min(d_y, r_x),) full spectrum of ``A-hat``.
    encoder_ : (d_x, k), so ``transform(X) = (X - x_mean_) @ encoder_`` (the transpose of E).
    decoder_ : (d_y, k).
    x_mean_, y_mean_, x_rank_.
    """

    def __init__(self, n_components: int | None = None, *, ridge: float = 0.0, rcond: float | None = None):
        self.n_components = n_components
        self.ridge = ridge
        self.rcond = rcond

    def fit(self, X, Y) -> "RRR":
        wx, _, X, Y = prepare_pair(X, Y, self.rcond, self.ridge)
        y_mean = Y.mean(axis=0)
        coupling = whitened_cross_product(wx, Y - y_mean).T  # A in the whitened basis of x
        left, singular, right_t = np.linalg.svd(coupling, full_matrices=False)
        n_keep = singular.size if self.n_components is None else check_int(
            "n_components", self.n_components, minimum=1, maximum=singular.size
        )
        encoder = wx.inverse_sqrt_times(right_t[:n_keep].T)
        decoder = left[:, :n_keep] * singular[:n_keep]
        self.encoder_, self.decoder_ = flip_signs(encoder, decoder)
        self.singular_values_ = singular
        self.x_mean_, self.y_mean_ = wx.mean, y_mean
        self.x_rank_ = wx.rank
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        """The k-dimensional code ``E (x - mean_x)`` of each row."""
        check_is_fitted(self, "encoder_")
        X = check_matrix("X", X)
        if X.shape[1] != self.encoder_.shape[0]:
            raise InputError(f"X has {X.shape[1]} features, RRR was fitted with {self.encoder_.shape[0]}")
        return (X - self.x_mean_) @ self.encoder_

    def predict(self, X) -> np.ndarray:
        """Rank-k prediction of Y from X."""
        codes = self.transform(X)  # checks that the model is fitted
        return self.y_mean_ + codes @ self.decoder_.T

    def fit_transform(self, X, Y) -> np.ndarray:
        return self.fit(X, Y).transform(X)
