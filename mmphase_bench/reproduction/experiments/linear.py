"""The linear experiment (Kamai et al. 2026, the spiked-model phase diagram and its simulation): the
theoretical regions on the (kappa, nu) plane, the measured subspace recovery of closed-form CCA (CA)
and RRR (CP) on sampled data over the same grid, and the paper's reference sweep against nu.

Model (the paper's spiked signal-plus-noise model, :class:`~mmphase_bench.theory.SpikedModel`):
``x = Q_x [s + e_x ; n_x]``, ``y = Q_y [s + e_y ; n_y]`` with k signal coordinates of variance
``kappa_i^2``, signal noise variances ``gamma_x = 0.5``, ``gamma_y = 0.05``, and d - k nuisance
coordinates of variances ``gt_x = 1``, ``gt_y`` with correlation ``nu`` between the views.

Theory. The singular values of ``C = S_xx^{-1/2} S_xy S_yy^{-1/2}`` are the signal
``rho_i = kappa_i^2 / sqrt((kappa_i^2 + gamma_x)(kappa_i^2 + gamma_y))`` and the nuisance ``nu``; those of
``A = S_yx S_xx^{-1/2}`` are ``tau_i = kappa_i^2 / sqrt(kappa_i^2 + gamma_x)`` and ``xi = nu sqrt(gt_y)``.
A method recovers the whole signal subspace iff its separation ratio is above 1:
``Delta_CA = min rho / nu``, ``Delta_CP = min tau / (nu sqrt(gt_y))``. So along nu the thresholds are
``nu*_CA = min_i rho_i`` and ``nu*_CP = min_i tau_i / sqrt(gt_y)``. Partial recovery: the learned
k-dimensional subspace holds the ``m`` signal directions whose singular value is above the nuisance
floor and ``k - m`` nuisance directions, so the subspace distance is ``(k - m) / k`` (a staircase in nu).

Measurement. For each replicate ``r``: ``SpikedModel(..., seed=r)`` (the random rotations) and
``model.sample(n, seed=r)`` (the same standard-normal draws at every grid point of a replicate, so a
replicate's curve is smooth in kappa and nu); CCA and RRR with ``n_components = k``; recovery error =
``subspace_distance(weights, Q_x[:, :k]) = 1 - (1/k) sum_i cos^2 theta_i`` (the paper's metric) for the
CCA x weights and the RRR encoder. A method "recovers" at a grid point when the mean distance over
replicates is below :data:`THRESHOLD` (0.5); agreement fractions for 0.25 and 0.75 are reported too.

Two noise settings (homogeneous kappa, all k signal coordinates equal): "large" target nuisance
variance ``gt_y = 50`` (the paper's reference, the "variance trap" that shrinks the CP region) and
"small" ``gt_y = 1``. The reference sweep is the paper's: kappa = (3, 2, 1.5), gt_y = 50,
nu in [0, 0.95], d = 20, k = 3, n = 5000, 10 seeds.

Thresholds measured on the sweep: the nu where a mean curve (and each replicate's curve) first
reaches a level, by linear interpolation. Level 0.5 (the heat maps' "recovers") is crossed, by the
staircase, where the *second* weakest signal value falls under the floor (one of three directions
lost costs only 1/3); level ``1/(2k)`` (half the cost of one lost direction) is crossed at the
whole-subspace thresholds ``nu*``. Both are reported with their theoretical counterparts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from mmphase_bench.reproduction.experiment import Context, Experiment, mean_sd, number, quote
from mmphase_bench.theory import CCA, RRR, SpikedModel, phase_diagram, plot_phase_diagram, subspace_distance

logger = logging.getLogger(__name__)

#: the paper's reference noise parameters (paper-facts section 2)
GAMMA_X = 0.5
GAMMA_Y = 0.05
NUISANCE_VAR_X = 1.0
#: noise setting -> target nuisance variance gt_y ("large" is the paper's reference sweep)
SETTINGS = {"large": 50.0, "small": 1.0}
#: the reference sweep's signal standard deviations
REFERENCE_KAPPA = (3.0, 2.0, 1.5)
REFERENCE_NU_MAX = 0.95
#: a method "recovers" when its mean subspace distance is below this
THRESHOLD = 0.5
#: other thresholds whose agreement fraction is reported
OTHER_THRESHOLDS = (0.25, 0.75)
#: a grid point is "off the boundary" when its separation ratio is outside [1 / margin, margin]
BOUNDARY_MARGIN = 1.25
METHODS = ("CCA", "RRR")
#: method -> the objective it solves
OBJECTIVE = {"CCA": "CA", "RRR": "CP"}


@dataclass(frozen=True)
class Sizes:
    """The sizes of one scale: the heat-map grid and the reference sweep."""

    grid_d: int
    grid_k: int
    grid_n: int
    n_kappa: int
    n_nu: int
    grid_seeds: int
    kappa_min: float
    kappa_max: float
    sweep_d: int
    sweep_n: int
    sweep_nu: int
    sweep_seeds: int


SIZES = {
    # plumbing only, but with a sample large for its dimension, so theory and measurement still agree
    "smoke": Sizes(grid_d=8, grid_k=2, grid_n=3000, n_kappa=6, n_nu=6, grid_seeds=2, kappa_min=0.25, kappa_max=4.0,
                   sweep_d=10, sweep_n=3000, sweep_nu=8, sweep_seeds=3),
    # the paper's sizes for the sweep; heat maps on kappa = 0.25, 0.5, ..., 4 and nu = 0, 0.05, ..., 0.95
    # with 3 replicates (about a CPU minute: 1920 fits at n = 5000)
    "small": Sizes(grid_d=20, grid_k=3, grid_n=5000, n_kappa=16, n_nu=20, grid_seeds=3, kappa_min=0.25, kappa_max=4.0,
                   sweep_d=20, sweep_n=5000, sweep_nu=20, sweep_seeds=10),
    # steps of 0.125 in kappa and 0.025 in nu, 10 replicates (about 24k fits)
    "paper": Sizes(grid_d=20, grid_k=3, grid_n=5000, n_kappa=31, n_nu=39, grid_seeds=10, kappa_min=0.25, kappa_max=4.0,
                   sweep_d=20, sweep_n=5000, sweep_nu=39, sweep_seeds=10),
}


# ---------------------------------------------------------------------------------------------- helpers
def measure(model: SpikedModel, n: int, sample_seed: int) -> tuple[float, float]:
    """``(CCA, RRR)`` subspace distances to the x signal subspace from ``n`` sampled pairs."""
    x, y, _ = model.sample(n, seed=sample_seed)
    truth = model.signal_subspace_x
    ca = subspace_distance(CCA(model.k).fit(x, y).x_weights_, truth)
    cp = subspace_distance(RRR(model.k).fit(x, y).encoder_, truth)
    return ca, cp


def crossing(x: Sequence[float], y: Sequence[float], level: float) -> tuple[float | None, str]:
    """The first ``x`` where ``y`` reaches ``level`` going up, by linear interpolation.

    Returns ``(x, "crossed")``, ``(None, "above_everywhere")`` when ``y[0] >= level`` (no recovery even
    at the first grid value) or ``(None, "below_everywhere")`` when ``y`` never reaches ``level``."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if y[0] >= level:
        return None, "above_everywhere"
    for i in range(1, len(x)):
        if y[i] >= level:
            return float(x[i - 1] + (level - y[i - 1]) / (y[i] - y[i - 1]) * (x[i] - x[i - 1])), "crossed"
    return None, "below_everywhere"


