"""Placement of suite cells: raw views or per-view autoencoder features, both signal rules, caching."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from mmphase_bench.errors import InputError
from mmphase_bench.harness import placement as placement_module
from mmphase_bench.harness.placement import (
    LABELLED_SEED, TRAIN_SEED, UnimodalConfig, embed, estimate_placement, place_suite, train_view_autoencoder,
    unimodal_features,
)
from mmphase_bench.harness.scales import SCALES
from mmphase_bench.harness.suites import Cell, SplitData, Suite, get_suite
from mmphase_bench.models.interface import TaskSpec, ViewSpec
from mmphase_bench.theory import spiked_preset

TINY = UnimodalConfig(train_pairs=48, epochs=1, batch_size=16, embedding_dim=8)
PLACEMENT_KEYS = ("delta_ca", "delta_cp", "delta_cp_reverse", "regime", "ci", "regime_probabilities")


def toy_suite(shift_y=0.0, shift_labels=0, calls=None):
    """Tiny 1 x 16 x 16 image views. ``shift_y`` / ``shift_labels`` change the training split's y view
    and labels only; ``calls`` records every make_split call."""
    spec = ViewSpec((1, 16, 16), kind="image")

    patterns = np.random.default_rng(99).normal(size=(3, 1, 16, 16))

    def make(cell, split, n, seed):
        if calls is not None:
            calls.append((split, n, seed))
        rng = np.random.default_rng([seed, ("train", "val", "test").index(split)])
        latent = rng.normal(size=(n, 3))  # 3 shared factors, the first one sets the label
        shared = np.einsum("nk,kchw->nchw", latent, patterns)
        x = shared + 0.3 * rng.normal(size=shared.shape)
        y = shared + 0.3 * rng.normal(size=shared.shape)
        labels = (latent[:, 0] > 0).astype(np.int64)
        if split == "train":
            y = y + shift_y
            labels = (labels + shift_labels) % 2
        return SplitData(torch.from_numpy(x).float(), torch.from_numpy(y).float(), torch.from_numpy(labels), {},
                         f"toy:{split}:{seed}:{n}")

    return Suite("toy", "toy images", TaskSpec("classification", 2), spec, spec, (Cell("only", {}),), make, 10)


# ------------------------------------------------------------------ (a) the autoencoders
def test_training_is_deterministic_and_leaves_the_global_state_alone():
    data = toy_suite().make_split(None, "train", 48, 0)
    spec = ViewSpec((1, 16, 16), kind="image")
    torch.manual_seed(123)
    rng_before, threads_before = torch.get_rng_state(), torch.get_num_threads()
    encoder, decoder, losses = train_view_autoencoder(data.x, spec, TINY, seed=4)
    assert torch.equal(torch.get_rng_state(), rng_before) and torch.get_num_threads() == threads_before
    assert len(losses) == 1 and np.isfinite(losses[0])
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())
    # Same seed, same bytes, on any thread count; another seed, other weights.
    torch.set_num_threads(2)
    try:
        again, _, losses_again = train_view_autoencoder(data.x, spec, TINY, seed=4)
    finally:
        torch.set_num_threads(threads_before)
    assert losses_again == losses
    for a, b in zip(encoder.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    features = embed(encoder, data.x)
    assert features.shape == (48, 8) and features.dtype == np.float64
    assert np.array_equal(features, embed(again, data.x))
    other, _, _ = train_view_autoencoder(data.x, spec, TINY, seed=5)
    assert not np.array_equal(features, embed(other, data.x))


def test_training_lowers_the_reconstruction_error():
    data = toy_suite().make_split(None, "train", 64, 0)
    spec = ViewSpec((1, 16, 16), kind="image")
    _, _, losses = train_view_autoencoder(data.x, spec, dataclasses.replace(TINY, batch_size=8, epochs=4), seed=0)
    assert len(losses) == 4 and losses[-1] < 0.9 * losses[0]  # measured: 2.93 -> 2.51


def test_each_encoder_sees_only_its_own_view_and_no_labels():
    labelled = toy_suite().make_split(None, "val", 60, LABELLED_SEED)
    base_x, base_y, record = unimodal_features(toy_suite(), Cell("only", {}), labelled, TINY, seed=0)
    # Change the training split's y view: x features identical to the byte, y features not.
    shifted_x, shifted_y, _ = unimodal_features(toy_suite(shift_y=0.7), Cell("only", {}), labelled, TINY, seed=0)
    assert np.array_equal(base_x, shifted_x) and not np.array_equal(base_y, shifted_y)
    # Change the training labels: nothing changes.
    relabelled_x, relabelled_y, _ = unimodal_features(toy_suite(shift_labels=1), Cell("only", {}), labelled, TINY, seed=0)
    assert np.array_equal(base_x, relabelled_x) and np.array_equal(base_y, relabelled_y)
    # The two encoders start from different initialisations.
    assert record["init_seeds"] == {"x": 0, "y": 1}
    assert record["train_pairs"] == 48 and record["epochs"] == 1 and record["train_seed"] == TRAIN_SEED
    assert record["encoder"] == {"x": "ConvEncoder", "y": "ConvEncoder"}
    assert record["decoder"] == {"x": "ConvDecoder", "y": "ConvDecoder"}


def test_unimodal_config_validation():
    with pytest.raises(InputError, match="epochs must be >= 1"):
        UnimodalConfig(epochs=0)
    with pytest.raises(InputError, match="learning_rate must be > 0"):
        UnimodalConfig(learning_rate=0.0)
    config = UnimodalConfig.for_scale(SCALES["smoke"])
    assert (config.train_pairs, config.epochs) == (256, 2)
    assert (UnimodalConfig.for_scale(SCALES["paper"]).train_pairs, UnimodalConfig.for_scale(SCALES["paper"]).epochs) == (2000, 5)
    with pytest.raises(InputError, match=r"views: expected samples of shape \(1, 16, 16\)"):
        train_view_autoencoder(torch.zeros(4, 1, 8, 8), ViewSpec((1, 16, 16), kind="image"), TINY, seed=0)


# ------------------------------------------------------------------ (b) placements of one cell
def test_unimodal_placement_uses_the_raw_placement_pairs():
    calls = []
    suite = toy_suite(calls=calls)
    record = estimate_placement(suite, suite.cells[0], 80, 2, seed=3, features="unimodal", unimodal=TINY)
    assert ("val", 80, LABELLED_SEED + 3) in calls and ("train", 48, TRAIN_SEED + 3) in calls
    assert len(calls) == 2
    loaded = json.loads(json.dumps(record, allow_nan=False))
    assert loaded["method"] == "estimate_phase" and loaded["features"] == "unimodal"
    assert loaded["pairs"] == 80 and loaded["resamples"] == 2 and loaded["pca"] == 8  # min(10, embedding 8)
    assert loaded["signal_rule"] == "elbow" and set(loaded["signal_rules"]) == {"elbow", "permutation"}
    for key in PLACEMENT_KEYS:
        assert loaded[key] == loaded["signal_rules"]["elbow"][key]
    assert loaded["feature_extractor"]["kind"] == "unimodal" and loaded["feature_extractor"]["labelled_seed"] == LABELLED_SEED + 3
    # Deterministic: the same call gives the same record.
    assert estimate_placement(suite, suite.cells[0], 80, 2, seed=3, features="unimodal", unimodal=TINY) == record
    # The headline follows signal_rule; both rules stay reported.
    by_permutation = estimate_placement(suite, suite.cells[0], 80, 2, seed=3, features="unimodal", unimodal=TINY,
                                        signal_rule="permutation")
    assert by_permutation["signal_rules"] == record["signal_rules"]
    for key in PLACEMENT_KEYS:
        assert by_permutation[key] == record["signal_rules"]["permutation"][key]


def test_raw_placement_on_a_stereo_cell():
    suite = dataclasses.replace(get_suite("stereo-dsprites"), placement_pca=8)
    cell = suite.cell("jitter0-noise0.5")
    record = estimate_placement(suite, cell, 60, 2, features="raw")
    assert record["features"] == "raw" and record["feature_extractor"]["kind"] == "raw" and record["pca"] == 8
    assert set(record["signal_rules"]) == {"elbow", "permutation"}
    assert all(record[key] == record["signal_rules"]["elbow"][key] for key in PLACEMENT_KEYS)


def test_exact_cells_and_validation():
    suite = get_suite("spiked")
    exact = estimate_placement(suite, suite.cell("cp_only"), 100, 2, features="unimodal")
    assert exact["method"] == "exact" and exact["regime"] == "cp_only"
    assert exact["delta_ca"] == pytest.approx(spiked_preset("cp_only").separation_ratios()[0])
    with pytest.raises(InputError, match="features must be one of"):
        estimate_placement(suite, suite.cells[0], 100, 2, features="pixels")
    with pytest.raises(InputError, match="signal_rule must be one of"):
        estimate_placement(suite, suite.cells[0], 100, 2, signal_rule="gap")
    with pytest.raises(InputError, match="unimodal must be a UnimodalConfig"):
        estimate_placement(toy_suite(), Cell("only", {}), 60, 0, features="unimodal", unimodal={"epochs": 1})


# ------------------------------------------------------------------ (c) whole suites and the cache
def test_place_suite_returns_exact_placements_without_estimating(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("spiked cells must not be estimated")

    monkeypatch.setattr(placement_module, "estimate_placement", refuse)
    placements = place_suite("spiked", "smoke", cache_dir=tmp_path)
    assert list(placements) == ["both", "ca_only", "cp_only", "neither"]
    for name, kinds in placements.items():
        assert set(kinds) == {"raw", "unimodal"}
        assert kinds["raw"] == kinds["unimodal"] and kinds["raw"]["method"] == "exact" and kinds["raw"]["regime"] == name
    assert not any(tmp_path.iterdir())


def test_place_suite_caches_per_features_and_settings(monkeypatch, tmp_path):
    calls = []

    def fake(suite, cell, pairs, resamples, seed=0, features="raw", signal_rule="elbow", unimodal=None):
        calls.append((cell.name, features, unimodal.epochs))
        return {"method": "estimate_phase", "features": features, "pairs": pairs, "resamples": resamples,
                "epochs": unimodal.epochs}

    monkeypatch.setattr(placement_module, "estimate_placement", fake)
    cells = ["jitter0-noise0.5", "jitter0.5-noise0.5"]
    first = place_suite("stereo-dsprites", "smoke", cells=cells, cache_dir=tmp_path)
    assert calls == [(cells[0], "raw", 2), (cells[0], "unimodal", 2), (cells[1], "raw", 2), (cells[1], "unimodal", 2)]
    assert first[cells[1]]["unimodal"] == {"method": "estimate_phase", "features": "unimodal", "pairs": 200,
                                           "resamples": 5, "epochs": 2}
    folder = tmp_path / "stereo-dsprites"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(f"{c}__smoke__{k}__elbow__seed0.json" for c in cells for k in ("raw", "unimodal"))
    stored = json.loads((folder / names[0]).read_text())
    assert stored["key"]["suite"] == "stereo-dsprites" and "placement" in stored
    # A second call reads every placement from the cache.
    assert place_suite("stereo-dsprites", "smoke", cells=cells, cache_dir=tmp_path) == first
    assert len(calls) == 4
    # Other autoencoder settings: only the unimodal placements are redone.
    place_suite("stereo-dsprites", "smoke", cells=cells[:1], cache_dir=tmp_path, unimodal=UnimodalConfig(epochs=1))
    assert calls[4:] == [(cells[0], "unimodal", 1)]
    # A damaged file is recomputed and rewritten.
    (folder / f"{cells[1]}__smoke__raw__elbow__seed0.json").write_text("{broken")
    again = place_suite("stereo-dsprites", "smoke", cells=cells[1:], features=("raw",), cache_dir=tmp_path)
    assert calls[5:] == [(cells[1], "raw", 2)] and again[cells[1]]["raw"] == first[cells[1]]["raw"]
    assert json.loads((folder / f"{cells[1]}__smoke__raw__elbow__seed0.json").read_text())["placement"]["pairs"] == 200
    # No cache folder: nothing written, everything estimated.
    place_suite("stereo-dsprites", "smoke", cells=cells[:1], features="raw")
    assert calls[6:] == [(cells[0], "raw", 2)]


def test_place_suite_validation():
    with pytest.raises(InputError, match="features must be a non-empty list"):
        place_suite("spiked", "smoke", features=())
    with pytest.raises(InputError, match="features must be one of"):
        place_suite("spiked", "smoke", features=("raw", "learnt"))
    with pytest.raises(InputError, match="cell: suite 'spiked' has no cell 'middle'"):
        place_suite("spiked", "smoke", cells=["middle"])
    with pytest.raises(InputError, match="scale must be one of"):
        place_suite("spiked", "huge")
    with pytest.raises(InputError, match="signal_rule must be one of"):
        place_suite("spiked", "smoke", signal_rule="gap")
