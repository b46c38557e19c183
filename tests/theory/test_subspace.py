"""subspace_distance / principal_cosines: the paper's recovery metric."""

import numpy as np
import pytest
from scipy.linalg import subspace_angles

from mmphase_bench.theory import principal_cosines, subspace_distance


def test_same_span_different_bases():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((10, 3))
    B = A @ rng.standard_normal((3, 3))  # an invertible mixing: the same span
    assert subspace_distance(A, B) == pytest.approx(0.0, abs=1e-12)
    assert subspace_distance(A, 1e-6 * A) == pytest.approx(0.0, abs=1e-12)  # scale-free
    np.testing.assert_allclose(principal_cosines(A, B), 1.0, atol=1e-12)


def test_orthogonal_subspaces():
    eye = np.eye(6)
    assert subspace_distance(eye[:, :2], eye[:, 2:4]) == pytest.approx(1.0, abs=1e-15)
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    assert subspace_distance(q[:, :3] @ rng.standard_normal((3, 3)), q[:, 3:6]) == pytest.approx(1.0, abs=1e-12)


def test_known_angle_45_degrees():
    # cos^2(45 deg) = 0.5 -> distance 0.5.
    A = np.array([[1.0], [0.0], [0.0]])
    B = np.array([[1.0], [1.0], [0.0]])
    assert subspace_distance(A, B) == pytest.approx(0.5, abs=1e-15)


@pytest.mark.parametrize("theta", [0.1, np.pi / 6, np.pi / 3, 1.3])
def test_known_angles_two_dimensional(theta):
    # span(e1, e2) vs span(e1, cos t e2 + sin t e3): principal angles 0 and t.
    eye = np.eye(5)
    A = eye[:, :2]
    B = np.c_[eye[:, 0], np.cos(theta) * eye[:, 1] + np.sin(theta) * eye[:, 2]]
    expected = 1.0 - (1.0 + np.cos(theta) ** 2) / 2.0
    assert subspace_distance(A, B) == pytest.approx(expected, abs=1e-14)
    assert subspace_distance(A, B @ np.array([[2.0, 1.0], [0.0, -3.0]])) == pytest.approx(expected, abs=1e-12)
    np.testing.assert_allclose(principal_cosines(A, B), [1.0, np.cos(theta)], atol=1e-14)


def test_matches_scipy_subspace_angles():
    rng = np.random.default_rng(2)
    for _ in range(5):
        A, B = rng.standard_normal((12, 4)), rng.standard_normal((12, 4))
        angles = subspace_angles(A, B)
        np.testing.assert_allclose(np.sort(principal_cosines(A, B)), np.sort(np.cos(angles)), atol=1e-12)
        assert subspace_distance(A, B) == pytest.approx(1.0 - np.mean(np.cos(angles) ** 2), abs=1e-12)


def test_symmetric_and_bounded():
    rng = np.random.default_rng(3)
    for _ in range(5):
        A, B = rng.standard_normal((9, 3)), rng.standard_normal((9, 3))
        d_ab, d_ba = subspace_distance(A, B), subspace_distance(B, A)
        assert d_ab == pytest.approx(d_ba, abs=1e-14)
        assert 0.0 < d_ab < 1.0


def test_different_dimensions_use_min_rank_angles():
    # A 1-d subspace inside a 3-d one: its single principal angle is 0.
    eye = np.eye(6)
    assert subspace_distance(eye[:, :1], eye[:, :3]) == pytest.approx(0.0, abs=1e-15)
    assert principal_cosines(eye[:, :1], eye[:, :3]).shape == (1,)
    # Rank-deficient input: the repeated column counts once.
    assert principal_cosines(np.c_[eye[:, 0], eye[:, 0]], eye[:, :2]).shape == (1,)


def test_random_subspace_distance_expectation():
    # For independent uniformly random k-subspaces of R^d, E[mean cos^2] = k / d.
    rng = np.random.default_rng(4)
    d, k = 20, 3
    values = [subspace_distance(rng.standard_normal((d, k)), rng.standard_normal((d, k))) for _ in range(400)]
    assert np.mean(values) == pytest.approx(1 - k / d, abs=0.02)


def test_mismatched_ambient_dimension():
    with pytest.raises(ValueError, match="same space: A has 5 rows, B has 4"):
        subspace_distance(np.ones((5, 2)), np.ones((4, 2)))


def test_zero_matrix():
    with pytest.raises(ValueError, match="A spans no subspace"):
        subspace_distance(np.zeros((4, 2)), np.eye(4)[:, :2])
    with pytest.raises(ValueError, match="B spans no subspace"):
        subspace_distance(np.eye(4)[:, :2], np.zeros((4, 1)))


def test_invalid_input():
    with pytest.raises(ValueError, match="NaN"):
        subspace_distance(np.full((3, 1), np.nan), np.ones((3, 1)))
    with pytest.raises(ValueError, match="2-D"):
        subspace_distance(np.ones(3), np.ones((3, 1)))
