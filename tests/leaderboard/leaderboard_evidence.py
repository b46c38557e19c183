"""Test helper: evidence that gives a made-up result's metrics, so that tables of invented values
(rendering, aggregation) pass ``check``, which recomputes every metric from the evidence."""

import copy

from mmphase_bench.harness.results import protocol_hash

#: Test examples of invented classification evidence: top-1 = k / N is within 1e-12 of any value.
N_INVENTED = 2 ** 40


def matching_evidence(result: dict) -> dict:
    """``result`` (a copy) with evidence rebuilt from its metrics: R^2 from ss_res = 1 - r2 and
    ss_tot = 1; top-1 from a 2 x 2 confusion matrix of :data:`N_INVENTED` examples (the scale's
    ``n_test`` set to match), balanced accuracy set to what that matrix gives."""
    result = copy.deepcopy(result)
    metrics = result["metrics"]
    hashes = {key: result["evidence"][key] for key in ("predictions_sha256", "targets_sha256")}
    if "r2" in metrics:
        n = result["evidence"]["n"]
        result["evidence"] = {"kind": "regression", "n": n, "ss_res": [1.0 - metrics["r2"]], "ss_tot": [1.0], **hashes}
    else:
        half = N_INVENTED // 2
        correct = round(metrics["top1"] * N_INVENTED)
        first = min(correct, half)
        second = correct - first
        matrix = [[first, half - first], [half - second, second]]
        result["evidence"] = {"kind": "classification", "n": N_INVENTED, "confusion_matrix": matrix, **hashes}
        result["scale_config"] = dict(result["scale_config"], n_test=N_INVENTED)
        metrics["balanced_accuracy"] = (first / half + second / half) / 2
    metrics.setdefault("penalty", 1.0)
    return rehash(result)


def rehash(result: dict) -> dict:
    """``result`` with its protocol hash recomputed from the suite, cell, scale and source hash it now
    records (``check`` refuses a hash that does not match them), for tests that edit those fields."""
    result["provenance"]["protocol_hash"] = protocol_hash(
        result["suite"], result["cell"]["config"], result["scale_config"], result["submission"]["source_hash"],
        protocol=result["provenance"]["protocol_version"],
    )
    return result
