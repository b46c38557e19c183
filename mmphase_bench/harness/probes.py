"""The spectral probe (the leaderboard's headline since harness/2) and the authors' short probe,
recorded beside the converged probe of :mod:`mmphase_bench.harness.probe`.

Why: the converged, standardised probe reads a label out of *any* direction of the features, however
little variance it carries, so it cannot tell an encoder that keeps the signal among its dominant
directions from one that keeps it only in a faint one; the short probe of the paper's code mostly
measures feature scale. Neither is the recovery notion of the theory (Kamai et al. 2026: the signal
is recovered when it lies among the dominant directions of the representation). Both extra
protocols read the same frozen features and splits as the converged probe. The headline is the
spectral probe's ``auc`` (``metrics.spectral_auc``): it does not select on test, it is invariant to
rescaling and rotating the features, and it measures whether the label is carried by the dominant
directions of the representation.

**Spectral probe** (:func:`spectral_probe`). With ``X`` the ``n x d`` training features and ``mu`` their
mean, the thin SVD ``X - 1 mu^T = U S V^T`` gives the principal directions (the rows ``v_1..v_k`` of
``V^T``, ``k`` the numerical rank: singular values ``s_i > s_1 max(n, d) eps``, with ``eps`` of float32 for a
regression (the features' own precision) and of float64 for a classification: :func:`principal_directions`). For each ``r`` of a
log-spaced grid ``R`` (:func:`spectral_ranks`: the unique integers of ``round(k^(j/7))``, ``j = 0..7``, so
always ``1`` and ``k``), every split's features ``F`` become the top-``r`` scores ``Z_r = (F - 1 mu^T) V_r``,
standardised with the training scores' mean and standard deviation, and the converged probe of
:mod:`~mmphase_bench.harness.probe` is fitted on them (penalty chosen on validation, refit on train +
validation, scored once on test), giving ``m(r)`` (top-1 or R^2). Summaries:

- ``auc`` = ``(1 / log k) * sum_i (m(r_i) + m(r_{i+1})) / 2 * (log r_{i+1} - log r_i)``: the mean of
  ``m`` over ``log r`` (trapezoids on the grid); ``m(1)`` when ``k = 1``.
- ``r90`` = the smallest ``r`` in ``R`` with ``m(r) >= 0.9 m(k)`` (null when ``m(k) <= 0``, a regression
  that explains nothing).
- ``full`` = ``m(k)``.

The raw features are not standardised (that would change which directions dominate), so the
summaries are invariant to a global rescaling ``F -> c F`` and to a rotation ``F -> F Q``
(``Q`` orthogonal): both leave ``Z_r`` unchanged up to the sign of each column, which the standardised
L2 probe does not see (up to the solver's tolerance, and for distinct singular values).

**Reference probe** (:func:`reference_probe`): the protocol of the authors' code (their
``src/dsprites/train.py``; see the notes on it): for each probe size ``n_j`` of
``logspace(2, 4, 10)`` (integers; capped at the training split, where their code drops the larger
sizes) a seeded subsample of the training split, a linear layer ``W x + b`` on the raw features
initialised as ``torch.nn.Linear`` does (``W, b ~ U(-1/sqrt(d), 1/sqrt(d))``), and 50 full-batch Adam
steps at learning rate ``1e-3`` on the cross-entropy (classification: their protocol) or on the mean
squared error (regression, scored by R^2: our extension, ``variant`` ``"extension"``). Ours chooses the
size with the best *validation* score (ties: the smaller size) and reports its *test* score;
``reference_literal`` is the best *test* score over the sizes, what the paper's figure plots (there on
the split early stopping used): for reproducing the paper only, it selects on the split it reports.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler

from mmphase_bench.errors import InputError
from mmphase_bench.harness.probe import _fit, _score, _select
from mmphase_bench.harness.results import log_rank_auc, rank_evidence, recompute_metrics

#: The authors' probe sizes: ``np.logspace(2, 4, num=10, dtype=int)``.
REFERENCE_SIZES = tuple(int(s) for s in np.logspace(2, 4, num=10, dtype=int))
REFERENCE_STEPS = 50
REFERENCE_LEARNING_RATE = 1e-3
#: How many ranks the spectral curve has at most (before removing repeated integers).
SPECTRAL_POINTS = 8
LITERAL_NOTE = "for reproducing the paper only"
#: The machine epsilon of the spectral probe's numerical-rank rule, by probe kind (:func:`principal_directions`).
RANK_EPS = {"regression": float(np.finfo(np.float32).eps), "classification": float(np.finfo(np.float64).eps)}


def _headline_key(kind: str) -> str:
    if kind not in ("classification", "regression"):
        raise InputError(f"kind must be classification or regression, got {kind!r}")
    return "top1" if kind == "classification" else "r2"


def _as_splits(train_f, val_f, test_f) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    splits = tuple(np.asarray(f, dtype=np.float64) for f in (train_f, val_f, test_f))
    for name, f in zip(("train_f", "val_f", "test_f"), splits):
        if f.ndim != 2 or len(f) == 0 or f.shape[1] != splits[0].shape[1]:
            raise InputError(f"{name} must be a non-empty (examples, features) array of the training split's width, "
                             f"got shape {f.shape}")
        if not np.all(np.isfinite(f)):
            raise InputError(f"{name} holds NaN or infinite values")
    return splits


def spectral_ranks(width: int, points: int = SPECTRAL_POINTS) -> tuple[int, ...]:
    """The unique integers ``round(width^(j / (points - 1)))``, ``j = 0..points-1``: log-spaced from 1
    to ``width``, both included."""
    if not isinstance(width, (int, np.integer)) or width < 1:
        raise InputError(f"width must be a positive integer, got {width!r}")
    if not isinstance(points, (int, np.integer)) or points < 2:
        raise InputError(f"points must be an integer of at least 2, got {points!r}")
    grid = np.unique(np.rint(np.geomspace(1, int(width), int(points))).astype(int))
    return tuple(int(r) for r in grid)


def spectral_summary(ranks, values) -> tuple[float, int | None]:
    """(auc, r90) of a curve ``values[i] = m(ranks[i])``, ``ranks`` increasing, as in the module docstring."""
    ranks, values = np.asarray(ranks, dtype=np.float64), np.asarray(values, dtype=np.float64)
    auc = log_rank_auc(np.maximum(ranks, 1), values)
    full = values[-1]
    r90 = None if full <= 0 else int(ranks[np.argmax(values >= 0.9 * full)])
    return auc, r90


def spectral_probe(train_f, train_t, val_f, val_t, test_f, test_t, *, kind: str, points: int = SPECTRAL_POINTS) -> dict:
    """The converged probe on the top-``r`` principal components of the training features, for ``r``
    log-spaced from 1 to the numerical rank ``k`` (the feature width, unless the training split has
    fewer examples or degenerate features); see the module docstring for the formulas.

    Constant (collapsed) training features have rank 0: the curve is then one point, ``r = 1``, of
    the probe on one constant column (it predicts the training prior: chance), and ``width`` is 0.

    Returns ``{"metric", "width": k, "full": m(k), "auc", "r90", "curve", "evidence"}`` with one
    curve entry ``{"r", <the probe's test metrics>, "penalty"}`` per rank, and one ``evidence`` entry
    per rank (``r`` and the test confusion matrix, or sums of squares:
    :func:`~mmphase_bench.harness.results.rank_evidence`), from which ``auc`` is recomputed."""
    key = _headline_key(kind)
    train_f, val_f, test_f = _as_splits(train_f, val_f, test_f)
    mean, directions = principal_directions(train_f, kind)
    width = len(directions)
    if width:
        scores = [(f - mean) @ directions.T for f in (train_f, val_f, test_f)]
        ranks = spectral_ranks(width, points)
    else:
        scores = [np.zeros((len(f), 1)) for f in (train_f, val_f, test_f)]
        ranks = (1,)
    train_t, val_t, test_t = np.asarray(train_t), np.asarray(val_t), np.asarray(test_t)
    curve, evidence = [], []
    for r in ranks:
        scaler = StandardScaler().fit(scores[0][:, :r])
        train_z, val_z, test_z = (scaler.transform(s[:, :r]) for s in scores)
        penalty, _ = _select(kind, train_z, train_t, val_z, val_t)
        model = _fit(kind, penalty, np.concatenate([train_z, val_z]), np.concatenate([train_t, val_t]))
        predicted = model.predict(test_z)
        if kind == "classification":
            entry = rank_evidence(kind, test_t, predicted, model.classes_)
        else:
            entry = rank_evidence(kind, np.asarray(test_t, dtype=np.float64), np.asarray(predicted, dtype=np.float64))
        # The curve's values are the ones the evidence gives (float64 sums), so they agree exactly.
        curve.append({"r": r, **_score(kind, model, test_z, test_t), **recompute_metrics({"kind": kind, **entry}),
                      "penalty": float(penalty)})
        evidence.append({"r": r, **entry})
    values = [point[key] for point in curve]
    auc, r90 = spectral_summary([point["r"] for point in curve], values)
    return {"metric": key, "width": width, "full": float(values[-1]), "auc": auc, "r90": r90, "curve": curve,
            "evidence": evidence}


def principal_directions(train_f: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean (d,), directions (k, d)) of the training features: the principal directions ``v_1..v_k``
    (rows, by decreasing singular value) of the centred features, ``k`` their numerical rank.

    The rank counts the singular values ``s_i > s_1 max(n, d) eps``, the rule of
    ``numpy.linalg.matrix_rank``, with ``eps`` = :data:`RANK_EPS` ``[kind]``:

    - ``regression``: the machine epsilon of **float32**, the precision the harness computes every
      submission's features in (:func:`~mmphase_bench.harness.training.embed_split`): directions
      below that level are rounding noise of the features, not directions of the representation. A
      standardised rounding-noise direction is a random coordinate whose test values have nothing to
      do with its training values, and a ridge probe that uses it can score any R^2: measured on the
      stellar suite's Kepler cell (``reconstruct-reverse``, seed 0, 4,000 training stars), 26 of 128
      singular values lay at ``1e-8 s_1`` and the full-width probe scored R^2 = -22 (spectral AUC
      -0.81); with this rule the width is 89, the full-width R^2 0.937 and the AUC 0.822.
    - ``classification``: the machine epsilon of float64, as harness/2 has published its results
      with (an accuracy stays in [0, 1] whatever a noise direction does). The float32 rule would
      change them: it cuts the rank of ``supervised`` on Stereo-dSprites (jitter 0, noise 0.5, seed 0)
      from 128 to 29 and of ``vicreg`` on Stereo-Shapes3D to 23, so it waits for the next protocol
      version.

    Collapsed (constant) features have rank 0."""
    if kind not in RANK_EPS:
        raise InputError(f"kind must be classification or regression, got {kind!r}")
    train_f = np.asarray(train_f, dtype=np.float64)
    mean = train_f.mean(axis=0)
    centred = train_f - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    if not singular.size or singular[0] <= 0:
        return mean, vt[:0]
    tolerance = singular[0] * max(centred.shape) * RANK_EPS[kind]
    return mean, vt[:int(np.sum(singular > tolerance))]


def _reference_sizes(n_train: int, sizes) -> list[int]:
    if not sizes or any(not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
        raise InputError(f"sizes must be positive integers, got {sizes!r}")
    return sorted({min(int(s), n_train) for s in sizes})


def reference_probe(train_f, train_t, val_f, val_t, test_f, test_t, *, kind: str, seed: int,
                    sizes=REFERENCE_SIZES, steps: int = REFERENCE_STEPS,
                    learning_rate: float = REFERENCE_LEARNING_RATE) -> dict:
    """The authors' short probe (module docstring), in float64 on the CPU, seeded by ``seed`` through
    one ``torch.Generator`` (subsamples, then initial weights, size by size).

    Returns ``{"reference": {...}, "reference_literal": {...}}``: ``reference`` has ``metric``,
    ``variant`` (``authors`` for classification, ``extension`` for regression), ``value`` (test score at
    the size chosen on validation), ``size``, ``steps``, ``learning_rate`` and ``curve`` (per size
    ``{"n", "val", "test"}``); ``reference_literal`` has ``metric``, ``value`` (the best test score over
    the sizes), ``size`` and ``note``."""
    key = _headline_key(kind)
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InputError(f"steps must be a positive integer, got {steps!r}")
    if not (isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate) and learning_rate > 0):
        raise InputError(f"learning_rate must be a positive finite number, got {learning_rate!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    train_f, val_f, test_f = _as_splits(train_f, val_f, test_f)
    train_t, val_t, test_t = np.asarray(train_t), np.asarray(val_t), np.asarray(test_t)
    features = [torch.from_numpy(np.ascontiguousarray(f)) for f in (train_f, val_f, test_f)]
    if kind == "classification":
        classes = np.unique(train_t)
        target = torch.from_numpy(np.searchsorted(classes, train_t).astype(np.int64))
        outputs = len(classes)
    else:
        target = torch.from_numpy(np.asarray(train_t, dtype=np.float64).reshape(len(train_t), -1))
        outputs = target.shape[1]

    def score(weight, bias, f, t) -> float:
        with torch.no_grad():
            out = f @ weight.T + bias
        if kind == "classification":
            return float(np.mean(classes[out.argmax(dim=1).numpy()] == t))
        y_true = np.asarray(t, dtype=np.float64)
        return float(r2_score(y_true, out.numpy().reshape(y_true.shape)))

    generator = torch.Generator().manual_seed(int(seed))
    d = train_f.shape[1]
    bound = 1.0 / math.sqrt(d)

    def train_sizes() -> list[dict]:
        curve = []
        for size in _reference_sizes(len(train_f), sizes):
            index = torch.randperm(len(train_f), generator=generator)[:size]
            x, y = features[0][index], target[index]
            weight = ((torch.rand(outputs, d, generator=generator, dtype=torch.float64) * 2 - 1) * bound).requires_grad_()
            bias = ((torch.rand(outputs, generator=generator, dtype=torch.float64) * 2 - 1) * bound).requires_grad_()
            optimiser = torch.optim.Adam([weight, bias], lr=learning_rate)
            for _ in range(int(steps)):
                out = x @ weight.T + bias
                loss = F.cross_entropy(out, y) if kind == "classification" else F.mse_loss(out, y)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            curve.append({"n": int(size), "val": score(weight, bias, features[1], val_t),
                          "test": score(weight, bias, features[2], test_t)})
        return curve

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny problems: one thread is many times faster, and the sums do not depend on the count
    try:
        curve = train_sizes()
    finally:
        torch.set_num_threads(threads)
    chosen = max(curve, key=lambda point: point["val"])  # the first (smallest) size of the best
    literal = max(curve, key=lambda point: point["test"])
    return {
        "reference": {"metric": key, "variant": "authors" if kind == "classification" else "extension",
                      "value": chosen["test"], "size": chosen["n"], "steps": int(steps),
                      "learning_rate": float(learning_rate), "curve": curve},
        "reference_literal": {"metric": key, "value": literal["test"], "size": literal["n"], "note": LITERAL_NOTE},
    }


def extra_probes(train_f, train_t, val_f, val_t, test_f, test_t, *, kind: str, seed: int) -> dict:
    """The result's ``probes`` section: ``spectral`` (with its per-rank ``evidence``, which the
    harness moves to the result's ``evidence.spectral``), ``reference`` and ``reference_literal``."""
    splits = (train_f, train_t, val_f, val_t, test_f, test_t)
    return {"spectral": spectral_probe(*splits, kind=kind), **reference_probe(*splits, kind=kind, seed=seed)}
