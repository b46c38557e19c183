"""The style nuisance of the image-caption experiment (Kamai et al. 2026), shared by image and caption.

Protocol (Kamai et al. 2026, MS-COCO experiment). A style *strength* ``s`` in [0, 1] sets how many of
six style groups act on each image::

    k(s) = 0                          if s == 0
    k(s) = min(6, max(1, round(6 s))) otherwise      (Python's round: halves go to the even integer)

so s = 0.1, 0.2, 0.5, 1.0 give 1, 1, 3, 6 groups. Which ``k`` groups are active is drawn per image,
uniformly without replacement; each active group applies one member, drawn uniformly, at an intensity
``t ~ U(0.3, 1)`` (0.3 weak, 1 strong). With ``in_caption`` the caption is prefixed with a
natural-language description of the applied style, e.g. ``"a warm, overexposed, grainy photo with a
vignette: a man riding a horse"``, so the nuisance is shared by both modalities. With probability
``jitter`` (independently per active group) the description names *another* member of the same group
than the one applied, uniformly among the others, which de-aligns the nuisance between the views.
At s == 0 nothing is drawn: the description is empty and the image is returned bit for bit.

The groups and their members (``t`` the intensity, ``S = min(H, W)``, images float32 in [0, 1],
every output clamped to [0, 1]); :func:`describe_groups` returns the same table as data::

    colour_cast  warm            x * (1 + t d) + 0.1 t d, d = (+0.25, +0.05, -0.30)  (orange)
                 cool            same with d = (-0.25, 0.00, +0.30)                  (blue)
                 green           same with d = (-0.20, +0.25, -0.20)
                 magenta         same with d = (+0.25, -0.30, +0.25)
    exposure     bright          x (1 + k) / (1 + k x), k = 4 t       (lifts shadows, white stays white)
                 dark            x / (1 + k (1 - x)),   k = 4 t       (crushes shadows, white stays white)
                 overexposed     adjust_brightness(x, 1 + t)          (gain; highlights clip)
                 underexposed    adjust_brightness(x, 1 - 0.6 t)      (gain; white turns grey)
    contrast     high_contrast   blend(x, mean luma, 1 + 1.2 t)       (as adjust_contrast)
                 low_contrast    blend(x, mean luma, 1 - 0.6 t)
                 faded           0.4 t + (1 - 0.5 t) x                (matte: lifted blacks, dimmed whites)
    texture      blur            gaussian_blur, sigma = (0.6 + 1.4 t) S / 64 pixels
                 grain           x + (0.04 + 0.11 t) n, n ~ N(0, 1) per pixel, same on all channels
                 pixelate        resize down (bilinear, antialiased) by a block of (2 + 4 t) S / 64
                                 pixels, then back up with nearest-exact
    saturation   vivid           blend(x, luma, 1 + 1.5 t)            (as adjust_saturation)
                 muted           blend(x, luma, 1 - 0.55 t)
                 greyscale       blend(x, luma, 0.25 (1 - t))         (t = 1: rgb_to_grayscale)
    vignette     vignette        x (1 - k q), k = 0.25 + 0.75 t       (dark corners, smooth)
                 spotlight       x (1 - 0.8 t + 1.05 t m)             (lit disc of radius 0.45..0.75, dark outside)
                 white_edges     x (1 - k q) + k q                    (edges fade to white)

with ``blend(x, y, r) = r x + (1 - r) y``, luma ``0.2989 R + 0.587 G + 0.114 B`` (ITU-R 601-2, the
weights of torchvision's ``rgb_to_grayscale``), ``q = (u^2 + v^2) / 2`` for pixel-centre coordinates
``u, v`` in (-1, 1) (q = 1/2 at the middle of an edge, -> 1 at the corners) and ``m`` a smoothstep
that is 1 inside radius 0.45 and 0 beyond 0.75 (radius ``sqrt(2 q)``). Members of one group differ in
kind, not just degree (e.g. ``bright`` keeps white and lifts shadows, ``overexposed`` clips
highlights), so the member a caption names is real information.

The groups act in a fixed order that keeps each one visible: saturation, colour cast, exposure,
contrast, vignette, texture (a colour cast survives a greyscale; grain is not blurred away). The
description lists them in :data:`STYLE_GROUPS` order, the vignette group as a trailing "with ...".

Determinism: every draw comes from ``numpy.random.default_rng([SALT, seed, index])``, and the grain
from NumPy's generator seeded with the draw's own ``noise_seed``, so item ``i`` does not depend on
which other items were drawn, on the batch it is in, or on the torch thread count. The image
operations are torchvision.transforms.v2 functionals (``adjust_brightness``, ``gaussian_blur``,
``resize``) whose bytes do not depend on the thread count, and for the blends (contrast, saturation)
the same formulas as torchvision's written as single, correctly rounded tensor operations, with the
mean luma summed by NumPy: torchvision's own ``adjust_contrast`` reduces with a thread-dependent
order for images above ~180 x 180 pixels. All random numbers for an item are drawn whatever the
strength and jitter, so for one (seed, index) a larger strength adds groups to those of a smaller one
(same members and intensities) and a larger jitter only re-describes more of them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

from mmphase_bench.errors import InputError, InputTypeError
from mmphase_bench.validation import check_float, check_int

#: Protocol version: part of :meth:`StyleNuisance.to_dict`, so dataset fingerprints change with it.
STYLE_VERSION = "style/1"
#: Salt of the per-item generator (``"STYL"`` in ASCII).
SALT = 0x5354594C

#: The six style groups of Kamai et al. 2026, in the paper's order, and their members.
STYLE_GROUPS: dict[str, tuple[str, ...]] = {
    "colour_cast": ("warm", "cool", "green", "magenta"),
    "exposure": ("bright", "dark", "overexposed", "underexposed"),
    "contrast": ("high_contrast", "low_contrast", "faded"),
    "texture": ("blur", "grain", "pixelate"),
    "saturation": ("vivid", "muted", "greyscale"),
    "vignette": ("vignette", "spotlight", "white_edges"),
}
GROUP_NAMES: tuple[str, ...] = tuple(STYLE_GROUPS)
#: The order in which active groups are applied to the image (see the module docstring).
APPLICATION_ORDER: tuple[str, ...] = ("saturation", "colour_cast", "exposure", "contrast", "vignette", "texture")
#: Intensities are drawn from U(INTENSITY_RANGE).
INTENSITY_RANGE = (0.3, 1.0)

#: The words a caption uses for each member (the vignette group's phrases follow "photo").
PHRASES: dict[str, str] = {
    "warm": "warm", "cool": "cool", "green": "green-tinted", "magenta": "magenta-tinted",
    "bright": "bright", "dark": "dark", "overexposed": "overexposed", "underexposed": "underexposed",
    "high_contrast": "high-contrast", "low_contrast": "low-contrast", "faded": "faded",
    "blur": "blurry", "grain": "grainy", "pixelate": "pixelated",
    "vivid": "vivid", "muted": "muted", "greyscale": "monochrome",
    "vignette": "with a vignette", "spotlight": "with a spotlight", "white_edges": "with white edges",
}
#: What each member does, in words (quoted by the dataset cards; the formulas are in the module docstring).
EFFECTS: dict[str, str] = {
    "warm": "orange colour cast: channel gains (1 + t d) and offsets 0.1 t d, d = (+0.25, +0.05, -0.30)",
    "cool": "blue colour cast: d = (-0.25, 0.00, +0.30)",
    "green": "green colour cast: d = (-0.20, +0.25, -0.20)",
    "magenta": "magenta colour cast: d = (+0.25, -0.30, +0.25)",
    "bright": "tone curve x (1 + 4t) / (1 + 4t x): shadows and midtones lifted, black and white kept",
    "dark": "tone curve x / (1 + 4t (1 - x)): shadows crushed, white kept",
    "overexposed": "adjust_brightness by 1 + t: everything brighter, highlights clip to white",
    "underexposed": "adjust_brightness by 1 - 0.6 t: everything darker, white turns grey",
    "high_contrast": "contrast factor 1 + 1.2 t around the mean luma",
    "low_contrast": "contrast factor 1 - 0.6 t around the mean luma",
    "faded": "matte: 0.4 t + (1 - 0.5 t) x, blacks lifted and whites dimmed",
    "blur": "gaussian_blur with sigma (0.6 + 1.4 t) S/64 pixels",
    "grain": "monochrome Gaussian grain of standard deviation 0.04 + 0.11 t",
    "pixelate": "blocks of (2 + 4 t) S/64 pixels (antialiased resize down, nearest-exact up)",
    "vivid": "saturation factor 1 + 1.5 t",
    "muted": "saturation factor 1 - 0.55 t",
    "greyscale": "saturation factor 0.25 (1 - t): (nearly) grey",
    "vignette": "corners darkened smoothly, by a factor 1 - (0.25 + 0.75 t) q",
    "spotlight": "a lit central disc (x (1 + 0.25 t)), everything outside darkened to x (1 - 0.8 t)",
    "white_edges": "edges fade to white by (0.25 + 0.75 t) q",
}


def describe_groups() -> dict[str, Any]:
    """The protocol as data: groups, members (caption phrase and effect), order, intensities, version."""
    return {
        "version": STYLE_VERSION,
        "reference": "Kamai et al. 2026 (MS-COCO experiment, style nuisance)",
        "active_groups": "0 if strength == 0 else min(6, max(1, round(6 * strength)))",
        "intensity_range": list(INTENSITY_RANGE),
        "application_order": list(APPLICATION_ORDER),
        "groups": {
            group: {member: {"phrase": PHRASES[member], "effect": EFFECTS[member]} for member in members}
            for group, members in STYLE_GROUPS.items()
        },
    }


def active_group_count(strength: float) -> int:
    """Number of active style groups at ``strength`` (Kamai et al. 2026): 0 at s == 0, else
    ``min(6, max(1, round(6 s)))`` with Python's round (halves to even: s = 0.25 -> 2)."""
    strength = check_float("strength", strength, minimum=0.0, maximum=1.0)
    if strength == 0.0:
        return 0
    return min(len(STYLE_GROUPS), max(1, round(len(STYLE_GROUPS) * strength)))