def level_threshold(signal_values: Sequence[float], level: float) -> float:
    """The nu where the partial-recovery staircase ``(k - #{s_i > nu}) / k`` first reaches ``level``.

    ``signal_values`` are the signal singular values divided by the nuisance floor's slope in nu (rho_i
    for CA, ``tau_i / sqrt(gt_y)`` for CP): the distance reaches ``level`` once at most
    ``floor(k (1 - level))`` of them stay above nu, i.e. at the ``(k - floor(k (1 - level)))``-th smallest."""
    ordered = np.sort(np.asarray(signal_values, dtype=float))
    k = ordered.size
    keep = math.floor(k * (1.0 - level) + 1e-12)
    return float(ordered[k - keep - 1])


def _spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def _cached(cache_dir: Path, stem: str, spec: dict, shape: tuple[int, ...], compute) -> np.ndarray:
    """``compute()`` (an array of ``shape``), stored as ``<stem>_<hash of spec>.npz`` and reused."""
    from mmphase_bench.io.atomic import atomic_path

    path = cache_dir / f"{stem}_{_spec_hash(spec)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                values = stored["distances"]
            if values.shape == shape and np.all(np.isfinite(values)):
                logger.info("linear: reused %s", path)
                return values
        except (OSError, ValueError, KeyError):
            pass
    values = compute()
    with atomic_path(path, suffix=".npz") as temporary:
        np.savez(temporary, distances=values)
    return values


