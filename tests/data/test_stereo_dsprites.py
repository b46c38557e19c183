"""Stereo-dSprites pairs (paper-facts section 4): determinism, protocol geometry, nuisance statistics."""

import numpy as np
import pytest
import torch

from mmphase_bench.data.stereo_dsprites import BENCHMARK_GRID, StereoDSprites

PIXELS_PER_UNIT = 32.0  # affine units: the 64-pixel canvas spans [-1, 1]


def as_np(t):
    return t.detach().cpu().numpy()


def view_stats(images):
    """Mass, centroid (x = column, y = row, in pixel-index units) and border intensity of (B, 1, H, W) views."""
    images = np.asarray(images, dtype=np.float64)[:, 0]
    mass = images.sum(axis=(1, 2))
    height, width = images.shape[1:]
    safe = np.where(mass > 0, mass, 1.0)
    cx = (images.sum(axis=1) * np.arange(width)).sum(axis=1) / safe
    cy = (images.sum(axis=2) * np.arange(height)).sum(axis=1) / safe
    border = np.concatenate([images[:, 0, :], images[:, -1, :], images[:, :, 0], images[:, :, -1]], axis=1).max(axis=1)
    return mass, cx, cy, border


def inside(mass, border):
    """Views fully inside the canvas (the sprites are connected: lit and untouched border)."""
    return (mass > 0) & (border == 0)


@pytest.fixture(scope="module")
def data300():
    return StereoDSprites(n=300, seed=7)


@pytest.fixture(scope="module")
def batch300(data300):
    return data300.generate(0, 300)


# --------------------------------------------------------------------------- the key guarantees
def assert_batches_equal(a, b):
    assert torch.equal(a.x, b.x)
    assert torch.equal(a.y, b.y)
    assert torch.equal(a.label, b.label)
    assert torch.equal(a.index, b.index)
    assert set(a.latents) == set(b.latents)
    for key in a.latents:
        assert torch.equal(a.latents[key], b.latents[key]), key


def slice_batch(batch, lo, hi):
    from mmphase_bench.data.stereo_pairs import PairBatch

    return PairBatch(
        x=batch.x[lo:hi], y=batch.y[lo:hi], label=batch.label[lo:hi],
        latents={k: v[lo:hi] for k, v in batch.latents.items()}, index=batch.index[lo:hi],
    )


def test_sample_does_not_depend_on_batch_start_or_size(data300, batch300):
    assert_batches_equal(slice_batch(batch300, 100, 200), data300.generate(100, 200))
    # a fresh object, asked in a different order, agrees
    fresh = StereoDSprites(n=300, seed=7)
    assert_batches_equal(slice_batch(batch300, 250, 300), fresh.generate(250, 300))
    assert_batches_equal(slice_batch(batch300, 63, 65), fresh.generate(63, 65))  # across a block boundary
    assert_batches_equal(slice_batch(batch300, 0, 1), fresh.generate(0, 1))


def concat(batches):
    batches = list(batches)
    return (
        torch.cat([b.x for b in batches]), torch.cat([b.y for b in batches]),
        torch.cat([b.label for b in batches]), torch.cat([b.index for b in batches]),
    )


def test_batches_of_any_size_concatenate_to_the_same_data(data300, batch300):
    small = concat(data300.batches(7))
    large = concat(data300.batches(128))
    for a, b in zip(small, large):
        assert torch.equal(a, b)
    assert torch.equal(small[0], batch300.x)
    assert torch.equal(small[3], torch.arange(300))
    sizes = [len(b) for b in data300.batches(128)]
    assert sizes == [128, 128, 44]
    # start / stop
    part = concat(data300.batches(50, start=70, stop=190))
    assert torch.equal(part[0], batch300.x[70:190])


