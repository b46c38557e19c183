"""SpikedModel: closed forms against brute-force linear algebra, sampling, parameters, errors."""

import numpy as np
import pytest

from mmphase_bench.theory import CCA, RRR, Regime, SpikedModel


def inverse_sqrt(matrix):
    """Symmetric inverse square root through eigh (independent of the package's whitening)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors / np.sqrt(values)) @ vectors.T


def heterogeneous_model(seed=3):
    """Every parameter differs per coordinate, every nuisance is coupled, all values distinct."""
    return SpikedModel(
        d=8, k=3, kappa=(3.0, 2.0, 1.5), gamma_x=(0.5, 0.2, 1.0), gamma_y=(0.05, 0.3, 0.6),
        nuisance_var_x=(1.0, 2.0, 0.5, 1.5, 3.0), nuisance_var_y=(4.0, 1.0, 2.0, 0.5, 3.0),
        nuisance_corr=(0.1, 0.25, 0.4, 0.55, 0.7), seed=seed,
    )


MODELS = {
    "heterogeneous": heterogeneous_model(),
    "homogeneous": SpikedModel(d=6, k=2, kappa=1.3, gamma_x=0.4, gamma_y=0.9, nuisance_var_x=2.0,
                               nuisance_var_y=5.0, nuisance_corr=0.6, seed=1),
    "uncoupled_nuisance": SpikedModel(d=5, k=1, kappa=2.0, seed=7),
}


# ------------------------------------------------------------------ (a) closed-form spectra
@pytest.mark.parametrize("name", sorted(MODELS))
def test_spectra_match_population_coupling_matrices(name):
    model = MODELS[name]
    cov = model.population_covariances()
    sxx_is, syy_is = inverse_sqrt(cov.xx), inverse_sqrt(cov.yy)
    coupling_c = sxx_is @ cov.xy @ syy_is
    coupling_a = cov.xy.T @ sxx_is  # A = S_yx S_xx^{-1/2}, d_y x d_x
    spectra = model.spectra()
    expected_c = np.sort(np.concatenate([spectra.rho, spectra.nu]))
    expected_a = np.sort(np.concatenate([spectra.tau, spectra.xi]))
    np.testing.assert_allclose(np.sort(np.linalg.svd(coupling_c, compute_uv=False)), expected_c, atol=1e-10, rtol=0)
    np.testing.assert_allclose(np.sort(np.linalg.svd(coupling_a, compute_uv=False)), expected_a, atol=1e-10, rtol=0)
    assert spectra.rho.shape == spectra.tau.shape == (model.k,)
    assert spectra.nu.shape == spectra.xi.shape == (model.d - model.k,)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_population_covariances_structure(name):
    model = MODELS[name]
    cov = model.population_covariances()
    for matrix in (cov.xx, cov.yy):
        np.testing.assert_allclose(matrix, matrix.T, atol=1e-12)
        assert np.linalg.eigvalsh(matrix).min() > 0
    # The signal subspaces carry the shared signal: S_xy maps the y signal basis onto kappa^2 times x's.
    qx, qy = model.signal_subspace_x, model.signal_subspace_y
    np.testing.assert_allclose(qx.T @ cov.xy @ qy, np.diag(np.asarray(model.kappa) ** 2), atol=1e-12)
    np.testing.assert_allclose(model.basis_x.T @ model.basis_x, np.eye(model.d), atol=1e-12)
    np.testing.assert_allclose(model.basis_y.T @ model.basis_y, np.eye(model.d), atol=1e-12)


def test_spectra_formulas_by_hand():
    # kappa = (2, 1), gamma_x = (1, 0), gamma_y = (0, 3), var_x = (1, 4), var_y = (9, 1), eta = (0.9, 1).
    model = SpikedModel(d=4, k=2, kappa=(2.0, 1.0), gamma_x=(1.0, 0.0), gamma_y=(0.0, 3.0),
                        nuisance_var_x=(1.0, 4.0), nuisance_var_y=(9.0, 1.0), eta=(0.9, 1.0))
    spectra = model.spectra()
    np.testing.assert_allclose(spectra.rho, [4 / np.sqrt(5 * 4), 1 / np.sqrt(1 * 4)], rtol=1e-14)
    np.testing.assert_allclose(spectra.tau, [4 / np.sqrt(5), 1.0], rtol=1e-14)
    np.testing.assert_allclose(spectra.nu, [0.9 / 3, 1 / 2], rtol=1e-14)
    np.testing.assert_allclose(spectra.xi, [0.9 / 1, 1 / 2], rtol=1e-14)
    np.testing.assert_allclose(model.nuisance_correlation, [0.3, 0.5], rtol=1e-14)
    # Delta_CA = min(0.894, 0.5) / max(0.3, 0.5) = 1 exactly: NOT recovering (strictly > 1 needed).
    # Delta_CP = min(1.789, 1) / max(0.9, 0.5) = 1 / 0.9.
    delta_ca, delta_cp = model.separation_ratios()
    assert delta_ca == pytest.approx(1.0, abs=1e-15)
    assert delta_cp == pytest.approx(1 / 0.9, rel=1e-14)
    assert model.regime() is Regime.CP_ONLY
    # CA: only rho_1 = 0.894 is above the floor 0.5; CP: both tau (1.789, 1) are above 0.9.
    assert model.recoverable_components() == (1, 2)


# ------------------------------------------------------------------ (b) Monte Carlo
@pytest.fixture(scope="module")
def large_sample():
    model = heterogeneous_model()
    X, Y, S = model.sample(200_000, seed=11)
    return model, X, Y, S


def test_empirical_covariances_match_population(large_sample):
    model, X, Y, S = large_sample
    n = X.shape[0]
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    cov = model.population_covariances()
    for empirical, population in ((Xc.T @ Xc, cov.xx), (Yc.T @ Yc, cov.yy), (Xc.T @ Yc, cov.xy)):
        empirical = empirical / (n - 1)
        # Entry-wise sampling error ~ sd / sqrt(n) = 0.2% of the scale: 2% is a wide margin.
        assert np.linalg.norm(empirical - population) / np.linalg.norm(population) < 2e-2
    # The returned signal S has covariance diag(kappa^2) and is the shared part of both views.
    np.testing.assert_allclose(S.var(axis=0, ddof=1), np.asarray(model.kappa) ** 2, rtol=2e-2)
    np.testing.assert_allclose(
        (Xc @ model.signal_subspace_x * S).mean(axis=0), np.asarray(model.kappa) ** 2, rtol=2e-2
    )


def test_sample_spectra_match_closed_forms(large_sample):
    model, X, Y, _ = large_sample
    n = X.shape[0]
    spectra = model.spectra()
    cca = CCA().fit(X, Y)
    rrr = RRR().fit(X, Y)
    expected_c = np.sort(np.concatenate([spectra.rho, spectra.nu]))[::-1]
    expected_a = np.sort(np.concatenate([spectra.tau, spectra.xi]))[::-1]
    # A sample canonical correlation has standard error about (1 - rho^2) / sqrt(n) <= 0.0023 here,
    # and a bias of order d / n = 4e-5 (all values are distinct, none is 0): 0.01 is > 4 standard errors.
    np.testing.assert_allclose(cca.singular_values_, expected_c, atol=0.01, rtol=0)
    # Singular values of A are in units of y. With x whitened, each entry of A-hat has sampling error
    # about sd(y | x) / sqrt(n) <= sqrt(lambda_max(S_yy)) / sqrt(n) = 3.0 / 447 = 0.007; the tolerance
    # 0.03 is more than 4 of those.
    max_sd_y = np.sqrt(np.linalg.eigvalsh(model.population_covariances().yy).max())
    assert 4 * max_sd_y / np.sqrt(n) <= 0.03
    np.testing.assert_allclose(rrr.singular_values_, expected_a, atol=0.03, rtol=0)


# ------------------------------------------------------------------ (c) determinism
def test_sampling_is_deterministic():
    model = heterogeneous_model()
    a = model.sample(500, seed=4)
    b = model.sample(500, seed=4)
    for left, right in zip(a, b):
        assert left.tobytes() == right.tobytes()
    # A fresh model with the same seed has the same bases and gives the same bytes.
    c = heterogeneous_model().sample(500, seed=4)
    assert all(left.tobytes() == right.tobytes() for left, right in zip(a, c))
    assert np.array_equal(heterogeneous_model().basis_x, model.basis_x)


def test_different_seeds_differ():
    model = heterogeneous_model()
    X1, Y1, S1 = model.sample(500, seed=4)
    X2, Y2, S2 = model.sample(500, seed=5)
    assert not np.array_equal(X1, X2) and not np.array_equal(Y1, Y2) and not np.array_equal(S1, S2)
    other = heterogeneous_model(seed=4)
    assert not np.allclose(other.basis_x, model.basis_x)
    assert not np.array_equal(other.sample(500, seed=4)[0], X1)
    # The basis seed does not enter the spectra: they are parameters only.
    np.testing.assert_array_equal(other.spectra().rho, model.spectra().rho)


def test_sample_shapes():
    model = heterogeneous_model()
    X, Y, S = model.sample(7, seed=0)
    assert X.shape == (7, 8) and Y.shape == (7, 8) and S.shape == (7, 3)
    assert X.dtype == Y.dtype == np.float64


# ------------------------------------------------------------------ (d) parameters
def test_scalars_broadcast():
    model = SpikedModel(d=5, k=2, kappa=2.0, gamma_x=0.3, gamma_y=0.7, nuisance_var_x=1.5,
                        nuisance_var_y=2.5, nuisance_corr=0.4)
    for name, value, length in (("kappa", 2.0, 2), ("gamma_x", 0.3, 2), ("gamma_y", 0.7, 2),
                                ("nuisance_var_x", 1.5, 3), ("nuisance_var_y", 2.5, 3)):
        np.testing.assert_array_equal(getattr(model, name), np.full(length, value))
    np.testing.assert_allclose(model.eta, np.full(3, 0.4 * np.sqrt(1.5 * 2.5)), rtol=1e-14)
    np.testing.assert_allclose(model.nuisance_correlation, 0.4, rtol=1e-14)
    assert model.nuisance_corr is None  # normalised into eta
    spectra = model.spectra()
    np.testing.assert_allclose(spectra.rho, 4 / np.sqrt(4.3 * 4.7), rtol=1e-14)
    np.testing.assert_allclose(spectra.tau, 4 / np.sqrt(4.3), rtol=1e-14)
    np.testing.assert_allclose(spectra.xi, 0.4 * np.sqrt(2.5), rtol=1e-14)


def test_homogeneous_and_per_coordinate_agree():
    scalar = SpikedModel(d=5, k=2, kappa=2.0, gamma_x=0.3, nuisance_corr=0.4, seed=2)
    vector = SpikedModel(d=5, k=2, kappa=[2.0, 2.0], gamma_x=np.array([0.3, 0.3]),
                         nuisance_corr=(0.4, 0.4, 0.4), seed=2)
    for attribute in ("rho", "nu", "tau", "xi"):
        np.testing.assert_array_equal(getattr(scalar.spectra(), attribute), getattr(vector.spectra(), attribute))
    assert scalar.sample(50, seed=1)[0].tobytes() == vector.sample(50, seed=1)[0].tobytes()


def test_eta_and_nuisance_corr_are_equivalent():
    by_corr = SpikedModel(d=4, k=1, nuisance_var_x=(1.0, 4.0, 2.0), nuisance_var_y=(9.0, 1.0, 2.0),
                          nuisance_corr=(0.2, 0.5, 1.0))
    by_eta = SpikedModel(d=4, k=1, nuisance_var_x=(1.0, 4.0, 2.0), nuisance_var_y=(9.0, 1.0, 2.0),
                         eta=(0.2 * 3.0, 0.5 * 2.0, 2.0))
    np.testing.assert_allclose(by_corr.eta, by_eta.eta, rtol=1e-14)
    np.testing.assert_allclose(by_eta.nuisance_correlation, [0.2, 0.5, 1.0], rtol=1e-14)
    # nu = 1 given as eta = nu * sqrt(var_x var_y) with rounding must be accepted (relative tolerance).
    edge = SpikedModel(d=2, k=1, nuisance_var_x=0.1, nuisance_var_y=0.3, eta=1.0 * np.sqrt(0.1) * np.sqrt(0.3))
    assert edge.nuisance_correlation[0] == pytest.approx(1.0, abs=1e-12)
    assert edge.nuisance_correlation[0] <= 1.0


def test_uncoupled_nuisance_gives_infinite_ratios():
    model = SpikedModel(d=5, k=2, kappa=(1.0, 0.1), gamma_x=10.0, gamma_y=10.0)
    assert model.separation_ratios() == (np.inf, np.inf)
    assert model.regime() is Regime.BOTH
    # Even a tiny signal exceeds a zero nuisance floor.
    assert model.recoverable_components() == (2, 2)


def test_recoverable_components_partial():
    # kappa = (3, 1, 0.5), no noise: rho = 1, 1, 1; tau = kappa = 3, 1, 0.5.
    # nuisance: var_x = 1, var_y = 4, nu = 0.6 -> xi = 0.6 * 2 = 1.2, nu_max = 0.6.
    model = SpikedModel(d=5, k=3, kappa=(3.0, 1.0, 0.5), gamma_x=0.0, gamma_y=0.0,
                        nuisance_var_y=4.0, nuisance_corr=0.6)
    np.testing.assert_allclose(model.spectra().rho, 1.0)
    np.testing.assert_allclose(model.spectra().tau, [3.0, 1.0, 0.5])
    assert model.recoverable_components() == (3, 1)
    delta_ca, delta_cp = model.separation_ratios()
    assert delta_ca == pytest.approx(1 / 0.6)
    assert delta_cp == pytest.approx(0.5 / 1.2)
    assert model.regime() is Regime.CA_ONLY


def test_reversed_swaps_the_cp_direction():
    model = SpikedModel(d=4, k=2, kappa=(2.0, 1.0), gamma_x=(1.0, 0.0), gamma_y=(0.0, 3.0),
                        nuisance_var_x=(1.0, 4.0), nuisance_var_y=(9.0, 1.0), eta=(0.9, 1.0), seed=5)
    rev = model.reversed()
    # By hand, y -> x: tau' = kappa^2 / sqrt(kappa^2 + gamma_y) = (4/2, 1/2);
    # xi' = eta / sqrt(var_y) = (0.9/3, 1/1); Delta_CP' = 0.5 / 1 = 0.5. Delta_CA is symmetric.
    np.testing.assert_allclose(rev.spectra().tau, [2.0, 0.5], rtol=1e-14)
    np.testing.assert_allclose(rev.spectra().xi, [0.3, 1.0], rtol=1e-14)
    delta_ca, delta_cp = rev.separation_ratios()
    assert delta_cp == pytest.approx(0.5, rel=1e-14)
    assert delta_ca == pytest.approx(model.separation_ratios()[0], rel=1e-14)
    np.testing.assert_array_equal(rev.spectra().rho, model.spectra().rho)
    np.testing.assert_array_equal(rev.spectra().nu, model.spectra().nu)
    assert rev.regime() is Regime.NEITHER and model.regime() is Regime.CP_ONLY
    # The views themselves are swapped.
    np.testing.assert_array_equal(rev.signal_subspace_x, model.signal_subspace_y)
    np.testing.assert_array_equal(rev.signal_subspace_y, model.signal_subspace_x)
    cov, rev_cov = model.population_covariances(), rev.population_covariances()
    np.testing.assert_allclose(rev_cov.xx, cov.yy, atol=1e-12)
    np.testing.assert_allclose(rev_cov.yy, cov.xx, atol=1e-12)
    np.testing.assert_allclose(rev_cov.xy, cov.xy.T, atol=1e-12)
    # Reversing twice gives back the original closed forms.
    np.testing.assert_array_equal(rev.reversed().spectra().tau, model.spectra().tau)
    np.testing.assert_array_equal(rev.reversed().basis_x, model.basis_x)


def test_reversed_cp_ratio_matches_brute_force_on_reversed_population():
    model = heterogeneous_model()
    cov = model.population_covariances()
    coupling_reverse = cov.xy @ inverse_sqrt(cov.yy)  # S_xy S_yy^{-1/2}: y is the source
    values = np.linalg.svd(coupling_reverse, compute_uv=False)
    spectra = model.spectra()
    kappa2 = np.asarray(model.kappa) ** 2
    tau_rev = kappa2 / np.sqrt(kappa2 + np.asarray(model.gamma_y))
    xi_rev = np.asarray(model.eta) / np.sqrt(np.asarray(model.nuisance_var_y))
    np.testing.assert_allclose(np.sort(values), np.sort(np.concatenate([tau_rev, xi_rev])), atol=1e-10)
    assert model.reversed().separation_ratios()[1] == pytest.approx(tau_rev.min() / xi_rev.max(), rel=1e-14)
    assert spectra.tau.min() / spectra.xi.max() == pytest.approx(model.separation_ratios()[1], rel=1e-14)


def test_repr_mentions_parameters():
    text = repr(SpikedModel(d=5, k=2, kappa=(2.0, 1.0), nuisance_corr=0.4, seed=3))
    assert "d=5" in text and "k=2" in text and "kappa=[2, 1]" in text and "nuisance_corr=0.4" in text


def test_parameters_are_read_only():
    model = heterogeneous_model()
    with pytest.raises(ValueError):
        model.kappa[0] = 10.0
    basis = model.basis_x
    basis[:] = 0.0  # a copy: the model is unchanged
    assert np.abs(model.basis_x).max() > 0


# ------------------------------------------------------------------ (e) validation
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(kappa=0.0), r"kappa must be > 0"),
        (dict(kappa=(1.0, -1.0)), r"kappa must be > 0"),
        (dict(kappa=np.nan), r"kappa must be finite"),
        (dict(gamma_x=-0.1), r"gamma_x must be >= 0"),
        (dict(gamma_y=(0.1, -0.1)), r"gamma_y must be >= 0"),
        (dict(nuisance_var_x=0.0), r"nuisance_var_x must be > 0"),
        (dict(nuisance_var_x=-1.0), r"nuisance_var_x must be > 0"),
        (dict(nuisance_var_y=(1.0, 0.0, 1.0)), r"nuisance_var_y must be > 0"),
        (dict(nuisance_var_y=np.inf), r"nuisance_var_y must be finite"),
        (dict(eta=-0.1), r"eta must satisfy 0 <= eta"),
        (dict(eta=1.01), r"eta must satisfy 0 <= eta"),  # sqrt(1 * 1) = 1
        (dict(nuisance_var_y=4.0, eta=2.001), r"eta must satisfy 0 <= eta"),
        (dict(nuisance_corr=-0.01), r"nuisance_corr must lie in \[0, 1\]"),
        (dict(nuisance_corr=1.01), r"nuisance_corr must lie in \[0, 1\]"),
        (dict(eta=0.1, nuisance_corr=0.1), r"either eta or nuisance_corr"),
        (dict(k=0), r"k must be >= 1"),
        (dict(k=5), r"k must be <= 4"),
        (dict(k=7), r"k must be <= 4"),
        (dict(d=1, k=1), r"d must be >= 2"),
        (dict(kappa=(1.0, 2.0, 3.0)), r"kappa must be a scalar or have length 2"),
        (dict(gamma_x=(1.0,)), r"gamma_x must be a scalar or have length 2"),
        (dict(nuisance_var_x=(1.0, 1.0)), r"nuisance_var_x must be a scalar or have length 3"),
        (dict(nuisance_corr=np.ones((3, 1)) * 0.1), r"nuisance_corr must be a scalar or have length 3"),
        (dict(eta=(0.1, 0.1, 0.1, 0.1)), r"eta must be a scalar or have length 3"),
        (dict(seed=-1), r"seed must be >= 0"),
    ],
)
def test_invalid_parameters(kwargs, match):
    params = dict(d=5, k=2)
    params.update(kwargs)
    with pytest.raises(ValueError, match=match):
        SpikedModel(**params)


@pytest.mark.parametrize("kwargs", [dict(d=5.0), dict(d="5"), dict(k=2.0), dict(d=True), dict(seed=1.5)])
def test_non_integer_sizes_raise_type_error(kwargs):
    # Wrong *types* raise TypeError (not ValueError), naming the parameter.
    params = dict(d=5, k=2)
    params.update(kwargs)
    name = next(iter(kwargs))
    with pytest.raises(TypeError, match=rf"{name} must be an integer"):
        SpikedModel(**params)


def test_numpy_integer_sizes_accepted():
    model = SpikedModel(d=np.int64(5), k=np.int32(2))
    assert model.sample(3)[0].shape == (3, 5)


@pytest.mark.parametrize(("n", "seed", "error", "match"), [
    (0, 0, ValueError, r"n must be >= 1"),
    (10, -1, ValueError, r"seed must be >= 0"),
    (10.0, 0, TypeError, r"n must be an integer"),
])
def test_invalid_sample_arguments(n, seed, error, match):
    with pytest.raises(error, match=match):
        SpikedModel(d=3, k=1).sample(n, seed=seed)