def _model(d: int, k: int, kappa, nuisance_var_y: float, nu: float, seed: int) -> SpikedModel:
    return SpikedModel(d=d, k=k, kappa=kappa, gamma_x=GAMMA_X, gamma_y=GAMMA_Y, nuisance_var_x=NUISANCE_VAR_X,
                       nuisance_var_y=nuisance_var_y, nuisance_corr=float(nu), seed=seed)


# ---------------------------------------------------------------------------------------------- grid
def grid_distances(sizes: Sizes, nuisance_var_y: float, kappa: np.ndarray, nu: np.ndarray,
                   progress: bool = False) -> np.ndarray:
    """Subspace distances ``[replicate, method, i_nu, j_kappa]`` (methods CCA, RRR) on the grid."""
    from tqdm.auto import tqdm

    values = np.empty((sizes.grid_seeds, len(METHODS), nu.size, kappa.size))
    total = sizes.grid_seeds * nu.size * kappa.size
    with tqdm(total=total, desc=f"linear grid (gt_y={nuisance_var_y:g})", unit="fit", disable=not progress) as bar:
        for r in range(sizes.grid_seeds):
            for i, nu_value in enumerate(nu):
                for j, kappa_value in enumerate(kappa):
                    model = _model(sizes.grid_d, sizes.grid_k, float(kappa_value), nuisance_var_y, nu_value, seed=r)
                    values[r, :, i, j] = measure(model, sizes.grid_n, sample_seed=r)
                    bar.update()
    return values


