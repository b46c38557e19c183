"""The embeddings experiment of ``mmphase reproduce`` at smoke scale: its numbers, figures and feature
cache, that its model is the harness's (same spectral AUC as the runner's own result), and that a
re-run reuses the cache without training and gives the same numbers and figure bytes."""

import copy
import json
import math

import numpy as np
import pytest
import torch

from mmphase_bench.harness import features as harness_features
from mmphase_bench.harness.features import harness_protocol_hash, harness_splits
from mmphase_bench.harness.results import result_path, write_result
from mmphase_bench.harness.runner import run_one
from mmphase_bench.harness.scales import get_scale
from mmphase_bench.harness.submission import load_submission
from mmphase_bench.harness.suites import get_suite
from mmphase_bench.reproduction.experiment import Context, ReproduceConfig, plain
from mmphase_bench.reproduction.experiments import embeddings
from mmphase_bench.reproduction.experiments.embeddings import CELLS, EXPERIMENT, MODELS

from markdown_tables import table_rows  # noqa: E402  (tests/reproduction helper)

SUITE = "stereo-dsprites"


def _run(out):
    config = ReproduceConfig(out=out, scale="smoke", only=("embeddings",), seeds=(0,))
    context = Context(config=config, experiment="embeddings")
    return plain(EXPERIMENT.run(context)), context


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    out = tmp_path_factory.mktemp("embeddings")
    numbers, context = _run(out)
    figures = {path: (out / path).read_bytes() for path in context.figures}
    return out, numbers, context, figures


@pytest.fixture(scope="module")
def harness_result(first):
    """The runner's own result of vicreg on the aligned cell, filed where the experiment looks for it."""
    out = first[0]
    suite, scale, loaded = get_suite(SUITE), get_scale("smoke"), load_submission("vicreg")
    cell = suite.cell(CELLS[0])
    data = harness_splits(suite, cell, scale, 0)
    protocol = harness_protocol_hash(loaded, suite, cell, scale)
    result = run_one(loaded, suite, cell, scale, 0, data, {}, protocol, torch.device("cpu"))
    assert result["status"] == "ok", result["error"]
    write_result(result_path(out / "runs", SUITE, "vicreg", CELLS[0], 0), result)
    return result


@pytest.fixture(scope="module")
def second(first, harness_result):
    """A re-run on the same folder in which training raises: every feature must come from the cache."""
    def no_training(*args, **kwargs):
        raise AssertionError("the re-run trained a model instead of reusing the cached features")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(harness_features, "train", no_training)
        numbers, context = _run(first[0])
    figures = {path: (first[0] / path).read_bytes() for path in context.figures}
    return numbers, figures


def _model_entries(numbers):
    cells = numbers["suites"][SUITE]["cells"]
    return [(cell, model, cells[cell]["models"][model]) for cell in CELLS for model in MODELS]


def test_numbers_are_complete_finite_and_plain(first):
    numbers = first[1]
    json.dumps(numbers, allow_nan=False)
    assert list(numbers["suites"]) == [SUITE]  # smoke: one suite
    assert numbers["embedding_method"] in ("pca", "umap")
    assert numbers["embedding_method"] == embeddings.embedding_method()
    assert numbers["models"] == {"vicreg": "CA", "reconstruct": "CP"}
    assert "claim" in numbers["paper"] and numbers["paper"]["failing_model"] == embeddings.PAPER_FAILING
    for cell, model, entry in _model_entries(numbers):
        for key in ("spectral_auc", "spectral_full", "top2_pc_accuracy", "position_r2_top2", "position_x_r2_top2",
                    "position_y_r2_top2", "position_r2_all", "view_position_r2_top2", "view_position_x_r2_top2",
                    "top2_variance_fraction"):
            assert isinstance(entry[key], float) and math.isfinite(entry[key]), (cell, model, key)
        for key in ("spectral_auc", "spectral_full", "top2_pc_accuracy", "top2_variance_fraction"):
            assert 0.0 <= entry[key] <= 1.0, (cell, model, key)
        assert entry["position_r2_top2"] <= 1.0 and entry["position_r2_all"] <= 1.0
        ranks = [point["r"] for point in entry["spectral_curve"]]
        assert ranks[0] == 1 and ranks == sorted(set(ranks)) and ranks[-1] == entry["spectral_width"]
        # r = 2 is on the grid of a 128-wide representation: the top-2 accuracy is that curve point
        assert entry["top2_pc_accuracy_source"] == "spectral_curve"
        assert entry["top2_pc_accuracy"] == next(p["top1"] for p in entry["spectral_curve"] if p["r"] == 2)
        assert entry["spectral_full"] == entry["spectral_curve"][-1]["top1"]
        assert entry["training"]["epochs"] == get_scale("smoke").max_epochs
    for cell in CELLS:
        record = numbers["suites"][SUITE]["cells"][cell]
        aucs = {model: record["models"][model]["spectral_auc"] for model in MODELS}
        assert record["failing_model"] == min(aucs, key=aucs.get)
        failing, other = record["failing_model"], next(m for m in MODELS if m != record["failing_model"])
        assert record["claim_holds"] == (record["models"][failing]["position_r2_top2"]
                                         > record["models"][other]["position_r2_top2"])
    # aligned nuisance: the probed view's own position is the shared one up to the baseline shift
    aligned = numbers["suites"][SUITE]["cells"][CELLS[0]]["models"]
    for model in MODELS:
        assert aligned[model]["view_position_r2_top2"] == pytest.approx(aligned[model]["position_r2_top2"], abs=1e-9)
    assert numbers["summary"]["cells"] == len(CELLS)
    assert numbers["summary"]["entries"] == len(CELLS) * len(MODELS)
    rho = numbers["summary"]["spearman_top2_accuracy_vs_view_position_r2"]
    assert rho is None or -1.0 <= rho <= 1.0  # None: a constant column (plain() turns NaN into None)
    assert numbers["summary"]["harness_results_compared"] == 0  # no harness results in the fresh folder


