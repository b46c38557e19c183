"""Whitening of one view, shared by the CCA, RRR and joint solvers.

For centred data ``X_c = U diag(s) V^T`` (n samples) the ridge-regularised covariance is
``Sigma = V diag(s^2 / (n - 1) + ridge) V^T`` on the span of the data. Directions whose singular
value falls below ``rcond * s_max`` are dropped (a relative cut-off on singular values, robust to
scale and to ``d > n``); the dropped directions carry no cross-covariance, so no coupling matrix
needs them.

Two routes give ``s`` and ``V``. For tall data (``n >= 2 d``) the eigendecomposition of the Gram
matrix ``X_c^T X_c`` costs one BLAS product, but resolves singular values only down to about
``sqrt(eps) s_max``; it is used only when every kept singular value is above ``1e-5 s_max``
(so the whitening is accurate to about 1e-6 relative), otherwise, and for wide data, the thin SVD of
``X_c`` itself is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmphase_bench.errors import InputError
from mmphase_bench.validation import check_float, check_matrix, check_same_rows

#: Below this ratio s_min / s_max the Gram route is not accurate enough and the SVD is used.
GRAM_ROUTE_MIN_RATIO = 1e-5


@dataclass(frozen=True)
class WhitenedView:
    mean: np.ndarray  #: (d,) column means
    centred: np.ndarray  #: (n, d) centred data
    basis: np.ndarray  #: (d, r) right singular vectors kept
    inverse_sqrt: np.ndarray  #: (r,) diagonal of Sigma^{-1/2} in ``basis``
    _left: np.ndarray | None = None  #: (n, r) left singular vectors when the SVD route ran
    _singular: np.ndarray | None = None

    @property
    def rank(self) -> int:
        return int(self.basis.shape[1])

    @property
    def n_samples(self) -> int:
        return int(self.centred.shape[0])

    def projection(self) -> np.ndarray:
        """``Sigma^{-1/2}`` restricted to the kept span, as a (d, r) map into whitened coordinates."""
        return self.basis * self.inverse_sqrt

    def scores(self) -> np.ndarray:
        """Whitened data ``X_c Sigma^{-1/2}`` in whitened coordinates, (n, r)."""
        if self._left is not None:
            return self._left * (self._singular * self.inverse_sqrt)
        return self.centred @ self.projection()

    def inverse_sqrt_times(self, matrix: np.ndarray) -> np.ndarray:
        """``Sigma^{-1/2} B`` for ``B`` given in whitened coordinates, (r, m) -> (d, m)."""
        return self.basis @ (self.inverse_sqrt[:, None] * matrix)


def whiten_view(data: np.ndarray, *, name: str, rcond: float | None, ridge: float) -> WhitenedView:
    """Centre ``data`` (n, d) and whiten it; see the module docstring for the two routes."""
    n, d = data.shape
    mean = data.mean(axis=0)
    centred = data - mean
    relative_cutoff = max(n, d) * np.finfo(np.float64).eps if rcond is None else float(rcond)
    left = None
    if n >= 2 * d:
        eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred)
        singular = np.sqrt(np.clip(eigenvalues[::-1], 0.0, None))
        basis = eigenvectors[:, ::-1]
        keep = singular > max(relative_cutoff, 0.0) * singular[0]
        if singular[0] > 0 and singular[keep][-1] >= GRAM_ROUTE_MIN_RATIO * singular[0]:
            singular, basis = singular[keep], basis[:, keep]
        else:
            singular = None
    else:
        singular = None
    if singular is None:
        left, singular, right_t = np.linalg.svd(centred, full_matrices=False)
        keep = singular > relative_cutoff * singular[0]
        left, singular, basis = left[:, keep], singular[keep], right_t[keep].T
    if singular.size == 0 or singular[0] == 0.0:
        raise InputError(f"{name} has no variance: every column is constant")
    inverse_sqrt = 1.0 / np.sqrt(singular**2 / (n - 1) + ridge)
    return WhitenedView(
        mean=mean, centred=centred, basis=basis, inverse_sqrt=inverse_sqrt,
        _left=left, _singular=singular if left is not None else None,
    )


def whitened_cross_covariance(wx: WhitenedView, wy: WhitenedView) -> np.ndarray:
    """``Sigma_xx^{-1/2} Sigma_xy Sigma_yy^{-1/2}`` in whitened coordinates, (r_x, r_y)."""
    if wx._left is not None and wy._left is not None:
        return (wx.scores().T @ wy.scores()) / (wx.n_samples - 1)
    # Product of the cross Gram first: one (d_x, n) x (n, d_y) BLAS call, then small matrices.
    cross = wx.centred.T @ wy.centred
    return (wx.projection().T @ cross @ wy.projection()) / (wx.n_samples - 1)


def whitened_cross_product(wx: WhitenedView, other_centred: np.ndarray) -> np.ndarray:
    """``Sigma_xx^{-1/2} X_c^T B / (n - 1)`` in whitened coordinates of x, (r_x, m)."""
    if wx._left is not None:
        return (wx.scores().T @ other_centred) / (wx.n_samples - 1)
    return (wx.projection().T @ (wx.centred.T @ other_centred)) / (wx.n_samples - 1)


def prepare_pair(X, Y, rcond: float | None, ridge: float) -> tuple[WhitenedView, WhitenedView, np.ndarray, np.ndarray]:
    """Validate a paired sample and whiten both views. Returns ``(wx, wy, X, Y)`` as float64."""
    X = check_matrix("X", X, min_rows=2)
    Y = check_matrix("Y", Y, min_rows=2)
    check_same_rows(X=X, Y=Y)
    if rcond is not None:
        check_float("rcond", rcond, minimum=0.0, maximum=1.0, strict_maximum=True)
    check_float("ridge", ridge, minimum=0.0)
    return (
        whiten_view(X, name="X", rcond=rcond, ridge=ridge),
        whiten_view(Y, name="Y", rcond=rcond, ridge=ridge),
        X,
        Y,
    )


def flip_signs(*columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Deterministic signs: the largest-magnitude entry of each column of the first matrix is
    positive; the same flips are applied to the paired matrices."""
    reference = columns[0]
    rows = np.argmax(np.abs(reference), axis=0)
    signs = np.sign(reference[rows, np.arange(reference.shape[1])])
    signs[signs == 0] = 1.0
    return tuple(matrix * signs for matrix in columns)