def _grid_setting(context: Context, sizes: Sizes, setting: str, kappa: np.ndarray, nu: np.ndarray) -> tuple[dict, np.ndarray]:
    nuisance_var_y = SETTINGS[setting]
    spec = {"what": "grid", "sizes": asdict(sizes), "gt_y": nuisance_var_y, "gamma": [GAMMA_X, GAMMA_Y, NUISANCE_VAR_X],
            "kappa": kappa.tolist(), "nu": nu.tolist()}
    distances = _cached(context.cache_dir, f"grid_{setting}", spec, (sizes.grid_seeds, len(METHODS), nu.size, kappa.size),
                        lambda: grid_distances(sizes, nuisance_var_y, kappa, nu, context.config.progress))
    mean = distances.mean(axis=0)  # [method, i_nu, j_kappa]

    # Theory at every grid point: the model's closed-form separation ratios, checked against phase_diagram.
    ratios = np.empty((len(METHODS), nu.size, kappa.size))
    for i, nu_value in enumerate(nu):
        for j, kappa_value in enumerate(kappa):
            ratios[:, i, j] = _model(sizes.grid_d, sizes.grid_k, float(kappa_value), nuisance_var_y, nu_value,
                                     seed=0).separation_ratios()
    theory = ratios > 1.0
    diagram = phase_diagram(kappa=kappa, nuisance_corr=nu, gamma_x=GAMMA_X, gamma_y=GAMMA_Y,
                            nuisance_var_x=NUISANCE_VAR_X, nuisance_var_y=nuisance_var_y)
    diagram_flags = np.stack([np.isin(diagram.regimes, (0, 1)), np.isin(diagram.regimes, (0, 2))])
    boundaries = {"CCA": diagram.ca_boundary(kappa), "RRR": diagram.cp_boundary(kappa)}

    methods = {}
    for m, method in enumerate(METHODS):
        measured = mean[m] < THRESHOLD
        off = (ratios[m] > BOUNDARY_MARGIN) | (ratios[m] < 1.0 / BOUNDARY_MARGIN)
        measured_boundary = [crossing(nu, mean[m, :, j], THRESHOLD) for j in range(kappa.size)]
        methods[method] = {
            "objective": OBJECTIVE[method],
            "agreement": float(np.mean(measured == theory[m])),
            "agreement_by_threshold": {f"{t:g}": float(np.mean((mean[m] < t) == theory[m]))
                                       for t in sorted((THRESHOLD, *OTHER_THRESHOLDS))},
            "agreement_off_boundary": float(np.mean((measured == theory[m])[off])) if off.any() else None,
            "n_off_boundary": int(off.sum()),
            "confusion": {
                "theory_yes_measured_yes": int(np.sum(theory[m] & measured)),
                "theory_yes_measured_no": int(np.sum(theory[m] & ~measured)),
                "theory_no_measured_yes": int(np.sum(~theory[m] & measured)),
                "theory_no_measured_no": int(np.sum(~theory[m] & ~measured)),
            },
            "mean_distance": mean[m],
            "sd_distance": distances[:, m].std(axis=0, ddof=1) if sizes.grid_seeds > 1 else None,
            "theory_recovers": theory[m],
            "measured_recovers": measured,
            "boundary": {
                "theory_nu": boundaries[method],
                "measured_nu": [value for value, _ in measured_boundary],
                "measured_status": [status for _, status in measured_boundary],
            },
        }
    numbers = {
        "nuisance_var_y": nuisance_var_y,
        "label": f"{setting} target nuisance variance (gt_y = {nuisance_var_y:g})",
        "theory_consistent_with_phase_diagram": bool(np.array_equal(theory, diagram_flags)),
        "regime_fractions": diagram.fractions(),
        "methods": methods,
    }
    return numbers, mean


# ---------------------------------------------------------------------------------------------- sweep
def sweep_distances(sizes: Sizes, nu: np.ndarray, progress: bool = False) -> np.ndarray:
    """Subspace distances ``[replicate, method, i_nu]`` of the reference sweep."""
    from tqdm.auto import tqdm

    values = np.empty((sizes.sweep_seeds, len(METHODS), nu.size))
    with tqdm(total=sizes.sweep_seeds * nu.size, desc="linear sweep", unit="fit", disable=not progress) as bar:
        for r in range(sizes.sweep_seeds):
            for i, nu_value in enumerate(nu):
                model = _model(sizes.sweep_d, len(REFERENCE_KAPPA), REFERENCE_KAPPA, SETTINGS["large"], nu_value, seed=r)
                values[r, :, i] = measure(model, sizes.sweep_n, sample_seed=r)
                bar.update()
    return values


