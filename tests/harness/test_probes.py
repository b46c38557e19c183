"""The spectral and reference probes: what they are invariant to, what they see that the converged
probe does not, their determinism and their scale sensitivity."""

import numpy as np
import pytest

from mmphase_bench.errors import InputError
from mmphase_bench.harness.probe import linear_probe
from mmphase_bench.harness.probes import (
    LITERAL_NOTE, REFERENCE_SIZES, extra_probes, principal_directions, reference_probe, spectral_probe, spectral_ranks, spectral_summary,
)
from mmphase_bench.harness.results import log_rank_auc, recompute_metrics, recompute_spectral_auc

SIZES = (300, 150, 600)


def _spiked_clusters(seed=0, d=16, n_classes=3):
    """Classes separated along the two leading directions of an anisotropic cloud (column standard
    deviations from 4 down to 0.25, all distinct), in a random basis."""
    rng = np.random.default_rng(seed)
    scales = np.geomspace(4.0, 0.25, d)
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    centres = np.zeros((n_classes, d))
    centres[:, :2] = 12.0 * np.stack([np.cos(2 * np.pi * np.arange(n_classes) / n_classes),
                                      np.sin(2 * np.pi * np.arange(n_classes) / n_classes)], axis=1)
    splits = []
    for n in SIZES:
        labels = rng.integers(0, n_classes, n)
        splits.append(((centres[labels] + rng.standard_normal((n, d)) * scales) @ basis, labels))
    return splits


def _faint_signal(seed=0, d=16):
    """Two classes told apart only along the lowest-variance direction (std 0.05 against 1 to 5)."""
    rng = np.random.default_rng(seed)
    scales = np.linspace(5.0, 1.0, d)
    scales[-1] = 0.05
    splits = []
    for n in SIZES:
        labels = rng.integers(0, 2, n)
        features = rng.standard_normal((n, d)) * scales
        features[:, -1] += 0.3 * (2 * labels - 1)
        splits.append((features, labels))
    return splits


def _flat(splits, transform=lambda f: f):
    return [a for f, t in splits for a in (transform(f), t)]


def test_ranks_are_log_spaced_unique_and_include_both_ends():
    assert spectral_ranks(128) == (1, 2, 4, 8, 16, 32, 64, 128)
    assert spectral_ranks(1) == (1,)
    for width in (2, 3, 20, 129):
        ranks = spectral_ranks(width)
        assert ranks[0] == 1 and ranks[-1] == width and list(ranks) == sorted(set(ranks)) and len(ranks) <= 8
    for bad in (0, -3, 2.5):
        with pytest.raises(InputError, match="width must be a positive integer"):
            spectral_ranks(bad)


def test_summary_follows_the_definitions():
    auc, r90 = spectral_summary([1, 2, 4], [0.2, 0.6, 1.0])
    assert auc == pytest.approx(((0.2 + 0.6) / 2 + (0.6 + 1.0) / 2) / 2) and r90 == 4
    assert spectral_summary([1, 10, 100], [0.5, 0.95, 1.0]) == (pytest.approx((0.725 + 0.975) / 2), 10)
    assert spectral_summary([1, 4], [-0.2, -0.1])[1] is None  # a regression that explains nothing
    assert spectral_summary([1], [0.7]) == (0.7, 1)


@pytest.mark.parametrize("name, transform", [
    ("scaled by 100", lambda f: 100.0 * f),
    ("rotated", lambda f: f @ np.linalg.qr(np.random.default_rng(7).standard_normal((16, 16)))[0]),
])
def test_spectral_summaries_ignore_scale_and_rotation(name, transform):
    splits = _spiked_clusters()
    plain = spectral_probe(*_flat(splits), kind="classification")
    moved = spectral_probe(*_flat(splits, transform), kind="classification")
    assert plain["width"] == moved["width"] == 16
    assert abs(plain["auc"] - moved["auc"]) <= 0.01, name
    assert abs(plain["full"] - moved["full"]) <= 0.01, name
    assert plain["r90"] == moved["r90"], name
    assert max(abs(a["top1"] - b["top1"]) for a, b in zip(plain["curve"], moved["curve"])) <= 0.01
    # the signal is in the two leading directions: recovered early, and the curve is not flat
    assert plain["r90"] <= 2 and plain["full"] > 0.9 and plain["curve"][0]["top1"] < plain["full"]