def test_figures_and_feature_cache_are_written(first):
    out, _, context, figures = first
    assert sorted(context.figures) == [f"figures/embeddings_{SUITE}.png", f"figures/embeddings_{SUITE}.svg"]
    for path, data in figures.items():
        assert len(data) > 1000, path
    assert figures[f"figures/embeddings_{SUITE}.png"].startswith(b"\x89PNG")
    cache = out / "cache" / "embeddings"
    stems = sorted(path.stem for path in cache.glob("*.npz"))
    assert stems == sorted(f"{SUITE}__{cell}__{model}__smoke__seed0" for cell in CELLS for model in MODELS)
    for stem in stems:
        sidecar = json.loads((cache / f"{stem}.json").read_text())
        assert sidecar["key"]["torch"] == torch.__version__
        assert set(sidecar["key"]["fingerprints"]) == {"train", "val", "test"}
        with np.load(cache / f"{stem}.npz", allow_pickle=False) as archive:
            assert archive["train"].shape == (get_scale("smoke").n_train, 128)


def test_the_model_is_the_harness_model(first, harness_result):
    """The runner, trained on its own, scores the features exactly as the experiment does."""
    entry = first[1]["suites"][SUITE]["cells"][CELLS[0]]["models"]["vicreg"]
    assert entry["spectral_auc"] == pytest.approx(harness_result["metrics"]["spectral_auc"], abs=1e-12)
    assert entry["spectral_full"] == pytest.approx(harness_result["probes"]["spectral"]["full"], abs=1e-12)
    assert entry["position_r2_all"] == pytest.approx(harness_result["diagnostics"]["nuisance_r2"]["position"], abs=1e-9)


def test_rerun_reuses_the_cache_and_is_deterministic(first, second):
    numbers, figures = second
    # The re-run found the harness's result of vicreg on the aligned cell and agrees with it.
    check = numbers["suites"][SUITE]["cells"][CELLS[0]]["models"]["vicreg"]["harness"]
    assert check is not None and check["matches"] and abs(check["difference"]) <= 1e-12
    assert numbers["summary"]["harness_results_compared"] == 1
    assert numbers["summary"]["harness_results_matching"] == 1
    # Everything else is what the first run computed, and the figures are the same bytes.
    expected, observed = copy.deepcopy(first[1]), copy.deepcopy(numbers)
    for record in (expected, observed):
        for key in ("harness_results_compared", "harness_results_matching", "max_abs_difference_from_harness"):
            record["summary"].pop(key)
        for _, _, entry in _model_entries(record):
            entry.pop("harness")
    assert observed == expected
    assert figures == first[3]


def test_a_cache_entry_is_reused_only_under_its_key(first, tmp_path):
    cache = first[0] / "cache" / "embeddings"
    stem = f"{SUITE}__{CELLS[0]}__vicreg__smoke__seed0"
    sidecar = json.loads((cache / f"{stem}.json").read_text())
    key = sidecar["key"]
    scale = get_scale("smoke")
    sizes = {"train": scale.n_train, "val": scale.n_val, "test": scale.n_test}
    features, _ = embeddings.load_cached_features(cache, stem, key, sizes)
    assert features["test"].shape == (scale.n_test, 128)
    for change in ({"torch": "0.0"}, {"seed": 1}, {"device_type": "cuda"}, {"protocol_hash": "0" * 64},
                   {"fingerprints": {**key["fingerprints"], "test": "0" * 64}}):
        assert embeddings.load_cached_features(cache, stem, {**key, **change}, sizes) is None, change
    assert embeddings.load_cached_features(cache, stem, key, {**sizes, "test": scale.n_test + 1}) is None
    # An archive that is not the one the sidecar names is not reused either.
    embeddings.store_cached_features(tmp_path, stem, key, features, {})
    assert embeddings.load_cached_features(tmp_path, stem, key, sizes) is not None
    other = {split: values + 1.0 for split, values in features.items()}
    np.savez(tmp_path / f"{stem}.npz", **other)
    assert embeddings.load_cached_features(tmp_path, stem, key, sizes) is None


