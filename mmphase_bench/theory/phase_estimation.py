"""Place a paired dataset on the phase diagram from a small labelled subsample (Kamai et al. 2026).

The reference procedure ("in-sample"), for paired features ``Z_x``, ``Z_y`` of ``m`` labelled pairs:

1. PCA each view (``n_pca`` components), centre.
2. Covariances with a small ridge; ``C-hat = S_xx^{-1/2} S_xy S_yy^{-1/2}`` and
   ``A-hat = S_yx S_xx^{-1/2}``.
3. For each of the top ``n_components`` singular components of ``C-hat``, the 2-d score
   ``[Z_x w_j^x, Z_y w_j^y]``; of ``A-hat``, the 1-d source score ``Z_x S_xx^{-1/2} v_j``. Each score
   gets the ``cv_folds``-fold cross-validated ridge (``cv_alpha``) R^2 of the labels, summed over label
   columns (one-hot classes for classification) and clamped at 0.
4. A two-segment piecewise-linear fit of the R^2 values sorted in decreasing order splits signal
   (before the break, with R^2 > 0) from nuisance. No positive R^2: "no signal detected".
5. ``Delta-hat = min(signal singular values) / max(nuisance singular values)`` for ``C-hat`` (CA),
   ``A-hat`` (CP, x -> y) and the reversed ``A-hat`` (CP, y -> x).

Beyond the reference:

* **Resampling.** The procedure is repeated on seeded resamples of the labelled pairs (bootstrap,
  or subsampling without replacement); folds belong to the original pairs, so bootstrap duplicates
  never straddle a training and a test fold.
* **A cross-fitted estimator.** In-sample singular values are biased: the largest of many nuisance
  correlations is inflated by sampling noise (the winner's curse), so the reference ``Delta-hat`` is
  biased low when nuisance correlations are weak and numerous. The cross-fitted estimator fits
  PCA, whitening and the SVDs on ``cv_folds - 1`` folds, evaluates every component on the held-out
  fold (held-out correlation for ``C``, held-out projected covariance for ``A``, held-out R^2),
  averages by training rank, and takes the ratio of the held-out value of the weakest signal
  component to that of the strongest nuisance component (selected on the training folds). Its bias
  goes the other way (noisy directions lose held-out correlation). The reported confidence interval
  is the union of both estimators' percentile intervals, which in our simulations covers the true
  ratio where either alone does not; the point estimate and regime stay the reference ones.
* **Ridge sensitivity.** The reference point estimate is repeated at several ridges. The ridge is
  relative: ``ridge * mean variance`` of the PCA'd view is added to its covariance, so results do not
  depend on the units of the features.
* **A second signal rule** (``signal_rule="permutation"``). The elbow fit of step 4 counts as signal
  every component on the steep part of the ranked R^2 curve, and the ratio takes the *smallest*
  signal value: one weak component with a little label information (singular value below a strong
  nuisance component) pulls ``Delta-hat`` below 1. The permutation rule declares a component
  significant by a step-down permutation test (family-wise error ``significance``, ``n_permutations``
  label permutations), then takes as signal the fewest significant components, ranked by R^2, whose
  R^2 reaches ``signal_fraction`` of the significant total (component scores are uncorrelated, so
  their R^2 values add up to the label variance they explain together); see
  :func:`~mmphase_bench.theory.component_scoring.classify_components_permutation`. Both rules are
  always computed on the same spectra and resamples and reported side by side
  (``PhaseEstimate.signal_rules``); ``signal_rule`` picks the one behind ``delta_*``, ``regime``,
  ``ci`` and ``estimators``. The default is the reference elbow rule.
"""

from __future__ import annotations

import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from mmphase_bench.errors import InputError
from mmphase_bench.theory.component_scoring import (
    classify_components, classify_components_permutation, cross_validated_r2_columns, holdout_ridge_r2,
    holdout_ridge_r2_wide,
)
from mmphase_bench.theory.regime import Regime
from mmphase_bench.validation import check_choice, check_float, check_int, check_matrix, check_same_rows

logger = logging.getLogger(__name__)

#: The fewest labelled pairs the procedure accepts (at least 10 per cross-validation fold).
MIN_LABELLED_PAIRS = 50
SPECTRUM_NAMES = ("cca", "rrr", "rrr_reverse")
RATIO_NAMES = {"cca": "delta_ca", "rrr": "delta_cp", "rrr_reverse": "delta_cp_reverse"}
ESTIMATOR_NAMES = ("in_sample", "cross_fitted")
DEFAULT_RIDGE_GRID = (1e-6, 1e-4, 1e-2, 1e-1)
#: Label permutations giving the chance level of a component's R^2. A component must beat the best
#: R^2 reached with any of them, so a spectrum without signal shows some in about 1 case in 10.
N_NULL_PERMUTATIONS = 9
#: "elbow": the reference two-segment fit; "permutation": permutation test plus share of R^2.
SIGNAL_RULES = ("elbow", "permutation")
#: Label permutations of the permutation rule (the 9 above included): p-values resolve to 1/50.
DEFAULT_PERMUTATIONS = 49
DEFAULT_SIGNIFICANCE = 0.05
DEFAULT_SIGNAL_FRACTION = 0.9
_TITLES = {"cca": "C-hat (CA)", "rrr": "A-hat (CP, x -> y)", "rrr_reverse": "A-hat (CP, y -> x)"}


