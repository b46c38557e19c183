"""The spiked signal-plus-noise model of two paired views (paper-facts section 2).

In canonical coordinates each view has ``k`` shared signal coordinates and ``d - k``
view-specific nuisance coordinates, rotated by a random orthogonal matrix::

    x = Q_x [s + e_x ; n_x],        y = Q_y [s + e_y ; n_y]
    s ~ N(0, diag(kappa_i^2)),  e_x ~ N(0, diag(gamma_x_i)),  e_y ~ N(0, diag(gamma_y_i))
    (n_xj, n_yj) ~ N(0, [[nuisance_var_x_j, eta_j], [eta_j, nuisance_var_y_j]])

The singular values of the CCA coupling matrix ``C`` and of the RRR coupling matrix ``A`` are
known in closed form, hence the separation ratios and the regime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from mmphase_bench.errors import InputError
from mmphase_bench.theory.regime import Regime
from mmphase_bench.validation import check_int

ArrayLike = float | Sequence[float] | np.ndarray


@dataclass(frozen=True)
class Spectra:
    """Closed-form singular values of ``C`` (rho, nu) and ``A`` (tau, xi)."""

    rho: np.ndarray  #: signal canonical correlations, length k
    nu: np.ndarray  #: nuisance canonical correlations, length d - k
    tau: np.ndarray  #: signal singular values of A, length k (units of y)
    xi: np.ndarray  #: nuisance singular values of A, length d - k (units of y)


@dataclass(frozen=True)
class PopulationCovariances:
    """Population (cross-)covariances of the observed views, each ``d x d``."""

    xx: np.ndarray
    yy: np.ndarray
    xy: np.ndarray


def _vector(name: str, value: ArrayLike, length: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        array = np.full(length, float(array))
    if array.ndim != 1 or array.shape[0] != length:
        raise InputError(f"{name} must be a scalar or have length {length}, got shape {np.shape(value)}")
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} must be finite, got {array}")
    return array


def _ratio(signal: np.ndarray, nuisance: np.ndarray) -> float:
    floor = float(np.max(nuisance))
    weakest = float(np.min(signal))
    return float("inf") if floor == 0.0 else weakest / floor


@dataclass(frozen=True, eq=False)
class SpikedModel:
    """The linear spiked model with per-coordinate parameters (scalars broadcast).

    Parameters
    ----------
    d, k:
        Ambient dimension of each view and number of shared signal coordinates, ``1 <= k < d``.
    kappa:
        Signal standard deviations ``kappa_i > 0`` (length k).
    gamma_x, gamma_y:
        Variances ``>= 0`` of the view-specific noise added to the signal (length k).
    nuisance_var_x, nuisance_var_y:
        Variances ``> 0`` of the nuisance coordinates ("gamma tilde", length d - k).
    eta, nuisance_corr:
        Give at most one: the nuisance cross-covariances ``0 <= eta_j <= sqrt(var_x_j var_y_j)``
        or the nuisance correlations ``0 <= nu_j <= 1`` (``eta = nu sqrt(var_x var_y)``).
        Neither means independent nuisance (``eta = 0``).
    seed:
        Seed of the random orthogonal bases ``Q_x`` and ``Q_y`` (Haar distributed).
    """

    d: int
    k: int
    kappa: ArrayLike = 1.0
    gamma_x: ArrayLike = 0.5
    gamma_y: ArrayLike = 0.5
    nuisance_var_x: ArrayLike = 1.0
    nuisance_var_y: ArrayLike = 1.0
    eta: ArrayLike | None = None
    nuisance_corr: ArrayLike | None = None
    seed: int = 0
    _basis_x: np.ndarray = field(init=False, repr=False, compare=False)
    _basis_y: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        d = check_int("d", self.d, minimum=2)
        k = check_int("k", self.k, minimum=1, maximum=d - 1)
        check_int("seed", self.seed, minimum=0)
        kappa = _vector("kappa", self.kappa, k)
        gamma_x = _vector("gamma_x", self.gamma_x, k)
        gamma_y = _vector("gamma_y", self.gamma_y, k)
        var_x = _vector("nuisance_var_x", self.nuisance_var_x, d - k)
        var_y = _vector("nuisance_var_y", self.nuisance_var_y, d - k)
        if np.any(kappa <= 0):
            raise InputError(f"kappa must be > 0 (signal standard deviations), got {kappa}")
        for name, value in (("gamma_x", gamma_x), ("gamma_y", gamma_y)):
            if np.any(value < 0):
                raise InputError(f"{name} must be >= 0 (noise variances), got {value}")
        for name, value in (("nuisance_var_x", var_x), ("nuisance_var_y", var_y)):
            if np.any(value <= 0):
                raise InputError(f"{name} must be > 0 (nuisance variances), got {value}")
        if self.eta is not None and self.nuisance_corr is not None:
            raise InputError("give either eta or nuisance_corr, not both")
        scale = np.sqrt(var_x * var_y)
        if self.nuisance_corr is not None:
            corr = _vector("nuisance_corr", self.nuisance_corr, d - k)
            if np.any(corr < 0) or np.any(corr > 1):
                raise InputError(f"nuisance_corr must lie in [0, 1], got {corr}")
            eta = corr * scale
        else:
            eta = _vector("eta", 0.0 if self.eta is None else self.eta, d - k)
            # A relative tolerance lets eta = nu * sqrt(var_x var_y) with nu = 1 through.
            if np.any(eta < 0) or np.any(eta > scale * (1 + 1e-12)):
                raise InputError(
                    f"eta must satisfy 0 <= eta <= sqrt(nuisance_var_x * nuisance_var_y) = {scale}, got {eta}"
                )
            eta = np.minimum(eta, scale)
        for name, value in (
            ("kappa", kappa), ("gamma_x", gamma_x), ("gamma_y", gamma_y),
            ("nuisance_var_x", var_x), ("nuisance_var_y", var_y), ("eta", eta),
        ):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "nuisance_corr", None)
        rng = np.random.default_rng([self.seed, 0x5E1CED])
        object.__setattr__(self, "_basis_x", _haar_orthogonal(d, rng))
        object.__setattr__(self, "_basis_y", _haar_orthogonal(d, rng))

    # ------------------------------------------------------------------ structure
    @property
    def basis_x(self) -> np.ndarray:
        """``Q_x`` (d x d); its first k columns span the signal subspace of x."""
        return self._basis_x.copy()

    @property
    def basis_y(self) -> np.ndarray:
        return self._basis_y.copy()

    @property
    def signal_subspace_x(self) -> np.ndarray:
        """Orthonormal basis (d x k) of the directions of x that carry the shared signal."""
        return self._basis_x[:, : self.k].copy()

    @property
    def signal_subspace_y(self) -> np.ndarray:
        return self._basis_y[:, : self.k].copy()

    @property
    def nuisance_correlation(self) -> np.ndarray:
        """``nu_j = eta_j / sqrt(var_x_j var_y_j)``."""
        return np.asarray(self.eta) / np.sqrt(np.asarray(self.nuisance_var_x) * np.asarray(self.nuisance_var_y))

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw ``n`` pairs. Returns ``(X, Y, S)``: views (n x d) and the shared signal (n x k).

        The same ``(model, n, seed)`` always gives the same bytes.
        """
        n = check_int("n", n, minimum=1)
        check_int("seed", seed, minimum=0)
        rng = np.random.default_rng([self.seed, seed, 0xDA7A])
        k, d = self.k, self.d
        kappa = np.asarray(self.kappa)
        signal = rng.standard_normal((n, k)) * kappa
        noise_x = rng.standard_normal((n, k)) * np.sqrt(self.gamma_x)
        noise_y = rng.standard_normal((n, k)) * np.sqrt(self.gamma_y)
        corr = np.clip(self.nuisance_correlation, 0.0, 1.0)
        z_common = rng.standard_normal((n, d - k))
        z_own = rng.standard_normal((n, d - k))
        nuisance_x = z_common * np.sqrt(self.nuisance_var_x)
        nuisance_y = (corr * z_common + np.sqrt(1.0 - corr**2) * z_own) * np.sqrt(self.nuisance_var_y)
        canonical_x = np.concatenate([signal + noise_x, nuisance_x], axis=1)
        canonical_y = np.concatenate([signal + noise_y, nuisance_y], axis=1)
        return canonical_x @ self._basis_x.T, canonical_y @ self._basis_y.T, signal

    # ------------------------------------------------------------------ closed forms
    def population_covariances(self) -> PopulationCovariances:
        """``Sigma_xx``, ``Sigma_yy``, ``Sigma_xy`` of the observed views."""
        kappa2 = np.asarray(self.kappa) ** 2
        var_x = np.concatenate([kappa2 + self.gamma_x, self.nuisance_var_x])
        var_y = np.concatenate([kappa2 + self.gamma_y, self.nuisance_var_y])
        cross = np.concatenate([kappa2, self.eta])
        qx, qy = self._basis_x, self._basis_y
        return PopulationCovariances(
            xx=(qx * var_x) @ qx.T, yy=(qy * var_y) @ qy.T, xy=(qx * cross) @ qy.T
        )

    def spectra(self) -> Spectra:
        """Closed-form singular values: rho, nu of ``C``; tau, xi of ``A``."""
        kappa2 = np.asarray(self.kappa) ** 2
        gamma_x, gamma_y = np.asarray(self.gamma_x), np.asarray(self.gamma_y)
        var_x, var_y, eta = (np.asarray(v) for v in (self.nuisance_var_x, self.nuisance_var_y, self.eta))
        return Spectra(
            rho=kappa2 / np.sqrt((kappa2 + gamma_x) * (kappa2 + gamma_y)),
            nu=eta / np.sqrt(var_x * var_y),
            tau=kappa2 / np.sqrt(kappa2 + gamma_x),
            xi=eta / np.sqrt(var_x),
        )

    def separation_ratios(self) -> tuple[float, float]:
        """``(Delta_CA, Delta_CP)`` = ``(min rho / max nu, min tau / max xi)``; ``inf`` if the nuisance is uncoupled."""
        spectra = self.spectra()
        return _ratio(spectra.rho, spectra.nu), _ratio(spectra.tau, spectra.xi)

    def regime(self) -> Regime:
        return Regime.from_ratios(*self.separation_ratios())

    def recoverable_components(self) -> tuple[int, int]:
        """Partial recovery: how many signal singular values exceed the nuisance floor, for CA and CP."""
        spectra = self.spectra()
        return (
            int(np.sum(spectra.rho > np.max(spectra.nu))),
            int(np.sum(spectra.tau > np.max(spectra.xi))),
        )

    def reversed(self) -> "SpikedModel":
        """The same model with the views swapped (y becomes the source for CP)."""
        swapped = SpikedModel(
            d=self.d, k=self.k, kappa=self.kappa, gamma_x=self.gamma_y, gamma_y=self.gamma_x,
            nuisance_var_x=self.nuisance_var_y, nuisance_var_y=self.nuisance_var_x, eta=self.eta,
            seed=self.seed,
        )
        object.__setattr__(swapped, "_basis_x", self._basis_y)
        object.__setattr__(swapped, "_basis_y", self._basis_x)
        return swapped

    def __repr__(self) -> str:
        def short(values: np.ndarray) -> str:
            values = np.asarray(values)
            if np.all(values == values.flat[0]):
                return f"{values.flat[0]:g}"
            return "[" + ", ".join(f"{v:g}" for v in values) + "]"

        return (
            f"SpikedModel(d={self.d}, k={self.k}, kappa={short(self.kappa)}, gamma_x={short(self.gamma_x)}, "
            f"gamma_y={short(self.gamma_y)}, nuisance_var_x={short(self.nuisance_var_x)}, "
            f"nuisance_var_y={short(self.nuisance_var_y)}, nuisance_corr={short(self.nuisance_correlation)}, "
            f"seed={self.seed})"
        )


def _haar_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed orthogonal matrix (QR of a Gaussian matrix with the sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))