def test_pca_embedding_and_colours():
    rng = np.random.default_rng(0)
    axis = rng.normal(size=(1, 16))
    axis /= np.linalg.norm(axis)
    latent = rng.normal(size=(500, 1)) * 10
    features = latent @ axis + rng.normal(size=(500, 16)) * 0.1
    embedded = embeddings.embed_2d(features, "pca", seed=0)
    assert embedded.shape == (500, 2)
    assert abs(np.corrcoef(embedded[:, 0], latent[:, 0])[0, 1]) > 0.999
    assert np.array_equal(embedded, embeddings.embed_2d(features.copy(), "pca", seed=0))
    # each component's sign is fixed by its loadings: the largest loading of the first one is positive
    loading = np.linalg.lstsq(features - features.mean(axis=0), embedded[:, 0], rcond=None)[0]
    assert loading[np.argmax(np.abs(loading))] > 0
    labels = np.array([0, 0, 0, 1])
    colours = embeddings.point_colours(labels, np.array([-0.5, 0.0, 0.5, 0.0]), 2)
    lightness = [0.2126 * r + 0.7152 * g + 0.0722 * b for r, g, b in colours]
    assert lightness[0] < lightness[1] < lightness[2]  # darker to the left, lighter to the right
    assert not np.allclose(colours[1], colours[3])  # another shape, another hue


def test_view_positions_follow_the_generator():
    suite, scale = get_suite(SUITE), get_scale("smoke")
    aligned = suite.make_split(suite.cell(CELLS[0]), "test", 64, 0).latents
    own = embeddings.view_positions(SUITE, CELLS[0], aligned, "x")
    # sigma_j = 0: no jitter, no rotation; the left camera shifts the sprite by -baseline / 2 = -0.2
    np.testing.assert_allclose(own, aligned["position"] + np.array([-0.2, 0.0]), atol=1e-12)
    np.testing.assert_allclose(embeddings.view_positions(SUITE, CELLS[0], aligned, "y"),
                               aligned["position"] + np.array([0.2, 0.0]), atol=1e-12)
    misaligned = suite.make_split(suite.cell(CELLS[1]), "test", 64, 0).latents
    own = embeddings.view_positions(SUITE, CELLS[1], misaligned, "x")
    jitter = misaligned["translation_jitter"][:, :2]
    assert np.abs(own - misaligned["position"] - np.array([-0.2, 0.0])).max() > 0.1  # jittered
    # small rotations: the centre is close to p + jitter + shift (exactly, turned by the rotation jitter)
    angle = misaligned["rotation_jitter"][:, 0]
    shifted = misaligned["position"] + jitter + np.array([-0.2, 0.0])
    turned = np.stack([np.cos(angle) * shifted[:, 0] - np.sin(angle) * shifted[:, 1],
                       np.sin(angle) * shifted[:, 0] + np.cos(angle) * shifted[:, 1]], axis=1)
    np.testing.assert_allclose(own, turned, atol=1e-12)


def test_tables_show_the_numbers(first):
    numbers = first[1]
    text = EXPERIMENT.tables(numbers)
    assert "<!-- n:" not in text and f"### {SUITE}" in text
    tables = table_rows(text)
    assert len(tables) == 2 * len(numbers["suites"])
    for rows in tables:
        assert set(rows[1]) == {"---"}
        assert all(len(row) == len(rows[0]) for row in rows), rows
    main, per_cell = tables
    assert len(main) == 2 + len(CELLS) * len(MODELS) and len(per_cell) == 2 + len(CELLS)
    header = main[0]
    cells = numbers["suites"][SUITE]["cells"]
    entry = cells[CELLS[0]]["models"]["vicreg"]
    row = next(r for r in main[2:] if r[0].startswith(CELLS[0] + " ") and r[1] == "vicreg (CA)")
    assert row[header.index("spectral AUC")] == f"{entry['spectral_auc']:.3f}"
    assert row[header.index("top-2 PC shape acc.")] == f"{entry['top2_pc_accuracy']:.3f}"
    assert row[header.index("view pos. R^2 (top-2 PCs)")] == f"{entry['view_position_r2_top2']:.3f}"
    assert row[header.index("paper's probe acc.")] == "0.37-0.40"  # read from the paper's figure
    misaligned = next(r for r in per_cell[2:] if r[0] == CELLS[1])
    assert misaligned[1] == cells[CELLS[1]]["failing_model"] and misaligned[2] == "reconstruct"
    assert misaligned[4] == ("yes" if cells[CELLS[1]]["claim_holds"] else "no")
    rho = numbers["summary"]["spearman_top2_accuracy_vs_view_position_r2"]
    assert ("n/a" if rho is None else f"{rho:.3f}") in text
    assert ("UMAP" if numbers["embedding_method"] == "umap" else "PCA") in text