def test_items_equal_batch_rows(data300, batch300):
    for i in [0, 1, 63, 64, 65, 127, 128, 200, 299]:
        x, y, label = data300[i]
        assert x.shape == (1, 64, 64) and x.dtype == torch.float32
        assert torch.equal(x, batch300.x[i]) and torch.equal(y, batch300.y[i])
        assert label == int(batch300.label[i]) and isinstance(label, int)
    x, _, _ = data300[-1]
    assert torch.equal(x, batch300.x[299])
    x, _, _ = data300[np.int64(5)]
    assert torch.equal(x, batch300.x[5])


def test_same_seed_same_bytes_across_objects(batch300):
    other = StereoDSprites(n=300, seed=7).generate(0, 300)
    assert as_np(other.x).tobytes() == as_np(batch300.x).tobytes()
    assert as_np(other.y).tobytes() == as_np(batch300.y).tobytes()
    assert torch.equal(other.label, batch300.label)


def test_different_seed_differs(batch300):
    other = StereoDSprites(n=300, seed=8).generate(0, 300)
    different = [not torch.equal(other.x[i], batch300.x[i]) for i in range(300)]
    assert all(different)
    assert not torch.equal(other.label, batch300.label)


def test_splits_draw_different_samples():
    views = {split: as_np(StereoDSprites(split=split, n=200, seed=0).generate(0, 200).x) for split in ("train", "val", "test")}
    for a, b in [("train", "val"), ("train", "test"), ("val", "test")]:
        for i in range(200):
            assert not np.array_equal(views[a][i], views[b][i]), (a, b, i)
    # and no image of one split reappears anywhere in another
    hashes = {split: {v.tobytes() for v in views[split]} for split in views}
    assert not (hashes["train"] & hashes["val"]) and not (hashes["train"] & hashes["test"]) and not (hashes["val"] & hashes["test"])


def test_views_are_float32_in_unit_interval(batch300):
    for view in (batch300.x, batch300.y):
        assert view.dtype == torch.float32 and view.shape == (300, 1, 64, 64)
        assert float(view.min()) >= 0.0 and float(view.max()) <= 1.0
        # noise is clamped: both bounds are reached
        assert float(view.min()) == 0.0 and float(view.max()) == 1.0
    # x is the strong (less noisy) view: noise_x 0.1 < noise_y 0.5
    assert float(batch300.x.std()) < float(batch300.y.std())


def test_labels_are_roughly_uniform():
    labels = as_np(StereoDSprites(n=3000, seed=1).generate(0, 3000).label)
    assert set(np.unique(labels)) == {0, 1, 2}
    counts = np.bincount(labels, minlength=3)
    chi2 = float(((counts - 1000.0) ** 2 / 1000.0).sum())
    assert chi2 < 13.8  # 2 degrees of freedom, p = 0.001


# --------------------------------------------------------------------------- protocol geometry
def test_zero_jitter_noise_and_baseline_give_identical_views():
    batch = StereoDSprites(n=200, jitter=0.0, noise_x=0.0, noise_y=0.0, baseline=0.0, seed=2).generate(0, 200)
    assert torch.equal(batch.x, batch.y)
    assert (batch.x.sum(dim=(1, 2, 3)) > 0).float().mean() > 0.9  # not blank


def test_noise_free_view_is_the_warped_template():
    data = StereoDSprites(n=128, jitter=0.0, noise_x=0.0, noise_y=0.0, baseline=0.0, seed=2)
    batch = data.generate(0, 128)
    latents = data.latents(np.arange(128))
    # the view of a sample at position 0 would be the template; check the centroid follows the position
    mass, cx, cy, border = view_stats(as_np(batch.x))
    ok = inside(mass, border) & np.isin(as_np(batch.label), [0, 1])  # centred templates (square, ellipse)
    assert ok.sum() > 50
    expected_cx = (latents["position"][:, 0] + 1) * PIXELS_PER_UNIT - 0.5
    expected_cy = (latents["position"][:, 1] + 1) * PIXELS_PER_UNIT - 0.5
    np.testing.assert_allclose(cx[ok], expected_cx[ok], atol=0.02)
    np.testing.assert_allclose(cy[ok], expected_cy[ok], atol=0.02)
    template_mass = as_np(data.templates.sum(dim=(1, 2, 3)))[as_np(batch.label)]
    np.testing.assert_allclose(mass[ok], template_mass[ok], rtol=1e-4)


