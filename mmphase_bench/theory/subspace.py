"""Distance between linear subspaces, the recovery metric of the paper."""

from __future__ import annotations

import numpy as np

from mmphase_bench.errors import InputError
from mmphase_bench.validation import check_matrix


def principal_cosines(A, B) -> np.ndarray:
    """Cosines of the principal angles between span(A) and span(B), descending.

    ``A`` (d, k_a) and ``B`` (d, k_b) hold spanning vectors in their columns (they need not be
    orthonormal); there are ``min(rank A, rank B)`` angles.
    """
    A = check_matrix("A", A)
    B = check_matrix("B", B)
    if A.shape[0] != B.shape[0]:
        raise InputError(
            f"A and B must live in the same space: A has {A.shape[0]} rows, B has {B.shape[0]}"
        )
    basis_a, basis_b = _orthonormal_basis(A, "A"), _orthonormal_basis(B, "B")
    cosines = np.linalg.svd(basis_a.T @ basis_b, compute_uv=False)
    return np.clip(cosines, 0.0, 1.0)


def subspace_distance(A, B) -> float:
    """``1 - (1/m) sum_i cos^2(theta_i)`` over the ``m`` principal angles: 0 for the same
    subspace, 1 for orthogonal ones. Columns of A and B span the two subspaces."""
    cosines = principal_cosines(A, B)
    return float(1.0 - np.mean(cosines**2))


def _orthonormal_basis(matrix: np.ndarray, name: str) -> np.ndarray:
    left, singular, _ = np.linalg.svd(matrix, full_matrices=False)
    rank = int(np.sum(singular > max(matrix.shape) * np.finfo(np.float64).eps * singular[0])) if singular[0] > 0 else 0
    if rank == 0:
        raise InputError(f"{name} spans no subspace: all its columns are zero")
    return left[:, :rank]
