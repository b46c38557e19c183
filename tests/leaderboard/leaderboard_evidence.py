"""Test helper: evidence that gives a made-up result's metrics, so that tables of invented values
(rendering, aggregation) pass ``check``, which recomputes every metric from the evidence."""

import copy

from mmphase_bench.harness.probes import spectral_summary
from mmphase_bench.harness.results import protocol_hash, recompute_metrics, recompute_spectral_auc

#: Test examples of invented classification evidence: top-1 = k / N is within 1e-12 of any value.
N_INVENTED = 2 ** 40
#: The rank grid of invented spectral curves (log-spaced, as the spectral probe's).
INVENTED_RANKS = (1, 2, 3, 4)  # the spectral probe's ranks for features of width 4


def _confusion_matrix(top1: float) -> list[list[int]]:
    """A 2 x 2 confusion matrix of :data:`N_INVENTED` examples with top-1 within 1e-12 of ``top1``."""
    half = N_INVENTED // 2
    correct = round(top1 * N_INVENTED)
    first = min(correct, half)
    second = correct - first
    return [[first, half - first], [half - second, second]]


def invented_curve(auc: float, kind: str) -> list[float]:
    """Values at :data:`INVENTED_RANKS` rising around ``auc`` whose mean over log r (trapezoids) is
    ``auc``; kept in [0, 1] for top-1 and at most 1 for R^2."""
    import numpy as np

    logs = np.log(INVENTED_RANKS)
    steps = np.diff(logs)
    weights = (np.concatenate([[0.0], steps]) + np.concatenate([steps, [0.0]])) / 2 / (logs[-1] - logs[0])
    shape = np.array([-1.0, -1 / 3, 1 / 3, 1.0])
    shape -= float(weights @ shape)  # a trapezoid mean of zero
    room = 1.0 - auc if kind == "regression" else min(auc, 1.0 - auc)
    d = max(0.0, min(0.06, room)) / float(np.max(np.abs(shape)))
    return [float(auc + d * a) for a in shape]


def matching_evidence(result: dict) -> dict:
    """``result`` (a copy) with evidence rebuilt from its metrics: R^2 from ss_res = 1 - r2 and
    ss_tot = 1; top-1 from a 2 x 2 confusion matrix of :data:`N_INVENTED` examples (the scale's
    ``n_test`` set to match), balanced accuracy set to what that matrix gives.

    A result of protocol harness/2 (or later) must give its headline ``metrics.spectral_auc``: it gets
    ``evidence.spectral`` (one entry per rank of :data:`INVENTED_RANKS`, a curve around the invented
    value, see :func:`invented_curve`), ``metrics.spectral_auc`` set to what that evidence recomputes to
    (within 1e-12 of the invented value), and a ``probes.spectral`` section with that curve and AUC."""
    result = copy.deepcopy(result)
    metrics = result["metrics"]
    hashes = {key: result["evidence"][key] for key in ("predictions_sha256", "targets_sha256")}
    if "r2" in metrics:
        kind = "regression"
        n = result["evidence"]["n"]
        result["evidence"] = {"kind": "regression", "n": n, "ss_res": [1.0 - metrics["r2"]], "ss_tot": [1.0], **hashes}
    else:
        kind = "classification"
        matrix = _confusion_matrix(metrics["top1"])
        result["evidence"] = {"kind": "classification", "n": N_INVENTED, "confusion_matrix": matrix, **hashes}
        result["scale_config"] = dict(result["scale_config"], n_test=N_INVENTED)
        metrics["balanced_accuracy"] = recompute_metrics(result["evidence"])["balanced_accuracy"]
    metrics.setdefault("penalty", 1.0)
    if result["provenance"]["protocol_version"] != "harness/1":
        if "spectral_auc" not in metrics:
            raise AssertionError("a harness/2 result needs an invented metrics.spectral_auc (its headline)")
        add_spectral_evidence(result, invented_curve(metrics["spectral_auc"], kind))
    return rehash(result)


def add_spectral_evidence(result: dict, values, ranks=INVENTED_RANKS) -> dict:
    """``result`` (edited in place) with ``evidence.spectral`` giving the curve ``values`` at ``ranks``,
    ``metrics.spectral_auc`` and ``probes.spectral`` set to what that evidence gives, as the harness
    records them (the curve's values are the evidence's, the AUC is the recomputed one)."""
    evidence = result["evidence"]
    kind = evidence["kind"]
    key = "top1" if kind == "classification" else "r2"
    entries = []
    for r, value in zip(ranks, values, strict=True):
        if kind == "classification":
            entries.append({"r": r, "confusion_matrix": _confusion_matrix(value)})
        else:
            entries.append({"r": r, "ss_res": [1.0 - value], "ss_tot": [1.0]})
    evidence["spectral"] = entries
    curve = [{"r": entry["r"], key: recompute_metrics({"kind": kind, **entry})[key], "penalty": 1.0} for entry in entries]
    auc = recompute_spectral_auc(evidence)
    result["metrics"]["spectral_auc"] = auc
    if result.get("probes") is not None:
        _, r90 = spectral_summary([point["r"] for point in curve], [point[key] for point in curve])
        result["probes"]["spectral"] = {"metric": key, "width": ranks[-1], "full": curve[-1][key], "auc": auc, "r90": r90,
                                        "curve": curve}
    return result


def as_harness1(result: dict) -> dict:
    """``result`` (a copy) as a consistent result of the older protocol harness/1 (as read from its
    schema-3 file, migrated): no ``metrics.spectral_auc``, no ``evidence.spectral``, its protocol hash
    recomputed for harness/1."""
    result = copy.deepcopy(result)
    result["metrics"].pop("spectral_auc", None)
    if result.get("evidence") is not None:
        result["evidence"].pop("spectral", None)
    result["provenance"]["protocol_version"] = "harness/1"
    return rehash(result)


def rehash(result: dict) -> dict:
    """``result`` with its protocol hash recomputed from the suite, cell, scale and source hash it now
    records (``check`` refuses a hash that does not match them), for tests that edit those fields."""
    result["provenance"]["protocol_hash"] = protocol_hash(
        result["suite"], result["cell"]["config"], result["scale_config"], result["submission"]["source_hash"],
        protocol=result["provenance"]["protocol_version"],
    )
    return result