def test_right_view_is_left_view_shifted_by_the_baseline():
    batch = StereoDSprites(n=600, jitter=0.0, noise_x=0.0, noise_y=0.0, seed=4).generate(0, 600)
    mx, cxl, cyl, bx = view_stats(as_np(batch.x))
    my, cxr, cyr, by = view_stats(as_np(batch.y))
    ok = inside(mx, bx) & inside(my, by)
    assert ok.sum() > 300
    shift = 0.4 / 2 * 2 * PIXELS_PER_UNIT  # 12.8 px
    np.testing.assert_allclose(cxr[ok] - cxl[ok], shift, atol=0.02)
    np.testing.assert_allclose(cyr[ok], cyl[ok], atol=0.02)
    np.testing.assert_allclose(my[ok], mx[ok], rtol=1e-4)


def centroid_x_correlation(jitter, n=2000):
    batch = StereoDSprites(n=n, jitter=jitter, noise_x=0.0, noise_y=0.0, seed=5).generate(0, n)
    mx, cxl, _, _ = view_stats(as_np(batch.x))
    my, cxr, _, _ = view_stats(as_np(batch.y))
    ok = (mx > 20) & (my > 20)  # both views clearly visible
    assert ok.sum() > n // 2
    return float(np.corrcoef(cxl[ok], cxr[ok])[0, 1])


def test_measured_nuisance_alignment_decreases_with_jitter():
    corr = {jitter: centroid_x_correlation(jitter) for jitter in (0.0, 0.2, 0.5)}
    assert corr[0.0] > 0.99
    assert corr[0.2] < corr[0.0] - 0.1
    assert corr[0.5] < corr[0.2] - 0.1
    assert corr[0.5] < 0.5


def test_latents_position_and_jitter_statistics():
    n = 3000
    for jitter in (0.2, 0.5):
        data = StereoDSprites(n=n, jitter=jitter, seed=9)
        latents = data.latents(np.arange(n))
        assert set(latents) >= {"label", "position", "translation_jitter", "rotation_jitter"}
        assert latents["position"].shape == (n, 2) and latents["translation_jitter"].shape == (n, 2, 2)
        position = latents["position"]
        assert np.all(position >= -0.5) and np.all(position <= 0.5)
        assert position.min() < -0.49 and position.max() > 0.49
        assert abs(position.std() - 1 / np.sqrt(12)) < 0.02  # uniform on [-0.5, 0.5]
        tj = latents["translation_jitter"]
        assert abs(tj.std() - jitter) <= 0.1 * jitter
        assert abs(tj.mean()) < 0.05 * jitter + 0.01
        # the two views' jitters are independent
        assert abs(np.corrcoef(tj[:, 0, 0], tj[:, 1, 0])[0, 1]) < 0.1
        assert abs(latents["rotation_jitter"].std() - jitter) <= 0.1 * jitter


def test_latents_agree_with_generated_batch(data300, batch300):
    index = np.array([0, 5, 64, 130, 299])
    latents = data300.latents(index)
    assert np.array_equal(latents["label"], as_np(batch300.label)[index])
    for key in ("position", "translation_jitter", "rotation_jitter"):
        np.testing.assert_array_equal(latents[key], as_np(batch300.latents[key])[index])


