"""The frozen linear probe: separable features are read out, noise is not, the penalty is chosen on
validation only, and the probe-size curve has one point per distinct size."""

import numpy as np
import pytest

from mmphase_bench.harness import probe as probe_module
from mmphase_bench.harness.probe import ALPHA_GRID, C_GRID, linear_probe


def _classes(n, rng, separation, d=8, n_classes=3):
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    centres = np.zeros((n_classes, d))
    centres[np.arange(n_classes), np.arange(n_classes)] = separation
    return centres[labels] + rng.standard_normal((n, d)), labels


def _splits(separation, seed=0, sizes=(300, 150, 600)):
    rng = np.random.default_rng(seed)
    return [_classes(n, rng, separation) for n in sizes]


def _probe(splits, sizes=(32, 64, 128, 256), seed=0, kind="classification"):
    (train_f, train_t), (val_f, val_t), (test_f, test_t) = splits
    return linear_probe(train_f, train_t, val_f, val_t, test_f, test_t, kind=kind, sizes=sizes, seed=seed)


def test_separable_features_are_read_out():
    result = _probe(_splits(separation=8.0))
    assert result.metrics["top1"] > 0.95
    assert result.metrics["balanced_accuracy"] > 0.95
    assert result.metrics["penalty"] in C_GRID
    assert all(point["top1"] > 0.9 for point in result.curve)


def test_noise_features_give_chance():
    result = _probe(_splits(separation=0.0))
    assert result.metrics["top1"] < 0.6
    assert result.metrics["balanced_accuracy"] < 0.6
    assert all(point["top1"] < 0.6 for point in result.curve)


def test_the_penalty_is_chosen_on_validation_only():
    splits = _splits(separation=1.0, seed=3)
    clean = _probe(splits)
    (train, val, (test_f, test_t)) = splits
    rng = np.random.default_rng(0)
    for adversarial in ((test_t + 1) % 3, rng.permutation(test_t)):
        other = _probe([train, val, (test_f, adversarial)])
        assert other.metrics["penalty"] == clean.metrics["penalty"]
        assert [p["penalty"] for p in other.curve] == [p["penalty"] for p in clean.curve]
        assert other.metrics["top1"] < clean.metrics["top1"]  # the test labels did change the score
    # Changing the validation labels does change the choice.
    shuffled_val = (val[0], np.random.default_rng(1).permutation(val[1]))
    moved = _probe([train, shuffled_val, (test_f, test_t)])
    assert [p["penalty"] for p in moved.curve] != [p["penalty"] for p in clean.curve] or moved.metrics["penalty"] != clean.metrics["penalty"]


def test_selection_scores_only_validation_targets(monkeypatch):
    """Spy on the selection: it is fitted on (a subsample of) train and scored on validation."""
    splits = _splits(separation=2.0, seed=5)
    (train_f, train_t), (val_f, val_t), (test_f, test_t) = splits
    calls = []
    original = probe_module._select

    def spy(kind, fit_f, fit_t, score_f, score_t):
        calls.append((fit_t, score_t))
        return original(kind, fit_f, fit_t, score_f, score_t)

    monkeypatch.setattr(probe_module, "_select", spy)
    _probe(splits)
    assert len(calls) == 1 + 4  # the headline choice and one per curve size
    for fit_t, score_t in calls:
        assert score_t is val_t
        assert len(fit_t) <= len(train_t)


def test_ties_go_to_the_strongest_regularisation():
    # Perfectly separable with a margin: every C gives 100% validation accuracy.
    result = _probe(_splits(separation=30.0))
    assert result.metrics["penalty"] == min(C_GRID)


def test_curve_has_one_entry_per_distinct_size():
    splits = _splits(separation=3.0, sizes=(200, 150, 300))
    result = _probe(splits, sizes=(128, 16, 64, 64, 16))
    assert [point["n"] for point in result.curve] == [16, 64, 128]
    for point in result.curve:
        assert set(point) == {"n", "top1", "balanced_accuracy", "penalty"}


def test_curve_sizes_are_clipped_to_the_training_set():
    splits = _splits(separation=3.0, sizes=(100, 150, 300))
    result = _probe(splits, sizes=(32, 64, 128, 256))
    assert [point["n"] for point in result.curve] == [32, 64, 100]


def test_curve_is_seeded():
    splits = _splits(separation=1.0, seed=2)
    assert _probe(splits, seed=4).curve == _probe(splits, seed=4).curve
    assert _probe(splits, seed=4).metrics == _probe(splits, seed=9).metrics  # the headline uses all of train


