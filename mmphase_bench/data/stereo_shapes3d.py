"""Stereo-Shapes3D: two noisy views of a 3D Shapes scene (paper-facts section 4), in two protocols.

* ``protocol="paper"``, the reference: one template per shape (hues 0, scale index 7, orientation
  0) warped in 2-D like Stereo-dSprites (baseline, translation jitter, rotation jitter 0.02), with
  clamped Gaussian pixel noise.
* ``protocol="stereo"``, beyond the paper: a real stereo rig. The scene is ray-cast twice, from two
  cameras ``baseline`` world units apart along the rig's horizontal axis. The object stands at a
  random floor position (x, z) ~ U(-1, 1)^2 shared by both views (the shared nuisance); each camera
  moves by N(0, jitter^2) world units in x and z and turns by N(0, (10 degrees * jitter)^2) in yaw,
  independently. With ``extra_nuisance`` the floor, wall and object hues (uniform on the 10 official
  values), the scale (uniform on the 8 official values) and the rig's orientation (uniform on the 15
  official values) also vary, shared by the two views. Label = shape.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from mmphase_bench.data.shapes3d import (
    DEFAULT_SCENE, FACTOR_VALUES, SHAPE_NAMES, Cameras, SceneGeometry, render_scenes, shapes3d_source,
)
from mmphase_bench.data.exact_ops import cos_sin, scaled_add
from mmphase_bench.data.stereo import BLOCK, StereoConfig
from mmphase_bench.data.stereo_dsprites import BENCHMARK_GRID as DSPRITES_GRID
from mmphase_bench.data.stereo_pairs import source_label, PairBatch, StereoPairs
from mmphase_bench.errors import InputError
from mmphase_bench.validation import check_choice

PROTOCOLS = ("paper", "stereo")
#: Version 2: the ray caster sums in a fixed order (same bytes on any thread count and batch size).
PROTOCOL_VERSIONS = {"paper": "stereo-shapes3d/paper/3", "stereo": "stereo-shapes3d/stereo/2"}
#: Yaw jitter of a camera per unit of ``jitter`` (degrees).
YAW_JITTER_DEGREES = 10.0
#: Half-width of the floor square the object is placed in (world units).
OBJECT_RANGE = 1.0
#: The same jitter x noise grid as Stereo-dSprites (paper-facts section 4).
BENCHMARK_GRID = dict(DSPRITES_GRID)


class StereoShapes3D(StereoPairs):
    """Stereo-Shapes3D pairs: ``dataset[i] -> (x, y, shape)`` with x, y float (3, 64, 64) in [0, 1].

    Parameters are those of :class:`~mmphase_bench.data.StereoDSprites`, plus ``protocol`` ("paper" or
    "stereo", see the module docstring). In the paper protocol ``rotation_jitter`` defaults to 0.02 rad
    and ``baseline`` is in affine units; in the stereo protocol ``baseline`` is in world units (the
    object stands about 5 units from the cameras; one unit is about 20 pixels there).
    ``source`` is "procedural" or the path of the official ``3dshapes.h5`` (paper protocol templates).
    """

    benchmark_grid = BENCHMARK_GRID
    dataset_name = "stereo-shapes3d"

    def __init__(
        self,
        split: str = "train",
        n: int = 10_000,
        jitter: float = 0.2,
        noise_x: float = 0.1,
        noise_y: float = 0.5,
        protocol: str = "paper",
        baseline: float = 0.4,
        rotation_jitter: float | None = 0.02,
        seed: int = 0,
        source: str | os.PathLike = "procedural",
        device: str | torch.device = "cpu",
        extra_nuisance: bool = False,
        rotation_centre: str = "image",
        scene: SceneGeometry = DEFAULT_SCENE,
    ):
        self.protocol = check_choice("protocol", protocol, PROTOCOLS)
        self.protocol_name = PROTOCOL_VERSIONS[protocol]
        if protocol == "paper" and extra_nuisance:
            raise InputError("extra_nuisance: hues, scale and orientation vary only in protocol='stereo' (the paper protocol warps one fixed template)")
        if protocol == "stereo" and not (isinstance(source, str) and source == "procedural"):
            raise InputError("source: the stereo protocol renders scenes itself; it needs source='procedural'")
        config = StereoConfig(
            jitter=jitter, noise_x=noise_x, noise_y=noise_y, baseline=baseline,
            rotation_jitter=rotation_jitter, extra_nuisance=extra_nuisance, rotation_centre=rotation_centre,
        )
        self.scene = scene
        self.source = shapes3d_source(source)
        self._source_name = source_label(source)
        templates = torch.from_numpy(np.stack([self.source.canonical_image(s) for s in range(len(SHAPE_NAMES))]).astype(np.float32))
        super().__init__(templates, SHAPE_NAMES, config, split=split, n=n, seed=seed, device=device)

    def _extra_description(self) -> dict:
        description = {"source": self._source_name}
        if self.protocol == "stereo":
            description["scene"] = {k: getattr(self.scene, k) for k in self.scene.__dataclass_fields__}
        return description


    # ------------------------------------------------------------------ the stereo protocol
    def _draw_latents(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        if self.protocol == "paper":
            return super()._draw_latents(generator)
        options = dict(generator=generator, device=self.device)
        jitter = self.config.jitter
        latents = {
            "label": torch.randint(0, len(SHAPE_NAMES), (BLOCK,), **options),
            "object_position": (torch.rand((BLOCK, 2), **options, dtype=torch.float64) * 2 - 1) * OBJECT_RANGE,
            "camera_shift": torch.randn((BLOCK, 2, 2), **options, dtype=torch.float64) * jitter,
            "camera_yaw": torch.randn((BLOCK, 2), **options, dtype=torch.float64) * (YAW_JITTER_DEGREES * jitter),
        }
        if self.config.extra_nuisance:
            latents["hues"] = torch.randint(0, 10, (BLOCK, 3), **options).double() / 10.0
            latents["scale"] = torch.as_tensor(FACTOR_VALUES[3], device=self.device)[torch.randint(0, 8, (BLOCK,), **options)]
            latents["orientation"] = torch.as_tensor(FACTOR_VALUES[5], device=self.device)[torch.randint(0, 15, (BLOCK,), **options)]
        return latents

    def _render(self, latents: dict[str, torch.Tensor], index: torch.Tensor) -> PairBatch:
        if self.protocol == "paper":
            return super()._render(latents, index)
        noise = latents.pop("noise")
        batch = latents["label"].shape[0]
        device = self.device
        hues = latents.get("hues", torch.zeros((batch, 3), dtype=torch.float64, device=device))
        scale = latents.get("scale", torch.full((batch,), float(FACTOR_VALUES[3][7]), dtype=torch.float64, device=device))
        orientation = latents.get("orientation", torch.zeros(batch, dtype=torch.float64, device=device))
        rig = Cameras.orbit(orientation, self.scene)
        views = []
        for view, (side, sigma) in enumerate(((-0.5, self.config.noise_x), (0.5, self.config.noise_y))):
            shift = latents["camera_shift"][:, view]
            position = rig.position + rig.right * (side * self.config.baseline)
            position = position + torch.stack([shift[:, 0], torch.zeros_like(shift[:, 0]), shift[:, 1]], dim=1)
            yaw = torch.deg2rad(latents["camera_yaw"][:, view])
            forward = rig.forward
            cos, sin = cos_sin(yaw)
            turned = torch.stack([
                cos * forward[:, 0] + sin * forward[:, 2], forward[:, 1], -sin * forward[:, 0] + cos * forward[:, 2],
            ], dim=1)
            cameras = Cameras.looking_at(position, position + turned)
            clean = render_scenes(
                cameras, shape=latents["label"], scale=scale, object_position=latents["object_position"],
                object_yaw=torch.zeros(batch, device=device), floor_hue=hues[:, 0], wall_hue=hues[:, 1],
                object_hue=hues[:, 2], geometry=self.scene,
            )
            views.append(scaled_add(clean, noise[:, view], sigma).clamp_(0.0, 1.0))
        return PairBatch(x=views[0], y=views[1], label=latents["label"], latents=latents, index=index)

    def __repr__(self) -> str:
        return super().__repr__().replace("StereoShapes3D(", f"StereoShapes3D(protocol={self.protocol!r}, ", 1)


__all__ = ["StereoShapes3D", "BENCHMARK_GRID", "PROTOCOLS"]