@pytest.mark.parametrize("rotation_centre", ["sprite", "image"])
def test_jitter_moves_each_view_by_its_own_latent(rotation_centre):
    """The sprite's centre is at t = position +- baseline / 2 + jitter ("sprite"), or at R(dtheta) t
    ("image", the reference code: the view is turned about the image centre, so the sprite moves)."""
    n = 400
    data = StereoDSprites(n=n, jitter=0.2, noise_x=0.0, noise_y=0.0, seed=10, rotation_centre=rotation_centre)
    batch = data.generate(0, n)
    latents = data.latents(np.arange(n))
    label = as_np(batch.label)
    for view, sign, images in ((0, -1, batch.x), (1, 1, batch.y)):
        mass, cx, cy, border = view_stats(as_np(images))
        ok = inside(mass, border) & np.isin(label, [0, 1])  # centroid = centre, whatever the rotation
        assert ok.sum() > 60
        tx = latents["position"][:, 0] + latents["translation_jitter"][:, view, 0] + sign * 0.2
        ty = latents["position"][:, 1] + latents["translation_jitter"][:, view, 1]
        if rotation_centre == "image":
            angle = latents["rotation_jitter"][:, view]
            tx, ty = np.cos(angle) * tx - np.sin(angle) * ty, np.sin(angle) * tx + np.cos(angle) * ty
        np.testing.assert_allclose(cx[ok], ((tx + 1) * PIXELS_PER_UNIT - 0.5)[ok], atol=0.05)
        np.testing.assert_allclose(cy[ok], ((ty + 1) * PIXELS_PER_UNIT - 0.5)[ok], atol=0.05)


def test_rotating_about_the_image_centre_moves_the_sprite_by_about_r_theta_t():
    """The same samples, "image" against "sprite": the sprite's centre of mass moves by about
    R(dtheta) t - t, which is |dtheta| |t| for small angles (here up to several pixels)."""
    n = 400
    options = dict(n=n, jitter=0.2, noise_x=0.0, noise_y=0.0, seed=10)
    image, sprite = (StereoDSprites(rotation_centre=centre, **options) for centre in ("image", "sprite"))
    latents = image.latents(np.arange(n))
    for name in latents:  # the same latents: only the rendering differs
        np.testing.assert_array_equal(latents[name], sprite.latents(np.arange(n))[name])
    turned, in_place = image.generate(0, n), sprite.generate(0, n)
    label = latents["label"]
    for view, sign, a, b in ((0, -1, turned.x, in_place.x), (1, 1, turned.y, in_place.y)):
        mass_a, cx_a, cy_a, border_a = view_stats(as_np(a))
        mass_b, cx_b, cy_b, border_b = view_stats(as_np(b))
        ok = inside(mass_a, border_a) & inside(mass_b, border_b) & np.isin(label, [0, 1])
        assert ok.sum() > 60
        t = np.stack([latents["position"][:, 0] + latents["translation_jitter"][:, view, 0] + sign * 0.2,
                      latents["position"][:, 1] + latents["translation_jitter"][:, view, 1]], axis=1)
        angle = latents["rotation_jitter"][:, view]
        expected = np.stack([np.cos(angle) * t[:, 0] - np.sin(angle) * t[:, 1],
                             np.sin(angle) * t[:, 0] + np.cos(angle) * t[:, 1]], axis=1) - t
        measured = np.stack([cx_a - cx_b, cy_a - cy_b], axis=1) / PIXELS_PER_UNIT
        np.testing.assert_allclose(measured[ok], expected[ok], atol=0.1 / PIXELS_PER_UNIT)
        small = np.abs(angle) * np.linalg.norm(t, axis=1)
        assert np.max(np.linalg.norm(measured, axis=1)[ok]) > 2.0 / PIXELS_PER_UNIT  # moves of pixels, not noise
        assert np.corrcoef(np.linalg.norm(measured, axis=1)[ok], small[ok])[0, 1] > 0.99


def test_the_rotation_centre_changes_nothing_without_rotation():
    options = dict(n=130, jitter=0.0, noise_y=0.5, seed=4)  # rotation jitter = jitter = 0
    image, sprite = (StereoDSprites(rotation_centre=centre, **options) for centre in ("image", "sprite"))
    assert_batches_equal(image.generate(0, 130), sprite.generate(0, 130))
    # the configurations still differ, so do their fingerprints
    assert image.describe()["config"]["rotation_centre"] == "image" and sprite.describe()["config"]["rotation_centre"] == "sprite"
    assert image.fingerprint != sprite.fingerprint


