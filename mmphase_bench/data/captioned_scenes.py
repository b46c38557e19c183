"""Captioned scenes: ray-cast 3D Shapes rooms with captions from a grammar (the offline image-text data).

Kamai et al. 2026 pair MS-COCO images with captions under a controllable style nuisance; this data
set gives the same protocol without a download. Each item is a room of the 3D Shapes scene (the ray
caster of :mod:`mmphase_bench.data.shapes3d`, seen from a little further away: :data:`SCENE`) with one
main object and, with probability ``two_objects``, a second, smaller one. Per item, from a generator
seeded by (seed, split, index) alone::

    shape        ~ U{cube, cylinder, sphere, capsule}
    colour       ~ U{8 named hues: red .. pink}; hue = named hue + U(-0.015, 0.015)
    floor colour ~ U{the 7 other names};  wall colour ~ U{the 7 names other than the object's}
    size         ~ U{small, medium, large}; scale ~ U(bin) (bins 0.60-0.72, 0.84-0.96, 1.08-1.20)
    position     ~ U{left, centre, right}: the foot point's lateral offset is a fraction of the view's
                   half-width at its depth, ~ U(-0.6, -0.35), U(-0.12, 0.12), U(0.35, 0.6) (left to right)
    depth        ~ U{front, back}: offset towards the camera ~ U(0.3, 1.3) or U(-1.4, -0.4) world units
    azimuth      ~ U(-30, 30) degrees (the camera's orbit; positions are relative to the camera, so
                   "left" is the left of the image); object yaw ~ U(-45, 45) degrees
    second object (drawn always, shown with probability two_objects): another shape, another colour
                   than the main object's, scale ~ U(0.45, 0.58) (always smaller), a lateral bin other
                   than the main object's, placed so the two footprints do not overlap

The captions (five per item, from a second generator of (seed, split, index)) come from
:mod:`mmphase_bench.data.caption_grammar`; each names the label factor with probability
``label_mention`` (independently per caption; 1 by default), and otherwise leaves it out (the shape's
noun becomes "object", "thing" or "shape"). The style nuisance
(paper protocol, :mod:`mmphase_bench.data.style`) and the tokenizer are the base class's
(:class:`~mmphase_bench.data.image_text.ImageTextPairs`). The tokenizer, when not given, is fitted
on the grammar's whole vocabulary (:func:`~mmphase_bench.data.caption_grammar.vocabulary_phrases`)
rather than on generated training captions: the same vocabulary for any ``n``, no unknown words.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np
import torch

from mmphase_bench.data import caption_grammar as grammar
from mmphase_bench.data.devices import resolve_device
from mmphase_bench.data.exact_ops import dot3, normalize3
from mmphase_bench.data.image_text import ImageTextPairs
from mmphase_bench.data.shapes3d import (
    Cameras, SceneGeometry, _near_sphere, _object_extent, camera_rays, hue_to_rgb, intersect_object, render_scenes,
    room_hits,
)
from mmphase_bench.errors import InputError, InputTypeError
from mmphase_bench.validation import check_choice, check_float, check_int

PROTOCOL_VERSION = "captioned-scenes/1"
SPLITS = ("train", "val", "test")
_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
_SALT_SCENE = 0x5CE7E
_SALT_CAPTIONS = 0xCA971
_SALT_MENTION = 0x3E471
#: The 3D Shapes room seen from further away, so that three positions and two objects fit in the view.
SCENE = SceneGeometry(camera_distance=6.5, camera_height=2.8, look_at_height=0.9, field_of_view=38.0)
#: HSV hue of each named colour (:data:`~mmphase_bench.data.caption_grammar.COLOUR_NAMES`).
COLOUR_HUES = (0.0, 0.075, 0.155, 0.33, 0.5, 0.64, 0.77, 0.9)
HUE_JITTER = 0.015
SIZE_BINS = ((0.60, 0.72), (0.84, 0.96), (1.08, 1.20))
LATERAL_BINS = ((-0.6, -0.35), (-0.12, 0.12), (0.35, 0.6))
DEPTH_BINS = ((0.3, 1.3), (-1.4, -0.4))
AZIMUTH_RANGE = 30.0  #: degrees
YAW_RANGE = 45.0  #: degrees
SECOND_SCALE = (0.45, 0.58)
CAPTIONS_PER_ITEM = 5
LABELS = tuple(grammar.FACTOR_CLASSES)
#: Float latents recorded per item (``latents(indices)`` and ``ImageTextBatch.latents``).
LATENT_NAMES = (
    "object_hue", "floor_hue", "wall_hue", "scale", "lateral", "depth", "azimuth", "object_yaw",
    "second_object",
)


@dataclass(frozen=True)
class GridCell:
    """One cell of the benchmark grid: the style nuisance's strength and jitter (paper protocol)."""

    style_strength: float
    style_jitter: float


