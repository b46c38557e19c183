"""The style nuisance of Kamai et al. 2026's image-caption experiment (mmphase_bench.data.style)."""

import itertools
import json
import math

import numpy as np
import pytest
import torch

from mmphase_bench.errors import InputError
from mmphase_bench.data.style import (
    APPLICATION_ORDER, GROUP_NAMES, INTENSITY_RANGE, PHRASES, STYLE_GROUPS, STYLE_VERSION, StyleDraw,
    StyleNuisance, active_group_count, apply_style, describe_groups, style_latents,
)


def _test_image(size: int = 64) -> torch.Tensor:
    """Colour ramps plus a 4-pixel checkerboard: every group has something to change."""
    v, u = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    checker = ((torch.arange(size)[:, None] // 4 + torch.arange(size)[None, :] // 4) % 2).float()
    return torch.stack([0.15 + 0.7 * u, 0.15 + 0.7 * v, 0.3 + 0.4 * checker]).float()


def _single(group: str, member: str, t: float, noise_seed: int = 11) -> StyleDraw:
    return StyleDraw((group,), (member,), (t,), (member,), noise_seed)


ALL_MEMBERS = [(g, m) for g, ms in STYLE_GROUPS.items() for m in ms]


def test_groups_follow_the_protocol():
    assert GROUP_NAMES == ("colour_cast", "exposure", "contrast", "texture", "saturation", "vignette")
    assert all(len(members) >= 3 for members in STYLE_GROUPS.values())
    assert sorted(APPLICATION_ORDER) == sorted(GROUP_NAMES)
    table = describe_groups()
    assert table["version"] == STYLE_VERSION
    assert {g: tuple(ms) for g, ms in table["groups"].items()} == STYLE_GROUPS
    json.dumps(table)
    # phrases are distinct, so the caption identifies the member
    assert len(set(PHRASES.values())) == len(PHRASES)


@pytest.mark.parametrize("strength, count", [(0.0, 0), (0.1, 1), (0.2, 1), (0.5, 3), (1.0, 6), (0.01, 1), (0.9, 5)])
def test_active_group_count(strength, count):
    assert active_group_count(strength) == count
    draws = StyleNuisance(strength, seed=4).draws(range(50))
    assert all(len(d.groups) == count for d in draws)


def test_zero_strength_changes_nothing():
    style = StyleNuisance(0.0, jitter=0.5, seed=1)
    image = torch.rand(3, 32, 40)
    for index in range(5):
        draw = style.draw(index)
        assert draw == StyleDraw() and draw.description() == ""
        out = style.apply(image, draw)
        assert out.dtype == torch.float32 and torch.equal(out, image) and out.data_ptr() != image.data_ptr()
        assert style.caption("a dog on a sofa", draw) == "a dog on a sofa"
    batch = torch.rand(4, 3, 16, 16)
    assert torch.equal(style.apply_batch(batch, style.draws(range(4))), batch)


def test_caption_prefix_and_description():
    draw = StyleDraw(("colour_cast", "exposure", "texture", "vignette"), ("warm", "overexposed", "grain", "vignette"),
                     (0.5, 0.5, 0.5, 0.5), ("warm", "overexposed", "grain", "vignette"))
    assert draw.description() == "a warm, overexposed, grainy photo with a vignette:"
    assert StyleDraw(("exposure",), ("dark",), (0.4,), ("underexposed",)).description() == "an underexposed photo:"
    assert StyleDraw(("vignette",), ("spotlight",), (0.4,), ("spotlight",)).description() == "a photo with a spotlight:"
    assert StyleNuisance(0.5).caption("a cat", draw) == "a warm, overexposed, grainy photo with a vignette: a cat"
    assert StyleNuisance(0.5, in_caption=False).caption("a cat", draw) == "a cat"


def test_draws_are_deterministic_per_seed_and_index():
    a, b = StyleNuisance(0.5, 0.3, seed=7), StyleNuisance(0.5, 0.3, seed=7)
    assert [a.draw(i) for i in (5, 0, 99)] == [b.draw(i) for i in (5, 0, 99)]
    assert a.draw(5) == a.draws(range(6))[5] == a.draw(np.int64(5))
    other = StyleNuisance(0.5, 0.3, seed=8)
    assert sum(a.draw(i) != other.draw(i) for i in range(20)) >= 18
    assert sum(a.draw(i) != a.draw(i + 1) for i in range(20)) >= 18


def test_draws_are_nested_in_strength_and_jitter():
    """For one (seed, index), more strength adds groups and more jitter re-describes more of them."""
    for index in range(30):
        weak, strong = StyleNuisance(0.2, seed=2).draw(index), StyleNuisance(1.0, seed=2).draw(index)
        applied = dict(zip(strong.groups, zip(strong.members, strong.intensities)))
        assert all(applied[g] == (m, t) for g, m, t in zip(weak.groups, weak.members, weak.intensities))
        low, high = StyleNuisance(1.0, 0.3, seed=2).draw(index), StyleNuisance(1.0, 0.7, seed=2).draw(index)
        assert low.members == high.members == strong.members
        assert all(hi or not lo for lo, hi in zip(
            (m != d for m, d in zip(low.members, low.described)), (m != d for m, d in zip(high.members, high.described))))


def test_group_and_member_choices_are_uniform_and_intensities_in_range():
    draws = StyleNuisance(0.5, seed=3).draws(range(1200))
    group_counts = {g: 0 for g in GROUP_NAMES}
    member_counts = {m: 0 for _, m in ALL_MEMBERS}
    for d in draws:
        assert all(INTENSITY_RANGE[0] <= t <= INTENSITY_RANGE[1] for t in d.intensities)
        for g, m in zip(d.groups, d.members):
            group_counts[g] += 1
            member_counts[m] += 1
    for g, count in group_counts.items():  # each group active with probability 3/6 (binomial, 5 sigma)
        assert abs(count - 600) < 5 * math.sqrt(1200 * 0.25), (g, count)
        for m in STYLE_GROUPS[g]:
            p = 1 / len(STYLE_GROUPS[g])
            assert abs(member_counts[m] - count * p) < 5 * math.sqrt(count * p * (1 - p)) + 1, (m, member_counts[m])
    intensities = np.array([t for d in draws for t in d.intensities])
    assert intensities.min() >= 0.3 and intensities.max() <= 1.0
    assert abs(intensities.mean() - 0.65) < 0.02 and intensities.std() > 0.18  # U(0.3, 1): sd 0.202


def test_jitter_sets_how_often_the_caption_names_another_member():
    for jitter in (0.0, 1.0):
        for d in StyleNuisance(1.0, jitter, seed=5).draws(range(100)):
            assert all((m != e) == (jitter == 1.0) for m, e in zip(d.members, d.described))
            assert all(e in STYLE_GROUPS[g] for g, e in zip(d.groups, d.described))
    draws = StyleNuisance(1.0, 0.5, seed=5).draws(range(1000))
    flips = [m != e for d in draws for m, e in zip(d.members, d.described)]
    n = len(flips)
    assert abs(sum(flips) / n - 0.5) < 5 * math.sqrt(0.25 / n)
    # the alternative is uniform among the other members
    alt = [e for d in draws for g, m, e in zip(d.groups, d.members, d.described) if g == "colour_cast" and m == "warm" and e != m]
    assert set(alt) == {"cool", "green", "magenta"}


@pytest.mark.parametrize("group, member", ALL_MEMBERS)
def test_every_member_changes_the_image_and_scales_with_intensity(group, member):
    image = _test_image()
    changes = []
    for t in (0.3, 1.0):
        out = apply_style(image, _single(group, member, t))
        assert out.shape == image.shape and out.dtype == torch.float32
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        changes.append(float((out - image).abs().mean()))
    assert changes[0] > 0.01, f"{member} at t=0.3 changes too little: {changes[0]:.4f}"
    assert changes[1] > 1.1 * changes[0], f"{member}: t=1 ({changes[1]:.4f}) not stronger than t=0.3 ({changes[0]:.4f})"


@pytest.mark.parametrize("group", GROUP_NAMES)
def test_members_of_a_group_look_different(group):
    image = _test_image()
    outs = {m: apply_style(image, _single(group, m, 0.65)) for m in STYLE_GROUPS[group]}
    for a, b in itertools.combinations(outs, 2):
        assert float((outs[a] - outs[b]).abs().mean()) > 0.02, (a, b)


def test_extreme_inputs_stay_in_range():
    style = StyleNuisance(1.0, seed=9)
    images = torch.stack([torch.zeros(3, 24, 24), torch.ones(3, 24, 24), torch.rand(3, 24, 24)])
    for index in range(12):
        draw = style.draw(index)
        for image in images:
            out = style.apply(image, draw)
            assert torch.isfinite(out).all() and float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_apply_batch_is_bit_identical_to_apply():
    style = StyleNuisance(1.0, seed=6)
    images = torch.rand(6, 3, 40, 40)
    draws = style.draws(range(10, 16))
    batch = style.apply_batch(images, draws)
    for i in range(6):
        assert torch.equal(batch[i], style.apply(images[i], draws[i]))
    assert torch.equal(style.apply_batch(images[2:5], draws[2:5]), batch[2:5])
    # float64 and non-contiguous inputs give the same bytes as the float32 contiguous image
    image = images[0]
    assert torch.equal(style.apply(image.double(), draws[0]), batch[0])
    assert torch.equal(style.apply(image.permute(0, 2, 1).contiguous().permute(0, 2, 1), draws[0]), batch[0])


def test_images_do_not_depend_on_the_thread_count():
    """Above ~180 x 180 pixels torch splits work over threads; the bytes must not change."""
    image = torch.rand(3, 200, 200, generator=torch.Generator().manual_seed(0))
    widest = max(len(ms) for ms in STYLE_GROUPS.values())
    draws = [StyleDraw(GROUP_NAMES, tuple(ms[j % len(ms)] for ms in STYLE_GROUPS.values()), (0.8,) * 6,
                       tuple(ms[j % len(ms)] for ms in STYLE_GROUPS.values()), 3) for j in range(widest)]
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = [apply_style(image, d) for d in draws]
        torch.set_num_threads(2)
        double = [apply_style(image, d) for d in draws]
    finally:
        torch.set_num_threads(previous)
    assert all(torch.equal(a, b) for a, b in zip(single, double))


def test_larger_strength_changes_more_of_the_image():
    images = torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    images = torch.nn.functional.interpolate(images, size=32, mode="bilinear", align_corners=False)
    changes = []
    for strength in (0.2, 0.5, 1.0):
        style = StyleNuisance(strength, seed=12)
        out = style.apply_batch(images, style.draws(range(64)))
        changes.append(float((out - images).abs().mean()))
    assert changes[0] > 0.02 and changes[0] < changes[1] < changes[2], changes


def test_latents_and_serialisation():
    style = StyleNuisance(0.5, 0.5, seed=2)
    draws = style.draws(range(8))
    latents = style.latents(draws)
    assert latents["style_intensity"].shape == (8, 6) and latents["style_intensity"].dtype == torch.float32
    for i, d in enumerate(draws):
        active = [GROUP_NAMES.index(g) for g in d.groups]
        assert (latents["style_member"][i] >= 0).nonzero().flatten().tolist() == active
        assert latents["style_intensity"][i].tolist() == pytest.approx(list(d.intensity_vector()))
        assert [bool(latents["style_aligned"][i, j]) for j in active] == list(d.aligned)
        assert StyleDraw.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    assert style_latents([])["style_member"].shape == (0, 6)
    record = style.to_dict()
    assert record == {"strength": 0.5, "jitter": 0.5, "in_caption": True, "seed": 2, "version": STYLE_VERSION}
    assert json.loads(json.dumps(record)) == record
    assert StyleNuisance(0.5, 0.5, seed=2) == style and StyleNuisance(0.2, 0.5, seed=2) != style
    text = repr(style)
    assert "strength=0.5" in text and "jitter=0.5" in text and "seed=2" in text and "3 of 6" in text


@pytest.mark.parametrize("kwargs, name", [
    ({"strength": 1.5}, "strength"), ({"strength": -0.1}, "strength"), ({"strength": "high"}, "strength"),
    ({"strength": float("nan")}, "strength"), ({"jitter": 1.01}, "jitter"), ({"jitter": None}, "jitter"),
    ({"in_caption": "yes"}, "in_caption"), ({"in_caption": 1}, "in_caption"),
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"seed": True}, "seed"),
])
def test_invalid_arguments_name_the_parameter(kwargs, name):
    with pytest.raises(InputError, match=name):
        StyleNuisance(**kwargs)