@pytest.mark.parametrize("jitter, rotation_jitter", [(0.2, None), (0.0, 0.05)])
def test_the_rotation_centre_changes_the_bytes_when_the_views_rotate(jitter, rotation_jitter):
    options = dict(n=130, jitter=jitter, rotation_jitter=rotation_jitter, noise_x=0.0, noise_y=0.0, seed=4)
    image, sprite = (StereoDSprites(rotation_centre=centre, **options).generate(0, 130) for centre in ("image", "sprite"))
    assert torch.equal(image.label, sprite.label)
    for a, b in ((image.x, sprite.x), (image.y, sprite.y)):
        differs = (a - b).abs().amax(dim=(1, 2, 3)) > 0.01
        assert differs.float().mean() > 0.8  # almost every view has moved


def test_extra_nuisance_varies_the_sprite_area_while_the_reference_does_not():
    n = 800
    areas = {}
    for extra in (False, True):
        data = StereoDSprites(n=n, jitter=0.2, noise_x=0.0, noise_y=0.0, seed=3, extra_nuisance=extra)
        batch = data.generate(0, n)
        mass, _, _, border = view_stats(as_np(batch.x))
        ok = inside(mass, border)
        assert ok.sum() > n // 2
        template_mass = as_np(data.templates.sum(dim=(1, 2, 3)))[as_np(batch.label)]
        areas[extra] = (mass / template_mass)[ok]
        latents = data.latents(np.arange(n))
        if extra:
            assert {"scale", "orientation", "scale_jitter"} <= set(latents)
            assert np.all((latents["scale"] >= 0.5) & (latents["scale"] <= 1.0))
            assert np.all((latents["orientation"] >= 0) & (latents["orientation"] <= 2 * np.pi))
            assert np.ptp(latents["scale"]) > 0.4 and np.ptp(latents["orientation"]) > 5.0
            assert latents["scale_jitter"].shape == (n, 2)
            assert abs(latents["scale_jitter"].std() - 0.1) < 0.015  # jitter relative to the range 0.5
            effective = np.clip(latents["scale"] + latents["scale_jitter"][:, 0], 0.25, 1.25)[ok]
            assert np.corrcoef(areas[True], effective**2)[0, 1] > 0.95
        else:
            assert not {"scale", "orientation", "scale_jitter"} & set(latents)
    assert np.all(np.abs(areas[False] - 1) < 0.01)
    assert areas[True].std() / areas[True].mean() > 0.2
    assert areas[True].min() < 0.5


# --------------------------------------------------------------------------- grid, errors, identity
def test_benchmark_grid_cells():
    expected = {
        f"jitter{j}-noise{s}": (float(j), float(s))
        for j in ("0", "0.2", "0.5")
        for s in ("0.2", "0.5", "0.9")
    }
    assert set(BENCHMARK_GRID) == set(expected)
    for name, (jitter, noise_y) in expected.items():
        data = StereoDSprites.from_grid(name, n=5, seed=1)
        assert data.config.jitter == jitter and data.config.noise_y == noise_y
        assert data.config.noise_x == 0.1 and data.config.baseline == 0.4
        assert data.nuisance_alignment == pytest.approx(1 - jitter)
        assert data.n == 5 and data.seed == 1
    assert {round(c.nuisance_alignment, 6) for c in BENCHMARK_GRID.values()} == {1.0, 0.8, 0.5}


@pytest.mark.parametrize("cell", ["nope", "jitter0.3-noise0.5", "jitter0.2-noise0.50", ""])
def test_from_grid_rejects_unknown_cells(cell):
    with pytest.raises(ValueError, match="cell"):
        StereoDSprites.from_grid(cell, n=5)