#: The style cells of Kamai et al. 2026's image-caption experiment (0 / 1 / 3 active style groups),
#: with jitter (de-aligned style descriptions) only where there is a style to describe.
BENCHMARK_GRID: dict[str, GridCell] = {
    "style0": GridCell(0.0, 0.0),
    "style0.2": GridCell(0.2, 0.0),
    "style0.5": GridCell(0.5, 0.0),
    "style0.2-jitter0.5": GridCell(0.2, 0.5),
    "style0.5-jitter0.5": GridCell(0.5, 0.5),
}


# ---------------------------------------------------------------------- latents
def _footprint(shape: int, scale: float, geometry: SceneGeometry) -> float:
    """Radius of a shape's footprint on the floor (world units)."""
    if shape == 3:
        return 0.5 * geometry.capsule_diameter * scale
    half = 0.5 * geometry.object_size * scale
    return half * math.sqrt(2.0) if shape == 0 else half


def _floor_point(lateral: float, depth: float, azimuth_degrees: float, geometry: SceneGeometry) -> tuple[float, float]:
    """World (x, z) of a foot point ``depth`` units towards the camera and ``lateral`` half-widths right."""
    azimuth = math.radians(azimuth_degrees)
    half_width = (geometry.camera_distance - depth) * math.tan(math.radians(geometry.field_of_view) / 2)
    u = lateral * half_width
    return (u * math.cos(azimuth) + depth * math.sin(azimuth), -u * math.sin(azimuth) + depth * math.cos(azimuth))