def test_a_signal_in_a_faint_direction_is_not_recovered_though_the_converged_probe_reads_it():
    splits = _faint_signal()
    converged = linear_probe(*_flat(splits), kind="classification", sizes=(300,), seed=0)
    spectral = spectral_probe(*_flat(splits), kind="classification")
    assert converged.metrics["top1"] > 0.95
    assert spectral["full"] > 0.95  # all 16 components: the same information as the converged probe
    assert spectral["auc"] < 0.65 and spectral["r90"] == 16
    assert all(point["top1"] < 0.65 for point in spectral["curve"][:-1])


def test_spectral_regression_curve():
    rng = np.random.default_rng(2)
    splits = []
    for n in SIZES:
        f = rng.standard_normal((n, 6)) * np.array([3.0, 2.0, 1.5, 1.0, 0.5, 0.2])
        splits.append((f, np.stack([f[:, 0], -f[:, 1]], axis=1) + 0.1 * rng.standard_normal((n, 2))))
    result = spectral_probe(*_flat(splits), kind="regression")
    assert result["metric"] == "r2" and [p["r"] for p in result["curve"]] == [1, 2, 3, 4, 5, 6]
    assert result["curve"][0]["r2"] < 0.6 < 0.95 < result["curve"][1]["r2"] and result["r90"] == 2


def test_spectral_width_is_the_numerical_rank():
    splits = _spiked_clusters()
    padded = [(np.concatenate([f, np.zeros((len(f), 4)), f[:, :1] * 2.0], axis=1), t) for f, t in splits]
    assert spectral_probe(*_flat(padded), kind="classification")["width"] == 16