@dataclass(frozen=True)
class ComponentRow:
    """One singular component of ``C-hat`` or ``A-hat``."""

    index: int  #: position in the singular-value order (0 = largest)
    singular_value: float
    r2: float  #: label R^2 summed over label columns, clamped at 0
    is_signal: bool


@dataclass(frozen=True)
class SpectrumEstimate:
    """The classified spectrum of one coupling matrix and its separation ratio."""

    name: str  #: "cca", "rrr" (x -> y) or "rrr_reverse" (y -> x)
    singular_values: np.ndarray
    r2: np.ndarray
    is_signal: np.ndarray
    weakest_signal: float | None  #: the signal value entering the ratio
    nuisance_floor: float | None  #: the nuisance value entering the ratio (None: no nuisance component)
    noise_r2: float = 0.0  #: largest R^2 of any component against permuted labels: the chance level
    rule: str = "elbow"  #: the signal rule that set ``is_signal`` (see SIGNAL_RULES)
    p_values: np.ndarray | None = None  #: step-down permutation p-values (permutation rule only)

    @property
    def signal_detected(self) -> bool:
        return bool(self.is_signal.any())

    @property
    def ratio(self) -> float | None:
        """``weakest_signal / nuisance_floor``; ``None`` when no signal was detected."""
        if not self.signal_detected:
            return None
        if self.nuisance_floor is None or self.nuisance_floor <= 0:
            return float("inf")
        return float(self.weakest_signal / self.nuisance_floor)

    def rows(self) -> list[ComponentRow]:
        return [
            ComponentRow(int(i), float(s), float(r), bool(flag))
            for i, (s, r, flag) in enumerate(zip(self.singular_values, self.r2, self.is_signal))
        ]


@dataclass(frozen=True)
class EstimatorResult:
    """One estimator's ratios, spectra and resampling summary."""

    name: str  #: "in_sample" (the reference procedure) or "cross_fitted"
    spectra: dict[str, SpectrumEstimate]
    ci: dict[str, tuple[float, float] | None]  #: percentile interval over resamples with signal
    regime_probabilities: dict[str, float]
    no_signal_fraction: dict[str, float]

    @property
    def ratios(self) -> dict[str, float | None]:
        return {RATIO_NAMES[name]: spectrum.ratio for name, spectrum in self.spectra.items()}

    @property
    def regime(self) -> Regime:
        return Regime.from_ratios(self.ratios["delta_ca"], self.ratios["delta_cp"])


@dataclass(frozen=True)
class RuleResult:
    """Everything one signal rule gives: the in-sample ratios (the reference estimator), the union of
    both estimators' intervals (``ci``; each estimator's own under ``estimators``), the regime
    frequencies pooled over both estimators' resamples, and each estimator's result."""

    rule: str
    estimators: dict[str, EstimatorResult]
    ci: dict[str, tuple[float, float] | None]
    regime_probabilities: dict[str, float]

    @property
    def ratios(self) -> dict[str, float | None]:
        return self.estimators["in_sample"].ratios

    @property
    def regime(self) -> Regime:
        return self.estimators["in_sample"].regime

    @property
    def regime_reverse(self) -> Regime:
        return Regime.from_ratios(self.ratios["delta_ca"], self.ratios["delta_cp_reverse"])

    def to_dict(self) -> dict[str, Any]:
        reference, cross = self.estimators["in_sample"], self.estimators["cross_fitted"]
        out = {
            **{key: _json_number(value) for key, value in self.ratios.items()},
            "regime": self.regime.value,
            "regime_reverse": self.regime_reverse.value,
            "ci": _json_intervals(self.ci),
            "regime_probabilities": dict(self.regime_probabilities),
            "no_signal_fraction": dict(reference.no_signal_fraction),
            "in_sample_ci": _json_intervals(reference.ci),
            "cross_fitted": {**{key: _json_number(value) for key, value in cross.ratios.items()},
                             "ci": _json_intervals(cross.ci)},
            "signal_components": {
                name: [int(i) for i in np.flatnonzero(spectrum.is_signal)] for name, spectrum in reference.spectra.items()
            },
        }
        if self.rule == "permutation":
            out["p_values"] = {
                name: [float(v) for v in spectrum.p_values] for name, spectrum in reference.spectra.items()
                if spectrum.p_values is not None
            }
        return out


