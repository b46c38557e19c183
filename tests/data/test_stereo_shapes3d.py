"""Stereo-Shapes3D pairs in the paper protocol (2-D warp of one template per shape, paper-facts section 4)
and the stereo protocol (two ray-cast cameras), plus the ``mmphase data`` commands for it.

The shared block/seed/save machinery is tested with Stereo-dSprites (test_stereo_dsprites.py,
test_pairs_file.py); here only what is specific to 3D Shapes is checked.
"""

import colorsys
import math

import h5py
import numpy as np
import pytest
import torch

from mmphase_bench.cli.main import main
from mmphase_bench.data.pairs_file import PairsFile
from mmphase_bench.data.shapes3d import (
    DEFAULT_SCENE, Cameras, ProceduralShapes3D, classes_to_index, index_to_classes, render_scenes,
)
from mmphase_bench.data.stereo_shapes3d import BENCHMARK_GRID, StereoShapes3D

PIXELS_PER_UNIT = 32.0  # paper protocol: affine units, the 64-pixel canvas spans [-1, 1]
# The documented scene (SceneGeometry defaults): rig orbit at distance 5, height 2.4, looking at height 0.9.
CAMERA = np.array([0.0, 2.4, 5.0])
FORWARD = np.array([0.0, 0.9 - 2.4, -5.0]) / np.linalg.norm([0.0, 0.9 - 2.4, -5.0])
FOCAL_PX = PIXELS_PER_UNIT / math.tan(math.radians(35.0 / 2))  # vertical field of view 35 degrees
HEIGHTS = np.array([1.3, 1.3, 1.3, 1.7])  # cube, cylinder, sphere, capsule at scale 1


def as_np(t):
    return t.detach().cpu().numpy()


def slice_equal(batch, part, lo, hi):
    assert torch.equal(batch.x[lo:hi], part.x) and torch.equal(batch.y[lo:hi], part.y)
    assert torch.equal(batch.label[lo:hi], part.label) and torch.equal(batch.index[lo:hi], part.index)
    assert set(batch.latents) == set(part.latents)
    for key in batch.latents:
        assert torch.equal(batch.latents[key][lo:hi], part.latents[key]), key


def bilinear_shift(image, sx, sy):
    """image (C, H, W) moved by (sx, sy) pixels with bilinear sampling and zeros outside."""
    def weights(n, s):
        u = np.arange(n) - s
        lo = np.floor(u).astype(int)
        frac = u - lo
        columns = np.arange(n)[None, :]
        return (columns == lo[:, None]) * (1 - frac)[:, None] + (columns == lo[:, None] + 1) * frac[:, None]

    _, height, width = image.shape
    return weights(height, sy) @ image @ weights(width, sx).T


# =========================================================================== paper protocol
@pytest.fixture(scope="module")
def paper200():
    data = StereoShapes3D(n=200, seed=7)
    return data, data.generate(0, 200)


def test_paper_views_are_float32_rgb(paper200):
    data, batch = paper200
    assert data.protocol == "paper" and data.class_names == ("cube", "cylinder", "sphere", "capsule")
    for view in (batch.x, batch.y):
        assert view.dtype == torch.float32 and view.shape == (200, 3, 64, 64)
        assert float(view.min()) >= 0.0 and float(view.max()) <= 1.0
    assert float((batch.x - batch.y).abs().mean()) > 0.1  # noise_y 0.5 vs noise_x 0.1
    assert set(as_np(batch.label)) == {0, 1, 2, 3}


def test_paper_templates_are_the_canonical_images():
    data = StereoShapes3D(n=5)
    source = ProceduralShapes3D()
    expected = np.stack([source.canonical_image(s) for s in range(4)])
    assert data.templates.shape == (4, 3, 64, 64)
    np.testing.assert_array_equal(as_np(data.templates), expected)