def draw_scene(seed: int, split: str, index: int, geometry: SceneGeometry = SCENE) -> dict:
    """The latents of item ``index`` (a dict of Python numbers), from its own generator."""
    rng = np.random.default_rng([seed, _SPLIT_CODES[split], index, _SALT_SCENE])
    n_colours = len(COLOUR_HUES)
    scene: dict = {}
    scene["shape"] = int(rng.integers(4))
    colour = int(rng.integers(n_colours))
    others = [c for c in range(n_colours) if c != colour]
    scene["colour"] = colour
    scene["floor_colour"] = others[int(rng.integers(len(others)))]
    scene["wall_colour"] = others[int(rng.integers(len(others)))]
    hue_offsets = rng.uniform(-HUE_JITTER, HUE_JITTER, size=3)
    scene["object_hue"] = float((COLOUR_HUES[colour] + hue_offsets[0]) % 1.0)
    scene["floor_hue"] = float((COLOUR_HUES[scene["floor_colour"]] + hue_offsets[1]) % 1.0)
    scene["wall_hue"] = float((COLOUR_HUES[scene["wall_colour"]] + hue_offsets[2]) % 1.0)
    scene["size"] = int(rng.integers(3))
    scene["scale"] = float(rng.uniform(*SIZE_BINS[scene["size"]]))
    scene["position"] = int(rng.integers(3))
    scene["lateral"] = float(rng.uniform(*LATERAL_BINS[scene["position"]]))
    scene["depth_bin"] = int(rng.integers(2))
    scene["depth"] = float(rng.uniform(*DEPTH_BINS[scene["depth_bin"]]))
    scene["azimuth"] = float(rng.uniform(-AZIMUTH_RANGE, AZIMUTH_RANGE))
    scene["object_yaw"] = float(rng.uniform(-YAW_RANGE, YAW_RANGE))
    scene["x"], scene["z"] = _floor_point(scene["lateral"], scene["depth"], scene["azimuth"], geometry)
    # The second object: always drawn (so the main object does not depend on two_objects).
    scene["second_shape"] = int(rng.integers(4))
    second_colours = [c for c in range(n_colours) if c != colour]
    scene["second_colour"] = second_colours[int(rng.integers(len(second_colours)))]
    scene["second_hue"] = float((COLOUR_HUES[scene["second_colour"]] + rng.uniform(-HUE_JITTER, HUE_JITTER)) % 1.0)
    scene["second_scale"] = float(rng.uniform(*SECOND_SCALE))
    scene["second_yaw"] = float(rng.uniform(-YAW_RANGE, YAW_RANGE))
    needed = _footprint(scene["shape"], scene["scale"], geometry) + _footprint(scene["second_shape"], scene["second_scale"], geometry) + 0.1
    best = None
    for _ in range(16):  # rejection sampling of a free floor spot in another lateral bin
        bins = [b for b in range(3) if b != scene["position"]]
        lateral_bin = bins[int(rng.integers(2))]
        lateral = float(rng.uniform(*LATERAL_BINS[lateral_bin]))
        depth = float(rng.uniform(*DEPTH_BINS[int(rng.integers(2))]))
        x, z = _floor_point(lateral, depth, scene["azimuth"], geometry)
        gap = math.hypot(x - scene["x"], z - scene["z"])
        if best is None or gap > best[0]:
            best = (gap, lateral, depth, x, z)
        if gap >= needed:
            break
    _, scene["second_lateral"], scene["second_depth"], scene["second_x"], scene["second_z"] = best
    scene["second_draw"] = float(rng.random())  # shown when second_draw < two_objects
    return scene


def describe(scene: dict, second_object: bool) -> grammar.SceneDescription:
    """What the captions of a scene may say."""
    return grammar.SceneDescription(
        shape=scene["shape"], colour=scene["colour"], size=scene["size"], position=scene["position"],
        depth=scene["depth_bin"], floor_colour=scene["floor_colour"], wall_colour=scene["wall_colour"],
        second_shape=scene["second_shape"] if second_object else None,
        second_colour=scene["second_colour"] if second_object else None,
    )


# ---------------------------------------------------------------------- rendering
def _object_hits(shapes: torch.Tensor, origin, direction, foot, scale, yaw, geometry: SceneGeometry) -> tuple[torch.Tensor, torch.Tensor]:
    """Ray-object distance (inf: miss) and normal for rays whose objects have per-ray ``shapes``."""
    t = torch.full((origin.shape[0],), math.inf, dtype=origin.dtype, device=origin.device)
    normal = torch.zeros_like(origin)
    for code in range(len(grammar.SHAPE_NAMES)):
        rays = torch.nonzero(shapes == code, as_tuple=True)[0]
        if rays.numel() == 0:
            continue
        height, radius = _object_extent(code, geometry)
        centre = foot[rays].clone()
        centre[:, 1] = 0.5 * height * scale[rays]
        near = _near_sphere(origin[rays], direction[rays], centre, radius * scale[rays])
        rays = rays[near]
        if rays.numel() == 0:
            continue
        t_code, normal_code = intersect_object(code, origin[rays], direction[rays], foot[rays], scale[rays], yaw[rays], geometry)
        t[rays], normal[rays] = t_code, normal_code
    return t, normal