@pytest.mark.parametrize(
    "kwargs, exc, needle",
    [
        ({"jitter": -0.1}, ValueError, "jitter"),
        ({"noise_x": -0.5}, ValueError, "noise_x"),
        ({"noise_y": -0.5}, ValueError, "noise_y"),
        ({"baseline": -0.4}, ValueError, "baseline"),
        ({"rotation_jitter": -0.01}, ValueError, "rotation_jitter"),
        ({"split": "holdout"}, ValueError, "split"),
        ({"n": 0}, ValueError, "n"),
        ({"n": -5}, ValueError, "n"),
        ({"n": 2.5}, TypeError, "n"),
        ({"seed": -1}, ValueError, "seed"),
        ({"device": "not-a-device"}, ValueError, "device"),
        ({"source": "notes.txt"}, ValueError, "source"),
        ({"rotation_centre": "centre"}, ValueError, "^rotation_centre must be one of 'image', 'sprite'; got 'centre'$"),
    ],
)
def test_constructor_errors(kwargs, exc, needle):
    with pytest.raises(exc, match=needle):
        StereoDSprites(**{"n": 10, **kwargs})


def test_index_errors():
    data = StereoDSprites(n=10)
    with pytest.raises(IndexError):
        data[10]
    with pytest.raises(IndexError):
        data[-11]
    with pytest.raises(TypeError):
        data["3"]
    with pytest.raises(IndexError):
        data.latents([3, 10])
    with pytest.raises(IndexError):
        data.latents([-1])
    with pytest.raises(ValueError):
        data.generate(0, 11)
    with pytest.raises(ValueError):
        data.generate(4, 4)
    with pytest.raises(ValueError):
        data.generate(5, 3)


def test_repr_mentions_nu_max():
    assert "nu_max=0.8" in repr(StereoDSprites(n=10, jitter=0.2))
    assert "nu_max=0.5" in repr(StereoDSprites(n=10, jitter=0.5))
    assert "nu_max=1" in repr(StereoDSprites(n=10, jitter=0.0))
    assert "extra_nuisance=True" in repr(StereoDSprites(n=10, extra_nuisance=True))


def test_fingerprint_is_stable_and_changes_with_any_configuration_change():
    base = dict(split="train", n=50, jitter=0.2, noise_x=0.1, noise_y=0.5, baseline=0.4, rotation_jitter=None, seed=0, extra_nuisance=False)
    reference = StereoDSprites(**base).fingerprint
    assert reference == StereoDSprites(**base).fingerprint
    assert len(reference) == 64
    changes = [
        {"split": "val"}, {"split": "test"}, {"n": 51}, {"jitter": 0.21}, {"noise_x": 0.11}, {"noise_y": 0.9},
        {"baseline": 0.3}, {"rotation_jitter": 0.02}, {"seed": 1}, {"extra_nuisance": True}, {"rotation_centre": "sprite"},
    ]
    prints = {reference}
    for change in changes:
        fp = StereoDSprites(**{**base, **change}).fingerprint
        assert fp != reference, change
        prints.add(fp)
    assert len(prints) == len(changes) + 1


def test_describe_records_the_configuration():
    data = StereoDSprites(n=12, jitter=0.5, noise_y=0.9, seed=3, split="val")
    described = data.describe()
    assert described["dataset"] == "stereo-dsprites" and described["protocol"] == "stereo-dsprites/2"
    assert described["config"]["rotation_centre"] == "image"
    assert described["config"]["jitter"] == 0.5 and described["config"]["noise_y"] == 0.9
    assert (described["n"], described["seed"], described["split"]) == (12, 3, "val")
    assert described["class_names"] == ["square", "ellipse", "heart"]
    assert described["source"] == "procedural"
    assert len(data) == 12


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_generation_keeps_the_guarantees():
    data = StereoDSprites(n=300, seed=7, device="cuda")
    full = data.generate(0, 300)
    assert full.x.device.type == "cuda"
    part = StereoDSprites(n=300, seed=7, device="cuda").generate(100, 200)
    assert torch.equal(full.x[100:200], part.x) and torch.equal(full.label[100:200], part.label)
    x, _, label = data[150]
    assert x.device.type == "cpu" and torch.equal(x, full.x[150].cpu()) and label == int(full.label[150])
    assert float(full.x.min()) >= 0.0 and float(full.x.max()) <= 1.0
    assert data.describe()["device_type"] == "cuda"
    assert data.fingerprint != StereoDSprites(n=300, seed=7).fingerprint