def test_invalid_draws_and_images_are_rejected():
    style = StyleNuisance(0.5)
    with pytest.raises(InputError, match="index"):
        style.draw(-1)
    with pytest.raises(InputError, match="members"):
        StyleDraw(("exposure",), ("warm",), (0.5,), ("warm",))
    with pytest.raises(InputError, match="order"):
        StyleDraw(("exposure", "colour_cast"), ("dark", "warm"), (0.5, 0.5), ("dark", "warm"))
    with pytest.raises(InputError, match="same length"):
        StyleDraw(("exposure",), ("dark",), (), ("dark",))
    with pytest.raises(InputError, match="intensities"):
        StyleDraw(("exposure",), ("dark",), (1.5,), ("dark",))
    with pytest.raises(InputError, match="keys"):
        StyleDraw.from_dict({"groups": []})
    draw = style.draw(0)
    with pytest.raises(InputError, match="image"):
        style.apply(torch.rand(1, 8, 8), draw)
    with pytest.raises(InputError, match="image"):
        style.apply(torch.zeros(3, 8, 8, dtype=torch.uint8), draw)
    with pytest.raises(InputError, match="draw"):
        style.apply(torch.rand(3, 8, 8), "warm")
    with pytest.raises(InputError, match="draws"):
        style.apply_batch(torch.rand(2, 3, 8, 8), [draw])
    with pytest.raises(InputError, match="caption"):
        style.caption(None, draw)