def _sweep(context: Context, sizes: Sizes) -> tuple[dict, np.ndarray, np.ndarray, dict]:
    k = len(REFERENCE_KAPPA)
    nuisance_var_y = SETTINGS["large"]
    nu = np.round(np.linspace(0.0, REFERENCE_NU_MAX, sizes.sweep_nu), 10)
    spec = {"what": "sweep", "sizes": asdict(sizes), "kappa": list(REFERENCE_KAPPA), "gt_y": nuisance_var_y,
            "gamma": [GAMMA_X, GAMMA_Y, NUISANCE_VAR_X], "nu": nu.tolist()}
    distances = _cached(context.cache_dir, "sweep", spec, (sizes.sweep_seeds, len(METHODS), nu.size),
                        lambda: sweep_distances(sizes, nu, context.config.progress))

    # The thresholds from the model's spectra: at nu = 1 the nuisance values are the slopes of the floor.
    full = _model(sizes.sweep_d, k, REFERENCE_KAPPA, nuisance_var_y, 1.0, seed=0).spectra()
    scaled = {"CCA": full.rho / np.max(full.nu), "RRR": full.tau / np.max(full.xi)}
    lost_one = 1.0 / (2 * k)
    levels = {"recovers_0.5": THRESHOLD, "first_direction_lost": lost_one}
    staircase = {method: [] for method in METHODS}
    for nu_value in nu:
        counts = _model(sizes.sweep_d, k, REFERENCE_KAPPA, nuisance_var_y, nu_value, seed=0).recoverable_components()
        for method, count in zip(METHODS, counts):
            staircase[method].append((k - count) / k)

    methods = {}
    for m, method in enumerate(METHODS):
        mean = distances[:, m].mean(axis=0)
        thresholds = {}
        for name, level in levels.items():
            value, status = crossing(nu, mean, level)
            per_seed = [crossing(nu, distances[r, m], level) for r in range(sizes.sweep_seeds)]
            seeds_values = [v for v, _ in per_seed if v is not None]
            thresholds[name] = {
                "level": level,
                "theory_nu": level_threshold(scaled[method], level),
                "measured_nu": value, "measured_status": status,
                "per_seed": mean_sd([v for v, _ in per_seed]),
                "per_seed_range": [min(seeds_values), max(seeds_values)] if seeds_values else None,
            }
        methods[method] = {
            "objective": OBJECTIVE[method],
            "mean_distance": mean,
            "sd_distance": distances[:, m].std(axis=0, ddof=1) if sizes.sweep_seeds > 1 else None,
            "thresholds": thresholds,
            "partial_recovery": {
                "theory_distance": staircase[method],
                "mean_abs_error": float(np.mean(np.abs(mean - np.asarray(staircase[method])))),
            },
        }
    numbers = {
        "d": sizes.sweep_d, "k": k, "n": sizes.sweep_n, "seeds": list(range(sizes.sweep_seeds)),
        "kappa": list(REFERENCE_KAPPA), "gamma_x": GAMMA_X, "gamma_y": GAMMA_Y,
        "nuisance_var_x": NUISANCE_VAR_X, "nuisance_var_y": nuisance_var_y, "nu": nu,
        "theory": {
            "rho": full.rho, "tau": full.tau,
            "nu_star_CA": float(np.min(full.rho)),
            "nu_star_CP": float(np.min(full.tau) / math.sqrt(nuisance_var_y)),
            "note": "nu*_CA = min rho_i, nu*_CP = min tau_i / sqrt(gt_y): where Delta_CA, Delta_CP cross 1; "
                    "the distance reaches 0.5 where the second weakest signal value falls under the floor",
        },
        "methods": methods,
    }
    curves = {"staircase": staircase, "scaled": scaled}
    return numbers, nu, distances, curves


# ---------------------------------------------------------------------------------------------- figures
def _rasterize_meshes(ax) -> None:
    """Rasterise the axes' colour meshes: a 400 x 400 mesh is 160k SVG paths (a minute to write) otherwise."""
    from matplotlib.collections import QuadMesh

    for collection in ax.collections:
        if isinstance(collection, QuadMesh):
            collection.set_rasterized(True)


