"""Export of generated pairs to a Hugging Face datasets.Dataset (hf.py)."""

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")

from mmphase_bench.data.stereo_dsprites import StereoDSprites  # noqa: E402

N = 70  # more than one random block and more than one export batch


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    data = StereoDSprites(n=N, seed=4, jitter=0.2)
    hf = data.to_hf_dataset(batch_size=32, cache_dir=str(tmp_path_factory.mktemp("hf-cache")))
    return data, hf


def test_rows_and_features(exported):
    _, hf = exported
    assert isinstance(hf, datasets.Dataset)
    assert hf.num_rows == N
    label = hf.features["label"]
    assert isinstance(label, datasets.ClassLabel)
    assert label.names == ["square", "ellipse", "heart"]
    assert {"x", "y", "label", "index", "position", "translation_jitter", "rotation_jitter"} <= set(hf.column_names)


def test_rows_equal_the_generated_pairs(exported):
    data, hf = exported
    batch = data.generate(0, N)
    rows = hf.with_format("numpy")
    x = np.stack([rows[i]["x"] for i in range(N)])
    assert x.shape == (N, 1, 64, 64) and x.dtype == np.float32
    np.testing.assert_array_equal(x, batch.x.numpy())
    for i in (0, 31, 32, 64, N - 1):
        row = rows[i]
        np.testing.assert_array_equal(row["y"], batch.y[i].numpy())
        assert int(row["label"]) == int(batch.label[i])
        assert int(row["index"]) == i
        # latents are stored as float64 (the numpy formatter would cast them to float32: read plain rows)
        plain = hf[i]
        for name in ("position", "translation_jitter", "rotation_jitter"):
            stored = np.asarray(plain[name], dtype=np.float64)
            np.testing.assert_array_equal(stored, batch.latents[name][i].numpy())


def test_cache_is_not_shared_between_configurations(tmp_path):
    cache = str(tmp_path)
    first = StereoDSprites(n=20, seed=1).to_hf_dataset(cache_dir=cache).with_format("numpy")
    second = StereoDSprites(n=20, seed=2).to_hf_dataset(cache_dir=cache).with_format("numpy")
    again = StereoDSprites(n=20, seed=1).to_hf_dataset(cache_dir=cache).with_format("numpy")
    np.testing.assert_array_equal(second[:]["x"], StereoDSprites(n=20, seed=2).generate(0, 20).x.numpy())
    assert not np.array_equal(first[:]["x"], second[:]["x"])
    np.testing.assert_array_equal(first[:]["x"], again[:]["x"])


def test_extra_nuisance_latents_are_exported(tmp_path):
    data = StereoDSprites(n=10, seed=3, extra_nuisance=True)
    hf = data.to_hf_dataset(cache_dir=str(tmp_path)).with_format("numpy")
    assert {"scale", "orientation", "scale_jitter"} <= set(hf.column_names)
    batch = data.generate(0, 10)
    plain = hf.with_format(None)[:]
    np.testing.assert_array_equal(np.asarray(plain["scale"]), batch.latents["scale"].numpy())
    np.testing.assert_array_equal(np.asarray(plain["orientation"]), batch.latents["orientation"].numpy())
    np.testing.assert_array_equal(np.asarray(plain["scale_jitter"]), batch.latents["scale_jitter"].numpy())