def add_second_objects(
    images: torch.Tensor,
    cameras: Cameras,
    *,
    first: dict[str, torch.Tensor],
    second: dict[str, torch.Tensor],
    floor_hue: torch.Tensor,
    wall_hue: torch.Tensor,
    geometry: SceneGeometry = SCENE,
) -> torch.Tensor:
    """Ray-cast a second object into images rendered by :func:`render_scenes` (in place; returned).

    ``first`` and ``second`` hold per-image ``shape`` (B,), ``foot`` (B, 3) (y = 0), ``scale`` (B,),
    ``yaw`` (B,) radians; ``second`` also ``hue`` (B,). A pixel shows the second object where its ray
    meets it before the room and the first object (depth test), shaded as :func:`render_scenes`
    shades objects (ambient + Lambert); room pixels whose way to the light the second object blocks
    get its shadow (ambient only). As in :func:`render_scenes`, objects receive no shadows.
    """
    batch, _, size, _ = images.shape
    dtype = torch.float32
    pixels_count = size * size
    origin, direction = camera_rays(cameras, size, geometry)
    light = normalize3(torch.tensor(geometry.light_direction, dtype=dtype, device=images.device))
    pixels = images.reshape(batch, 3, pixels_count).permute(0, 2, 1)  # a view: writes go to images
    owner = torch.arange(batch, device=images.device).repeat_interleave(pixels_count)
    first_foot, second_foot = first["foot"].to(dtype), second["foot"].to(dtype)
    first_scale, second_scale = first["scale"].to(dtype), second["scale"].to(dtype)
    first_yaw, second_yaw = first["yaw"].to(dtype), second["yaw"].to(dtype)
    # Camera rays near the second object: visible where it is nearer than the room and the first object.
    radius = torch.tensor([_object_extent(code, geometry)[1] for code in range(4)], dtype=dtype, device=images.device)
    height = torch.tensor([_object_extent(code, geometry)[0] for code in range(4)], dtype=dtype, device=images.device)
    centre = second_foot.clone()
    centre[:, 1] = 0.5 * height[second["shape"]] * second_scale
    bound = radius[second["shape"]] * second_scale
    near = _near_sphere(origin, direction, centre[owner], bound[owner])
    rays = torch.nonzero(near, as_tuple=True)[0]
    t_room, surface = room_hits(origin, direction, geometry)
    if rays.numel():
        o, d, b = origin[rays], direction[rays], owner[rays]
        t_second, normal = _object_hits(second["shape"][b], o, d, second_foot[b], second_scale[b], second_yaw[b], geometry)
        t_first, _ = _object_hits(first["shape"][b], o, d, first_foot[b], first_scale[b], first_yaw[b], geometry)
        visible = (t_second < t_room[rays]) & (t_second < t_first)
        colour = hue_to_rgb(second["hue"].float().cpu(), geometry.saturation).to(images.device)[b[visible]]
        lit = torch.clamp(dot3(normal[visible], light), min=0.0)
        shaded = (colour * (geometry.ambient + (1 - geometry.ambient) * lit)[:, None]).clamp(0, 1)
        pixels[b[visible], rays[visible] % pixels_count] = shaded
    # Shadow rays from the visible room towards the light, near the second object only.
    point = origin + direction * t_room[:, None]
    towards = light.expand(origin.shape[0], 3)
    near = torch.isfinite(t_room) & _near_sphere(point, towards, centre[owner], bound[owner])
    rays = torch.nonzero(near, as_tuple=True)[0]
    if rays.numel():
        b = owner[rays]
        t_shadow, _ = _object_hits(second["shape"][b], point[rays], towards[rays], second_foot[b], second_scale[b], second_yaw[b], geometry)
        t_first, _ = _object_hits(first["shape"][b], origin[rays], direction[rays], first_foot[b], first_scale[b], first_yaw[b], geometry)
        t_second, _ = _object_hits(second["shape"][b], origin[rays], direction[rays], second_foot[b], second_scale[b], second_yaw[b], geometry)
        room_visible = (t_room[rays] < t_first) & (t_room[rays] < t_second)
        shadowed = torch.isfinite(t_shadow) & room_visible
        rays, b = rays[shadowed], b[shadowed]
        hues = torch.where(surface[rays] == 0, floor_hue.to(images.device)[b].float(), wall_hue.to(images.device)[b].float())
        albedo = hue_to_rgb(hues.cpu(), geometry.saturation).to(images.device)
        pixels[b, rays % pixels_count] = (albedo * geometry.ambient).clamp(0, 1)
    return images