def _regions_figure(kappa_range: tuple[float, float]):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    kappa = np.linspace(*kappa_range, 200)
    for ax, (setting, nuisance_var_y) in zip(axes, SETTINGS.items()):
        diagram = phase_diagram(kappa=kappa, nuisance_corr=np.linspace(0.0, 1.0, 200), gamma_x=GAMMA_X,
                                gamma_y=GAMMA_Y, nuisance_var_x=NUISANCE_VAR_X, nuisance_var_y=nuisance_var_y)
        plot_phase_diagram(diagram, ax=ax, title=f"{setting} target nuisance variance: "
                           rf"$\tilde\gamma_y$={nuisance_var_y:g} ($\gamma_x$={GAMMA_X:g}, $\gamma_y$={GAMMA_Y:g})")
        _rasterize_meshes(ax)
        if setting == "large":  # the reference sweep runs at its weakest signal kappa = 1.5
            weakest = min(REFERENCE_KAPPA)
            ax.plot([weakest, weakest], [0.0, REFERENCE_NU_MAX], color="white", lw=2, ls=":")
            ax.annotate("reference sweep\n(weakest signal)", (weakest, REFERENCE_NU_MAX), xytext=(6, -28),
                        textcoords="offset points", fontsize=8, color="black")
    return fig


def _heatmap_figure(kappa: np.ndarray, nu: np.ndarray, means: dict, sizes: Sizes):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(SETTINGS), len(METHODS), figsize=(10, 8.4), constrained_layout=True,
                             squeeze=False)
    fine = np.linspace(kappa[0], kappa[-1], 400)
    image = None
    for row, (setting, nuisance_var_y) in enumerate(SETTINGS.items()):
        diagram = phase_diagram(kappa=kappa, nuisance_corr=nu, gamma_x=GAMMA_X, gamma_y=GAMMA_Y,
                                nuisance_var_x=NUISANCE_VAR_X, nuisance_var_y=nuisance_var_y)
        boundary = {"CCA": diagram.ca_boundary(fine), "RRR": diagram.cp_boundary(fine)}
        for col, method in enumerate(METHODS):
            ax = axes[row, col]
            mean = means[setting][col]
            image = ax.pcolormesh(kappa, nu, 1.0 - mean, cmap="viridis", vmin=0.0, vmax=1.0, shading="nearest",
                                  rasterized=True)
            ax.plot(fine, np.clip(boundary[method], 0, 1), color="white", lw=2, label="theory: ratio = 1")
            if mean.min() < THRESHOLD < mean.max():
                ax.contour(kappa, nu, mean, levels=[THRESHOLD], colors="red", linewidths=1.6, linestyles="--")
            ax.plot([], [], color="red", ls="--", label=f"measured: distance = {THRESHOLD:g}")
            ax.set_ylim(nu[0] - (nu[1] - nu[0]) / 2, nu[-1] + (nu[1] - nu[0]) / 2)
            ax.set_xlabel(r"signal strength $\kappa$ (all k coordinates)")
            ax.set_ylabel(r"nuisance correlation $\nu$")
            ax.set_title(f"{method} ({OBJECTIVE[method]}), " rf"$\tilde\gamma_y$={nuisance_var_y:g}", fontsize=10)
            ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    fig.colorbar(image, ax=axes, label="recovery = 1 - mean subspace distance", shrink=0.8)
    fig.suptitle(f"Measured recovery: d={sizes.grid_d}, k={sizes.grid_k}, n={sizes.grid_n}, "
                 f"{sizes.grid_seeds} replicate(s)", fontsize=11)
    return fig