@dataclass(frozen=True)
class PhaseEstimate:
    """Result of :func:`estimate_phase`. Ratios are ``None`` when no signal was detected.

    ``delta_*``, ``regime`` and ``spectra`` are the reference (in-sample) procedure; ``ci`` is the
    union of the in-sample and cross-fitted percentile intervals; ``regime_probabilities`` pools the
    resamples of both estimators.
    """

    delta_ca: float | None
    delta_cp: float | None
    delta_cp_reverse: float | None
    regime: Regime  #: from ``(delta_ca, delta_cp)``: CP in the x -> y direction
    regime_reverse: Regime  #: from ``(delta_ca, delta_cp_reverse)``
    ci: dict[str, tuple[float, float] | None]
    confidence: float
    regime_probabilities: dict[str, float]
    no_signal_fraction: dict[str, float]
    estimators: dict[str, EstimatorResult]
    ridge_sensitivity: dict[float, dict[str, float | None]]
    n_samples: int
    task: str
    settings: dict[str, Any] = field(default_factory=dict)
    signal_rule: str = "elbow"  #: the rule behind delta_*, regime, ci and estimators
    signal_rules: dict[str, RuleResult] = field(default_factory=dict)  #: every rule, side by side

    @property
    def spectra(self) -> dict[str, SpectrumEstimate]:
        return self.estimators["in_sample"].spectra

    @property
    def ratios(self) -> dict[str, float | None]:
        return {"delta_ca": self.delta_ca, "delta_cp": self.delta_cp, "delta_cp_reverse": self.delta_cp_reverse}

    @property
    def ridge_stable(self) -> bool:
        """True when every ridge of the sensitivity grid gives the same regime."""
        regimes = {Regime.from_ratios(v["delta_ca"], v["delta_cp"]) for v in self.ridge_sensitivity.values()}
        return len(regimes) <= 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``inf`` is written as the string ``"inf"``)."""
        return {
            **{key: _json_number(value) for key, value in self.ratios.items()},
            "regime": self.regime.value,
            "regime_reverse": self.regime_reverse.value,
            "signal_detected": {RATIO_NAMES[n]: s.signal_detected for n, s in self.spectra.items()},
            "ci": _json_intervals(self.ci),
            "confidence": self.confidence,
            "regime_probabilities": dict(self.regime_probabilities),
            "no_signal_fraction": dict(self.no_signal_fraction),
            "ridge_sensitivity": {
                f"{ridge:g}": {key: _json_number(value) for key, value in values.items()}
                for ridge, values in self.ridge_sensitivity.items()
            },
            "ridge_stable": self.ridge_stable,
            "estimators": {
                name: {
                    **{key: _json_number(value) for key, value in result.ratios.items()},
                    "regime": result.regime.value,
                    "ci": _json_intervals(result.ci),
                    "regime_probabilities": dict(result.regime_probabilities),
                    "no_signal_fraction": dict(result.no_signal_fraction),
                    "components": {
                        spectrum_name: [
                            {"index": r.index, "singular_value": r.singular_value, "r2": r.r2, "signal": r.is_signal}
                            for r in spectrum.rows()
                        ]
                        for spectrum_name, spectrum in result.spectra.items()
                    },
                }
                for name, result in self.estimators.items()
            },
            "n_samples": self.n_samples,
            "task": self.task,
            "settings": dict(self.settings),
            "signal_rule": self.signal_rule,
            "signal_rules": {rule: result.to_dict() for rule, result in self.signal_rules.items()},
        }

    def summary(self, max_rows: int = 10) -> str:
        """A readable report: ratios with intervals, regime probabilities, component tables."""
        pct = round(100 * self.confidence)
        cross = self.estimators["cross_fitted"].ratios
        lines = [f"Phase estimate from {self.n_samples} labelled pairs ({self.task})", ""]
        lines.append(f"{'ratio':<18}{'estimate':>10}{'cross-fit':>11}   {str(pct) + '% interval':<20}{'no signal':>10}")
        for key in RATIO_NAMES.values():
            interval = self.ci[key]
            bounds = "-" if interval is None else f"[{_fmt(interval[0])}, {_fmt(interval[1])}]"
            lines.append(
                f"{key:<18}{_fmt(self.ratios[key]):>10}{_fmt(cross[key]):>11}   {bounds:<20}"
                f"{self.no_signal_fraction[key]:>10.0%}"
            )
        lines += ["", f"regime (CP x -> y): {self.regime.label}    regime (CP y -> x): {self.regime_reverse.label}"]
        lines.append(f"signal rule: {self.signal_rule}")
        for rule, result in self.signal_rules.items():
            parts = []
            for key in ("delta_ca", "delta_cp"):
                interval = result.ci[key]
                bounds = "" if interval is None else f" [{_fmt(interval[0])}, {_fmt(interval[1])}]"
                parts.append(f"{key} {_fmt(result.ratios[key])}{bounds}")
            lines.append(f"  {rule + ':':<13}{', '.join(parts)}; {result.regime.label}")
        probabilities = ", ".join(f"{Regime(k).label} {v:.0%}" for k, v in self.regime_probabilities.items())
        lines.append(f"resampled regime frequencies: {probabilities}")
        ridges = "; ".join(
            f"{ridge:g}: " + Regime.from_ratios(v["delta_ca"], v["delta_cp"]).label
            for ridge, v in self.ridge_sensitivity.items()
        )
        if ridges:
            lines.append(f"ridge sensitivity ({'stable' if self.ridge_stable else 'NOT stable'}): {ridges}")
        for name, spectrum in self.spectra.items():
            floor = spectrum.nuisance_floor
            lines += ["", f"{_TITLES[name]}: nuisance floor {'-' if floor is None else f'{floor:.4g}'}"]
            lines.append(f"  {'#':>3} {'singular value':>15} {'R^2':>8}  class")
            for row in spectrum.rows()[:max_rows]:
                kind = "signal" if row.is_signal else "nuisance"
                lines.append(f"  {row.index:>3} {row.singular_value:>15.4g} {row.r2:>8.3f}  {kind}")
            if len(spectrum.singular_values) > max_rows:
                lines.append(f"  ... {len(spectrum.singular_values) - max_rows} more components")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _fmt(value: float | None) -> str:
    if value is None:
        return "no signal"
    return "inf" if math.isinf(value) else f"{value:.3f}"


def _json_number(value: float | None) -> float | str | None:
    if value is None:
        return None
    return "inf" if math.isinf(value) else float(value)


def _json_intervals(intervals: dict[str, tuple[float, float] | None]) -> dict[str, list | None]:
    return {
        key: None if value is None else [_json_number(value[0]), _json_number(value[1])]
        for key, value in intervals.items()
    }


# ---------------------------------------------------------------------------------------------
# the procedure


def estimate_phase(
    zx,
    zy,
    labels,
    *,
    task: str | None = None,
    n_pca: int = 100,
    n_components: int = 50,
    ridge: float = 1e-6,
    cv_folds: int = 5,
    cv_alpha: float = 1.0,
    n_resamples: int = 200,
    resample: str = "bootstrap",
    subsample_fraction: float = 0.5,
    confidence: float = 0.95,
    ridge_grid: tuple[float, ...] | None = DEFAULT_RIDGE_GRID,
    seed: int = 0,
    n_jobs: int | None = -1,
    progress: bool = False,
    signal_rule: str = "elbow",
    n_permutations: int = DEFAULT_PERMUTATIONS,
    significance: float = DEFAULT_SIGNIFICANCE,
    signal_fraction: float = DEFAULT_SIGNAL_FRACTION,
) -> PhaseEstimate:
    """Estimate the separation ratios and regime of a paired dataset.

    Parameters
    ----------
    zx, zy:
        Paired features (n, d_x) and (n, d_y): raw or from frozen unimodal encoders.
    labels:
        (n,) class labels, or (n,) / (n, q) continuous targets.
    task:
        "classification" (labels one-hot encoded), "regression", or ``None`` to infer it
        (integer, boolean or string 1-D labels are classes).
    n_pca, n_components:
        PCA dimension per view; number of top singular components classified (>= 2).
    ridge:
        Relative ridge added to each PCA'd covariance (``ridge * mean variance``).
    cv_folds, cv_alpha:
        Folds and ridge penalty of the cross-validated R^2 (and of the cross-fitted estimator).
    n_resamples, resample, subsample_fraction, confidence:
        Uncertainty: ``n_resamples`` bootstrap resamples (or subsamples of the given fraction,
        drawn without replacement); percentile intervals at ``confidence``. ``0`` turns it off.
    ridge_grid:
        Ridges at which the point estimate is repeated to check stability (``None``: skip).
    seed:
        Seeds the cross-validation folds and the resamples: same inputs and seed, same result.
    n_jobs:
        Threads for the resamples (``-1`` or ``None``: one per CPU core). Does not change the result.
    progress:
        Show a progress bar over the resamples.
    signal_rule:
        The signal/nuisance split behind ``delta_*``, ``regime``, ``ci`` and ``estimators``:
        "elbow" (the reference two-segment fit of Kamai et al. 2026) or "permutation" (a step-down
        permutation test, then the fewest components reaching ``signal_fraction`` of the
        significant R^2). Both are always computed and reported in ``signal_rules``.
    n_permutations, significance, signal_fraction:
        The permutation rule: label permutations (at least the ``N_NULL_PERMUTATIONS`` that also
        set the elbow rule's chance level), family-wise error level of the test, and the share
        of the significant components' R^2 the signal components must carry.
    """
    zx = check_matrix("zx", zx)
    zy = check_matrix("zy", zy)
    targets, task = _encode_labels(labels, task)
    n = check_same_rows(zx=zx, zy=zy, labels=targets)
    n_pca = check_int("n_pca", n_pca, minimum=1)
    n_components = check_int("n_components", n_components, minimum=2)
    ridge = check_float("ridge", ridge, minimum=0.0)
    cv_folds = check_int("cv_folds", cv_folds, minimum=2, maximum=20)
    cv_alpha = check_float("cv_alpha", cv_alpha, minimum=0.0)
    n_resamples = check_int("n_resamples", n_resamples, minimum=0)
    check_choice("resample", resample, ("bootstrap", "subsample"))
    subsample_fraction = check_float(
        "subsample_fraction", subsample_fraction, minimum=0.0, maximum=1.0, strict_minimum=True, strict_maximum=True
    )
    confidence = check_float("confidence", confidence, minimum=0.0, maximum=1.0, strict_minimum=True, strict_maximum=True)
    seed = check_int("seed", seed, minimum=0)
    grid = tuple(check_float("ridge_grid", r, minimum=0.0) for r in (ridge_grid or ()))
    check_choice("signal_rule", signal_rule, SIGNAL_RULES)
    n_permutations = check_int("n_permutations", n_permutations, minimum=N_NULL_PERMUTATIONS)
    significance = check_float("significance", significance, minimum=0.0, maximum=1.0, strict_minimum=True, strict_maximum=True)
    signal_fraction = check_float("signal_fraction", signal_fraction, minimum=0.0, maximum=1.0, strict_minimum=True)
    if significance < 1.0 / (1 + n_permutations):
        raise InputError(
            f"significance={significance} is below 1 / (1 + n_permutations) = {1 / (1 + n_permutations):.4g}, "
            f"the smallest p-value {n_permutations} permutations can give: raise n_permutations"
        )
    minimum_pairs = max(MIN_LABELLED_PAIRS, 10 * cv_folds)
    if n < minimum_pairs:
        raise InputError(
            f"estimate_phase needs at least {minimum_pairs} labelled pairs ({cv_folds}-fold cross-validation), got {n}"
        )
    size = n if resample == "bootstrap" else int(subsample_fraction * n)
    if n_resamples and size < minimum_pairs:
        raise InputError(f"subsample_fraction={subsample_fraction} leaves {size} pairs, fewer than {minimum_pairs}")

    rng = np.random.default_rng([seed, 0x9A5E])
    # Folds belong to the original pairs, so bootstrap duplicates share a fold (no leakage).
    folds = rng.permutation(n) % cv_folds
    # Permuted labels ride along as extra target columns: their R^2 is the chance level (see _spectrum).
    n_labels = targets.shape[1]
    # The permutation rule's further permutations come from their own stream, so the folds, the
    # first permutations and the resamples (hence every elbow-rule number) are those of the reference.
    extra_rng = np.random.default_rng([seed, 0x9A5E, 1])
    extra = n_permutations - N_NULL_PERMUTATIONS
    null_targets = (
        np.concatenate([targets[extra_rng.permutation(n)] for _ in range(extra)], axis=1) if extra else targets[:, :0]
    )
    targets = np.concatenate([targets] + [targets[rng.permutation(n)] for _ in range(N_NULL_PERMUTATIONS)], axis=1)
    settings = dict(n_pca=n_pca, n_components=n_components, ridge=ridge, cv_folds=cv_folds, cv_alpha=cv_alpha)
    rules = dict(significance=significance, signal_fraction=signal_fraction)
    estimators = {"in_sample": _in_sample_spectra, "cross_fitted": _cross_fitted_spectra}

    point = {name: estimator(zx, zy, targets, null_targets, folds, **settings, **rules) for name, estimator in estimators.items()}
    for name, spectrum in point["in_sample"][signal_rule].items():
        if not spectrum.signal_detected:
            logger.info("no signal detected in the %s spectrum (%s rule)", name, signal_rule)

    sensitivity = {}
    # The grid reports the chosen rule only; the elbow rule needs no further permutations.
    grid_null = null_targets if signal_rule == "permutation" else null_targets[:, :0]
    for grid_ridge in grid:
        spectra = point["in_sample"] if grid_ridge == ridge else _in_sample_spectra(
            zx, zy, targets, grid_null, folds, **{**settings, "ridge": grid_ridge}, **rules
        )
        sensitivity[grid_ridge] = {RATIO_NAMES[name]: s.ratio for name, s in spectra[signal_rule].items()}

    # Indices are drawn up front, so the result does not depend on n_jobs or thread timing.
    indices = [
        rng.integers(0, n, size=size) if resample == "bootstrap" else rng.choice(n, size=size, replace=False)
        for _ in range(n_resamples)
    ]

    def one_resample(index: np.ndarray) -> dict[str, dict[str, dict[str, float | None]]]:
        out = {}
        for name, estimator in estimators.items():
            try:
                spectra = estimator(zx[index], zy[index], targets[index], null_targets[index], folds[index], **settings, **rules)
                out[name] = {rule: {RATIO_NAMES[s]: spectra[rule][s].ratio for s in SPECTRUM_NAMES} for rule in SIGNAL_RULES}
            except np.linalg.LinAlgError:  # a degenerate resample carries no signal
                out[name] = {rule: {key: None for key in RATIO_NAMES.values()} for rule in SIGNAL_RULES}
        return out

    workers = _resolve_jobs(n_jobs)
    with tqdm(total=n_resamples, desc="resampling", unit="resample", disable=not progress or not n_resamples) as bar:
        # Small LAPACK calls run fastest single-threaded, one resample per core.
        with threadpool_limits(1) if workers > 1 else nullcontext(), ThreadPoolExecutor(workers) as pool:
            resampled = []
            for result in pool.map(one_resample, indices):
                resampled.append(result)
                bar.update()
    by_rule = {}
    for rule in SIGNAL_RULES:
        draws = {name: [result[name][rule] for result in resampled] for name in estimators}
        results = {name: _summarise(name, point[name][rule], draws[name], confidence) for name in estimators}
        union = {key: _union(*(result.ci[key] for result in results.values())) for key in RATIO_NAMES.values()}
        pooled = [draw for name in estimators for draw in draws[name]]
        probabilities = _regime_frequencies(pooled) if pooled else results["in_sample"].regime_probabilities
        by_rule[rule] = RuleResult(rule, results, union, probabilities)
    chosen = by_rule[signal_rule]
    results, union, probabilities = chosen.estimators, chosen.ci, chosen.regime_probabilities
    reference = results["in_sample"]
    ratios = reference.ratios
    return PhaseEstimate(
        delta_ca=ratios["delta_ca"],
        delta_cp=ratios["delta_cp"],
        delta_cp_reverse=ratios["delta_cp_reverse"],
        regime=Regime.from_ratios(ratios["delta_ca"], ratios["delta_cp"]),
        regime_reverse=Regime.from_ratios(ratios["delta_ca"], ratios["delta_cp_reverse"]),
        ci=union,
        confidence=confidence,
        regime_probabilities=probabilities,
        no_signal_fraction=reference.no_signal_fraction,
        estimators=results,
        ridge_sensitivity=sensitivity,
        n_samples=n,
        task=task,
        settings={
            **settings, "n_resamples": n_resamples, "resample": resample,
            "subsample_fraction": subsample_fraction if resample == "subsample" else None,
            "seed": seed, "d_x": zx.shape[1], "d_y": zy.shape[1], "n_label_columns": n_labels, "null_permutations": N_NULL_PERMUTATIONS,
            "signal_rule": signal_rule, "n_permutations": n_permutations, "significance": significance,
            "signal_fraction": signal_fraction,
        },
        signal_rule=signal_rule,
        signal_rules=by_rule,
    )


def _resolve_jobs(n_jobs: int | None) -> int:
    cores = os.cpu_count() or 1
    if n_jobs is None or n_jobs == -1:
        return cores
    n_jobs = check_int("n_jobs", n_jobs, minimum=1)
    return min(n_jobs, cores)


def _summarise(name: str, spectra: dict[str, SpectrumEstimate], draws: list[dict], confidence: float) -> EstimatorResult:
    tail = (1.0 - confidence) / 2.0
    intervals, no_signal = {}, {}
    for key in RATIO_NAMES.values():
        detected = np.array([d[key] for d in draws if d[key] is not None], dtype=np.float64)
        no_signal[key] = 1.0 - detected.size / len(draws) if draws else float(
            spectra[_SPECTRUM_OF[key]].ratio is None
        )
        intervals[key] = (
            (float(np.quantile(detected, tail, method="lower")), float(np.quantile(detected, 1 - tail, method="higher")))
            if detected.size
            else None
        )
    if draws:
        probabilities = _regime_frequencies(draws)
    else:
        regime = Regime.from_ratios(spectra["cca"].ratio, spectra["rrr"].ratio)
        probabilities = {r.value: float(r is regime) for r in Regime}
    return EstimatorResult(name, spectra, intervals, probabilities, no_signal)


_SPECTRUM_OF = {key: name for name, key in RATIO_NAMES.items()}


def _regime_frequencies(draws: list[dict]) -> dict[str, float]:
    """Share of resampled ratio pairs (CP x -> y) landing in each regime."""
    counts = {regime.value: 0 for regime in Regime}
    for draw in draws:
        counts[Regime.from_ratios(draw["delta_ca"], draw["delta_cp"]).value] += 1
    return {key: count / len(draws) for key, count in counts.items()}


def _union(*intervals: tuple[float, float] | None) -> tuple[float, float] | None:
    present = [interval for interval in intervals if interval is not None]
    if not present:
        return None
    return min(lo for lo, _ in present), max(hi for _, hi in present)


def _encode_labels(labels, task: str | None) -> tuple[np.ndarray, str]:
    raw = np.asarray(labels)
    if task is None:
        categorical = raw.ndim == 1 and (
            np.issubdtype(raw.dtype, np.integer) or raw.dtype == bool or raw.dtype.kind in "US"
        )
        task = "classification" if categorical else "regression"
    check_choice("task", task, ("classification", "regression"))
    if task == "classification":
        if raw.ndim == 2 and raw.shape[1] == 1:
            raw = raw[:, 0]
        if raw.ndim != 1:
            raise InputError(f"labels for classification must be 1-D class labels, got shape {raw.shape}")
        if raw.dtype.kind == "f" and not np.all(np.isfinite(raw)):
            raise InputError("labels contain NaN or infinite values")
        classes, codes = np.unique(raw, return_inverse=True)
        if classes.size < 2:
            raise InputError(f"labels for classification need at least 2 classes, got {classes.size}")
        return np.eye(classes.size)[codes], task
    targets = check_matrix("labels", raw, allow_1d=True)
    if np.all(targets.std(axis=0) == 0):
        raise InputError("labels are constant: there is nothing to predict")
    return targets, task


# ---------------------------------------------------------------------------------------------
# the two estimators


def _fit_pca(data: np.ndarray, n_keep: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top principal directions (d, p), dropping numerically null directions."""
    n, d = data.shape
    mean = data.mean(axis=0)
    centred = data - mean
    if n >= 2 * d:
        eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred)
        singular = np.sqrt(np.clip(eigenvalues[::-1], 0.0, None))
        directions = eigenvectors[:, ::-1]
    else:
        _, singular, right_t = np.linalg.svd(centred, full_matrices=False)
        directions = right_t.T
    # 1e-6 relative is what the Gram route resolves; such directions lie far below any ridge.
    rank = int(np.sum(singular > 1e-6 * singular[0])) if singular[0] > 0 else 0
    if rank == 0:
        raise np.linalg.LinAlgError("a view has no variance")
    return mean, directions[:, : min(rank, n_keep)]


