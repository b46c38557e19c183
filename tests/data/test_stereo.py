"""The stereo protocol's building blocks: configuration, warping, random blocks (mmphase_bench.data.stereo)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmphase_bench.data.stereo import (
    BLOCK,
    StereoConfig,
    block_generator,
    draw_block_latents,
    fingerprint,
    template_radius,
    view_transforms,
    warp_templates,
)
from mmphase_bench.data.stereo_dsprites import StereoDSprites


# --------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("name", ["jitter", "noise_x", "noise_y", "baseline", "position_range", "rotation_jitter"])
def test_config_rejects_negative_values_naming_the_argument(name):
    with pytest.raises(ValueError, match=name):
        StereoConfig(**{name: -0.1})


@pytest.mark.parametrize("name", ["jitter", "noise_y"])
def test_config_rejects_non_finite_values(name):
    with pytest.raises(ValueError, match=name):
        StereoConfig(**{name: float("nan")})
    with pytest.raises(ValueError, match=name):
        StereoConfig(**{name: float("inf")})


def test_config_rejects_non_boolean_extra_nuisance():
    with pytest.raises(TypeError, match="extra_nuisance"):
        StereoConfig(extra_nuisance="yes")


@pytest.mark.parametrize("bad", ["centre", "Image", "", None, 0])
def test_config_rejects_an_unknown_rotation_centre_naming_the_argument(bad):
    with pytest.raises(ValueError) as error:
        StereoConfig(rotation_centre=bad)
    assert str(error.value) == f"rotation_centre must be one of 'image', 'sprite'; got {bad!r}"


@pytest.mark.parametrize("jitter", [0.0, 0.2, 0.5, 1.0, 1.5])
def test_nuisance_alignment_is_one_minus_jitter(jitter):
    config = StereoConfig(jitter=jitter)
    assert config.nuisance_alignment == pytest.approx(1.0 - jitter)
    assert config.effective_rotation_jitter == pytest.approx(jitter)
    assert StereoConfig(jitter=jitter, rotation_jitter=0.02).effective_rotation_jitter == pytest.approx(0.02)


def test_config_defaults_are_the_reference_protocol():
    config = StereoConfig()
    assert (config.noise_x, config.baseline, config.position_range, config.extra_nuisance) == (0.1, 0.4, 0.5, False)
    assert config.to_dict()["jitter"] == 0.2
    # the paper's reference code turns each view about the image centre
    assert config.rotation_centre == "image" and config.to_dict()["rotation_centre"] == "image"


# --------------------------------------------------------------------------- warping
def reference_warp(templates, label, translation, rotation, scale):
    """Full-canvas affine_grid + grid_sample: content at a appears at t + s R(rot) a."""
    cos = torch.cos(rotation) / scale
    sin = torch.sin(rotation) / scale
    # sampling location a = R(-rot) (q - t) / s
    matrix = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # (B, 2, 2)
    offset = -(matrix @ translation[:, :, None])[:, :, 0]
    theta = torch.cat([matrix, offset[:, :, None]], dim=-1).double()
    batch = label.shape[0]
    _, channels, height, width = templates.shape
    grid = F.affine_grid(theta, (batch, channels, height, width), align_corners=False)
    return F.grid_sample(templates.double()[label], grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_transforms(batch, seed, t_max=2.0):
    g = torch.Generator().manual_seed(seed)
    translation = (torch.rand((batch, 2), generator=g, dtype=torch.float64) * 2 - 1) * t_max
    rotation = (torch.rand(batch, generator=g, dtype=torch.float64) * 2 - 1) * math.pi * 2
    scale = 0.5 + 0.7 * torch.rand(batch, generator=g, dtype=torch.float64)
    return translation, rotation, scale


def synthetic_templates():
    """Templates that stress the window: off-centre single pixels (diagonal), a disk, a smooth blob, RGB."""
    size = 64
    out = torch.zeros((4, 3, size, size))
    out[0, :, 45, 45] = 1.0
    out[0, :, 32, 32] = 0.5
    out[1, :, 18, 47] = 1.0
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5 - 32, torch.arange(size) + 0.5 - 32, indexing="ij")
    out[2] = ((xx**2 + yy**2) <= 12.7**2).float()
    blob = torch.exp(-((xx - 3) ** 2 + (yy + 2) ** 2) / 30.0) * ((xx**2 + yy**2) <= 14**2)
    out[3, 0], out[3, 1], out[3, 2] = blob, 0.5 * blob, blob.flip(0)
    return out


@pytest.mark.parametrize("kind", ["dsprites", "synthetic"])
def test_warp_templates_matches_full_canvas_affine_grid(kind):
    if kind == "dsprites":
        templates = StereoDSprites(n=1).templates
    else:
        templates = synthetic_templates()
    batch = 600
    translation, rotation, scale = random_transforms(batch, seed=11 if kind == "dsprites" else 12)
    # make sure some transforms sit exactly on / near the canvas edges and far outside
    translation[:4] = torch.tensor([[1.0, -1.0], [-1.9, 0.2], [0.0, 2.0], [1.2, 1.2]], dtype=torch.float64)
    label = torch.arange(batch) % templates.shape[0]
    radius = template_radius(templates)
    warped = warp_templates(templates, label, translation, rotation, scale, radius)
    expected = reference_warp(templates, label, translation, rotation, scale)
    assert warped.dtype == torch.float32 and warped.shape == expected.shape
    assert (warped.double() - expected).abs().max().item() < 1e-5
    # the comparison has power: many views are visible, some are entirely outside the canvas
    mass = expected.sum(dim=(1, 2, 3))
    assert (mass > 1.0).sum() > batch // 4
    assert (mass == 0).sum() > 10


def test_warp_templates_small_translations_and_rotations():
    templates = StereoDSprites(n=1).templates
    batch = 300
    translation, rotation, scale = random_transforms(batch, seed=5, t_max=0.6)
    rotation = rotation * 0.05
    label = torch.arange(batch) % 3
    warped = warp_templates(templates, label, translation, rotation, scale, template_radius(templates))
    expected = reference_warp(templates, label, translation, rotation, scale)
    assert (warped.double() - expected).abs().max().item() < 1e-5


def test_warp_identity_returns_the_template():
    templates = StereoDSprites(n=1).templates
    label = torch.tensor([0, 1, 2])
    zeros = torch.zeros(3, dtype=torch.float64)
    warped = warp_templates(templates, label, torch.zeros((3, 2), dtype=torch.float64), zeros, torch.ones(3, dtype=torch.float64), template_radius(templates))
    assert torch.allclose(warped, templates, atol=1e-6)


def test_warp_whole_pixel_translation_is_a_shift():
    templates = StereoDSprites(n=1).templates
    # 0.25 affine units = 8 pixels right, -0.125 = 4 pixels up
    t = torch.tensor([[0.25, -0.125]], dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    warped = warp_templates(templates, torch.tensor([2]), t, 0 * one, one, template_radius(templates))
    shifted = torch.roll(templates[2], shifts=(-4, 8), dims=(1, 2))
    assert torch.allclose(warped[0], shifted, atol=1e-6)


def test_warp_empty_batch():
    templates = StereoDSprites(n=1).templates
    empty = torch.zeros(0, dtype=torch.float64)
    out = warp_templates(templates, torch.zeros(0, dtype=torch.long), torch.zeros((0, 2), dtype=torch.float64), empty, empty, 0.5)
    assert out.shape == (0, 1, 64, 64)


def test_template_radius_of_single_pixels():
    template = torch.zeros((2, 1, 64, 64))
    template[0, 0, 40, 50] = 1.0
    template[1, 0, 30, 31] = 1.0
    # pixel (r, c) has affine centre ((2c + 1) / 64 - 1, (2r + 1) / 64 - 1); plus one pixel (2 / 64)
    x, y = (2 * 50 + 1) / 64 - 1, (2 * 40 + 1) / 64 - 1
    assert template_radius(template) == pytest.approx(math.hypot(x, y) + 2 / 64)
    assert template_radius(torch.zeros((1, 1, 64, 64))) == 0.0


def test_view_transforms_place_the_cameras():
    config = StereoConfig(jitter=0.3, baseline=0.4, rotation_centre="sprite")
    g = block_generator(0, "train", 0, torch.device("cpu"))
    latents = draw_block_latents(g, config, 3, torch.device("cpu"))
    translation, rotation, scale = view_transforms(latents, config)
    assert translation.shape == (BLOCK, 2, 2)
    expected_left = latents["position"] + latents["translation_jitter"][:, 0] + torch.tensor([-0.2, 0.0], dtype=torch.float64)
    expected_right = latents["position"] + latents["translation_jitter"][:, 1] + torch.tensor([0.2, 0.0], dtype=torch.float64)
    assert torch.allclose(translation[:, 0], expected_left)
    assert torch.allclose(translation[:, 1], expected_right)
    assert torch.equal(rotation, latents["rotation_jitter"])
    assert torch.all(scale == 1)
    # the latents were not modified in place
    assert torch.all(latents["position"].abs() <= 0.5)


def _rotated(translation, angle):
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack([cos * translation[..., 0] - sin * translation[..., 1],
                        sin * translation[..., 0] + cos * translation[..., 1]], dim=-1)


def test_view_transforms_about_the_image_centre_rotate_the_translation():
    """rotation_centre "image": q = R(dtheta) (a + t), so the template turns in place at R(dtheta) t."""
    g = block_generator(0, "train", 0, torch.device("cpu"))
    latents = draw_block_latents(g, StereoConfig(jitter=0.3), 3, torch.device("cpu"))
    sprite = view_transforms(latents, StereoConfig(jitter=0.3, rotation_centre="sprite"))
    image = view_transforms(latents, StereoConfig(jitter=0.3))  # the default
    assert torch.equal(image[1], sprite[1]) and torch.equal(image[2], sprite[2])  # same rotation and scale
    rotated = _rotated(sprite[0], sprite[1])
    assert torch.allclose(image[0], rotated, atol=1e-12, rtol=0)
    # the move is about |dtheta| |t| (here dtheta ~ N(0, 0.3^2)): not negligible
    moved = (image[0] - sprite[0]).norm(dim=-1)
    assert float(moved.max()) > 0.05
    assert torch.allclose(moved, 2 * torch.sin(sprite[1].abs() / 2) * sprite[0].norm(dim=-1), atol=1e-12)
    # the latents were not modified in place
    assert torch.equal(latents["rotation_jitter"], sprite[1])


def test_warping_about_the_image_centre_is_the_reference_codes_affine_grid():
    """Each view equals affine_grid + grid_sample of theta = [R(-dtheta) | -t]: the canvas is moved by
    t, then turned about its centre by dtheta (content at a appears at R(dtheta) (a + t))."""
    templates = StereoDSprites(n=1).templates
    config = StereoConfig(jitter=0.3, rotation_jitter=0.5)
    g = block_generator(1, "train", 0, torch.device("cpu"))
    latents = draw_block_latents(g, config, 3, torch.device("cpu"))
    translation, rotation, scale = view_transforms(latents, config)
    t = view_transforms(latents, StereoConfig(jitter=0.3, rotation_jitter=0.5, rotation_centre="sprite"))[0]
    label = latents["label"]
    radius = template_radius(templates)
    for view in (0, 1):
        warped = warp_templates(templates, label, translation[:, view], rotation[:, view], scale[:, view], radius)
        cos, sin = torch.cos(rotation[:, view]), torch.sin(rotation[:, view])
        inverse = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # R(-dtheta)
        theta = torch.cat([inverse, -t[:, view, :, None]], dim=-1)
        grid = F.affine_grid(theta, (len(label), 1, 64, 64), align_corners=False)
        expected = F.grid_sample(templates.double()[label], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        assert (warped.double() - expected).abs().max().item() < 1e-5
        assert (expected.sum(dim=(1, 2, 3)) > 1.0).sum() > BLOCK // 2  # the comparison has power


# --------------------------------------------------------------------------- random blocks
def draws(seed, split, block):
    g = block_generator(seed, split, block, torch.device("cpu"))
    return torch.rand(100, generator=g, dtype=torch.float64)


def test_block_generator_is_reproducible():
    assert torch.equal(draws(3, "train", 5), draws(3, "train", 5))
    assert torch.equal(draws(0, "test", 0), draws(0, "test", 0))


def test_block_generator_differs_between_splits_blocks_and_seeds():
    reference = draws(0, "train", 0)
    others = [draws(0, "val", 0), draws(0, "test", 0), draws(0, "train", 1), draws(1, "train", 0), draws(0, "val", 1)]
    for other in others:
        assert not torch.equal(reference, other)
        assert (reference - other).abs().mean() > 0.1
    # all distinct from each other too
    assert len({tuple(d[:5].tolist()) for d in [reference, *others]}) == 6


def test_block_generator_rejects_unknown_split():
    with pytest.raises(ValueError):
        block_generator(0, "holdout", 0, torch.device("cpu"))


def test_fingerprint_depends_on_payload_and_templates():
    templates = torch.zeros((3, 1, 8, 8))
    base = fingerprint({"a": 1, "b": [1, 2]}, templates)
    assert len(base) == 64 and int(base, 16) >= 0
    assert base == fingerprint({"b": [1, 2], "a": 1}, templates.clone())  # key order does not matter
    assert base != fingerprint({"a": 2, "b": [1, 2]}, templates)
    changed = templates.clone()
    changed[1, 0, 3, 3] = 1.0
    assert base != fingerprint({"a": 1, "b": [1, 2]}, changed)