def _float32_rounded_low_rank(seed=3, d=24, rank=6, train_shift=0.0):
    """Regression features of rank ``rank`` in ``d`` columns, rounded to float32 as the harness's
    features are: the other ``d - rank`` principal directions hold only rounding noise (about
    ``1e-8`` of the top singular value). The target is a linear function of the first two latents."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((rank, d)) * np.geomspace(3.0, 0.3, rank)[:, None]
    splits = []
    for n in SIZES:
        latents = rng.standard_normal((n, rank))
        features = (100.0 + latents @ mixing).astype(np.float32).astype(np.float64)  # an offset: rounding matters
        splits.append((features, latents[:, 0] - latents[:, 1] + 0.1 * rng.standard_normal(n)))
    return splits


def test_rounding_noise_directions_are_not_part_of_the_rank():
    splits = _float32_rounded_low_rank()
    mean, directions = principal_directions(splits[0][0], "regression")
    singular = np.linalg.svd(splits[0][0] - mean, compute_uv=False)
    # The float64 rule of numpy.linalg.matrix_rank would count the rounding noise: the data have it.
    assert np.sum(singular > singular[0] * max(splits[0][0].shape) * np.finfo(np.float64).eps) == 24
    assert directions.shape == (6, 24) and np.allclose(directions @ directions.T, np.eye(6))
    result = spectral_probe(*_flat(splits), kind="regression")
    assert result["width"] == 6 and [p["r"] for p in result["curve"]][-1] == 6
    # Every point of the curve is a sane R^2 (the full-width probe explained the target before the rule).
    assert all(0.0 <= p["r2"] <= 1.0 for p in result["curve"]) and result["full"] > 0.95
    # Classification keeps harness/2's float64 rule (its published results were computed with it).
    assert len(principal_directions(splits[0][0], "classification")[1]) == 24


@pytest.mark.parametrize("value", [0.0, 1.0, -3.5])
def test_constant_features_score_the_majority_class_rate(value):
    """Collapsed (constant) features have no principal component: width 0 and a one-point curve at
    r = 1, the probe on one constant column, which predicts the majority class of its training data
    (train and validation, as the converged probe is refitted on both)."""
    splits = _spiked_clusters()
    constant = [(np.full_like(f, value), t) for f, t in splits]
    result = spectral_probe(*_flat(constant), kind="classification")
    (_, train_t), (_, val_t), (_, test_t) = splits
    majority = np.bincount(np.concatenate([train_t, val_t])).argmax()
    rate = float(np.mean(test_t == majority))
    assert result["width"] == 0 and [point["r"] for point in result["curve"]] == [1]
    assert result["curve"][0]["top1"] == result["full"] == result["auc"] == rate
    assert result["r90"] == 1
    assert 0.2 < rate < 0.5  # three roughly balanced classes: chance, not a good score
    (entry,) = result["evidence"]
    assert entry["r"] == 1 and recompute_metrics({"kind": "classification", **entry})["top1"] == rate
    assert recompute_spectral_auc({"kind": "classification", "spectral": result["evidence"]}) == result["auc"]


def test_constant_features_predict_the_prior_mean_in_regression():
    rng = np.random.default_rng(4)
    targets = [rng.standard_normal((n, 2)) * np.array([1.0, 3.0]) + np.array([0.5, -2.0]) for n in SIZES]
    splits = [(np.zeros((n, 5)), t) for n, t in zip(SIZES, targets)]
    result = spectral_probe(*_flat(splits), kind="regression")
    prior = np.concatenate(targets[:2]).mean(axis=0)  # the training (train + val) mean of each column
    test = targets[2]
    expected = np.mean(1 - ((test - prior) ** 2).sum(axis=0) / ((test - test.mean(axis=0)) ** 2).sum(axis=0))
    assert result["width"] == 0 and [point["r"] for point in result["curve"]] == [1]
    assert result["auc"] == result["full"] == pytest.approx(expected, abs=1e-9)
    assert result["auc"] <= 0 and result["r90"] is None  # explains nothing: at most 0
    assert recompute_spectral_auc({"kind": "regression", "spectral": result["evidence"]}) == result["auc"]


def test_a_single_training_example_still_gives_a_curve():
    (train_f, train_t), (val_f, val_t), (test_f, test_t) = _spiked_clusters()
    keep = np.concatenate([np.flatnonzero(train_t == c)[:1] for c in range(3)])  # one example a class
    result = spectral_probe(train_f[keep], train_t[keep], val_f, val_t, test_f, test_t, kind="classification")
    assert 1 <= result["width"] <= 2  # three centred points span at most two directions
    assert len(result["curve"]) == len(result["evidence"]) >= 1


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_the_evidence_recomputes_the_curve_and_the_auc_exactly(kind):
    if kind == "classification":
        splits = _flat(_spiked_clusters())
    else:
        rng = np.random.default_rng(2)
        splits = []
        for n in SIZES:
            f = rng.standard_normal((n, 6)) * np.array([3.0, 2.0, 1.5, 1.0, 0.5, 0.2])
            splits += [f, np.stack([f[:, 0], -f[:, 4]], axis=1) + 0.1 * rng.standard_normal((n, 2))]
    result = spectral_probe(*splits, kind=kind)
    key = result["metric"]
    assert key == ("top1" if kind == "classification" else "r2")
    assert [entry["r"] for entry in result["evidence"]] == [point["r"] for point in result["curve"]]
    for entry, point in zip(result["evidence"], result["curve"]):
        if kind == "classification":
            assert set(entry) == {"r", "confusion_matrix"}
            assert sum(map(sum, entry["confusion_matrix"])) == len(splits[5])
        else:
            assert set(entry) == {"r", "ss_res", "ss_tot"} and len(entry["ss_res"]) == 2
        assert recompute_metrics({"kind": kind, **entry})[key] == point[key]  # exactly: the curve is the evidence's
    assert recompute_spectral_auc({"kind": kind, "spectral": result["evidence"]}) == result["auc"]
    assert log_rank_auc([p["r"] for p in result["curve"]], [p[key] for p in result["curve"]]) == result["auc"]
    assert result["full"] == result["curve"][-1][key]


def test_log_rank_auc_follows_the_definition():
    assert log_rank_auc([1, 2, 4], [0.2, 0.6, 1.0]) == pytest.approx(((0.2 + 0.6) / 2 + (0.6 + 1.0) / 2) / 2)
    # trapezoids in log r: the interval 1..10 weighs as much as 10..100
    assert log_rank_auc([1, 10, 100], [0.0, 1.0, 1.0]) == pytest.approx((0.5 + 1.0) / 2)
    assert log_rank_auc([1, 3], [0.4, 0.4]) == pytest.approx(0.4) and log_rank_auc([5], [0.3]) == 0.3
    for ranks, values, message in [([], [], "non-empty"), ([1, 2], [0.5], "one length"),
                                   ([2, 1], [0.5, 0.6], "increasing"), ([1, 1], [0.5, 0.6], "increasing"),
                                   ([0, 2], [0.5, 0.6], "increasing positive")]:
        with pytest.raises(InputError, match=message):
            log_rank_auc(ranks, values)


def test_reference_probe_is_deterministic_for_a_seed():
    splits = _flat(_spiked_clusters())
    first = reference_probe(*splits, kind="classification", seed=3)
    assert first == reference_probe(*splits, kind="classification", seed=3)
    assert first != reference_probe(*splits, kind="classification", seed=4)
    sizes = [p["n"] for p in first["reference"]["curve"]]
    assert sizes == sorted({min(s, 300) for s in REFERENCE_SIZES}) == [100, 166, 278, 300]
    reference, literal = first["reference"], first["reference_literal"]
    chosen = max(first["reference"]["curve"], key=lambda p: p["val"])
    assert reference["size"] == chosen["n"] and reference["value"] == chosen["test"]
    assert literal["value"] == max(p["test"] for p in reference["curve"]) >= reference["value"]
    assert literal["note"] == LITERAL_NOTE and reference["variant"] == "authors"
    assert reference["steps"] == 50 and reference["learning_rate"] == 1e-3


def test_reference_size_is_chosen_on_validation_not_test():
    (train_f, train_t), (val_f, val_t), (test_f, test_t) = _spiked_clusters()
    clean = reference_probe(train_f, train_t, val_f, val_t, test_f, test_t, kind="classification", seed=0)
    other = reference_probe(train_f, train_t, val_f, val_t, test_f, (test_t + 1) % 3, kind="classification", seed=0)
    assert other["reference"]["size"] == clean["reference"]["size"]
    assert other["reference"]["value"] < clean["reference"]["value"]


def test_the_reference_probe_reads_scale_and_the_converged_probe_does_not():
    splits = _spiked_clusters()
    tiny = _flat(splits, lambda f: 1e-3 * f)
    converged = [linear_probe(*s, kind="classification", sizes=(300,), seed=0).metrics["top1"] for s in (_flat(splits), tiny)]
    reference = [reference_probe(*s, kind="classification", seed=0)["reference"]["value"] for s in (_flat(splits), tiny)]
    assert converged[0] > 0.9 and abs(converged[0] - converged[1]) <= 0.01
    assert reference[0] > 0.8
    assert reference[1] < 0.5  # toward chance (1/3): 50 steps at lr 1e-3 cannot grow weights to read tiny features


def test_reference_regression_is_labelled_our_extension():
    rng = np.random.default_rng(1)
    splits = []
    for n in SIZES:
        f = rng.standard_normal((n, 5))
        splits.append((f, f[:, :2] * 3.0))
    result = reference_probe(*_flat(splits), kind="regression", seed=0)
    assert result["reference"]["variant"] == "extension" and result["reference"]["metric"] == "r2"
    assert result["reference"]["value"] < 1.0 and np.isfinite(result["reference"]["value"])
    assert result == reference_probe(*_flat(splits), kind="regression", seed=0)


def test_extra_probes_and_bad_arguments():
    splits = _flat(_spiked_clusters())
    probes = extra_probes(*splits, kind="classification", seed=0)
    assert set(probes) == {"spectral", "reference", "reference_literal"}
    # the spectral probe carries its per-rank evidence (the harness moves it to the result's evidence)
    assert set(probes["spectral"]) == {"metric", "width", "full", "auc", "r90", "curve", "evidence"}
    with pytest.raises(InputError, match="kind must be classification or regression"):
        extra_probes(*splits, kind="ranking", seed=0)
    with pytest.raises(InputError, match="steps must be a positive integer"):
        reference_probe(*splits, kind="classification", seed=0, steps=0)
    with pytest.raises(InputError, match="seed must be a non-negative integer"):
        reference_probe(*splits, kind="classification", seed=-1)
    bad = list(splits)
    bad[2] = bad[2][:, :3]
    with pytest.raises(InputError, match="val_f must be"):
        spectral_probe(*bad, kind="classification")