def _whitening(scores: np.ndarray, ridge: float) -> np.ndarray:
    """Per-component scale ``(var + ridge * mean var)^{-1/2}`` of PCA scores."""
    variance = scores.var(axis=0, ddof=1)
    return 1.0 / np.sqrt(variance + ridge * variance.mean())


def _spectrum(name, singular_values, r2_columns, null_columns, weakest_rule, *, significance, signal_fraction
              ) -> dict[str, SpectrumEstimate]:
    """Classify components under each signal rule, from R^2 per label column.

    ``r2_columns`` is (m, (1 + P) L): the real labels, then P permutations; ``null_columns`` is
    (m, E L), E further permutations. The elbow rule (the reference) uses the first P: a component
    must beat the best R^2 any of them reaches in this spectrum to count as signal. The permutation
    rule tests each component against all P + E (step-down maxT), then keeps the fewest significant
    components carrying ``signal_fraction`` of their R^2.
    """
    m = r2_columns.shape[0]
    blocks = r2_columns.reshape(m, 1 + N_NULL_PERMUTATIONS, -1).sum(axis=2)  # (m, 1 + P)
    n_labels = r2_columns.shape[1] // (1 + N_NULL_PERMUTATIONS)
    r2 = np.clip(blocks[:, 0], 0.0, None)
    noise = float(np.clip(blocks[:, 1:], 0.0, None).max())
    is_signal = classify_components(r2, threshold=noise)
    weakest, floor = weakest_rule(singular_values, is_signal)
    elbow = SpectrumEstimate(name, singular_values, r2, is_signal, weakest, floor, noise)

    extra = null_columns.reshape(m, -1, n_labels).sum(axis=2) if null_columns.size else np.zeros((m, 0))
    null = np.clip(np.concatenate([blocks[:, 1:], extra], axis=1), 0.0, None)
    is_signal, p_values = classify_components_permutation(r2, null, significance, signal_fraction)
    weakest, floor = weakest_rule(singular_values, is_signal)
    permutation = SpectrumEstimate(name, singular_values, r2, is_signal, weakest, floor, noise, "permutation", p_values)
    return {"elbow": elbow, "permutation": permutation}


