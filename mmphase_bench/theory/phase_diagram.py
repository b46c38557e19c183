"""Theoretical phase diagram on the (signal strength kappa, nuisance correlation nu) plane and plots.

For homogeneous parameters (paper-facts section 2):

* CA recovers iff ``nu < rho(kappa) = kappa^2 / sqrt((kappa^2 + gamma_x)(kappa^2 + gamma_y))``;
* CP recovers iff ``nu < kappa^2 / (sqrt(kappa^2 + gamma_x) sqrt(nuisance_var_y))``.

A large target nuisance variance shrinks the CP region (the "variance trap"); nu -> 1 kills CA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mmphase_bench.errors import InputError
from mmphase_bench.theory.regime import Regime
from mmphase_bench.validation import check_float

#: Colours of the four regions (colour-blind safe: Okabe-Ito).
REGIME_COLOURS = {
    Regime.BOTH: "#009E73",
    Regime.CA_ONLY: "#0072B2",
    Regime.CP_ONLY: "#E69F00",
    Regime.NEITHER: "#BBBBBB",
}
REGIME_ORDER = (Regime.BOTH, Regime.CA_ONLY, Regime.CP_ONLY, Regime.NEITHER)


@dataclass(frozen=True)
class DiagramPoint:
    """A point to place on a diagram: (kappa, nu) for :func:`plot_phase_diagram`."""

    kappa: float
    nuisance_corr: float
    label: str = ""


@dataclass(frozen=True)
class RatioPoint:
    """A dataset placed by its separation ratios, optionally with intervals (lo, hi)."""

    delta_ca: float
    delta_cp: float
    label: str = ""
    ci_ca: tuple[float, float] | None = None
    ci_cp: tuple[float, float] | None = None
    marker: str = "o"


@dataclass(frozen=True)
class PhaseDiagram:
    """Regions of the phase diagram evaluated on a grid.

    ``regimes[i, j]`` is the index into :data:`REGIME_ORDER` of the regime at
    ``(kappa[j], nuisance_corr[i])``.
    """

    kappa: np.ndarray
    nuisance_corr: np.ndarray
    regimes: np.ndarray
    gamma_x: float
    gamma_y: float
    nuisance_var_x: float
    nuisance_var_y: float

    def ca_boundary(self, kappa) -> np.ndarray:
        """Largest nu at which CA still recovers: ``rho(kappa)``."""
        kappa2 = np.asarray(kappa, dtype=np.float64) ** 2
        return kappa2 / np.sqrt((kappa2 + self.gamma_x) * (kappa2 + self.gamma_y))

    def cp_boundary(self, kappa) -> np.ndarray:
        """Largest nu at which CP still recovers: ``tau(kappa) / sqrt(nuisance_var_y)``."""
        kappa2 = np.asarray(kappa, dtype=np.float64) ** 2
        return kappa2 / (np.sqrt(kappa2 + self.gamma_x) * np.sqrt(self.nuisance_var_y))

    def regime_at(self, kappa: float, nuisance_corr: float) -> Regime:
        return Regime.from_flags(
            bool(nuisance_corr < self.ca_boundary(kappa)), bool(nuisance_corr < self.cp_boundary(kappa))
        )

    def fractions(self) -> dict[str, float]:
        """Share of the grid in each regime."""
        return {regime.value: float(np.mean(self.regimes == i)) for i, regime in enumerate(REGIME_ORDER)}


def phase_diagram(
    *,
    kappa: Sequence[float] | np.ndarray | None = None,
    nuisance_corr: Sequence[float] | np.ndarray | None = None,
    gamma_x: float = 0.5,
    gamma_y: float = 0.05,
    nuisance_var_x: float = 1.0,
    nuisance_var_y: float = 50.0,
) -> PhaseDiagram:
    """Evaluate the four regions on a (kappa, nu) grid for homogeneous noise parameters.

    Defaults are the paper's reference sweep (gamma_x 0.5, gamma_y 0.05, nuisance variances 1 and 50);
    the grid defaults to kappa in [0.05, 4] and nu in [0, 1], 400 points each.
    """
    gamma_x = check_float("gamma_x", gamma_x, minimum=0.0)
    gamma_y = check_float("gamma_y", gamma_y, minimum=0.0)
    nuisance_var_x = check_float("nuisance_var_x", nuisance_var_x, minimum=0.0, strict_minimum=True)
    nuisance_var_y = check_float("nuisance_var_y", nuisance_var_y, minimum=0.0, strict_minimum=True)
    kappa = np.linspace(0.05, 4.0, 400) if kappa is None else np.asarray(kappa, dtype=np.float64)
    nuisance_corr = np.linspace(0.0, 1.0, 400) if nuisance_corr is None else np.asarray(nuisance_corr, dtype=np.float64)
    if kappa.ndim != 1 or kappa.size < 2 or np.any(kappa <= 0) or not np.all(np.isfinite(kappa)):
        raise InputError("kappa must be a 1-D grid of at least 2 positive values")
    if (
        nuisance_corr.ndim != 1 or nuisance_corr.size < 2 or not np.all(np.isfinite(nuisance_corr))
        or np.any(nuisance_corr < 0) or np.any(nuisance_corr > 1)
    ):
        raise InputError("nuisance_corr must be a 1-D grid of at least 2 values in [0, 1]")
    diagram = PhaseDiagram(kappa, nuisance_corr, np.empty(0), gamma_x, gamma_y, nuisance_var_x, nuisance_var_y)
    nu = nuisance_corr[:, None]
    ca = nu < diagram.ca_boundary(kappa)[None, :]
    cp = nu < diagram.cp_boundary(kappa)[None, :]
    codes = np.select([ca & cp, ca & ~cp, ~ca & cp], [0, 1, 2], default=3)
    return PhaseDiagram(kappa, nuisance_corr, codes, gamma_x, gamma_y, nuisance_var_x, nuisance_var_y)


def plot_phase_diagram(diagram: PhaseDiagram, points: Sequence[DiagramPoint] = (), ax=None, title: str | None = None):
    """Draw the coloured regions, both boundaries and optional points. Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.5), constrained_layout=True)
    else:
        fig = ax.figure
    cmap = ListedColormap([REGIME_COLOURS[r] for r in REGIME_ORDER])
    ax.pcolormesh(diagram.kappa, diagram.nuisance_corr, diagram.regimes, cmap=cmap, vmin=-0.5, vmax=3.5, shading="auto", alpha=0.85,
                  rasterized=True)  # a vector mesh of 160k cells makes SVGs of minutes to write
    ax.plot(diagram.kappa, np.clip(diagram.ca_boundary(diagram.kappa), 0, 1), "k-", lw=1.2, label="CA boundary")
    ax.plot(diagram.kappa, np.clip(diagram.cp_boundary(diagram.kappa), 0, 1), "k--", lw=1.2, label="CP boundary")
    for point in points:
        ax.plot(point.kappa, point.nuisance_corr, "o", ms=8, mfc="white", mec="black", mew=1.5)
        if point.label:
            ax.annotate(point.label, (point.kappa, point.nuisance_corr), xytext=(6, 6), textcoords="offset points", fontsize=9)
    ax.set_xlim(diagram.kappa[0], diagram.kappa[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel(r"signal strength $\kappa$")
    ax.set_ylabel(r"nuisance correlation $\nu$")
    ax.set_title(title or (
        rf"$\gamma_x$={diagram.gamma_x:g}, $\gamma_y$={diagram.gamma_y:g}, "
        rf"$\tilde\gamma_x$={diagram.nuisance_var_x:g}, $\tilde\gamma_y$={diagram.nuisance_var_y:g}"
    ), fontsize=10)
    handles = [Patch(color=REGIME_COLOURS[r], label=r.label) for r in REGIME_ORDER]
    ax.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.9)
    return fig


def plot_separation_ratios(points: Sequence[RatioPoint], ax=None, title: str = "Separation ratios"):
    """Place datasets on the (Delta_CA, Delta_CP) plane, log axes, quadrants split at 1."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.5), constrained_layout=True)
    else:
        fig = ax.figure
    finite = [v for p in points for v in (p.delta_ca, p.delta_cp, *(p.ci_ca or ()), *(p.ci_cp or ())) if np.isfinite(v) and v > 0]
    lo = min([0.1, *finite]) / 1.5
    hi = max([10.0, *finite]) * 1.5
    quadrants = {
        Regime.BOTH: (1, hi, 1, hi), Regime.CA_ONLY: (1, hi, lo, 1),
        Regime.CP_ONLY: (lo, 1, 1, hi), Regime.NEITHER: (lo, 1, lo, 1),
    }
    for regime, (x0, x1, y0, y1) in quadrants.items():
        ax.fill_between([x0, x1], y0, y1, color=REGIME_COLOURS[regime], alpha=0.35, lw=0)
    ax.axvline(1, color="black", lw=1)
    ax.axhline(1, color="black", lw=1)
    for point in points:
        x, y = _clip(point.delta_ca, lo, hi), _clip(point.delta_cp, lo, hi)
        xerr = None if point.ci_ca is None else [[max(x - _clip(point.ci_ca[0], lo, hi), 0)], [max(_clip(point.ci_ca[1], lo, hi) - x, 0)]]
        yerr = None if point.ci_cp is None else [[max(y - _clip(point.ci_cp[0], lo, hi), 0)], [max(_clip(point.ci_cp[1], lo, hi) - y, 0)]]
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=point.marker, ms=7, mfc="white", mec="black", ecolor="black", capsize=3, lw=1)
        if point.label:
            ax.annotate(point.label, (x, y), xytext=(6, 4), textcoords="offset points", fontsize=8,
                        bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(r"$\Delta_{CA}$ (CCA: min signal / max nuisance)")
    ax.set_ylabel(r"$\Delta_{CP}$ (RRR, x $\to$ y)")
    ax.set_title(title, fontsize=10)
    handles = [Patch(color=REGIME_COLOURS[r], alpha=0.5, label=r.label) for r in REGIME_ORDER]
    ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.9)
    return fig


def _clip(value: float, lo: float, hi: float) -> float:
    return float(np.clip(value, lo, hi))