# ----------------------------------------------------------------------------------------- draws
def _as_tuple(name: str, value: Any) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InputTypeError(f"StyleDraw.{name} must be a sequence, got {type(value).__name__}")
    return tuple(value)


@dataclass(frozen=True)
class StyleDraw:
    """The style applied to ONE image and what its caption says about it (Kamai et al. 2026).

    ``groups`` are the active groups in :data:`STYLE_GROUPS` order; ``members[j]`` is the member of
    ``groups[j]`` applied at intensity ``intensities[j]`` in [0, 1] (drawn in [0.3, 1]);
    ``described[j]`` is the member the caption names (``members[j]`` unless jittered); ``noise_seed``
    seeds the grain. An empty draw means "no style".
    """

    groups: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    intensities: tuple[float, ...] = ()
    described: tuple[str, ...] = ()
    noise_seed: int = 0

    def __post_init__(self) -> None:
        groups = _as_tuple("groups", self.groups)
        members = _as_tuple("members", self.members)
        described = _as_tuple("described", self.described)
        intensities = tuple(
            check_float(f"StyleDraw.intensities[{j}]", t, minimum=0.0, maximum=1.0)
            for j, t in enumerate(_as_tuple("intensities", self.intensities))
        )
        lengths = {len(groups), len(members), len(intensities), len(described)}
        if len(lengths) != 1:
            raise InputError(
                f"StyleDraw.groups, members, intensities and described must have the same length, got "
                f"{len(groups)}, {len(members)}, {len(intensities)}, {len(described)}"
            )
        for group in groups:
            if group not in STYLE_GROUPS:
                raise InputError(f"StyleDraw.groups: {group!r} is not a style group ({', '.join(GROUP_NAMES)})")
        positions = [GROUP_NAMES.index(group) for group in groups]
        if positions != sorted(set(positions)):
            raise InputError(f"StyleDraw.groups must be distinct and in STYLE_GROUPS order, got {groups}")
        for field, names in (("members", members), ("described", described)):
            for group, member in zip(groups, names):
                if member not in STYLE_GROUPS[group]:
                    raise InputError(
                        f"StyleDraw.{field}: {member!r} is not a member of {group!r} ({', '.join(STYLE_GROUPS[group])})"
                    )
        noise_seed = check_int("StyleDraw.noise_seed", self.noise_seed, minimum=0)
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "members", members)
        object.__setattr__(self, "intensities", intensities)
        object.__setattr__(self, "described", described)
        object.__setattr__(self, "noise_seed", noise_seed)

    # ------------------------------------------------------------------ views
    @property
    def aligned(self) -> tuple[bool, ...]:
        """Per active group: does the caption name the applied member?"""
        return tuple(m == d for m, d in zip(self.members, self.described))

    def intensity_vector(self) -> tuple[float, ...]:
        """The intensity of each of the six groups in :data:`STYLE_GROUPS` order (0 where inactive)."""
        by_group = dict(zip(self.groups, self.intensities))
        return tuple(by_group.get(group, 0.0) for group in GROUP_NAMES)

    def description(self) -> str:
        """The caption prefix, e.g. ``"a warm, dark photo with a vignette:"`` ("" when no group is active).

        Adjectives of the described members in :data:`STYLE_GROUPS` order, then "photo", then the
        vignette group's "with ..." phrase, ending in a colon.
        """
        if not self.groups:
            return ""
        adjectives = [PHRASES[d] for g, d in zip(self.groups, self.described) if g != "vignette"]
        trailing = [PHRASES[d] for g, d in zip(self.groups, self.described) if g == "vignette"]
        body = (", ".join(adjectives) + " photo") if adjectives else "photo"
        article = "an" if body[0] in "aeiou" else "a"
        return " ".join([article, body, *trailing]) + ":"

    def to_dict(self) -> dict:
        return {
            "groups": list(self.groups), "members": list(self.members), "intensities": list(self.intensities),
            "described": list(self.described), "noise_seed": self.noise_seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "StyleDraw":
        """The inverse of :meth:`to_dict` (validated: keys, types, group membership)."""
        if not isinstance(data, Mapping):
            raise InputTypeError(f"StyleDraw data must be a mapping, got {type(data).__name__}")
        expected = {"groups", "members", "intensities", "described", "noise_seed"}
        if set(data) != expected:
            raise InputError(f"StyleDraw data must have exactly the keys {sorted(expected)}, got {sorted(data)}")
        return cls(**{key: data[key] for key in expected})


def style_latents(draws: Sequence[StyleDraw]) -> dict[str, torch.Tensor]:
    """Per-item nuisance latents of a batch of draws, each (B, 6) in :data:`STYLE_GROUPS` order:

    ``style_intensity`` float32 (0 where inactive), ``style_member`` and ``style_described`` int64
    (member index within the group, -1 where inactive), ``style_aligned`` int64 (1 when the caption
    names the applied member, 0 when jittered, -1 where inactive).
    """
    n = len(draws)
    intensity = torch.zeros(n, len(GROUP_NAMES), dtype=torch.float32)
    member = torch.full((n, len(GROUP_NAMES)), -1, dtype=torch.int64)
    described = member.clone()
    for i, draw in enumerate(draws):
        for group, m, t, d in zip(draw.groups, draw.members, draw.intensities, draw.described):
            j = GROUP_NAMES.index(group)
            intensity[i, j] = t
            member[i, j] = STYLE_GROUPS[group].index(m)
            described[i, j] = STYLE_GROUPS[group].index(d)
    aligned = torch.where(member < 0, -1, (member == described).to(torch.int64))
    return {"style_intensity": intensity, "style_member": member, "style_described": described, "style_aligned": aligned}


# ---------------------------------------------------------------------------------- image ops
# Every op maps a contiguous float32 (3, H, W) tensor to a new one, using only elementwise operations
# that round once each (so the bytes do not depend on chunking or threads) or thread-invariant
# torchvision kernels.
def _luma(x: torch.Tensor) -> torch.Tensor:
    """(1, H, W) luma with rgb_to_grayscale's weights, as separately rounded products and sums."""
    return ((x[0] * 0.2989 + x[1] * 0.587) + x[2] * 0.114).unsqueeze(0)


def _blend(x: torch.Tensor, other: torch.Tensor | float, ratio: float) -> torch.Tensor:
    """``ratio x + (1 - ratio) other`` clamped to [0, 1] (torchvision's ``_blend``, rounded per op)."""
    return (x * ratio + other * (1.0 - ratio)).clamp_(0.0, 1.0)


def _mean_luma(x: torch.Tensor) -> float:
    """Mean luma, summed by NumPy in float64 (pairwise, independent of the torch thread count)."""
    return float(np.mean(_luma(x).detach().to("cpu").numpy(), dtype=np.float64))


_CAST = {
    "warm": (0.25, 0.05, -0.30), "cool": (-0.25, 0.0, 0.30),
    "green": (-0.20, 0.25, -0.20), "magenta": (0.25, -0.30, 0.25),
}


def _colour_cast(member: str) -> Callable:
    d = _CAST[member]

    def op(x: torch.Tensor, t: float, draw: StyleDraw) -> torch.Tensor:
        gain = torch.tensor([1.0 + t * c for c in d], dtype=torch.float32, device=x.device).view(3, 1, 1)
        offset = torch.tensor([0.1 * t * c for c in d], dtype=torch.float32, device=x.device).view(3, 1, 1)
        return (x * gain + offset).clamp_(0.0, 1.0)

    return op


def _bright(x, t, draw):
    k = 4.0 * t
    return ((x * (1.0 + k)) / (x * k + 1.0)).clamp_(0.0, 1.0)


def _dark(x, t, draw):
    k = 4.0 * t
    return (x / ((1.0 - x) * k + 1.0)).clamp_(0.0, 1.0)


def _overexposed(x, t, draw):
    return TF.adjust_brightness(x, 1.0 + t)


def _underexposed(x, t, draw):
    return TF.adjust_brightness(x, 1.0 - 0.6 * t)


def _high_contrast(x, t, draw):
    return _blend(x, _mean_luma(x), 1.0 + 1.2 * t)


def _low_contrast(x, t, draw):
    return _blend(x, _mean_luma(x), 1.0 - 0.6 * t)


def _faded(x, t, draw):
    return (x * (1.0 - 0.5 * t) + 0.4 * t).clamp_(0.0, 1.0)


def _blur(x, t, draw):
    size = min(x.shape[-2:])
    sigma = (0.6 + 1.4 * t) * size / 64.0
    kernel = min(2 * math.ceil(3.0 * sigma) + 1, 2 * size - 1)
    return TF.gaussian_blur(x, [kernel, kernel], [sigma, sigma]).clamp_(0.0, 1.0)


def _grain(x, t, draw):
    height, width = x.shape[-2:]
    noise = np.random.default_rng(draw.noise_seed).standard_normal((1, height, width), dtype=np.float32)
    return (x + torch.from_numpy(noise).to(x.device) * (0.04 + 0.11 * t)).clamp_(0.0, 1.0)


def _pixelate(x, t, draw):
    height, width = x.shape[-2:]
    block = (2.0 + 4.0 * t) * min(height, width) / 64.0
    small = [max(1, round(height / block)), max(1, round(width / block))]
    down = TF.resize(x, small, interpolation=InterpolationMode.BILINEAR, antialias=True)
    return TF.resize(down, [height, width], interpolation=InterpolationMode.NEAREST_EXACT).clamp_(0.0, 1.0)


def _vivid(x, t, draw):
    return _blend(x, _luma(x), 1.0 + 1.5 * t)


def _muted(x, t, draw):
    return _blend(x, _luma(x), 1.0 - 0.55 * t)


def _greyscale(x, t, draw):
    return _blend(x, _luma(x), 0.25 * (1.0 - t))


@functools.lru_cache(maxsize=16)
def _radius_q_cached(height: int, width: int, device: str) -> torch.Tensor:
    v = (torch.arange(height, dtype=torch.float32, device=device) + 0.5) / height * 2.0 - 1.0
    u = (torch.arange(width, dtype=torch.float32, device=device) + 0.5) / width * 2.0 - 1.0
    return ((v * v).view(height, 1) + (u * u).view(1, width)).mul_(0.5).unsqueeze(0)


def _radius_q(x: torch.Tensor) -> torch.Tensor:
    """(1, H, W) ``q = (u^2 + v^2) / 2`` for pixel-centre coordinates u, v in (-1, 1) (cached: read only)."""
    return _radius_q_cached(int(x.shape[-2]), int(x.shape[-1]), str(x.device))


def _vignette(x, t, draw):
    k = 0.25 + 0.75 * t
    return (x * (1.0 - _radius_q(x) * k)).clamp_(0.0, 1.0)


def _spotlight(x, t, draw):
    radius = torch.sqrt(_radius_q(x) * 2.0)
    e = ((0.75 - radius) / 0.3).clamp_(0.0, 1.0)
    inside = e * e * (3.0 - e * 2.0)  # smoothstep: 1 within radius 0.45, 0 beyond 0.75
    light = inside * (1.05 * t) + (1.0 - 0.8 * t)
    return (x * light).clamp_(0.0, 1.0)


def _white_edges(x, t, draw):
    w = _radius_q(x) * (0.25 + 0.75 * t)
    return (x * (1.0 - w) + w).clamp_(0.0, 1.0)


_OPS: dict[str, Callable[[torch.Tensor, float, StyleDraw], torch.Tensor]] = {
    **{member: _colour_cast(member) for member in STYLE_GROUPS["colour_cast"]},
    "bright": _bright, "dark": _dark, "overexposed": _overexposed, "underexposed": _underexposed,
    "high_contrast": _high_contrast, "low_contrast": _low_contrast, "faded": _faded,
    "blur": _blur, "grain": _grain, "pixelate": _pixelate,
    "vivid": _vivid, "muted": _muted, "greyscale": _greyscale,
    "vignette": _vignette, "spotlight": _spotlight, "white_edges": _white_edges,
}
assert set(_OPS) == set(PHRASES) == set(EFFECTS) == {m for ms in STYLE_GROUPS.values() for m in ms}


def _check_image(image: Any, name: str = "image") -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        raise InputTypeError(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if image.dim() != 3 or image.shape[0] != 3 or image.shape[1] < 1 or image.shape[2] < 1:
        raise InputError(f"{name} must be a (3, H, W) RGB tensor, got shape {tuple(image.shape)}")
    if not image.is_floating_point():
        raise InputTypeError(f"{name} must be a floating-point tensor in [0, 1], got dtype {image.dtype}")
    return image.detach().to(torch.float32).contiguous()


def _check_draw(draw: Any, name: str = "draw") -> StyleDraw:
    if not isinstance(draw, StyleDraw):
        raise InputTypeError(f"{name} must be a StyleDraw, got {type(draw).__name__}")
    return draw


def apply_style(image: torch.Tensor, draw: StyleDraw) -> torch.Tensor:
    """``image`` (3, H, W) float in [0, 1] with the style of ``draw`` applied (Kamai et al. 2026).

    Returns a new float32 (3, H, W) tensor in [0, 1] on the image's device; an empty draw returns an
    unchanged copy. The groups act in :data:`APPLICATION_ORDER`.
    """
    x = _check_image(image)
    draw = _check_draw(draw)
    if not draw.groups:
        return x.clone()
    applied = dict(zip(draw.groups, zip(draw.members, draw.intensities)))
    for group in APPLICATION_ORDER:
        if group in applied:
            member, t = applied[group]
            x = _OPS[member](x, t, draw)
    return x.clamp_(0.0, 1.0)


# ------------------------------------------------------------------------------- the nuisance
class StyleNuisance:
    """The style nuisance of Kamai et al. 2026: per-image style draws, their images and captions.

    ``strength`` in [0, 1] sets the number of active groups (:func:`active_group_count`); ``jitter``
    in [0, 1] is the probability, per active group, that the caption names another member than the
    one applied; ``in_caption`` prefixes captions with the style's description; ``seed`` >= 0 fixes
    every draw, which is a function of (seed, index) only.
    """

    def __init__(self, strength: float = 0.2, jitter: float = 0.0, in_caption: bool = True, seed: int = 0):
        self.strength = check_float("strength", strength, minimum=0.0, maximum=1.0)
        self.jitter = check_float("jitter", jitter, minimum=0.0, maximum=1.0)
        if not isinstance(in_caption, (bool, np.bool_)):
            raise InputTypeError(f"in_caption must be True or False, got {in_caption!r}")
        self.in_caption = bool(in_caption)
        self.seed = check_int("seed", seed, minimum=0)
        self.n_groups = active_group_count(self.strength)

    def draw(self, index: int) -> StyleDraw:
        """The style of item ``index`` (>= 0), from ``default_rng([SALT, seed, index])``.

        Draws, in this order and whatever the strength and jitter: a permutation of the six groups
        (the first ``k`` are active), then per group in :data:`STYLE_GROUPS` order its member, an
        alternative member, the intensity ``U(0.3, 1)`` and a uniform ``u`` (jittered when
        ``u < jitter``), then the noise seed.
        """
        index = check_int("index", index, minimum=0)
        if self.n_groups == 0:
            return StyleDraw()
        rng = np.random.default_rng([SALT, self.seed, index])
        order = rng.permutation(len(GROUP_NAMES))
        per_group = {}
        for group, members in STYLE_GROUPS.items():
            member = int(rng.integers(len(members)))
            other = int(rng.integers(len(members) - 1))
            other += other >= member
            intensity = float(rng.uniform(*INTENSITY_RANGE))
            jittered = bool(rng.random() < self.jitter)
            per_group[group] = (members[member], intensity, members[other] if jittered else members[member])
        noise_seed = int(rng.integers(2**63 - 1))
        active = [group for j, group in enumerate(GROUP_NAMES) if j in set(order[: self.n_groups].tolist())]
        return StyleDraw(
            groups=tuple(active),
            members=tuple(per_group[g][0] for g in active),
            intensities=tuple(per_group[g][1] for g in active),
            described=tuple(per_group[g][2] for g in active),
            noise_seed=noise_seed,
        )

    def draws(self, indices: Sequence[int] | np.ndarray) -> list[StyleDraw]:
        """:meth:`draw` of each index."""
        return [self.draw(i) for i in indices]

    def apply(self, image: torch.Tensor, draw: StyleDraw) -> torch.Tensor:
        """:func:`apply_style`: (3, H, W) float in [0, 1] -> the same shape, float32 in [0, 1]."""
        return apply_style(image, draw)

    def apply_batch(self, images: torch.Tensor, draws: Sequence[StyleDraw]) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 3, H, W) float32; item ``i`` is bit for bit ``apply(images[i], draws[i])``."""
        if not isinstance(images, torch.Tensor):
            raise InputTypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
        if images.dim() != 4:
            raise InputError(f"images must be a (B, 3, H, W) tensor, got shape {tuple(images.shape)}")
        if len(draws) != images.shape[0]:
            raise InputError(f"draws must have one StyleDraw per image: {len(draws)} draws for {images.shape[0]} images")
        out = torch.empty(images.shape, dtype=torch.float32, device=images.device)
        for i, draw in enumerate(draws):
            out[i] = apply_style(images[i], draw)
        return out

    def caption(self, caption: str, draw: StyleDraw) -> str:
        """``caption`` prefixed by ``draw.description()`` and a space when ``in_caption`` (else as is)."""
        if not isinstance(caption, str):
            raise InputTypeError(f"caption must be a string, got {type(caption).__name__}")
        prefix = _check_draw(draw).description() if self.in_caption else ""
        return f"{prefix} {caption}" if prefix else caption

    def latents(self, draws: Sequence[StyleDraw]) -> dict[str, torch.Tensor]:
        """:func:`style_latents` of ``draws``."""
        return style_latents(draws)

    def to_dict(self) -> dict:
        """Everything that determines the draws, images and captions (for fingerprints)."""
        return {
            "strength": self.strength, "jitter": self.jitter, "in_caption": self.in_caption,
            "seed": self.seed, "version": STYLE_VERSION,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StyleNuisance) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.to_dict().items()))

    def __repr__(self) -> str:
        return (
            f"StyleNuisance(strength={self.strength:g}, jitter={self.jitter:g}, in_caption={self.in_caption}, "
            f"seed={self.seed}) [{self.n_groups} of {len(GROUP_NAMES)} groups per image, {STYLE_VERSION}]"
        )


__all__ = [
    "STYLE_GROUPS", "GROUP_NAMES", "APPLICATION_ORDER", "STYLE_VERSION", "PHRASES", "EFFECTS", "StyleDraw",
    "StyleNuisance", "active_group_count", "apply_style", "describe_groups", "style_latents",
]