def render_items(scenes: list[dict], second_object: np.ndarray, *, size: int, geometry: SceneGeometry = SCENE,
                 device: str | torch.device = "cpu") -> torch.Tensor:
    """float32 (B, 3, size, size) images in [0, 1] of the drawn scenes, in one ray-casting pass (two
    where some scene shows its second object)."""
    device = torch.device(device)

    def column(key: str, dtype=torch.float64) -> torch.Tensor:
        return torch.tensor([scene[key] for scene in scenes], dtype=dtype, device=device)

    cameras = Cameras.orbit(column("azimuth"), geometry)
    foot = torch.stack([column("x"), torch.zeros(len(scenes), dtype=torch.float64, device=device), column("z")], dim=1)
    shape = column("shape", torch.int64)
    scale = column("scale")
    yaw = torch.deg2rad(column("object_yaw"))
    floor_hue, wall_hue = column("floor_hue"), column("wall_hue")
    images = render_scenes(
        cameras, shape=shape, scale=scale, object_position=foot[:, [0, 2]], object_yaw=yaw,
        floor_hue=floor_hue, wall_hue=wall_hue, object_hue=column("object_hue"), geometry=geometry, size=size,
    )
    chosen = np.flatnonzero(np.asarray(second_object, dtype=bool))
    if chosen.size:
        pick = torch.as_tensor(chosen, device=device)
        sub_cameras = Cameras(*(getattr(cameras, name)[pick] for name in ("position", "right", "up", "forward")))
        second_foot = torch.stack([column("second_x"), torch.zeros(len(scenes), dtype=torch.float64, device=device), column("second_z")], dim=1)
        part = add_second_objects(
            images[pick].clone(), sub_cameras,
            first={"shape": shape[pick], "foot": foot[pick], "scale": scale[pick], "yaw": yaw[pick]},
            second={"shape": column("second_shape", torch.int64)[pick], "foot": second_foot[pick],
                    "scale": column("second_scale")[pick], "yaw": torch.deg2rad(column("second_yaw"))[pick],
                    "hue": column("second_hue")[pick]},
            floor_hue=floor_hue[pick], wall_hue=wall_hue[pick], geometry=geometry,
        )
        images[pick] = part
    return images