def _min_max_rule(values: np.ndarray, is_signal: np.ndarray) -> tuple[float | None, float | None]:
    """Reference: smallest signal value over largest nuisance value."""
    weakest = float(values[is_signal].min()) if is_signal.any() else None
    floor = float(values[~is_signal].max()) if (~is_signal).any() else None
    return weakest, floor


def _rank_rule(values: np.ndarray, is_signal: np.ndarray) -> tuple[float | None, float | None]:
    """Cross-fitted: held-out value of the lowest-ranked signal and the top-ranked nuisance component."""
    signal, nuisance = np.flatnonzero(is_signal), np.flatnonzero(~is_signal)
    # Held-out values are noisy and can fall below 0; a coupling is never negative, so clamp.
    weakest = float(max(values[signal[-1]], 0.0)) if signal.size else None
    floor = float(max(values[nuisance[0]], 0.0)) if nuisance.size else None
    return weakest, floor


def _in_sample_spectra(zx, zy, targets, null_targets, folds, *, n_pca, n_components, ridge, cv_folds, cv_alpha,
                       significance, signal_fraction) -> dict[str, dict[str, SpectrumEstimate]]:
    n = zx.shape[0]
    mean_x, directions_x = _fit_pca(zx, n_pca)
    mean_y, directions_y = _fit_pca(zy, n_pca)
    scores_x, scores_y = (zx - mean_x) @ directions_x, (zy - mean_y) @ directions_y
    white_x, white_y = scores_x * _whitening(scores_x, ridge), scores_y * _whitening(scores_y, ridge)

    left, canonical, right_t = np.linalg.svd(white_x.T @ white_y / (n - 1), full_matrices=False)
    m = min(n_components, canonical.size)
    components = {"cca": (canonical[:m], np.stack([white_x @ left[:, :m], white_y @ right_t[:m].T], axis=2))}
    for name, source, target in (("rrr", white_x, scores_y), ("rrr_reverse", white_y, scores_x)):
        _, singular, right_t = np.linalg.svd(target.T @ source / (n - 1), full_matrices=False)
        m = min(n_components, singular.size)
        components[name] = (singular[:m], (source @ right_t[:m].T)[:, :, None])
    spectra = {}
    for name, (values, scores) in components.items():
        r2_columns = cross_validated_r2_columns(scores, targets, folds, cv_folds, cv_alpha)
        null_columns = (
            cross_validated_r2_columns(scores, null_targets, folds, cv_folds, cv_alpha, wide=True)
            if null_targets.shape[1] else np.zeros((values.size, 0))
        )
        spectra[name] = _spectrum(name, values, r2_columns, null_columns, _min_max_rule,
                                  significance=significance, signal_fraction=signal_fraction)
    return _by_rule(spectra)