def test_paper_batch_independence_and_items(paper200):
    data, batch = paper200
    fresh = StereoShapes3D(n=200, seed=7)
    slice_equal(batch, fresh.generate(64, 130), 64, 130)
    slice_equal(batch, fresh.generate(0, 1), 0, 1)
    for i in (0, 63, 64, 129, 199):
        x, y, label = data[i]
        assert x.shape == (3, 64, 64) and x.dtype == torch.float32
        assert torch.equal(x, batch.x[i]) and torch.equal(y, batch.y[i]) and label == int(batch.label[i])


def test_paper_jitter_statistics():
    n = 2000
    for jitter in (0.2, 0.5):
        latents = StereoShapes3D(n=n, jitter=jitter, seed=9).latents(np.arange(n))
        assert set(latents) == {"label", "position", "translation_jitter", "rotation_jitter"}
        # rotation jitter is 0.02 rad whatever the translation jitter (paper-facts section 4)
        assert abs(latents["rotation_jitter"].std() - 0.02) <= 0.15 * 0.02
        assert abs(latents["translation_jitter"].std() - jitter) <= 0.1 * jitter
        assert np.all(np.abs(latents["position"]) <= 0.5)
    latents = StereoShapes3D(n=n, jitter=0.2, rotation_jitter=0.1, seed=9).latents(np.arange(n))
    assert abs(latents["rotation_jitter"].std() - 0.1) <= 0.015


def test_paper_zero_jitter_noise_baseline_give_equal_views():
    options = dict(n=128, jitter=0.0, noise_x=0.0, noise_y=0.0, baseline=0.0, seed=2)
    batch = StereoShapes3D(rotation_jitter=0.0, **options).generate(0, 128)
    assert torch.equal(batch.x, batch.y)
    assert float(batch.x.mean()) > 0.2  # not blank
    # with the default rotation jitter (0.02) the views still differ although jitter is 0
    rotated = StereoShapes3D(**options).generate(0, 128)
    assert not torch.equal(rotated.x, rotated.y)
    assert float((rotated.x - rotated.y).abs().amax(dim=(1, 2, 3)).min()) > 0.01


def test_paper_rotation_centre_matters_only_when_the_views_rotate():
    options = dict(n=64, jitter=0.0, noise_x=0.0, noise_y=0.0, seed=2)
    # no rotation: the two centres give the same bytes
    image, sprite = (StereoShapes3D(rotation_jitter=0.0, rotation_centre=centre, **options).generate(0, 64)
                     for centre in ("image", "sprite"))
    assert torch.equal(image.x, sprite.x) and torch.equal(image.y, sprite.y)
    # the paper's rotation jitter (0.02 rad) about the image centre also moves the object by about
    # 0.02 |t| (up to about half a pixel here): different bytes
    image, sprite = (StereoShapes3D(rotation_centre=centre, **options).generate(0, 64) for centre in ("image", "sprite"))
    assert torch.equal(image.label, sprite.label)
    assert not torch.equal(image.x, sprite.x) and not torch.equal(image.y, sprite.y)
    assert float((image.x - sprite.x).abs().amax(dim=(1, 2, 3)).median()) > 0.01


def test_the_stereo_protocol_does_not_depend_on_the_rotation_centre():
    """The stereo protocol ray-casts its cameras (no 2-D warp): the rotation centre changes nothing,
    so its protocol version stays stereo/2."""
    options = dict(n=16, protocol="stereo", noise_x=0.0, noise_y=0.0, seed=3)
    image, sprite = (StereoShapes3D(rotation_centre=centre, **options).generate(0, 16) for centre in ("image", "sprite"))
    assert torch.equal(image.x, sprite.x) and torch.equal(image.y, sprite.y)


def test_an_unknown_rotation_centre_is_one_clear_error():
    with pytest.raises(ValueError) as error:
        StereoShapes3D(n=5, rotation_centre="object")
    assert str(error.value) == "rotation_centre must be one of 'image', 'sprite'; got 'object'"