# ---------------------------------------------------------------------- the data set
class CaptionedScenes(ImageTextPairs):
    """Ray-cast rooms with captions: ``dataset[i] -> (image (3, S, S) float in [0, 1], token ids, label)``.

    ``split`` "train", "val" or "test" (disjoint generators); ``n`` items; ``label`` the target factor:
    "shape" (cube, cylinder, sphere, capsule; the default), "object_colour" (8 names), "size"
    (small, medium, large) or "position" (left, centre, right); ``two_objects`` the probability that an
    item shows a second, smaller object; ``label_mention`` the probability that a caption names the
    label (otherwise it describes the object without it: "a red object", as a COCO caption need not
    name the dominant category; 1 by default). ``style_strength``, ``style_jitter``, ``style_in_caption``,
    ``image_size``, ``seed``, ``tokenizer``, ``max_length`` and ``min_frequency`` are those of
    :class:`~mmphase_bench.data.image_text.ImageTextPairs` (the style nuisance of Kamai et al. 2026).
    ``device`` is where the scenes are ray-cast. Item i depends only on (seed, split, i): the same
    bytes for any batch size, order or thread count (on one device type).
    """

    dataset_name = "captioned-scenes"
    protocol_name = PROTOCOL_VERSION
    benchmark_grid = BENCHMARK_GRID

    @classmethod
    def from_grid(cls, cell: str, **kwargs) -> "CaptionedScenes":
        """The data set at a named cell of :data:`BENCHMARK_GRID`, e.g. ``"style0.5-jitter0.5"``."""
        if not isinstance(cell, str) or cell not in BENCHMARK_GRID:
            raise InputError(f"cell must be one of {', '.join(BENCHMARK_GRID)}; got {cell!r}")
        for name in ("style_strength", "style_jitter"):
            if name in kwargs:
                raise InputError(f"{name} is set by the grid cell {cell!r}; pass it to CaptionedScenes(...) instead of from_grid")
        spec = BENCHMARK_GRID[cell]
        return cls(style_strength=spec.style_strength, style_jitter=spec.style_jitter, **kwargs)

    def __init__(
        self,
        split: str = "train",
        n: int = 10_000,
        label: str = "shape",
        two_objects: float = 0.0,
        label_mention: float = 1.0,
        style_strength: float = 0.2,
        style_jitter: float = 0.0,
        style_in_caption: bool = True,
        image_size: int = 64,
        seed: int = 0,
        tokenizer=None,
        max_length: int | None = None,
        min_frequency: int = 2,
        device: str | torch.device = "cpu",
    ):
        self.split = check_choice("split", split, SPLITS)
        self.n = check_int("n", n, minimum=1)
        self.label = check_choice("label", label, LABELS)
        self.two_objects = check_float("two_objects", two_objects, minimum=0.0, maximum=1.0)
        self.label_mention = check_float("label_mention", label_mention, minimum=0.0, maximum=1.0)
        self.seed = check_int("seed", seed, minimum=0)
        self.min_frequency = check_int("min_frequency", min_frequency, minimum=1)
        self.image_size = check_int("image_size", image_size, minimum=8, maximum=1024)
        self.device = resolve_device(device)
        self.class_names = grammar.FACTOR_CLASSES[self.label]
        self.geometry = SCENE
        self._scenes: dict[int, dict] = {}
        self._caption_cache: dict[int, list[str]] = {}
        super().__init__(
            split=self.split, style_strength=style_strength, style_jitter=style_jitter, style_in_caption=style_in_caption,
            image_size=self.image_size, seed=self.seed, tokenizer=tokenizer, max_length=max_length,
            min_frequency=self.min_frequency,
        )

    # ------------------------------------------------------------------ items
    def __len__(self) -> int:
        return self.n

    def _check_index(self, index) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise InputTypeError(f"index must be an integer, got {type(index).__name__}")
        index = int(index)
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for a data set of {self.n} items")
        return index

    def scene(self, index: int) -> dict:
        """The drawn latents of item ``index`` (see the module docstring), cached."""
        index = self._check_index(index)
        found = self._scenes.get(index)
        if found is None:
            if len(self._scenes) >= _CACHE_ITEMS:
                self._scenes.clear()
            found = self._scenes[index] = draw_scene(self.seed, self.split, index, self.geometry)
        return found

    def has_second_object(self, index: int) -> bool:
        return self.scene(index)["second_draw"] < self.two_objects

    def _base_images(self, indices) -> torch.Tensor:
        """float32 (B, 3, S, S) in [0, 1], before style: one ray-casting call for the whole batch."""
        indices = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        scenes = [self.scene(int(i)) for i in indices]
        second = np.array([scene["second_draw"] < self.two_objects for scene in scenes], dtype=bool)
        return render_items(scenes, second, size=self.image_size, geometry=self.geometry, device=self.device).cpu()

    def _base_image(self, index: int) -> torch.Tensor:
        return self._base_images(np.array([index]))[0]

    def _captions_of(self, index: int) -> list[str]:
        """The item's :data:`CAPTIONS_PER_ITEM` captions (distinct), from its own generator."""
        index = self._check_index(index)
        found = self._caption_cache.get(index)
        if found is None:
            if len(self._caption_cache) >= _CACHE_ITEMS:
                self._caption_cache.clear()
            found = self._caption_cache[index] = self._write_captions(index)
        return list(found)

    def label_named(self, index: int) -> np.ndarray:
        """bool (:data:`CAPTIONS_PER_ITEM`,): which of the item's captions name its label (each with
        probability ``label_mention``, from its own generator)."""
        index = self._check_index(index)
        draws = np.random.default_rng([self.seed, _SPLIT_CODES[self.split], index, _SALT_MENTION]).random(CAPTIONS_PER_ITEM)
        return draws < self.label_mention

    def _write_captions(self, index: int) -> list[str]:
        """Caption k is drawn by :func:`~mmphase_bench.data.caption_grammar.captions` with or without
        the label (:meth:`label_named`); both kinds come from the item's caption generator, so with
        ``label_mention=1`` the captions are those of the grammar alone."""
        rng = np.random.default_rng([self.seed, _SPLIT_CODES[self.split], index, _SALT_CAPTIONS])
        description = describe(self.scene(index), self.has_second_object(index))
        named = self.label_named(index)
        if named.all():
            return grammar.captions(description, rng, CAPTIONS_PER_ITEM, label=self.label)
        with_label = grammar.captions(description, rng, CAPTIONS_PER_ITEM, label=self.label)
        without = grammar.captions(description, rng, CAPTIONS_PER_ITEM, label=self.label, name_label=False)
        return [with_label[k] if named[k] else without[k] for k in range(CAPTIONS_PER_ITEM)]

    def _label_of(self, index: int) -> int:
        scene = self.scene(index)
        return int({"shape": scene["shape"], "object_colour": scene["colour"], "size": scene["size"],
                    "position": scene["position"]}[self.label])

    def _training_captions(self) -> Iterable[str]:
        """The grammar's whole vocabulary (each phrase ``min_frequency`` times), not generated captions:
        the same tokenizer for every ``n`` and split, and no grammar word is ever ``<unk>``."""
        phrases = grammar.vocabulary_phrases()
        return [phrase for _ in range(self.min_frequency) for phrase in phrases]

    def _source_description(self) -> dict:
        return {
            "dataset": self.dataset_name, "protocol": PROTOCOL_VERSION, "grammar_version": grammar.GRAMMAR_VERSION,
            "label": self.label, "two_objects": self.two_objects, "label_mention": self.label_mention, "n": self.n, "captions_per_item": CAPTIONS_PER_ITEM,
            "scene": asdict(self.geometry), "device_type": self.device.type,
        }

    def latents(self, indices) -> dict[str, torch.Tensor]:
        """Nuisance latents of the items, float32 (B,) each: :data:`LATENT_NAMES` (hues in [0, 1),
        scale, lateral offset in half-widths, depth in world units, azimuth and object yaw in degrees,
        second_object 0/1), plus the class index (int64) of every factor the label is not."""
        indices = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        scenes = [self.scene(int(i)) for i in indices]
        out = {name: torch.tensor([s[name] for s in scenes], dtype=torch.float32) for name in LATENT_NAMES[:-1]}
        out["second_object"] = torch.tensor([float(s["second_draw"] < self.two_objects) for s in scenes], dtype=torch.float32)
        classes = {"shape": "shape", "object_colour": "colour", "size": "size", "position": "position"}
        for factor, key in classes.items():
            if factor != self.label:
                out[f"{factor}_class"] = torch.tensor([s[key] for s in scenes], dtype=torch.int64)
        return out


_CACHE_ITEMS = 1 << 16


__all__ = [
    "CaptionedScenes", "BENCHMARK_GRID", "GridCell", "PROTOCOL_VERSION", "SCENE", "LATENT_NAMES", "LABELS",
    "draw_scene", "render_items", "add_second_objects",
]