def _sweep_figure(nu: np.ndarray, distances: np.ndarray, numbers: dict, curves: dict):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.6, 4.4), constrained_layout=True)
    colours = {"CCA": "#0072B2", "RRR": "#E69F00"}
    for m, method in enumerate(METHODS):
        mean = distances[:, m].mean(axis=0)
        sd = distances[:, m].std(axis=0, ddof=1) if distances.shape[0] > 1 else np.zeros_like(mean)
        ax.plot(nu, mean, "o-", ms=3, color=colours[method], label=f"{method} ({OBJECTIVE[method]}), mean \u00b1 sd")
        ax.fill_between(nu, mean - sd, mean + sd, color=colours[method], alpha=0.25, lw=0)
        fine = np.linspace(nu[0], nu[-1], 800)
        k = len(REFERENCE_KAPPA)
        steps = [(k - int(np.sum(curves["scaled"][method] > v))) / k for v in fine]
        ax.plot(fine, steps, ":", color=colours[method], lw=1.2, label=f"{method} theory (partial recovery)")
        star = numbers["theory"][f"nu_star_{OBJECTIVE[method]}"]
        ax.axvline(star, color=colours[method], lw=1, ls="--")
        ax.annotate(rf"$\nu^*_{{{OBJECTIVE[method]}}}$={star:.3f}", (star, 1.02), fontsize=8, ha="center",
                    color=colours[method], annotation_clip=False)
    ax.axhline(THRESHOLD, color="grey", lw=0.8)
    ax.axhline(1.0 / (2 * len(REFERENCE_KAPPA)), color="grey", lw=0.8, ls=":")
    ax.set_xlabel(r"nuisance correlation $\nu$")
    ax.set_ylabel(r"subspace distance $1 - \frac{1}{k}\sum\cos^2\theta_i$")
    ax.set_ylim(-0.03, 1.08)
    ax.set_title(rf"Reference sweep: $\kappa$=(3, 2, 1.5), $\tilde\gamma_y$=50, d={numbers['d']}, n={numbers['n']}, "
                 f"{len(numbers['seeds'])} seeds", fontsize=10, pad=14)
    ax.plot([], [], color="grey", lw=0.8, label=f"distance {THRESHOLD:g} (recovers below)")
    ax.plot([], [], color="grey", lw=0.8, ls=":", label="distance 1/(2k) (one direction lost)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, framealpha=0.9)
    return fig


# ---------------------------------------------------------------------------------------------- run
def run(context: Context) -> dict:
    """Theory against measurement on the (kappa, nu) grid for both settings, and the reference sweep."""
    import matplotlib

    matplotlib.use("Agg", force=False)

    sizes = SIZES[context.scale]
    # Rounded so that the JSON shows 0.05, not 0.049999999999999996.
    kappa = np.round(np.linspace(sizes.kappa_min, sizes.kappa_max, sizes.n_kappa), 10)
    nu = np.round(np.linspace(0.0, REFERENCE_NU_MAX, sizes.n_nu), 10)
    grid, means = {}, {}
    for setting in SETTINGS:
        logger.info("linear: grid %s (%d x %d, %d replicates)", setting, sizes.n_kappa, sizes.n_nu, sizes.grid_seeds)
        grid[setting], means[setting] = _grid_setting(context, sizes, setting, kappa, nu)
    logger.info("linear: reference sweep (%d nu values, %d seeds)", sizes.sweep_nu, sizes.sweep_seeds)
    sweep, sweep_nu, sweep_values, curves = _sweep(context, sizes)

    context.save_figure(_regions_figure((sizes.kappa_min, sizes.kappa_max)), "linear_regions")
    context.save_figure(_heatmap_figure(kappa, nu, means, sizes), "linear_heatmaps")
    context.save_figure(_sweep_figure(sweep_nu, sweep_values, sweep, curves), "linear_sweep")

    return {
        "grid": {
            "d": sizes.grid_d, "k": sizes.grid_k, "n": sizes.grid_n, "seeds": list(range(sizes.grid_seeds)),
            "kappa": kappa, "nu": nu, "gamma_x": GAMMA_X, "gamma_y": GAMMA_Y, "nuisance_var_x": NUISANCE_VAR_X,
            "threshold": THRESHOLD, "boundary_margin": BOUNDARY_MARGIN,
            "layout": "arrays are [i_nu][j_kappa]; boundary.theory_nu is where the ratio crosses 1 (above the "
                      "grid's largest nu: recovers everywhere on the column); boundary.measured_nu is where the mean "
                      "distance first reaches the threshold going up in nu (None: see measured_status)",
            "settings": grid,
        },
        "sweep": sweep,
        "protocol": {
            "metric": "subspace distance 1 - (1/k) sum cos^2 theta_i between the CCA x weights (or the RRR "
                      "encoder) and Q_x[:, :k]; recovers when the mean over replicates is below the threshold",
            "seeds": "replicate r: SpikedModel(seed=r) (rotations) and model.sample(n, seed=r)",
            "theory": "recovers iff the closed-form separation ratio (SpikedModel.separation_ratios) is > 1",
        },
        "paper": {
            "claim": "CA recovers the whole signal subspace iff Delta_CA = min rho / max nu > 1, CP iff "
                     "Delta_CP = min tau / max xi > 1; a large target nuisance variance shrinks the CP region, "
                     "nu -> 1 kills CA",
            "reference_sweep": {"d": 20, "k": 3, "n": 5000, "seeds": 10, "kappa": list(REFERENCE_KAPPA),
                                "gamma_x": GAMMA_X, "gamma_y": GAMMA_Y, "nuisance_var_x": NUISANCE_VAR_X,
                                "nuisance_var_y": SETTINGS["large"], "nu": [0.0, REFERENCE_NU_MAX]},
        },
    }


def tables(numbers: dict) -> str:
    """Markdown: theory against measurement on the grid (agreement fractions), and the reference sweep's
    thresholds (theory, the mean curve's crossing, and the per-seed crossings)."""
    grid = numbers["grid"]
    lines = [f"Grid: d={grid['d']}, k={grid['k']}, n={grid['n']}, {len(grid['seeds'])} replicates, "
             f"{len(grid['kappa'])} kappa x {len(grid['nu'])} nu; recovers = mean subspace distance < "
             f"{grid['threshold']:g}.", "",
             "| setting | method | agreement | at 0.25 / 0.75 | off the boundary (points) | "
             "theory yes, measured no | theory no, measured yes |", "|---|---|---|---|---|---|---|"]
    for setting, entry in grid["settings"].items():
        for method, row in entry["methods"].items():
            path = f"linear/grid/settings/{setting}/methods/{method}"
            confusion = row["confusion"]
            lines.append(
                f"| {setting} (gt_y = {entry['nuisance_var_y']:g}) | {method} ({row['objective']}) | "
                f"{quote(row['agreement'], path + '/agreement')} | "
                f"{number(row['agreement_by_threshold']['0.25'])} / {number(row['agreement_by_threshold']['0.75'])} | "
                f"{quote(row['agreement_off_boundary'], path + '/agreement_off_boundary')} ({row['n_off_boundary']}) | "
                f"{confusion['theory_yes_measured_no']} | {confusion['theory_no_measured_yes']} |")
    sweep = numbers["sweep"]
    lines += ["", f"Reference sweep: kappa = {tuple(sweep['kappa'])}, gt_y = {sweep['nuisance_var_y']:g}, "
                  f"d={sweep['d']}, k={sweep['k']}, n={sweep['n']}, {len(sweep['seeds'])} seeds.", "",
              "| method | level | theory nu | measured nu (mean curve) | per seed: mean (sd) [min, max] |",
              "|---|---|---|---|---|"]
    for method, row in sweep["methods"].items():
        for name, entry in row["thresholds"].items():
            path = f"linear/sweep/methods/{method}/thresholds/{name}"
            seeds = entry["per_seed"]
            interval = entry["per_seed_range"]
            per_seed = "n/a" if seeds["mean"] is None else (
                f"{number(seeds['mean'])} ({number(seeds['sd'])}) [{number(interval[0])}, {number(interval[1])}]")
            measured = quote(entry["measured_nu"], path + "/measured_nu") if entry["measured_nu"] is not None \
                else entry["measured_status"]
            lines.append(f"| {method} ({row['objective']}) | {name} ({entry['level']:.3g}) | "
                         f"{quote(entry['theory_nu'], path + '/theory_nu')} | {measured} | {per_seed} |")
    return "\n".join(lines) + "\n"


EXPERIMENT = Experiment(
    name="linear", title="Spiked model: theoretical regions against measured CCA / RRR recovery", version=1, run=run,
    reproduces="the phase diagram of the linear spiked model and its simulation (reference sweep d=20, k=3, "
               "n=5000, 10 seeds; kappa=(3, 2, 1.5), gt_y=50)",
    tables=tables, uses_seeds=False,
)