def _by_rule(spectra: dict[str, dict[str, SpectrumEstimate]]) -> dict[str, dict[str, SpectrumEstimate]]:
    """{spectrum: {rule: estimate}} -> {rule: {spectrum: estimate}}."""
    return {rule: {name: spectra[name][rule] for name in spectra} for rule in SIGNAL_RULES}


def _cross_fitted_spectra(zx, zy, targets, null_targets, folds, *, n_pca, n_components, ridge, cv_folds, cv_alpha,
                          significance, signal_fraction) -> dict[str, dict[str, SpectrumEstimate]]:
    per_fold: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {name: [] for name in SPECTRUM_NAMES}
    has_null = null_targets.shape[1] > 0

    def null_r2(train_scores, test_scores, train, test):
        if not has_null:
            return np.zeros((train_scores.shape[1], 0))
        return holdout_ridge_r2_wide(train_scores, null_targets[train], test_scores, null_targets[test], cv_alpha)

    for fold in range(cv_folds):
        test = folds == fold
        train = ~test
        if test.sum() < 3 or train.sum() < 3:
            continue
        mean_x, directions_x = _fit_pca(zx[train], n_pca)
        mean_y, directions_y = _fit_pca(zy[train], n_pca)
        pcs_x = {part: (zx[rows] - mean_x) @ directions_x for part, rows in (("train", train), ("test", test))}
        pcs_y = {part: (zy[rows] - mean_y) @ directions_y for part, rows in (("train", train), ("test", test))}
        scale_x, scale_y = _whitening(pcs_x["train"], ridge), _whitening(pcs_y["train"], ridge)
        white_x = {part: value * scale_x for part, value in pcs_x.items()}
        white_y = {part: value * scale_y for part, value in pcs_y.items()}
        n_train = int(train.sum())

        left, canonical, right_t = np.linalg.svd(white_x["train"].T @ white_y["train"] / (n_train - 1), full_matrices=False)
        m = min(n_components, canonical.size)
        pair = {
            part: np.stack([white_x[part] @ left[:, :m], white_y[part] @ right_t[:m].T], axis=2)
            for part in ("train", "test")
        }
        per_fold["cca"].append((
            _columnwise_correlation(pair["test"][:, :, 0], pair["test"][:, :, 1]),
            holdout_ridge_r2(pair["train"], targets[train], pair["test"], targets[test], cv_alpha),
            null_r2(pair["train"], pair["test"], train, test),
        ))
        for name, source, target in (("rrr", white_x, pcs_y), ("rrr_reverse", white_y, pcs_x)):
            left, singular, right_t = np.linalg.svd(target["train"].T @ source["train"] / (n_train - 1), full_matrices=False)
            m = min(n_components, singular.size)
            code = {part: source[part] @ right_t[:m].T for part in ("train", "test")}
            # Held-out singular value along the training pair (u_j, v_j): u_j^T cov(y, s_j) / sd(s_j).
            projected = target["test"] @ left[:, :m]
            held_out = _columnwise_covariance(projected, code["test"]) / code["test"].std(axis=0, ddof=1)
            per_fold[name].append((
                held_out,
                holdout_ridge_r2(code["train"][:, :, None], targets[train], code["test"][:, :, None], targets[test], cv_alpha),
                null_r2(code["train"][:, :, None], code["test"][:, :, None], train, test),
            ))
    if not per_fold["cca"]:
        raise np.linalg.LinAlgError("no usable cross-fitting fold")
    spectra = {}
    for name, items in per_fold.items():
        m = min(values.size for values, _, _ in items)
        held_out = np.mean([values[:m] for values, _, _ in items], axis=0)
        r2_columns = np.mean([scores[:m] for _, scores, _ in items], axis=0)
        null_columns = np.mean([null[:m] for _, _, null in items], axis=0)
        spectra[name] = _spectrum(name, held_out, r2_columns, null_columns, _rank_rule,
                                  significance=significance, signal_fraction=signal_fraction)
    return _by_rule(spectra)


def _columnwise_covariance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    return (a * b).sum(axis=0) / (a.shape[0] - 1)


def _columnwise_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denominator = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=0) / denominator, 0.0)