def test_curve_skips_subsamples_with_a_single_class():
    rng = np.random.default_rng(0)
    train_f = rng.standard_normal((100, 4))
    train_t = np.zeros(100, dtype=int)
    train_t[:2] = 1  # 2 of 100: a subsample of 2 is very likely single-class
    val_f, val_t = rng.standard_normal((60, 4)), np.arange(60) % 2
    result = linear_probe(train_f, train_t, val_f, val_t, val_f, val_t, kind="classification", sizes=(2, 100), seed=1)
    sizes = [point["n"] for point in result.curve]
    assert sizes == [100]


def test_regression_reaches_r2_near_one_for_a_linear_target():
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((10, 3))

    def split(n):
        features = rng.standard_normal((n, 10))
        return features, features @ weights + 0.01 * rng.standard_normal((n, 3))

    result = _probe([split(300), split(150), split(400)], kind="regression")
    assert result.metrics["r2"] > 0.99
    assert result.metrics["penalty"] in ALPHA_GRID
    assert "top1" not in result.metrics
    assert [p["n"] for p in result.curve] == [32, 64, 128, 256]
    assert all(p["r2"] > 0.95 for p in result.curve)


def test_regression_on_noise_gives_r2_near_zero():
    rng = np.random.default_rng(1)

    def split(n):
        return rng.standard_normal((n, 10)), rng.standard_normal((n, 2))

    result = _probe([split(300), split(150), split(400)], kind="regression")
    assert result.metrics["r2"] < 0.05


# ------------------------------------------------------------------ evidence of the headline score

from sklearn.metrics import balanced_accuracy_score, r2_score  # noqa: E402

from mmphase_bench.harness.results import (  # noqa: E402
    array_sha256, classification_evidence, recompute_metrics, regression_evidence,
)


def test_classification_evidence_recomputes_the_headline_exactly():
    splits = _splits(separation=1.5, seed=4)
    result = _probe(splits)
    evidence = result.evidence
    matrix = np.asarray(evidence["confusion_matrix"])
    assert evidence["kind"] == "classification" and matrix.shape == (3, 3) and matrix.sum() == evidence["n"] == 600
    recomputed = recompute_metrics(evidence)
    assert recomputed == {key: result.metrics[key] for key in ("top1", "balanced_accuracy")}  # bit for bit
    assert evidence["targets_sha256"] == array_sha256(splits[2][1], "classification")
    assert 0.4 < result.metrics["top1"] < 1.0  # not a degenerate case


@pytest.mark.parametrize("seed", range(5))
def test_classification_evidence_matches_sklearn_with_absent_and_unpredicted_classes(seed):
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, 4, 97)
    targets[targets == 3] = 2  # class 3 is known to the model but absent from the test targets
    predicted = rng.integers(0, 4, 97)
    predicted[predicted == 1] = 0  # class 1 is never predicted
    evidence = classification_evidence(targets, predicted, classes=np.arange(4))
    assert np.asarray(evidence["confusion_matrix"]).shape == (4, 4)
    with pytest.warns(UserWarning, match="y_pred contains classes not in y_true"):
        expected = balanced_accuracy_score(targets, predicted)
    assert recompute_metrics(evidence) == {"top1": float(np.mean(predicted == targets)), "balanced_accuracy": float(expected)}


@pytest.mark.parametrize("case", ["plain", "float32", "constant", "exact", "constant-exact", "one-column"])
def test_regression_evidence_matches_sklearn_r2_exactly(case):
    rng = np.random.default_rng(3)
    targets = rng.standard_normal((50, 3))
    predicted = targets + 0.5 * rng.standard_normal((50, 3))
    if case == "float32":
        targets, predicted = targets.astype(np.float32), predicted.astype(np.float32)
    if case in ("constant", "constant-exact"):
        targets[:, 1] = 2.5  # ss_tot = 0: sklearn scores the column 0 (or 1 if predicted exactly)
    if case in ("exact", "constant-exact"):
        predicted[:, 1] = targets[:, 1]
    if case == "one-column":
        targets, predicted = targets[:, 0], predicted[:, 0]
    y_true, y_pred = np.asarray(targets, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    evidence = regression_evidence(y_true, y_pred)
    assert evidence["n"] == 50 and len(evidence["ss_res"]) == (1 if case == "one-column" else 3)
    assert recompute_metrics(evidence) == {"r2": float(r2_score(y_true, y_pred))}  # bit for bit
    if case == "constant":
        assert evidence["ss_tot"][1] == 0.0 and evidence["ss_res"][1] > 0


def test_regression_probe_evidence_recomputes_the_headline():
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((10, 3))

    def split(n):
        features = rng.standard_normal((n, 10)).astype(np.float32)
        return features, (features @ weights + rng.standard_normal((n, 3))).astype(np.float32)

    result = _probe([split(300), split(150), split(400)], kind="regression")
    assert result.evidence["kind"] == "regression" and result.evidence["n"] == 400
    assert recompute_metrics(result.evidence) == {"r2": result.metrics["r2"]}
    assert 0.5 < result.metrics["r2"] < 1.0
