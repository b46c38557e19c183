"""The objective interpolating between cross-prediction (lambda = 0) and cross-alignment."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from mmphase_bench.errors import InputError
from mmphase_bench.theory._whitening import flip_signs, prepare_pair, whitened_cross_covariance
from mmphase_bench.validation import check_float, check_int, check_matrix


class JointCAPCP(BaseEstimator):
    """Linear joint objective ``min E||B W x - y||^2 + lam E||W x - V y||^2``.

    With ``A = S_yx S_xx^{-1/2}`` and ``C = S_xx^{-1/2} S_xy S_yy^{-1/2}``, the encoder is
    ``W = W'^T S_xx^{-1/2}`` where ``W'`` holds the top-k eigenvectors of
    ``M = A^T A + lam (C C^T - I)``, and ``V = W S_xy S_yy^{-1}``. ``lam = 0`` gives the RRR
    encoder; as ``lam -> inf`` the subspace tends to the CCA one.

    Attributes: ``eigenvalues_`` (full spectrum of M), ``x_weights_`` (d_x, k),
    ``y_weights_`` (d_y, k), ``x_mean_``, ``y_mean_``.
    """

    def __init__(self, lam: float = 1.0, n_components: int = 1, *, ridge: float = 0.0, rcond: float | None = None):
        self.lam = lam
        self.n_components = n_components
        self.ridge = ridge
        self.rcond = rcond

    def fit(self, X, Y) -> "JointCAPCP":
        lam = check_float("lam", self.lam, minimum=0.0)
        wx, wy, X, Y = prepare_pair(X, Y, self.rcond, self.ridge)
        n = X.shape[0]
        n_keep = check_int("n_components", self.n_components, minimum=1, maximum=wx.rank)
        y_centred = Y - Y.mean(axis=0)
        x_scores = wx.scores()
        prediction = (y_centred.T @ x_scores) / (n - 1)  # A, whitened basis of x
        alignment = whitened_cross_covariance(wx, wy)  # C, whitened bases
        objective = prediction.T @ prediction + lam * (alignment @ alignment.T - np.eye(wx.rank))
        eigenvalues, eigenvectors = np.linalg.eigh(objective)
        order = np.argsort(eigenvalues)[::-1]
        eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
        x_weights = wx.inverse_sqrt_times(eigenvectors[:, :n_keep])
        # V^T = S_yy^{-1} S_yx W^T, computed in the whitened basis of y.
        cross = (wy.scores().T @ (x_scores @ eigenvectors[:, :n_keep])) / (n - 1)
        y_weights = wy.inverse_sqrt_times(cross)
        self.x_weights_, self.y_weights_ = flip_signs(x_weights, y_weights)
        self.eigenvalues_ = eigenvalues
        self.x_mean_, self.y_mean_ = wx.mean, Y.mean(axis=0)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X, Y=None):
        check_is_fitted(self, "x_weights_")
        X = check_matrix("X", X)
        if X.shape[1] != self.x_weights_.shape[0]:
            raise InputError(f"X has {X.shape[1]} features, the model was fitted with {self.x_weights_.shape[0]}")
        x_scores = (X - self.x_mean_) @ self.x_weights_
        if Y is None:
            return x_scores
        Y = check_matrix("Y", Y)
        if Y.shape[1] != self.y_weights_.shape[0]:
            raise InputError(f"Y has {Y.shape[1]} features, the model was fitted with {self.y_weights_.shape[0]}")
        return x_scores, (Y - self.y_mean_) @ self.y_weights_

    def fit_transform(self, X, Y):
        return self.fit(X, Y).transform(X, Y)