def test_paper_right_view_is_the_template_shifted_12_8_px_further_right():
    n = 64
    data = StereoShapes3D(n=n, jitter=0.0, noise_x=0.0, noise_y=0.0, rotation_jitter=0.0, seed=1)
    batch = data.generate(0, n)
    latents = data.latents(np.arange(n))
    templates = as_np(data.templates).astype(np.float64)
    half_baseline_px = 0.4 / 2 * PIXELS_PER_UNIT  # 6.4 px each side, 12.8 px apart
    for i in range(0, n, 4):
        template = templates[latents["label"][i]]
        px, py = latents["position"][i] * PIXELS_PER_UNIT
        left = bilinear_shift(template, px - half_baseline_px, py)
        right = bilinear_shift(template, px + half_baseline_px, py)
        np.testing.assert_allclose(as_np(batch.x[i]), left, atol=1e-4)
        np.testing.assert_allclose(as_np(batch.y[i]), right, atol=1e-4)
        # one pixel less of shift does not fit
        assert np.abs(as_np(batch.y[i]) - bilinear_shift(template, px + half_baseline_px - 1, py)).max() > 0.05
    # the black border: the right view has about 12.8 more black columns on the left than the left view
    black_x = (as_np(batch.x).max(axis=(1, 2)) == 0)
    black_y = (as_np(batch.y).max(axis=(1, 2)) == 0)
    left_x = black_x[:, :32].sum(axis=1)
    left_y = black_y[:, :32].sum(axis=1)
    both = (left_x > 0) & (latents["position"][:, 0] > 0.25)
    assert both.sum() > 3
    assert np.all(np.abs(left_y[both] - left_x[both] - 12.8) <= 1.0)


