"""The probe tasks of a several-label suite: balanced logistic and ridge probes, converged and spectral."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler

from mmphase_bench.errors import InputError
from mmphase_bench.harness.tasks import MIN_LABELLED, ProbeTask, task_probe, task_probes

BINARY = ProbeTask("binarity", "classification")
GRAVITY = ProbeTask("logg", "regression")


def splits(features, targets, sizes=(600, 200, 200)):
    out, start = [], 0
    for size in sizes:
        out += [features[start:start + size], targets[start:start + size]]
        start += size
    return out


def test_a_task_needs_a_known_kind():
    with pytest.raises(InputError, match="kind must be one of"):
        ProbeTask("age", "ranking")
    assert GRAVITY.metric == "r2" and BINARY.to_dict()["metric"] == "balanced_accuracy"


def test_balanced_probe_does_not_score_by_the_majority_class():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(1000, 8))
    labels = (rng.random(1000) < 0.1).astype(float)  # 90 % single stars, features carry nothing
    record = task_probe(BINARY, *splits(features, labels))
    # Predicting "single" everywhere has top-1 0.9 but balanced accuracy 0.5.
    assert abs(record["value"] - 0.5) < 0.12
    informative = features.copy()
    informative[:, 0] += 3 * labels
    assert task_probe(BINARY, *splits(informative, labels))["value"] > 0.85


def test_regression_probe_matches_scikit_learn_at_the_chosen_penalty():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(1000, 6))
    target = features @ rng.normal(size=6) + 0.5 * rng.normal(size=1000)
    record = task_probe(GRAVITY, *splits(features, target))
    train_f, train_t, val_f, val_t, test_f, test_t = splits(features, target)
    scaler = StandardScaler().fit(train_f)
    model = Ridge(alpha=record["penalty"]).fit(scaler.transform(np.concatenate([train_f, val_f])),
                                               np.concatenate([train_t, val_t]))
    assert record["value"] == pytest.approx(r2_score(test_t, model.predict(scaler.transform(test_f))), abs=1e-12)
    assert record["n"] == {"train": 600, "val": 200, "test": 200}


def test_unknown_labels_are_left_out_split_by_split():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(1000, 4))
    target = features[:, 0].copy()
    target[::4] = np.nan
    record = task_probe(GRAVITY, *splits(features, target))
    assert record["n"] == {"train": 450, "val": 150, "test": 150}
    assert record["value"] > 0.99


def test_too_few_labels_give_no_value_and_say_why():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(1000, 4))
    target = np.full(1000, np.nan)
    target[:MIN_LABELLED - 1] = 1.0
    record = task_probe(GRAVITY, *splits(features, target))
    assert record["value"] is None and "fewer than" in record["reason"]
    one_class = np.zeros(1000)
    assert "two classes" in task_probe(BINARY, *splits(features, one_class))["reason"]


def test_the_spectral_probe_sees_whether_the_label_is_in_the_dominant_directions():
    rng = np.random.default_rng(4)
    n = 1000
    target = rng.normal(size=n)
    noise = rng.normal(size=(n, 16)) * np.geomspace(10, 1, 16)
    dominant, faint = noise.copy(), noise.copy()
    dominant[:, 0] = 10 * target  # the label along the largest direction
    faint[:, -1] = 0.5 * target  # the label along the smallest direction
    strong = task_probe(GRAVITY, *splits(dominant, target))
    weak = task_probe(GRAVITY, *splits(faint, target))
    # Both carry the label linearly (the converged probe reads it from any direction) ...
    assert strong["value"] > 0.95 and weak["value"] > 0.95
    # ... but only one carries it among its dominant directions.
    assert strong["spectral_auc"] > 0.9 and weak["spectral_auc"] < 0.4
    assert strong["spectral_r90"] == 1 and weak["spectral_r90"] == 16


def test_the_spectral_score_does_not_change_when_features_are_rescaled_or_rotated():
    rng = np.random.default_rng(5)
    features = rng.normal(size=(1000, 8)) * np.geomspace(4, 1, 8)
    target = features[:, 2] + 0.3 * rng.normal(size=1000)
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    base = task_probe(GRAVITY, *splits(features, target))
    for changed in (100 * features, features @ rotation):
        record = task_probe(GRAVITY, *splits(changed, target))
        assert record["spectral_auc"] == pytest.approx(base["spectral_auc"], abs=0.01)


def test_task_probes_runs_every_task_on_the_same_features():
    rng = np.random.default_rng(6)
    features = {split: rng.normal(size=(size, 5)) for split, size in (("train", 300), ("val", 100), ("test", 100))}
    labels = {split: {"logg": f[:, 0], "binarity": (f[:, 1] > 0).astype(float)} for split, f in features.items()}
    out = task_probes((GRAVITY, BINARY), features, labels)
    assert set(out) == {"logg", "binarity"}
    assert out["logg"]["value"] > 0.99 and out["binarity"]["value"] > 0.9