@pytest.mark.parametrize("kwargs, needle", [
    ({"extra_nuisance": True}, "extra_nuisance"),
    ({"protocol": "mujoco"}, "protocol"),
    ({"protocol": "Paper"}, "protocol"),
])
def test_constructor_errors(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        StereoShapes3D(n=10, **kwargs)


# --------------------------------------------------------------------------- official source
@pytest.fixture(scope="module")
def official_path(tmp_path_factory):
    classes = np.array([[0, 0, 0, 7, s, 7] for s in range(4)] + [[1, 2, 3, 4, 1, 0]], dtype=np.int64)
    index = classes_to_index(classes)
    source = ProceduralShapes3D()
    images = source.images(index)
    images[:4, :2] = 0  # distinguishable from the procedural canonical images
    path = tmp_path_factory.mktemp("official") / "3dshapes.h5"
    with h5py.File(path, "w") as handle:
        handle["images"] = images
        handle["labels"] = source.latents_values(index)
    return path


def test_paper_protocol_reads_templates_from_the_official_file(official_path):
    data = StereoShapes3D(n=20, source=official_path)
    with h5py.File(official_path, "r") as handle:
        expected = handle["images"][:4].transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    np.testing.assert_array_equal(as_np(data.templates), expected)
    assert data.describe()["source"] == "official:3dshapes.h5"
    assert data.fingerprint != StereoShapes3D(n=20).fingerprint
    batch = data.generate(0, 20)
    assert batch.x.shape == (20, 3, 64, 64)


def test_stereo_protocol_refuses_an_official_source(official_path):
    with pytest.raises(ValueError, match="source"):
        StereoShapes3D(n=10, protocol="stereo", source=official_path)


# =========================================================================== stereo protocol
def rig_cameras(side, baseline, batch):
    """The rig at orientation 0, no jitter: camera at CAMERA + side * baseline * x, looking along FORWARD."""
    position = torch.tensor(CAMERA + np.array([side * baseline, 0.0, 0.0]), dtype=torch.float64).expand(batch, 3).clone()
    return Cameras.looking_at(position, position + torch.tensor(FORWARD, dtype=torch.float64))


def rig_render(cameras, label, position, object_hue):
    batch = label.shape[0]
    zeros = torch.zeros(batch, dtype=torch.float64)
    return render_scenes(
        cameras, shape=label, scale=torch.full((batch,), 1.25, dtype=torch.float64), object_position=position,
        object_yaw=zeros, floor_hue=zeros, wall_hue=zeros, object_hue=zeros + object_hue,
    )


def silhouette_columns(data, batch, baseline):
    """Per view: centroid column of the object and whether it touches the border (noise-free, jitter 0)."""
    latents = data.latents(np.arange(len(batch)))
    label = torch.as_tensor(latents["label"])
    position = torch.as_tensor(latents["object_position"])
    out = []
    for side, view in ((-0.5, batch.x), (0.5, batch.y)):
        cameras = rig_cameras(side, baseline, len(batch))
        plain = rig_render(cameras, label, position, 0.0)
        # our reconstruction of the camera is the dataset's: same picture
        assert float((plain - view).abs().max()) <= 1e-5
        mask = as_np((plain - rig_render(cameras, label, position, 0.5)).abs().amax(dim=1) > 1e-6)
        border = mask[:, 0].any(1) | mask[:, -1].any(1) | mask[:, :, 0].any(1) | mask[:, :, -1].any(1)
        columns = np.array([np.nonzero(m)[1].mean() if m.any() else np.nan for m in mask])
        out.append((columns, border | ~mask.any(axis=(1, 2))))
    return out, latents


@pytest.fixture(scope="module")
def stereo200():
    data = StereoShapes3D(n=200, protocol="stereo", seed=5)
    return data, data.generate(0, 200)


def test_stereo_views_batch_independence_and_determinism(stereo200):
    data, batch = stereo200
    assert batch.x.dtype == torch.float32 and batch.x.shape == (200, 3, 64, 64)
    assert float(batch.x.min()) >= 0.0 and float(batch.y.max()) <= 1.0
    fresh = StereoShapes3D(n=200, protocol="stereo", seed=5)
    slice_equal(batch, fresh.generate(64, 130), 64, 130)
    slice_equal(batch, fresh.generate(63, 65), 63, 65)
    again = StereoShapes3D(n=200, protocol="stereo", seed=5).generate(0, 200)
    assert as_np(again.x).tobytes() == as_np(batch.x).tobytes()
    assert as_np(again.y).tobytes() == as_np(batch.y).tobytes()
    other = StereoShapes3D(n=200, protocol="stereo", seed=6).generate(0, 200)
    assert not torch.equal(other.x, batch.x)
    x, y, label = data[77]
    assert torch.equal(x, batch.x[77]) and torch.equal(y, batch.y[77]) and label == int(batch.label[77])


def test_stereo_differs_from_paper_protocol(stereo200):
    _, batch = stereo200
    paper = StereoShapes3D(n=200, seed=5).generate(0, 200)
    assert not torch.equal(paper.x, batch.x)


def test_stereo_latent_statistics():
    n = 2000
    for jitter in (0.2, 0.5):
        latents = StereoShapes3D(n=n, protocol="stereo", jitter=jitter, seed=4).latents(np.arange(n))
        assert set(latents) == {"label", "object_position", "camera_shift", "camera_yaw"}
        counts = np.bincount(latents["label"], minlength=4)
        assert len(counts) == 4
        chi2 = float(((counts - n / 4) ** 2 / (n / 4)).sum())
        assert chi2 < 16.3  # 3 degrees of freedom, p = 0.001
        position = latents["object_position"]
        assert position.shape == (n, 2) and np.all(np.abs(position) <= 1.0)
        assert position.min() < -0.98 and position.max() > 0.98
        assert abs(position.std() - 1 / math.sqrt(3)) < 0.03  # uniform on [-1, 1]
        shift, yaw = latents["camera_shift"], latents["camera_yaw"]
        assert shift.shape == (n, 2, 2) and yaw.shape == (n, 2)
        assert abs(shift.std() - jitter) <= 0.1 * jitter
        assert abs(yaw.std() - 10.0 * jitter) <= 0.1 * 10.0 * jitter  # degrees
        assert abs(np.corrcoef(shift[:, 0, 0], shift[:, 1, 0])[0, 1]) < 0.1  # independent per camera


def test_stereo_extra_nuisance_latents_are_on_the_official_grids():
    n = 1000
    latents = StereoShapes3D(n=n, protocol="stereo", extra_nuisance=True, seed=8).latents(np.arange(n))
    assert {"hues", "scale", "orientation"} <= set(latents)
    hues = latents["hues"]
    assert hues.shape == (n, 3)
    np.testing.assert_allclose(np.unique(hues), np.arange(10) / 10, atol=1e-12)
    for column in range(3):
        assert len(np.unique(hues[:, column])) == 10
    np.testing.assert_allclose(np.unique(latents["scale"]), np.linspace(0.75, 1.25, 8), atol=1e-12)
    np.testing.assert_allclose(np.unique(latents["orientation"]), np.linspace(-30, 30, 15), atol=1e-12)
    # hues are independent of each other
    assert abs(np.corrcoef(hues[:, 0], hues[:, 1])[0, 1]) < 0.15


def test_stereo_extra_nuisance_colours_the_room():
    n = 64
    data = StereoShapes3D(n=n, protocol="stereo", extra_nuisance=True, jitter=0.0, noise_x=0.0, noise_y=0.0, seed=8)
    batch = data.generate(0, n)
    hues = data.latents(np.arange(n))["hues"]
    floor_share, object_seen = [], []
    for i in range(n):
        floor, wall, thing = (np.array(colorsys.hsv_to_rgb(h, 0.85, 1.0))[:, None] for h in hues[i])
        for view in (batch.x[i], batch.y[i]):
            image = as_np(view).astype(np.float64)
            colour = image / np.maximum(image.max(axis=0, keepdims=True), 1e-12)
            assert np.all(np.abs(colour[:, 0] - wall) < 1e-3)  # top row: the walls
            on_floor = np.all(np.abs(colour[:, -1] - floor) < 1e-3, axis=0)
            on_object = np.all(np.abs(colour[:, -1] - thing) < 1e-3, axis=0)
            assert np.all(on_floor | on_object)  # bottom row: the floor, or a near object in front of it
            floor_share.append(on_floor.mean())
            if hues[i, 2] not in (hues[i, 0], hues[i, 1]):
                object_seen.append(np.all(np.abs(colour - thing[:, :, None]) < 1e-3, axis=0).sum() > 20)
    assert np.mean(np.array(floor_share) >= 0.5) > 0.9
    assert np.mean(object_seen) > 0.9


def test_stereo_zero_jitter_has_parallax_with_the_object_further_right_in_the_left_view():
    n = 64
    data = StereoShapes3D(n=n, protocol="stereo", jitter=0.0, noise_x=0.0, noise_y=0.0, seed=3)
    batch = data.generate(0, n)
    assert bool((batch.x != batch.y).any(dim=(1, 2, 3)).all())  # real parallax: the views differ
    ((left, left_out), (right, right_out)), latents = silhouette_columns(data, batch, 0.4)
    ok = ~(left_out | right_out)
    assert ok.sum() >= 20
    disparity = left - right
    assert np.all(disparity[ok] > 3.0)  # the left camera sees the object further right
    # parallel rig: disparity = focal * baseline / depth of the object
    height = HEIGHTS[latents["label"]] * 1.25
    centre = np.stack([latents["object_position"][:, 0], height / 2, latents["object_position"][:, 1]], axis=1)
    expected = FOCAL_PX * 0.4 / ((centre - CAMERA) @ FORWARD)
    ratio = disparity[ok] / expected[ok]
    assert np.all((ratio > 0.9) & (ratio < 1.3)), ratio
    # nearer objects (larger z) have larger disparity
    z = latents["object_position"][ok, 1]
    assert np.corrcoef(z, disparity[ok])[0, 1] > 0.8


def test_stereo_disparity_grows_with_the_baseline():
    n = 64
    disparities = {}
    for baseline in (0.4, 0.8):
        data = StereoShapes3D(n=n, protocol="stereo", jitter=0.0, noise_x=0.0, noise_y=0.0, baseline=baseline, seed=3)
        ((left, left_out), (right, right_out)), _ = silhouette_columns(data, data.generate(0, n), baseline)
        disparities[baseline] = (left - right, ~(left_out | right_out))
    ok = disparities[0.4][1] & disparities[0.8][1]
    assert ok.sum() >= 15
    ratio = disparities[0.8][0][ok] / disparities[0.4][0][ok]
    assert np.all((ratio > 1.8) & (ratio < 2.2)), ratio


def test_stereo_zero_baseline_and_jitter_give_equal_views():
    batch = StereoShapes3D(n=64, protocol="stereo", jitter=0.0, noise_x=0.0, noise_y=0.0, baseline=0.0, seed=3).generate(0, 64)
    assert torch.equal(batch.x, batch.y)


def test_stereo_jitter_moves_each_camera():
    n = 64
    options = dict(n=n, protocol="stereo", noise_x=0.0, noise_y=0.0, baseline=0.0, seed=3)
    still = StereoShapes3D(jitter=0.0, **options).generate(0, n)
    moved = StereoShapes3D(jitter=0.2, **options).generate(0, n)
    # the object positions and labels are the same draws; the cameras now move independently
    assert torch.equal(still.label, moved.label)
    assert bool((moved.x != moved.y).any(dim=(1, 2, 3)).all())
    assert bool((moved.x != still.x).any(dim=(1, 2, 3)).all())


def test_stereo_each_camera_follows_its_own_shift_and_yaw():
    """Each view is the scene seen from its rig camera moved by its own (dx, dz) and turned by its own yaw
    (right-hand rule about +y: a positive yaw turns the camera to its left)."""
    n = 64
    baseline = 0.4
    data = StereoShapes3D(n=n, protocol="stereo", jitter=0.3, noise_x=0.0, noise_y=0.0, baseline=baseline, seed=13)
    batch = data.generate(0, n)
    latents = data.latents(np.arange(n))
    label = torch.as_tensor(latents["label"])
    position = torch.as_tensor(latents["object_position"])
    for view, (side, images) in enumerate(((-0.5, batch.x), (0.5, batch.y))):
        shift = latents["camera_shift"][:, view]
        yaw = np.deg2rad(latents["camera_yaw"][:, view])
        eye = CAMERA + np.array([side * baseline, 0.0, 0.0]) + np.stack([shift[:, 0], np.zeros(n), shift[:, 1]], axis=1)
        forward = np.stack([
            np.cos(yaw) * FORWARD[0] + np.sin(yaw) * FORWARD[2], np.full(n, FORWARD[1]),
            -np.sin(yaw) * FORWARD[0] + np.cos(yaw) * FORWARD[2],
        ], axis=1)
        eye_t = torch.tensor(eye, dtype=torch.float64)
        cameras = Cameras.looking_at(eye_t, eye_t + torch.tensor(forward, dtype=torch.float64))
        expected = rig_render(cameras, label, position, 0.0)
        assert float((expected - images).abs().max()) <= 1e-4, view
    assert abs(latents["camera_yaw"]).max() > 3.0  # the yaws are large enough to matter (3 degrees is ~9 px)


def test_stereo_save_and_pairs_file_round_trip(tmp_path):
    data = StereoShapes3D(n=100, protocol="stereo", seed=12)
    path = tmp_path / "stereo.h5"
    data.save(path, batch_size=48)
    reference = data.generate(0, 100)
    pairs = PairsFile(path)
    assert len(pairs) == 100 and pairs.shape == (3, 64, 64)
    x, y, label = pairs.read()
    assert torch.equal(x, reference.x) and torch.equal(y, reference.y) and torch.equal(label, reference.label)
    assert set(pairs.latent_names) == {"object_position", "camera_shift", "camera_yaw"}
    latents = pairs.latents()
    for name in pairs.latent_names:
        np.testing.assert_array_equal(latents[name], as_np(reference.latents[name]))
    assert pairs.fingerprint == data.fingerprint
    description = pairs.description
    assert description["dataset"] == "stereo-shapes3d" and description["protocol"] == "stereo-shapes3d/stereo/2"
    assert description["scene"]["camera_distance"] == 5.0 and description["source"] == "procedural"
    assert pairs.class_names == ("cube", "cylinder", "sphere", "capsule")


# =========================================================================== grid and identity
def test_benchmark_grid_cells():
    expected = {f"jitter{j}-noise{s}": (float(j), float(s)) for j in ("0", "0.2", "0.5") for s in ("0.2", "0.5", "0.9")}
    assert set(BENCHMARK_GRID) == set(expected)
    for name, (jitter, noise_y) in expected.items():
        data = StereoShapes3D.from_grid(name, n=5, protocol="stereo", seed=2)
        assert data.protocol == "stereo" and data.n == 5 and data.seed == 2
        assert data.config.jitter == jitter and data.config.noise_y == noise_y
        assert data.nuisance_alignment == pytest.approx(1 - jitter)
    assert StereoShapes3D.from_grid("jitter0.5-noise0.2", n=5).protocol == "paper"


@pytest.mark.parametrize("cell", ["nope", "jitter0.3-noise0.5", ""])
def test_from_grid_rejects_unknown_cells(cell):
    with pytest.raises(ValueError, match="cell"):
        StereoShapes3D.from_grid(cell, n=5)


def test_fingerprint_and_description_depend_on_the_protocol():
    paper = StereoShapes3D(n=50, seed=1)
    stereo = StereoShapes3D(n=50, seed=1, protocol="stereo")
    assert paper.fingerprint != stereo.fingerprint
    assert paper.fingerprint == StereoShapes3D(n=50, seed=1).fingerprint
    assert stereo.fingerprint == StereoShapes3D(n=50, seed=1, protocol="stereo").fingerprint
    # paper/3: the rotation jitter turns each view about the image centre (paper/2 turned the template in place)
    assert paper.describe()["protocol"] == "stereo-shapes3d/paper/3"
    assert stereo.describe()["protocol"] == "stereo-shapes3d/stereo/2"
    assert paper.describe()["config"]["rotation_centre"] == "image"
    assert paper.fingerprint != StereoShapes3D(n=50, seed=1, rotation_centre="sprite").fingerprint
    assert "scene" in stereo.describe() and "scene" not in paper.describe()
    assert stereo.fingerprint != StereoShapes3D(n=50, seed=1, protocol="stereo", baseline=0.8).fingerprint
    assert stereo.fingerprint != StereoShapes3D(n=50, seed=1, protocol="stereo", extra_nuisance=True).fingerprint
    assert "protocol='stereo'" in repr(stereo) and "protocol='paper'" in repr(paper)
    assert "rotation_jitter=0.02" in repr(paper)


# =========================================================================== command line
def test_cli_preview_stereo_protocol_writes_a_png(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["data", "preview", "stereo-shapes3d", "--out", "g.png", "--pairs", "2", "--protocol", "stereo"])
    assert code == 0
    data = (tmp_path / "g.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert "g.png" in capsys.readouterr().out


def test_cli_render_stereo_protocol(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["data", "render", "stereo-shapes3d", "--n", "64", "--out", "s.h5", "--protocol", "stereo"])
    assert code == 0
    assert "s.h5" in capsys.readouterr().out
    pairs = PairsFile(tmp_path / "s.h5")
    assert pairs.description["protocol"] == "stereo-shapes3d/stereo/2"
    assert pairs.description["config"]["rotation_jitter"] == 0.02
    expected = StereoShapes3D(n=64, protocol="stereo")
    assert pairs.fingerprint == expected.fingerprint
    x, _, _ = pairs.read()
    assert torch.equal(x, expected.generate(0, 64).x)


def test_cli_render_default_protocol_is_paper(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["data", "render", "stereo-shapes3d", "--n", "10", "--out", "p.h5"]) == 0
    assert PairsFile(tmp_path / "p.h5").description["protocol"] == "stereo-shapes3d/paper/3"


def test_cli_protocol_is_refused_for_stereo_dsprites(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["data", "render", "stereo-dsprites", "--n", "10", "--out", "x.h5", "--protocol", "stereo"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("mmphase: error:")
    assert "--protocol" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())
